"""Group commit: the messages of concurrent publish calls share one Publish RPC.

Each ingest request publishes its events and waits for Pub/Sub's answer before it answers 202.
One RPC per request costs about 1.2 ms of CPU in the client (docs/PERFORMANCE.md), whatever it
carries. Under load, requests that arrive while RPCs are in flight wait and leave together in the
next one, the way a database commits the transactions that queued behind a disk write.

What a call's answer means does not change:
- a call's messages travel in ONE RPC, never split, and Pub/Sub applies a Publish request all or
  nothing: a call that fails published nothing of its own, so the caller's 503 stays true;
- a call sends at once when fewer than `max_inflight` RPCs are in flight; otherwise it queues, and
  the next thread to find a free slot sends everything queued that fits in one request, oldest
  first (a call waits at most for one RPC in flight to end);
- a queued call whose deadline passes before an RPC takes it is withdrawn and fails: nothing of it
  was sent;
- an RPC's deadline, retries included, is the earliest deadline of the calls in it, so no call's
  messages are published after that call gave up.

The cost of sharing: when an RPC fails, every call in it fails (each caller retries its own
request; none was half-published).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

from capi.errors import PublishError
from capi.queueing.messages import Message

# (messages, seconds left) -> one message id per message, in order; raises PublishError.
SendRpc = Callable[[list[Message], float], Sequence[str]]

_QUEUED, _SENT, _DONE = 0, 1, 2


class _Call:
    __slots__ = ("deadline", "error", "ids", "messages", "size", "state")

    def __init__(self, messages: Sequence[Message], size: int, deadline: float) -> None:
        self.messages = messages
        self.size = size
        self.deadline = deadline
        self.state = _QUEUED
        self.ids: list[str] = []
        self.error: PublishError | None = None


class GroupCommit:
    """Shares Publish RPCs between concurrent calls (thread-safe; one per topic).

    `max_inflight`: how many RPCs run at once; 0 means no limit (every call sends its own RPC at
    once, as without grouping). `max_messages` and `max_bytes` bound one RPC (Pub/Sub's limits);
    every single call must fit them (the publisher checks that before calling).
    """

    def __init__(
        self,
        send: SendRpc,
        *,
        max_inflight: int,
        max_messages: int,
        max_bytes: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._send = send
        self._max_inflight = max_inflight
        self._max_messages = max_messages
        self._max_bytes = max_bytes
        self._clock = clock
        self._cond = threading.Condition()
        self._queue: deque[_Call] = deque()
        self._inflight = 0
        self.rpcs = 0  # RPCs sent so far, and the calls they carried (for benchmarks and tests)
        self.calls = 0

    def publish(self, messages: Sequence[Message], size: int, timeout_s: float) -> list[str]:
        """Publish `messages` (about `size` bytes) in one RPC, shared or not; their ids, in order.
        Raises PublishError when they were not all accepted within `timeout_s`."""
        call = _Call(messages, size, self._clock() + timeout_s)
        with self._cond:
            self._queue.append(call)
            while call.state != _DONE:
                if call.state == _QUEUED:
                    if not self._max_inflight or self._inflight < self._max_inflight:
                        self._lead()
                        continue
                    left = call.deadline - self._clock()
                    if left <= 0:
                        self._queue.remove(call)
                        raise _expired()
                    self._cond.wait(left)
                else:
                    # In an RPC that ends by the earliest deadline of its calls; the bound only
                    # guards against a wake-up that never comes.
                    self._cond.wait(max(call.deadline - self._clock(), 0.0) + 1.0)
        if call.error is not None:
            # A fresh error per caller: the calls of one RPC share its cause.
            raise PublishError(call.error.message) from call.error
        return call.ids

    def _take_group(self) -> list[_Call]:
        """The oldest queued calls that fit in one RPC (called with the lock held)."""
        now = self._clock()
        group: list[_Call] = []
        count = size = 0
        while self._queue:
            call = self._queue[0]
            if call.deadline <= now:
                self._queue.popleft()
                call.state, call.error = _DONE, _expired()
                continue
            if group and (
                count + len(call.messages) > self._max_messages
                or size + call.size > self._max_bytes
            ):
                break
            self._queue.popleft()
            call.state = _SENT
            group.append(call)
            count += len(call.messages)
            size += call.size
        return group

    def _lead(self) -> None:
        """Send one RPC for the oldest queued calls (entered and left with the lock held; the
        lock is released while the RPC runs)."""
        group = self._take_group()
        if not group:
            self._cond.notify_all()  # expired calls were withdrawn
            return
        self._inflight += 1
        self.rpcs += 1
        self.calls += len(group)
        messages = [m for call in group for m in call.messages]
        error: PublishError | None = PublishError("publish interrupted; nothing was confirmed")
        ids: list[str] = []
        self._cond.release()
        try:
            left = min(call.deadline for call in group) - self._clock()
            ids = list(self._send(messages, left))
            if len(ids) != len(messages):
                error = PublishError(
                    f"Pub/Sub answered {len(ids)} message ids for {len(messages)} messages"
                )
            else:
                error = None
        except PublishError as exc:
            error = exc
        finally:
            self._cond.acquire()
            self._inflight -= 1
            start = 0
            for call in group:
                call.state = _DONE
                if error is None:
                    call.ids = ids[start : start + len(call.messages)]
                    start += len(call.messages)
                else:
                    call.error = error
            self._cond.notify_all()


def _expired() -> PublishError:
    return PublishError("the publish did not start within its timeout; nothing was sent")
