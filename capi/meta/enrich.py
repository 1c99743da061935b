"""What the relay adds to a caller's event before validating and queueing it.

- `event_id` when missing: derived deterministically, so a retried request (same body) yields the
  same id and Meta can deduplicate it (META-RULES §5). With `custom_data.order_id` it is the
  order id itself: every door (sGTM's transaction_id, Shopify's order, Stripe's payment intent,
  `/events`) names an order in the same form, so one order reaching the relay by two doors is one
  Purchase for Meta, and the browser Pixel shares it by sending the order id as its eventID.
  Otherwise it is a UUID of the event's whole content as sent.
- a warning when a Purchase names no order (`custom_data.order_id`): nothing then tells two
  deliveries of the same order apart from two orders.
- `event_time` when missing: now, in Unix seconds. The id is derived before this default is set,
  so a retry minutes later still carries the same id.
- `fbc` built from an `fbclid` in `event_source_url` (capi.meta.click_ids), with the event's own
  time as the click's creation time, so it never postdates the event and a retry gives the same
  fbc. An event_time that is not plain seconds is left to validation (no fbc is built here).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from capi.meta import rules
from capi.meta.click_ids import add_fbc
from capi.meta.prepare import event_time_seconds
from capi.meta.problems import Problem
from capi.values import scalar_text

# Fixed namespace: the same input gives the same id on every instance and every version.
EVENT_ID_NAMESPACE = uuid.UUID("6f1d3f4e-2c1a-5b7e-9a0d-c0ffee5ca9e1")


def order_identity(event: dict[str, Any]) -> str:
    """The order an event is about, as every door writes it: `custom_data.order_id` as text."""
    custom = event.get("custom_data")
    return scalar_text(custom.get("order_id")) if isinstance(custom, dict) else ""


def derive_event_id(event: dict[str, Any]) -> str:
    """A stable id for an event that has none: its order's id, else a UUID of its content."""
    order_id = order_identity(event)
    if order_id:
        return order_id
    key = "content\x1f" + json.dumps(event, sort_keys=True, separators=(",", ":"), default=str)
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, key))


def enrich(event: dict[str, Any], *, now: float) -> tuple[dict[str, Any], list[Problem]]:
    """A new event with `event_id`, `event_time` and `fbc` filled in where missing."""
    warnings: list[Problem] = []
    result = dict(event)
    given_id = scalar_text(event.get("event_id"))
    if given_id:
        result["event_id"] = given_id
    else:
        result["event_id"] = derive_event_id(event)
        warnings.append(
            Problem(
                "event_id",
                "no event_id: one was derived from the event's content; send the Pixel's eventID "
                "as event_id so Meta can deduplicate browser and server events",
                "derived",
            )
        )
    if scalar_text(event.get("event_name")) in rules.ORDER_EVENTS and not order_identity(event):
        warnings.append(
            Problem(
                "custom_data.order_id",
                "a Purchase without its order id: send custom_data.order_id (the id your "
                "pages' dataLayer uses as transaction_id), so that the same order sent by two "
                "doors, or twice, is counted once",
                "no_order_id",
            )
        )
    if event.get("event_time") in (None, ""):
        result["event_time"] = int(now)
    seconds = event_time_seconds(result["event_time"])
    if seconds is not None and 0 < seconds < rules.MILLISECONDS_FROM:
        result = add_fbc(result, seconds * 1000)
    return result, warnings
