"""Realistic events for tests: what an e-commerce backend or sGTM would send."""

from __future__ import annotations

import time
from typing import Any

RAW_EMAIL = "John_Smith@Gmail.com"
RAW_PHONE = "+1 (650) 555-1212"
EMAIL_HASH = "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"
PHONE_HASH = "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"


def purchase(event_id: str | None = "order-1001", **overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_name": "Purchase",
        "event_time": int(time.time()) - 60,
        "action_source": "website",
        "event_source_url": "https://shop.example.com/checkout/thanks",
        "user_data": {
            "em": RAW_EMAIL,
            "ph": RAW_PHONE,
            "fn": "John",
            "ln": "Smith",
            "client_ip_address": "203.0.113.7",
            "client_user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)",
            "fbp": "fb.1.1700000000000.1234567890",
        },
        "custom_data": {"value": 49.9, "currency": "USD", "order_id": "1001"},
    }
    if event_id is not None:
        event["event_id"] = event_id
    event.update(overrides)
    return event


def lead(event_id: str | None = "lead-1", **overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_name": "Lead",
        "event_time": int(time.time()) - 30,
        "action_source": "system_generated",
        "user_data": {"em": "mary@example.com"},
    }
    if event_id is not None:
        event["event_id"] = event_id
    event.update(overrides)
    return event


def validate_event(event: Any, **kwargs: Any) -> tuple[list, list]:
    """(errors, warnings) of one event, as the relay's checks judge it (tests only)."""
    from capi.meta.validate import check_and_prepare

    _, errors, warnings = check_and_prepare(event, **kwargs)
    return errors, warnings
