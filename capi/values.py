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


def as_mapping(value: Any) -> Mapping[str, Any]:
    """The value when it is an object, else an empty one."""
    return value if isinstance(value, Mapping) else {}
