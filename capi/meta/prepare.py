"""The last step before an event is POSTed to Meta: a Meta-ready copy of the event.

``prepare_event`` is idempotent: preparing its own output changes nothing (hashes pass through,
the fbc is only built when missing or carrying another fbclid, event_time is already an int).
"""

from __future__ import annotations

import math
from typing import Any

from capi.meta import rules
from capi.meta.click_ids import add_fbc
from capi.meta.problems import Problem, not_an_object
from capi.meta.user_data import prepare_user_data

__all__ = ["event_time_seconds", "prepare_event", "sender_seconds"]


def event_time_seconds(value: Any) -> int | None:
    """``event_time`` as an integer number of seconds when it is a finite number or a string of
    digits (Meta wants an integer), else None. Milliseconds are not converted here: validation
    rejects them with an explanation."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else None
    if isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.isdigit() and len(text) < 20:
            return int(text)
    return None


def sender_seconds(seconds: int) -> int:
    """A sender's own timestamp, which may be milliseconds (GA4's getTimestampMillis(), a mapped
    webhook's `timestamp` type), as Unix seconds. Only adapters call it, for formats that are
    milliseconds by their sender's documentation; `/events` takes Meta's field, seconds, and
    answers milliseconds with an error saying so (META-RULES §2)."""
    return seconds // 1000 if seconds >= rules.MILLISECONDS_FROM else seconds


def prepare_event(
    event: dict, *, default_country: str = "", date_order: str = ""
) -> tuple[dict, list[Problem]]:
    """A new event dict, ready for Meta, and the warnings about what was dropped.

    - ``user_data`` is replaced by :func:`capi.meta.user_data.prepare_user_data`'s output
      (normalized and hashed; invalid values dropped with a warning);
    - ``user_data.fbc`` is built from an ``fbclid`` in ``event_source_url`` when there is none
      or it carries another fbclid (META-RULES §5), with the event's own time as the
      creation time, so that the result is stable;
    - ``event_time`` given as a float or a string of digits becomes an int;
    - every other field is kept as is (the copy is shallow: nested objects other than
      ``user_data`` are shared with the input, which is never mutated).

    A non-dict event gives ``({}, [Problem("", ...)])``. Never raises.
    """
    if not isinstance(event, dict):
        return {}, [not_an_object(event)]
    result = dict(event)
    seconds = event_time_seconds(event.get("event_time"))
    if seconds is not None and type(event.get("event_time")) is not int:
        result["event_time"] = seconds
    if seconds is not None and 0 < seconds < rules.MILLISECONDS_FROM:
        result = add_fbc(result, seconds * 1000)
    if "user_data" not in result:
        return result, []
    user_data, problems = prepare_user_data(
        result["user_data"], default_country=default_country, date_order=date_order
    )
    result["user_data"] = user_data
    return result, problems
