"""Stripe webhook events -> Meta Purchase events.

The signature (`Stripe-Signature`, with its timestamp tolerance) is checked over the raw body by
capi.ingest.webhooks before this runs. Mapped event types:

- `checkout.session.completed` (when `payment_status` is `paid` or `no_payment_required`; an
  `unpaid` session, paid later by a delayed method, is ignored until
  `checkout.session.async_payment_succeeded`, mapped the same way);
- `payment_intent.succeeded` (Payment Element and custom flows).

Every other type is ignored with a 2xx answer: one Stripe endpoint receives many types, and
failing some would get the whole endpoint disabled.

- event_id: `metadata.event_id` when the integration put the Pixel's eventID there, else
  `stripe-<payment intent id>` (a Checkout Session in payment mode names its PaymentIntent, so
  the session and its payment intent events share one id), else `stripe-<session id>`.
- event_time: the Stripe event's `created`.
- value: the amount in the currency's minor unit converted to a decimal amount (zero-decimal
  currencies such as JPY as they are, three-decimal ones such as KWD / 1000).
- user_data: email, phone, name (split into fn / ln: first and last word), address (city,
  state, postal_code, country), external_id = client_reference_id (or metadata.external_id),
  and from metadata: fbp / fbc (or _fbp / _fbc), client_ip_address, client_user_agent.
- action_source: website when the metadata carries client_user_agent (and then
  event_source_url from metadata, else the success_url's origin), else other.
- Test-mode events (`livemode: false`) are sent only when the request has a test_event_code
  (e.g. `?test_event_code=TEST123` on the endpoint URL): test payments must not count as real
  conversions.

Checkout's `consent.promotions` is consent to marketing e-mail, not to advertising storage; it
is not read as a consent signal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from capi.meta.body import Batch, BodyError
from capi.sources import Ignored, SourceContext
from capi.values import as_mapping, scalar_text

PURCHASE_TYPES = frozenset(
    {
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "payment_intent.succeeded",
    }
)
# https://docs.stripe.com/currencies: amounts are in the minor unit, except these.
ZERO_DECIMAL = frozenset(
    [
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    ]
)
THREE_DECIMAL = frozenset(["bhd", "jod", "kwd", "omr", "tnd"])
_META_KEYS = {
    "fbp": ("fbp", "_fbp"),
    "fbc": ("fbc", "_fbc"),
    "client_ip_address": ("client_ip_address",),
    "client_user_agent": ("client_user_agent",),
    "external_id": ("external_id",),
}


def major_amount(amount: Any, currency: str) -> float | None:
    """Stripe's integer minor-unit amount as a decimal amount in `currency`."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        return None
    code = currency.lower()
    if code in ZERO_DECIMAL:
        return float(amount)
    divisor = 1000 if code in THREE_DECIMAL else 100
    return round(amount / divisor, 3)


def split_name(name: str) -> tuple[str, str]:
    """ "Jenny Rosen" -> ("Jenny", "Rosen"); one word -> (word, "")."""
    words = name.split()
    if not words:
        return "", ""
    return words[0], (words[-1] if len(words) > 1 else "")


def _distinct(*values: Any) -> Any:
    texts = list(dict.fromkeys(t for t in (scalar_text(v) for v in values) if t))
    if not texts:
        return None
    return texts[0] if len(texts) == 1 else texts


def _first(*values: Any) -> str:
    return next((t for t in (scalar_text(v) for v in values) if t), "")


def _meta(metadata: Mapping[str, Any], field: str) -> str:
    return _first(*(metadata.get(k) for k in _META_KEYS[field]))


def _person(
    details: Mapping[str, Any], shipping: Mapping[str, Any], metadata: Mapping[str, Any]
) -> dict[str, Any]:
    address = as_mapping(details.get("address")) or as_mapping(shipping.get("address"))
    fn, ln = split_name(_first(details.get("name"), shipping.get("name")))
    fields: dict[str, Any] = {
        "em": scalar_text(details.get("email")),
        "ph": _distinct(details.get("phone"), shipping.get("phone")),
        "fn": fn,
        "ln": ln,
        "ct": scalar_text(address.get("city")),
        "st": scalar_text(address.get("state")),
        "zp": scalar_text(address.get("postal_code")),
        "country": scalar_text(address.get("country")),
    }
    for key in ("fbp", "fbc", "client_ip_address", "client_user_agent"):
        fields[key] = _meta(metadata, key)
    return fields


def _from_session(session: Mapping[str, Any]) -> dict[str, Any]:
    mode = scalar_text(session.get("mode"))
    status = scalar_text(session.get("payment_status"))
    if mode == "setup":
        raise Ignored("a setup-mode Checkout Session involves no payment")
    if status == "unpaid":
        raise Ignored(
            "the session is not paid yet; checkout.session.async_payment_succeeded will follow"
        )
    metadata = as_mapping(session.get("metadata"))
    details = dict(as_mapping(session.get("customer_details")))
    if not details.get("email"):
        details["email"] = session.get("customer_email")
    collected = as_mapping(session.get("collected_information"))
    shipping = as_mapping(collected.get("shipping_details")) or as_mapping(
        session.get("shipping_details")
    )
    user = _person(details, shipping, metadata)
    user["external_id"] = _distinct(
        session.get("client_reference_id"), _meta(metadata, "external_id")
    )
    intent = session.get("payment_intent")
    intent_id = (
        scalar_text(intent.get("id")) if isinstance(intent, Mapping) else scalar_text(intent)
    )
    currency = scalar_text(session.get("currency"))
    return {
        # the payment intent names the order on both of its events (the session's and the
        # intent's); a session without one (subscription mode) names it itself
        "order_id": intent_id or scalar_text(session.get("id")),
        "value": major_amount(session.get("amount_total"), currency),
        "currency": currency,
        "user": user,
        "metadata": metadata,
        "url": scalar_text(session.get("success_url")),
    }


def _from_intent(intent: Mapping[str, Any]) -> dict[str, Any]:
    metadata = as_mapping(intent.get("metadata"))
    charge = as_mapping(intent.get("latest_charge"))  # an object only when the sender expanded it
    billing = dict(as_mapping(charge.get("billing_details")))
    if not billing.get("email"):
        billing["email"] = intent.get("receipt_email")
    user = _person(billing, as_mapping(intent.get("shipping")), metadata)
    user["external_id"] = _meta(metadata, "external_id")
    currency = scalar_text(intent.get("currency"))
    amount = intent.get("amount_received")
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        amount = intent.get("amount")
    return {
        "order_id": scalar_text(intent.get("id")),
        "value": major_amount(amount, currency),
        "currency": currency,
        "user": user,
        "metadata": metadata,
        "url": "",
    }


def _origin(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    if parts.scheme in ("http", "https") and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}/"
    return ""


def adapt(event: Any, context: SourceContext) -> Batch:
    """The batch for one Stripe event. Raises Ignored (answer 2xx), or BodyError when the body
    is not a Stripe event."""
    if not isinstance(event, Mapping) or not scalar_text(event.get("type")):
        raise BodyError(400, "invalid_body", "the body is not a Stripe event (no type)")
    event_type = scalar_text(event["type"])
    if event_type not in PURCHASE_TYPES:
        raise Ignored(f"event type {event_type} is not turned into events")
    obj = as_mapping(as_mapping(event.get("data")).get("object"))
    if not obj:
        raise BodyError(400, "invalid_body", "the Stripe event has no data.object")
    if event.get("livemode") is False and not context.allow_test_mode:
        raise Ignored(
            "a Stripe test-mode event (livemode false); add ?test_event_code=... to the "
            "endpoint URL to send test-mode events to Meta's Test Events"
        )
    found = _from_intent(obj) if event_type.startswith("payment_intent.") else _from_session(obj)
    metadata = found["metadata"]
    user = {k: v for k, v in found["user"].items() if v}
    website = bool(user.get("client_user_agent"))
    custom: dict[str, Any] = {"order_id": found["order_id"]}
    if found["value"] is not None:
        custom["value"] = found["value"]
    if found["currency"]:
        custom["currency"] = found["currency"].upper()
    meta_event: dict[str, Any] = {
        "event_name": "Purchase",
        "event_id": _first(metadata.get("event_id")) or found["order_id"],
        "action_source": "website" if website else "other",
        "user_data": user,
        "custom_data": custom,
    }
    created = event.get("created")
    if isinstance(created, int) and not isinstance(created, bool) and created > 0:
        meta_event["event_time"] = created
    url = _first(metadata.get("event_source_url")) or _origin(found["url"])
    if url:
        meta_event["event_source_url"] = url
    return Batch([meta_event])
