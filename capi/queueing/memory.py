"""A queue in memory: the `Publisher` tests and local trials use instead of Pub/Sub (as httpx ships
`MockTransport`: a real implementation of the seam, not a fake per test).

`InMemorySubscription` is the pull side, for the draining forwarder.

`InMemoryPublisher` keeps every message it is given, in order, and answers each call with ids as
Pub/Sub would; `fail` (or `fail_next`) makes calls raise PublishError, as a queue that is down
does: nothing of such a call is kept.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from capi.errors import PublishError, QueueError
from capi.queueing.messages import Message
from capi.queueing.pull import Pulled


class InMemoryPublisher:
    """Thread-safe."""

    def __init__(self, *, fail: bool = False) -> None:
        self.messages: list[Message] = []
        self.fail = fail  # every call fails while True
        self.calls = 0
        self._fail_next = 0
        self._lock = threading.Lock()

    def fail_next(self, n: int = 1) -> None:
        """The next `n` calls fail."""
        with self._lock:
            self._fail_next += n

    def publish_all(self, messages: Sequence[Message]) -> list[str]:
        with self._lock:
            self.calls += 1
            if self.fail or self._fail_next:
                self._fail_next = max(0, self._fail_next - 1)
                raise PublishError("the in-memory queue is set to fail")
            first = len(self.messages)
            self.messages.extend(messages)
            return [str(first + i) for i in range(len(messages))]

    def events(self) -> list[Any]:
        """The data of every message kept, decoded from JSON."""
        with self._lock:
            return [json.loads(m.data) for m in self.messages]


class InMemorySubscription:
    """A pull subscription in memory (capi.queueing.pull's `Subscription`): messages are leased by
    `pull` until their ack deadline, given back by `extend(ids, 0)` or when the deadline passes,
    gone when acked. `clock` is injectable, so tests move time instead of waiting. Thread-safe."""

    def __init__(
        self, *, ack_deadline_s: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ack_deadline_s = ack_deadline_s
        self.clock = clock
        self.pulls = 0
        self.fail_pulls = False  # every pull raises QueueError while True
        self._next = 0
        self._queued: dict[str, tuple[Message, int]] = {}  # message id -> (message, attempts)
        self._leases: dict[str, tuple[str, float]] = {}  # ack id -> (message id, until)
        self._lock = threading.Lock()

    def publish_all(self, messages: Sequence[Message]) -> list[str]:
        with self._lock:
            ids = []
            for message in messages:
                self._next += 1
                ids.append(str(self._next))
                self._queued[ids[-1]] = (message, 0)
            return ids

    def __len__(self) -> int:
        """Messages not acked yet."""
        with self._lock:
            return len(self._queued)

    def pull(self, max_messages: int) -> list[Pulled]:
        with self._lock:
            self.pulls += 1
            if self.fail_pulls:
                raise QueueError("the in-memory subscription is set to fail")
            now = self.clock()
            leased = {mid for mid, until in self._leases.values() if until > now}
            out = []
            for message_id, (message, attempts) in self._queued.items():
                if len(out) >= max_messages:
                    break
                if message_id in leased:
                    continue
                self._queued[message_id] = (message, attempts + 1)
                self._next += 1
                ack_id = f"ack-{self._next}"
                self._leases[ack_id] = (message_id, now + self.ack_deadline_s)
                out.append(Pulled(ack_id, message, message_id, attempts + 1, None))
            return out

    def ack(self, ack_ids: Sequence[str]) -> None:
        with self._lock:
            for ack_id in ack_ids:
                lease = self._leases.pop(ack_id, None)
                if lease is not None:
                    self._queued.pop(lease[0], None)

    def extend(self, ack_ids: Sequence[str], seconds: int) -> None:
        with self._lock:
            now = self.clock()
            for ack_id in ack_ids:
                lease = self._leases.get(ack_id)
                if lease is not None:
                    self._leases[ack_id] = (lease[0], now + seconds)
