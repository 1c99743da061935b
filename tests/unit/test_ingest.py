import json

from capi.ingest.auth import ApiKeyAuth
from capi.ingest.handler import Ingest
from capi.queueing.memory import InMemoryPublisher
from capi.web import IncomingRequest
from tests.factories import RAW_EMAIL, lead, purchase


def make(publisher=None, keys=("k1",), **kwargs):
    publisher = publisher or InMemoryPublisher()
    ingest = Ingest(
        publisher=publisher,
        auth=ApiKeyAuth(lambda: tuple(keys)),
        pixel_id="1234567890",
        **kwargs,
    )
    return ingest, publisher


def post(ingest, body, headers=None, path="/events", content_type="application/json"):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"X-API-Key": "k1"} if headers is None else headers
    return ingest.handle(IncomingRequest("POST", path, headers, raw, content_type))


def test_valid_events_are_published_one_message_each_then_202():
    ingest, pub = make()
    reply = post(ingest, {"data": [purchase(), lead()]})
    assert reply.status == 202
    assert reply.body["accepted"] == 2
    assert [r["status"] for r in reply.body["results"]] == ["accepted", "accepted"]
    assert [m.attributes["event_id"] for m in pub.messages] == ["order-1001", "lead-1"]
    assert {m.attributes["pixel_id"] for m in pub.messages} == {"1234567890"}
    # the queued data is the validated event before hashing (the forwarder hashes)
    assert json.loads(pub.messages[0].data)["user_data"]["em"] == RAW_EMAIL


def test_root_path_single_event_and_bearer_auth():
    ingest, pub = make()
    reply = post(ingest, lead(), headers={"Authorization": "Bearer k1"}, path="/")
    assert reply.status == 202 and len(pub.messages) == 1


def test_mixed_batch_publishes_only_valid_events_and_explains_the_rest():
    ingest, pub = make()
    bad = purchase(event_id="bad")
    del bad["event_name"]
    reply = post(ingest, [purchase(), bad])
    assert reply.status == 202
    assert reply.body["accepted"] == 1 and reply.body["rejected"] == 1
    rejected = reply.body["results"][1]
    assert rejected["status"] == "rejected"
    assert any(e["path"] == "event_name" for e in rejected["errors"])
    assert len(pub.messages) == 1


def test_no_valid_event_is_400_and_nothing_is_published():
    ingest, pub = make()
    reply = post(ingest, [{"event_name": "Lead"}, "not an event"])
    assert reply.status == 400
    assert reply.body["accepted"] == 0
    assert pub.messages == []


def test_auth_failures():
    ingest, pub = make()
    assert post(ingest, lead(), headers={}).status == 401
    assert post(ingest, lead(), headers={"X-API-Key": "nope"}).status == 401
    unconfigured, _ = make(keys=())
    assert post(unconfigured, lead()).status == 500
    assert pub.messages == []


def test_auth_is_checked_before_the_body_is_parsed():
    ingest, _ = make()
    assert post(ingest, b"{not json", headers={}).status == 401


def test_body_errors_map_to_statuses():
    ingest, _ = make(max_body_bytes=500)
    assert post(ingest, lead(), content_type="text/plain").status == 415
    assert post(ingest, b"{oops").status == 400
    assert post(ingest, [lead()] * 20).status == 413


def test_publish_failure_is_503_and_says_nothing_was_accepted():
    ingest, _ = make(publisher=InMemoryPublisher(fail=True))
    reply = post(ingest, lead())
    assert reply.status == 503
    assert "retry" in reply.body["error"]["message"]


def test_missing_event_id_is_derived_and_stable_across_retries():
    ingest, pub = make()
    event = purchase(event_id=None)
    first = post(ingest, event).body["results"][0]["event_id"]
    second = post(ingest, event).body["results"][0]["event_id"]
    assert first and first == second
    assert pub.messages[0].attributes["event_id"] == first


def test_missing_event_time_defaults_to_now():
    ingest, pub = make(clock=lambda: 1_800_000_000.0)
    event = lead(event_time=None)
    del event["event_time"]
    reply = post(ingest, event)
    assert reply.status == 202
    assert json.loads(pub.messages[0].data)["event_time"] == 1_800_000_000


def test_test_event_code_from_body_or_settings():
    ingest, pub = make(test_event_code="GLOBAL")
    post(ingest, {"data": [lead()], "test_event_code": "REQ1"})
    post(ingest, lead())
    assert [m.attributes.get("test_event_code") for m in pub.messages] == ["REQ1", "GLOBAL"]


def test_unknown_route_and_method():
    ingest, _ = make()
    assert ingest.handle(IncomingRequest("POST", "/nope", {"X-API-Key": "k1"})).status == 404
    assert ingest.handle(IncomingRequest("GET", "/events", {"X-API-Key": "k1"})).status == 405
    assert ingest.handle(IncomingRequest("GET", "/healthz", {})).status == 200


def test_error_answers_never_echo_raw_pii():
    ingest, _ = make()
    event = purchase(event_id="x", action_source="not-a-source")
    reply = post(ingest, event)
    assert "John_Smith" not in json.dumps(reply.body)
    assert "650" not in json.dumps(reply.body)


def test_cors_preflight_and_requests_from_allowed_origins_only():
    from capi.ingest.cors import CorsPolicy

    ingest, pub = make(cors=CorsPolicy(("https://shop.example.com",)))
    ok_origin = {"Origin": "https://shop.example.com"}
    preflight = ingest.handle(IncomingRequest("OPTIONS", "/events", ok_origin))
    assert preflight.status == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://shop.example.com"
    assert "X-API-Key" in preflight.headers["Access-Control-Allow-Headers"]
    evil = {"Origin": "https://evil.example"}
    assert ingest.handle(IncomingRequest("OPTIONS", "/events", evil)).status == 403
    assert post(ingest, lead(), headers={"X-API-Key": "k1", **evil}).status == 403
    allowed = post(ingest, lead(), headers={"X-API-Key": "k1", **ok_origin})
    assert allowed.status == 202
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://shop.example.com"
    assert len(pub.messages) == 1  # the refused request published nothing


def test_without_an_allow_list_browsers_are_refused_and_servers_unaffected():
    ingest, _ = make()
    assert (
        post(ingest, lead(), headers={"X-API-Key": "k1", "Origin": "https://a.example"}).status
        == 403
    )
    assert post(ingest, lead()).status == 202
