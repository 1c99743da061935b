import base64
import json

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
    # no start, no stop: as if the process had been killed right after answering 202
    again = LocalQueue(journal=journal, workers=1, backoff_s=0.01)
    assert again.recovered == 2
    fwd = ScriptedForwarder([])
    again.attach(fwd)
    again.start()
    assert again.drain(5)
    again.stop()
    assert sorted(data for data, _ in fwd.attempts) == [b"a", b"b"]
    assert LocalQueue(journal=journal).recovered == 0
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
