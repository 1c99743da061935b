"""Turning a request body into a list of caller events, with limits and clear errors.

Accepted shapes (ARCHITECTURE.md, "Ingest HTTP API"): a Meta body
`{"data": [...], "test_event_code"?}`,
a single event object, or a JSON array of events. Strict JSON: no NaN/Infinity, no duplicate keys,
bounded nesting. A caller's `access_token`, in the body or in an event, is dropped here, before
anything is stored or logged (and capi.meta.contract drops it again for every other way in).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from capi.errors import BodyError
from capi.meta import rules
from capi.meta.problems import Problem

try:  # a C JSON parser, used where it is exactly equivalent (parse_json); optional
    import orjson
except ImportError:  # pragma: no cover - the relay stays exact and only slower without it
    orjson = None

MAX_EVENTS_PER_REQUEST = rules.MAX_EVENTS_PER_REQUEST  # Meta's own limit for one request
MAX_DEPTH = 32
MAX_STRING_LENGTH = 16_384  # far above any Meta field; a longer string is a mistake or an attack
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass
class Batch:
    events: list[Any]
    test_event_code: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # other body-level fields, e.g. pixel_id
    # What a source adapter could not map, per event index: reported in that event's result
    # beside the contract's own warnings, so nothing a caller sent is dropped without a word.
    notes: dict[int, list[Problem]] = field(default_factory=dict)


def is_json_content_type(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and "+json" in media)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise BodyError(400, "duplicate_key", f"duplicate key {key!r} in a JSON object")
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise BodyError(400, "invalid_json", f"{name} is not valid JSON; send numbers or null")


def _bad_text(text: str) -> bool:
    """True for a string that is not valid Unicode (a lone surrogate from a \\uD800 escape)."""
    return not text.isascii() and _SURROGATE.search(text) is not None


def _path(parts: tuple[str | int, ...]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(body)"


def _check_structure(
    value: Any, long_strings: frozenset[tuple[str | int, ...]] = frozenset()
) -> None:
    """Bounded nesting and string length (but for the strings at `long_strings` paths), and
    only valid Unicode in keys and strings (so that everything accepted can be re-encoded for
    the queue). Errors name the path, not the value."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        item, path = stack.pop()
        if len(path) >= MAX_DEPTH:
            raise BodyError(400, "too_deep", f"JSON nested deeper than {MAX_DEPTH} levels")
        if isinstance(item, str):
            if len(item) > MAX_STRING_LENGTH and path not in long_strings:
                raise BodyError(
                    400,
                    "string_too_long",
                    f"{_path(path)} is {len(item)} characters long; the limit is "
                    f"{MAX_STRING_LENGTH}",
                )
            if _bad_text(item):
                raise BodyError(
                    400, "invalid_unicode", f"{_path(path)} holds an unpaired surrogate"
                )
        elif isinstance(item, float) and not math.isfinite(item):
            # 1e999 parses as infinity without calling parse_constant: refuse it like NaN.
            raise BodyError(
                400,
                "non_finite_number",
                f"{_path(path)} is a number too large to represent (JSON has no Infinity); "
                "send a finite number",
            )
        elif isinstance(item, dict):
            for key, child in item.items():
                if _bad_text(key) or len(key) > MAX_STRING_LENGTH:
                    raise BodyError(400, "invalid_key", f"a key in {_path(path)} is not usable")
                stack.append((child, (*path, key)))
        elif isinstance(item, list):
            stack.extend((child, (*path, i)) for i, child in enumerate(item))


_UNSURE = object()
_BIG = 9.2e18  # below 2**63: orjson turns an integer beyond 64 bits into a float at least this big


def _expected_colons(value: Any) -> int | None:
    """For a value orjson parsed: how many ':' its JSON text holds if no object had a duplicate
    key (one per key, plus those inside keys and strings); None when the value might differ
    from what the strict parser below gives or refuses (too deep, a string too long, a float
    that may have been an integer beyond 64 bits)."""
    kind = type(value)
    if kind is str:
        return value.count(":") if len(value) <= MAX_STRING_LENGTH else None
    if kind is not dict and kind is not list:
        return None if kind is float and not -_BIG < value < _BIG else 0
    expected = 0
    stack: list[tuple[Any, int]] = [(value, 1)]  # containers, with the depth of their children
    while stack:
        item, depth = stack.pop()
        if depth >= MAX_DEPTH and item:  # a child this deep: the strict parser refuses it
            return None
        if type(item) is dict:
            expected += len(item)
            children = item.values()
            for key in item:
                if len(key) > MAX_STRING_LENGTH:
                    return None
                expected += key.count(":")
        else:
            children = item
        for child in children:
            kind = type(child)
            if kind is str:
                if len(child) > MAX_STRING_LENGTH:
                    return None
                expected += child.count(":")
            elif kind is dict or kind is list:
                stack.append((child, depth + 1))
            elif kind is float and not -_BIG < child < _BIG:
                return None
    return expected


def _parse_fast(text: str) -> Any:
    """The value of `text` by orjson, or _UNSURE when the strict parser must decide. orjson
    itself refuses NaN, Infinity, numbers too large for a double, lone surrogates and invalid
    JSON (the strict parser then gives its own error). What it would accept silently is caught
    here: a duplicate key keeps one entry, so the object holds fewer keys than the text has
    separators (a ':' written as an escape is sent to the strict parser, so the count is
    exact); an integer beyond 64 bits becomes a float. tests/unit/test_body_fast.py compares
    both parsers on generated documents."""
    if "\\u003" in text:  # a ':' may be written as \u003a: the colon count would not hold
        return _UNSURE
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return _UNSURE
    colons = text.count(":")
    if (
        len(text) <= MAX_STRING_LENGTH  # then no string in it is too long
        and text.count("{") + text.count("[") < MAX_DEPTH  # nor nested too deep
    ):
        # The usual event: orjson writes the value back, in C, with one ':' per key and the
        # ':'s inside keys and strings; a duplicate key makes it fewer than the text's. A float
        # from an integer beyond 64 bits is written with an exponent ("e+"): the walk decides.
        written = orjson.dumps(value)
        if b"e+" not in written:
            return value if written.count(b":") == colons else _UNSURE
    expected = _expected_colons(value)
    if expected is None or colons != expected:
        return _UNSURE
    return value


def parse_json(body: bytes, *, long_strings: frozenset[tuple[str | int, ...]] = frozenset()) -> Any:
    """Strict JSON from bytes, or BodyError(400). `long_strings`: the paths whose string may
    be longer than MAX_STRING_LENGTH (a JSON document inside a string, parsed in its turn)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyError(400, "invalid_utf8", f"body is not UTF-8 (byte {exc.start})") from None
    if orjson is not None:
        value = _parse_fast(text)
        if value is not _UNSURE:
            return value
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise BodyError(
            400, "invalid_json", f"body is not JSON: {exc.msg} at line {exc.lineno} col {exc.colno}"
        ) from None
    except RecursionError:
        raise BodyError(400, "too_deep", f"JSON nested deeper than {MAX_DEPTH} levels") from None
    except BodyError:
        raise
    except ValueError:
        # Python's limit on integer digits (4,300) raises a plain ValueError while parsing.
        raise BodyError(
            400, "invalid_json", "body is not usable JSON: a number has too many digits"
        ) from None
    _check_structure(value, long_strings)
    return value


def drop_tokens(event: dict[str, Any]) -> dict[str, Any]:
    """The event without a caller's `access_token`: it is never stored, queued, printed or sent
    (the relay sends its own)."""
    if "access_token" in event:
        return {k: v for k, v in event.items() if k != "access_token"}
    return event


def events_from_value(value: Any) -> Batch:
    """The events of an already-parsed body (any of the three shapes)."""
    test_event_code = ""
    extra: dict[str, Any] = {}
    if isinstance(value, dict) and "data" in value:
        events = value["data"]
        if not isinstance(events, list):
            raise BodyError(400, "invalid_body", '"data" must be an array of events')
        code = value.get("test_event_code")
        if code is not None:
            if not isinstance(code, str):
                raise BodyError(400, "invalid_body", '"test_event_code" must be a string')
            test_event_code = code.strip()
        extra = {
            k: v for k, v in value.items() if k not in {"data", "test_event_code", "access_token"}
        }
    elif isinstance(value, dict):
        events = [value]
    elif isinstance(value, list):
        events = value
    else:
        raise BodyError(
            400,
            "invalid_body",
            "body must be an event object, an array of events, or {data: [...]}",
        )
    if not events:
        raise BodyError(400, "no_events", "the body holds no events")
    if len(events) > MAX_EVENTS_PER_REQUEST:
        raise BodyError(
            413,
            "too_many_events",
            f"{len(events)} events in one request; send at most {MAX_EVENTS_PER_REQUEST}",
        )
    return Batch(
        [drop_tokens(e) if isinstance(e, dict) else e for e in events], test_event_code, extra
    )


def parse_body(body: bytes, content_type: str | None, *, max_bytes: int) -> Batch:
    """Check size and media type, parse, and return the events. Raises BodyError."""
    if len(body) > max_bytes:
        raise BodyError(
            413, "body_too_large", f"body is {len(body)} bytes; the limit is {max_bytes}"
        )
    if not is_json_content_type(content_type):
        raise BodyError(415, "unsupported_media_type", "send Content-Type: application/json")
    if not body.strip():
        raise BodyError(400, "empty_body", "the body is empty")
    return events_from_value(parse_json(body))
