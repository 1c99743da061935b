"""Who may call ingest: an API key in `X-API-Key` or `Authorization: Bearer`, checked in constant
time.

Keys come from `CAPI_API_KEYS` (comma-separated) or the Secret Manager version named by
`CAPI_API_KEYS_SECRET` (same format, re-read after the secret TTL, so a rotation needs no redeploy:
put old and new key in the secret, move the callers, then remove the old one).

A key may be given a name, `agency-a=key1,agency-b=key2`: the name (never the key) is what the
pixel routing configuration (capi.routing) refers to and what logs show. A plain key has the
empty name and keeps working as before. A name is a letter followed by up to 63 letters, digits,
`_`, `.` or `-`; an entry whose part before the first `=` is not such a name, or whose part after
it is empty or starts with `=` (base64 padding: `abc==`), is a plain key.
With no key configured every request is refused, unless `CAPI_ALLOW_UNAUTHENTICATED` is on
(local development only).
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable, Mapping
from enum import Enum

_KEY_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")


class AuthResult(Enum):
    OK = "ok"
    MISSING = "missing"  # no key presented
    INVALID = "invalid"  # a key that matches none
    NOT_CONFIGURED = "not_configured"  # the relay has no keys and is not open


def presented_key(headers: Mapping[str, str]) -> str:
    """The key a caller presented, or "" (header names are case-insensitive in Flask/Werkzeug)."""
    key = (headers.get("X-API-Key") or "").strip()
    if key:
        return key
    scheme, _, value = (headers.get("Authorization") or "").strip().partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    return ""


def split_named_key(entry: str) -> tuple[str, str]:
    """`name=key` -> (name, key); a plain key -> ("", key)."""
    name, sep, key = entry.strip().partition("=")
    name, key = name.strip(), key.strip()
    if sep and key and not key.startswith("=") and _KEY_NAME.fullmatch(name):
        return name, key
    return "", entry.strip()


class ApiKeyAuth:
    """Checks presented keys against the configured ones; `keys` is called per request (cached)."""

    def __init__(self, keys: Callable[[], tuple[str, ...]], *, allow_unauthenticated: bool = False):
        self._keys = keys
        self._open = allow_unauthenticated

    def identify(self, headers: Mapping[str, str]) -> tuple[AuthResult, str]:
        """The result and, when OK, the matched key's name ("" for a plain key or an open relay)."""
        keys = self._keys()
        if not keys:
            return (AuthResult.OK if self._open else AuthResult.NOT_CONFIGURED), ""
        key = presented_key(headers)
        if not key:
            return AuthResult.MISSING, ""
        matched = False
        name = ""
        candidate = key.encode()
        for entry in keys:  # compare with every key: the time taken does not tell which matched
            entry_name, valid = split_named_key(entry)
            hit = hmac.compare_digest(candidate, valid.encode())
            if hit and not matched:
                name = entry_name
            matched |= hit
        return (AuthResult.OK, name) if matched else (AuthResult.INVALID, "")
