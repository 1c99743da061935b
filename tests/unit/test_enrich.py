from capi.meta.enrich import derive_event_id, enrich
from tests.factories import purchase

NOW = 1_800_000_000.0


def test_given_event_id_is_kept_as_text():
    event, warnings = enrich(purchase(event_id=" abc "), now=NOW)
    assert event["event_id"] == "abc" and warnings == []
    assert enrich(purchase(event_id=12345), now=NOW)[0]["event_id"] == "12345"


def test_missing_event_id_comes_from_order_id_regardless_of_other_fields():
    a = purchase(event_id=None)
    b = purchase(event_id=None, event_time=a["event_time"] + 5)
    assert derive_event_id(a) == derive_event_id(b)
    c = purchase(event_id=None, custom_data={"value": 1, "currency": "USD", "order_id": "1002"})
    assert derive_event_id(a) != derive_event_id(c)


def test_the_order_id_is_the_event_id_on_every_event_about_the_order():
    """One order, one id, whatever door it came by: the Pixel sends the order id as eventID.
    Meta deduplicates on event_name and event_id, so an InitiateCheckout and the Purchase of
    one order (one id) stay two events (tests/integration/test_loss_paths.py)."""
    a = purchase(event_id=None)
    assert derive_event_id(a) == a["custom_data"]["order_id"] == "1001"
    assert derive_event_id({**a, "event_name": "InitiateCheckout"}) == "1001"
    numeric = purchase(event_id=None, custom_data={"value": 1, "currency": "USD", "order_id": 1001})
    assert derive_event_id(numeric) == "1001"


def test_a_purchase_without_an_order_id_is_warned_about():
    no_order = purchase(event_id="p-1", custom_data={"value": 1, "currency": "USD"})
    _, warnings = enrich(no_order, now=NOW)
    assert [w.code for w in warnings] == ["no_order_id"]
    assert warnings[0].path == "custom_data.order_id"
    _, warnings = enrich(purchase(event_id="p-2"), now=NOW)
    assert warnings == []
    lead = {**no_order, "event_name": "Lead"}
    assert enrich(lead, now=NOW)[1] == []


def test_without_order_id_the_content_decides_and_a_default_time_does_not_change_it():
    event = purchase(event_id=None, custom_data={"value": 1, "currency": "USD"})
    del event["event_time"]
    first, warnings = enrich(event, now=NOW)
    later, _ = enrich(event, now=NOW + 600)
    assert first["event_id"] == later["event_id"]
    assert first["event_time"] == int(NOW) and later["event_time"] == int(NOW + 600)
    assert warnings and warnings[0].path == "event_id"
    other = {**event, "user_data": {**event["user_data"], "em": "other@example.com"}}
    assert enrich(other, now=NOW)[0]["event_id"] != first["event_id"]


def test_input_is_not_mutated():
    event = purchase(event_id=None)
    snapshot = repr(event)
    enrich(event, now=NOW)
    assert repr(event) == snapshot


def test_fbc_is_built_from_fbclid_at_the_event_time_not_the_ingest_time():
    # Bug (issue 10): enrich used the ingest time, so an event sent an hour late carried a click
    # that postdated the event, and a retry produced another fbc.
    event = purchase(event_source_url="https://shop.example.com/p?fbclid=AbC123_x&utm=1")
    enriched, _ = enrich(event, now=NOW)
    assert enriched["user_data"]["fbc"] == f"fb.1.{event['event_time'] * 1000}.AbC123_x"
    assert enrich(event, now=NOW + 3600)[0] == enriched


def test_fbc_without_event_time_uses_the_default_time_it_gets():
    event = purchase(event_source_url="https://shop.example.com/p?fbclid=AbC123_x")
    del event["event_time"]
    enriched, _ = enrich(event, now=NOW)
    assert enriched["user_data"]["fbc"] == f"fb.1.{int(NOW) * 1000}.AbC123_x"


def test_fbc_is_not_built_from_a_millisecond_event_time_that_validation_will_refuse():
    event = purchase(event_source_url="https://shop.example.com/p?fbclid=AbC123_x")
    event["event_time"] = int(NOW * 1000)
    assert "fbc" not in enrich(event, now=NOW)[0]["user_data"]
