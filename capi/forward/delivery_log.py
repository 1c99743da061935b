"""The forwarder's delivery lines: one `events delivered` line per Graph request, not one per event.

A drained request carries up to 1,000 events, and a line per event cost more in Cloud Logging than
everything else the relay runs (docs/PERFORMANCE.md, "Cost model"). The line carries what the
log-based metrics and the dashboard read, and what `capi audit` and `capi serve`'s page need:

- `events`: how many events the line settles as delivered (the `delivered_events` metric is a
  distribution of it; its sum is the count of delivered events);
- `event_ids`: their ids by event name, so an event can still be found by its id and the audit
  counts each event once. A line holds at most about 60 KB of ids: more, and the request is
  written as several lines, each with its own `events`;
- `latency_ms`: publish to Meta's answer for the oldest event of the line, and
  `latency_ms_newest` for the newest (the dashboard's latency chart reads the oldest);
- `sources`: events per source; `retried`: events on their second or later attempt;
  Meta's `fbtrace_id` and its messages (already redacted).

Per-event lines stay for what needs attention (dead letters, transient failures) and for a sample
of delivered events (`event delivered`, CAPI_DELIVERED_LOG_SAMPLE, 1% by default) with each
event's match keys and grade.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, NamedTuple

from capi import logs

DELIVERED_MESSAGE = "events delivered"  # one per Graph request (or per push)
SAMPLED_MESSAGE = "event delivered"  # one per sampled delivered event
IDS_BYTES_PER_LINE = 60_000  # Cloud Logging takes entries up to 256 KB
ID_CHARS = 200  # an id longer than this is written cut


class Delivered(NamedTuple):
    """One delivered event, as its request's line counts it."""

    event_id: str
    event_name: str
    source: str
    published_at: float | None
    attempt: int


def log_delivered(
    pixel: str,
    events: Sequence[Delivered],
    *,
    now: float,
    fbtrace_id: str = "",
    meta_messages: Sequence[str] = (),
) -> int:
    """Write the `events delivered` line(s) of one Graph request; returns how many lines."""
    lines = 0
    for part in _parts(events):
        ids: dict[str, list[str]] = {}
        for event in part:
            ids.setdefault(event.event_name or "", []).append(event.event_id[:ID_CHARS])
        fields: dict[str, Any] = {
            "outcome": "delivered",
            "pixel_id": pixel,
            "events": len(part),
            "event_ids": ids,
            "sources": dict(Counter(event.source for event in part)),
            "retried": sum(1 for event in part if event.attempt > 1),
            "fbtrace_id": fbtrace_id,
        }
        published = [e.published_at for e in part if e.published_at is not None]
        if published:
            fields["latency_ms"] = round(max(0.0, now - min(published)) * 1000, 1)
            fields["latency_ms_newest"] = round(max(0.0, now - max(published)) * 1000, 1)
        if meta_messages:
            fields["meta_messages"] = list(meta_messages)
        logs.info(DELIVERED_MESSAGE, **fields)
        lines += 1
    return lines


def _parts(events: Sequence[Delivered]) -> list[Sequence[Delivered]]:
    """The events cut where their ids would pass IDS_BYTES_PER_LINE."""
    parts: list[Sequence[Delivered]] = []
    start, size = 0, 0
    for index, event in enumerate(events):
        cost = len(event.event_id[:ID_CHARS].encode("utf-8", "surrogatepass")) + 4
        if size + cost > IDS_BYTES_PER_LINE and index > start:
            parts.append(events[start:index])
            start, size = index, 0
        size += cost
    if start < len(events):
        parts.append(events[start:])
    return parts
