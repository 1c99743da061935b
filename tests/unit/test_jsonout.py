"""compact_line writes exactly what json.dumps writes (orjson where it agrees), and the CLI's
output survives what orjson alone would change or refuse."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capi.tools import jsonout
from capi.tools.jsonout import compact_line, json_line


def reference(value) -> str:
    return json_line(value, ensure_ascii=False, separators=(",", ":"))


class Level(enum.IntEnum):
    HIGH = 2


@dataclasses.dataclass
class Point:
    x: int


@pytest.mark.parametrize(
    "value",
    [
        {"value": 123456789012345678901234567890},  # orjson refuses
        [-(2**63) - 1, 2**64, 2**64 - 1, -(2**63)],
        [1e-7, 1e-5, 0.00012, 1e-4, 2.5e-300, 5e-324, 1e16, 1e22, -0.0, 0.1],
        [float("nan"), float("inf"), None],  # orjson writes null for the first two
        {"fn": "\ud800 lone"},  # orjson refuses a lone surrogate
        {"k": '\u2028\x7f\x1f\t\n"\\é😀'},
        {"a": (1, 2)},
        {"user_agent": "Mozilla/5.0 1e-5"},  # a string that looks like a float: exact anyway
    ],
)
def test_same_text_as_json_dumps(value):
    assert compact_line(value) == reference(value)


@pytest.mark.parametrize("value", [Level.HIGH, {"d": dt.date(2026, 1, 1)}, Point(1), {1: 2}])
def test_values_json_treats_its_own_way_go_to_json(value):
    try:
        expected = reference(value)
    except TypeError:
        with pytest.raises(TypeError):
            compact_line(value)
    else:
        assert compact_line(value) == expected


def test_orjson_is_used_for_ordinary_events(monkeypatch):
    if jsonout.orjson is None:
        pytest.skip("orjson is not installed")
    calls = []
    monkeypatch.setattr(jsonout, "json_line", lambda *a, **k: calls.append(a) or "")
    compact_line({"event_name": "Purchase", "user_data": {"em": ["ab" * 32]}, "value": 9.99})
    assert calls == []


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats()
    | st.text(st.characters(exclude_categories=()), max_size=6),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=16,
)


@settings(max_examples=800, deadline=None)
@given(_json)
@pytest.mark.slow
def test_generated_values_are_written_as_json_dumps_writes_them(value):
    assert compact_line(value) == reference(value)
    json.loads(json_line(value, ensure_ascii=True))  # and it reads back
