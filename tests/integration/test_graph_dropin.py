"""The relay as a drop-in for graph.facebook.com (issue 11), end to end as deployed: Meta's own,
unmodified business SDKs (Python `facebook-business`, Node `facebook-nodejs-business-sdk`) and
the curl requests of Meta's documentation, pointed at the ingest process -> Pub/Sub emulator ->
forward process -> Graph API stand-in."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests
from facebook_business.adobjects.serverside.action_source import ActionSource
from facebook_business.adobjects.serverside.custom_data import CustomData
from facebook_business.adobjects.serverside.event import Event
from facebook_business.adobjects.serverside.event_request import EventRequest
from facebook_business.adobjects.serverside.user_data import UserData
from facebook_business.api import FacebookAdsApi
from facebook_business.exceptions import FacebookRequestError
from facebook_business.session import FacebookSession

from tests.conftest import missing
from tests.integration.conftest import API_KEY, PIXEL

pytestmark = pytest.mark.integration

NODE_DIR = Path(__file__).resolve().parent.parent / "node"
# Hashes from the curl example of Meta's "Using the API" page (Conversions API documentation).
DOC_EM = "309a0a5c3e211326ae75ca18196d301a9bdbd1a882a4d2569511033da23f0abd"
DOC_PH = "254aa248acb47dd654ca3ea53f48c2c26d641d23d7e2e93a1ec56258df7674c4"


@pytest.fixture
def python_sdk(start_relay, monkeypatch):
    """A relay, and Meta's Python SDK pointed at it: the documented override of the session's
    GRAPH attribute, and a relay API key as the access token."""
    relay = start_relay()
    monkeypatch.setattr(FacebookSession, "GRAPH", relay.ingest.url)
    FacebookAdsApi.init(access_token=API_KEY, crash_log=False)
    return relay


def sdk_event(event_id: str, *, email: str = "Joe@Example.com", age_s: int = 60) -> Event:
    user = UserData(
        emails=[email],
        phones=["+1 (650) 555-1212"],
        client_ip_address="93.184.216.34",
        client_user_agent="Mozilla/5.0 (X11; Linux x86_64)",
        fbp="fb.1.1736160000000.1122334455",
    )
    return Event(
        event_name="Purchase",
        event_time=int(time.time()) - age_s,
        event_id=event_id,
        event_source_url="https://shop.example.com/thanks",
        action_source=ActionSource.WEBSITE,
        user_data=user,
        custom_data=CustomData(currency="usd", value=59.9),
    )


def test_python_sdk_batch_with_a_test_code_reaches_meta(python_sdk, graph_standin):
    request = EventRequest(
        pixel_id=PIXEL,
        events=[sdk_event("sdk-1"), sdk_event("sdk-2", email="ann@example.com")],
        test_event_code="TEST123",
    )
    response = request.execute()
    assert response.events_received == 2
    assert response.fbtrace_id and isinstance(response.messages, list)
    events = graph_standin.wait_for_events(2, timeout=30)
    assert sorted(e["event_id"] for e in events) == ["sdk-1", "sdk-2"]
    assert all(r.test_event_code == "TEST123" for r in graph_standin.requests)
    # The relay sent its own token, never the caller's key
    assert all(r.token != API_KEY for r in graph_standin.requests)
    log = python_sdk.ingest.log_path.read_text()
    assert response.fbtrace_id in log  # the trace id is in the relay's log line


def test_the_same_event_through_the_sdk_and_events_reaches_meta_identically(
    python_sdk, graph_standin
):
    event = sdk_event("same-1")
    EventRequest(pixel_id=PIXEL, events=[event], test_event_code="TESTA").execute()
    # what a backend would POST to /events: the very dict the SDK puts in `data`
    reply = python_sdk.post({"data": [event.normalize()], "test_event_code": "TESTB"})
    assert reply.status_code == 202, reply.text
    first, second = graph_standin.wait_for_events(2, timeout=30)
    assert json.dumps(first) == json.dumps(second)


def test_python_sdk_gets_graph_errors_for_an_invalid_event_and_a_meta_token(
    python_sdk, graph_standin
):
    stale = sdk_event("old-1", age_s=9 * 24 * 3600)
    with pytest.raises(FacebookRequestError) as caught:
        EventRequest(pixel_id=PIXEL, events=[sdk_event("ok-1"), stale]).execute()
    error = caught.value
    assert error.http_status() == 400 and error.api_error_code() == 100
    assert not error.api_transient_error()
    user_msg = error.body()["error"]["error_user_msg"]
    assert "event 1 (old-1)" in user_msg and "event_time" in user_msg
    FacebookAdsApi.init(access_token="EAAmetatoken", crash_log=False)
    with pytest.raises(FacebookRequestError) as caught:
        EventRequest(pixel_id=PIXEL, events=[sdk_event("ok-2")]).execute()
    assert caught.value.api_error_code() == 190 and caught.value.http_status() == 401
    assert "relay" in caught.value.api_error_message()
    time.sleep(2)
    assert graph_standin.events == []  # one bad event: nothing of that request was queued


def run_node(relay_url: str, spec: dict) -> dict:
    if shutil.which("node") is None or not (NODE_DIR / "node_modules").is_dir():
        missing("node and tests/node/node_modules (make test runs npm ci) are needed")
    result = subprocess.run(
        ["node", str(NODE_DIR / "send_events.js"), json.dumps(spec)],
        env={**os.environ, "RELAY_URL": relay_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def node_event(event_id: str, age_s: int = 60) -> dict:
    return {
        "event_name": "Purchase",
        "event_time": int(time.time()) - age_s,
        "event_id": event_id,
        "event_source_url": "https://shop.example.com/thanks",
        "email": "Joe@Example.com",
        "phone": "16505551212",
        "ip": "93.184.216.34",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
        "value": 12.5,
        "currency": "eur",
    }


def test_node_sdk_with_its_graph_url_overridden(start_relay, graph_standin):
    relay = start_relay()
    spec = {"token": API_KEY, "pixel": PIXEL, "test_event_code": "TESTNODE"}
    sent = run_node(relay.ingest.url, {**spec, "events": [node_event("n-1"), node_event("n-2")]})
    assert sent["ok"] and sent["events_received"] == 2 and sent["fbtrace_id"], sent
    events = graph_standin.wait_for_events(2, timeout=30)
    assert sorted(e["event_id"] for e in events) == ["n-1", "n-2"]
    bad = run_node(relay.ingest.url, {**spec, "events": [node_event("n-3", age_s=9 * 24 * 3600)]})
    assert not bad["ok"] and bad["status"] == 400 and bad["error"]["code"] == 100, bad
    meta = run_node(relay.ingest.url, {**spec, "token": "EAAx", "events": [node_event("n-4")]})
    assert not meta["ok"] and meta["status"] == 401 and meta["error"]["code"] == 190, meta


def doc_event(event_id: str) -> dict:
    """The event of the curl example in Meta's "Using the API" page, with a current time."""
    return {
        "event_name": "Purchase",
        "event_time": int(time.time()) - 30,
        "event_id": event_id,
        "event_source_url": "http://jaspers-market.com/product/123",
        "action_source": "website",
        "user_data": {
            "client_ip_address": "93.184.216.34",
            "client_user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64)",
            "em": [DOC_EM],
            "ph": [DOC_PH],
            "fbp": "fb.1.1558571054389.1098115397",
        },
        "custom_data": {
            "value": 100.2,
            "currency": "USD",
            "content_ids": ["product.id.123"],
            "content_type": "product",
        },
        "opt_out": False,
    }


def test_curl_examples_of_metas_docs_form_and_json(start_relay, graph_standin):
    relay = start_relay()
    url = f"{relay.ingest.url}/v26.0/{PIXEL}/events"
    # curl -X POST -F 'data=[...]' -F 'access_token=...' (multipart/form-data)
    form = requests.post(
        url,
        files={
            "data": (None, json.dumps([doc_event("doc-form")], indent=2)),
            "access_token": (None, API_KEY),
        },
        timeout=30,
    )
    assert form.status_code == 200, form.text
    assert form.json()["events_received"] == 1
    # curl -H 'Content-Type: application/json' -d '{"data": [...]}' '...?access_token=...'
    body = {"data": [doc_event("doc-json")], "test_event_code": "TEST42"}
    as_json = requests.post(url, params={"access_token": API_KEY}, json=body, timeout=30)
    assert as_json.status_code == 200, as_json.text
    # curl -d 'data=[...]&access_token=...' (application/x-www-form-urlencoded)
    encoded = requests.post(
        url, data={"data": json.dumps([doc_event("doc-urlenc")]), "access_token": API_KEY}
    )
    assert encoded.status_code == 200, encoded.text
    events = graph_standin.wait_for_events(3, timeout=30)
    assert sorted(e["event_id"] for e in events) == ["doc-form", "doc-json", "doc-urlenc"]
    assert all(e["user_data"]["em"] == [DOC_EM] for e in events)  # hashes pass through
