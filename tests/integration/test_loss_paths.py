"""Loss paths found by hostile testing (issue: every accepted event reaches Meta), end to end:
ingest and forward as functions-framework processes on the Pub/Sub emulator, delivering to the
Graph stand-in. Each test failed before its fix."""

from __future__ import annotations

import copy
import json
import time

import pytest
import requests

from tests.factories import purchase
from tests.fixtures import load
from tests.integration.conftest import PIXEL

pytestmark = pytest.mark.integration


def settle(seconds: float = 1.5) -> None:
    time.sleep(seconds)


def sgtm_event(name: str) -> dict:
    data = copy.deepcopy(load("sgtm/purchase_event_data.json"))
    data.pop("event_id")  # no Pixel id: both events get the transaction_id
    data["event_name"] = name
    return {"event_data": data}


def test_checkout_and_purchase_of_one_transaction_are_both_delivered(start_relay, graph_standin):
    relay = start_relay()
    for n, name in enumerate(("begin_checkout", "purchase"), start=1):
        answer = relay.post(sgtm_event(name), path="/sgtm")
        assert answer.status_code == 202, answer.text
        events = graph_standin.wait_for_events(n, timeout=30)  # one after the other
    assert sorted(e["event_name"] for e in events) == ["InitiateCheckout", "Purchase"]
    assert {e["event_id"] for e in events} == {"T_12345"}


def test_events_sharing_an_order_id_and_a_test_then_live_copy_are_all_delivered(
    start_relay, graph_standin
):
    relay = start_relay()
    checkout = purchase(event_id=None, event_name="InitiateCheckout")
    assert relay.post(checkout).status_code == 202
    graph_standin.wait_for_events(1, timeout=30)
    assert relay.post(purchase(event_id=None)).status_code == 202
    graph_standin.wait_for_events(2, timeout=30)
    assert relay.post({"data": [purchase(event_id="go-live")], "test_event_code": "T1"}).ok
    graph_standin.wait_for_events(3, timeout=30)
    assert relay.post(purchase(event_id="go-live")).status_code == 202
    graph_standin.wait_for_events(4, timeout=30)
    settle()
    names = [(e["event_name"], e["event_id"]) for e in graph_standin.events]
    assert len(names) == 4
    assert [r.test_event_code for r in graph_standin.accepted_requests()][2:] == ["T1", None]


@pytest.mark.parametrize("route", ["/events", "/sgtm"])
def test_non_finite_numbers_are_a_400_with_the_path_and_nothing_is_queued(
    start_relay, graph_standin, route
):
    relay = start_relay()
    if route == "/events":
        body = json.dumps(purchase()).replace('"value": 49.9', '"value": 1e999')
        path = "custom_data.value"
    else:
        body = json.dumps(sgtm_event("purchase")).replace('"tax": 22.75', '"tax": -1e999')
        path = "event_data.tax"
    answer = requests.post(
        relay.ingest.url + route,
        data=body,
        headers={"Content-Type": "application/json", "X-API-Key": "it-key-1"},
        timeout=30,
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "non_finite_number"
    assert path in answer.json()["error"]["message"]
    huge = '{"event_name": "Lead", "n": ' + "9" * 5000 + "}"
    answer = requests.post(
        relay.ingest.url + route,
        data=huge,
        headers={"Content-Type": "application/json", "X-API-Key": "it-key-1"},
        timeout=30,
    )
    assert (answer.status_code, answer.json()["error"]["code"]) == (400, "invalid_json")
    settle()
    assert graph_standin.requests == []


def test_a_2xx_that_counts_no_event_is_retried_then_delivered(start_relay, graph_standin):
    relay = start_relay()
    graph_standin.fail_next(1, status=200, body={"events_received": 0, "fbtrace_id": "x"})
    assert relay.post(purchase(event_id="counted")).status_code == 202
    graph_standin.wait_for_events(1, timeout=30)
    assert graph_standin.event_ids() == ["counted"]
    assert [r.status for r in graph_standin.requests] == [200, 200]


def test_an_untrusted_error_code_from_meta_is_dead_lettered_not_a_500(start_relay, graph_standin):
    relay = start_relay()
    body = '{"error": {"code": 1e999, "message": "weird", "type": "OAuthException"}}'
    graph_standin.fail_next(1, status=400, body=body)
    assert relay.post(purchase(event_id="odd-answer")).status_code == 202
    (dead,) = relay.dead_letters(1)
    assert dead.attributes["dlq_reason"] == "rejected"
    assert "error_code" not in dead.attributes
    assert "Traceback" not in relay.forward.logs()


def test_unrouted_and_head_requests_get_clean_answers(start_relay, graph_standin):
    relay = start_relay()
    empty_name = requests.post(relay.ingest.url + "/webhooks/", data=b"{}", timeout=10)
    assert empty_name.status_code == 404 and empty_name.json()["error"]["code"] == "not_found"
    assert requests.head(relay.ingest.url + "/healthz", timeout=10).status_code == 200
    assert requests.head(relay.forward.url + "/healthz", timeout=10).status_code == 200
    assert PIXEL  # the relay serves the default pixel; nothing was sent
    assert graph_standin.requests == []


def fan_out_relay(start_relay, n_pixels: int):
    extra = [str(2_000_000_000 + i) for i in range(n_pixels - 1)]
    pixels = json.dumps(
        {
            "pixels": {p: {"token_secret": f"projects/x/secrets/t{p}/versions/1"} for p in extra},
            "keys": {"agency": [PIXEL, *extra]},
        }
    )
    env = {"CAPI_PIXELS": pixels, "CAPI_API_KEYS": "it-key-1,agency=agency-key"}
    return start_relay(ingest_env=env)


@pytest.mark.parametrize(
    ("n_pixels", "events", "filler"),
    [(2, 600, 0), (12, 60, 15_000)],  # over 1,000 messages; over 10 MB in 720 messages
    ids=["message-count", "bytes"],
)
def test_a_fan_out_that_cannot_be_queued_in_one_publish_is_a_413_and_nothing_is_queued(
    start_relay, graph_standin, n_pixels, events, filler
):
    relay = fan_out_relay(start_relay, n_pixels)
    body = [
        purchase(
            event_id=f"fan-{i}", custom_data={"value": 1, "currency": "USD", "note": "x" * filler}
        )
        for i in range(events)
    ]
    answer = relay.post(body, key="agency-key")
    assert answer.status_code == 413, answer.text
    error = answer.json()["error"]
    assert error["code"] == "too_large_for_queue" and "send at most" in error["message"]
    settle(3)
    assert graph_standin.requests == []  # not one message was queued


def test_metas_message_quoting_the_customer_never_reaches_logs_or_dlq_attributes(
    start_relay, graph_standin
):
    relay = start_relay()
    user = {
        "fn": "Johnathan",
        "ln": "Smithersonian",
        "ph": "+1 650 555 1212",
        "em": "johnathan.s@example.org",
        "client_ip_address": "203.0.113.7",
        "client_user_agent": "Mozilla/5.0",
    }
    quote = "Invalid IP 203.0.113.7 for user Johnathan Smithersonian +16505551212"
    graph_standin.error_next(1, message=quote, is_transient=True)  # logged as a retry first
    graph_standin.error_next(100, 2804003, message=quote, title=quote, user_msg=quote)
    assert relay.post(purchase(event_id="quoted", user_data=user)).status_code == 202
    (dead,) = relay.dead_letters(1, timeout=30)
    attributes = json.dumps(dict(dead.attributes))
    logs = relay.forward.logs()
    for raw in ("203.0.113.7", "Johnathan", "Smithersonian", "6505551212"):
        assert raw not in attributes and raw not in logs, raw
    assert "Invalid IP [redacted]" in dead.attributes["error_message"]
    assert "transient failure; will be retried" in logs


def test_unused_webhook_routes_never_ask_secret_manager_and_a_slow_one_cannot_hang_a_request(
    start_relay, graph_standin, secret_standin
):
    # Shopify is not set up; Stripe is, but its secret has no version yet (as Terraform creates
    # it) and Secret Manager is slow.
    secret = "projects/capi-test/secrets/stripe"
    secret_standin.create_secret(secret)
    relay = start_relay(
        ingest_env={
            "CAPI_SECRET_MANAGER_ENDPOINT": secret_standin.url,
            "CAPI_STRIPE_WEBHOOK_SECRET_SECRET": secret + "/versions/latest",
            "CAPI_SECRET_TIMEOUT": "1",
        }
    )
    for _ in range(20):
        answer = requests.post(relay.ingest.url + "/webhooks/shopify", data=b"{}", timeout=10)
        assert answer.status_code == 404
    assert secret_standin.access_counts() == {}
    secret_standin.delay_s = 20.0
    started = time.monotonic()
    answers = [
        requests.post(relay.ingest.url + "/webhooks/stripe", data=b"{}", timeout=30).status_code
        for _ in range(20)
    ]
    assert answers == [503] * 20
    assert time.monotonic() - started < 10  # one bounded read, then the failure is remembered
    assert secret_standin.access_count(secret) <= 2
    errors = [line for line in relay.ingest.logs().splitlines() if '"ERROR"' in line]
    assert len(errors) <= 2


def test_a_captured_shopify_delivery_cannot_be_replayed_or_redirected(start_relay, graph_standin):
    from tests.fixtures import shopify_order
    from tests.signing import shopify_signature

    secret = "shpss_replay_secret"
    relay = start_relay(
        ingest_env={"CAPI_SHOPIFY_WEBHOOK_SECRET": secret, "CAPI_SHOPIFY_TOPICS": "orders/paid"}
    )
    body = json.dumps(shopify_order()).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": "orders/paid",
        "X-Shopify-Hmac-Sha256": shopify_signature(body, secret),
        "X-Shopify-Webhook-Id": "id-1",
    }
    url = relay.ingest.url + "/webhooks/shopify"

    def post(extra=None, **params):
        return requests.post(url, data=body, headers={**headers, **(extra or {})}, params=params)

    redirected = post(pixel_id="666", test_event_code="TEST1")
    assert redirected.status_code == 400
    assert post({"X-Shopify-Topic": "orders/create"}).status_code == 400  # not configured
    assert post().status_code == 202
    replays = [post(), post({"X-Shopify-Webhook-Id": "id-2"})]
    assert [(r.status_code, r.json()["status"]) for r in replays] == [(200, "duplicate")] * 2
    graph_standin.wait_for_events(1, timeout=30)
    settle()
    assert [r.pixel_id for r in graph_standin.accepted_requests()] == [PIXEL]
