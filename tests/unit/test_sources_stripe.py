"""Stripe checkout.session.completed / payment_intent.succeeded -> Purchase, and the route.
Payloads are signed with the official `stripe` library."""

import json
import time

import pytest
import stripe as stripe_sdk

from capi.ingest.auth import ApiKeyAuth
from capi.ingest.handler import Ingest
from capi.ingest.webhooks import SourceRoutes
from capi.queueing.memory import InMemoryPublisher
from capi.sources import Ignored, SourceContext, stripe
from capi.sources.stripe import major_amount, split_name
from capi.web import IncomingRequest
from tests.factories import validate_event
from tests.fixtures import stripe_event


def adapt(event):
    """The Meta events of one Stripe event, live mode only."""
    return stripe.adapt(event, SourceContext()).events


SECRET = "whsec_fixture0123456789abcdef"
SESSION = "checkout_session_completed"
INTENT = "payment_intent_succeeded"


def test_checkout_session_becomes_a_website_purchase():
    event = stripe_event(SESSION)
    (meta,) = adapt(event)
    assert meta["event_name"] == "Purchase"
    assert meta["event_id"] == "checkout-7f3a2c"  # metadata.event_id, the Pixel's eventID
    assert meta["event_time"] == event["created"]
    assert meta["action_source"] == "website"
    assert meta["event_source_url"] == "https://shop.example.com/"
    user = meta["user_data"]
    assert user["em"] == "Jenny.Rosen@Example.com"
    assert user["ph"] == "+14155552671"
    assert (user["fn"], user["ln"]) == ("Jenny", "Rosen")
    assert (user["ct"], user["st"], user["zp"], user["country"]) == (
        "South San Francisco",
        "CA",
        "94080",
        "US",
    )
    assert user["external_id"] == "user_8675309"
    assert user["fbp"] == "fb.1.1736160000000.987654321"
    assert user["fbc"] == "fb.1.1736150000000.IwAR0stripeclick"
    assert user["client_ip_address"] == "203.0.113.42"
    assert user["client_user_agent"].startswith("Mozilla/5.0 (iPhone")
    custom = meta["custom_data"]
    assert custom == {
        "order_id": "pi_3QfGzqLkdIwHu7ix0mHvmXcS",  # the payment intent names the order
        "value": 53.9,
        "currency": "USD",
    }
    assert validate_event(meta)[0] == []


def test_payment_intent_in_a_zero_decimal_currency():
    (meta,) = adapt(stripe_event(INTENT))
    assert meta["event_id"] == "order-5521"
    assert meta["custom_data"]["value"] == 1500.0 and meta["custom_data"]["currency"] == "JPY"
    user = meta["user_data"]
    assert user["em"] == "hanako.yamada@example.jp"
    assert (user["fn"], user["ln"], user["ct"], user["country"]) == (
        "Hanako",
        "Yamada",
        "Shibuya-ku",
        "JP",
    )
    assert user["ph"] == "+81 3-1234-5678" and user["fbp"] == "fb.1.1736160000000.555000111"
    assert meta["action_source"] == "other"  # no browser user agent known
    assert validate_event(meta)[0] == []


def test_without_metadata_the_session_and_its_intent_share_one_id():
    session = stripe_event(SESSION)
    del session["data"]["object"]["metadata"]["event_id"]
    intent = stripe_event(INTENT)
    del intent["data"]["object"]["metadata"]["event_id"]
    intent["data"]["object"]["id"] = session["data"]["object"]["payment_intent"]
    assert adapt(session)[0]["event_id"] == adapt(intent)[0]["event_id"]
    assert adapt(intent)[0]["event_id"] == "pi_3QfGzqLkdIwHu7ix0mHvmXcS"  # the order: its intent
    subscription = stripe_event(SESSION)
    obj = subscription["data"]["object"]
    del obj["metadata"]["event_id"]
    obj.update(mode="subscription", payment_intent=None, subscription="sub_1")
    assert adapt(subscription)[0]["event_id"] == obj["id"]


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (5390, "usd", 53.9),
        (5390, "EUR", 53.9),
        (1500, "jpy", 1500.0),
        (1500, "krw", 1500.0),
        (12345, "kwd", 12.345),
        (10000, "huf", 100.0),  # special case: sent in two-decimal form
        (0, "usd", 0.0),
        ("100", "usd", None),
        (None, "usd", None),
    ],
)
def test_minor_units(amount, currency, expected):
    assert major_amount(amount, currency) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Jenny Rosen", ("Jenny", "Rosen")),
        ("Mary Ann Smith", ("Mary", "Smith")),
        ("Cher", ("Cher", "")),
        ("", ("", "")),
    ],
)
def test_split_name(name, expected):
    assert split_name(name) == expected


def test_what_is_ignored():
    unpaid = stripe_event(SESSION)
    unpaid["data"]["object"]["payment_status"] = "unpaid"
    with pytest.raises(Ignored, match="async_payment_succeeded"):
        adapt(unpaid)
    later = stripe_event(SESSION)
    later["type"] = "checkout.session.async_payment_succeeded"
    assert adapt(later)[0]["event_name"] == "Purchase"
    setup = stripe_event(SESSION)
    setup["data"]["object"]["mode"] = "setup"
    with pytest.raises(Ignored, match="setup"):
        adapt(setup)
    other = stripe_event(SESSION)
    other["type"] = "customer.subscription.updated"
    with pytest.raises(Ignored, match=r"customer\.subscription\.updated"):
        adapt(other)
    test_mode = stripe_event(SESSION)
    test_mode["livemode"] = False
    with pytest.raises(Ignored, match="test-mode"):
        adapt(test_mode)
    assert stripe.adapt(test_mode, SourceContext(allow_test_mode=True)).events
    for bad in ({"object": "event"}, [], {"type": "payment_intent.succeeded", "data": {}}):
        with pytest.raises(ValueError):
            adapt(bad)


# -- the route ----------------------------------------------------------------------------------


def relay(*, fail=False, tolerance=300.0, clock=time.time, **kwargs):
    publisher = InMemoryPublisher(fail=fail)
    sources = SourceRoutes(
        stripe_secrets=lambda: (SECRET,), stripe_tolerance_s=tolerance, clock=clock
    )
    ingest = Ingest(
        publisher=publisher,
        auth=ApiKeyAuth(lambda: ("k",)),
        pixel_id="111",
        sources=sources,
        **kwargs,
    )
    return ingest, publisher


def deliver(ingest, event, *, secret=SECRET, timestamp=None, header=None, query=None):
    payload = json.dumps(event, indent=2)  # Stripe sends pretty-printed JSON
    if header is None:
        header = stripe_sdk.WebhookSignature.generate_signature_header(
            payload, secret, timestamp=timestamp
        )
    request = IncomingRequest(
        "POST",
        "/webhooks/stripe",
        {
            "Stripe-Signature": header,
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        },
        payload.encode(),
        "application/json; charset=utf-8",
        query=query or {},
    )
    return ingest.handle(request)


def test_signed_by_the_stripe_library_and_queued():
    ingest, pub = relay()
    reply = deliver(ingest, stripe_event(SESSION))
    assert reply.status == 202, reply.body
    assert reply.body["results"][0]["event_id"] == "checkout-7f3a2c"
    (message,) = pub.messages
    assert message.attributes["source"] == "stripe"
    assert json.loads(message.data)["custom_data"]["value"] == 53.9


def test_stale_timestamp_is_400_and_bad_signatures_401():
    ingest, pub = relay()
    stale = deliver(ingest, stripe_event(SESSION), timestamp=int(time.time()) - 301)
    assert stale.status == 400 and stale.body["error"]["code"] == "signature_stale"
    assert deliver(ingest, stripe_event(SESSION), secret="whsec_other").status == 401
    assert deliver(ingest, stripe_event(SESSION), header="").status == 401
    assert deliver(ingest, stripe_event(SESSION), header="t=1,v1=abc").status == 401
    assert pub.messages == []


def test_tolerance_is_configurable():
    ingest, _ = relay(tolerance=3600)
    assert deliver(ingest, stripe_event(SESSION), timestamp=int(time.time()) - 1800).status == 202


def test_ignored_types_answer_200_so_stripe_keeps_the_endpoint_enabled():
    ingest, pub = relay()
    event = stripe_event(SESSION)
    event["type"] = "invoice.paid"
    reply = deliver(ingest, event)
    assert reply.status == 200 and reply.body["status"] == "ignored"
    assert "invoice.paid" in reply.body["reason"]
    assert pub.messages == []


def test_test_mode_events_need_a_test_event_code():
    ingest, pub = relay()
    event = stripe_event(SESSION)
    event["livemode"] = False
    assert deliver(ingest, event).body["status"] == "ignored"
    refused = deliver(ingest, event, query={"test_event_code": "TEST77"})  # not signed: refused
    assert refused.status == 400 and refused.body["error"]["code"] == "unsigned_routing"
    assert pub.messages == []
    with_global, pub = relay(test_event_code="GLOBAL")
    assert deliver(with_global, event).status == 202
    assert pub.messages[0].attributes["test_event_code"] == "GLOBAL"


def test_queue_failure_is_503_and_invalid_events_200():
    assert deliver(relay(fail=True)[0], stripe_event(SESSION)).status == 503
    ingest, pub = relay()
    no_currency = stripe_event(INTENT)
    no_currency["data"]["object"]["currency"] = ""
    reply = deliver(ingest, no_currency)
    assert reply.status == 200 and reply.body["status"] == "rejected"
    assert pub.messages == []


def test_not_json_or_not_an_event():
    ingest, _ = relay()
    header = stripe_sdk.WebhookSignature.generate_signature_header("{nope", SECRET)
    request = IncomingRequest("POST", "/webhooks/stripe", {"Stripe-Signature": header}, b"{nope")
    assert ingest.handle(request).status == 400
    assert deliver(ingest, {"object": "event"}).status == 400


def test_unconfigured_stripe_is_404_without_reading_a_secret():
    ingest = Ingest(publisher=InMemoryPublisher(), auth=ApiKeyAuth(lambda: ()), pixel_id="1")
    reply = deliver(ingest, stripe_event(SESSION))
    assert reply.status == 404 and "CAPI_STRIPE_WEBHOOK_SECRET" in reply.body["error"]["message"]
