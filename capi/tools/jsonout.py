"""JSON lines for the command line's output, exactly as ``json.dumps`` writes them.

``compact_line`` uses orjson (several times faster) and falls back to ``json.dumps`` wherever
orjson would write something else: integers beyond 64 bits and lone surrogates (orjson refuses
them), floats below 1e-4 (orjson writes ``1e-7`` or ``0.00001`` where Python writes ``1e-07``
and ``1e-05``), NaN and infinities (orjson writes ``null``), subclasses of JSON's types, dates
and dataclasses (which json.dumps refuses or writes its own way). It is meant for JSON values,
as a parser returns them. tests/unit/test_jsonout.py compares both on generated values.
"""

from __future__ import annotations

import json
import re
from typing import Any

from capi.values import has_non_finite

try:
    import orjson
except ImportError:  # pragma: no cover - exact and only slower without it
    orjson = None

# Where orjson's float text differs from repr(): a one-digit negative exponent, or the
# positional form orjson uses for some small floats. Also matches inside strings: then the
# line is only written by json.dumps, which is always exact.
_FLOAT_DIFFERS = re.compile(rb"\de-\d(?!\d)|0\.0000")
_PASSTHROUGH = (
    0
    if orjson is None
    else orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
)


def json_line(value: Any, **options: Any) -> str:
    """One JSON line by ``json.dumps``; a string the output cannot carry as UTF-8 (a lone
    surrogate) is written as its JSON escape instead of failing the whole run."""
    text = json.dumps(value, **options)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, **{**options, "ensure_ascii": True})
    return text


def _refuse(value: Any) -> Any:
    raise TypeError  # not one of JSON's own types: json.dumps decides


def compact_line(value: Any) -> str:
    """``json_line(value, ensure_ascii=False, separators=(",", ":"))``, by orjson when it writes
    the same text."""
    if orjson is not None:
        try:
            data = orjson.dumps(value, default=_refuse, option=_PASSTHROUGH)
        except (TypeError, orjson.JSONEncodeError):  # big integers, surrogates, other types
            data = None
        if (
            data is not None
            and not ((b"e-" in data or b"0.0000" in data) and _FLOAT_DIFFERS.search(data))
            and not (b"null" in data and has_non_finite(value))
        ):
            return data.decode("utf-8")
    return json_line(value, ensure_ascii=False, separators=(",", ":"))
