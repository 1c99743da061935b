"""Hostile input at the ingest door (hypothesis): whatever arrives, the answer is a clear 4xx or a
202, never an exception or a 5xx, and nothing invalid is queued."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capi.ingest.auth import ApiKeyAuth
from capi.ingest.handler import Ingest
from capi.queueing.memory import InMemoryPublisher
from capi.web import IncomingRequest
from tests.factories import lead

pytestmark = pytest.mark.slow  # make test-fast leaves these generated runs out

ALLOWED = {202, 400, 413, 415}


def ingest() -> tuple[Ingest, InMemoryPublisher]:
    pub = InMemoryPublisher()
    return Ingest(publisher=pub, auth=ApiKeyAuth(lambda: ("k",)), pixel_id="1"), pub


def send(handler: Ingest, body: bytes, content_type: str = "application/json"):
    reply = handler.handle(
        IncomingRequest("POST", "/events", {"X-API-Key": "k"}, body, content_type)
    )
    assert reply.status in ALLOWED, (reply.status, reply.body)
    json.dumps(reply.body)  # always a JSON-able answer
    return reply


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=15), children, max_size=6)
    ),
    max_leaves=40,
)
field_names = st.sampled_from(
    ["event_name", "event_time", "action_source", "user_data", "custom_data", "event_id",
     "event_source_url", "data_processing_options", "opt_out", "em", "ph", "value", "currency"]
)  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.binary(max_size=400))
def test_arbitrary_bytes(body):
    send(ingest()[0], body)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(json_values)
def test_arbitrary_json_values(value):
    handler, pub = ingest()
    reply = send(handler, json.dumps(value).encode())
    assert (reply.status == 202) == bool(pub.messages)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.dictionaries(field_names, json_values, max_size=8), st.dictionaries(field_names, json_values)
)
def test_events_with_wrong_types_in_known_fields(event, user_data):
    base = lead()
    base.update(event)
    if isinstance(base.get("user_data"), dict):
        base["user_data"] = {**base["user_data"], **user_data}
    handler, pub = ingest()
    reply = send(handler, json.dumps(base).encode())
    for message in pub.messages:  # whatever was queued is a validated event object
        assert isinstance(json.loads(message.data), dict)
    if reply.status == 202:
        assert reply.body["accepted"] == len(pub.messages)


def test_pathological_bodies():
    handler, _ = ingest()
    cases = [
        b'{"data": [' + b"[" * 5000 + b"]" * 5000 + b"]}",  # deep nesting
        b'{"a": NaN}',
        b'{"event_name": Infinity}',
        b'{"event_name": "A", "event_name": "B"}',  # duplicate keys
        b'{"event_time": "1700000000", "event_name": "Lead"}',  # numbers as strings
        b"\xed\xa0\x80",  # invalid UTF-8 (a lone surrogate)
        b'"\\ud800"',
        json.dumps({"event_name": "x" * 900_000}).encode(),  # huge string
        b"null",
        b"0",
    ]
    statuses = [send(handler, body).status for body in cases]
    assert all(s in {400, 413} for s in statuses), statuses


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.text(alphabet=st.characters(min_codepoint=0xD7F0, max_codepoint=0xE010), max_size=5))
def test_any_unicode_in_fields_never_crashes(text):
    event = lead()
    event["custom_data"] = {"note": text}
    event["user_data"] = {**event["user_data"], "fn": text}
    send(ingest()[0], json.dumps(event).encode())
