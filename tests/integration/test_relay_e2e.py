"""End to end, as deployed: POST to the ingest process -> Pub/Sub emulator -> push to the forward
process -> Graph API stand-in. Nothing is mocked: real functions-framework processes, the real
google-cloud-pubsub client against the real emulator."""

from __future__ import annotations

import json
import time

import pytest

from tests.factories import EMAIL_HASH, PHONE_HASH, RAW_EMAIL, RAW_PHONE, lead, purchase
from tests.integration.conftest import PIXEL, TOKEN

pytestmark = pytest.mark.integration


def settle(seconds: float = 1.5) -> None:
    """Leave time for anything extra (a duplicate, a redelivery) to arrive before counting."""
    time.sleep(seconds)


def test_events_arrive_once_each_hashed_with_their_event_id(start_relay, graph_standin):
    relay = start_relay()
    single = relay.post(purchase(event_id="p-1"))
    array = relay.post([lead(event_id="l-1"), lead(event_id="l-2")])
    body = relay.post({"data": [purchase(event_id="p-2")], "test_event_code": "TEST42"})
    assert [r.status_code for r in (single, array, body)] == [202, 202, 202]
    assert array.json()["accepted"] == 2

    graph_standin.wait_for_events(4, timeout=30)
    settle()
    assert sorted(graph_standin.event_ids()) == ["l-1", "l-2", "p-1", "p-2"]  # once each
    requests_ok = graph_standin.accepted_requests()
    assert {r.path for r in requests_ok} == {f"/v26.0/{PIXEL}/events"}
    assert {r.token for r in requests_ok} == {TOKEN}
    by_id = {e["event_id"]: e for e in graph_standin.events}
    assert by_id["p-1"]["user_data"]["em"] in (EMAIL_HASH, [EMAIL_HASH])
    assert by_id["p-1"]["user_data"]["ph"] in (PHONE_HASH, [PHONE_HASH])
    assert RAW_EMAIL not in json.dumps(graph_standin.events)
    tests_codes = {r.test_event_code for r in requests_ok if r.events[0]["event_id"] == "p-2"}
    assert tests_codes == {"TEST42"}


def test_a_burst_sharing_publish_rpcs_loses_and_duplicates_nothing(start_relay, graph_standin):
    """Group commit at its most eager (one Publish RPC at a time, 16 gunicorn threads as
    Terraform sets): 60 concurrent requests of one to three events each queue behind each other's
    RPCs; every one is answered 202 and every event reaches Meta once."""
    from concurrent.futures import ThreadPoolExecutor

    relay = start_relay(ingest_env={"CAPI_PUBLISH_MAX_INFLIGHT": "1", "THREADS": "16"})
    bodies = [[purchase(event_id=f"burst-{i}-{j}") for j in range(1 + i % 3)] for i in range(60)]
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(relay.post, bodies))
    assert [a.status_code for a in answers] == [202] * 60
    expected = sorted(e["event_id"] for body in bodies for e in body)
    graph_standin.wait_for_events(len(expected), timeout=90)
    settle()
    assert sorted(graph_standin.event_ids()) == expected


def test_derived_event_id_is_the_same_on_a_client_retry(start_relay, graph_standin):
    relay = start_relay()
    event = purchase(event_id=None)
    first = relay.post(event).json()["results"][0]["event_id"]
    second = relay.post(event).json()["results"][0]["event_id"]
    assert first == second
    graph_standin.wait_for_events(1, timeout=30)
    settle()
    # the copy is the same delivery (pixel, event name, id): the forwarder sends it once, even
    # when it arrives while the first is still being sent
    assert graph_standin.event_ids() == [first]


def test_transient_failure_is_retried_and_delivered_once(start_relay, graph_standin):
    relay = start_relay()
    graph_standin.fail_next(1, status=500)
    assert relay.post(purchase(event_id="retry-me")).status_code == 202
    graph_standin.wait_for_events(1, timeout=30)
    settle()
    assert graph_standin.event_ids() == ["retry-me"]
    statuses = [r.status for r in graph_standin.requests]
    assert statuses[0] == 500 and statuses[-1] == 200


def test_permanent_failure_ends_in_the_dlq_with_its_reason(start_relay, graph_standin):
    relay = start_relay()
    graph_standin.error_next(100, 2804019, status=400, message="Invalid parameter")
    assert relay.post(purchase(event_id="doomed")).status_code == 202
    (dead,) = relay.dead_letters(1)
    assert json.loads(dead.data)["event_id"] == "doomed"  # the original event, kept
    attrs = dict(dead.attributes)
    assert attrs["event_id"] == "doomed" and attrs["pixel_id"] == PIXEL
    assert attrs["dlq_reason"] == "rejected"
    assert (attrs["error_code"], attrs["error_subcode"]) == ("100", "2804019")
    assert attrs["attempts"] and attrs["failed_at"]
    settle()
    assert graph_standin.events == []  # not retried forever, not delivered
    assert len(graph_standin.requests) == 1


def test_failed_publish_gives_503(start_relay, graph_standin):
    relay = start_relay(ingest_env={"CAPI_TOPIC": "projects/capi-missing/topics/nope"})
    response = relay.post(lead())
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "queue_unavailable"
    settle(0.5)
    assert graph_standin.requests == []


def test_invalid_events_are_refused_at_the_door(start_relay, graph_standin):
    relay = start_relay()
    stale = purchase(event_id="old", event_time=int(time.time()) - 8 * 86400)
    response = relay.post([stale, lead(event_id="fresh")])
    assert response.status_code == 202
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["rejected", "accepted"]
    assert results[0]["errors"][0]["path"] == "event_time"
    graph_standin.wait_for_events(1, timeout=30)
    settle()
    assert graph_standin.event_ids() == ["fresh"]


def test_auth_and_body_errors_over_http(start_relay):
    relay = start_relay()
    assert relay.post(lead(), key="").status_code == 401
    assert relay.post(lead(), key="wrong").status_code == 401
    import requests

    r = requests.post(
        relay.ingest.url + "/events",
        data=b"x",
        timeout=10,
        headers={"X-API-Key": "it-key-1", "Content-Type": "text/plain"},
    )
    assert r.status_code == 415
    big = requests.post(
        relay.ingest.url + "/events",
        data=b"[" + b" " * 1_100_000 + b"]",
        timeout=10,
        headers={"X-API-Key": "it-key-1", "Content-Type": "application/json"},
    )
    assert big.status_code == 413


def test_logs_are_structured_and_carry_no_pii_or_token(start_relay, graph_standin):
    relay = start_relay()
    relay.post(purchase(event_id="logged"))
    graph_standin.wait_for_events(1, timeout=30)
    deadline = time.monotonic() + 10  # the forwarder logs after Meta answered
    while "events delivered" not in relay.forward.logs() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "events delivered" in relay.forward.logs()
    raw = [RAW_EMAIL, RAW_EMAIL.lower(), RAW_PHONE, "6505551212", "John", "Smith", TOKEN]
    for proc in (relay.ingest, relay.forward):
        text = proc.logs()
        assert not [value for value in raw if value in text]
        structured = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
        assert structured, f"no structured log line from {proc.target}"
        assert all("severity" in e and "message" in e for e in structured)


def test_token_and_api_keys_from_secret_manager(start_relay, graph_standin, secret_standin):
    token_secret = "projects/capi-test/secrets/meta-capi-token"
    keys_secret = "projects/capi-test/secrets/capi-ingest-keys"
    secret_standin.set_secret(token_secret, "EAAfromsecret")
    secret_standin.set_secret(keys_secret, "secret-key-a,secret-key-b")
    graph_standin.set_tokens(["EAAfromsecret"])
    endpoint = {"CAPI_SECRET_MANAGER_ENDPOINT": secret_standin.url}
    relay = start_relay(
        forward_env={
            "CAPI_ACCESS_TOKEN": "",
            "CAPI_ACCESS_TOKEN_SECRET": token_secret + "/versions/latest",
            **endpoint,
        },
        ingest_env={
            "CAPI_API_KEYS": "",
            "CAPI_API_KEYS_SECRET": keys_secret + "/versions/latest",
            **endpoint,
        },
    )
    assert relay.post(lead(event_id="s-1"), key="secret-key-b").status_code == 202
    assert relay.post(lead(event_id="s-x"), key="it-key-1").status_code == 401
    graph_standin.wait_for_events(1, timeout=30)
    assert graph_standin.accepted_requests()[0].token == "EAAfromsecret"

    # Rotation: Meta now refuses the old token (190); the forwarder re-reads the secret once.
    secret_standin.set_secret(token_secret, "EAArotated")
    graph_standin.set_tokens(["EAArotated"])
    assert relay.post(lead(event_id="s-2"), key="secret-key-a").status_code == 202
    graph_standin.wait_for_events(2, timeout=30)
    settle()
    assert graph_standin.event_ids() == ["s-1", "s-2"]
    assert [r.status for r in graph_standin.requests][-2:] == [401, 200]


def test_every_line_of_both_processes_is_json_gunicorns_and_the_libraries_included(
    start_relay, graph_standin
):
    """gunicorn, Flask and the Google libraries log through the relay's JSON formatter and
    redaction filter; lines of one request carry its Cloud trace."""
    verbose = {"GUNICORN_LOG_LEVEL": "info", "GOOGLE_CLOUD_PROJECT": "capi-test"}
    relay = start_relay(ingest_env=verbose, forward_env=verbose)
    trace = "105445aa7843bc8bf206b12000100000"
    answer = relay.post(
        purchase(event_id="json-1"), headers={"X-Cloud-Trace-Context": f"{trace}/1"}
    )
    assert answer.status_code == 202
    graph_standin.wait_for_events(1, timeout=30)
    settle()
    for proc in (relay.ingest, relay.forward):
        lines = [line for line in proc.logs().splitlines() if line.strip()]
        entries = [json.loads(line) for line in lines]  # fails on any line that is not JSON
        assert any(e.get("logger", "").startswith("gunicorn") for e in entries), proc.target
    ingest_lines = [json.loads(line) for line in relay.ingest.logs().splitlines() if line.strip()]
    (request_line,) = [
        e for e in ingest_lines if e["message"] == "ingest request" and e["path"] == "/events"
    ]
    assert request_line["logging.googleapis.com/trace"] == f"projects/capi-test/traces/{trace}"


def test_concurrent_pushes_are_batched_and_a_rejected_batch_costs_no_good_event(
    start_relay, graph_standin
):
    """Batching across pushes (issue 15), as deployed: Meta answers slowly, so the emulator's
    concurrent pushes overlap as under load, and pushes that find others in flight share Graph
    requests; when Meta rejects a batch, each event is sent alone and the good ones are
    delivered, none dead-lettered."""
    # the emulator pushes about two at a time: a batch forms with one other push in flight
    relay = start_relay(forward_env={"CAPI_BATCH_WINDOW_MS": "400", "CAPI_BATCH_MIN_INFLIGHT": "1"})
    graph_standin.latency_s = 0.3
    handle = graph_standin.handle
    rejected: list[int] = []

    def reject_the_first_batch(method, target, headers, body, **kwargs):
        """Meta refuses a whole request for one invalid event: the first batch gets one."""
        try:
            payload = json.loads(body)
            size = len(payload["data"])
        except (ValueError, KeyError, TypeError):
            size = 0
        if size > 1 and not rejected:
            rejected.append(size)
            payload["data"][0]["action_source"] = "carrier_pigeon"
            body = json.dumps(payload).encode()
        return handle(method, target, headers, body, **kwargs)

    graph_standin.handle = reject_the_first_batch
    ids = [f"batch-{i}" for i in range(6)]
    assert relay.post({"data": [purchase(event_id=i) for i in ids]}).status_code == 202
    graph_standin.wait_for_events(6, timeout=60)
    settle()
    # each delivered once, none dead-lettered: had the rejected batch's events been
    # dead-lettered with it, they would be missing here (Meta's error is permanent)
    assert sorted(graph_standin.event_ids()) == sorted(ids)
    assert rejected and rejected[0] > 1
    assert next(r.status for r in graph_standin.requests if len(r.events) > 1) == 400
    assert relay.dead_letters(1, timeout=3) == []
    more = [f"more-{i}" for i in range(6)]
    assert relay.post({"data": [purchase(event_id=i) for i in more]}).status_code == 202
    graph_standin.wait_for_events(12, timeout=60)
    settle()
    carried = [len(r.events) for r in graph_standin.requests if r.status == 200]
    assert max(carried) > 1 and sum(carried) == 12  # fewer requests than events
