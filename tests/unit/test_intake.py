import json

import pytest

from capi.meta.body import MAX_EVENTS_PER_REQUEST, BodyError, parse_body

EVENT = {"event_name": "Lead", "event_time": 1, "action_source": "website"}


def parse(value, content_type="application/json", max_bytes=100_000):
    body = value if isinstance(value, bytes) else json.dumps(value).encode()
    return parse_body(body, content_type, max_bytes=max_bytes)


def error_of(*args, **kwargs):
    with pytest.raises(BodyError) as info:
        parse(*args, **kwargs)
    return info.value


def test_three_shapes():
    assert parse({"data": [EVENT, EVENT], "test_event_code": "T1"}).events == [EVENT, EVENT]
    assert parse({"data": [EVENT], "test_event_code": " T1 "}).test_event_code == "T1"
    assert parse(EVENT).events == [EVENT]
    assert parse([EVENT, EVENT, EVENT]).events == [EVENT] * 3


def test_callers_access_token_is_dropped_everywhere():
    batch = parse({"data": [{**EVENT, "access_token": "EAAx"}], "access_token": "EAAy"})
    assert "EAAx" not in json.dumps(batch.events)
    assert "access_token" not in batch.extra


def test_content_type_charset_and_json_suffix_are_fine():
    assert parse(EVENT, "application/json; charset=utf-8").events
    assert parse(EVENT, "application/vnd.api+json").events


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b"{}", "text/plain", 415, "unsupported_media_type"),
        (b"{}", None, 415, "unsupported_media_type"),
        (b"", "application/json", 400, "empty_body"),
        (b"{not json", "application/json", 400, "invalid_json"),
        (b"\xff\xfe{}", "application/json", 400, "invalid_utf8"),
        (b'{"a": NaN}', "application/json", 400, "invalid_json"),
        (b'{"a": Infinity}', "application/json", 400, "invalid_json"),
        (b'{"a": 1, "a": 2}', "application/json", 400, "duplicate_key"),
        (b'{"data": {}}', "application/json", 400, "invalid_body"),
        (b'{"data": []}', "application/json", 400, "no_events"),
        (b"[]", "application/json", 400, "no_events"),
        (b'"text"', "application/json", 400, "invalid_body"),
        (b'{"data": [{}], "test_event_code": 5}', "application/json", 400, "invalid_body"),
        (b"[" * 40 + b"]" * 40, "application/json", 400, "too_deep"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", 400, "too_deep"),
    ],
)
def test_unusable_bodies_get_clear_errors(body, content_type, status, code):
    err = error_of(body, content_type, max_bytes=10_000_000)
    assert (err.status, err.code) == (status, code)
    assert err.message


def test_size_limit_is_413():
    err = error_of(b"[" + b" " * 200 + b"]", max_bytes=100)
    assert (err.status, err.code) == (413, "body_too_large")


def test_more_than_meta_batch_limit_is_refused():
    err = error_of([EVENT] * (MAX_EVENTS_PER_REQUEST + 1), max_bytes=10_000_000)
    assert err.status == 413 and err.code == "too_many_events"
    assert len(parse([EVENT] * MAX_EVENTS_PER_REQUEST, max_bytes=10_000_000).events) == 1000


@pytest.mark.parametrize(
    "body",
    [
        b'{"event_name": "Lead", "custom_data": {"note": "\\ud800"}}',
        b'{"event_name": "Lead", "user_data": {"fn": "Jo\\udc00hn"}}',
        b'{"\\ud800": 1}',
    ],
)
def test_unpaired_surrogates_are_refused_at_the_door(body):
    # regression: such an event was accepted, then crashed when encoded for the queue (500)
    err = error_of(body)
    assert (err.status, err.code) in {(400, "invalid_unicode"), (400, "invalid_key")}


def test_paired_surrogates_are_fine():
    batch = parse(b'{"event_name": "Lead", "custom_data": {"note": "\\ud83d\\ude00"}}')
    assert batch.events[0]["custom_data"]["note"] == "\U0001f600"


def test_overlong_strings_are_refused_with_their_path():
    event = {"event_name": "Lead", "user_data": {"em": ["a@b.co", "x" * 20_000]}}
    err = error_of({"data": [event]}, max_bytes=10_000_000)
    assert (err.status, err.code) == (400, "string_too_long")
    assert "data[0].user_data.em[1]" in err.message
    assert "xxxx" not in err.message


@pytest.mark.parametrize("number", ["1e999", "-1e999", "1E+400"])
def test_numbers_too_large_to_represent_are_refused_with_their_path(number):
    body = '{"data": [{"event_name": "Lead", "custom_data": {"value": ' + number + "}}]}"
    with pytest.raises(BodyError) as info:
        parse_body(body.encode(), "application/json", max_bytes=10_000_000)
    assert info.value.status == 400 and info.value.code == "non_finite_number"
    assert "data[0].custom_data.value" in info.value.message


def test_an_integer_with_too_many_digits_is_invalid_json_not_a_crash():
    body = '{"event_name": "Lead", "value": ' + "9" * 5000 + "}"
    with pytest.raises(BodyError) as info:
        parse_body(body.encode(), "application/json", max_bytes=10_000_000)
    assert (info.value.status, info.value.code) == (400, "invalid_json")
