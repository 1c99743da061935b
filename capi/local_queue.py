"""The embedded queue of `capi serve`: Pub/Sub's behaviour in one process, no cloud needed.

Messages are handed to the forwarder by worker threads; a retry is redelivered after an
exponential backoff (like the push subscription's retry policy), and after `max_attempts`
the forwarder dead-letters it with the reason. Dead letters go to a JSON Lines file.
"""

from __future__ import annotations

import base64
import heapq
import itertools
import json
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from capi import logs
from capi.forward import Decision, Delivery, Forwarder
from capi.queue import Message, PublishError


class FileDeadLetters:
    """A dead-letter 'topic' that appends each message to a JSON Lines file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def publish_all(self, messages: Sequence[Message]) -> list[str]:
        lines = [
            json.dumps(
                {
                    "data": base64.b64encode(m.data).decode("ascii"),
                    "attributes": m.attributes,
                }
            )
            for m in messages
        ]
        try:
            with self._lock, self.path.open("a", encoding="utf-8") as f:
                f.write("".join(line + "\n" for line in lines))
        except OSError as exc:
            raise PublishError(f"could not write {self.path}: {exc.strerror}") from exc
        return [str(i) for i in range(len(lines))]


class LocalQueue:
    def __init__(
        self,
        *,
        workers: int = 2,
        max_attempts: int = 5,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
    ) -> None:
        self.forwarder: Forwarder | None = None
        self.workers = workers
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._heap: list[tuple[float, int, Delivery]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._busy = 0
        self._stopping = False
        self._threads: list[threading.Thread] = []

    def attach(self, forwarder: Forwarder) -> None:
        forwarder.max_delivery_attempts = self.max_attempts
        self.forwarder = forwarder

    def publish_all(self, messages: Sequence[Message]) -> list[str]:
        if self._stopping:
            raise PublishError("the local queue is shutting down")
        ids = []
        with self._cond:
            for message in messages:
                seq = next(self._seq)
                delivery = Delivery(message, message_id=f"local-{seq}", attempt=1)
                heapq.heappush(self._heap, (time.monotonic(), seq, delivery))
                ids.append(delivery.message_id)
            self._cond.notify_all()
        return ids

    def start(self) -> None:
        if self.forwarder is None:
            raise RuntimeError("attach a forwarder before starting the queue")
        for i in range(self.workers):
            thread = threading.Thread(target=self._work, name=f"capi-queue-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _next(self) -> Delivery | None:
        with self._cond:
            while True:
                if self._stopping and not self._heap:
                    return None
                if self._heap:
                    ready_at = self._heap[0][0]
                    wait = ready_at - time.monotonic()
                    if wait <= 0:
                        self._busy += 1
                        return heapq.heappop(self._heap)[2]
                    self._cond.wait(wait)
                else:
                    self._cond.wait()

    def _work(self) -> None:
        assert self.forwarder is not None
        while (delivery := self._next()) is not None:
            try:
                decision = self.forwarder.process(delivery)
            except Exception as exc:  # a bug must not kill the worker or lose the message
                logs.error("forwarder raised; message will be retried", error=repr(exc)[:300])
                decision = Decision.RETRY
            with self._cond:
                self._busy -= 1
                if decision is Decision.RETRY:
                    delay = min(self.backoff_s * 2 ** (delivery.attempt - 1), self.max_backoff_s)
                    delivery.attempt += 1
                    heapq.heappush(
                        self._heap, (time.monotonic() + delay, next(self._seq), delivery)
                    )
                self._cond.notify_all()

    def drain(self, timeout_s: float = 30.0) -> bool:
        """Wait until nothing is queued or in flight; False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._heap or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.1))
        return True

    def stop(self, timeout_s: float = 10.0) -> None:
        """Finish what is queued (up to the timeout), then stop the workers."""
        self.drain(timeout_s)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout=1.0)
