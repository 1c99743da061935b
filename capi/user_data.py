"""Meta-ready ``user_data``: normalize and SHA-256 the hashed fields, validate the others.

Rules: meta-capi.md section 3. Decisions documented in docs/NORMALIZATION.md:

- hashed fields (em, ph, fn, ln, db, ge, ct, st, zp, country, external_id) are always sent as a
  **list** of lowercase SHA-256 hex digests, de-duplicated keeping order, even for one value;
- a value that already is a SHA-256 digest (64 hex characters, any case) is passed through,
  lowercased; empty and whitespace-only values are omitted silently; the hash of an empty string
  is never produced;
- numbers are accepted where people send them as numbers (ph, zp, db, external_id);
- never-hashed fields are validated and passed through as single values: ``client_ip_address``
  is checked as IPv4/IPv6 (written in canonical form; an IPv4-mapped IPv6 becomes IPv4),
  ``fbc``/``fbp`` must be well formed (a malformed fbc makes Meta reject the batch), the other
  ids must be non-empty strings or integers;
- unknown keys are dropped with a warning: Meta ignores them at best, and they may carry
  unhashed personal data (``email`` instead of ``em``); the warning names the right key;
- the country that completes phones, states and ZIP codes is the event's own ``country`` (raw,
  the first usable value), else ``default_country`` (a hashed country cannot be read).

One bad value costs that value and a warning, never the event; nothing here raises, whatever
JSON value it is given.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from typing import Any

from capi import normalize as _n
from capi.fbc import is_valid_fbc, is_valid_fbp
from capi.meta_rules import HASHED_FIELDS, NEVER_HASHED_FIELDS, USER_DATA_KEY_HINTS
from capi.problems import Problem

__all__ = ["EMPTY_SHA256", "is_sha256", "prepare_user_data"]

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_HASHED = frozenset(HASHED_FIELDS)
_NEVER = frozenset(NEVER_HASHED_FIELDS)
_NUMERIC_OK = frozenset({"ph", "zp", "db", "external_id"})
_ID_FIELDS = _NEVER - {"client_ip_address", "client_user_agent", "fbc", "fbp"}
_sha256 = hashlib.sha256
EMPTY_SHA256 = _sha256(b"").hexdigest()

# What each hashed field must look like, for warnings (meta-capi.md section 3).
_RULES = {
    "em": "an email address, trimmed and lowercase",
    "ph": "digits with the country code, e.g. 16505551212",
    "fn": "lowercase letters, no punctuation",
    "ln": "lowercase letters, no punctuation",
    "db": "a date of birth, YYYYMMDD",
    "ge": "m or f",
    "ct": "lowercase letters, no spaces or punctuation",
    "st": "US: 2-letter state code; elsewhere lowercase, no punctuation",
    "zp": "postal code, lowercase, no spaces or dash; US: 5 digits",
    "country": "ISO 3166-1 alpha-2 code, e.g. us",
    "external_id": "your identifier for the person",
}


def is_sha256(value: Any) -> bool:
    """True for a SHA-256 hex digest (64 hex characters, any case)."""
    return isinstance(value, str) and len(value) == 64 and _HEX64.fullmatch(value) is not None


def _region(value: Any) -> str:
    """An alpha-2 country (upper case) from a raw country value or list, '' if none usable."""
    candidates = value if isinstance(value, list) else (value,)
    for item in candidates:
        if not isinstance(item, str) or is_sha256(item.strip()):
            continue
        try:
            code = _n.normalize_country(item)
        except _n.NormalizationError:
            continue
        if code:
            return code.upper()
    return ""


def _path(key: str, index: int | None) -> str:
    return f"user_data.{key}" if index is None else f"user_data.{key}[{index}]"


def _hash_field(
    key: str,
    raw: Any,
    region: str,
    phone_regions: tuple[str, str],
    date_order: str,
    problems: list[Problem],
) -> list[str]:
    """The lowercase SHA-256 digests of the usable values of one hashed field, in order."""
    if isinstance(raw, list):
        items: Any = enumerate(raw)
    elif raw is None:
        return []
    else:
        items = ((None, raw),)
    digests: dict[str, None] = {}
    for index, item in items:
        if type(item) is str:
            text = item.strip()
        elif item is None:
            continue
        elif key in _NUMERIC_OK and type(item) is int and -(10**30) < item < 10**30:
            text = str(item)
        elif key in _NUMERIC_OK and type(item) is float and item.is_integer() and item < 1e30:
            text = str(int(item))
        else:
            kind = "a string or a number" if key in _NUMERIC_OK else "a string"
            problems.append(
                Problem(
                    _path(key, index),
                    f"dropped: must be {kind} (or a list of them), got {type(item).__name__}",
                    "invalid",
                )
            )
            continue
        if not text:
            continue
        if len(text) == 64 and _HEX64.fullmatch(text):
            digest = text.lower()
            if digest == EMPTY_SHA256:
                problems.append(
                    Problem(
                        _path(key, index),
                        "dropped: this is the SHA-256 of an empty string (the sender hashed a "
                        "missing value); never send it",
                        "invalid",
                    )
                )
            else:
                digests[digest] = None
            continue
        try:
            if key == "ph":
                normalized = _n._phone(text, *phone_regions)
            elif key == "em":
                normalized = _n.normalize_email(text)
            elif key == "fn" or key == "ln":
                normalized = _n.normalize_name(text)
            elif key == "ct":
                normalized = _n.normalize_city(text)
            elif key == "st":
                normalized = _n._state(text, region)
            elif key == "zp":
                normalized = _n._zip(text, region)
            elif key == "country":
                normalized = _n.normalize_country(text)
            elif key == "ge":
                normalized = _n.normalize_gender(text)
            elif key == "db":
                normalized = _n._date(text.lower(), date_order)
            else:
                normalized = text  # external_id: trimmed only
        except _n.NormalizationError as reason:
            problems.append(
                Problem(
                    _path(key, index),
                    f"dropped: {reason}; Meta expects {key} as {_RULES[key]}",
                    "invalid",
                )
            )
            continue
        except Exception:  # a normalizer bug must cost one value, never the event
            problems.append(
                Problem(
                    _path(key, index),
                    f"dropped: could not be normalized; Meta expects {key} as {_RULES[key]}",
                    "invalid",
                )
            )
            continue
        if normalized:
            digests[_sha256(normalized.encode()).hexdigest()] = None
    return list(digests)


def _ip(raw: str, problems: list[Problem]) -> str | None:
    text = raw.strip().strip("[]")
    if not text:
        return None
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        problems.append(
            Problem(
                "user_data.client_ip_address",
                "dropped: not an IPv4 or IPv6 address (send the client's address alone, "
                "without port or proxy list)",
                "invalid",
            )
        )
        return None
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if not address.is_global:
        problems.append(
            Problem(
                "user_data.client_ip_address",
                "kept, but this is not a public address (a proxy's or a private network's?): "
                "send the visitor's own address for matching",
                "not_public",
            )
        )
    return str(address)


def _never_hashed(key: str, raw: Any, problems: list[Problem]) -> Any:
    """The validated value of a field that is sent as is, or None (dropped)."""
    if raw is None:
        return None
    path = f"user_data.{key}"
    if key in _ID_FIELDS and type(raw) is int:
        return raw
    if type(raw) is not str:
        kind = "a string or an integer" if key in _ID_FIELDS else "a single string"
        problems.append(
            Problem(path, f"dropped: must be {kind}, got {type(raw).__name__}", "invalid")
        )
        return None
    if key == "client_ip_address":
        return _ip(raw, problems)
    text = raw.strip()
    if not text:
        return None
    if key == "fbc" and not is_valid_fbc(text):
        problems.append(
            Problem(
                path,
                "dropped: malformed fbc (expected fb.1.<creation time ms>.<fbclid>); Meta "
                "rejects a malformed click id together with its batch (subcode 2804001)",
                "invalid",
            )
        )
        return None
    if key == "fbp" and not is_valid_fbp(text):
        problems.append(
            Problem(
                path,
                "dropped: malformed fbp (expected fb.1.<creation time ms>.<random number>, "
                "the _fbp cookie as is)",
                "invalid",
            )
        )
        return None
    return text


def prepare_user_data(
    user_data: Any, *, default_country: str = "", date_order: str = ""
) -> tuple[dict, list[Problem]]:
    """Meta-ready ``user_data`` and the warnings about what was dropped (see module docstring).

    ``default_country`` (``CAPI_DEFAULT_COUNTRY``) completes phones, states and ZIP codes when the
    event has no readable ``country``; ``date_order`` (``CAPI_DATE_ORDER``: MDY, DMY or YMD)
    settles dates such as 03/04/1990. Never raises.
    """
    problems: list[Problem] = []
    if not isinstance(user_data, dict):
        if user_data is not None:
            problems.append(
                Problem(
                    "user_data",
                    "must be an object of customer information parameters (em, ph, "
                    f"client_ip_address, ...), got {type(user_data).__name__}",
                    "invalid",
                )
            )
        return {}, problems
    default_region = _n._region(default_country) if isinstance(default_country, str) else ""
    event_region = _region(user_data.get("country")) if "country" in user_data else ""
    region = event_region or default_region
    order = date_order.strip().upper() if isinstance(date_order, str) else ""
    phone_regions = (event_region, default_region)
    result: dict[str, Any] = {}
    for key, raw in user_data.items():
        if key in _HASHED:
            digests = _hash_field(key, raw, region, phone_regions, order, problems)
            if digests:
                result[key] = digests
        elif key in _NEVER:
            value = _never_hashed(key, raw, problems)
            if value is not None:
                result[key] = value
        else:
            name = str(key)[:40]
            hint = USER_DATA_KEY_HINTS.get(name.lower())
            advice = f" Did you mean {hint}?" if hint else ""
            problems.append(
                Problem(
                    f"user_data.{name}",
                    "dropped: not a Conversions API customer information parameter (it could "
                    f"carry unhashed personal data).{advice}",
                    "unknown_field",
                )
            )
    return result, problems
