"""Signing what providers sign, for tests: the relay only verifies signatures, so the signing side
lives here (written from the providers' documentation, not from the relay's verifier)."""

from __future__ import annotations

import base64
import hashlib
import hmac

from capi.sources.signatures import HmacScheme


def shopify_signature(body: bytes, secret: str) -> str:
    """The `X-Shopify-Hmac-Sha256` value Shopify sends: base64 of HMAC-SHA256 over the raw body."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def stripe_signature_header(body: bytes, secret: str, timestamp: int) -> str:
    """A `Stripe-Signature` value: `t=<ts>,v1=<hex HMAC-SHA256 of "<ts>.<body>">`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def sign_hmac(scheme: HmacScheme, body: bytes, secret: str) -> str:
    """The header value a sender configured like `scheme` would send for `body`."""
    digest = hmac.new(secret.encode(), body, scheme.algorithm).digest()
    text = digest.hex() if scheme.encoding == "hex" else base64.b64encode(digest).decode()
    return scheme.prefix + text
