"""Event validation: the same rules at ingest and right before sending (META-RULES §2-§5).

``check_and_prepare`` returns the Meta-ready event and ``(errors, warnings)``. An error means Meta
would reject the event, and with it every event of its batch, so the event must not be sent.
Warnings are values dropped by normalization and soft issues (no event_id, fbc as the only
identifier...).

Customer information is judged on what will actually be sent: the event is run through
:func:`capi.meta.prepare.prepare_event` (normalization, hashing, fbc from fbclid), so an implausible
email that gets dropped does not count as a customer parameter.
"""

from __future__ import annotations

import math
import time
from typing import Any
from urllib.parse import urlsplit

from capi.meta import iso_data, rules
from capi.meta.match import click_id_only
from capi.meta.prepare import event_time_seconds, prepare_event
from capi.meta.problems import Problem, not_an_object
from capi.values import has_non_finite

__all__ = ["check_and_prepare", "check_event_time"]

_SOURCES = ", ".join(sorted(rules.ACTION_SOURCES))
_STANDARD_BY_LOWER = {name.lower(): name for name in rules.STANDARD_EVENTS}
_DAY = 86400


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _one_of(value: Any, allowed: frozenset) -> bool:
    """``value in allowed`` for any JSON value (lists and objects are unhashable)."""
    return isinstance(value, str | int) and not isinstance(value, bool) and value in allowed


def _is_numeric_string(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return math.isfinite(float(value))
    except ValueError:
        return False


def _check_event_name(event: dict, errors: list[Problem], warnings: list[Problem]) -> str:
    name = event.get("event_name")
    if name is None or name == "":
        errors.append(
            Problem(
                "event_name",
                "event_name is required: a standard event such as Purchase or Lead, or a "
                "custom name",
                "missing",
            )
        )
        return ""
    if not isinstance(name, str) or not name.strip():
        errors.append(Problem("event_name", "event_name must be a non-empty string", "invalid"))
        return ""
    standard = _STANDARD_BY_LOWER.get(name.strip().lower())
    if standard is not None and standard != name:
        warnings.append(
            Problem(
                "event_name",
                f"sent as a custom event; write it {standard} for Meta's standard event "
                "(names are case-sensitive, and the Pixel's copy must use the same name)",
                "custom_event_name",
            )
        )
    return name


def _check_action_source(event: dict, errors: list[Problem]) -> str:
    source = event.get("action_source")
    if source is None or source == "":
        errors.append(
            Problem("action_source", f"action_source is required: one of {_SOURCES}", "missing")
        )
        return ""
    if not _one_of(source, rules.ACTION_SOURCES):
        hint = ""
        if isinstance(source, str) and source.strip().lower() in rules.ACTION_SOURCES:
            hint = f" (write {source.strip().lower()!r}, lowercase)"
        errors.append(
            Problem("action_source", f"action_source must be one of {_SOURCES}{hint}", "invalid")
        )
        return ""
    return source


def check_event_time(
    event: dict, now: float, errors: list[Problem], warnings: list[Problem]
) -> None:
    """event_time's rules, its age included: what the forwarder checks again on an event that
    ingest checked, since the age is the one thing that changes while it waits in the queue."""
    source = event.get("action_source")
    _check_event_time(event, source if isinstance(source, str) else "", now, errors, warnings)


def _check_event_time(
    event: dict, source: str, now: float, errors: list[Problem], warnings: list[Problem]
) -> None:
    raw = event.get("event_time")
    if raw is None or raw == "":
        errors.append(
            Problem(
                "event_time",
                f"event_time is required: Unix time in seconds, e.g. {int(now)}",
                "missing",
            )
        )
        return
    seconds = event_time_seconds(raw)
    if seconds is None:
        errors.append(
            Problem(
                "event_time",
                f"event_time must be a number: Unix time in seconds, e.g. {int(now)}",
                "invalid",
            )
        )
        return
    if isinstance(raw, str):
        warnings.append(
            Problem("event_time", "event_time should be a JSON number, not a string", "type")
        )
    digits = len(str(abs(seconds)))
    if seconds >= rules.MICROSECONDS_FROM:
        errors.append(
            Problem(
                "event_time",
                f"event_time looks like microseconds ({digits} digits); send Unix seconds: "
                f"{seconds // 1_000_000}",
                "milliseconds",
            )
        )
        return
    if seconds >= rules.MILLISECONDS_FROM:
        errors.append(
            Problem(
                "event_time",
                f"event_time looks like milliseconds ({digits} digits); send Unix seconds: "
                f"{seconds // 1000}",
                "milliseconds",
            )
        )
        return
    if seconds <= 0:
        errors.append(
            Problem("event_time", "event_time must be a positive Unix time in seconds", "invalid")
        )
        return
    if source == "physical_store":
        max_age = rules.MAX_PHYSICAL_STORE_AGE_S
        limit = f"{max_age // _DAY} days for physical_store events"
    else:
        max_age = rules.MAX_EVENT_AGE_S
        limit = f"{max_age // _DAY} days"
    age = now - seconds
    if age > max_age:
        errors.append(
            Problem(
                "event_time",
                f"event_time is {age / _DAY:.1f} days old; Meta rejects events older than "
                f"{limit}, and with them the whole batch: send events sooner or drop this one",
                "stale",
            )
        )
    elif -age > rules.MAX_FUTURE_S:
        errors.append(
            Problem(
                "event_time",
                f"event_time is {-age:.0f} s in the future; Meta rejects events more than a "
                "minute ahead: check the sender's clock (Unix time is UTC, no time zone)",
                "future",
            )
        )


def _check_urls(event: dict, source: str, errors: list[Problem]) -> None:
    for field in ("event_source_url", "referrer_url"):
        url = event.get(field)
        if url is None or url == "":
            if field == "event_source_url" and source == "website":
                errors.append(
                    Problem(
                        field,
                        "event_source_url is required for website events: the URL of the page "
                        "where the event happened",
                        "missing",
                    )
                )
            continue
        ok = isinstance(url, str)
        if ok:
            try:
                parts = urlsplit(url.strip())
                ok = parts.scheme in ("http", "https") and bool(parts.netloc)
            except ValueError:
                ok = False
        if not ok:
            errors.append(Problem(field, f"{field} must be an absolute http(s) URL", "invalid"))


def _check_event_id(event: dict, errors: list[Problem], warnings: list[Problem]) -> None:
    event_id = event.get("event_id")
    if event_id is None or (isinstance(event_id, str) and not event_id.strip()):
        warnings.append(
            Problem(
                "event_id",
                "no event_id: the Pixel and server copies of this conversion cannot be "
                "deduplicated; send the Pixel's eventID",
                "missing",
            )
        )
    elif isinstance(event_id, bool) or not isinstance(event_id, str | int):
        errors.append(Problem("event_id", "event_id must be a string", "invalid"))


def _check_contents(contents: Any, errors: list[Problem]) -> None:
    if not isinstance(contents, list):
        errors.append(
            Problem(
                "custom_data.contents",
                'contents must be a list of objects such as {"id": "SKU1", "quantity": 1}',
                "invalid",
            )
        )
        return
    for index, item in enumerate(contents):
        path = f"custom_data.contents[{index}]"
        if not isinstance(item, dict):
            errors.append(Problem(path, "each content must be an object with an id", "invalid"))
            continue
        item_id = item.get("id")
        if item_id is None or item_id == "":
            errors.append(
                Problem(f"{path}.id", "each content needs an id (the product id)", "missing")
            )
        elif isinstance(item_id, bool) or not isinstance(item_id, str | int):
            errors.append(Problem(f"{path}.id", "id must be a string", "invalid"))
        quantity = item.get("quantity")
        if quantity is not None and (isinstance(quantity, bool) or not isinstance(quantity, int)):
            errors.append(Problem(f"{path}.quantity", "quantity must be an integer", "invalid"))
        price = item.get("item_price")
        if price is not None and not _is_number(price):
            errors.append(Problem(f"{path}.item_price", "item_price must be a number", "invalid"))
        category = item.get("delivery_category")
        if category is not None and not _one_of(category, rules.DELIVERY_CATEGORIES):
            errors.append(
                Problem(
                    f"{path}.delivery_category",
                    "delivery_category must be one of "
                    + ", ".join(sorted(rules.DELIVERY_CATEGORIES)),
                    "invalid",
                )
            )


def _check_custom_data(
    event: dict, name: str, errors: list[Problem], warnings: list[Problem]
) -> None:
    custom = event.get("custom_data")
    required = rules.REQUIRED_CUSTOM_DATA.get(name, {})
    if custom is None:
        custom = {}
    elif not isinstance(custom, dict):
        errors.append(Problem("custom_data", "custom_data must be an object", "invalid"))
        return
    for field, need in required.items():  # the rule book's table: what this event name needs
        if custom.get(field) in (None, ""):
            errors.append(
                Problem(
                    f"custom_data.{field}",
                    f"{name} events need custom_data.{field}, {need.holds} "
                    f"(subcode {need.subcode})",
                    "missing",
                )
            )
    value = custom.get("value")
    if value is None:
        pass
    elif _is_numeric_string(value):
        warnings.append(
            Problem("custom_data.value", "value should be a JSON number, not a string", "type")
        )
    elif not _is_number(value):
        errors.append(
            Problem("custom_data.value", "value must be a number such as 12.5", "invalid")
        )
    currency = custom.get("currency")
    if currency is None or currency == "":
        if "currency" not in required and value is not None:
            warnings.append(
                Problem(
                    "custom_data.currency",
                    "a value without a currency: add an ISO 4217 code such as USD",
                    "missing",
                )
            )
    elif not isinstance(currency, str) or currency.strip().upper() not in iso_data.CURRENCIES:
        errors.append(
            Problem(
                "custom_data.currency",
                "currency must be an ISO 4217 code such as USD or EUR",
                "invalid",
            )
        )
    if "contents" in custom and custom["contents"] is not None:
        _check_contents(custom["contents"], errors)
    ids = custom.get("content_ids")
    if ids is not None and (
        not isinstance(ids, list)
        or any(isinstance(i, bool) or not isinstance(i, str | int) for i in ids)
    ):
        errors.append(
            Problem("custom_data.content_ids", "content_ids must be a list of strings", "invalid")
        )
    content_type = custom.get("content_type")
    if content_type is not None and not _one_of(content_type, rules.CONTENT_TYPES):
        warnings.append(
            Problem(
                "custom_data.content_type",
                "content_type should be product or product_group",
                "invalid",
            )
        )
    category = custom.get("delivery_category")
    if category is not None and not _one_of(category, rules.DELIVERY_CATEGORIES):
        errors.append(
            Problem(
                "custom_data.delivery_category",
                "delivery_category must be one of " + ", ".join(sorted(rules.DELIVERY_CATEGORIES)),
                "invalid",
            )
        )
    num_items = custom.get("num_items")
    if num_items is not None and (isinstance(num_items, bool) or not isinstance(num_items, int)):
        errors.append(Problem("custom_data.num_items", "num_items must be an integer", "invalid"))


def _check_ldu(event: dict, errors: list[Problem], warnings: list[Problem]) -> None:
    options = event.get("data_processing_options")
    country = event.get("data_processing_options_country")
    state = event.get("data_processing_options_state")
    ldu = False
    if options is not None:
        if not isinstance(options, list) or any(o != rules.LDU for o in options):
            errors.append(
                Problem(
                    "data_processing_options",
                    'data_processing_options must be ["LDU"] (Limited Data Use) or []',
                    "invalid",
                )
            )
            return
        ldu = bool(options)
    if not ldu:
        if country is not None or state is not None:
            warnings.append(
                Problem(
                    "data_processing_options",
                    "data_processing_options_country/_state are ignored without "
                    'data_processing_options ["LDU"]',
                    "inconsistent",
                )
            )
        return
    if country is None or state is None:
        errors.append(
            Problem(
                "data_processing_options_country"
                if country is None
                else "data_processing_options_state",
                "with LDU, send data_processing_options_country (1 = US, 0 = let Meta "
                "geolocate) and data_processing_options_state (1000 = California, 0 = "
                "geolocate) (subcode 2804030)",
                "missing",
            )
        )
        return
    if not _one_of(country, rules.LDU_COUNTRIES):
        errors.append(
            Problem(
                "data_processing_options_country",
                "data_processing_options_country must be 1 (US) or 0 (let Meta geolocate)",
                "invalid",
            )
        )
    elif not _one_of(state, rules.LDU_STATES):
        errors.append(
            Problem(
                "data_processing_options_state",
                "data_processing_options_state must be 1000 (California) or 0 (let Meta geolocate)",
                "invalid",
            )
        )
    elif state in rules.LDU_STATE_CODES.values() and country != rules.LDU_COUNTRY_US:
        errors.append(
            Problem(
                "data_processing_options_state",
                f"state {state} (a US state) needs data_processing_options_country "
                f"{rules.LDU_COUNTRY_US} (US)",
                "inconsistent",
            )
        )


def _check_other(event: dict, source: str, errors: list[Problem], warnings: list[Problem]) -> None:
    opt_out = event.get("opt_out")
    if opt_out is not None and not isinstance(opt_out, bool):
        errors.append(Problem("opt_out", "opt_out must be true or false", "invalid"))
    for field in ("original_event_data", "app_data"):
        value = event.get(field)
        if value is not None and not isinstance(value, dict):
            errors.append(Problem(field, f"{field} must be an object", "invalid"))
    app_data = event.get("app_data")
    if source == "app" and app_data is None:
        warnings.append(
            Problem(
                "app_data",
                "app events should carry app_data (advertiser_tracking_enabled, extinfo)",
                "missing",
            )
        )
    if isinstance(app_data, dict) and "extinfo" in app_data:
        extinfo = app_data["extinfo"]
        if not isinstance(extinfo, list) or len(extinfo) != 16:
            errors.append(
                Problem("app_data.extinfo", "extinfo must be an array of 16 elements", "invalid")
            )


def _is_insufficient(keys: set[str]) -> bool:
    return any(keys <= allowed for allowed in rules.INSUFFICIENT_SETS)


def _check_customer_information(
    event: dict,
    prepared: dict,
    source: str,
    errors: list[Problem],
    warnings: list[Problem],
) -> None:
    raw = event.get("user_data")
    if raw is not None and not isinstance(raw, dict):
        return  # already reported by prepare_user_data as an invalid user_data
    user_data = prepared.get("user_data")
    if raw is None and not user_data:
        errors.append(
            Problem(
                "user_data",
                "user_data is required: customer information such as em, ph, external_id, "
                "client_ip_address with client_user_agent, fbp or fbc",
                "missing",
            )
        )
        return
    keys = set(user_data or ())
    if source == "website" and "client_user_agent" not in keys:
        errors.append(
            Problem(
                "user_data.client_user_agent",
                "website events need client_user_agent, the browser's User-Agent header",
                "missing",
            )
        )
    lost = sorted(k for k in (raw or ()) if k in rules.USER_DATA_FIELDS and k not in keys)
    dropped = f" ({', '.join(lost)} dropped: see the warnings)" if lost else ""
    if not keys:
        errors.append(
            Problem(
                "user_data",
                f"no usable customer information parameter{dropped}; send at least one of em, "
                "ph, external_id, fbp, fbc, client_ip_address with client_user_agent",
                "insufficient_customer_information",
            )
        )
        return
    if _is_insufficient(keys):
        errors.append(
            Problem(
                "user_data",
                f"only {', '.join(sorted(keys))}{dropped}: Meta rejects events whose only "
                "customer information is this (subcode 2804050); add em, ph, external_id, fbp, "
                "fbc or client_ip_address",
                "insufficient_customer_information",
            )
        )
        return
    if click_id_only(keys):
        warnings.append(
            Problem(
                "user_data",
                "fbc is the only identifier: expect a low match rate; add em, ph, external_id, "
                "fbp or client_ip_address",
                "low_match",
            )
        )


def _check_finite(event: dict, errors: list[Problem]) -> None:
    """Every number must be finite: 1e999 reads as infinity, which no JSON encoder can send.
    Paths that another rule already reported are not reported twice."""
    if not has_non_finite(event):
        return
    reported = {p.path for p in errors}
    stack: list[tuple[Any, str]] = [(event, "")]
    while stack:
        value, path = stack.pop()
        if isinstance(value, float) and not math.isfinite(value) and path not in reported:
            errors.append(
                Problem(
                    path,
                    "not a finite number (too large to represent, or NaN); send a finite number",
                    "non_finite_number",
                )
            )
        elif isinstance(value, dict):
            stack.extend((v, f"{path}.{k}" if path else str(k)) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, f"{path}[{i}]") for i, v in enumerate(value))


def check_and_prepare(
    event: Any, *, now: float | None = None, default_country: str = "", date_order: str = ""
) -> tuple[dict[str, Any] | None, list[Problem], list[Problem]]:
    """``(Meta-ready event, errors, warnings)`` for one event as a caller sent it (raw or pre-hashed
    PII). Validation normalizes and hashes the event anyway to judge its customer information, and
    hands back that result, so a caller about to send the event does not normalize it again. The
    event is None when the input is not an object; it is only fit to send when there are no
    errors."""
    errors: list[Problem] = []
    warnings: list[Problem] = []
    if not isinstance(event, dict):
        errors.append(not_an_object(event))
        return None, errors, warnings
    if now is None or not _is_number(now):
        now = time.time()
    name = _check_event_name(event, errors, warnings)
    source = _check_action_source(event, errors)
    _check_event_time(event, source, now, errors, warnings)
    _check_urls(event, source, errors)
    _check_event_id(event, errors, warnings)
    _check_custom_data(event, name, errors, warnings)
    _check_ldu(event, errors, warnings)
    _check_other(event, source, errors, warnings)
    prepared, problems = prepare_event(
        event, default_country=default_country, date_order=date_order
    )
    if isinstance(event.get("user_data"), dict) or event.get("user_data") is None:
        warnings.extend(problems)
    else:
        errors.extend(problems)
    _check_customer_information(event, prepared, source, errors, warnings)
    _check_finite(event, errors)
    return prepared, errors, warnings
