"""Group commit (capi/queueing/group_commit.py): concurrent publishes share Publish RPCs, and a
call's answer keeps its meaning: ids only when all its messages were accepted, an error only when
none of them were published."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from capi.errors import PublishError
from capi.queueing.group_commit import GroupCommit
from capi.queueing.messages import Message
from capi.queueing.pubsub import PubSubPublisher


class GatedApi:
    """A Publish surface whose RPCs block until the test opens the gate; records each RPC."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.timeouts: list[float] = []
        self.gate = threading.Event()
        self.started = threading.Semaphore(0)
        self.fail_next = 0
        self.lock = threading.Lock()
        self.accepted: list[bytes] = []

    def publish(self, request, retry=None, timeout=None):
        with self.lock:
            self.requests.append(request)
            self.timeouts.append(timeout)
            fail = self.fail_next > 0
            self.fail_next -= fail
        self.started.release()
        self.gate.wait(10)
        if fail:
            raise RuntimeError("unavailable")
        with self.lock:
            first = len(self.accepted)
            self.accepted.extend(m["data"] for m in request["messages"])
        return SimpleNamespace(
            message_ids=[str(first + i) for i in range(len(request["messages"]))]
        )


def run_calls(publisher, calls):
    """Start one thread per call (a list of messages); returns their results in order."""
    results: list = [None] * len(calls)

    def go(i: int) -> None:
        try:
            results[i] = publisher.publish_all(calls[i])
        except PublishError as exc:
            results[i] = exc

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(calls))]
    return threads, results


def wait_queued(publisher, n: int) -> None:
    deadline = time.monotonic() + 5
    while len(publisher.group._queue) < n:
        assert time.monotonic() < deadline, "calls did not queue"
        time.sleep(0.001)


def test_calls_that_arrive_while_an_rpc_is_in_flight_share_the_next_one():
    api = GatedApi()
    pub = PubSubPublisher("projects/p/topics/t", max_inflight=1, client_factory=lambda: api)
    first, first_result = run_calls(pub, [[Message(b"a")]])
    first[0].start()
    api.started.acquire(timeout=5)  # the first RPC is in flight
    calls = [[Message(f"r{i}-{j}".encode()) for j in range(i + 1)] for i in range(4)]
    threads, results = run_calls(pub, calls)
    for t in threads:
        t.start()
    wait_queued(pub, 4)
    api.gate.set()
    for t in [*first, *threads]:
        t.join(5)
    assert len(api.requests) == 2  # one for the first call, one shared by the four
    assert [m["data"] for m in api.requests[1]["messages"]] == [
        m.data for call in calls for m in call
    ]
    # each call gets the ids of its own messages, in order
    assert first_result == [["0"]]
    assert results == [["1"], ["2", "3"], ["4", "5", "6"], ["7", "8", "9", "10"]]
    assert (pub.group.rpcs, pub.group.calls) == (2, 5)


def test_a_failed_shared_rpc_fails_every_call_in_it_and_publishes_none_of_them():
    api = GatedApi()
    pub = PubSubPublisher("projects/p/topics/t", max_inflight=1, client_factory=lambda: api)
    first, _ = run_calls(pub, [[Message(b"a")]])
    first[0].start()
    api.started.acquire(timeout=5)
    threads, results = run_calls(pub, [[Message(b"b")], [Message(b"c"), Message(b"d")]])
    for t in threads:
        t.start()
    wait_queued(pub, 2)
    api.fail_next = 1  # the shared RPC fails
    api.gate.set()
    for t in [*first, *threads]:
        t.join(5)
    assert all(isinstance(r, PublishError) for r in results)
    assert results[0] is not results[1]  # each caller raises its own error
    assert api.accepted == [b"a"]


def test_a_call_never_spans_two_rpcs_and_waiting_calls_go_oldest_first():
    """Pub/Sub applies one request all or nothing: a call split over two RPCs could be half
    published when it answers 503. Calls that do not fit together wait for the next RPC."""
    api = GatedApi()
    pub = PubSubPublisher("projects/p/topics/t", max_inflight=1, client_factory=lambda: api)
    first, _ = run_calls(pub, [[Message(b"a")]])
    first[0].start()
    api.started.acquire(timeout=5)
    calls = [[Message(bytes([65 + i]))] * 400 for i in range(3)]  # 1,200 messages in all
    threads, results = run_calls(pub, calls)
    for i, t in enumerate(threads):
        t.start()
        wait_queued(pub, i + 1)
    api.gate.set()
    for t in [*first, *threads]:
        t.join(5)
    sizes = [len(r["messages"]) for r in api.requests]
    assert sizes == [1, 800, 400]
    assert [len(r) for r in results] == [400, 400, 400]
    assert {m["data"] for m in api.requests[2]["messages"]} == {b"C"}


def test_a_call_that_cannot_start_within_its_timeout_fails_and_is_never_sent():
    api = GatedApi()
    pub = PubSubPublisher(
        "projects/p/topics/t", timeout_s=0.2, max_inflight=1, client_factory=lambda: api
    )
    first, _ = run_calls(pub, [[Message(b"a")]])
    first[0].start()
    api.started.acquire(timeout=5)
    late, results = run_calls(pub, [[Message(b"late")]])
    late[0].start()
    late[0].join(5)
    assert isinstance(results[0], PublishError)
    assert "nothing was sent" in str(results[0])
    api.gate.set()
    first[0].join(5)
    assert len(api.requests) == 1
    assert b"late" not in api.accepted


def test_a_shared_rpc_ends_by_the_earliest_deadline_of_its_calls():
    """A call's messages must not be published after the call gave up (its caller's retry
    would duplicate them): the shared RPC's timeout is the shortest time any call has left."""
    clock = [100.0]
    sent: list[float] = []

    def send(messages, left_s):
        sent.append(left_s)
        return [str(i) for i in range(len(messages))]

    group = GroupCommit(
        send, max_inflight=1, max_messages=1000, max_bytes=10**7, clock=lambda: clock[0]
    )
    # two calls queued by hand, the older with 1 s left, the newer with 5 s
    from capi.queueing.group_commit import _Call

    group._queue.extend([_Call([Message(b"x")], 1, 101.0), _Call([Message(b"y")], 1, 105.0)])
    with group._cond:
        group._lead()
    assert sent == [1.0]


def test_an_answer_with_the_wrong_number_of_ids_fails_every_call():
    """Pub/Sub's answer is untrusted: ids that do not match the messages confirm nothing."""
    group = GroupCommit(
        lambda messages, left: ["only-one"], max_inflight=1, max_messages=1000, max_bytes=10**7
    )
    with pytest.raises(PublishError, match="1 message ids for 2 messages"):
        group.publish([Message(b"x"), Message(b"y")], 2, 5.0)


def test_without_a_limit_every_call_sends_its_own_rpc_at_once():
    api = GatedApi()
    pub = PubSubPublisher("projects/p/topics/t", max_inflight=0, client_factory=lambda: api)
    threads, results = run_calls(pub, [[Message(b"a")], [Message(b"b")], [Message(b"c")]])
    for t in threads:
        t.start()
    for _ in range(3):
        assert api.started.acquire(timeout=5)  # three RPCs in flight together
    api.gate.set()
    for t in threads:
        t.join(5)
    assert len(api.requests) == 3
    assert sorted(r[0] for r in results) == ["0", "1", "2"]


def test_a_crash_inside_the_rpc_frees_its_slot_for_the_next_call():
    crashes = [KeyboardInterrupt]

    def send(messages, left_s):
        if crashes:
            raise crashes.pop()
        return ["1"]

    group = GroupCommit(send, max_inflight=1, max_messages=1000, max_bytes=10**7)
    with pytest.raises(KeyboardInterrupt):
        group.publish([Message(b"x")], 1, 5.0)
    assert group.publish([Message(b"y")], 1, 0.5) == ["1"]  # not stuck behind a dead RPC
