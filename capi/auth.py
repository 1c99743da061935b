"""Who may call ingest: an API key in `X-API-Key` or `Authorization: Bearer`, checked in constant
time.

Keys come from `CAPI_API_KEYS` (comma-separated) or the Secret Manager version named by
`CAPI_API_KEYS_SECRET` (same format, re-read after the secret TTL, so a rotation needs no redeploy:
put old and new key in the secret, move the callers, then remove the old one).
With no key configured every request is refused, unless `CAPI_ALLOW_UNAUTHENTICATED` is on
(local development only).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from enum import Enum


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


class ApiKeyAuth:
    """Checks presented keys against the configured ones; `keys` is called per request (cached)."""

    def __init__(self, keys: Callable[[], tuple[str, ...]], *, allow_unauthenticated: bool = False):
        self._keys = keys
        self._open = allow_unauthenticated

    def check(self, headers: Mapping[str, str]) -> AuthResult:
        keys = self._keys()
        if not keys:
            return AuthResult.OK if self._open else AuthResult.NOT_CONFIGURED
        key = presented_key(headers)
        if not key:
            return AuthResult.MISSING
        matched = False
        candidate = key.encode()
        for valid in keys:  # compare with every key: the time taken does not tell which matched
            matched |= hmac.compare_digest(candidate, valid.encode())
        return AuthResult.OK if matched else AuthResult.INVALID
