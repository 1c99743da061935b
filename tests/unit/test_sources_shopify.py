"""Shopify orders/create and orders/paid -> Purchase, and the /webhooks/shopify route."""

import io
import json
import time

import pytest

from capi import logs
from capi.ingest.auth import ApiKeyAuth
from capi.ingest.handler import Ingest
from capi.ingest.webhooks import SourceRoutes
from capi.meta.body import BodyError
from capi.queueing.memory import InMemoryPublisher
from capi.routing import parse_routing
from capi.secret_store import SecretError
from capi.sources import Ignored, SourceContext, shopify
from capi.sources.shopify import IGNORED_TOPICS, UnknownTopic
from capi.web import IncomingRequest
from tests.factories import validate_event
from tests.fixtures import shopify_order
from tests.signing import shopify_signature


def adapt(order, *, topic, shop_domain=""):
    """The Meta events of one Shopify order under a topic (the default order key)."""
    return shopify.adapt(order, SourceContext(topic=topic, shop_domain=shop_domain)).events


SECRET = "shpss_fixture_secret"


def test_the_documented_order_becomes_a_valid_purchase():
    order = shopify_order()
    (event,) = adapt(order, topic="orders/create", shop_domain="jsmith.myshopify.com")
    assert event["event_name"] == "Purchase"
    assert event["event_id"] == "1001"  # its order_number, as the storefront names it
    assert abs(event["event_time"] - (time.time() - 120)) < 5
    assert event["action_source"] == "website"
    assert event["event_source_url"] == "https://jsmith.myshopify.com/"  # never the order key
    user = event["user_data"]
    assert user["em"] == ["jon@example.com", "john@example.com"]
    assert user["ph"] == ["+16135551111", "555-555-SHIP"]  # the bad one is dropped later
    assert (user["fn"], user["ln"]) == ("John", "Smith")  # the customer, not the ship-to
    assert (user["ct"], user["st"], user["zp"], user["country"]) == (
        "Shippington",
        "KY",
        "40003",
        "US",
    )
    assert user["external_id"] == "115310627314723954"
    assert user["client_ip_address"] == "216.191.105.146"
    assert user["client_user_agent"].startswith("Mozilla/5.0 (Macintosh")
    assert user["fbp"] == "fb.1.1640995200000.1234567890"
    assert user["fbc"] == (
        f"fb.1.{event['event_time'] * 1000}."
        "IwAR2F4-dbP0l7Mn1IawQQGCINEz7PYXQvwjNwB_qa2ofrHyiLjcbCRxTDMgk"
    )
    custom = event["custom_data"]
    assert (custom["value"], custom["currency"], custom["order_id"]) == (
        409.94,
        "USD",
        "1001",  # the order_number: what the storefront calls the order
    )
    assert custom["contents"] == [
        {"id": "808950810", "quantity": 1, "item_price": 199.0},
        {"id": "457924702", "quantity": 1, "item_price": 199.0},
    ]
    assert custom["num_items"] == 2 and custom["content_type"] == "product"
    errors, warnings = validate_event(event)
    assert errors == []
    assert any(w.path.startswith("user_data.ph") for w in warnings)  # 555-555-SHIP


def test_redeliveries_and_both_topics_give_the_same_event_id():
    ids = {
        adapt(shopify_order(), topic=topic)[0]["event_id"]
        for topic in ("orders/create", "orders/paid", "orders/paid")
    }
    assert ids == {"1001"}


def test_storefront_note_attributes_win():
    order = shopify_order()
    order["note_attributes"] = [
        {"name": "event_id", "value": "pixel-evt-1001"},
        {"name": "_fbc", "value": "fb.1.1640990000000.StorefrontClick"},
    ]
    (event,) = adapt(order, topic="orders/paid")
    assert event["event_id"] == "pixel-evt-1001"
    assert event["user_data"]["fbc"] == "fb.1.1640990000000.StorefrontClick"
    assert "fbp" not in event["user_data"]


def test_action_source_for_pos_and_api_orders():
    pos = shopify_order()
    pos["source_name"] = "pos"
    assert adapt(pos, topic="orders/create")[0]["action_source"] == "physical_store"
    api = shopify_order()
    api["client_details"] = None
    api["source_name"] = "shopify_draft_order"
    assert adapt(api, topic="orders/create")[0]["action_source"] == "other"


def test_shop_domain_header_when_there_is_no_status_url():
    order = shopify_order()
    del order["order_status_url"]
    (event,) = adapt(order, topic="orders/create", shop_domain="my-shop.myshopify.com")
    assert event["event_source_url"] == "https://my-shop.myshopify.com/"


def test_cancelled_ignored_and_unknown_topics():
    cancelled = shopify_order()
    cancelled["cancelled_at"] = cancelled["created_at"]
    with pytest.raises(Ignored, match="cancelled"):
        adapt(cancelled, topic="orders/paid")
    for topic in sorted(IGNORED_TOPICS):
        with pytest.raises(Ignored):
            adapt(shopify_order(), topic=topic)
    with pytest.raises(UnknownTopic, match="orders/create or orders/paid"):
        adapt(shopify_order(), topic="products/update")
    with pytest.raises(BodyError, match="not a Shopify order"):
        adapt({"products": []}, topic="orders/create")


# -- the route ----------------------------------------------------------------------------------


def relay(secrets=lambda: (SECRET,), fail=False, topics=None, **kwargs):
    publisher = InMemoryPublisher(fail=fail)
    routes = SourceRoutes(shopify_secrets=secrets)
    if topics is not None:
        routes = SourceRoutes(shopify_secrets=secrets, shopify_topics=frozenset(topics))
    ingest = Ingest(
        publisher=publisher,
        auth=ApiKeyAuth(lambda: ("k",)),
        pixel_id="111",
        sources=routes,
        **kwargs,
    )
    return ingest, publisher


def deliver(
    ingest,
    order,
    *,
    topic="orders/create",
    secret=SECRET,
    signature=None,
    query=None,
    webhook_id="b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
):
    body = order if isinstance(order, bytes) else json.dumps(order).encode()
    headers = {
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": "jsmith.myshopify.com",
        "X-Shopify-Webhook-Id": webhook_id,
    }
    headers["X-Shopify-Hmac-Sha256"] = (
        signature if signature is not None else shopify_signature(body, secret)
    )
    request = IncomingRequest(
        "POST", "/webhooks/shopify", headers, body, "application/json", query=query or {}
    )
    return ingest.handle(request)


def test_signed_order_is_queued_and_a_redelivery_keeps_its_id():
    ingest, pub = relay()
    order = shopify_order()
    first = deliver(ingest, order)
    paid = {**order, "financial_status": "paid", "updated_at": "2024-01-02T10:00:00-05:00"}
    again = deliver(ingest, paid, topic="orders/paid", webhook_id="7b1f0c2e-paid")
    assert (first.status, again.status) == (202, 202)
    assert {m.attributes["event_id"] for m in pub.messages} == {"1001"}
    assert {m.attributes["source"] for m in pub.messages} == {"shopify"}


def test_signature_failures_are_401_and_logged_without_pii():
    stream = io.StringIO()
    logs.set_stream(stream)
    try:
        ingest, pub = relay()
        order = shopify_order()
        assert deliver(ingest, order, secret="wrong").status == 401
        assert deliver(ingest, order, signature="").status == 401
        tampered = json.dumps(order).encode()
        signature = shopify_signature(tampered, SECRET)
        reply = deliver(ingest, tampered.replace(b"409.94", b"0.01"), signature=signature)
        assert reply.status == 401 and reply.body["error"]["code"] == "signature_invalid"
    finally:
        logs.set_stream(None)
    assert pub.messages == []
    text = stream.getvalue()
    assert "webhook signature refused" in text
    assert "jon@example.com" not in text and SECRET not in text and "Shipper" not in text


def test_the_signature_is_checked_before_the_json_is_parsed():
    ingest, _ = relay()
    assert deliver(ingest, b"{not json", secret="wrong").status == 401
    assert deliver(ingest, b"{not json").status == 400


def test_topics_ignored_unknown_and_missing():
    ingest, pub = relay()
    ignored = deliver(ingest, shopify_order(), topic="orders/updated")
    assert ignored.status == 200 and ignored.body["status"] == "ignored"
    # the ignored body, replayed under a purchase topic, is not turned into a Purchase
    assert deliver(ingest, shopify_order(), topic="orders/paid").body["status"] == "duplicate"
    ingest, pub = relay()
    assert deliver(ingest, shopify_order(), topic="products/update").status == 400
    missing = deliver(ingest, shopify_order(), topic="")
    assert missing.status == 400 and missing.body["error"]["code"] == "unknown_topic"
    cancelled = shopify_order()
    cancelled["cancelled_at"] = cancelled["created_at"]
    assert deliver(ingest, cancelled).body == {
        "status": "ignored",
        "reason": "the order is cancelled",
    }
    assert pub.messages == []


def test_an_invalid_order_is_answered_200_so_shopify_does_not_retry_forever():
    ingest, pub = relay()
    stale = shopify_order(age_s=9 * 86400)
    reply = deliver(ingest, stale)
    assert reply.status == 200
    assert reply.body["status"] == "rejected"
    assert reply.body["results"][0]["errors"][0]["path"] == "event_time"
    assert pub.messages == []


def test_queue_failure_is_503_so_shopify_retries():
    ingest, _ = relay(fail=True)
    assert deliver(ingest, shopify_order()).status == 503


def test_secret_missing_or_unreadable():
    unconfigured, _ = relay(secrets=None)
    reply = deliver(unconfigured, shopify_order())
    # not set up on this relay: 404, and no secret is read (no error log, no alert)
    assert reply.status == 404 and "CAPI_SHOPIFY_WEBHOOK_SECRET" in reply.body["error"]["message"]

    def unreadable():
        raise SecretError("could not read")

    assert deliver(relay(secrets=unreadable)[0], shopify_order()).status == 503
    assert (
        deliver(
            Ingest(publisher=InMemoryPublisher(), auth=ApiKeyAuth(lambda: ()), pixel_id="1"),
            shopify_order(),
        ).status
        == 404
    )
    empty, _ = relay(secrets=lambda: ("",))
    assert deliver(empty, shopify_order()).status == 500  # set up, but the secret is empty


def test_rotation_accepts_old_and_new_secret():
    ingest, _ = relay(secrets=lambda: ("old", SECRET))
    assert deliver(ingest, shopify_order(), secret="old").status == 202
    other = {**shopify_order(), "id": 820982911946154509}
    assert deliver(ingest, other, secret=SECRET, webhook_id="second-delivery").status == 202


def test_route_pixels_and_query_parameters():
    routing = parse_routing(
        {
            "pixels": {"111": {}, "222": {"test_event_code": "SHOPTEST"}, "333": {}},
            "routes": {"/webhooks/shopify": {"pixels": ["222"], "allow": ["333"]}},
        }
    )
    ingest, pub = relay(routing=routing)
    assert deliver(ingest, shopify_order()).status == 202
    # a signed webhook's pixel and test code come from the configuration, never the query
    for query in ({"pixel_id": "333", "test_event_code": "Q1"}, {"pixel_id": "111"}):
        refused = deliver(ingest, {**shopify_order(), "id": 2}, query=query)
        assert refused.status == 400 and refused.body["error"]["code"] == "unsigned_routing"
    sent = [(m.attributes["pixel_id"], m.attributes.get("test_event_code")) for m in pub.messages]
    assert sent == [("222", "SHOPTEST")]


def test_methods_and_size():
    ingest, _ = relay()
    assert ingest.handle(IncomingRequest("GET", "/webhooks/shopify", {})).status == 405
    big = IncomingRequest("POST", "/webhooks/shopify", {}, b"", "application/json", too_large=True)
    assert ingest.handle(big).status == 413


def test_the_same_signed_delivery_twice_is_not_queued_again_whatever_its_headers_say():
    ingest, pub = relay()
    order = shopify_order()
    assert deliver(ingest, order).status == 202
    replays = [
        deliver(ingest, order),  # the same delivery again
        deliver(ingest, order, topic="orders/paid"),  # the topic header swapped
        deliver(ingest, order, webhook_id="forged-id"),  # the id header changed
    ]
    assert [r.status for r in replays] == [200, 200, 200]
    assert {r.body["status"] for r in replays} == {"duplicate"}
    assert len(pub.messages) == 1


def test_a_delivery_that_was_not_accepted_can_be_retried():
    ingest, pub = relay(fail=True)
    order = shopify_order()
    assert deliver(ingest, order).status == 503
    ingest.publisher.fail = False
    assert deliver(ingest, order).status == 202  # Shopify's retry after our 503
    assert len(pub.messages) == 1


def test_only_the_configured_topics_are_taken():
    ingest, pub = relay(topics=["orders/paid"])
    refused = deliver(ingest, shopify_order(), topic="orders/create")
    assert refused.status == 400 and refused.body["error"]["code"] == "topic_not_configured"
    assert deliver(ingest, shopify_order(), topic="orders/paid").status == 202
    assert len(pub.messages) == 1


def test_routing_from_the_unsigned_query_is_refused():
    ingest, pub = relay()
    for query in ({"pixel_id": "999"}, {"test_event_code": "TEST1"}):
        reply = deliver(ingest, shopify_order(), query=query)
        assert reply.status == 400 and reply.body["error"]["code"] == "unsigned_routing"
    assert pub.messages == []
