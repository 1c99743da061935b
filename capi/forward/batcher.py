"""One Graph request for the events of concurrent pushes (issue 15).

Pub/Sub push delivers one message per HTTP request, and the forwarder serves many requests at
once (Cloud Run concurrency, gunicorn threads). Each push hands its prepared event to
:meth:`Batcher.send` and waits: the first push for a (pixel, token, test code) opens a batch,
waits `window_s` (or until `max_events` joined), then sends one Graph request for all of them
and answers every waiting push with its own event's result.

It waits only while at least `min_inflight` other pushes of the same key are in flight in this
instance (in a batch, or at Meta): that is the sign of traffic that will fill a batch. With A
pushes in flight, each lasting about the Graph answer L plus the window W, about A x W / (L + W)
join in the window (Little's law): with 4 in flight, 100 ms and 150 ms, 1.6 others. Fewer
pushes in flight mean a batch of one or two, and the wait would only cost: when Pub/Sub pushes
a few messages at a time (as its emulator does), every wait lowers the throughput. A quiet relay
sends at once, adds no delay and no billable instance time (docs/PERFORMANCE.md, the cost
model); under load every push finds others and batches form.

The results:

- delivered, only when Meta counted every event (``events_received``, capi.meta.graph): every
  push acks;
- transient (network, 5xx, throttling, a count that does not match), token or configuration
  errors: every push gets that result (they concern the request, not one event);
- rejected, when the batch held more than one event: Meta names no event, so each push sends its
  own event alone, in its own thread, at once (all in parallel): the offending events are
  rejected alone and the good ones delivered; no good event is retried or dead-lettered for
  another's fault. A batch of one is the old single-event request.
- a 2xx whose `events_received` is not the number sent (`GraphResult.miscounted`): Meta counted
  some events and not others and does not say which, so the batch is split the same way: each
  event is sent alone once, and only those that fail alone are retried. The events Meta had
  counted reach it twice with the same event_id and event_name, which Meta deduplicates;
  retrying the whole batch through Pub/Sub would resend them all on every attempt instead.

Each push also gets the events its answer was about (`Sent.batch`): Meta's text for a batch
may quote any of them, so the forwarder redacts it with the values of every one.

The window adds at most `window_s` to a delivery (capi/config.py counts it in the worst case);
`window_s` 0 turns batching off.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from capi.meta.answers import Outcome
from capi.meta.graph import GraphResult

MAX_WINDOW_S = 1.0  # the delivery budget's margin covers at most this much waiting


@dataclass
class _Slot:
    event: dict[str, Any]
    done: threading.Event = field(default_factory=threading.Event)
    result: GraphResult | None = None
    alone: bool = False  # the batch was rejected: send this event by itself


@dataclass
class _Batch:
    slots: list[_Slot] = field(default_factory=list)
    full: threading.Event = field(default_factory=threading.Event)
    closed: bool = False


class Sent(NamedTuple):
    """What one push's event got: Meta's result, whether it was sent alone after its batch was
    rejected or miscounted, and the events of the request that result answers."""

    result: GraphResult
    alone: bool
    batch: tuple[dict[str, Any], ...]


class Batcher:
    """Thread-safe; one per forwarder. `graph` is a capi.meta.graph.GraphClient (or a stand-in
    with its `send`)."""

    def __init__(
        self,
        graph: Any,
        *,
        window_s: float = 0.1,
        max_events: int = 1000,
        min_inflight: int = 4,
    ) -> None:
        self.graph = graph
        self.window_s = max(0.0, min(window_s, MAX_WINDOW_S))
        self.max_events = max(1, max_events)
        self.min_inflight = max(1, min_inflight)
        self._open: dict[tuple[str, str, str], _Batch] = {}
        self._active: dict[tuple[str, str, str], int] = {}  # pushes in send(), per key
        self._lock = threading.Lock()

    def send(
        self, pixel_id: str, token: str, event: dict[str, Any], *, test_event_code: str = ""
    ) -> Sent:
        """This event's result, whether it was sent alone, and the events it was sent with."""
        if self.window_s == 0:
            result = self.graph.send(pixel_id, token, [event], test_event_code=test_event_code)
            return Sent(result, False, (event,))
        key = (pixel_id, token, test_event_code)
        slot = _Slot(event)
        with self._lock:
            others = self._active.get(key, 0)
            self._active[key] = others + 1
            batch = self._open.get(key)
            leader = batch is None
            if batch is None:
                batch = self._open[key] = _Batch()
            batch.slots.append(slot)
            if len(batch.slots) >= self.max_events:
                self._close(key, batch)
        try:
            if leader:
                if others >= self.min_inflight:  # traffic: give the others the window to join
                    batch.full.wait(self.window_s)
                with self._lock:
                    self._close(key, batch)
                self._flush(pixel_id, token, test_event_code, batch.slots)
            slot.done.wait()
            if slot.alone:
                alone = self.graph.send(pixel_id, token, [event], test_event_code=test_event_code)
                return Sent(alone, True, (event,))
            assert slot.result is not None
            return Sent(slot.result, False, tuple(s.event for s in batch.slots))
        finally:
            with self._lock:
                left = self._active[key] - 1
                if left:
                    self._active[key] = left
                else:
                    del self._active[key]

    def _close(self, key: tuple[str, str, str], batch: _Batch) -> None:
        """Under the lock: no event joins `batch` any more."""
        if not batch.closed:
            batch.closed = True
            if self._open.get(key) is batch:
                del self._open[key]
            batch.full.set()

    def _flush(self, pixel_id: str, token: str, code: str, slots: list[_Slot]) -> None:
        result: GraphResult | None = None
        try:
            result = self.graph.send(
                pixel_id, token, [s.event for s in slots], test_event_code=code
            )
        except Exception as exc:  # never leave a push waiting: a bug is a transient failure
            result = GraphResult(Outcome.TRANSIENT, network_error=type(exc).__name__)
        finally:
            if result is None:
                result = GraphResult(Outcome.TRANSIENT, network_error="batch not sent")
            split = result.outcome is Outcome.REJECTED or result.miscounted
            alone = split and len(slots) > 1
            for slot in slots:
                slot.result = result
                slot.alone = alone
                slot.done.set()
