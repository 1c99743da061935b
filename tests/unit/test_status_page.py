"""`capi serve`'s live status page (issue 12): counters, grades, coverage and the last events in
their hashed form, refreshed in a real browser; local only."""

from __future__ import annotations

import json
import time

import pytest
import requests

from capi.config import Settings
from capi.tools.serve import LocalRelay, make_app
from tests.browser import rendered_dom, screenshot
from tests.factories import RAW_EMAIL, purchase


@pytest.fixture
def relay(tmp_path):
    settings = Settings.from_env({"CAPI_API_KEYS": "k", "CAPI_PIXEL_ID": "123"})
    local = LocalRelay(settings, dlq_path=str(tmp_path / "dlq.jsonl"), journal=None)
    local.forwarder.dry_run_stream = open(tmp_path / "dry.jsonl", "w")  # noqa: SIM115
    port = local.start("127.0.0.1", 0)
    yield local, f"http://127.0.0.1:{port}"
    local.stop(2)
    local.forwarder.dry_run_stream.close()


def post(base, body):
    return requests.post(f"{base}/events", json=body, headers={"X-API-Key": "k"}, timeout=10)


def wait_for(base, predicate, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        snapshot = requests.get(f"{base}/status.json", timeout=5).json()
        if predicate(snapshot):
            return snapshot
        time.sleep(0.1)
    raise AssertionError(snapshot)


def test_the_numbers_follow_the_events(relay):
    _, base = relay
    weak = {
        "event_name": "Lead",
        "event_time": int(time.time()) - 60,
        "event_id": "weak-1",
        "action_source": "system_generated",
        "user_data": {"fn": "Ann", "ln": "Lee"},
    }
    stale = purchase(event_id="stale-1")
    stale["event_time"] = int(time.time()) - 30 * 86400
    assert post(base, {"data": [purchase(), weak, stale]}).status_code == 202
    snapshot = wait_for(base, lambda s: s["printed"] >= 2)  # a dry run: no token
    assert snapshot["received"] == 3
    assert snapshot["by_status"] == {"accepted": 2, "rejected": 1}
    assert snapshot["grades"]["strong"] >= 1 and snapshot["grades"]["weak"] == 1
    assert snapshot["coverage"]["em"]["events"] >= 1
    last = {e["event_id"]: e for e in snapshot["last_events"]}
    assert last["order-1001"]["status"] == "printed"
    assert snapshot["delivered"] == 0 and snapshot["dead_lettered"] == 0
    payload = json.dumps(last["order-1001"]["payload"])
    assert (
        RAW_EMAIL not in payload and len(last["order-1001"]["payload"]["user_data"]["em"][0]) == 64
    )


def test_the_page_renders_the_live_numbers_in_a_browser(relay, tmp_path):
    _, base = relay
    assert post(base, {"data": [purchase(), purchase(event_id="order-1002")]}).status_code == 202
    wait_for(base, lambda s: s["printed"] >= 2)
    dom = rendered_dom(f"{base}/status", budget_ms=4000)
    assert 'id="received">2<' in dom and 'id="delivered">2<' in dom
    assert "printed (dry run" in dom
    assert "order-1002" in dom and "status-printed" in dom
    assert RAW_EMAIL not in dom
    screenshot(f"{base}/status", tmp_path / "status.png", budget_ms=4000)
    assert requests.get(f"{base}/", timeout=5).headers["Content-Type"].startswith("text/html")


def test_local_only_and_not_in_the_cloud_functions(relay):
    local, _ = relay
    client = make_app(local.ingest, local.status).test_client()
    remote = client.get("/status", environ_base={"REMOTE_ADDR": "203.0.113.5"})
    assert remote.status_code == 404
    assert client.get("/status", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 200
    # the ingest function's handler (what main.py serves) has no such page
    from capi.web import IncomingRequest

    assert local.ingest.handle(IncomingRequest("GET", "/status", {})).status == 404


def test_capi_serve_delivers_without_a_batch_window(relay):
    local, _ = relay
    assert local.forwarder.batcher is None  # two local workers: a window would only add waiting
