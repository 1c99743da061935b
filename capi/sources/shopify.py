"""Shopify order webhooks (`orders/create`, `orders/paid`) -> one Meta Purchase event.

The signature (`X-Shopify-Hmac-Sha256`) is checked over the raw body by capi.ingest.webhooks
before this runs. Mapping (docs/SOURCES.md has the table):

- event_id: the storefront's `event_id` note attribute when present (so the server event matches
  the browser Pixel's eventID), else `shopify-order-<order id>`: a redelivered webhook, and the
  same order seen through both topics, carries the same id.
- event_time: the order's `created_at`, when the purchase happened.
- user_data: em (email, contact_email, customer.email), ph (phone, customer.phone,
  billing_address.phone), fn / ln (customer, else billing, else shipping), ct / st / zp /
  country (billing, else shipping, else the customer's default address), external_id
  (customer.id), client_ip_address (browser_ip), client_user_agent (client_details.user_agent),
  fbp / fbc from the `_fbp` / `_fbc` note attributes, else fbc from the fbclid of landing_site.
- custom_data: value (current_total_price, else total_price), currency (the shop's currency),
  order_id, contents / content_ids / num_items from line_items (variant id, else product id,
  else SKU), content_type product.
- action_source: physical_store for POS orders, website when the order carries a browser user
  agent, else other. event_source_url: the shop's origin (never order_status_url, whose query
  carries the key to the customer's order page).

Cancelled orders are ignored (answered 200). `Shopify`'s `customer.email_marketing_consent` is
consent to marketing e-mail, not to advertising storage, so it is not read as a consent signal.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from capi.errors import UnknownTopic
from capi.meta.body import Batch, BodyError
from capi.meta.click_ids import fbc_from_url
from capi.meta.problems import Problem
from capi.sources import Ignored, SourceContext
from capi.values import as_mapping, scalar_text

PURCHASE_TOPICS = frozenset({"orders/create", "orders/paid"})
# Topics answered 200 without an event: other order updates, and the mandatory privacy topics
# (an app must acknowledge them). Any other topic is a misconfigured subscription: 400.
IGNORED_TOPICS = frozenset(
    {
        "orders/updated",
        "orders/cancelled",
        "orders/fulfilled",
        "orders/partially_fulfilled",
        "orders/edited",
        "orders/delete",
        "refunds/create",
        "customers/data_request",
        "customers/redact",
        "shop/redact",
        "app/uninstalled",
    }
)
NOTE_KEYS = {
    "event_id": ("event_id", "_event_id", "fb_event_id"),
    "fbp": ("_fbp", "fbp"),
    "fbc": ("_fbc", "fbc"),
}


def _money(value: Any) -> float | None:
    try:
        number = float(scalar_text(value))
    except ValueError:
        return None
    return number if number == number and abs(number) != float("inf") else None


def _seconds(value: Any) -> int | None:
    text = scalar_text(value)
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return int(moment.timestamp())


def note_attributes(order: Mapping[str, Any]) -> dict[str, str]:
    """The order's note attributes as a dict (name -> value), first value wins."""
    result: dict[str, str] = {}
    attributes = order.get("note_attributes")
    for item in attributes if isinstance(attributes, list) else []:
        if isinstance(item, Mapping):
            name, value = scalar_text(item.get("name")), scalar_text(item.get("value"))
            if name and value and name not in result:
                result[name] = value
    return result


def _note(notes: Mapping[str, str], field: str) -> str:
    return next((notes[k] for k in NOTE_KEYS[field] if notes.get(k)), "")


def _distinct(*values: Any) -> Any:
    texts = list(dict.fromkeys(t for t in (scalar_text(v) for v in values) if t))
    if not texts:
        return None
    return texts[0] if len(texts) == 1 else texts


def _first(*values: Any) -> str:
    return next((t for t in (scalar_text(v) for v in values) if t), "")


def _user_data(order: Mapping[str, Any], notes: Mapping[str, str]) -> dict[str, Any]:
    customer = as_mapping(order.get("customer"))
    billing = as_mapping(order.get("billing_address"))
    shipping = as_mapping(order.get("shipping_address"))
    home = as_mapping(customer.get("default_address"))
    client = as_mapping(order.get("client_details"))
    address = next((a for a in (billing, shipping, home) if a), {})
    fields: dict[str, Any] = {
        "em": _distinct(order.get("email"), order.get("contact_email"), customer.get("email")),
        "ph": _distinct(order.get("phone"), customer.get("phone"), billing.get("phone")),
        "fn": _first(
            customer.get("first_name"), billing.get("first_name"), shipping.get("first_name")
        ),
        "ln": _first(
            customer.get("last_name"), billing.get("last_name"), shipping.get("last_name")
        ),
        "ct": scalar_text(address.get("city")),
        "st": _first(address.get("province_code"), address.get("province")),
        "zp": scalar_text(address.get("zip")),
        "country": _first(address.get("country_code"), address.get("country")),
        "external_id": scalar_text(customer.get("id")),
        "client_ip_address": _first(order.get("browser_ip"), client.get("browser_ip")),
        "client_user_agent": scalar_text(client.get("user_agent")),
        "fbp": _note(notes, "fbp"),
        "fbc": _note(notes, "fbc"),
    }
    return {k: v for k, v in fields.items() if v}


def _contents(order: Mapping[str, Any], notes: list[Problem]) -> tuple[list[dict[str, Any]], int]:
    contents = []
    count = 0
    items = order.get("line_items")
    for i, item in enumerate(items if isinstance(items, list) else []):
        item_id = (
            _first(item.get("variant_id"), item.get("product_id"), item.get("sku"))
            if isinstance(item, Mapping)
            else ""
        )
        if not item_id:
            notes.append(
                Problem(
                    f"line_items[{i}]",
                    "a line item without variant_id, product_id or sku is left out of "
                    "custom_data.contents (a custom item cannot be matched to the catalog)",
                    "unmapped",
                )
            )
            continue
        content: dict[str, Any] = {"id": item_id}
        quantity = item.get("quantity")
        if isinstance(quantity, int) and not isinstance(quantity, bool) and quantity > 0:
            content["quantity"] = quantity
            count += quantity
        else:
            count += 1
        price = _money(item.get("price"))
        if price is not None:
            content["item_price"] = price
        contents.append(content)
    return contents, count


def _origin(order: Mapping[str, Any], shop_domain: str) -> str:
    try:
        parts = urlsplit(scalar_text(order.get("order_status_url")))
    except ValueError:
        parts = None
    if parts is not None and parts.scheme in ("http", "https") and parts.netloc:
        return f"https://{parts.netloc}/"
    domain = shop_domain.strip().strip("/")
    return f"https://{domain}/" if domain and "/" not in domain else ""


def _action_source(order: Mapping[str, Any], user_data: Mapping[str, Any]) -> str:
    if scalar_text(order.get("source_name")).lower() == "pos":
        return "physical_store"
    return "website" if user_data.get("client_user_agent") else "other"


def order_identity(order: Mapping[str, Any], key: str) -> str:
    """The order as the store's own pages name it (context.shopify_order_key), falling back to
    the order's id when that field is empty."""
    return scalar_text(order.get(key)) or scalar_text(order.get("id"))


def adapt(order: Any, context: SourceContext) -> Batch:
    """The batch for one Shopify webhook. Raises Ignored (answer 2xx), UnknownTopic, or
    BodyError when the body is not an order. What cannot be mapped is the event's notes."""
    unmapped: list[Problem] = []
    topic = context.topic.strip().lower()
    if topic in IGNORED_TOPICS:
        raise Ignored(f"topic {topic} is not turned into events")
    if topic not in PURCHASE_TOPICS:
        raise UnknownTopic(
            f"unknown topic {topic or '(none)'}; subscribe this endpoint to "
            + " or ".join(sorted(PURCHASE_TOPICS))
        )
    if not isinstance(order, Mapping) or not scalar_text(order.get("id")):
        raise BodyError(400, "invalid_body", "the body is not a Shopify order (no id)")
    if scalar_text(order.get("cancelled_at")):
        raise Ignored("the order is cancelled")
    order_id = order_identity(order, context.shopify_order_key)
    notes = note_attributes(order)
    user_data = _user_data(order, notes)
    event_time = _seconds(order.get("created_at")) or _seconds(order.get("processed_at"))
    if "fbc" not in user_data and event_time:
        landing = scalar_text(order.get("landing_site"))  # usually a path: /?fbclid=...
        url = "https://shop.invalid" + landing if landing.startswith("/") else landing
        fbc = fbc_from_url(url, event_time * 1000)
        if fbc:
            user_data["fbc"] = fbc
    contents, count = _contents(order, unmapped)
    custom: dict[str, Any] = {"order_id": order_id}
    given = order.get("current_total_price")
    if given in (None, ""):
        given = order.get("total_price")
    value = _money(given)
    if value is not None:
        custom["value"] = value
    elif given not in (None, ""):
        custom["value"] = given  # not a number: validation names it as it would on /events
    currency = scalar_text(order.get("currency")).upper()
    if currency:
        custom["currency"] = currency
    if contents:
        custom["contents"] = contents
        custom["content_ids"] = list(dict.fromkeys(c["id"] for c in contents))
        custom["num_items"] = count
        custom["content_type"] = "product"
    event: dict[str, Any] = {
        "event_name": "Purchase",
        "event_id": _note(notes, "event_id") or order_id,
        "action_source": _action_source(order, user_data),
        "user_data": user_data,
        "custom_data": custom,
    }
    if event_time:
        event["event_time"] = event_time
    origin = _origin(order, context.shop_domain)
    if origin:
        event["event_source_url"] = origin
    return Batch([event], notes={0: unmapped} if unmapped else {})
