"""The draining forwarder: Cloud Scheduler calls it, it empties the pull subscription in batches.

One drain (`Drainer.drain`), e.g. every minute:

1. Pull up to 1,000 messages (Pull calls until 1,000 are held or one comes back empty).
2. Hand them to `Forwarder.process_many`: the same checks and decisions as a push, one Graph
   request per (pixel, test code) and <= 1,000 events, each message settled by its own event's
   result (a rejected or miscounted request is split until the events at fault are alone).
3. Ack what is settled (delivered, dead-lettered with its reason, already delivered); give back
   what is to be retried with a deadline that grows with its attempt (Pub/Sub's own backoff
   applies only to nacks of a subscription with a retry policy, and the emulator has none: an
   explicit deadline gives the same backoff everywhere).
4. Pull again, until the subscription is empty, the time budget is spent, or a whole batch
   failed transiently (Meta or the token is down: the next drain tries again, the rest waits in
   the queue instead of being pulled and given back).

A lingering drain (`linger_s`, CAPI_DRAIN_LINGER) does not stop at an empty subscription during
its first `linger_s` seconds: it polls every `poll_s` (1 s) and sends what arrives at once, so
events reach Meta about a second after they are queued while it lingers, at the price of an
instance busy for those seconds (docs/PERFORMANCE.md, "Low-latency drain").

While a batch is being sent, a keeper thread extends its messages' ack deadline every third of
the deadline: a slow Meta does not make Pub/Sub hand them to another drain. A drainer killed mid-
batch acks nothing it had not settled: the messages come back after their deadline, and an event
Meta had already received reaches it again with the same event_id, which it deduplicates.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from capi import logs
from capi.errors import QueueError
from capi.forward.forwarder import Decision, Delivery, Forwarder
from capi.queueing.pull import MAX_MESSAGES_PER_PULL, Pulled, Subscription
from capi.web import IncomingRequest, Reply, error_reply

DEFAULT_BUDGET_S = 50.0  # below Cloud Scheduler's one-minute interval
DEFAULT_ACK_DEADLINE_S = 60
DEFAULT_POLL_S = 1.0  # a lingering drain's pause between pulls of an empty subscription
RETRY_MIN_S = 10  # the push subscription's retry policy, applied by the drainer
RETRY_MAX_S = 600


def retry_delay(attempt: int, low: float = RETRY_MIN_S, high: float = RETRY_MAX_S) -> int:
    """Seconds before a message retried at `attempt` comes back: 10, 20, 40 ... 600."""
    return int(min(high, low * 2 ** max(0, min(attempt - 1, 10))))


@dataclass
class DrainReport:
    pulled: int = 0
    batches: int = 0
    acked: int = 0
    retried: int = 0
    stopped: str = ""  # empty | budget | transient | queue_error (already_draining: not run)


class _DeadlineKeeper:
    """Extends the ack deadline of the messages being sent until `stop`."""

    def __init__(self, subscription: Subscription, ack_ids: Sequence[str], deadline_s: int):
        self._subscription = subscription
        self._ids = list(ack_ids)
        self._deadline_s = deadline_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ack-deadline-keeper", daemon=True)

    def __enter__(self) -> _DeadlineKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(max(1.0, self._deadline_s / 3)):
            try:
                self._subscription.extend(self._ids, self._deadline_s)
            except QueueError as exc:  # the next extension may work; if none does: redelivery
                logs.warning("could not extend ack deadlines", error=str(exc)[:200])


class Drainer:
    """Drains `subscription` through `forwarder`; `handle` serves Cloud Scheduler's POST /drain
    and hands every other request (Pub/Sub pushes, /healthz) to the forwarder."""

    def __init__(
        self,
        forwarder: Forwarder,
        subscription: Subscription,
        *,
        budget_s: float = DEFAULT_BUDGET_S,
        ack_deadline_s: int = DEFAULT_ACK_DEADLINE_S,
        max_batch: int = MAX_MESSAGES_PER_PULL,
        retry_backoff_s: tuple[float, float] = (RETRY_MIN_S, RETRY_MAX_S),
        clock: Callable[[], float] = time.monotonic,
        linger_s: float = 0.0,
        poll_s: float = DEFAULT_POLL_S,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.forwarder = forwarder
        self.subscription = subscription
        self.budget_s = budget_s
        self.ack_deadline_s = ack_deadline_s
        self.max_batch = max(1, min(max_batch, MAX_MESSAGES_PER_PULL))
        self.retry_backoff_s = retry_backoff_s
        self.clock = clock
        self.linger_s = min(max(0.0, linger_s), budget_s)
        self.poll_s = poll_s
        self.sleep = sleep
        self._lock = threading.Lock()  # one drain at a time per instance

    def handle(self, request: IncomingRequest) -> Reply:
        if request.path.rstrip("/") != "/drain":
            return self.forwarder.handle_push(request)
        if request.method != "POST":
            return error_reply(405, "method_not_allowed", "a drain is a POST")
        with logs.request_context(request.headers):
            if not self._lock.acquire(blocking=False):
                return Reply(200, {"stopped": "already_draining"})
            try:
                report = self.drain()
            finally:
                self._lock.release()
        status = 503 if report.stopped == "queue_error" else 200
        return Reply(status, asdict(report))

    def drain(self) -> DrainReport:
        report = DrainReport()
        start = self.clock()
        end = start + self.budget_s
        linger_end = start + self.linger_s
        while True:
            if self.clock() >= end:
                report.stopped = "budget"
                break
            try:
                pulled, emptied = self._pull()
            except QueueError as exc:
                logs.error("drain: pull failed", error=str(exc)[:300])
                report.stopped = "queue_error"
                break
            if pulled:
                try:
                    acked = self._settle_batch(pulled, report)
                except QueueError as exc:
                    logs.error("drain: ack failed; the messages come back", error=str(exc)[:300])
                    report.stopped = "queue_error"
                    break
                if not acked:
                    report.stopped = "transient"
                    break
            if emptied:
                now = self.clock()
                if now + self.poll_s < linger_end:
                    self.sleep(self.poll_s)  # lingering: look again in a second
                    continue
                report.stopped = "empty"
                break
        logs.info("drain finished", **asdict(report))
        return report

    def _pull(self) -> tuple[list[Pulled], bool]:
        """Messages for one batch, and whether the subscription looked empty."""
        held: list[Pulled] = []
        while len(held) < self.max_batch:
            more = self.subscription.pull(self.max_batch - len(held))
            if not more:
                return held, True
            held += more
        return held, False

    def _settle_batch(self, pulled: list[Pulled], report: DrainReport) -> int:
        report.pulled += len(pulled)
        report.batches += 1
        deliveries = [
            Delivery(
                p.message, message_id=p.message_id, attempt=p.attempt, published_at=p.published_at
            )
            for p in pulled
        ]
        with _DeadlineKeeper(self.subscription, [p.ack_id for p in pulled], self.ack_deadline_s):
            decisions = self.forwarder.process_many(deliveries)
        done = [p.ack_id for p, d in zip(pulled, decisions, strict=True) if d is Decision.ACK]
        again: dict[int, list[str]] = {}
        for p, d in zip(pulled, decisions, strict=True):
            if d is Decision.RETRY:
                again.setdefault(retry_delay(p.attempt, *self.retry_backoff_s), []).append(p.ack_id)
        if done:
            self.subscription.ack(done)
        for delay, ids in sorted(again.items()):
            self.subscription.extend(ids, delay)
        report.acked += len(done)
        report.retried += sum(len(ids) for ids in again.values())
        return len(done)
