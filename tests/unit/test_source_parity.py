"""Parity: every way in applies Meta's contract the same way (issue 10).

For each source, one logical event is sent through its route and, written by hand as a backend
would, through `/events`. The Meta event that the forwarder would send (the queued event after
`prepare_event`), the errors and the warnings must be the same; what the adapter could not map is
reported on top (code `unmapped` or `prehashed_by_google`), never dropped without a word.
"""

from __future__ import annotations

import hashlib
import json
import time

import stripe as stripe_sdk

from capi.ingest.auth import ApiKeyAuth
from capi.ingest.handler import Ingest
from capi.ingest.webhooks import SourceRoutes
from capi.meta.prepare import prepare_event
from capi.queueing.memory import InMemoryPublisher
from capi.sources.generic import parse_mappings
from capi.web import IncomingRequest
from tests.signing import shopify_signature

SHOPIFY_SECRET = "shpss_parity"
STRIPE_SECRET = "whsec_parity"
KEY = {"X-API-Key": "k"}
NOW = int(time.time())
WHEN = NOW - 600  # every event happened ten minutes ago
MAPPINGS = parse_mappings(
    {
        "webhooks": {
            "crm": {
                "records": "deals",
                "event_name": {"path": "stage", "map": {"won": "Purchase"}},
                "fields": {
                    "event_id": {"template": "deal-{id}"},
                    "event_time": {"path": "closed_at", "type": "timestamp"},
                    "user_data.em": "contact.email",
                    "user_data.ph": "contact.phone",
                    "custom_data.value": {"path": "amount", "type": "number"},
                    "custom_data.currency": {"path": "currency", "default": "USD"},
                    "custom_data.order_id": {"template": "deal-{id}"},
                },
                "constants": {"action_source": "system_generated"},
            }
        }
    }
)


def relay() -> tuple[Ingest, InMemoryPublisher]:
    recorder = InMemoryPublisher()
    sources = SourceRoutes(
        shopify_secrets=lambda: (SHOPIFY_SECRET,),
        stripe_secrets=lambda: (STRIPE_SECRET,),
        mappings=MAPPINGS,
    )
    auth = ApiKeyAuth(lambda: ("k",))
    return Ingest(publisher=recorder, auth=auth, pixel_id="111", sources=sources), recorder


def request(path: str, body, headers=None, query=None) -> IncomingRequest:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return IncomingRequest(
        "POST", path, {**KEY, **(headers or {})}, raw, "application/json", query=query or {}
    )


def outcome(route_request: IncomingRequest) -> tuple[int, list, list[dict]]:
    """(status, per-event results without the index, the Meta events the forwarder would send)."""
    ingest, recorder = relay()
    reply = ingest.handle(route_request)
    results = [{k: v for k, v in r.items() if k != "index"} for r in reply.body.get("results", [])]
    sent = [prepare_event(json.loads(m.data))[0] for m in recorder.messages]
    return reply.status, results, sent


def without(results: list, *codes: str) -> list:
    """The results with the adapter's own notes (of the given codes) taken out."""
    return [
        {**r, "warnings": [w for w in r["warnings"] if w["code"] not in codes]} for r in results
    ]


def notes(results: list, code: str) -> list[str]:
    return [w["path"] for r in results for w in r["warnings"] if w["code"] == code]


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# -- sGTM ----------------------------------------------------------------------------------------


def ga4_purchase(**data) -> dict:
    event_data = {
        "event_name": "purchase",
        "event_id": "T_1-purchase",
        "transaction_id": "T_1",
        "value": 59.9,
        "currency": "eur",
        "page_location": "https://shop.example.com/thanks?fbclid=IwAR_parity",
        "ip_override": "93.184.216.34",
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
        "user_data": {"email_address": "Anna@Example.com", "phone_number": "+49 30 901820"},
        "items": [{"item_id": "SKU_1", "quantity": 2, "price": 29.95}],
        **data,
    }
    return {"event_data": event_data, "event_time": WHEN * 1000}  # the tag sends milliseconds


def meta_purchase(**custom) -> dict:
    """The same purchase as a backend would write it for /events."""
    custom_data = {
        "value": 59.9,
        "currency": "EUR",
        "order_id": "T_1",
        "contents": [{"id": "SKU_1", "quantity": 2, "item_price": 29.95}],
        "content_ids": ["SKU_1"],
        "num_items": 2,
        "content_type": "product",
        **custom,
    }
    return {
        "event_name": "Purchase",
        "event_id": "T_1-purchase",
        "event_time": WHEN,
        "action_source": "website",
        "event_source_url": "https://shop.example.com/thanks?fbclid=IwAR_parity",
        "user_data": {
            "em": "Anna@Example.com",
            "ph": "+49 30 901820",
            "client_ip_address": "93.184.216.34",
            "client_user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
        },
        "custom_data": {k: v for k, v in custom_data.items() if v is not None},
    }


def test_sgtm_purchase_is_the_same_meta_event_as_on_events():
    sgtm = outcome(request("/sgtm", ga4_purchase()))
    events = outcome(request("/events", {"data": [meta_purchase()]}))
    assert sgtm == events
    status, results, (sent,) = sgtm
    assert status == 202 and results[0]["warnings"] == []
    assert sent["user_data"]["em"] == [sha("anna@example.com")]
    # fbc from the page's fbclid carries the event's time on both paths, never the ingest time
    assert sent["user_data"]["fbc"] == f"fb.1.{WHEN * 1000}.IwAR_parity"


def test_sgtm_value_with_a_decimal_comma_is_refused_as_on_events():
    # Bug (issue 10): /sgtm answered 202 and sent {"currency": "EUR"} without the value.
    sgtm = outcome(request("/sgtm", ga4_purchase(value="1.234,50")))
    events = outcome(request("/events", {"data": [meta_purchase(value="1.234,50")]}))
    assert sgtm == events
    status, results, sent = sgtm
    assert status == 400 and sent == []
    assert [e["path"] for e in results[0]["errors"]] == ["custom_data.value"]


def test_sgtm_value_that_is_not_a_number_is_invalid_not_missing():
    # Bug (issue 10): value "abc" was reported as "value missing".
    status, results, _ = outcome(request("/sgtm", ga4_purchase(value="abc")))
    assert status == 400
    assert [(e["path"], e["code"]) for e in results[0]["errors"]] == [
        ("custom_data.value", "invalid")
    ]
    assert results == outcome(request("/events", {"data": [meta_purchase(value="abc")]}))[1]


def test_sgtm_item_without_id_is_named_and_the_rest_is_as_on_events():
    items = [{"item_id": "SKU_1", "quantity": 2, "price": 29.95}, {"item_name": "Gift wrap"}]
    sgtm = outcome(request("/sgtm", ga4_purchase(items=items)))
    events = outcome(request("/events", {"data": [meta_purchase()]}))
    assert notes(sgtm[1], "unmapped") == ["items[1]"]
    assert (sgtm[0], without(sgtm[1], "unmapped"), sgtm[2]) == events


def test_sgtm_prehashed_user_data_is_named_and_the_verdict_is_as_on_events():
    # Bug (issue 10): only Google's sha256_* data gave a bare insufficient_customer_information.
    data = ga4_purchase(
        user_data={"sha256_email_address": sha("anna@example.com"), "sha256_phone_number": "ab"},
        ip_override=None,
        user_agent=None,
        page_location="https://shop.example.com/thanks",
    )
    body = meta_purchase()
    body["user_data"] = {}
    body["event_source_url"] = "https://shop.example.com/thanks"
    sgtm = outcome(request("/sgtm", data))
    events = outcome(request("/events", {"data": [body]}))
    assert notes(sgtm[1], "prehashed_by_google") == [
        "user_data.sha256_email_address, user_data.sha256_phone_number"
    ]
    assert (sgtm[0], without(sgtm[1], "prehashed_by_google"), sgtm[2]) == events
    assert sgtm[0] == 400 and sgtm[1][0]["errors"]  # nothing to match on: refused on both


# -- Shopify -------------------------------------------------------------------------------------


def shopify_order(**fields) -> dict:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(WHEN))
    return {
        "id": 4501,
        "created_at": stamp,
        "email": "Jon@Example.com",
        "currency": "USD",
        "current_total_price": "42.50",
        "browser_ip": "93.184.216.35",
        "client_details": {"user_agent": "Mozilla/5.0 (Macintosh)"},
        "landing_site": "/?fbclid=IwAR_shop",
        "order_status_url": "https://shop.example.com/1/orders/abc/authenticate?key=secret",
        "customer": {"id": 77, "first_name": "Jon", "last_name": "Smith"},
        "billing_address": {
            "city": "Ottawa",
            "province_code": "ON",
            "zip": "K2P 1L4",
            "country_code": "CA",
        },
        "line_items": [{"variant_id": 9001, "quantity": 1, "price": "42.50"}],
        **fields,
    }


def shopify_request(order: dict) -> IncomingRequest:
    body = json.dumps(order).encode()
    headers = {
        "X-Shopify-Topic": "orders/paid",
        "X-Shopify-Hmac-Sha256": shopify_signature(body, SHOPIFY_SECRET),
        "X-Shopify-Webhook-Id": f"parity-{hashlib.md5(body).hexdigest()}",
    }
    return request("/webhooks/shopify", body, headers)


def shopify_as_events(**custom) -> dict:
    return {
        "event_name": "Purchase",
        "event_id": "4501",  # no order_number in this order: its id names it
        "event_time": WHEN,
        "action_source": "website",
        "event_source_url": "https://shop.example.com/",
        "user_data": {
            "em": "Jon@Example.com",
            "fn": "Jon",
            "ln": "Smith",
            "ct": "Ottawa",
            "st": "ON",
            "zp": "K2P 1L4",
            "country": "CA",
            "external_id": "77",
            "client_ip_address": "93.184.216.35",
            "client_user_agent": "Mozilla/5.0 (Macintosh)",
            "fbc": f"fb.1.{WHEN * 1000}.IwAR_shop",
        },
        "custom_data": {
            "order_id": "4501",
            "value": 42.5,
            "currency": "USD",
            "contents": [{"id": "9001", "quantity": 1, "item_price": 42.5}],
            "content_ids": ["9001"],
            "num_items": 1,
            "content_type": "product",
            **custom,
        },
    }


def test_shopify_order_is_the_same_meta_event_as_on_events():
    shopify = outcome(shopify_request(shopify_order()))
    events = outcome(request("/events", {"data": [shopify_as_events()]}))
    assert shopify == events
    assert shopify[0] == 202 and shopify[1][0]["warnings"] == []


def test_shopify_custom_line_item_is_named():
    items = [{"variant_id": 9001, "quantity": 1, "price": "42.50"}, {"title": "Tip", "price": "1"}]
    shopify = outcome(shopify_request(shopify_order(line_items=items)))
    events = outcome(request("/events", {"data": [shopify_as_events()]}))
    assert notes(shopify[1], "unmapped") == ["line_items[1]"]
    assert without(shopify[1], "unmapped") == events[1] and shopify[2] == events[2]


def test_shopify_total_that_is_not_a_number_is_refused_as_on_events():
    shopify = outcome(shopify_request(shopify_order(current_total_price="42,50")))
    events = outcome(request("/events", {"data": [shopify_as_events(value="42,50")]}))
    assert shopify[1] == events[1] and shopify[2] == events[2] == []
    assert [e["path"] for e in shopify[1][0]["errors"]] == ["custom_data.value"]


# -- Stripe --------------------------------------------------------------------------------------


def stripe_request(session: dict) -> IncomingRequest:
    event = {
        "id": "evt_parity",
        "object": "event",
        "type": "checkout.session.completed",
        "created": WHEN,
        "livemode": True,
        "data": {"object": session},
    }
    payload = json.dumps(event)
    header = stripe_sdk.WebhookSignature.generate_signature_header(payload, STRIPE_SECRET)
    return request("/webhooks/stripe", payload.encode(), {"Stripe-Signature": header})


def test_stripe_session_is_the_same_meta_event_as_on_events():
    session = {
        "id": "cs_live_parity",
        "object": "checkout.session",
        "mode": "payment",
        "payment_status": "paid",
        "amount_total": 5390,
        "currency": "usd",
        "client_reference_id": "user_1",
        "customer_details": {
            "email": "Jenny@Example.com",
            "name": "Jenny Rosen",
            "phone": "+14155552671",
            "address": {"country": "US"},
        },
        "metadata": {"event_id": "checkout-1", "client_user_agent": "Mozilla/5.0 (iPhone)"},
        "success_url": "https://shop.example.com/thanks?session_id={CHECKOUT_SESSION_ID}",
    }
    backend = {
        "event_name": "Purchase",
        "event_id": "checkout-1",
        "event_time": WHEN,
        "action_source": "website",
        "event_source_url": "https://shop.example.com/",
        "user_data": {
            "em": "Jenny@Example.com",
            "ph": "+14155552671",
            "fn": "Jenny",
            "ln": "Rosen",
            "country": "US",
            "external_id": "user_1",
            "client_user_agent": "Mozilla/5.0 (iPhone)",
        },
        "custom_data": {"order_id": "cs_live_parity", "value": 53.9, "currency": "USD"},
    }
    stripe = outcome(stripe_request(session))
    events = outcome(request("/events", {"data": [backend]}))
    assert stripe == events
    assert stripe[0] == 202


# -- mapped webhooks -----------------------------------------------------------------------------


def deal(**fields) -> dict:
    return {
        "id": 31,
        "stage": "won",
        "closed_at": WHEN,
        "amount": "1200.00",
        "currency": "GBP",
        "contact": {"email": "Sam@Example.co.uk", "phone": "+44 20 7946 0958"},
        **fields,
    }


def deal_as_events(**custom) -> dict:
    return {
        "event_name": "Purchase",
        "event_id": "deal-31",
        "event_time": WHEN,
        "action_source": "system_generated",
        "user_data": {"em": "Sam@Example.co.uk", "ph": "+44 20 7946 0958"},
        "custom_data": {"value": 1200.0, "currency": "GBP", "order_id": "deal-31", **custom},
    }


def test_mapped_webhook_is_the_same_meta_event_as_on_events():
    crm = outcome(request("/webhooks/crm", {"deals": [deal()]}))
    events = outcome(request("/events", {"data": [deal_as_events()]}))
    assert crm == events
    assert crm[0] == 202 and crm[1][0]["warnings"] == []


def test_mapped_value_that_cannot_be_read_is_named_not_dropped_silently():
    crm = outcome(request("/webhooks/crm", {"deals": [deal(amount="twelve hundred")]}))
    assert notes(crm[1], "unmapped") == ["custom_data.value"]
    message = next(w for w in crm[1][0]["warnings"] if w["code"] == "unmapped")["message"]
    assert "number" in message and "left out" in message
    assert crm[0] == 400  # a Purchase without its value is refused, as on /events
    body = deal_as_events()
    del body["custom_data"]["value"]
    events = outcome(request("/events", {"data": [body]}))
    assert without(crm[1], "unmapped") == events[1]
