"""A queue in memory: the `Publisher` tests and local trials use instead of Pub/Sub (as httpx ships
`MockTransport`: a real implementation of the seam, not a fake per test).

It keeps every message it is given, in order, and answers each call with ids as Pub/Sub would;
`fail` (or `fail_next`) makes calls raise PublishError, as a queue that is down does: nothing of
such a call is kept.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from typing import Any

from capi.errors import PublishError
from capi.queueing.messages import Message


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
