"""The forwarder's batcher (issue 15): concurrent pushes share one Graph request, and each push
gets its own event's outcome."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from capi.forward.batcher import Batcher
from capi.forward.forwarder import Decision, Delivery, Forwarder
from capi.forward.tokens import TokenSource
from capi.meta.answers import MetaError, Outcome, classify
from capi.meta.graph import GraphResult
from capi.queueing.memory import InMemoryPublisher
from capi.queueing.messages import event_message
from tests.factories import purchase


def rejected() -> GraphResult:
    body = {"error": {"message": "Invalid parameter", "code": 100, "error_subcode": 2804003}}
    error = MetaError.from_response(400, body)
    return GraphResult(classify(error), 400, error=error)


class Graph:
    """Records requests; an event whose id starts with "bad" makes its request rejected, as Meta
    rejects a whole request for one invalid event."""

    def __init__(self, answer=None, delay_s: float = 0.0):
        self.requests: list[tuple[str, list[str]]] = []
        self.answer = answer
        self.delay_s = delay_s
        self.lock = threading.Lock()
        self.holding = threading.Event()  # a "hold" push is at Meta
        self.release = threading.Event()

    def send(self, pixel_id, token, events, *, test_event_code=""):
        if [e["event_id"] for e in events] == ["hold"]:  # traffic: one push kept at Meta
            self.holding.set()
            self.release.wait(10)
            return GraphResult(Outcome.DELIVERED, 200, 1, "trace")
        with self.lock:
            self.requests.append((pixel_id, [e["event_id"] for e in events]))
        if self.delay_s:
            threading.Event().wait(self.delay_s)
        if self.answer is not None:
            return self.answer
        if any(e["event_id"].startswith("bad") for e in events):
            return rejected()
        return GraphResult(Outcome.DELIVERED, 200, len(events), "trace")


def concurrently(batcher, events, pixel="1", traffic=True):
    """Each event's result, the events pushed at once. With `traffic`, another push of the same
    pixel is at Meta meanwhile, as under load: the batcher then waits for others to join."""
    with ThreadPoolExecutor(len(events) + 1) as pool:
        hold = None
        if traffic:
            hold = pool.submit(batcher.send, pixel, "T", {"event_id": "hold"})
            assert batcher.graph.holding.wait(10)
        futures = [pool.submit(batcher.send, pixel, "T", {"event_id": e}) for e in events]
        results = [f.result(timeout=10) for f in futures]
        if hold is not None:
            batcher.graph.release.set()
            hold.result(timeout=10)
        return results


def test_concurrent_pushes_share_one_request():
    graph = Graph()
    results = concurrently(
        Batcher(graph, window_s=0.2, min_inflight=1), [f"e{i}" for i in range(20)]
    )
    assert len(graph.requests) == 1 and sorted(graph.requests[0][1]) == sorted(
        f"e{i}" for i in range(20)
    )
    assert all(r.outcome is Outcome.DELIVERED and not alone for r, alone, _ in results)


def test_a_rejected_batch_isolates_the_bad_event_and_delivers_the_others():
    graph = Graph()
    events = ["ok1", "bad1", "ok2", "ok3"]
    results = dict(
        zip(events, concurrently(Batcher(graph, window_s=0.2, min_inflight=1), events), strict=True)
    )
    assert results["bad1"][0].outcome is Outcome.REJECTED
    assert all(results[e][0].outcome is Outcome.DELIVERED for e in ("ok1", "ok2", "ok3"))
    assert all(alone for _, alone, _ in results.values())
    batch, *singles = graph.requests
    assert len(batch[1]) == 4 and sorted(ids[0] for _, ids in singles) == sorted(events)


def test_a_transient_failure_is_every_pushs():
    graph = Graph(answer=GraphResult(Outcome.TRANSIENT, 503))
    results = concurrently(Batcher(graph, window_s=0.2, min_inflight=1), ["a", "b", "c"])
    assert len(graph.requests) == 1
    assert all(r.outcome is Outcome.TRANSIENT and not alone for r, alone, _ in results)


def test_pixels_and_full_batches_are_separate_requests():
    graph = Graph()
    batcher = Batcher(graph, window_s=0.3, max_events=5, min_inflight=1)
    with ThreadPoolExecutor(16) as pool:
        holds = [pool.submit(batcher.send, p, "T", {"event_id": "hold"}) for p in ("1", "2")]
        assert graph.holding.wait(10)
        time.sleep(0.05)  # both holds at Meta
        futures = [pool.submit(batcher.send, "1", "T", {"event_id": f"a{i}"}) for i in range(10)]
        futures += [pool.submit(batcher.send, "2", "T", {"event_id": f"b{i}"}) for i in range(4)]
        assert all(f.result(timeout=10)[0].outcome is Outcome.DELIVERED for f in futures)
        graph.release.set()
        assert all(h.result(timeout=10)[0].outcome is Outcome.DELIVERED for h in holds)
    sizes = sorted((pixel, len(ids)) for pixel, ids in graph.requests)
    assert sizes == [("1", 5), ("1", 5), ("2", 4)]


def test_window_zero_sends_each_event_alone_at_once():
    graph = Graph()
    results = concurrently(Batcher(graph, window_s=0, min_inflight=1), ["a", "b"], traffic=False)
    assert len(graph.requests) == 2 and all(len(ids) == 1 for _, ids in graph.requests)
    assert all(r.outcome is Outcome.DELIVERED for r, _, _ in results)


def test_a_graph_client_bug_never_leaves_a_push_waiting():
    class Broken:
        def send(self, *args, **kwargs):
            raise RuntimeError("boom")

    ((result, _, _),) = concurrently(
        Batcher(Broken(), window_s=0.01, min_inflight=1), ["a"], traffic=False
    )
    assert result.outcome is Outcome.TRANSIENT


def test_the_forwarder_acks_good_events_and_dead_letters_only_the_bad_one():
    graph = Graph(delay_s=0.01)
    dlq = InMemoryPublisher()
    forwarder = Forwarder(
        tokens=TokenSource(token="EAAx"),
        dead_letters=dlq,
        graph=graph,
        batcher=Batcher(graph, window_s=0.2, min_inflight=1),
    )
    ids = ["good-1", "bad-1", "good-2", "good-3", "good-4"]
    deliveries = [
        Delivery(event_message(purchase(event_id=i), pixel_id="9"), message_id=i) for i in ids
    ]
    with ThreadPoolExecutor(len(ids) + 1) as pool:
        hold = pool.submit(forwarder.batcher.send, "9", "EAAx", {"event_id": "hold"})
        assert graph.holding.wait(10)  # traffic: another push of the pixel is at Meta
        decisions = list(pool.map(forwarder.process, deliveries))
        graph.release.set()
        hold.result(timeout=10)
    assert decisions == [Decision.ACK] * 5  # the bad one is acked after dead-lettering
    assert [m.attributes["event_id"] for m in dlq.messages] == ["bad-1"]
    assert len(graph.requests[0][1]) == 5  # one batch first
    delivered = {ids[0] for _, ids in graph.requests[1:]}
    assert delivered == set(ids)  # then each alone: the good ones were delivered


def test_a_push_with_no_traffic_is_sent_at_once():
    """A quiet relay adds no delay (and no billable instance time): a push that finds no other
    push of its pixel in flight is sent without waiting for the window."""
    graph = Graph()
    batcher = Batcher(graph, window_s=0.5, min_inflight=1)
    started = time.perf_counter()
    ((result, alone, _),) = concurrently(batcher, ["lone"], traffic=False)
    assert time.perf_counter() - started < 0.25
    assert result.outcome is Outcome.DELIVERED and not alone
    assert graph.requests == [("1", ["lone"])]


def test_a_push_waits_only_with_enough_pushes_in_flight():
    """With fewer than `min_inflight` other pushes in flight a batch would hold one or two
    events: the push is sent at once."""
    graph = Graph()
    batcher = Batcher(graph, window_s=0.5, min_inflight=2)
    started = time.perf_counter()
    concurrently(batcher, ["x"])  # one other push in flight
    assert time.perf_counter() - started < 0.25
    assert graph.requests == [("1", ["x"])]


def test_a_push_during_traffic_waits_for_the_others():
    graph = Graph()
    batcher = Batcher(graph, window_s=0.2, min_inflight=1)
    started = time.perf_counter()
    concurrently(batcher, ["x"])
    assert time.perf_counter() - started >= 0.2  # it waited the window for others
    assert batcher._active == {}  # every push accounted for


def test_a_miscounted_batch_is_split_and_only_what_fails_alone_is_retried():
    """Meta answers 200 with events_received lower than the events sent: each event is sent
    alone once (its own verdict), not the whole batch retried through Pub/Sub."""

    class Miscounting(Graph):
        def send(self, pixel_id, token, events, *, test_event_code=""):
            result = super().send(pixel_id, token, events, test_event_code=test_event_code)
            if len(events) > 1:
                sent, counted = len(events), len(events) - 1
                message = f"Meta counted {counted} of {sent} events sent"
                error = MetaError(200, message=message)
                return GraphResult(Outcome.TRANSIENT, 200, counted, error=error, miscounted=True)
            if events[0]["event_id"] == "flaky":
                return GraphResult(Outcome.TRANSIENT, 503)
            return result

    graph = Miscounting()
    events = ["m1", "m2", "flaky", "m3"]
    results = dict(
        zip(events, concurrently(Batcher(graph, window_s=0.2, min_inflight=1), events), strict=True)
    )
    assert all(results[e].alone for e in events)
    assert all(results[e].result.outcome is Outcome.DELIVERED for e in ("m1", "m2", "m3"))
    assert results["flaky"].result.outcome is Outcome.TRANSIENT  # only it is retried
    batch, *singles = graph.requests
    assert sorted(batch[1]) == sorted(events)
    assert sorted(ids[0] for _, ids in singles) == sorted(events)  # each sent alone once


def test_metas_text_about_a_batch_is_redacted_with_every_event_of_the_batch():
    """Meta's error for a batch of A and B quotes B's user agent, click id and IP: A's
    dead-letter attributes and log lines must not carry them (before: A redacted with its own
    values only)."""
    a = purchase(event_id="ev-a")
    b = purchase(event_id="ev-b")
    b["user_data"].update(
        client_user_agent="Mozilla/5.0 (X11; Linux x86_64) SecretBrowser/9.9.9",
        fbc="fb.1.1700000000000.IwAR-secret-click-id-of-b",
        client_ip_address="198.51.100.77",
    )
    quoted = (
        "Permission denied for events with user agent "
        "Mozilla/5.0 (X11; Linux x86_64) SecretBrowser/9.9.9 and fbc "
        "fb.1.1700000000000.IwAR-secret-click-id-of-b from 198.51.100.77"
    )

    class Refusing(Graph):
        def send(self, pixel_id, token, events, *, test_event_code=""):
            if [e["event_id"] for e in events] == ["hold"]:
                return super().send(pixel_id, token, events, test_event_code=test_event_code)
            with self.lock:
                self.requests.append((pixel_id, [e["event_id"] for e in events]))
            body = {"error": {"message": quoted, "code": 10, "error_user_msg": quoted}}
            error = MetaError.from_response(403, body)
            return GraphResult(classify(error), 403, error=error)

    graph = Refusing()
    dlq = InMemoryPublisher()
    forwarder = Forwarder(
        tokens=TokenSource(token="EAAx"),
        dead_letters=dlq,
        graph=graph,
        batcher=Batcher(graph, window_s=0.3, min_inflight=1),
    )
    deliveries = [
        Delivery(event_message(e, pixel_id="9"), message_id=e["event_id"]) for e in (a, b)
    ]
    with ThreadPoolExecutor(3) as pool:
        hold = pool.submit(forwarder.batcher.send, "9", "EAAx", {"event_id": "hold"})
        assert graph.holding.wait(10)
        decisions = list(pool.map(forwarder.process, deliveries))
        graph.release.set()
        hold.result(timeout=10)
    assert decisions == [Decision.ACK, Decision.ACK]
    (request,) = graph.requests  # one request for both: Meta's text concerns both
    assert sorted(request[1]) == ["ev-a", "ev-b"]
    (of_a,) = [m for m in dlq.messages if m.attributes["event_id"] == "ev-a"]
    text = " ".join(of_a.attributes.values())
    for secret in ("SecretBrowser", "IwAR-secret-click-id-of-b", "198.51.100.77"):
        assert secret not in text
    assert "Permission denied" in of_a.attributes["error_message"]
