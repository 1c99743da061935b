"""Meta-ready ``user_data``: normalize and SHA-256 the hashed fields, validate the others.

Rules: META-RULES §3. Decisions documented in docs/NORMALIZATION.md:

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

import functools
import hashlib
import re
import socket
from typing import Any

from capi.meta import normalize as _n
from capi.meta.click_ids import is_valid_fbc, is_valid_fbp
from capi.meta.problems import Problem
from capi.meta.rules import (
    HASHED,
    HASHED_FIELDS,
    NEVER_HASHED_FIELDS,
    PLACEHOLDER_VALUES,
    USER_DATA_KEY_HINTS,
)

__all__ = ["EMPTY_SHA256", "is_sha256", "prepare_user_data"]

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}")
_HASHED = frozenset(HASHED_FIELDS)
_NEVER = frozenset(NEVER_HASHED_FIELDS)
_NUMERIC_OK = frozenset(key for key, rule in HASHED.items() if rule.numeric)
_ID_FIELDS = _NEVER - {"client_ip_address", "client_user_agent", "fbc", "fbp"}
_sha256 = hashlib.sha256
EMPTY_SHA256 = _sha256(b"").hexdigest()
_PLACEHOLDERS = frozenset(PLACEHOLDER_VALUES)
_INTERNATIONAL = re.compile(r"\s*(?:tel:)?\s*\(?\s*(?:\+|00)")
_PLACEHOLDER_REASONS = ("this is the SHA-256 of", "the placeholder")
# digest -> the placeholder it hashes, in the spellings code produces (as is, upper, Title)
PLACEHOLDER_SHA256 = {
    _sha256(spelling.encode()).hexdigest(): value
    for value in PLACEHOLDER_VALUES
    for spelling in {value, value.upper(), value.title()}
}
# Per hashed field: its normalizer ((value, reason), no exception on the hot path) and its rule.
_FIELDS = {key: (_n.NORMALIZERS[rule.normalizer], rule) for key, rule in HASHED.items()}


def is_sha256(value: Any) -> bool:
    """True for a SHA-256 hex digest (64 hex characters, any case)."""
    return isinstance(value, str) and len(value) == 64 and _HEX64.fullmatch(value) is not None


def _region(value: Any) -> str:
    """An alpha-2 country (upper case) from a raw country value or list, '' if none usable."""
    if type(value) is str:
        return _region_of(value)
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


@functools.lru_cache(maxsize=64)
def _default_region(value: Any) -> str:
    return _n.region_code(value) if isinstance(value, str) else ""


@functools.lru_cache(maxsize=256)
def _region_of(value: str) -> str:
    return _region([value])


def _path(key: str, index: int | None) -> str:
    return f"user_data.{key}" if index is None else f"user_data.{key}[{index}]"


def _digest_uncached(key: str, text: str, context: Any) -> tuple[str | None, str | None]:
    """(the lowercase SHA-256 digest to send, None) for one stripped, non-empty value, or
    (None, why it was dropped). ``context``: (country, default country) for ph, the country
    for st and zp, the date order for db, None for the others. Pure: memoized below."""
    if len(text) == 64 and _HEX64.fullmatch(text):
        digest = text.lower()
        placeholder = PLACEHOLDER_SHA256.get(digest)
        if placeholder is None:
            return digest, None
        if digest == EMPTY_SHA256:
            return None, "this is the SHA-256 of an empty string (a hashed missing value)"
        return None, (
            f"this is the SHA-256 of the placeholder {placeholder!r} (a hashed missing value): "
            "hash the customer's real value, or leave the field out"
        )
    normalize, rule = _FIELDS[key]
    try:
        normalized, reason = normalize(text, context)
    except Exception:  # a normalizer bug must cost one value, never the event
        normalized, reason = None, "could not be normalized"
    if reason is not None:
        return None, f"{reason}; Meta expects {key} as {rule.shape}"
    if not normalized:
        return None, None
    note = None
    # context: the event's and the default region codes, already read (prepare_user_data)
    if key == "ph" and not any(context) and not _INTERNATIONAL.match(text):
        note = (
            "kept: no country known (no + prefix, no user_data.country, no "
            "CAPI_DEFAULT_COUNTRY), so the digits are hashed as given; if they lack the country "
            "code Meta cannot match them: set CAPI_DEFAULT_COUNTRY"
        )
    if normalized in _PLACEHOLDERS:
        return None, (
            f"the placeholder {normalized!r} is not a customer's value: leave the field out"
        )
    try:
        data = normalized.encode()
    except UnicodeEncodeError:  # a lone surrogate ("\ud800" in JSON) has no UTF-8 form
        return None, "not valid Unicode text (a lone surrogate): it has no UTF-8 form to hash"
    return _sha256(data).hexdigest(), note


# Real traffic repeats values (the same customer across PageView, AddToCart, Purchase): the
# whole per-value step is memoized too, bounded like the normalizers (CAPI_NORMALIZE_CACHE_SIZE).
if _n.CACHE_SIZE:
    _digest = functools.lru_cache(maxsize=_n.CACHE_SIZE)(_digest_uncached)
    _n.register_cache(_digest)
else:
    _digest = _digest_uncached


def _code(reason: str) -> str:
    """`placeholder` for a value that stands for a missing one (hashed or not), `no_country` for
    a phone kept without a known country, else `invalid`."""
    if reason.startswith("kept: no country"):
        return "no_country"
    return "placeholder" if reason.startswith(_PLACEHOLDER_REASONS) else "invalid"


def _hash_field(key: str, raw: Any, context: Any, problems: list[Problem]) -> list[str] | None:
    """The digests of the usable values of one hashed field, in order, without duplicates."""
    if type(raw) is str:  # the usual case: one string
        text = raw.strip()
        if not text:
            return None
        digest, reason = _digest(key, text, context)
        if reason is not None:
            said = reason if digest else f"dropped: {reason}"
            problems.append(Problem(f"user_data.{key}", said, _code(reason)))
        return [digest] if digest else None
    if raw is None:
        return None
    items = enumerate(raw) if type(raw) is list else ((None, raw),)
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
        if text:
            digest, reason = _digest(key, text, context)
            if reason is not None:
                said = reason if digest else f"dropped: {reason}"
                problems.append(Problem(_path(key, index), said, _code(reason)))
            if digest:
                digests[digest] = None
    return list(digests) or None


# Special-purpose ranges (IANA registries): a visitor's address is never in them.
_NOT_PUBLIC_V4 = tuple(
    (int.from_bytes(socket.inet_pton(socket.AF_INET, net), "big") >> (32 - bits), 32 - bits)
    for net, bits in (
        ("0.0.0.0", 8), ("10.0.0.0", 8), ("100.64.0.0", 10), ("127.0.0.0", 8),  # noqa: S104
        ("169.254.0.0", 16), ("172.16.0.0", 12), ("192.0.0.0", 24), ("192.0.2.0", 24),
        ("192.168.0.0", 16), ("198.18.0.0", 15), ("198.51.100.0", 24), ("203.0.113.0", 24),
        ("224.0.0.0", 3),
    )
)  # fmt: skip
_NOT_PUBLIC_V6 = tuple(
    (int.from_bytes(socket.inet_pton(socket.AF_INET6, net), "big") >> (128 - bits), 128 - bits)
    for net, bits in (
        ("::", 127), ("100::", 64), ("2001::", 23), ("2001:db8::", 32), ("2002::", 16),
        ("fc00::", 7), ("fe80::", 10), ("ff00::", 8),
    )
)  # fmt: skip
_MAPPED_V4 = b"\0" * 10 + b"\xff\xff"


@functools.lru_cache(maxsize=4096)  # cleared with the normalizers' caches (below)
def _ip_address(text: str) -> tuple[str | None, bool]:
    """(canonical address or None if invalid, is it public). IPv4-mapped IPv6 becomes IPv4."""
    text = text.strip("[]").split("%", 1)[0]
    try:
        if ":" in text:
            packed = socket.inet_pton(socket.AF_INET6, text)
            if packed[:12] == _MAPPED_V4:
                packed = packed[12:]
        else:
            packed = socket.inet_pton(socket.AF_INET, text)
    except (OSError, ValueError):
        return None, False
    value = int.from_bytes(packed, "big")
    if len(packed) == 4:
        ranges, address = _NOT_PUBLIC_V4, socket.inet_ntop(socket.AF_INET, packed)
    else:
        ranges, address = _NOT_PUBLIC_V6, socket.inet_ntop(socket.AF_INET6, packed)
    return address, not any(value >> shift == prefix for prefix, shift in ranges)


_n.register_cache(_ip_address)


def _ip(raw: str, problems: list[Problem]) -> str | None:
    text = raw.strip()
    if not text:
        return None
    address, public = _ip_address(text)
    if address is None:
        problems.append(
            Problem(
                "user_data.client_ip_address",
                "dropped: not an IPv4 or IPv6 address (send the client's address alone, "
                "without port or proxy list)",
                "invalid",
            )
        )
    elif not public:
        problems.append(
            Problem(
                "user_data.client_ip_address",
                "kept, but this is not a public address (a proxy's or a private network's?): "
                "send the visitor's own address for matching",
                "not_public",
            )
        )
    return address


def _is_utf8(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _never_hashed(key: str, raw: Any, problems: list[Problem]) -> Any:
    """The validated value of a field that is sent as is, or None (dropped)."""
    if type(raw) is str:
        if key == "client_ip_address":
            return _ip(raw, problems)
        text = raw.strip()
        if not text:
            return None
        if not _is_utf8(text):
            problems.append(
                Problem(
                    f"user_data.{key}",
                    "dropped: not valid Unicode text (a lone surrogate)",
                    "invalid",
                )
            )
            return None
        if key == "fbc" and not is_valid_fbc(text):
            problems.append(
                Problem(
                    "user_data.fbc",
                    "dropped: malformed fbc (expected fb.1.<creation time ms>.<fbclid>); Meta "
                    "rejects a malformed click id together with its batch (subcode 2804001)",
                    "invalid",
                )
            )
            return None
        if key == "fbp" and not is_valid_fbp(text):
            problems.append(
                Problem(
                    "user_data.fbp",
                    "dropped: malformed fbp (expected fb.1.<creation time ms>.<random number>, "
                    "the _fbp cookie as is)",
                    "invalid",
                )
            )
            return None
        return text
    if raw is None:
        return None
    if key in _ID_FIELDS and type(raw) is int:
        return raw
    kind = "a string or an integer" if key in _ID_FIELDS else "a single string"
    problems.append(
        Problem(f"user_data.{key}", f"dropped: must be {kind}, got {type(raw).__name__}", "invalid")
    )
    return None


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
    default_region = _default_region(default_country) if default_country else ""
    event_region = _region(user_data["country"]) if "country" in user_data else ""
    region = event_region or default_region
    order = date_order.strip().upper() if date_order and isinstance(date_order, str) else ""
    contexts = {"phone": (event_region, default_region), "country": region, "date_order": order}
    result: dict[str, Any] = {}
    for key, raw in user_data.items():
        if key in _HASHED:
            context = _FIELDS[key][1].context
            digests = _hash_field(
                key, raw, key if context == "field" else contexts.get(context), problems
            )
            if digests:
                result[key] = digests
        elif key in _NEVER:
            value = _never_hashed(key, raw, problems)
            if value is not None:
                result[key] = value
        else:
            name = str(key)
            if _FIELD_NAME.fullmatch(name) is None:  # a key may itself be personal data
                name = "<key that is not a field name>"
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
