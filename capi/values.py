"""Reading loosely typed JSON values the same way everywhere (ids, amounts, names in payloads)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def scalar_text(value: Any) -> str:
    """A JSON scalar as trimmed text; "" for null, booleans, NaN/Infinity, objects and arrays.
    A whole float reads as an integer (an order id of 1001.0 is "1001")."""
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        return str(int(value)) if value.is_integer() else str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value.strip()
    return ""


_SCALARS = frozenset({str, int, bool, type(None)})


def has_non_finite(value: Any) -> bool:
    """Whether a float anywhere in a JSON value (objects, arrays, tuples) is NaN or infinite:
    no JSON encoder can write it. One pass without paths: callers that must name the field walk
    again only when this says yes."""
    if isinstance(value, float):
        return not math.isfinite(value)
    if not isinstance(value, dict | list | tuple):
        return False
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        for child in item.values() if isinstance(item, dict) else item:
            if type(child) in _SCALARS:  # most of an event: skipped at the cost of a set lookup
                continue
            if isinstance(child, float):
                if not math.isfinite(child):
                    return True
            elif isinstance(child, dict | list | tuple):
                stack.append(child)
    return False


def as_mapping(value: Any) -> Mapping[str, Any]:
    """The value when it is an object, else an empty one."""
    return value if isinstance(value, Mapping) else {}
