"""The infrastructure failing under the relay: the Pub/Sub emulator stopped while ingest serves,
the forward process killed (SIGKILL) or stopped (SIGTERM) in the middle of a delivery, poison
messages on the topic, and Pub/Sub's own dead-letter policy as the last line of defence. Real
functions-framework processes, the real emulator, the Graph stand-in.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from capi.tools.emulator import DLQ_SUBSCRIPTION, setup
from tests.conftest import pull_until_quiet
from tests.factories import lead, purchase
from tests.integration.conftest import PIXEL

pytestmark = pytest.mark.integration


def dead_letters(relay, n: int = 0, *, quiet: float = 1.0, timeout: float = 60.0) -> list:
    subscription = f"projects/{relay.project}/subscriptions/{DLQ_SUBSCRIPTION}"
    return pull_until_quiet(subscription, n, timeout=timeout, quiet=quiet)


def wait_for_log(proc, text: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in proc.logs():
        assert time.monotonic() < deadline, f"{text!r} not in the {proc.target} log"
        time.sleep(0.1)


class BlackHole:
    """A Graph URL that takes the request and never answers: Meta has not processed it yet."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.received = threading.Event()
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn: socket.socket) -> None:
        try:
            while conn.recv(65536):
                self.received.set()
        except OSError:
            pass

    def close(self) -> None:
        self.sock.close()
        for conn in self.conns:
            conn.close()


# ------------------------------------------------------------------------------- Pub/Sub down


def test_emulator_outage_gives_503_never_202_and_ingest_recovers_without_restart(
    start_relay, graph_standin, pubsub_emulator
):
    relay = start_relay(ingest_env={"CAPI_PUBLISH_TIMEOUT": "3"})
    ingest_pid = relay.ingest.proc.pid
    assert relay.post(lead(event_id="before")).status_code == 202
    # Delivered before the outage: the emulator keeps messages in memory only (Pub/Sub does not).
    graph_standin.wait_for_events(1, timeout=30)

    bodies = [
        {"data": [lead(event_id=f"during-{i}"), purchase(event_id=f"buy-{i}")]} for i in range(4)
    ]
    pubsub_emulator.stop()
    try:
        started = time.monotonic()
        with ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(relay.post, bodies))
        waited = time.monotonic() - started
        # Nobody is told "accepted" while the queue is down; the answer says to retry.
        assert [a.status_code for a in answers] == [503] * 4, [a.text for a in answers]
        assert {a.json()["error"]["code"] for a in answers} == {"queue_unavailable"}
        assert waited < 3 + 5  # CAPI_PUBLISH_TIMEOUT bounds the wait
    finally:
        pubsub_emulator.restart()
    assert graph_standin.event_ids() == ["before"]
    # The restarted emulator has forgotten the topics: create them again, same names.
    setup(
        relay.project,
        push_endpoint=relay.forward.url + "/",
        max_delivery_attempts=5,
        min_backoff_s=1,
        max_backoff_s=2,
    )
    # The callers retry the same bodies; ingest, not restarted, reconnects on its own.
    deadline = time.monotonic() + 60
    while (first := relay.post(bodies[0])).status_code != 202:
        assert first.status_code == 503, first.text
        assert time.monotonic() < deadline, "ingest did not recover after the emulator restart"
        time.sleep(0.5)
    rest = [relay.post(body) for body in bodies[1:]]
    assert [a.status_code for a in rest] == [202] * 3
    assert relay.ingest.proc.pid == ingest_pid and relay.ingest.proc.poll() is None

    expected = ["before"] + [e["event_id"] for body in bodies for e in body["data"]]
    graph_standin.wait_for_events(len(expected), timeout=60)
    assert dead_letters(relay, quiet=2.0) == []
    assert sorted(graph_standin.event_ids()) == sorted(expected)  # each once, none lost


# ------------------------------------------------------------------------------- forward dies


@pytest.mark.parametrize("meta_processed", [False, True], ids=["before-meta", "after-meta"])
def test_forward_killed_mid_request_is_redelivered_and_delivered(
    start_relay, graph_standin, meta_processed
):
    """SIGKILL of the forward process (master and worker) while it waits for Meta's answer.
    Pub/Sub never got an ack, so it redelivers to the process started again on the same port.
    If Meta had not processed the request (before-meta), the event arrives exactly once. If it
    had (after-meta: the stand-in records on arrival, the answer is late), Meta gets a second
    copy with the same event_id: the at-least-once edge, see docs/RELIABILITY.md."""
    hole = BlackHole()
    try:
        if meta_processed:
            graph_standin.delay_next(1, seconds=5)
            relay = start_relay(forward_env={"CAPI_GRAPH_TIMEOUT": "10"})
        else:
            relay = start_relay(
                forward_env={"CAPI_GRAPH_URL": hole.url, "CAPI_GRAPH_TIMEOUT": "10"}
            )
        assert relay.post(purchase(event_id="killed-1")).status_code == 202
        if meta_processed:
            graph_standin.wait_for_requests(1, timeout=30)
        else:
            assert hole.received.wait(30), "the forwarder never called Meta"
        relay.forward.signal(signal.SIGKILL)
        assert relay.forward.proc.wait(10) == -signal.SIGKILL
        killed_at = time.time()
        relay.forward.env["CAPI_GRAPH_URL"] = graph_standin.url
        relay.forward.restart()
    finally:
        hole.close()
    copies = 2 if meta_processed else 1
    graph_standin.wait_for_events(copies, timeout=60)
    assert dead_letters(relay, quiet=2.0) == []
    assert graph_standin.event_ids() == ["killed-1"] * copies
    redelivered = graph_standin.accepted_requests()[-1]
    assert not redelivered.late and redelivered.arrival > killed_at
    assert relay.forward.logs().count('"events delivered"') == 1  # by the new process


def test_sigterm_lets_the_in_flight_delivery_finish_and_ack(start_relay, graph_standin):
    """Cloud Run sends SIGTERM to the container's PID 1 (here the gunicorn master) before it
    stops an instance. The delivery in progress must finish and be acked: Meta's answer is
    awaited, Pub/Sub gets the ack and does not redeliver."""
    relay = start_relay()  # Graph read timeout 2 s
    graph_standin.delay_next(1, seconds=1.5)
    assert relay.post(purchase(event_id="graceful-1")).status_code == 202
    (request,) = graph_standin.wait_for_requests(1, timeout=30)
    os.kill(relay.forward.proc.pid, signal.SIGTERM)
    assert relay.forward.proc.wait(30) == 0
    assert time.time() >= request.arrival + 1.5  # it waited for Meta's late answer
    assert '"events delivered"' in relay.forward.logs()

    # Start it again on the same port: an unacked message would be pushed to it within the
    # backoff (1-3 s); a new event shows the subscription is pushing again.
    relay.forward.restart()
    assert relay.post(lead(event_id="after-restart")).status_code == 202
    graph_standin.wait_for_events(2, timeout=30)
    assert dead_letters(relay, quiet=4.0) == []
    assert graph_standin.event_ids() == ["graceful-1", "after-restart"]
    assert len(graph_standin.requests) == 2


# ------------------------------------------------------------------------------- bad messages


def test_poison_messages_are_dead_lettered_once(start_relay, graph_standin):
    from google.cloud import pubsub_v1

    relay = start_relay()
    poison = [
        (b"\xff\xfe\x00 not json", {}, "poison"),  # undecodable, no attributes at all
        (b'{"event_name": "Purchase", "event_ti', {"event_id": "trunc"}, "poison"),
        (b'["an", "array"]', {"pixel_id": PIXEL}, "poison"),  # JSON, but not an event
        (b"", {"only": "attributes"}, "poison"),  # no data
        (b'{"event_name": "Purchase"}', {"event_id": "inv-1"}, "invalid"),  # not a valid event
    ]
    publisher = pubsub_v1.PublisherClient()
    for data, attributes, _ in poison:
        publisher.publish(relay.names["topic"], data, **attributes).result(timeout=30)
    # A valid event without attributes is not poison: the data says everything (the default
    # pixel applies), and it is delivered.
    bare = json.dumps(lead(event_id="no-attributes")).encode()
    publisher.publish(relay.names["topic"], bare).result(timeout=30)
    assert relay.post(lead(event_id="healthy")).status_code == 202

    # Long enough for a redelivery (backoff 1-3 s) to show up, were any message nacked.
    letters = dead_letters(relay, len(poison), quiet=4.0)
    assert len(letters) == len(poison), [(m.data, dict(m.attributes)) for m in letters]
    by_data = {m.data: dict(m.attributes) for m in letters}
    for data, attributes, reason in poison:
        attrs = by_data[data]  # the original bytes, kept
        assert attrs["dlq_reason"] == reason and attrs["attempts"] == "1"
        assert attrs.items() >= attributes.items() and attrs["original_message_id"]
    graph_standin.wait_for_events(2, timeout=30)
    assert sorted(graph_standin.event_ids()) == ["healthy", "no-attributes"]
    # nothing else ever reached Meta (the two may share one batched request)
    assert sum(len(r.events) for r in graph_standin.requests) == 2


# ------------------------------------------------------------------------------- last resort


def test_pubsub_dead_letter_policy_catches_what_keeps_failing(start_relay, graph_standin):
    """Found out about the emulator: it omits `deliveryAttempt` from push requests (so the
    forwarder sees attempt 1 every time and cannot dead-letter an exhausted event itself) but
    it does honour the subscription's dead-letter policy. An event Meta keeps refusing with a
    transient error ends in the DLQ after max_delivery_attempts, with Pub/Sub's attributes."""
    relay = start_relay(max_delivery_attempts=5)
    graph_standin.fail_next(50, status=503)  # Meta down for good
    assert relay.post(purchase(event_id="never")).status_code == 202
    (letter,) = dead_letters(relay, 1, quiet=2.0)
    graph_standin.clear_faults()
    attrs = dict(letter.attributes)
    assert attrs["event_id"] == "never" and json.loads(letter.data)["event_id"] == "never"
    assert attrs["CloudPubSubDeadLetterSourceDeliveryCount"] == "5"
    assert "dlq_reason" not in attrs  # Pub/Sub's doing, not the forwarder's
    assert len(graph_standin.requests) == 5 and graph_standin.events == []
    attempts = [
        json.loads(line).get("attempt")
        for line in relay.forward.logs().splitlines()
        if "transient failure" in line
    ]
    assert attempts == [1] * 5  # no deliveryAttempt from the emulator


def test_dead_letter_publish_failure_keeps_the_event(start_relay, graph_standin):
    """A permanent error, and the forwarder cannot publish to its DLQ topic: it must not ack
    (the event would be lost). It nacks; Pub/Sub redelivers and, in the end, its dead-letter
    policy moves the event to the subscription's DLQ topic."""
    relay = start_relay(
        forward_env={"CAPI_DLQ_TOPIC": "projects/capi-missing/topics/nope"},
        max_delivery_attempts=5,
    )
    graph_standin.error_next(100, 2804019, n=50)
    assert relay.post(purchase(event_id="kept")).status_code == 202
    (letter,) = dead_letters(relay, 1, quiet=2.0)
    graph_standin.clear_faults()
    assert letter.attributes["event_id"] == "kept"
    assert letter.attributes["CloudPubSubDeadLetterSourceDeliveryCount"] == "5"
    assert relay.forward.logs().count("dead-letter publish failed; will be retried") == 5
