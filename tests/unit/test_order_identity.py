"""One order, one Purchase, across doors (issue 24): the storefront's GA4 purchase through /sgtm
(no event_id, transaction_id 1001) and Shopify's signed orders/create for the same order both
give the event_id Meta deduplicates on, so Meta counts one Purchase; before, they were `1001` and
`shopify-order-820982911946154508`, two Purchases."""

from __future__ import annotations

import json
import time

import pytest

from capi.ingest.auth import ApiKeyAuth
from capi.ingest.handler import Ingest
from capi.ingest.webhooks import SourceRoutes
from capi.queueing.memory import InMemoryPublisher
from capi.web import IncomingRequest
from tests.fixtures import shopify_order, stripe_event
from tests.signing import shopify_signature

SECRET = "shpss_orders"


def relay(order_key="order_number"):
    queue = InMemoryPublisher()
    routes = SourceRoutes(shopify_secrets=lambda: (SECRET,), shopify_order_key=order_key)
    ingest = Ingest(
        publisher=queue, auth=ApiKeyAuth(lambda: ("k",)), pixel_id="111", sources=routes
    )
    return ingest, queue


def ga4_purchase(transaction_id):
    data = {
        "event_name": "purchase",
        "transaction_id": transaction_id,
        "value": 409.94,
        "currency": "USD",
        "user_data": {"email_address": "bob.norman@mail.example.com"},
        "page_location": "https://jsmith.myshopify.com/checkouts/thanks",
        "ip_override": "203.0.113.9",
        "user_agent": "Mozilla/5.0",
    }
    body = json.dumps({"event_data": data, "event_time": int(time.time()) - 60}).encode()
    return IncomingRequest("POST", "/sgtm", {"X-API-Key": "k"}, body, "application/json")


def shopify_webhook(order):
    body = json.dumps(order).encode()
    headers = {
        "X-Shopify-Hmac-Sha256": shopify_signature(body, SECRET),
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Webhook-Id": f"w-{time.monotonic_ns()}",
        "X-Shopify-Shop-Domain": "jsmith.myshopify.com",
    }
    return IncomingRequest("POST", "/webhooks/shopify", headers, body, "application/json")


@pytest.mark.parametrize(
    ("order_key", "dataLayer_id"),
    [("order_number", "1001"), ("name", "#1001"), ("id", "820982911946154508")],
)
def test_one_order_through_sgtm_and_shopify_is_one_event_id(order_key, dataLayer_id):
    ingest, queue = relay(order_key)
    order = shopify_order()
    assert (order["order_number"], order["name"]) == (1001, "#1001")
    assert ingest.handle(ga4_purchase(dataLayer_id)).status == 202
    assert ingest.handle(shopify_webhook(order)).status == 202
    ids = {(m.attributes["event_name"], m.attributes["event_id"]) for m in queue.messages}
    assert ids == {("Purchase", dataLayer_id)}, ids  # one Purchase for Meta


def test_stripe_session_and_intent_and_events_name_the_order_alike():
    """A Stripe session names its order by its payment intent (test_sources_stripe.py: the
    session and the intent share one id), and a backend's
    Purchase with that order_id and no event_id gets it as its event_id (the fixtures carry the
    Pixel's eventID in metadata, which wins on Stripe's events)."""
    from capi.sources import SourceContext, stripe

    session = stripe.adapt(stripe_event("checkout_session_completed"), SourceContext()).events
    order = session[0]["custom_data"]["order_id"]
    assert order.startswith("pi_")  # the session's payment intent, not the session
    ingest, _ = relay()
    backend = {
        "event_name": "Purchase",
        "event_time": int(time.time()) - 60,
        "action_source": "system_generated",
        "user_data": {"em": "jenny@example.com"},
        "custom_data": {"value": 10, "currency": "EUR", "order_id": order},
    }
    body = json.dumps(backend).encode()
    reply = ingest.handle(
        IncomingRequest("POST", "/events", {"X-API-Key": "k"}, body, "application/json")
    )
    assert reply.status == 202 and reply.body["results"][0]["event_id"] == order


def test_a_purchase_without_an_order_is_answered_with_a_warning():
    ingest, _ = relay()
    event = {
        "event_name": "Purchase",
        "event_time": int(time.time()) - 60,
        "action_source": "system_generated",
        "user_data": {"em": "jenny@example.com"},
        "custom_data": {"value": 10, "currency": "EUR"},
    }
    reply = ingest.handle(
        IncomingRequest(
            "POST", "/events", {"X-API-Key": "k"}, json.dumps(event).encode(), "application/json"
        )
    )
    codes = [w["code"] for w in reply.body["results"][0]["warnings"]]
    assert reply.status == 202 and "no_order_id" in codes
