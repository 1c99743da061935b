"""Validation (capi.meta.validate): what Meta would reject (errors) and what is only a warning."""

from __future__ import annotations

import pytest

from tests.corpus import NOW, make_corpus
from tests.factories import validate_event

DAY = 86400


def good(**overrides):
    event = {
        "event_name": "Purchase",
        "event_time": NOW - 60,
        "action_source": "website",
        "event_source_url": "https://shop.example.com/thanks",
        "event_id": "order-1",
        "user_data": {
            "em": "john@example.com",
            "client_ip_address": "8.8.8.8",
            "client_user_agent": "Mozilla/5.0",
        },
        "custom_data": {"value": 12.5, "currency": "USD", "contents": [{"id": "A", "quantity": 1}]},
    }
    event.update(overrides)
    return event


def run(event, **kwargs):
    errors, warnings = validate_event(event, now=NOW, **kwargs)
    return {p.path: p for p in errors}, {p.path: p for p in warnings}


def test_a_good_event_has_no_problem():
    assert run(good()) == ({}, {})


@pytest.mark.parametrize("junk", [None, [], "event", 3, 1.5, True, [{"event_name": "Lead"}]])
def test_non_object_is_one_error_at_the_root(junk):
    errors, warnings = validate_event(junk, now=NOW)
    assert [(p.path, p.code) for p in errors] == [("", "invalid_type")] and warnings == []


@pytest.mark.parametrize("field", ["event_name", "event_time", "action_source", "user_data"])
def test_required_fields(field):
    event = good()
    del event[field]
    errors, _ = run(event)
    assert errors[field].code == "missing"


def test_event_name_types_and_case():
    errors, _ = run(good(event_name=5))
    assert errors["event_name"].code == "invalid"
    errors, warnings = run(good(event_name="purchase"))
    assert "event_name" not in errors  # a custom event is allowed...
    assert "Purchase" in warnings["event_name"].message  # ...but probably a mistake
    assert run(good(event_name="quiz_done", custom_data=None)) == ({}, {})


def test_action_source_values():
    errors, _ = run(good(action_source="web"))
    assert errors["action_source"].code == "invalid"
    errors, _ = run(good(action_source="Website"))
    assert "lowercase" in errors["action_source"].message
    errors, _ = run(good(action_source=["website"]))
    assert errors["action_source"].code == "invalid"


def test_website_needs_url_and_user_agent():
    event = good()
    del event["event_source_url"]
    del event["user_data"]["client_user_agent"]
    errors, _ = run(event)
    assert errors["event_source_url"].code == "missing"
    assert errors["user_data.client_user_agent"].code == "missing"
    other = good(action_source="email")
    del other["event_source_url"]
    assert run(other)[0] == {}


def test_event_source_url_must_be_absolute_http():
    errors, _ = run(good(event_source_url="shop.example.com/p"))
    assert errors["event_source_url"].code == "invalid"
    errors, _ = run(good(event_source_url=["https://x"]))
    assert errors["event_source_url"].code == "invalid"


@pytest.mark.parametrize(
    ("given", "code", "hint"),
    [
        ((NOW - 60) * 1000, "milliseconds", f"send Unix seconds: {NOW - 60}"),
        ((NOW - 60) * 1_000_000, "milliseconds", "microseconds"),
        (NOW - 8 * DAY, "stale", "8.0 days old"),
        (NOW + 3600, "future", "3600 s in the future"),
        ("yesterday", "invalid", "Unix time in seconds"),
        (-5, "invalid", "positive"),
        (float("inf"), "invalid", "number"),
        ([NOW], "invalid", "number"),
    ],
)
def test_event_time(given, code, hint):
    errors, _ = run(good(event_time=given))
    assert errors["event_time"].code == code
    assert hint in errors["event_time"].message


def test_event_time_milliseconds_message_names_the_digits():
    errors, _ = run(good(event_time=1732612345000))
    assert errors["event_time"].message == (
        "event_time looks like milliseconds (13 digits); send Unix seconds: 1732612345"
    )


def test_event_time_limits():
    assert "event_time" not in run(good(event_time=NOW - 7 * DAY + 60))[0]
    assert "event_time" not in run(good(event_time=NOW + 59))[0]
    assert "event_time" not in run(good(event_time=float(NOW)))[0]
    errors, warnings = run(good(event_time=str(NOW)))
    assert "event_time" not in errors and warnings["event_time"].code == "type"


def test_physical_store_may_be_62_days_old():
    store = good(action_source="physical_store", event_time=NOW - 30 * DAY)
    del store["event_source_url"]
    assert "event_time" not in run(store)[0]
    store["event_time"] = NOW - 63 * DAY
    assert run(store)[0]["event_time"].code == "stale"


def test_purchase_needs_value_and_iso_currency():
    errors, _ = run(good(custom_data={}))
    assert errors["custom_data.value"].code == "missing"
    assert errors["custom_data.currency"].code == "missing"
    errors, _ = run(good(custom_data=None))
    assert set(errors) == {"custom_data.value", "custom_data.currency"}
    errors, _ = run(good(custom_data={"value": 1, "currency": "DOLLARS"}))
    assert errors["custom_data.currency"].code == "invalid"
    errors, _ = run(good(custom_data={"value": 1, "currency": "XYZ"}))
    assert errors["custom_data.currency"].code == "invalid"
    assert run(good(custom_data={"value": 0, "currency": "eur"}))[0] == {}
    errors, _ = run(good(custom_data={"value": "ten", "currency": "USD"}))
    assert errors["custom_data.value"].code == "invalid"
    errors, warnings = run(good(custom_data={"value": "10.5", "currency": "USD"}))
    assert errors == {} and warnings["custom_data.value"].code == "type"
    errors, _ = run(good(custom_data={"value": True, "currency": "USD"}))
    assert errors["custom_data.value"].code == "invalid"
    errors, _ = run(good(custom_data=[1]))
    assert errors["custom_data"].code == "invalid"


def test_other_events_do_not_need_value():
    assert run(good(event_name="Lead", custom_data=None))[0] == {}
    _, warnings = run(good(event_name="Lead", custom_data={"value": 3}))
    assert warnings["custom_data.currency"].code == "missing"


def test_contents_need_ids():
    contents = [{"id": "A"}, {"quantity": 2}, "B", {"id": "C", "quantity": "2"}, {"id": ""}]
    errors, _ = run(good(custom_data={"value": 1, "currency": "USD", "contents": contents}))
    assert errors["custom_data.contents[1].id"].code == "missing"
    assert errors["custom_data.contents[2]"].code == "invalid"
    assert errors["custom_data.contents[3].quantity"].code == "invalid"
    assert errors["custom_data.contents[4].id"].code == "missing"
    assert "custom_data.contents[0].id" not in errors
    errors, _ = run(good(custom_data={"value": 1, "currency": "USD", "contents": {"id": "A"}}))
    assert errors["custom_data.contents"].code == "invalid"


def test_custom_data_enumerations():
    custom = {"value": 1, "currency": "USD", "delivery_category": "drone", "content_type": "x"}
    errors, warnings = run(good(custom_data=custom))
    assert errors["custom_data.delivery_category"].code == "invalid"
    assert warnings["custom_data.content_type"].code == "invalid"
    custom = {"value": 1, "currency": "USD", "content_ids": ["1", {"a": 1}], "num_items": 1.5}
    errors, _ = run(good(custom_data=custom))
    assert set(errors) == {"custom_data.content_ids", "custom_data.num_items"}


def ldu(country=None, state=None, options=("LDU",)):
    event = {"data_processing_options": list(options) if isinstance(options, tuple) else options}
    if country is not None:
        event["data_processing_options_country"] = country
    if state is not None:
        event["data_processing_options_state"] = state
    return event


COUNTRY, STATE = "data_processing_options_country", "data_processing_options_state"


@pytest.mark.parametrize(
    ("options", "errors_expected"),
    [
        (ldu(options=()), set()),
        (ldu(0, 0), set()),
        (ldu(1, 1000), set()),
        (ldu(1, 0), set()),
        (ldu(), {COUNTRY}),
        (ldu(1), {STATE}),
        (ldu(2, 0), {COUNTRY}),
        (ldu(1, 5), {STATE}),
        (ldu(0, 1000), {STATE}),  # California without the US
        (ldu(True, 0), {COUNTRY}),
        (ldu([1], {}), {COUNTRY}),
        (ldu(0, 0, options=("ldu",)), {"data_processing_options"}),
        (ldu(0, 0, options="LDU"), {"data_processing_options"}),
    ],
)
def test_limited_data_use(options, errors_expected):
    errors, _ = run(good(**options))
    assert set(errors) == errors_expected


def test_ldu_country_without_ldu_is_a_warning():
    errors, warnings = run(good(data_processing_options_country=1))
    assert errors == {} and warnings["data_processing_options"].code == "inconsistent"


def test_no_customer_information():
    errors, _ = run(good(action_source="email", user_data={}))
    assert errors["user_data"].code == "insufficient_customer_information"


def test_customer_information_is_judged_after_normalization():
    user = {"em": "n/a", "ph": "12", "client_user_agent": "Mozilla/5.0"}
    errors, warnings = run(good(user_data=user))
    assert errors["user_data"].code == "insufficient_customer_information"
    assert "dropped" in errors["user_data"].message
    assert {"user_data.em", "user_data.ph"} <= set(warnings)


@pytest.mark.parametrize(
    "keys",
    [
        {
            "ct": "Menlo Park",
            "country": "US",
            "st": "CA",
            "zp": "94025",
            "ge": "m",
            "client_user_agent": "Mozilla/5.0",
        },
        {"db": "1997-02-16", "client_user_agent": "Mozilla/5.0"},
        {"fn": "Mary", "ge": "f"},
        {"ln": "Smith", "ge": "f"},
        {"fn": "Mary"},
        {"country": "US"},
    ],
)
def test_insufficient_sets_2804050(keys):
    event = good(action_source="email", user_data=keys)
    errors, _ = run(event)
    assert errors["user_data"].code == "insufficient_customer_information"
    assert "2804050" in errors["user_data"].message


@pytest.mark.parametrize(
    "user",
    [
        {"fn": "Mary", "ln": "Smith"},
        {"ct": "Menlo Park", "db": "1997-02-16"},
        {"external_id": "u-1"},
        {"fbp": "fb.1.1596403881668.1116446470"},
        {"client_ip_address": "8.8.8.8"},
        {"ph": "+16505551212"},
    ],
)
def test_sufficient_customer_information(user):
    assert run(good(action_source="email", user_data=user))[0] == {}


def test_fbc_alone_is_a_warning():
    user = {"fbc": "fb.1.1554763741205.IwAR", "client_user_agent": "Mozilla/5.0"}
    errors, warnings = run(good(user_data=user))
    assert errors == {} and warnings["user_data"].code == "low_match"


def test_fbc_from_fbclid_counts():
    event = good(
        event_source_url="https://shop.example.com/?fbclid=IwAR1",
        user_data={"client_user_agent": "Mozilla/5.0"},
    )
    errors, warnings = run(event)
    assert errors == {} and warnings["user_data"].code == "low_match"


def test_user_data_not_an_object():
    errors, _ = run(good(user_data=["john@example.com"]))
    assert errors["user_data"].code == "invalid"


def test_missing_event_id_is_a_warning():
    event = good()
    del event["event_id"]
    errors, warnings = run(event)
    assert errors == {} and warnings["event_id"].code == "missing"
    errors, _ = run(good(event_id={"id": 1}))
    assert errors["event_id"].code == "invalid"


def test_other_fields():
    errors, _ = run(good(opt_out="yes"))
    assert errors["opt_out"].code == "invalid"
    app = good(action_source="app", app_data={"extinfo": ["a2"]})
    errors, _ = run(app)
    assert errors["app_data.extinfo"].code == "invalid"
    app = good(action_source="app")
    _, warnings = run(app)
    assert warnings["app_data"].code == "missing"


def test_normalization_warnings_are_returned_and_carry_no_pii():
    user = {**good()["user_data"], "em": ["john@example.com", "secret-address@"], "ge": "x"}
    errors, warnings = run(good(user_data=user))
    assert errors == {}
    assert {"user_data.em[1]", "user_data.ge"} <= set(warnings)
    assert all("secret" not in w.message for w in warnings.values())


def test_default_country_and_date_order_are_used():
    user = {"ph": "(650) 555-1212", "db": "03/04/1990", "client_user_agent": "Mozilla/5.0"}
    errors, warnings = run(good(user_data=user))
    assert warnings["user_data.ph"].code == "no_country"  # kept as given, with a warning
    assert warnings["user_data.db"].code == "invalid"  # ambiguous without a date order
    errors, warnings = run(good(user_data=user), default_country="US", date_order="MDY")
    assert errors == {} and warnings == {}


def test_the_corpus_validates_without_raising_and_mostly_passes():
    corpus = make_corpus()
    rejected = [e for e in corpus if validate_event(e, now=NOW)[0]]
    assert len(rejected) < len(corpus) // 5


def test_input_not_mutated():
    event = good(event_source_url="https://shop.example.com/?fbclid=IwAR1")
    snapshot = repr(event)
    validate_event(event, now=NOW)
    assert repr(event) == snapshot
