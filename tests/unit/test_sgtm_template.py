"""The sGTM tag template: its node tests (sgtm/test/), and the request it sends, fed to the relay.

Needs node. Without it the tests are skipped with a message, or fail under CI=true.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from capi.ingest.auth import ApiKeyAuth
from capi.ingest.handler import Ingest
from capi.queueing.memory import InMemoryPublisher
from capi.web import IncomingRequest
from tests.factories import validate_event

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_TESTS = ROOT / "sgtm" / "test" / "template.test.mjs"
HARNESS = ROOT / "sgtm" / "test" / "harness.mjs"
EVENT_DATA = ROOT / "tests" / "fixtures" / "sgtm" / "purchase_event_data.json"


@pytest.fixture(scope="module")
def node() -> str:
    found = shutil.which("node")
    if found is None:
        message = "node is needed to test the sGTM template (sgtm/test/); install Node.js 18+"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return found


def run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)


def test_template_node_tests_pass(node):
    result = run([node, "--test", str(TEMPLATE_TESTS)])
    if result.returncode != 0:
        name = TEMPLATE_TESTS.relative_to(ROOT)
        pytest.fail(f"node --test {name} failed:\n{result.stdout}\n{result.stderr}", pytrace=False)


def test_the_tags_request_is_accepted_by_the_relay(node):
    cookies = {"_fbp": "fb.1.1736160000000.1122334455"}
    data = {"relayUrl": "https://relay.example.com", "apiKey": "tag-key", "sendCookies": True}
    result = run(
        [
            node,
            str(HARNESS),
            "--emit",
            str(EVENT_DATA),
            "--cookies",
            json.dumps(cookies),
            "--data",
            json.dumps(data),
        ]
    )
    assert result.returncode == 0, result.stderr
    request = json.loads(result.stdout)
    assert request["url"] == "https://relay.example.com/sgtm"

    publisher = InMemoryPublisher()
    # the harness's clock says 1736170000123 ms; the relay judges event_time against its own
    ingest = Ingest(
        publisher=publisher,
        auth=ApiKeyAuth(lambda: ("sgtm=tag-key",)),
        pixel_id="1234567890",
        clock=lambda: 1736170100.0,
    )
    reply = ingest.handle(
        IncomingRequest(
            "POST",
            "/sgtm",
            request["options"]["headers"],
            request["body"].encode(),
            request["options"]["headers"]["Content-Type"],
        )
    )
    assert reply.status == 202, reply.body
    (message,) = publisher.messages
    event = json.loads(message.data)
    assert event["event_time"] == 1736170000
    assert event["event_id"] == "purchase-T_12345-1736170000"
    assert event["user_data"]["fbp"] == cookies["_fbp"]
    assert validate_event(event, now=1736170100)[0] == []
