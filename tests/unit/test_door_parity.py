"""One contract, every door (issue 24): the same customer, with CAPI_DEFAULT_COUNTRY and
CAPI_DATE_ORDER set, through every way into the relay gives the same hashes. Before, `capi send`,
`capi audit` and the live page called the checks without those settings: the phone
`(650) 555-1212` was hashed as `6505551212` by `capi send` and as `16505551212` by the relay,
and the date of birth `03/04/1990` was dropped as ambiguous."""

from __future__ import annotations

import hashlib
import io
import json
import time
import urllib.parse

import pytest

from capi.config import Settings
from capi.forward.forwarder import Delivery
from capi.queueing.memory import InMemoryPublisher
from capi.tools.cli import main
from capi.tools.status import LiveStatus
from capi.web import IncomingRequest
from capi.wiring import build_forwarder, build_ingest

ENV = {"CAPI_DEFAULT_COUNTRY": "us", "CAPI_DATE_ORDER": "DMY"}
PHONE, BIRTH = "(650) 555-1212", "03/04/1990"
HASHES = {
    "ph": [hashlib.sha256(b"16505551212").hexdigest()],  # +1 from CAPI_DEFAULT_COUNTRY
    "db": [hashlib.sha256(b"19900403").hexdigest()],  # day first, from CAPI_DATE_ORDER
    "em": [hashlib.sha256(b"jane.doe@example.com").hexdigest()],
}
MAPPINGS = {
    "webhooks": {
        "crm": {
            "event_name": {"default": "Purchase"},
            "fields": {
                "event_id": "id",
                "event_time": {"path": "at", "type": "timestamp"},
                "user_data.em": "email",
                "user_data.ph": "phone",
                "user_data.db": "birthday",
                "custom_data.value": {"path": "amount", "type": "number"},
                "custom_data.currency": "currency",
                "custom_data.order_id": "id",
            },
        }
    }
}


def event(event_id: str = "order-1") -> dict:
    return {
        "event_name": "Purchase",
        "event_id": event_id,
        "event_time": int(time.time()) - 60,
        "action_source": "system_generated",
        "user_data": {"em": "Jane.Doe@Example.com", "ph": PHONE, "db": BIRTH},
        "custom_data": {"value": 10, "currency": "USD", "order_id": event_id},
    }


@pytest.fixture
def env(monkeypatch):
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CAPI_API_KEYS", "k")
    monkeypatch.setenv("CAPI_PIXEL_ID", "111")
    monkeypatch.setenv("CAPI_WEBHOOK_MAPPINGS", json.dumps(MAPPINGS))
    return Settings.from_env()


def hashed(user_data: dict) -> dict:
    return {k: user_data.get(k) for k in HASHES}


def through_ingest_and_forward(settings, request: IncomingRequest) -> dict:
    queue = InMemoryPublisher()
    ingest = build_ingest(settings, publisher=queue)
    reply = ingest.handle(request)
    assert reply.status in (200, 202), reply.body
    printed = io.StringIO()
    forwarder = build_forwarder(settings, dry_run=True, dry_run_stream=printed)
    (message,) = queue.messages
    forwarder.process(Delivery(message, message_id="m-1"))
    (sent,) = json.loads(printed.getvalue())["payload"]["data"]
    return hashed(sent["user_data"])


def post(path: str, body: bytes, content_type: str = "application/json") -> IncomingRequest:
    return IncomingRequest("POST", path, {"X-API-Key": "k"}, body, content_type)


def test_every_door_hashes_the_same_customer_the_same_way(env, tmp_path, capsys):
    doors = {}
    doors["/events"] = through_ingest_and_forward(
        env, post("/events", json.dumps(event()).encode())
    )
    graph_body = urllib.parse.urlencode({"data": json.dumps([event()]), "access_token": "k"})
    doors["graph route"] = through_ingest_and_forward(
        env,
        post("/v26.0/111/events", graph_body.encode(), "application/x-www-form-urlencoded"),
    )
    record = {
        "id": "crm-9",
        "at": int(time.time()) - 60,
        "email": "Jane.Doe@Example.com",
        "phone": PHONE,
        "birthday": BIRTH,
        "amount": 10,
        "currency": "USD",
    }
    doors["mapped webhook"] = through_ingest_and_forward(
        env, post("/webhooks/crm", json.dumps(record).encode())
    )
    ga4 = {
        "event_data": {
            "event_name": "purchase",
            "transaction_id": "T-1",
            "value": 10,
            "currency": "USD",
            "user_data": {"email_address": "Jane.Doe@Example.com", "phone_number": PHONE},
            "page_location": "https://shop.example.com/thanks",
            "user_agent": "Mozilla/5.0",
            "ip_override": "203.0.113.7",
        },
        "event_time": int(time.time()) - 60,
    }
    sgtm = through_ingest_and_forward(env, post("/sgtm", json.dumps(ga4).encode()))
    assert sgtm["ph"] == HASHES["ph"] and sgtm["em"] == HASHES["em"]  # GA4 carries no birthday

    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps(event()) + "\n")
    capsys.readouterr()
    assert main(["normalize", str(events)]) == 0
    doors["capi normalize"] = hashed(json.loads(capsys.readouterr().out)["user_data"])
    assert main(["send", str(events), "--dry-run"]) == 0
    (printed,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    doors["capi send --dry-run"] = hashed(printed["payload"]["data"][0]["user_data"])

    queue = InMemoryPublisher()
    build_ingest(env, publisher=queue).handle(post("/events", json.dumps(event()).encode()))
    from capi.meta.contract import Contract

    page = LiveStatus(contract=Contract.from_settings(env))
    page.queued(queue.messages)
    doors["capi serve's page"] = hashed(page.snapshot()["last_events"][0]["payload"]["user_data"])

    for door, found in doors.items():
        assert found == HASHES, door


def test_the_cli_judges_with_the_relays_settings(env, tmp_path, capsys):
    """capi validate and capi audit count the phone and the birthday as match keys only because
    they read CAPI_DEFAULT_COUNTRY and CAPI_DATE_ORDER, as ingest does."""
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps(event()) + "\n")
    capsys.readouterr()
    assert main(["validate", "--json", str(events)]) == 0
    (verdict,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {"ph", "db"} <= set(verdict["match_keys"])
    assert main(["audit", "--json", "--no-progress", str(events)]) == 0
    coverage = json.loads(capsys.readouterr().out)["coverage"]
    assert coverage["ph"]["events"] == 1 and coverage["db"]["events"] == 1
