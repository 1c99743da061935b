"""Every source kind end to end, as deployed: sGTM, Shopify, Stripe and a mapped generic webhook
POSTed to the ingest process -> Pub/Sub emulator -> forward process -> Graph API stand-in; plus
multi-pixel fan-out with per-pixel token secrets and the consent policy."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
import requests
import stripe as stripe_sdk

from tests.fixtures import load, path, shopify_order, stripe_event, typeform
from tests.integration.conftest import API_KEY, PIXEL, TOKEN
from tests.signing import shopify_signature

pytestmark = pytest.mark.integration

SHOPIFY_SECRET = "shpss_integration_secret"
STRIPE_SECRET = "whsec_integration_secret"
TYPEFORM_SECRET = "typeform-integration-secret"
EMAIL_HASH = hashlib.sha256(b"jon@example.com").hexdigest()


def settle(seconds: float = 1.5) -> None:
    time.sleep(seconds)


def post_raw(relay, route: str, body: bytes, headers: dict[str, str], **params):
    return requests.post(
        relay.ingest.url + route,
        data=body,
        headers={"Content-Type": "application/json", **headers},
        params=params,
        timeout=30,
    )


def test_sgtm_event_data_is_delivered_hashed_with_the_pixels_event_id(start_relay, graph_standin):
    relay = start_relay()
    body = {
        "event_data": load("sgtm/purchase_event_data.json"),
        "cookies": {"_fbp": "fb.1.1736160000000.1122334455"},
        "event_time": int(time.time() * 1000) - 5000,
    }
    response = relay.post(body, path="/sgtm")
    assert response.status_code == 202, response.text
    (event,) = graph_standin.wait_for_events(1, timeout=30)
    assert event["event_name"] == "Purchase"
    assert event["event_id"] == "purchase-T_12345-1736170000"
    user = event["user_data"]
    assert user["em"] == [hashlib.sha256(b"anna.mueller@example.de").hexdigest()]
    assert user["fbp"] == "fb.1.1736160000000.1122334455"
    assert user["fbc"].endswith(".IwAR3sgtmClickId_Ab-12")  # from page_location's fbclid
    assert event["custom_data"]["value"] == 142.5
    assert "x-ga-gcs" not in event
    assert "Anna" not in relay.ingest.logs() + relay.forward.logs()


def test_shopify_webhook_is_verified_delivered_once_and_redeliveries_are_not_resent(
    start_relay, graph_standin
):
    relay = start_relay(ingest_env={"CAPI_SHOPIFY_WEBHOOK_SECRET": SHOPIFY_SECRET})
    body = json.dumps(shopify_order()).encode()
    headers = {
        "X-Shopify-Topic": "orders/paid",
        "X-Shopify-Hmac-Sha256": shopify_signature(body, SHOPIFY_SECRET),
        "X-Shopify-Shop-Domain": "jsmith.myshopify.com",
    }
    assert post_raw(relay, "/webhooks/shopify", body, headers).status_code == 202
    forged = {**headers, "X-Shopify-Hmac-Sha256": shopify_signature(body, "wrong")}
    assert post_raw(relay, "/webhooks/shopify", body, forged).status_code == 401
    (event,) = graph_standin.wait_for_events(1, timeout=30)
    assert event["event_id"] == "1001"
    assert EMAIL_HASH in event["user_data"]["em"]
    # the order as the store's pages name it (CAPI_SHOPIFY_ORDER_KEY, order_number): the same
    # order_id as the Pixel's Purchase (docs/SOURCES.md, "One order, one Purchase")
    assert event["custom_data"]["order_id"] == "1001"
    # Shopify redelivers (our 202 was lost on the way): taken as a duplicate, not queued again
    again = post_raw(relay, "/webhooks/shopify", body, headers)
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    settle()
    assert graph_standin.event_ids() == ["1001"]
    logs = relay.ingest.logs()
    assert "webhook signature refused" in logs
    assert "jon@example.com" not in logs and SHOPIFY_SECRET not in logs


def test_stripe_webhook_with_its_secret_in_secret_manager(
    start_relay, graph_standin, secret_standin
):
    name = "projects/capi-test/secrets/capi-stripe-webhook-secret"
    secret_standin.set_secret(name, STRIPE_SECRET)
    relay = start_relay(
        ingest_env={
            "CAPI_STRIPE_WEBHOOK_SECRET_SECRET": name + "/versions/latest",
            "CAPI_SECRET_MANAGER_ENDPOINT": secret_standin.url,
        }
    )
    payload = json.dumps(stripe_event("checkout_session_completed"), indent=2)
    signature = stripe_sdk.WebhookSignature.generate_signature_header(payload, STRIPE_SECRET)
    answer = post_raw(relay, "/webhooks/stripe", payload.encode(), {"Stripe-Signature": signature})
    assert answer.status_code == 202, answer.text
    stale = stripe_sdk.WebhookSignature.generate_signature_header(
        payload, STRIPE_SECRET, timestamp=int(time.time()) - 3600
    )
    assert (
        post_raw(
            relay, "/webhooks/stripe", payload.encode(), {"Stripe-Signature": stale}
        ).status_code
        == 400
    )
    ignored = stripe_event("checkout_session_completed")
    ignored["type"] = "charge.refunded"
    other = json.dumps(ignored)
    header = stripe_sdk.WebhookSignature.generate_signature_header(other, STRIPE_SECRET)
    reply = post_raw(relay, "/webhooks/stripe", other.encode(), {"Stripe-Signature": header})
    assert reply.status_code == 200 and reply.json()["status"] == "ignored"
    (event,) = graph_standin.wait_for_events(1, timeout=30)
    assert event["event_id"] == "checkout-7f3a2c"
    assert event["custom_data"] == {
        # the payment intent names the order (docs/SOURCES.md, "One order, one Purchase")
        "order_id": "pi_3QfGzqLkdIwHu7ix0mHvmXcS",
        "value": 53.9,
        "currency": "USD",
    }
    assert event["action_source"] == "website"
    settle(0.5)
    assert len(graph_standin.events) == 1


def test_generic_mapped_webhook_with_hmac(start_relay, graph_standin):
    relay = start_relay(
        ingest_env={
            "CAPI_WEBHOOK_MAPPINGS": str(path("generic/mappings.yaml")),
            "CAPI_TYPEFORM_SECRET": TYPEFORM_SECRET,
            "CAPI_TEST_EVENT_CODE": "TEST555",
        }
    )
    body = json.dumps(typeform()).encode()
    digest = hmac.new(TYPEFORM_SECRET.encode(), body, hashlib.sha256).digest()
    headers = {"Typeform-Signature": "sha256=" + base64.b64encode(digest).decode()}
    # the query is outside the signature: a signed webhook's routing comes from configuration
    redirected = post_raw(relay, "/webhooks/typeform-leads", body, headers, pixel_id="666")
    assert redirected.status_code == 400
    answer = post_raw(relay, "/webhooks/typeform-leads", body, headers)
    assert answer.status_code == 202, answer.text
    assert post_raw(relay, "/webhooks/unmapped", body, headers).status_code == 404
    (event,) = graph_standin.wait_for_events(1, timeout=30)
    assert (event["event_name"], event["event_id"]) == (
        "Lead",
        "typeform-a3a12ec67a1365927098a606107fac15",
    )
    assert event["user_data"]["em"] == [hashlib.sha256(b"laura@example.com").hexdigest()]
    assert graph_standin.accepted_requests()[0].test_event_code == "TEST555"


def test_fan_out_to_two_pixels_each_with_its_own_token_secret(
    start_relay, graph_standin, secret_standin
):
    other_pixel = "2222222222"
    graph_standin.pixels.add(other_pixel)
    graph_standin.set_tokens(["EAAtokenForA", "EAAtokenForB"])
    secret_a = "projects/capi-test/secrets/meta-token-a"
    secret_b = "projects/capi-test/secrets/meta-token-b"
    secret_standin.set_secret(secret_a, "EAAtokenForA")
    secret_standin.set_secret(secret_b, "EAAtokenForB")
    pixels = json.dumps(
        {
            "pixels": {
                PIXEL: {"token_secret": secret_a + "/versions/latest"},
                other_pixel: {
                    "token_secret": secret_b + "/versions/latest",
                    "test_event_code": "TESTB",
                },
            },
            "keys": {"agency": [PIXEL, other_pixel]},
        }
    )
    common = {"CAPI_PIXELS": pixels, "CAPI_SECRET_MANAGER_ENDPOINT": secret_standin.url}
    relay = start_relay(
        ingest_env={**common, "CAPI_API_KEYS": f"{API_KEY},agency=agency-key"},
        forward_env={**common, "CAPI_ACCESS_TOKEN": ""},
    )
    from tests.factories import purchase

    answer = relay.post(purchase(event_id="fan-1"), key="agency-key")
    assert answer.status_code == 202 and answer.json()["pixel_ids"] == [PIXEL, other_pixel]
    single = relay.post(purchase(event_id="solo-1"))  # the plain key: the default pixel only
    assert single.status_code == 202
    graph_standin.wait_for_events(3, timeout=30)
    settle()
    sent = sorted(  # per event: two events of one pixel may share a batched request
        (r.pixel_id, event["event_id"], r.token, r.test_event_code)
        for r in graph_standin.accepted_requests()
        for event in r.events
    )
    assert sent == [
        (PIXEL, "fan-1", "EAAtokenForA", None),
        (PIXEL, "solo-1", "EAAtokenForA", None),
        (other_pixel, "fan-1", "EAAtokenForB", "TESTB"),
    ]
    assert TOKEN not in {r.token for r in graph_standin.requests}
    assert secret_standin.access_count(secret_a) == 1  # cached per secret
    assert secret_standin.access_count(secret_b) == 1


def test_consent_denied_events_go_with_ldu_or_are_dropped(start_relay, graph_standin):
    relay = start_relay(ingest_env={"CAPI_CONSENT_POLICY": "ldu", "CAPI_LDU_STATES": "CA"})
    data = load("sgtm/purchase_event_data.json")
    data["x-ga-gcs"] = "G100"
    data["user_data"]["address"] = {"region": "California", "country": "US", "city": "Menlo Park"}
    response = relay.post({"event_data": data}, path="/sgtm")
    assert response.status_code == 202, response.text
    (event,) = graph_standin.wait_for_events(1, timeout=30)
    assert event["data_processing_options"] == ["LDU"]
    assert (event["data_processing_options_country"], event["data_processing_options_state"]) == (
        1,
        1000,
    )

    dropping = start_relay(ingest_env={"CAPI_CONSENT_POLICY": "drop"})
    answer = dropping.post({"event_data": data}, path="/sgtm")
    assert answer.status_code == 202
    result = answer.json()["results"][0]
    assert result["status"] == "dropped" and "ad_storage" in result["reason"]
    settle()
    assert len(graph_standin.events) == 1
