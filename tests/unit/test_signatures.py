"""Webhook signatures: Shopify, Stripe (checked against the official `stripe` library) and the
generic HMAC scheme."""

import base64
import hashlib
import hmac
import json

import pytest
import stripe
from hypothesis import given
from hypothesis import strategies as st

from capi.sources.signatures import (
    HmacScheme,
    SignatureError,
    header_value,
    verify_hmac,
    verify_shopify,
    verify_stripe,
)
from tests.signing import shopify_signature, sign_hmac, stripe_signature_header

BODY = json.dumps({"id": 820982911946154508, "email": "jon@example.com"}).encode()
SHOPIFY_SECRET = "shpss_0123456789abcdef"
STRIPE_SECRET = "whsec_test_0123456789abcdef"
NOW = 1_800_000_000


def error_of(call, *args, **kwargs) -> SignatureError:
    with pytest.raises(SignatureError) as caught:
        call(*args, **kwargs)
    return caught.value


# -- Shopify -------------------------------------------------------------------------------------


def test_shopify_signature_is_base64_hmac_sha256_of_the_raw_body():
    expected = base64.b64encode(
        hmac.new(SHOPIFY_SECRET.encode(), BODY, hashlib.sha256).digest()
    ).decode()
    assert shopify_signature(BODY, SHOPIFY_SECRET) == expected
    verify_shopify(BODY, expected, [SHOPIFY_SECRET])


def test_shopify_rejects_a_changed_body_a_wrong_secret_and_garbage():
    good = shopify_signature(BODY, SHOPIFY_SECRET)
    assert error_of(verify_shopify, BODY + b" ", good, [SHOPIFY_SECRET]).status == 401
    assert error_of(verify_shopify, BODY, good, ["other"]).code == "signature_invalid"
    assert error_of(verify_shopify, BODY, "not base64!", [SHOPIFY_SECRET]).status == 401
    missing = error_of(verify_shopify, BODY, "", [SHOPIFY_SECRET])
    assert (missing.status, missing.code) == (401, "signature_missing")


def test_shopify_accepts_any_of_several_secrets_for_rotation():
    verify_shopify(BODY, shopify_signature(BODY, "new"), ["old", "new"])


def test_no_secret_configured_is_a_server_error_not_an_open_door():
    err = error_of(verify_shopify, BODY, shopify_signature(BODY, ""), [""])
    assert err.status == 500


# -- Stripe --------------------------------------------------------------------------------------


def test_a_header_signed_by_the_official_stripe_library_verifies():
    header = stripe.WebhookSignature.generate_signature_header(
        BODY.decode(), STRIPE_SECRET, timestamp=NOW
    )
    assert verify_stripe(BODY, header, [STRIPE_SECRET], now=NOW + 10) == NOW


def test_our_test_signer_is_accepted_by_the_official_stripe_library():
    header = stripe_signature_header(BODY, STRIPE_SECRET, NOW)
    assert stripe.WebhookSignature.verify_header(BODY, header, STRIPE_SECRET, tolerance=None)
    event = stripe.Webhook.construct_event(
        BODY.decode(), stripe_signature_header(BODY, STRIPE_SECRET, _now()), STRIPE_SECRET
    )
    assert event["id"] == 820982911946154508


def _now() -> int:
    import time

    return int(time.time())


@given(st.binary(max_size=300))
def test_stripe_agrees_with_the_official_library_on_any_body(body):
    text = body.decode("utf-8", errors="replace").encode()
    header = stripe.WebhookSignature.generate_signature_header(
        text.decode(), STRIPE_SECRET, timestamp=NOW
    )
    assert verify_stripe(text, header, [STRIPE_SECRET], now=NOW) == NOW


def test_stripe_stale_timestamp_is_400_only_after_the_signature_matched():
    header = stripe_signature_header(BODY, STRIPE_SECRET, NOW)
    stale = error_of(verify_stripe, BODY, header, [STRIPE_SECRET], now=NOW + 301)
    assert (stale.status, stale.code) == (400, "signature_stale")
    # the same header 300 s later is still inside the tolerance
    verify_stripe(BODY, header, [STRIPE_SECRET], now=NOW + 300)
    # a forged, old header is a 401, not a 400: nothing is revealed about the clock
    forged = error_of(verify_stripe, BODY, header, ["whsec_other"], now=NOW + 9999)
    assert forged.status == 401
    # tolerance can be configured, and switched off
    assert error_of(verify_stripe, BODY, header, [STRIPE_SECRET], tolerance_s=5, now=NOW + 6)
    verify_stripe(BODY, header, [STRIPE_SECRET], tolerance_s=0, now=NOW + 10**6)


def test_stripe_several_v1_signatures_while_a_secret_is_rolled():
    ours = stripe_signature_header(BODY, STRIPE_SECRET, NOW).split("v1=")[1]
    other = stripe_signature_header(BODY, "whsec_new", NOW).split("v1=")[1]
    header = f"t={NOW},v1={other},v1={ours},v0=deadbeef"
    assert verify_stripe(BODY, header, [STRIPE_SECRET], now=NOW) == NOW
    assert verify_stripe(BODY, header, ["whsec_new"], now=NOW) == NOW


@pytest.mark.parametrize(
    "header",
    [
        "",
        "garbage",
        f"v1={'0' * 64}",
        f"t=abc,v1={'0' * 64}",
        f"t={NOW}",
        f"t={NOW},v0={'0' * 64}",
        f"t={NOW},v1={'0' * 64}",
        f"t={NOW},v1=é",
    ],
)
def test_stripe_unusable_headers_are_401(header):
    assert error_of(verify_stripe, BODY, header, [STRIPE_SECRET], now=NOW).status == 401


def test_stripe_rejects_a_body_changed_after_signing():
    header = stripe_signature_header(BODY, STRIPE_SECRET, NOW)
    assert error_of(verify_stripe, BODY + b"\n", header, [STRIPE_SECRET], now=NOW).status == 401


# -- generic HMAC --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scheme", "compute"),
    [
        (
            HmacScheme("X-Signature"),
            lambda b, s: hmac.new(s.encode(), b, hashlib.sha256).hexdigest(),
        ),
        (
            HmacScheme("X-Hub-Signature-256", prefix="sha256="),
            lambda b, s: "sha256=" + hmac.new(s.encode(), b, hashlib.sha256).hexdigest(),
        ),
        (
            HmacScheme("Typeform-Signature", encoding="base64", prefix="sha256="),
            lambda b, s: (
                "sha256="
                + base64.b64encode(hmac.new(s.encode(), b, hashlib.sha256).digest()).decode()
            ),
        ),
        (
            HmacScheme("X-Sig", algorithm="sha1"),
            lambda b, s: hmac.new(s.encode(), b, hashlib.sha1).hexdigest(),
        ),
        (
            HmacScheme("X-Sig", algorithm="sha512", encoding="base64"),
            lambda b, s: base64.b64encode(
                hmac.new(s.encode(), b, hashlib.sha512).digest()
            ).decode(),
        ),
    ],
)
def test_generic_schemes_match_independent_computations(scheme, compute):
    value = compute(BODY, "s3cret")
    assert sign_hmac(scheme, BODY, "s3cret") == value
    verify_hmac(BODY, value, ["s3cret"], scheme)
    assert error_of(verify_hmac, BODY, value, ["wrong"], scheme).status == 401


def test_generic_hex_is_case_insensitive_and_prefix_is_required():
    scheme = HmacScheme("X-Hub-Signature-256", prefix="sha256=")
    value = sign_hmac(scheme, BODY, "k")
    verify_hmac(BODY, value.upper().replace("SHA256=", "sha256="), ["k"], scheme)
    assert error_of(verify_hmac, BODY, value.removeprefix("sha256="), ["k"], scheme).status == 401
    assert error_of(verify_hmac, BODY, "sha256=zz", ["k"], scheme).code == "signature_invalid"
    assert error_of(verify_hmac, BODY, "", ["k"], scheme).code == "signature_missing"


def test_generic_scheme_rejects_unknown_settings():
    with pytest.raises(ValueError):
        HmacScheme("X", algorithm="md5")
    with pytest.raises(ValueError):
        HmacScheme("X", encoding="base32")
    with pytest.raises(ValueError):
        HmacScheme("")


def test_errors_never_carry_the_secret_or_the_signature():
    header = stripe_signature_header(BODY, STRIPE_SECRET, NOW)
    for err in (
        error_of(verify_stripe, BODY, header, ["whsec_wrong"], now=NOW),
        error_of(verify_shopify, BODY, "AAAA", [SHOPIFY_SECRET]),
    ):
        assert STRIPE_SECRET not in err.message and "whsec_wrong" not in err.message
        assert header.split("v1=")[1] not in err.message and SHOPIFY_SECRET not in err.message


def test_header_lookup_ignores_case():
    assert header_value({"x-shopify-hmac-sha256": " abc "}, "X-Shopify-Hmac-Sha256") == "abc"
    assert header_value({}, "Stripe-Signature") == ""
