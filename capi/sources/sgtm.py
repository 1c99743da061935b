"""Server-side Google Tag Manager: GA4 common event data (what `getAllEventData()` returns) ->
one Meta server event.

The relay's sGTM tag (sgtm/capi-relay-tag.tpl) POSTs to `/sgtm`:

    {"event_data": {...getAllEventData()...},
     "cookies": {"_fbp": "...", "_fbc": "..."},          # the Meta cookies of the request
     "event_time": 1700000000,                            # optional, seconds (ms accepted)
     "event_name": "Lead",                                # optional override
     "pixel_id": "123", "test_event_code": "TEST1"}       # optional (checked by routing)

A bare event-data object (no `event_data` key) is accepted too.

Mapping (docs/SOURCES.md has the table):
- `event_name`: GA4 names -> Meta's standard events (GA4_TO_META); Meta names and custom names
  pass through unchanged.
- `user_data`: `user_data.email_address`, `phone_number`, `address` (an object or a list:
  first_name, last_name, city, region, postal_code, country), `user_id` -> external_id,
  `ip_override`, `user_agent`, cookies `_fbp` / `_fbc`; Meta's own `x-fb-ud-*` and `x-fb-ck-*`
  keys are honoured too. Google's pre-hashed `sha256_*` variants are NOT used: Google
  normalizes before hashing differently from Meta (E.164 phones with "+", dots removed from
  gmail addresses), so those hashes would never match. Their presence is reported as a warning
  (`prehashed_by_google`) naming the fields, so an event matched by them alone is explained.
- `custom_data`: `value`, `currency`, `transaction_id` -> order_id, `items` -> contents /
  content_ids / num_items (and content_name / content_category for a single item),
  `search_term` -> search_string; `x-fb-cd-*` keys override. A `value` that is not a number
  (`"1.234,50"`, `"abc"`) is passed on as given, so validation names it exactly as on `/events`;
  an item without `item_id` is left out of contents with an `unmapped` warning naming it.
- `event_id`: the event data's `event_id` (or `x-fb-event_id`) so it matches the Pixel's
  eventID; else `transaction_id`; else the relay derives one.
- `page_location` -> event_source_url (its fbclid becomes fbc in enrich), `page_referrer` ->
  referrer_url; action_source `website`.
- consent signals `x-ga-gcs`, `x-ga-gcd`, `consent_state` (and the wrapper's `consent`) are
  carried to capi.meta.consent, which strips them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from capi.meta import rules
from capi.meta.body import Batch, BodyError
from capi.meta.prepare import sender_seconds
from capi.meta.problems import Problem
from capi.sources import SourceContext
from capi.values import scalar_text

GA4_TO_META = {
    "add_payment_info": "AddPaymentInfo",
    "add_to_cart": "AddToCart",
    "add_to_wishlist": "AddToWishlist",
    "begin_checkout": "InitiateCheckout",
    "contact": "Contact",
    "customize_product": "CustomizeProduct",
    "donate": "Donate",
    "find_location": "FindLocation",
    "generate_lead": "Lead",
    "page_view": "PageView",
    "purchase": "Purchase",
    "schedule": "Schedule",
    "search": "Search",
    "sign_up": "CompleteRegistration",
    "start_trial": "StartTrial",
    "submit_application": "SubmitApplication",
    "subscribe": "Subscribe",
    "view_item": "ViewContent",
}

_ADDRESS_FIELDS = {
    "first_name": "fn",
    "last_name": "ln",
    "city": "ct",
    "region": "st",
    "postal_code": "zp",
    "country": "country",
}
_META_USER_KEYS = tuple(rules.HASHED_FIELDS)  # Meta's tag convention: x-fb-ud-em, ...
_META_CUSTOM_KEYS = (
    "content_category",
    "content_ids",
    "content_name",
    "content_type",
    "contents",
    "num_items",
    "predicted_ltv",
    "status",
    "delivery_category",
)
CONSENT_KEYS = ("x-ga-gcs", "x-ga-gcd", "consent_state")


def meta_event_name(name: str) -> str:
    """A GA4 event name as Meta's standard event; any other name unchanged."""
    return GA4_TO_META.get(name.strip().lower(), name.strip()) if name else name


def _number(value: Any) -> float | int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = float(value.strip())  # "1,234" is refused, not misread
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _int(value: Any) -> int | None:
    number = _number(value)
    if number is None or number != int(number):
        return None
    return int(number)


def _seconds(value: Any) -> int | None:
    number = _number(value)
    if number is None or number <= 0:
        return None
    seconds = int(number)
    return sender_seconds(seconds)  # getTimestampMillis()


def _put(target: dict[str, Any], key: str, value: Any) -> None:
    """Set a user_data field, collecting distinct values into a list."""
    texts = [
        t for t in (scalar_text(v) for v in (value if isinstance(value, list) else [value])) if t
    ]
    if not texts:
        return
    current = target.get(key)
    existing = [] if current is None else current if isinstance(current, list) else [current]
    merged = list(dict.fromkeys(existing + texts))
    target[key] = merged[0] if len(merged) == 1 else merged


def _prehashed(data: Mapping[str, Any]) -> list[str]:
    """The paths of Google's pre-hashed user data (`user_data.sha256_*`, also inside address)."""
    provided = data.get("user_data")
    if not isinstance(provided, Mapping):
        return []
    paths = [f"user_data.{k}" for k, v in provided.items() if k.startswith("sha256_") and v]
    addresses = provided.get("address")
    for i, address in enumerate(addresses if isinstance(addresses, list) else [addresses]):
        if isinstance(address, Mapping):
            where = (
                f"user_data.address[{i}]" if isinstance(addresses, list) else "user_data.address"
            )
            paths += [f"{where}.{k}" for k, v in address.items() if k.startswith("sha256_") and v]
    return paths


def _user_data(data: Mapping[str, Any], cookies: Mapping[str, Any]) -> dict[str, Any]:
    user: dict[str, Any] = {}
    provided = data.get("user_data")
    provided = provided if isinstance(provided, Mapping) else {}
    _put(user, "em", provided.get("email_address") or provided.get("email"))
    _put(user, "ph", provided.get("phone_number"))
    addresses = provided.get("address")
    for address in addresses if isinstance(addresses, list) else [addresses]:
        if isinstance(address, Mapping):
            for ga4, meta in _ADDRESS_FIELDS.items():
                _put(user, meta, address.get(ga4))
    _put(user, "external_id", data.get("user_id"))
    for key in _META_USER_KEYS:  # Meta's own tag convention: x-fb-ud-em, ...
        _put(user, key, data.get(f"x-fb-ud-{key}"))
    ip = scalar_text(data.get("ip_override"))
    if ip:
        user["client_ip_address"] = ip
    agent = scalar_text(data.get("user_agent"))
    if agent:
        user["client_user_agent"] = agent
    for key in ("fbp", "fbc"):
        value = (
            scalar_text(cookies.get(f"_{key}"))
            or scalar_text(data.get(f"x-fb-ck-{key}"))
            or scalar_text(data.get(f"_{key}"))
        )
        if value:
            user[key] = value
    return user


def _contents(
    items: Any, notes: list[Problem]
) -> tuple[list[dict[str, Any]], list[str], int | None]:
    if not isinstance(items, list):
        if items not in (None, "", {}):
            notes.append(Problem("items", "items must be a list of item objects", "unmapped"))
        return [], [], None
    contents = []
    total = 0
    for i, item in enumerate(items):
        item_id = (
            scalar_text(item.get("item_id")) or scalar_text(item.get("id"))
            if isinstance(item, Mapping)
            else ""
        )
        if not item_id:
            notes.append(
                Problem(
                    f"items[{i}]",
                    "an item without item_id is left out of custom_data.contents: give every "
                    "item the id of its catalog product",
                    "unmapped",
                )
            )
            continue
        content: dict[str, Any] = {"id": item_id}
        quantity = _int(item.get("quantity"))
        if quantity is not None and quantity > 0:
            content["quantity"] = quantity
        price = _number(item.get("price"))
        if price is not None:
            content["item_price"] = price
        contents.append(content)
        total += content.get("quantity", 1)
    ids = list(dict.fromkeys(c["id"] for c in contents))
    return contents, ids, (total if contents else None)


def _custom_data(data: Mapping[str, Any], notes: list[Problem]) -> dict[str, Any]:
    custom: dict[str, Any] = {}
    given = data.get("value")
    value = _number(given)
    if value is not None:
        custom["value"] = value
    elif given not in (None, ""):
        custom["value"] = given  # not a number: validation names it as it would on /events
    currency = scalar_text(data.get("currency"))
    if currency:
        custom["currency"] = currency.upper()
    order_id = scalar_text(data.get("transaction_id"))
    if order_id:
        custom["order_id"] = order_id
    contents, ids, count = _contents(data.get("items"), notes)
    if contents:
        custom["contents"] = contents
        custom["content_ids"] = ids
        custom["num_items"] = count
        custom["content_type"] = "product"
        items = [i for i in data["items"] if isinstance(i, Mapping)]
        if len(items) == 1:
            name = scalar_text(items[0].get("item_name"))
            category = scalar_text(items[0].get("item_category"))
            if name:
                custom["content_name"] = name
            if category:
                custom["content_category"] = category
    search = scalar_text(data.get("search_term"))
    if search:
        custom["search_string"] = search
    for key in _META_CUSTOM_KEYS:
        override = data.get(f"x-fb-cd-{key}")
        if override not in (None, "", []):
            custom[key] = override
    return custom


def event_from(
    data: Mapping[str, Any], wrapper: Mapping[str, Any], notes: list[Problem] | None = None
) -> dict[str, Any]:
    """One Meta-shaped caller event from GA4 event data (and the tag's wrapper fields). What
    cannot be mapped is appended to `notes` as warnings (paths are GA4 event-data paths)."""
    notes = [] if notes is None else notes
    cookies = wrapper.get("cookies")
    cookies = cookies if isinstance(cookies, Mapping) else {}
    name = scalar_text(wrapper.get("event_name")) or scalar_text(data.get("event_name"))
    event: dict[str, Any] = {"event_name": meta_event_name(name), "action_source": "website"}
    seconds = _seconds(wrapper.get("event_time")) or _seconds(data.get("event_time"))
    if seconds:
        event["event_time"] = seconds
    event_id = (
        scalar_text(data.get("event_id"))
        or scalar_text(data.get("x-fb-event_id"))
        or scalar_text(wrapper.get("event_id"))
        or scalar_text(data.get("transaction_id"))
    )
    if event_id:
        event["event_id"] = event_id
    for source, target in (
        ("page_location", "event_source_url"),
        ("page_referrer", "referrer_url"),
    ):
        url = scalar_text(data.get(source))
        if url.startswith(("http://", "https://")):
            event[target] = url
    event["user_data"] = _user_data(data, cookies)
    prehashed = _prehashed(data)
    if prehashed:
        notes.append(
            Problem(
                ", ".join(prehashed),
                "Google's pre-hashed values are not sent: Google normalizes before hashing "
                "differently from Meta, so Meta could not match them. Give the tag the plain "
                "values (email_address, phone_number, address); the relay normalizes and hashes "
                "them for Meta",
                "prehashed_by_google",
            )
        )
    custom = _custom_data(data, notes)
    if custom:
        event["custom_data"] = custom
    for key in CONSENT_KEYS:
        if data.get(key) not in (None, ""):
            event[key] = data[key]
    if isinstance(wrapper.get("consent"), Mapping):
        event["consent"] = wrapper["consent"]
    return event


def adapt(body: Any, context: SourceContext | None = None) -> Batch:
    """The batch for one /sgtm request body. Raises BodyError(400) when it is unusable."""
    if not isinstance(body, dict):
        raise BodyError(400, "invalid_body", "send the sGTM event data as a JSON object")
    wrapper: Mapping[str, Any] = body
    data = body.get("event_data", body)
    if not isinstance(data, dict):
        raise BodyError(400, "invalid_body", '"event_data" must be an object')
    if wrapper is data:
        wrapper = {}
    if not scalar_text(wrapper.get("event_name")) and not scalar_text(data.get("event_name")):
        raise BodyError(400, "no_event_name", "the event data has no event_name")
    code = wrapper.get("test_event_code") or data.get("test_event_code") or ""
    if not isinstance(code, str):
        raise BodyError(400, "invalid_body", '"test_event_code" must be a string')
    extra = {k: wrapper[k] for k in ("pixel_id", "pixel_ids") if k in wrapper}
    notes: list[Problem] = []
    event = event_from(data, wrapper, notes)
    return Batch([event], code.strip(), extra, {0: notes} if notes else {})
