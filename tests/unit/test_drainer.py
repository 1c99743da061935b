"""The draining forwarder's batch core (`Forwarder.process_many`) and the drain loop (`Drainer`)
on the in-memory subscription. The same through the real Pub/Sub emulator, with Meta's faults:
tests/integration/test_drain.py."""

from __future__ import annotations

import json
import threading

import pytest

from capi.errors import SecretError
from capi.forward.drainer import Drainer, retry_delay
from capi.forward.forwarder import Decision, Delivery, Forwarder
from capi.forward.tokens import TokenSource
from capi.meta.answers import MetaError, Outcome, classify
from capi.meta.graph import GraphResult
from capi.queueing.memory import InMemoryPublisher, InMemorySubscription
from capi.queueing.messages import Message, event_message
from capi.web import IncomingRequest
from tests.factories import EMAIL_HASH, purchase

BAD = "bad@example.com"  # the graph below rejects any request holding this address's hash


class Graph:
    """Meta in miniature: a request is rejected (code 100, quoting the customers' browsers, as
    Meta's text may) when one event in it is at fault, else every event is counted."""

    def __init__(self, bad_hashes=(), *, fail_first: GraphResult | None = None):
        self.bad = set(bad_hashes)
        self.fail_first = fail_first
        self.requests: list[dict] = []
        self.delivered: list[str] = []
        self.lock = threading.Lock()

    def send(self, pixel_id, token, events, *, test_event_code=""):
        with self.lock:
            self.requests.append(
                {"pixel": pixel_id, "events": list(events), "code": test_event_code, "token": token}
            )
            if self.fail_first is not None:
                answer, self.fail_first = self.fail_first, None
                return answer
        if any(_emails(e) & self.bad for e in events):
            agents = ", ".join(e["user_data"]["client_user_agent"] for e in events)
            text = f"Invalid parameter for {agents}"
            body = {"error": {"message": text, "code": 100, "error_subcode": 2804003}}
            error = MetaError.from_response(400, body)
            return GraphResult(classify(error), 400, error=error)
        with self.lock:
            self.delivered += [e["event_id"] for e in events]
        return GraphResult(Outcome.DELIVERED, 200, len(events), "trace")

    def events_url(self, pixel_id):
        return f"http://graph.test/{pixel_id}/events"

    def event_ids(self):
        return list(self.delivered)


def _emails(event):
    em = event["user_data"].get("em") or []
    return {em} if isinstance(em, str) else set(em)


class FailingTokens(TokenSource):
    def get(self, pixel_id):
        raise SecretError("secret manager down")


def forwarder(graph, dlq=None, **kwargs):
    return Forwarder(
        tokens=kwargs.pop("tokens", None) or TokenSource(token="EAAgood"),
        dead_letters=dlq if dlq is not None else InMemoryPublisher(),
        graph=graph,
        **kwargs,
    )


def deliveries(events, pixel="123", **attrs):
    return [
        Delivery(event_message(e, pixel_id=pixel, **attrs), message_id=str(i))
        for i, e in enumerate(events)
    ]


def sha(text):
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()


def test_one_request_per_pixel_and_test_code_and_per_thousand_events():
    graph = Graph()
    batch = (
        deliveries([purchase(event_id=f"a-{i}") for i in range(2300)], pixel="111")
        + deliveries([purchase(event_id=f"b-{i}") for i in range(5)], pixel="222")
        + deliveries(
            [purchase(event_id=f"t-{i}") for i in range(3)], pixel="111", test_event_code="TEST1"
        )
    )
    decisions = forwarder(graph).process_many(batch)
    assert decisions == [Decision.ACK] * len(batch)
    shapes = sorted((r["pixel"], r["code"], len(r["events"])) for r in graph.requests)
    assert shapes == [
        ("111", "", 300),
        ("111", "", 1000),
        ("111", "", 1000),
        ("111", "TEST1", 3),
        ("222", "", 5),
    ]
    assert all(_emails(r["events"][0]) == {EMAIL_HASH} for r in graph.requests)


def test_a_rejected_batch_is_halved_until_only_the_events_at_fault_are_dead_lettered():
    graph = Graph({sha(BAD)})
    dlq = InMemoryPublisher()
    events = [purchase(event_id=f"e-{i}") for i in range(64)]
    for i in (5, 40):
        events[i]["user_data"]["em"] = BAD
        events[i]["user_data"]["client_user_agent"] = f"Agent-of-customer-{i}"
    decisions = forwarder(graph, dlq).process_many(deliveries(events))
    assert decisions == [Decision.ACK] * 64
    dead = sorted(json.loads(m.data)["event_id"] for m in dlq.messages)
    assert dead == ["e-40", "e-5"]
    assert sorted(graph.event_ids()) == sorted(f"e-{i}" for i in range(64) if i not in (5, 40))
    assert len(graph.requests) <= 1 + 2 * 2 * 6  # two events at fault, log2(64) levels
    # Meta's text quoted the customers' browsers: none reaches the DLQ's attributes.
    for message in dlq.messages:
        assert message.attributes["error_code"] == "100"
        assert "Agent-of-customer" not in json.dumps(message.attributes)


def test_a_miscounted_batch_is_split_and_nothing_is_retried():
    miscount = GraphResult(
        Outcome.TRANSIENT,
        200,
        3,
        error=MetaError(200, message="Meta counted 3 of 8"),
        maybe_sent=True,
        miscounted=True,
    )
    graph = Graph(fail_first=miscount)
    decisions = forwarder(graph).process_many(
        deliveries([purchase(event_id=f"m-{i}") for i in range(8)])
    )
    assert decisions == [Decision.ACK] * 8
    assert [len(r["events"]) for r in graph.requests] == [8, 4, 4]


def test_a_transient_failure_retries_every_event_of_the_request():
    graph = Graph(fail_first=GraphResult(Outcome.TRANSIENT, 503, network_error="503"))
    decisions = forwarder(graph).process_many(
        deliveries([purchase(event_id=f"t-{i}") for i in range(5)])
    )
    assert decisions == [Decision.RETRY] * 5


def test_the_same_event_twice_in_one_pull_is_sent_once():
    graph = Graph()
    fw = forwarder(graph)
    twice = deliveries(
        [purchase(event_id="dup-1"), purchase(event_id="dup-1"), purchase(event_id="x")]
    )
    assert fw.process_many(twice) == [Decision.ACK, Decision.RETRY, Decision.ACK]
    # Given back, it comes again: this instance knows it was delivered and acks without sending.
    assert fw.process_many(twice[1:2]) == [Decision.ACK]
    assert sorted(graph.event_ids()) == ["dup-1", "x"]


def test_poison_and_invalid_messages_are_dead_lettered_and_the_rest_sent_together():
    graph = Graph()
    dlq = InMemoryPublisher()
    stale = purchase(event_id="stale", event_time=1_000_000_000)
    batch = [
        Delivery(Message(b"not json", {"pixel_id": "123"}), message_id="p"),
        *deliveries([stale, purchase(event_id="ok-1"), purchase(event_id="ok-2")]),
    ]
    decisions = forwarder(graph, dlq).process_many(batch)
    assert decisions == [Decision.ACK] * 4
    assert sorted(m.attributes["dlq_reason"] for m in dlq.messages) == ["invalid", "poison"]
    assert [len(r["events"]) for r in graph.requests] == [2]


def test_an_unreadable_token_retries_the_batch_and_sends_nothing():
    graph = Graph()
    fw = forwarder(graph, tokens=FailingTokens(token="x"))
    assert fw.process_many(deliveries([purchase(event_id="k-1")])) == [Decision.RETRY]
    assert graph.requests == []


def test_drainer_acks_delivered_gives_back_retried_and_stops_when_meta_is_down():
    now = [0.0]
    queue = InMemorySubscription(ack_deadline_s=60, clock=lambda: now[0])
    queue.publish_all(
        [event_message(purchase(event_id=f"q-{i}"), pixel_id="123") for i in range(30)]
    )
    graph = Graph(fail_first=GraphResult(Outcome.TRANSIENT, 503, network_error="503"))
    drainer = Drainer(forwarder(graph), queue, max_batch=10)
    first = drainer.drain()
    # The first batch failed whole: the drain stops, the 20 others stay in the queue untouched.
    assert (first.pulled, first.acked, first.retried, first.stopped) == (10, 0, 10, "transient")
    assert queue.pulls == 1
    second = drainer.drain()  # the 10 given back wait their backoff (10 s); the 20 go now
    assert (second.acked, second.stopped) == (20, "empty")
    now[0] += retry_delay(1)
    third = drainer.drain()
    assert (third.acked, third.stopped) == (10, "empty")
    assert len(queue) == 0
    assert sorted(graph.event_ids()) == sorted(f"q-{i}" for i in range(30))


def test_drainer_stops_at_its_budget_and_leaves_the_rest_queued():
    now = [0.0]

    class SlowQueue(InMemorySubscription):
        def pull(self, max_messages):
            now[0] += 1.0  # every pull takes a second
            return super().pull(max_messages)

    queue = SlowQueue()
    queue.publish_all(
        [event_message(purchase(event_id=f"b-{i}"), pixel_id="123") for i in range(50)]
    )
    drainer = Drainer(forwarder(Graph()), queue, max_batch=10, budget_s=2.5, clock=lambda: now[0])
    report = drainer.drain()
    assert report.stopped == "budget" and report.acked == 30
    assert len(queue) == 20


def test_retry_backoff_doubles_up_to_ten_minutes():
    assert [retry_delay(a) for a in (1, 2, 3, 6, 7, 50)] == [10, 20, 40, 320, 600, 600]


def test_a_pull_failure_is_a_503_for_the_scheduler_to_report():
    queue = InMemorySubscription()
    queue.fail_pulls = True
    reply = Drainer(forwarder(Graph()), queue).handle(IncomingRequest("POST", "/drain", {}, b""))
    assert reply.status == 503 and reply.body["stopped"] == "queue_error"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("POST", "/drain", 200), ("GET", "/drain", 405), ("GET", "/healthz", 200), ("POST", "/", 400)],
)
def test_the_drain_route_and_the_push_route_share_the_function(method, path, status):
    drainer = Drainer(forwarder(Graph()), InMemorySubscription())
    assert drainer.handle(IncomingRequest(method, path, {}, b"")).status == status


def test_a_rejected_token_is_read_again_once_and_the_batch_resent_with_it():
    class Rotated(TokenSource):
        def __init__(self):
            super().__init__(token="unused")
            self.current = "EAAold"

        def get(self, pixel_id):
            return self.current

        def refresh(self, pixel_id):
            self.current = "EAAnew"  # the secret was rotated meanwhile
            return True

    body = {"error": {"message": "Invalid OAuth access token.", "code": 190}}
    error = MetaError.from_response(401, body)
    graph = Graph(fail_first=GraphResult(classify(error), 401, error=error))
    fw = forwarder(graph, tokens=Rotated())
    decisions = fw.process_many(deliveries([purchase(event_id=f"r-{i}") for i in range(4)]))
    assert decisions == [Decision.ACK] * 4
    assert [(r["token"], len(r["events"])) for r in graph.requests] == [
        ("EAAold", 4),
        ("EAAnew", 4),
    ]


def test_a_lingering_drain_sends_what_arrives_while_it_polls_and_stops_at_its_linger():
    now = [0.0]
    queue = InMemorySubscription(clock=lambda: now[0])
    graph = Graph()
    sent_at: dict[str, float] = {}
    original = graph.send

    def send(pixel_id, token, events, *, test_event_code=""):
        for event in events:
            sent_at[event["event_id"]] = now[0]
        return original(pixel_id, token, events, test_event_code=test_event_code)

    graph.send = send

    def sleep(seconds):
        now[0] += seconds
        if now[0] in (3.0, 7.0):  # events queued while the drain lingers
            queue.publish_all(
                [event_message(purchase(event_id=f"late-{now[0]:g}"), pixel_id="123")]
            )

    drainer = Drainer(
        forwarder(graph), queue, budget_s=50, linger_s=10, clock=lambda: now[0], sleep=sleep
    )
    report = drainer.drain()
    assert (report.acked, report.stopped) == (2, "empty")
    assert sent_at == {"late-3": 3.0, "late-7": 7.0}  # sent at the poll that found them
    assert 9.0 <= now[0] <= 10.0  # it stopped when its linger ended, not at its budget
    quick = Drainer(forwarder(Graph()), queue, clock=lambda: now[0], sleep=sleep).drain()
    assert quick.stopped == "empty" and now[0] <= 10.0  # without linger: no sleep at all


def test_the_linger_setting_is_seconds_and_reaches_the_drainer():
    from capi.config import Settings
    from capi.wiring import build_forward

    settings = Settings.from_env(
        {
            "CAPI_ACCESS_TOKEN": "EAAx",
            "CAPI_PIXEL_ID": "1",
            "CAPI_DRAIN_SUBSCRIPTION": "projects/p/subscriptions/s",
            "CAPI_DRAIN_LINGER": "40",
        }
    )
    assert settings.drain_linger_s == 40.0
    drainer = build_forward(settings)
    assert isinstance(drainer, Drainer) and drainer.linger_s == 40.0
    assert Settings.from_env({}).drain_linger_s == 0.0
