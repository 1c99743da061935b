"""Webhook signature checks, always over the raw body bytes and before any JSON parsing.

- Shopify: `X-Shopify-Hmac-Sha256` = base64(HMAC-SHA256(secret, raw body)).
- Stripe: `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>...]` where each v1 is
  hex(HMAC-SHA256(secret, f"{t}.{raw body}")); the header carries several v1 signatures while an
  endpoint secret is being rolled. A valid signature whose timestamp is older than the tolerance
  (default 300 s, the official libraries' default) is refused as a possible replay.
- Generic: HMAC over the raw body with a configurable header, algorithm, encoding and prefix.

Every comparison uses `hmac.compare_digest`, against every configured secret (several secrets
may be valid at once during a rotation). Errors carry an HTTP status and a short code, and never
the secret, the signature or the body.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from capi.errors import SignatureError

STRIPE_DEFAULT_TOLERANCE_S = 300
ALGORITHMS: dict[str, Callable[..., object]] = {
    "sha256": hashlib.sha256,
    "sha1": hashlib.sha1,
    "sha512": hashlib.sha512,
}
ENCODINGS = frozenset({"hex", "base64"})


def header_value(headers: Mapping[str, str], name: str) -> str:
    """A header's value, whatever the case of its name ("" when absent)."""
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        for key, candidate in headers.items():
            if key.lower() == lowered:
                value = candidate
                break
    return (value or "").strip()


def _digest(secret: str, message: bytes, algorithm: str = "sha256") -> bytes:
    return hmac.new(secret.encode("utf-8"), message, ALGORITHMS[algorithm]).digest()  # type: ignore[arg-type]


def _usable(secrets: Sequence[str]) -> list[str]:
    usable = [s for s in secrets if s]
    if not usable:
        raise SignatureError(500, "signing_secret_missing", "no signing secret is configured")
    return usable


def _any_match(candidates: Sequence[bytes], expected: Sequence[bytes]) -> bool:
    matched = False
    for want in expected:  # compare everything: the time taken does not tell which matched
        for got in candidates:
            matched |= hmac.compare_digest(got, want)
    return matched


def verify_shopify(body: bytes, header: str, secrets: Sequence[str]) -> None:
    """Raise SignatureError(401) unless `header` is the base64 HMAC-SHA256 of `body` under one of
    `secrets`."""
    usable = _usable(secrets)
    if not header:
        raise SignatureError(401, "signature_missing", "no X-Shopify-Hmac-Sha256 header")
    try:
        presented = base64.b64decode(header.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError(
            401, "signature_invalid", "X-Shopify-Hmac-Sha256 is not base64"
        ) from None
    if not _any_match([presented], [_digest(s, body) for s in usable]):
        raise SignatureError(
            401, "signature_invalid", "X-Shopify-Hmac-Sha256 does not match the body"
        )


@dataclass(frozen=True)
class StripeHeader:
    timestamp: int
    signatures: tuple[str, ...]


def parse_stripe_header(header: str) -> StripeHeader:
    """`t=...,v1=...,v1=...,v0=...` -> timestamp and the v1 signatures. Raises SignatureError."""
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            value = value.strip()
            if not value.isascii() or not value.isdigit() or len(value) > 12:
                raise SignatureError(
                    401, "signature_invalid", "Stripe-Signature has an unusable timestamp"
                )
            timestamp = int(value)
        elif key == "v1" and value.strip():
            signatures.append(value.strip())
    if timestamp is None:
        raise SignatureError(401, "signature_invalid", "Stripe-Signature has no timestamp (t=)")
    if not signatures:
        raise SignatureError(
            401, "signature_invalid", "Stripe-Signature has no v1 signature (the only scheme used)"
        )
    return StripeHeader(timestamp, tuple(signatures))


def verify_stripe(
    body: bytes,
    header: str,
    secrets: Sequence[str],
    *,
    tolerance_s: float = STRIPE_DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> int:
    """Check a `Stripe-Signature` header; return its timestamp.

    401 when the header is missing, malformed or matches no secret; 400 `signature_stale` when a
    valid signature is older than `tolerance_s` (a replay, or this machine's clock is off). The
    signature is checked first, as Stripe's own libraries do, so a stale answer is only ever
    given to a correctly signed request. `tolerance_s` <= 0 disables the age check.
    """
    usable = _usable(secrets)
    if not header:
        raise SignatureError(401, "signature_missing", "no Stripe-Signature header")
    parsed = parse_stripe_header(header)
    signed = f"{parsed.timestamp}.".encode() + body
    presented = [s.encode("ascii", errors="replace") for s in parsed.signatures]
    expected = [_digest(s, signed).hex().encode("ascii") for s in usable]
    if not _any_match(presented, expected):
        raise SignatureError(
            401, "signature_invalid", "no Stripe-Signature v1 signature matches the body"
        )
    current = time.time() if now is None else now
    if tolerance_s > 0 and parsed.timestamp < current - tolerance_s:
        age = int(current - parsed.timestamp)
        raise SignatureError(
            400,
            "signature_stale",
            f"the signature is {age} s old; the tolerance is {int(tolerance_s)} s (a replay, or "
            "the relay's clock is wrong)",
        )
    return parsed.timestamp


@dataclass(frozen=True)
class HmacScheme:
    """How a generic sender signs: header name, hash, encoding of the digest, optional prefix
    (e.g. GitHub-style `sha256=`)."""

    header: str
    algorithm: str = "sha256"
    encoding: str = "hex"
    prefix: str = ""

    def __post_init__(self) -> None:
        if not self.header:
            raise ValueError("an HMAC scheme needs a header name")
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm must be one of {', '.join(sorted(ALGORITHMS))}")
        if self.encoding not in ENCODINGS:
            raise ValueError("encoding must be hex or base64")


def _decode(value: str, encoding: str) -> bytes | None:
    try:
        if encoding == "hex":
            return bytes.fromhex(value)
        return base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error):
        return None


def verify_hmac(body: bytes, header: str, secrets: Sequence[str], scheme: HmacScheme) -> None:
    """Raise SignatureError(401) unless `header` is `scheme`'s signature of `body` under one of
    `secrets`. Hex digests compare case-insensitively."""
    usable = _usable(secrets)
    if not header:
        raise SignatureError(401, "signature_missing", f"no {scheme.header} header")
    value = header.strip()
    if scheme.prefix:
        if not value.lower().startswith(scheme.prefix.lower()):
            raise SignatureError(
                401, "signature_invalid", f"{scheme.header} does not start with {scheme.prefix!r}"
            )
        value = value[len(scheme.prefix) :]
    presented = _decode(value.strip(), scheme.encoding)
    if presented is None:
        raise SignatureError(401, "signature_invalid", f"{scheme.header} is not {scheme.encoding}")
    expected = [_digest(s, body, scheme.algorithm) for s in usable]
    if not _any_match([presented], expected):
        raise SignatureError(401, "signature_invalid", f"{scheme.header} does not match the body")
