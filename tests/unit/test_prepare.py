"""prepare_event: the Meta-ready copy the forwarder POSTs."""

from __future__ import annotations

import copy
import hashlib

from capi.meta.prepare import event_time_seconds, prepare_event
from tests.corpus import make_corpus

EMAIL_HASH = "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"
PHONE_HASH = "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"
T = 1_732_612_345


def event(**overrides):
    base = {
        "event_name": "Purchase",
        "event_time": T,
        "action_source": "website",
        "event_source_url": "https://shop.example.com/thanks?fbclid=IwAR9",
        "event_id": "order-1",
        "user_data": {
            "em": "John_Smith@gmail.com",
            "ph": "(650) 555-1212",
            "country": "us",
            "client_user_agent": "Mozilla/5.0",
            "email": "leak@example.com",
        },
        "custom_data": {"value": 10, "currency": "USD"},
    }
    base.update(overrides)
    return base


def test_user_data_is_replaced_and_other_fields_kept():
    given = event()
    result, warnings = prepare_event(given)
    assert result["user_data"] == {
        "em": [EMAIL_HASH],
        "ph": [PHONE_HASH],
        "country": [hashlib.sha256(b"us").hexdigest()],
        "client_user_agent": "Mozilla/5.0",
        "fbc": f"fb.1.{T * 1000}.IwAR9",
    }
    for key in ("event_name", "event_time", "action_source", "event_source_url", "custom_data"):
        assert result[key] == given[key]
    assert [w.path for w in warnings] == ["user_data.email"]


def test_input_is_not_mutated():
    given = event()
    snapshot = copy.deepcopy(given)
    prepare_event(given)
    assert given == snapshot


def test_idempotent():
    once, _ = prepare_event(event(), default_country="US")
    twice, warnings = prepare_event(once, default_country="US")
    assert twice == once and warnings == []


def test_idempotent_on_the_whole_corpus():
    for item in make_corpus(200):
        once, _ = prepare_event(item)
        twice, warnings = prepare_event(once)
        assert twice == once
        assert all(w.code == "not_public" for w in warnings)


def test_fbc_given_with_the_same_fbclid_is_kept():
    given = event()
    given["user_data"] = {**given["user_data"], "fbc": "fb.1.1700000000000.IwAR9"}
    result, _ = prepare_event(given)
    assert result["user_data"]["fbc"] == "fb.1.1700000000000.IwAR9"


def test_event_time_becomes_an_int():
    assert prepare_event(event(event_time=float(T) + 0.7))[0]["event_time"] == T
    assert prepare_event(event(event_time=f" {T} "))[0]["event_time"] == T
    assert prepare_event(event(event_time="soon"))[0]["event_time"] == "soon"


def test_default_country_completes_phones():
    given = event()
    del given["user_data"]["country"]
    # without a country the digits are sent as given, with a warning naming the setting
    result, warnings = prepare_event(given)
    assert result["user_data"]["ph"] != [PHONE_HASH]
    assert any(w.code == "no_country" and "CAPI_DEFAULT_COUNTRY" in w.message for w in warnings)
    assert prepare_event(given, default_country="US")[0]["user_data"]["ph"] == [PHONE_HASH]


def test_without_user_data_and_fbclid_nothing_is_invented():
    given = event(event_source_url="https://shop.example.com/")
    del given["user_data"]
    result, warnings = prepare_event(given)
    assert "user_data" not in result and warnings == []


def test_junk_never_raises():
    for junk in (None, [], "x", 1, {"user_data": [1, 2]}, {"event_time": [], "user_data": None}):
        result, _ = prepare_event(junk)  # type: ignore[arg-type]
        assert isinstance(result, dict)


def test_event_time_seconds():
    assert event_time_seconds(T) == T
    assert event_time_seconds(True) is None
    assert event_time_seconds(float("nan")) is None
    assert event_time_seconds("12a") is None
    assert event_time_seconds(None) is None
