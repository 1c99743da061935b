"""The environments that terraform/tests/module.tftest.hcl proves the module plans are ones the
relay's own builders start from: the Terraform and the code agree on every variable's name and
format. (Terraform checks the first half, this file the second, on the same literal maps.)"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from types import SimpleNamespace

import pytest
from tf_helpers import TERRAFORM

from capi import wiring
from capi.config import Settings
from capi.web import IncomingRequest
from capi.secret_store import SecretReader
from capi.queueing.memory import InMemoryPublisher

TESTS = (TERRAFORM / "tests" / "module.tftest.hcl").read_text()
MAP = re.compile(
    r"google_cloudfunctions2_function\.(ingest|forward)\.service_config\[0\]"
    r"\.environment_variables == tomap\(\{\n(.*?)\n\s*\}\)",
    re.DOTALL,
)
RUN = re.compile(r'^run "(\w+)"', re.MULTILINE)
ENTRY = re.compile(r'^\s*((?:CAPI_|THREADS)[A-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*$')


def planned_environments() -> list[tuple[str, str, dict[str, str]]]:
    found = []
    for match in MAP.finditer(TESTS):
        target, body = match.groups()
        run = [r.group(1) for r in RUN.finditer(TESTS, 0, match.start())][-1]
        env = {}
        for line in body.splitlines():
            entry = ENTRY.match(line)
            assert entry, f"{run}: cannot read {line!r}"
            env[entry.group(1)] = entry.group(2).encode().decode("unicode_escape")
        found.append((run, target, env))
    return found


ENVIRONMENTS = planned_environments()


class VersionsOnly:
    """Secret Manager as the ingest service account sees it: the versions it is granted."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    def access_secret_version(self, name: str, **_: object) -> SimpleNamespace:
        if name not in self.values:
            raise PermissionError(f"403 no grant on {name}")
        return SimpleNamespace(payload=SimpleNamespace(data=self.values[name].encode()))


def assert_a_signed_webhook_is_accepted(settings: Settings, env: dict[str, str]) -> None:
    """The mapping's signing secret, read through the <NAME>_SECRET version Terraform sets,
    verifies a signed request; the event is queued."""
    version = env["CAPI_TYPEFORM_SECRET_SECRET"]
    reader = SecretReader(client_factory=lambda: VersionsOnly({version: "typeform-secret"}))

    ingest = wiring.build_ingest(settings, publisher=InMemoryPublisher(), reader=reader)
    body = json.dumps({"event_id": "t-1", "email": "laura@example.com"}).encode()
    signature = hmac.new(b"typeform-secret", body, hashlib.sha256).hexdigest()
    request = IncomingRequest(
        "POST",
        "/webhooks/typeform-leads",
        {"Typeform-Signature": signature},
        body,
        "application/json",
    )
    reply = ingest.handle(request)
    # past the signature: the (minimal) mapping's event itself is judged, as any event
    assert reply.status == 400 and "results" in reply.body, reply.body
    forged = IncomingRequest(
        "POST",
        "/webhooks/typeform-leads",
        {"Typeform-Signature": "0" * 64},
        body,
        "application/json",
    )
    assert ingest.handle(forged).status == 401


def test_the_terraform_tests_pin_both_functions_environments():
    assert {target for _, target, _ in ENVIRONMENTS} == {"ingest", "forward"}
    assert len(ENVIRONMENTS) >= 4


@pytest.mark.parametrize(
    ("run", "target", "env"), ENVIRONMENTS, ids=[f"{r}-{t}" for r, t, _ in ENVIRONMENTS]
)
def test_the_relay_starts_from_the_environment_terraform_plans(run, target, env):
    settings = Settings.from_env(env)
    if target == "ingest":
        ingest = wiring.build_ingest(settings)
        assert ingest.pixel_id == "111111111111"
        if "CAPI_WEBHOOK_MAPPINGS" in env:
            assert_a_signed_webhook_is_accepted(settings, env)
        if "CAPI_SHOPIFY_TOPICS" in env:
            assert settings.shopify_topics == ("orders/paid",)
            assert settings.shopify_order_key == "order_number"
    else:
        forward = wiring.build_forwarder(settings)
        assert settings.ack_deadline_s >= settings.delivery_worst_case_s
        assert forward.in_flight_wait_s == settings.delivery_worst_case_s
