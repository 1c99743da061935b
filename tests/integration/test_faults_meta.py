"""Meta misbehaving, end to end: real ingest and forward processes (functions-framework), the real
Pub/Sub emulator (push subscription with backoff and a dead-letter policy), the Graph stand-in
with injected faults. docs/RELIABILITY.md maps each test to the guarantee it proves.

What every test checks in the end: each event answered 202 is either at the stand-in, with its
own `event_id`, exactly once, or in the DLQ with the reason, exactly once; never both, never
neither. The one documented exception is a request Meta processed whose answer never came back
(timeout, connection lost after processing): then Meta may get the event twice, with the same
`event_id` (test_timeouts_deliver_at_least_once_with_the_same_event_id).

Fault injection is a queue at the stand-in: each Graph request takes the next fault, whichever
event it carries. So tests that inject several faults assert on multisets (which codes ended in
the DLQ, how many requests were made), not on which event met which fault.
"""

from __future__ import annotations

import base64
import itertools
import json
import random
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from capi.tools.emulator import DLQ_SUBSCRIPTION
from tests.conftest import pull_until_quiet
from tests.factories import lead, purchase
from tests.integration.conftest import PIXEL

pytestmark = pytest.mark.integration

# Transient faults per test stay below the subscription's max delivery attempts, so an event
# that met every one of them still has an attempt left: nothing here may be dead-lettered early.
MAX_ATTEMPTS = 10


@pytest.fixture
def start_relay(start_relay):
    """The relay with one event per Graph request (CAPI_BATCH_WINDOW_MS=0): these tests inject a
    fault per request and count requests per event. Batching under faults is tested by
    test_fault_storm_with_batching below, test_relay_e2e.py and tests/unit/test_batcher.py."""

    def start(**kwargs):
        env = {"CAPI_BATCH_WINDOW_MS": "0", **(kwargs.pop("forward_env", None) or {})}
        return start_relay(forward_env=env, **kwargs)

    return start


def settle(seconds: float = 2.0) -> None:
    """Leave time for anything extra (a duplicate, a redelivery) to arrive: the emulator's
    redelivery backoff is 1 to 3 s in these subscriptions."""
    time.sleep(seconds)


def post_all(relay, bodies: list, clients: int = 4) -> list[requests.Response]:
    """POST every body from `clients` concurrent clients; every answer must be 202."""
    with ThreadPoolExecutor(clients) as pool:
        answers = list(pool.map(relay.post, bodies))
    assert [a.status_code for a in answers] == [202] * len(answers), [a.text for a in answers]
    return answers


def accepted_ids(answers: list[requests.Response]) -> list[str]:
    return [
        r["event_id"] for a in answers for r in a.json()["results"] if r["status"] == "accepted"
    ]


def dead_letters(relay, n: int = 0, *, quiet: float = 1.0, timeout: float = 60.0) -> list:
    """The DLQ's messages: at least n (or what came within the timeout), then whatever else
    arrives until it has been quiet for `quiet` seconds."""
    subscription = f"projects/{relay.project}/subscriptions/{DLQ_SUBSCRIPTION}"
    return pull_until_quiet(subscription, n, timeout=timeout, quiet=quiet)


def final_outcome(relay, graph, accepted: list[str], *, dead: int, timeout: float = 60.0):
    """Wait until the accepted events are all delivered or dead-lettered, then for a quiet
    period in which nothing more may arrive (a duplicate, a second dead letter); return
    (delivered event ids, dead-letter messages)."""
    letters = dead_letters(relay, dead, quiet=0, timeout=timeout) if dead else []
    graph.wait_for_events(len(accepted) - dead, timeout=timeout)
    letters += dead_letters(relay, quiet=2.0)
    return graph.event_ids(), letters


def dead_ids(letters) -> list[str]:
    return [m.attributes["event_id"] for m in letters]


def assert_each_once(delivered: list[str], dead: list[str], accepted: list[str]) -> None:
    """Every accepted event delivered exactly once or dead-lettered exactly once, not both."""
    assert len(delivered) == len(set(delivered)), f"duplicates at Meta: {Counter(delivered)}"
    assert len(dead) == len(set(dead)), f"dead-lettered twice: {Counter(dead)}"
    assert not set(delivered) & set(dead), "delivered and dead-lettered"
    assert sorted(delivered + dead) == sorted(accepted), "lost or unknown events"


def gaps(graph) -> list[float]:
    arrivals = [r.arrival for r in graph.requests]
    return [b - a for a, b in itertools.pairwise(arrivals)]


def push_body(event: dict, *, attempt: int, message_id: str) -> dict:
    """A push request as Pub/Sub in the cloud sends it: with `deliveryAttempt` (the emulator
    leaves it out) when the subscription has a dead-letter policy."""
    return {
        "message": {
            "data": base64.b64encode(json.dumps(event).encode()).decode(),
            "attributes": {
                "pixel_id": PIXEL,
                "event_name": event["event_name"],
                "event_id": event["event_id"],
            },
            "messageId": message_id,
            "publishTime": "2026-01-01T00:00:00Z",
        },
        "subscription": "projects/p/subscriptions/capi-events-forward",
        "deliveryAttempt": attempt,
    }


# ------------------------------------------------------------------------------- transient


def test_5xx_bursts_are_retried_with_backoff_and_delivered_once(start_relay, graph_standin):
    relay = start_relay(max_delivery_attempts=MAX_ATTEMPTS)
    # One event meets a burst: a 500 with Graph's transient body, a 502 from a proxy (text), a 503.
    graph_standin.fail_next(1, status=500)
    graph_standin.fail_next(1, status=502, body="<html>502 Bad Gateway</html>")
    graph_standin.fail_next(1, status=503, body={"error": {"message": "unavailable", "code": 2}})
    answers = post_all(relay, [purchase(event_id="burst-1")])
    delivered, dead = final_outcome(relay, graph_standin, accepted_ids(answers), dead=0)
    assert delivered == ["burst-1"] and dead == []
    assert [r.status for r in graph_standin.requests] == [500, 502, 503, 200]
    # Pub/Sub's backoff (min 1 s here) spaces the attempts: no hot loop against a failing Meta.
    assert all(gap >= 0.9 for gap in gaps(graph_standin)), gaps(graph_standin)

    # A burst that hits many events at once: every one retried, each delivered once.
    graph_standin.reset()
    graph_standin.fail_next(6, status=503)
    answers = post_all(relay, [{"data": [lead(event_id=f"many-{i}") for i in range(6)]}])
    accepted = accepted_ids(answers)
    delivered, dead = final_outcome(relay, graph_standin, accepted, dead=0)
    assert_each_once(delivered, dead_ids(dead), accepted)
    assert dead == []
    assert Counter(r.status for r in graph_standin.requests) == {503: 6, 200: 6}


def test_throttling_and_is_transient_errors_are_retried_not_dead_lettered(
    start_relay, graph_standin
):
    relay = start_relay(max_delivery_attempts=MAX_ATTEMPTS)
    faults = [
        (4, None, 400, False),  # application request limit
        (17, None, 400, False),  # user request limit
        (613, None, 400, False),  # rate limit
        (4, None, 429, False),  # throttling with HTTP 429
        (80003, None, 400, False),  # ads insights throttling
        (100, None, 400, True),  # a code that alone would be permanent, but is_transient: true
        (1, None, 500, False),  # unknown error
    ]
    for code, subcode, status, transient in faults:
        graph_standin.error_next(code, subcode, status=status, is_transient=transient)
    graph_standin.fail_next(1, status=429, body="Too Many Requests")  # a bare 429, no Graph body
    graph_standin.drop_connection_next(1)  # connection lost before Meta processed anything
    n = len(faults) + 2
    answers = post_all(relay, [{"data": [purchase(event_id=f"thr-{i}") for i in range(n)]}])
    accepted = accepted_ids(answers)
    delivered, dead = final_outcome(relay, graph_standin, accepted, dead=0)
    assert_each_once(delivered, dead_ids(dead), accepted)
    assert dead == [], [dict(m.attributes) for m in dead]
    assert graph_standin.pending_faults == 0
    faulted = [r for r in graph_standin.requests if r.fault]
    assert len(faulted) == n and len(graph_standin.accepted_requests()) == n
    assert "transient failure; will be retried" in relay.forward.logs()


def test_timeouts_deliver_at_least_once_with_the_same_event_id(start_relay, graph_standin):
    """The at-least-once edge. Meta processes these requests, but the forwarder never learns it:
    the answer comes after its read timeout (2 s here), or the connection is lost after Meta
    processed the request. It must retry (it cannot tell "not received" from "answer lost"), so
    Meta may get the event twice. What the relay owes: the same `event_id` every time (Meta
    can deduplicate on it), delivery at least once, and no dead-lettering."""
    relay = start_relay(max_delivery_attempts=MAX_ATTEMPTS)
    graph_standin.delay_next(1, seconds=2.6)  # answered after the client's timeout
    graph_standin.drop_connection_next(1, after_processing=True)
    answers = post_all(relay, [{"data": [purchase(event_id="slow-1"), lead(event_id="slow-2")]}])
    accepted = accepted_ids(answers)
    graph_standin.wait_for_events(4, timeout=60)  # 2 processed but unanswered + 2 retries
    assert dead_letters(relay, quiet=2.0) == []  # and nothing more arrives meanwhile
    delivered = graph_standin.event_ids()
    assert set(delivered) == set(accepted)  # at least once each
    assert len(delivered) == 4  # one extra copy per lost answer, no more
    unanswered = [r for r in graph_standin.requests if r.late or r.fault == "drop"]
    assert len(unanswered) == 2 and all(r.accepted for r in unanswered)
    # Every copy Meta got carries the caller's event_id: none was minted on the retry.
    assert all(e["event_id"] in accepted for r in graph_standin.requests for e in r.events)
    late = next(r for r in graph_standin.requests if r.late)
    retry = next(
        r
        for r in graph_standin.requests
        if r.arrival > late.arrival and not r.fault and r.events == late.events
    )
    assert retry.arrival - late.arrival >= 2.0  # retried only after the read timeout
    logs = relay.forward.logs()
    assert "ReadTimeout" in logs and "ConnectionError" in logs


def test_transient_failure_is_dead_lettered_only_at_the_last_attempt(start_relay, graph_standin):
    """As Pub/Sub in the cloud pushes (with `deliveryAttempt`; the emulator omits it): with
    CAPI_MAX_DELIVERY_ATTEMPTS=5, attempts 1-4 of a failing event are retried, attempt 5 is
    dead-lettered by the forwarder with the reason ("exhausted") instead of by Pub/Sub without
    one. And an event that recovers at attempt 4 is delivered, not dead-lettered."""
    relay = start_relay(forward_env={"CAPI_MAX_DELIVERY_ATTEMPTS": "5"})
    url = relay.forward.url + "/"
    doomed = purchase(event_id="exhaust-1")
    graph_standin.fail_next(5, status=503)
    for attempt in range(1, 5):
        answer = requests.post(url, json=push_body(doomed, attempt=attempt, message_id="m1"))
        assert answer.status_code == 503, (attempt, answer.text)  # nack: Pub/Sub retries
    assert dead_letters(relay) == []  # not dead-lettered early
    answer = requests.post(url, json=push_body(doomed, attempt=5, message_id="m1"))
    assert answer.status_code == 204  # acked: it is in the DLQ now
    (dead,) = dead_letters(relay, 1)
    attrs = dict(dead.attributes)
    assert attrs["event_id"] == "exhaust-1" and attrs["dlq_reason"] == "exhausted"
    assert attrs["attempts"] == "5" and attrs["original_message_id"] == "m1"
    assert "503" in attrs["error_message"]
    assert json.loads(dead.data) == doomed

    recovers = lead(event_id="recover-1")
    graph_standin.fail_next(3, status=500)
    for attempt in range(1, 4):
        answer = requests.post(url, json=push_body(recovers, attempt=attempt, message_id="m2"))
        assert answer.status_code == 503
    answer = requests.post(url, json=push_body(recovers, attempt=4, message_id="m2"))
    assert answer.status_code == 204
    assert graph_standin.event_ids() == ["recover-1"]
    assert dead_letters(relay) == []


# ------------------------------------------------------------------------------- permanent


PERMANENT = [
    # (code, subcode, HTTP status, expected dlq_reason)
    (100, 2804003, 400, "rejected"),  # event too old
    (100, 2804016, 400, "rejected"),  # not hashed
    (100, 2804019, 400, "rejected"),  # parameter missing or invalid
    (100, 2804050, 400, "rejected"),  # too little customer information
    (100, 2804009, 400, "rejected"),  # value missing
    (100, 2804010, 400, "rejected"),  # currency missing
    (100, 2804001, 400, "rejected"),  # click id malformed
    (100, 2804030, 400, "rejected"),  # LDU selection required
    (100, 33, 400, "config"),  # no such pixel
    (10, None, 403, "config"),  # permission
    (200, None, 403, "config"),  # permission
    (190, 463, 401, "config"),  # token expired; a direct token cannot be re-read
]


def test_permanent_errors_are_dead_lettered_once_with_their_reason(start_relay, graph_standin):
    relay = start_relay(max_delivery_attempts=MAX_ATTEMPTS)
    for code, subcode, status, _ in PERMANENT:
        graph_standin.error_next(code, subcode, status=status)
    n = len(PERMANENT) + 1  # one event meets no fault
    events = [purchase(event_id=f"perm-{i}") for i in range(n)]
    answers = post_all(relay, [{"data": events[:6]}, {"data": events[6:]}])
    accepted = accepted_ids(answers)
    delivered, dead = final_outcome(relay, graph_standin, accepted, dead=len(PERMANENT))
    assert_each_once(delivered, dead_ids(dead), accepted)
    got = sorted(
        (
            int(m.attributes["error_code"]),
            int(m.attributes.get("error_subcode", 0)) or None,
            int(m.attributes["http_status"]),
            m.attributes["dlq_reason"],
        )
        for m in dead
    )
    assert got == sorted(PERMANENT, key=lambda p: (p[0], p[1] or 0)), got
    by_id = {e["event_id"]: e for e in events}
    for message in dead:
        attrs = dict(message.attributes)
        assert json.loads(message.data) == by_id[attrs["event_id"]]  # the original, for replay
        assert attrs["pixel_id"] == PIXEL and attrs["event_name"] == "Purchase"
        assert attrs["attempts"] and attrs["failed_at"] and attrs["fbtrace_id"]
        assert attrs["error_message"] and attrs["original_message_id"]
    # Not retried: one Graph request per event, the faulted ones and the clean one.
    assert len(graph_standin.requests) == n


def test_code_190_clears_after_the_token_is_rotated_in_secret_manager(
    start_relay, graph_standin, secret_standin
):
    secret = "projects/capi-test/secrets/meta-capi-token"
    secret_standin.set_secret(secret, "EAAoldtoken1234567890")
    graph_standin.set_tokens(["EAAoldtoken1234567890"])
    relay = start_relay(
        max_delivery_attempts=MAX_ATTEMPTS,
        forward_env={
            "CAPI_ACCESS_TOKEN": "",
            "CAPI_ACCESS_TOKEN_SECRET": secret + "/versions/latest",
            "CAPI_SECRET_MANAGER_ENDPOINT": secret_standin.url,
        },
    )
    post_all(relay, [lead(event_id="t-1")])
    graph_standin.wait_for_events(1, timeout=30)

    # Meta revokes the token before the operator rotated the secret: re-reading the secret gives
    # the same token, so the event is dead-lettered as a configuration error (code 190), not
    # retried forever; `capi replay` brings it back after the fix.
    graph_standin.set_tokens(["EAAnewtoken0987654321"])
    post_all(relay, [lead(event_id="t-2")])
    (dead,) = dead_letters(relay, 1, quiet=0)
    attrs = dict(dead.attributes)
    assert (attrs["event_id"], attrs["dlq_reason"], attrs["error_code"]) == ("t-2", "config", "190")

    # The operator rotates the secret. The forwarder still holds the old token in its cache
    # (TTL 300 s); Meta answers 190; the forwarder re-reads the secret once and resends.
    reads_before = secret_standin.access_count(secret)
    secret_standin.set_secret(secret, "EAAnewtoken0987654321")
    answers = post_all(relay, [{"data": [lead(event_id=f"t-{i}") for i in range(3, 7)]}])
    accepted = accepted_ids(answers)
    delivered, more_dead = final_outcome(relay, graph_standin, ["t-1", *accepted], dead=0)
    assert delivered.count("t-1") == 1
    assert_each_once(delivered, [], ["t-1", *accepted])
    assert more_dead == []
    assert secret_standin.access_count(secret) > reads_before
    tokens = {r.events[0]["event_id"]: r.token for r in graph_standin.accepted_requests()}
    assert tokens == {"t-1": "EAAoldtoken1234567890"} | dict.fromkeys(
        accepted, "EAAnewtoken0987654321"
    )


# ------------------------------------------------------------------------------- everything


def test_fault_storm_each_accepted_event_delivered_once_or_dead_lettered_once(
    start_relay, graph_standin
):
    """Concurrent clients, a shuffled mix of transient and permanent faults. In the end the
    stand-in holds each accepted event once, the DLQ exactly the permanent failures."""
    relay = start_relay(max_delivery_attempts=MAX_ATTEMPTS)
    transient = [
        ("fail", {"status": 500}),
        ("fail", {"status": 502, "body": "Bad Gateway"}),
        ("fail", {"status": 503}),
        ("error", {"code": 4}),
        ("error", {"code": 17}),
        ("error", {"code": 613}),
        ("error", {"code": 4, "status": 429}),
        ("drop", {}),
    ]
    permanent = [
        ("error", {"code": 100, "subcode": 2804003}),
        ("error", {"code": 100, "subcode": 2804019}),
        ("error", {"code": 100, "subcode": 2804050}),
        ("error", {"code": 10, "status": 403}),
    ]
    faults = transient + permanent
    random.Random(6).shuffle(faults)
    for kind, args in faults:
        if kind == "fail":
            graph_standin.fail_next(1, **args)
        elif kind == "error":
            graph_standin.error_next(**args)
        else:
            graph_standin.drop_connection_next(1)
    bodies = [
        {"data": [purchase(event_id=f"storm-{c}-{i}") for i in range(3)]}
        if c % 2
        else {"data": [lead(event_id=f"storm-{c}-{i}") for i in range(3)]}
        for c in range(8)
    ]
    answers = post_all(relay, bodies)
    accepted = accepted_ids(answers)
    assert len(accepted) == 24
    delivered, dead = final_outcome(relay, graph_standin, accepted, dead=len(permanent))
    assert_each_once(delivered, dead_ids(dead), accepted)
    assert graph_standin.pending_faults == 0
    assert sorted(
        (m.attributes["error_code"], m.attributes.get("error_subcode", "")) for m in dead
    ) == sorted((str(a["code"]), str(a.get("subcode", ""))) for _, a in permanent)
    assert len(graph_standin.requests) == len(accepted) + len(transient)


def test_fault_storm_with_batching_loses_and_duplicates_nothing(start_relay, graph_standin):
    """The same storm with batching on (a 300 ms window): a fault now hits a whole batch, and a
    permanent one makes each of its events go alone, so which events end in the DLQ depends on
    what the lone sends meet. What must hold: each accepted event at Meta once or in the DLQ
    once, every dead letter carrying one of the injected permanent codes, an event's rejection
    (code 100) no more often than it was injected, and a request's refusal (code 10, permission)
    for the events of one request only: they share its fbtrace_id."""
    relay = start_relay(
        max_delivery_attempts=MAX_ATTEMPTS,
        forward_env={"CAPI_BATCH_WINDOW_MS": "300", "CAPI_BATCH_MIN_INFLIGHT": "1"},
    )
    permanent = [(100, 2804003), (100, 2804019), (10, None)]
    faults = [("fail", 503), ("error", 4), ("drop", None), ("fail", 500)] + [
        ("permanent", p) for p in permanent
    ]
    random.Random(7).shuffle(faults)
    for kind, arg in faults:
        if kind == "fail":
            graph_standin.fail_next(1, status=arg)
        elif kind == "error":
            graph_standin.error_next(arg)
        elif kind == "drop":
            graph_standin.drop_connection_next(1)
        else:
            code, subcode = arg
            graph_standin.error_next(code, subcode, status=403 if code == 10 else 400)
    bodies = [{"data": [purchase(event_id=f"bstorm-{c}-{i}") for i in range(4)]} for c in range(6)]
    answers = post_all(relay, bodies)
    accepted = accepted_ids(answers)
    assert len(accepted) == 24
    letters: list = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        letters += dead_letters(relay, quiet=2.0)
        if len(set(graph_standin.event_ids())) + len(letters) >= len(accepted):
            break
    letters += dead_letters(relay, quiet=3.0)  # anything more (a duplicate) would come now
    assert_each_once(graph_standin.event_ids(), dead_ids(letters), accepted)
    codes = Counter(
        (m.attributes["error_code"], m.attributes.get("error_subcode", "")) for m in letters
    )
    injected = Counter((str(c), str(s or "")) for c, s in permanent)
    assert set(codes) <= set(injected), (codes, injected)
    refused = ("10", "")  # concerns the whole request: every event of its batch is dead-lettered
    assert all(codes[k] <= injected[k] for k in codes if k != refused), (codes, injected)
    traces = {
        m.attributes.get("fbtrace_id")
        for m in letters
        if (m.attributes["error_code"], m.attributes.get("error_subcode", "")) == refused
    }
    assert len(traces) <= injected[refused], traces
    assert graph_standin.pending_faults == 0


def test_client_retry_of_a_delivered_event_is_not_sent_twice(start_relay, graph_standin):
    """A caller that retries (it lost our 202) sends the same body: ingest derives the same
    event_id, and the forwarder that delivered it acks the copy without sending it again."""
    relay = start_relay()
    event = purchase(event_id=None)  # the relay derives the id from the order
    first = relay.post(event).json()["results"][0]["event_id"]
    graph_standin.wait_for_events(1, timeout=30)
    second = relay.post(event).json()["results"][0]["event_id"]
    assert first == second
    deadline = time.monotonic() + 30
    while "send suppressed" not in relay.forward.logs():
        assert time.monotonic() < deadline, "the copy never reached the forwarder"
        time.sleep(0.2)
    settle()
    assert graph_standin.event_ids() == [first]


def test_dead_letter_attributes_fit_pubsub_limits_with_localized_messages(
    start_relay, graph_standin
):
    """Meta's messages are localized. A long Japanese error_user_msg is 3 bytes a character:
    Pub/Sub refuses an attribute value over 1,024 bytes (the emulator does not check), and a
    refused DLQ publish would leave the event retried until Pub/Sub dead-letters it without
    its reason. Every DLQ attribute must fit, cut at a character boundary."""
    relay = start_relay()
    user_msg = "イベントの顧客情報が不足しているため、照合できません。" * 20  # 540 characters
    graph_standin.error_next(100, 2804050, title="顧客情報が不足しています" * 10, user_msg=user_msg)
    assert relay.post(purchase(event_id="ja-1")).status_code == 202
    (dead,) = dead_letters(relay, 1)
    attrs = dict(dead.attributes)
    assert attrs["dlq_reason"] == "rejected" and attrs["error_subcode"] == "2804050"
    assert all(len(v.encode("utf-8")) <= 1024 for v in attrs.values()), {
        k: len(v.encode("utf-8")) for k, v in attrs.items()
    }
    assert (
        attrs["error_message"].startswith("イベントの顧客情報")
        and "\ufffd" not in attrs["error_message"]
    )


def test_a_2xx_that_is_not_a_graph_answer_is_not_taken_for_delivery(start_relay, graph_standin):
    """A proxy, a captive portal or a wrong CAPI_GRAPH_URL that answers 200 with a page of its
    own: Meta never saw the event. Only Graph's success body (with `events_received`) means
    delivered; anything else is retried, so the event reaches Meta or, in the end, the DLQ with
    the reason; it is never acked into the void."""
    relay = start_relay(max_delivery_attempts=MAX_ATTEMPTS)
    graph_standin.fail_next(1, status=200, body="<html>Welcome to the guest network</html>")
    graph_standin.fail_next(1, status=204, body="")
    graph_standin.fail_next(1, status=200, body={"status": "ok"})
    events = [purchase(event_id="proxy-1"), lead(event_id="proxy-2"), lead(event_id="proxy-3")]
    answers = post_all(relay, [{"data": events}])
    accepted = accepted_ids(answers)
    delivered, dead = final_outcome(relay, graph_standin, accepted, dead=0, timeout=30)
    assert_each_once(delivered, dead_ids(dead), accepted)
    assert dead == []
    assert len(graph_standin.requests) == 6
    assert "without events_received" in relay.forward.logs()
