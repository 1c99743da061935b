"""parse_json takes orjson's fast parse only where it is exactly what the strict parser gives:
the same value, or the same 400 with the same code and message (differential, generated
documents plus the cases where orjson alone would be silently different)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capi.errors import BodyError
from capi.meta import body

pytestmark = pytest.mark.skipif(body.orjson is None, reason="orjson is not installed")


def strict(text: str):
    saved = body.orjson
    body.orjson = None
    try:
        return outcome(text)
    finally:
        body.orjson = saved


def outcome(text: str):
    try:
        value = body.parse_json(text.encode("utf-8", "surrogatepass"))
    except BodyError as exc:
        return ("error", exc.status, exc.code, exc.message)
    # typed: 1 and 1.0, 0.0 and -0.0 differ in JSON
    return ("value", json.dumps(value, ensure_ascii=True))


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1, "a": 2}',  # orjson keeps the last silently
        '{"data": [{"event_name": "Purchase", "event_name": "Lead"}]}',
        '{"a": 1, "\\u003a": 2, "a": 3}',  # an escaped colon must not hide a duplicate
        '{"a": "x:y", "a": "z"}',
        "123456789012345678901234567890",  # orjson: a float
        '{"value": -9223372036854775809}',
        '{"value": 18446744073709551616}',
        '{"value": 18446744073709551615}',
        "1e999",
        "NaN",
        '{"v": Infinity}',
        '"\\ud800"',
        '"\\ud83d\\ude00"',
        '{"k": "' + "x" * (body.MAX_STRING_LENGTH + 1) + '"}',
        "[" * 40 + "]" * 40,
        "[" * 31 + "]" * 31,
        "[" * 32 + "]" * 32,
        "[1.0, -0.0, 0, 1e-7, 2.5e300, 1E5]",
        '{"a": {"b": {"c": [1, 2, {"d": null}]}}, "e": true, "f": false}',
        '{"": 1, " ": 2}',
        "{}",
        "[] x",
        '{"a" 1}',
        "",
        "9" * 5000,
    ],
)
def test_same_result_as_the_strict_parser(text):
    assert outcome(text) == strict(text)


def test_duplicate_keys_are_still_refused():
    with pytest.raises(BodyError) as caught:
        body.parse_json(b'{"event_name": "Purchase", "event_name": "Lead"}')
    assert caught.value.code == "duplicate_key"


def test_big_integers_stay_integers():
    assert body.parse_json(b'{"value": 123456789012345678901234567890}') == {
        "value": 123456789012345678901234567890
    }


_keys = st.sampled_from(["a", "b", "a:b", ":", "é", "\u2028", "event_name", ""])
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
_values = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.lists(st.tuples(_keys, children), max_size=4)
    ),  # pairs: duplicates possible
    max_leaves=20,
)


def _render(value, escape_colons: bool) -> str:
    if isinstance(value, list) and value and all(isinstance(p, tuple) for p in value):
        members = []
        for key, child in value:
            rendered = json.dumps(key)
            if escape_colons:
                rendered = rendered.replace(":", "\\u003a")
            members.append(f"{rendered}: {_render(child, escape_colons)}")
        return "{" + ", ".join(members) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_render(v, escape_colons) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


@settings(max_examples=600, deadline=None)
@given(_values, st.booleans())
@pytest.mark.slow
def test_generated_documents_parse_the_same(value, escape_colons):
    text = _render(value, escape_colons)
    assert outcome(text) == strict(text)


def test_ordinary_events_take_the_fast_path():
    text = json.dumps(
        {"data": [{"event_name": "Purchase", "event_time": 1, "user_data": {"em": "a@b.c"}}]}
    )
    assert body._parse_fast(text) == json.loads(text)


@pytest.mark.parametrize("depth", [30, 31, 32, 33])
@pytest.mark.parametrize("inner", ["", "1", '{"a": 1}', "{}", "[]", '"s"'])
def test_nesting_limit_is_the_same(depth, inner):
    text = '{"k": ' * (depth // 2) + "[" * (depth - depth // 2) + inner
    text += "]" * (depth - depth // 2) + "}" * (depth // 2)
    assert outcome(text) == strict(text)


@pytest.mark.parametrize("text", ["1", "1.5", "-0.0", "null", "true", '"a:b"', "1e300", "[1e19]"])
def test_scalar_documents_are_the_same(text):
    assert outcome(text) == strict(text)


def test_non_finite_numbers_in_an_event_built_in_process_are_named_by_path():
    """Events a source builds in process never went through parse_json: validation still finds
    an infinity at any depth and names its path."""
    from capi.meta.validate import check_and_prepare

    event = {
        "event_name": "Purchase",
        "event_time": 1_700_000_000,
        "action_source": "website",
        "event_source_url": "https://shop.example/",
        "user_data": {"em": "a@example.com", "client_ip_address": "8.8.8.8"},
        "custom_data": {
            "value": 1,
            "currency": "USD",
            "contents": [{"id": "a", "q": [1.5, float("inf")]}],
        },
    }
    _, errors, _ = check_and_prepare(event, now=1_700_000_100)
    assert [e.path for e in errors if e.code == "non_finite_number"] == [
        "custom_data.contents[0].q[1]"
    ]
    event["custom_data"]["contents"][0]["q"][1] = 2.5
    _, errors, _ = check_and_prepare(event, now=1_700_000_100)
    assert not [e for e in errors if e.code == "non_finite_number"]


@pytest.mark.parametrize(
    "text",
    [
        '{"event_name": "Purchase", "event_name": "Lead"}',  # a duplicate key, short document
        '{"a": {"b": 1, "b": 2}, "c": "x:y"}',
        '{"k:1": "v", "k:1": "w"}',  # the duplicate key holds a colon
        '[{"a": 1}, {"a": 1, "a": 1}]',
        '{"n": 12345678901234567890}',  # beyond 64 bits: the walk decides
        '{"n": -9223372036854775809}',
    ],
)
def test_the_short_document_path_is_the_strict_parser(text):
    """Short, shallow documents without long digit runs are checked by orjson writing the value
    back (issue 26's speed work): the same outcome as the strict parser."""
    assert outcome(text) == strict(text)
