import base64
import json
import os
import resource
import signal
import sqlite3
import threading
import time

import pytest

from capi.errors import JournalInUse, PublishError
from capi.forward.forwarder import Decision, Forwarder
from capi.forward.tokens import TokenSource
from capi.queueing.messages import Message
from capi.tools.local_queue import FileDeadLetters, LocalQueue


class ScriptedForwarder(Forwarder):
    def __init__(self, decisions):
        super().__init__(tokens=TokenSource(token="t"), dead_letters=None)
        self.decisions = list(decisions)
        self.attempts = []

    def process(self, delivery):
        self.attempts.append((delivery.message.data, delivery.attempt))
        return self.decisions.pop(0) if self.decisions else Decision.ACK


def test_retry_is_redelivered_with_increasing_attempt_until_ack():
    q = LocalQueue(workers=1, backoff_s=0.01)
    fwd = ScriptedForwarder([Decision.RETRY, Decision.RETRY, Decision.ACK])
    q.attach(fwd)
    q.start()
    q.publish_all([Message(b"x")])
    assert q.drain(5)
    q.stop()
    assert fwd.attempts == [(b"x", 1), (b"x", 2), (b"x", 3)]
    assert fwd.max_delivery_attempts == q.max_attempts


def test_forwarder_exception_does_not_lose_the_message():
    class Exploding(ScriptedForwarder):
        def process(self, delivery):
            self.attempts.append(delivery.attempt)
            if delivery.attempt == 1:
                raise RuntimeError("bug")
            return Decision.ACK

    q = LocalQueue(workers=1, backoff_s=0.01)
    fwd = Exploding([])
    q.attach(fwd)
    q.start()
    q.publish_all([Message(b"x")])
    assert q.drain(5)
    q.stop()
    assert fwd.attempts == [1, 2]


def test_file_dead_letters_keep_data_and_attributes(tmp_path):
    path = tmp_path / "dlq.jsonl"
    FileDeadLetters(path).publish_all([Message(b'{"a":1}', {"dlq_reason": "rejected"})])
    record = json.loads(path.read_text())
    assert base64.b64decode(record["data"]) == b'{"a":1}'
    assert record["attributes"] == {"dlq_reason": "rejected"}


def test_a_journal_keeps_what_was_accepted_across_processes(tmp_path):
    journal = tmp_path / "q.db"
    first = LocalQueue(journal=journal)
    first.publish_all([Message(b"a", {"event_id": "1"}), Message(b"b", {"event_id": "2"})])
    # no start, no stop: as if the process had been killed right after answering 202 (a killed
    # process leaves its journal lock behind with it: close() does what the kernel would)
    first.close()
    again = LocalQueue(journal=journal, workers=1, backoff_s=0.01)
    assert again.recovered == 2
    fwd = ScriptedForwarder([])
    again.attach(fwd)
    again.start()
    assert again.drain(5)
    again.stop()
    assert sorted(data for data, _ in fwd.attempts) == [b"a", b"b"]
    last = LocalQueue(journal=journal)
    assert last.recovered == 0
    last.close()
    assert journal.stat().st_mode & 0o777 == 0o600


def test_a_message_journaled_by_another_process_is_picked_up(tmp_path):
    from capi.tools.local_queue import journal_messages

    q = LocalQueue(journal=tmp_path / "q.db", workers=1)
    fwd = ScriptedForwarder([])
    q.attach(fwd)
    q.start()
    journal_messages(tmp_path / "q.db", [Message(b"replayed")])
    assert q.drain(5)
    q.stop()
    assert fwd.attempts == [(b"replayed", 1)]


# -- journal faults (issue 22): no SQLite error stops delivery, loses or doubles an event ------


class CountingForwarder(Forwarder):
    """Acks everything, counting each message it was handed."""

    def __init__(self, *, delay_s: float = 0.0):
        super().__init__(tokens=TokenSource(token="t"), dead_letters=None)
        self.seen: list[bytes] = []
        self.delay_s = delay_s
        self.lock = threading.Lock()

    def process(self, delivery):
        time.sleep(self.delay_s)
        with self.lock:
            self.seen.append(delivery.message.data)
        return Decision.ACK


def _hold_write_lock(path, seconds, started):
    """Another process's writer: BEGIN IMMEDIATE held for `seconds` (the journal's write lock)."""
    db = sqlite3.connect(str(path), isolation_level=None)
    db.execute("BEGIN IMMEDIATE")
    started.set()
    time.sleep(seconds)
    db.execute("COMMIT")
    db.close()


def test_a_held_write_lock_refuses_new_events_and_delivers_each_accepted_one_once(tmp_path):
    journal = tmp_path / "q.db"
    q = LocalQueue(journal=journal, workers=2, busy_timeout_ms=100, store_retry_s=(0.05, 0.2))
    fwd = CountingForwarder(delay_s=0.01)
    q.attach(fwd)
    accepted = [b"e%d" % i for i in range(40)]
    q.publish_all([Message(d) for d in accepted])  # queued before the lock: in flight during it
    started = threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(journal, 2.0, started))
    holder.start()
    started.wait(5)
    q.start()
    refused = 0
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:  # while it is locked, nothing more is accepted
        try:
            q.publish_all([Message(b"during")])
            pytest.fail("a 202 while the journal cannot be written")
        except PublishError:
            refused += 1
        assert "could not" in q.health()
    assert refused >= 3
    holder.join()
    q.publish_all([Message(b"after")])
    accepted.append(b"after")
    assert q.drain(10)
    assert all(t.is_alive() for t in q._threads), "a worker died"
    assert q.health() == ""
    q.stop()
    assert sorted(fwd.seen) == sorted(accepted)  # every accepted event once, none twice
    assert LocalQueue(journal=journal).recovered == 0  # and nothing is left to resend


def test_a_full_disk_refuses_new_events_and_recovers_without_a_restart(tmp_path):
    """RLIMIT_FSIZE makes writes past the limit fail as a full disk does (EFBIG; SIGXFSZ
    ignored); lowering and raising the soft limit needs no privilege."""
    journal = tmp_path / "q.db"
    q = LocalQueue(journal=journal, workers=2, store_retry_s=(0.05, 0.2))
    fwd = CountingForwarder()
    q.attach(fwd)
    q.start()
    accepted = []
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        used = max(p.stat().st_size for p in tmp_path.iterdir())
        resource.setrlimit(resource.RLIMIT_FSIZE, (used + 48 * 1024, hard))
        refused = 0
        for i in range(200):
            try:
                q.publish_all([Message(b"%d" % i + b"x" * 2000)])
                accepted.append(b"%d" % i + b"x" * 2000)
            except PublishError:
                refused += 1
        assert refused, "the limit was never reached"
        assert q.health()
        assert all(t.is_alive() for t in q._threads)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old_handler)
    q.publish_all([Message(b"after")])
    accepted.append(b"after")
    assert q.drain(15)
    assert q.health() == ""
    q.stop()
    assert sorted(fwd.seen) == sorted(accepted)


def test_an_outcome_that_cannot_be_written_is_kept_and_the_event_not_delivered_again(tmp_path):
    journal = tmp_path / "q.db"
    q = LocalQueue(journal=journal, workers=2, busy_timeout_ms=50, store_retry_s=(0.05, 0.1))
    fwd = CountingForwarder()
    q.attach(fwd)
    q.publish_all([Message(b"a"), Message(b"b")])
    started = threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(journal, 1.5, started))
    holder.start()
    started.wait(5)
    q.start()
    time.sleep(1.0)  # delivered, and every DELETE has failed at least once
    assert sorted(fwd.seen) == [b"a", b"b"]
    assert q.pending() == 0  # delivered, though still in the journal
    holder.join()
    assert q.drain(5)
    q.stop()
    assert sorted(fwd.seen) == [b"a", b"b"]
    assert LocalQueue(journal=journal).recovered == 0


def test_a_second_queue_on_the_same_journal_refuses_to_open(tmp_path):
    journal = tmp_path / "q.db"
    first = LocalQueue(journal=journal)
    with pytest.raises(JournalInUse, match=f"pid {os.getpid()}"):
        LocalQueue(journal=journal)
    first.close()
    LocalQueue(journal=journal).close()  # free again once the first is closed


def test_the_retry_horizon_sets_the_attempts_and_backoff_is_capped():
    q = LocalQueue(retry_horizon_s=600, backoff_s=1, max_backoff_s=60)
    # 1+2+4+8+16+32 = 63 s, then 60 s a retry: 603 s after the 15th retry, the 16th attempt
    assert q.max_attempts == 16
    assert sum(min(2**i, 60) for i in range(q.max_attempts - 1)) >= 600
    assert sum(min(2**i, 60) for i in range(q.max_attempts - 2)) < 600


def test_capi_serve_sends_what_is_due_together_one_request_per_batch():
    """Issue 25: `capi serve` batches what it drains. 300 events waiting in the journal go to
    Meta in one request per worker's batch, not 300; each is delivered once and acked."""
    from capi.meta.answers import Outcome
    from capi.meta.graph import GraphResult
    from capi.queueing.messages import event_message
    from tests.factories import purchase

    class Graph:
        def __init__(self):
            self.sizes: list[int] = []
            self.ids: list[str] = []
            self.lock = threading.Lock()

        def send(self, pixel_id, token, events, *, test_event_code=""):
            with self.lock:
                self.sizes.append(len(events))
                self.ids += [e["event_id"] for e in events]
            return GraphResult(Outcome.DELIVERED, 200, len(events), "trace")

    graph = Graph()
    q = LocalQueue(workers=2, batch_size=1000)
    q.attach(Forwarder(tokens=TokenSource(token="EAAt"), dead_letters=None, graph=graph))
    q.publish_all([event_message(purchase(event_id=f"s-{i}"), pixel_id="1") for i in range(300)])
    q.start()
    assert q.drain(10)
    q.stop()
    assert sorted(graph.ids) == sorted(f"s-{i}" for i in range(300))
    assert len(graph.sizes) <= 2 and sum(graph.sizes) == 300
    assert q.pending() == 0


def test_a_delivered_event_leaves_no_trace_in_the_journal_file(tmp_path):
    """docs/PRIVACY.md: once an event is delivered its row is deleted, and its bytes too
    (secure_delete), while the events still waiting stay: the raw e-mail of a delivered event is
    nowhere in the journal's files."""
    journal = tmp_path / "q.db"
    queue = LocalQueue(journal=journal, workers=1, backoff_s=60)
    emails = [f"customer-{i}.private@example.com".encode() for i in range(3)]
    queue.publish_all(
        [Message(b'{"em": "' + e + b'"}', {"event_id": str(i)}) for i, e in enumerate(emails)]
    )
    forwarder = ScriptedForwarder([Decision.ACK, Decision.RETRY, Decision.RETRY])
    queue.attach(forwarder)
    queue.start()
    deadline = time.monotonic() + 5
    while len(forwarder.attempts) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    queue.stop(timeout_s=0)
    queue.close()
    left = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("q.db"))
    assert emails[0] not in left  # delivered: gone
    assert emails[1] in left and emails[2] in left  # waiting: kept
