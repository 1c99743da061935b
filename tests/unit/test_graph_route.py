"""POST /{version}/{pixel_id}/events: the Graph-compatible route (issue 11), without a server.
End to end with Meta's SDKs: tests/integration/test_graph_dropin.py."""

from __future__ import annotations

import json
import urllib.parse

import pytest
from facebook_business.exceptions import FacebookRequestError

from capi.ingest.auth import ApiKeyAuth
from capi.ingest.handler import Ingest
from capi.meta.consent import ConsentPolicy
from capi.queueing.memory import InMemoryPublisher
from capi.routing import parse_routing
from capi.web import IncomingRequest
from tests.factories import purchase

PATH = "/v26.0/111/events"


def relay(*, fail=False, keys=("k", "agency=ak"), **kwargs):
    recorder = InMemoryPublisher(fail=fail)
    ingest = Ingest(publisher=recorder, auth=ApiKeyAuth(lambda: keys), pixel_id="111", **kwargs)
    return ingest, recorder


def event(**overrides):
    base = purchase(**overrides)
    base["user_data"]["client_ip_address"] = "93.184.216.34"
    return base


def post_json(ingest, body, path=PATH, query=None, headers=None):
    raw = json.dumps(body).encode()
    return ingest.handle(
        IncomingRequest("POST", path, headers or {}, raw, "application/json", query=query or {})
    )


def post_form(ingest, fields, path=PATH, query=None):
    raw = urllib.parse.urlencode(fields).encode()
    return ingest.handle(
        IncomingRequest(
            "POST", path, {}, raw, "application/x-www-form-urlencoded", query=query or {}
        )
    )


def test_python_sdk_shape_form_with_json_encoded_event_strings():
    ingest, recorder = relay()
    fields = {"data": json.dumps([json.dumps(event())]), "test_event_code": "TEST1"}
    reply = post_form(ingest, fields, query={"access_token": "k", "appsecret_proof": "ab12"})
    assert reply.status == 200, reply.body
    assert reply.body["events_received"] == 1
    (message,) = reply.body["messages"]  # the relay's view of the event's match keys
    assert (
        message.startswith("event 0 (order-1001): match keys em, ph") and "grade strong" in message
    )
    assert len(reply.body["fbtrace_id"]) >= 16
    (message,) = recorder.messages
    assert message.attributes["pixel_id"] == "111"
    assert message.attributes["test_event_code"] == "TEST1"
    assert message.attributes["source"] == "graph"


def test_node_sdk_shape_json_with_token_and_nulls_in_the_body():
    ingest, recorder = relay()
    body = {
        "data": [event(), event(event_id="order-1002")],
        "access_token": "k",
        "partner_agent": None,
        "test_event_code": None,
        "namespace_id": None,
        "upload_id": None,
    }
    reply = post_json(ingest, body)
    assert reply.status == 200 and reply.body["events_received"] == 2, reply.body
    assert [m.attributes["event_id"] for m in recorder.messages] == ["order-1001", "order-1002"]
    assert all("access_token" not in json.loads(m.data) for m in recorder.messages)


def test_multipart_form_as_curl_F_sends_it():
    ingest, recorder = relay()
    boundary = "----capi"
    parts = [("data", json.dumps([event()])), ("access_token", "k")]
    raw = (
        b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
            + f"{value}\r\n".encode()
            for name, value in parts
        )
        + f"--{boundary}--\r\n".encode()
    )
    request = IncomingRequest("POST", PATH, {}, raw, f"multipart/form-data; boundary={boundary}")
    reply = ingest.handle(request)
    assert reply.status == 200, reply.body
    assert len(recorder.messages) == 1


@pytest.mark.parametrize(
    ("query", "headers"),
    [
        ({"access_token": "k"}, {}),
        ({}, {"Authorization": "OAuth k"}),
        ({}, {"Authorization": "Bearer k"}),
        ({}, {"X-API-Key": "k"}),
    ],
)
def test_the_key_is_taken_where_graph_clients_put_a_token(query, headers):
    ingest, _ = relay()
    reply = post_json(ingest, {"data": [event()]}, query=query, headers=headers)
    assert reply.status == 200, reply.body


def test_a_meta_token_or_no_key_is_graphs_190_naming_the_relay_key():
    ingest, recorder = relay()
    meta = post_json(ingest, {"data": [event()], "access_token": "EAAB1234"})
    assert meta.status == 401
    error = meta.body["error"]
    assert (error["code"], error["type"], error["is_transient"]) == (190, "OAuthException", False)
    assert "Meta access token" in error["message"] and "API keys" in error["message"]
    assert "EAAB1234" not in json.dumps(meta.body)
    none = post_json(ingest, {"data": [event()]})
    assert none.status == 401 and none.body["error"]["code"] == 190
    assert recorder.messages == []


def test_pixel_must_be_routed_and_a_limited_key_stays_limited():
    ingest, recorder = relay()
    unknown = post_json(ingest, {"data": [event()], "access_token": "k"}, path="/v26.0/999/events")
    assert unknown.status == 400
    assert (unknown.body["error"]["code"], unknown.body["error"]["error_subcode"]) == (100, 33)
    routing = parse_routing(
        {"pixels": {"111": {}, "222": {}}, "keys": {"agency": {"pixels": ["222"]}}}
    )
    ingest, recorder = relay(routing=routing)
    assert post_json(ingest, {"data": [event()], "access_token": "ak"}).status == 400
    other = post_json(ingest, {"data": [event()], "access_token": "ak"}, path="/v26.0/222/events")
    assert other.status == 200, other.body
    assert [m.attributes["pixel_id"] for m in recorder.messages] == ["222"]


def test_versions_meta_no_longer_serves_are_refused_newer_ones_taken():
    ingest, recorder = relay()
    old = post_json(ingest, {"data": [event()], "access_token": "k"}, path="/v21.0/111/events")
    assert old.status == 400 and old.body["error"]["code"] == 2635
    for version in ("v22.0", "v27.0", "v31.0"):
        reply = post_json(
            ingest, {"data": [event()], "access_token": "k"}, path=f"/{version}/111/events"
        )
        assert reply.status == 200, (version, reply.body)
    # the version never changes what is queued
    assert len({m.data for m in recorder.messages}) == 1


def test_one_invalid_event_refuses_the_whole_request_naming_event_and_field():
    ingest, recorder = relay()
    bad = event(event_id="bad-1")
    bad["custom_data"] = {"value": "abc", "currency": "USD"}
    reply = post_json(ingest, {"data": [event(), bad], "access_token": "k"})
    assert reply.status == 400
    error = reply.body["error"]
    assert error["code"] == 100 and error["is_transient"] is False
    assert "event 1 (bad-1): custom_data.value" in error["error_user_msg"]
    assert recorder.messages == []  # Graph semantics: nothing of the request is accepted


def test_queue_failure_is_a_transient_graph_error_the_python_sdk_retries():
    ingest, _ = relay(fail=True)
    reply = post_json(ingest, {"data": [event()], "access_token": "k"})
    assert reply.status == 503
    error = reply.body["error"]
    assert error["code"] == 2 and error["is_transient"] is True
    sdk_error = FacebookRequestError("failed", {}, reply.status, {}, json.dumps(reply.body))
    assert sdk_error.api_transient_error() is True
    assert sdk_error.api_error_code() == 2


def test_bodies_graph_refuses():
    ingest, _ = relay()
    cases = [
        ({"access_token": "k"}, "data"),
        ({"data": "not json", "access_token": "k"}, "JSON"),
        ({"data": json.dumps({"a": 1}), "access_token": "k"}, "array"),
        ({"data": json.dumps([]), "access_token": "k"}, "no events"),
        ({"data": json.dumps([event()] * 1001), "access_token": "k"}, "at most 1000"),
    ]
    for fields, words in cases:
        reply = post_form(ingest, fields)
        assert reply.status == 400, (fields, reply.body)
        assert reply.body["error"]["code"] == 100
        assert words in reply.body["error"]["message"], reply.body
    text = ingest.handle(IncomingRequest("POST", PATH, {}, b"data=x", "text/plain"))
    assert text.status == 400 and text.body["error"]["code"] == 100
    get = ingest.handle(IncomingRequest("GET", PATH, {}, b"", "", query={"access_token": "k"}))
    assert get.status == 400 and "Unsupported get request" in get.body["error"]["message"]
    big = IncomingRequest("POST", PATH, {}, b"", "application/json", too_large=True)
    assert ingest.handle(big).status == 413


def test_a_consent_drop_is_received_and_said_in_messages():
    ingest, recorder = relay(consent=ConsentPolicy(mode="drop"))
    denied = event()
    denied["consent"] = {"ad_storage": "denied"}
    reply = post_json(ingest, {"data": [denied], "access_token": "k"})
    assert reply.status == 200 and reply.body["events_received"] == 1, reply.body
    assert any("not sent" in m for m in reply.body["messages"])
    assert recorder.messages == []


def test_the_same_event_is_queued_identically_through_events_and_the_graph_route():
    ingest, recorder = relay()
    body = {"data": [event()]}
    assert post_json(ingest, body, path="/events", headers={"X-API-Key": "k"}).status == 202
    assert post_json(ingest, body, query={"access_token": "k"}).status == 200
    via_events, via_graph = recorder.messages
    assert via_events.data == via_graph.data


# -- abuse (issue 22): authenticate before parsing, bounded forms, one set of limits -----------


class CountingParse:
    """Counts calls of the form parsers, to prove a body was never parsed."""

    def __init__(self, monkeypatch):
        import capi.ingest.graph_route as route

        self.calls = 0
        real = route._fields

        def counted(*args, **kwargs):
            self.calls += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(route, "_fields", counted)


FORM = "application/x-www-form-urlencoded"


def raw_post(ingest, body, content_type, query=None, headers=None):
    return ingest.handle(
        IncomingRequest("POST", PATH, headers or {}, body, content_type, query=query or {})
    )


@pytest.mark.parametrize(
    "where",
    [
        {"query": {"access_token": "wrong"}},
        {"headers": {"Authorization": "OAuth wrong"}},
        {"headers": {"X-API-Key": "wrong"}},
    ],
)
def test_a_wrong_key_outside_the_body_is_refused_before_the_body_is_read(monkeypatch, where):
    ingest, recorder = relay()
    parse = CountingParse(monkeypatch)
    junk = b"a&" * 500_000  # 1 MB of empty form fields
    reply = raw_post(ingest, junk, "application/x-www-form-urlencoded", **where)
    assert reply.status == 401 and reply.body["error"]["code"] == 190
    assert parse.calls == 0 and recorder.messages == []


def test_a_form_of_a_million_fields_is_refused_at_its_count():
    ingest, recorder = relay()
    reply = raw_post(ingest, b"a&" * 500_000, "application/x-www-form-urlencoded")
    assert reply.status == 413 and "100 fields" in reply.body["error"]["message"]
    assert recorder.messages == []


def test_a_multipart_body_of_18000_empty_parts_is_refused_at_its_part_count():
    ingest, recorder = relay()
    part = b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\n\r\n'
    body = part * 18_000 + b"--b--\r\n"  # under the 1 MB body limit
    reply = raw_post(ingest, body, "multipart/form-data; boundary=b")
    assert reply.status == 413 and "100 parts" in reply.body["error"]["message"]
    assert recorder.messages == []


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (
            b"access_token=k&data=%5B%7B%22a%22%3A%22%FF%22%7D%5D",
            "application/x-www-form-urlencoded",
        ),
        (b'access_token=k&data=[{"a":"\xff"}]', "application/x-www-form-urlencoded"),
        (
            b'--b\r\nContent-Disposition: form-data; name="access_token"\r\n\r\nk\r\n'
            b'--b\r\nContent-Disposition: form-data; name="data"\r\n\r\n[{"a":"\xff"}]\r\n'
            b"--b--\r\n",
            "multipart/form-data; boundary=b",
        ),
    ],
    ids=["percent-encoded", "raw-form", "multipart"],
)
def test_an_invalid_utf8_byte_is_refused_however_it_is_encoded(body, content_type):
    ingest, recorder = relay()
    reply = raw_post(ingest, body, content_type)
    assert reply.status == 400, reply.body
    assert "UTF-8" in reply.body["error"]["message"]
    assert recorder.messages == []


def test_data_as_a_json_string_has_the_same_limit_in_a_json_body_as_in_a_form():
    events = [event(event_id=f"long-{i}") for i in range(60)]
    data = json.dumps(events)
    assert len(data) > 16_384  # over the limit of one JSON string value
    ingest, recorder = relay()
    as_json = post_json(ingest, {"data": data, "access_token": "k"})
    as_form = post_form(ingest, {"data": data, "access_token": "k"})
    assert as_json.status == as_form.status == 200, (as_json.body, as_form.body)
    assert as_json.body["events_received"] == as_form.body["events_received"] == 60
    # a long string inside an event is still refused, whichever way it came
    events[0]["custom_data"]["content_name"] = "x" * 20_000
    data = json.dumps(events)
    ingest, recorder = relay()
    as_json = post_json(ingest, {"data": data, "access_token": "k"})
    as_form = post_form(ingest, {"data": data, "access_token": "k"})
    assert as_json.status == as_form.status == 400
    assert recorder.messages == []
