"""Click ids (META-RULES §5): validate ``fbc``/``fbp`` and build ``fbc`` from ``fbclid``.

``fbc`` = ``fb.{subdomain_index}.{creation_time_ms}.{fbclid}``, ``fbp`` =
``fb.{subdomain_index}.{creation_time_ms}.{random}``; Meta's parameter builder appends a fifth
segment to both, so four or five dot-separated segments are accepted. A malformed ``fbc`` makes
Meta reject the event (subcode 2804001) and with it the whole batch, so it is dropped instead.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from capi.meta.rules import FBCLID_PARAM, SERVER_SUBDOMAIN_INDEX

__all__ = ["add_fbc", "fbc_from_url", "fbclid_of", "is_valid_fbc", "is_valid_fbp"]

# fb . subdomain index . creation time (ms) . payload [. appendix]; printable ASCII, no dots.
_SEGMENT = r"[\x21-\x2d\x2f-\x7e]+"
_CLICK_ID = re.compile(rf"fb\.\d{{1,2}}\.\d{{1,16}}\.{_SEGMENT}(?:\.{_SEGMENT})?")
_CLICK_ID_PAYLOAD = re.compile(_SEGMENT)


def is_valid_fbc(value: Any) -> bool:
    """True for ``fb.<subdomain index>.<creation time ms>.<fbclid>`` with an optional fifth
    segment (META-RULES §5)."""
    return isinstance(value, str) and _CLICK_ID.fullmatch(value) is not None


def is_valid_fbp(value: Any) -> bool:
    """True for ``fb.<subdomain index>.<creation time ms>.<random>`` with an optional fifth
    segment (META-RULES §5)."""
    return isinstance(value, str) and _CLICK_ID.fullmatch(value) is not None


def fbclid_of(fbc: Any) -> str | None:
    """The fbclid carried by a well-formed ``fbc``, else None."""
    if not is_valid_fbc(fbc):
        return None
    return fbc.split(".", 4)[3]


def _fbclid_from_url(url: Any) -> str | None:
    if not isinstance(url, str) or FBCLID_PARAM not in url:
        return None
    try:
        query = urlsplit(url.strip()).query
    except ValueError:
        return None
    for name, value in parse_qsl(query):
        if name == FBCLID_PARAM:
            return value if value and _CLICK_ID_PAYLOAD.fullmatch(value) else None
    return None


def fbc_from_url(url: str, now_ms: int) -> str | None:
    """``fb.1.{now_ms}.{fbclid}`` from the first ``fbclid`` query parameter of ``url``, or None.

    The fbclid is case-sensitive and kept unmodified (only URL-decoded, as a browser would);
    one that is empty or could not sit in an fbc (a dot, a space) gives None. Subdomain index 1
    is what Meta prescribes for an fbc built server-side.
    """
    fbclid = _fbclid_from_url(url)
    if fbclid is None or isinstance(now_ms, bool) or not isinstance(now_ms, int) or now_ms <= 0:
        return None
    return f"fb.{SERVER_SUBDOMAIN_INDEX}.{now_ms}.{fbclid}"


def add_fbc(event: dict, now_ms: int) -> dict:
    """The event with ``user_data.fbc`` built from the ``fbclid`` of ``event_source_url`` when
    there is no valid ``fbc`` or the given one carries a different fbclid (META-RULES.md section
    5): a new event then; otherwise the event itself, unchanged (no copy: an event is shaped
    once). The input is never mutated.

    ``now_ms`` is the cookie's creation time: the caller should pass the event's own time
    (``event_time * 1000``) so that the fbc never postdates the event and the result is the
    same however often the event is prepared.
    """
    if not isinstance(event, dict):
        return event
    user_data = event.get("user_data")
    if user_data is not None and not isinstance(user_data, dict):
        return event
    fbc = fbc_from_url(event.get("event_source_url"), now_ms)  # type: ignore[arg-type]
    if fbc is None:
        return event
    current = (user_data or {}).get("fbc")
    if fbclid_of(current) == fbc.split(".", 3)[3]:
        return event
    return {**event, "user_data": {**(user_data or {}), "fbc": fbc}}
