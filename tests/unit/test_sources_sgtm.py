"""sGTM: GA4 event data -> a Meta server event, and the /sgtm route."""

import hashlib
import json

import pytest

from capi.ingest.auth import ApiKeyAuth
from capi.ingest.handler import Ingest
from capi.meta.body import BodyError
from capi.meta.prepare import prepare_event
from capi.queueing.memory import InMemoryPublisher
from capi.routing import parse_routing
from capi.sources.sgtm import GA4_TO_META, adapt, meta_event_name
from capi.web import IncomingRequest
from tests.factories import validate_event
from tests.fixtures import load

COOKIES = {"_fbp": "fb.1.1736160000000.1122334455", "_fbc": "fb.1.1736150000000.IwAR_cookieclick"}


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def wrapped(**extra):
    return {"event_data": load("sgtm/purchase_event_data.json"), "cookies": COOKIES, **extra}


def test_purchase_event_data_maps_to_a_meta_purchase():
    batch = adapt(wrapped(event_time=1736170000123))
    (event,) = batch.events
    assert event["event_name"] == "Purchase"
    assert event["event_id"] == "purchase-T_12345-1736170000"  # the Pixel's eventID
    assert event["event_time"] == 1736170000  # milliseconds from getTimestampMillis()
    assert event["action_source"] == "website"
    assert event["event_source_url"].startswith("https://shop.example.com/checkout/thank-you")
    assert event["referrer_url"] == "https://shop.example.com/checkout/payment"
    user = event["user_data"]
    assert user["em"] == "Anna.Mueller@Example.DE"  # raw: hashing is the forwarder's job
    assert user["ph"] == "+49 30 901820"
    assert (user["fn"], user["ln"], user["ct"], user["st"], user["zp"], user["country"]) == (
        "Anna",
        "Müller",
        "Berlin",
        "Berlin",
        "10117",
        "DE",
    )
    assert user["external_id"] == "customer-42"
    assert user["client_ip_address"] == "2001:db8:85a3::8a2e:370:7334"
    assert user["client_user_agent"].startswith("Mozilla/5.0 (Windows NT 10.0")
    assert (user["fbp"], user["fbc"]) == (COOKIES["_fbp"], COOKIES["_fbc"])
    assert "0" * 64 not in json.dumps(event)  # Google's own hashes are never used
    custom = event["custom_data"]
    assert custom["value"] == 142.5 and custom["currency"] == "EUR"
    assert custom["order_id"] == "T_12345"
    assert custom["contents"] == [
        {"id": "SKU_12345", "quantity": 3, "item_price": 10.01},
        {"id": "SKU_12346", "quantity": 2, "item_price": 21.01},
    ]
    assert custom["content_ids"] == ["SKU_12345", "SKU_12346"]
    assert custom["num_items"] == 5 and custom["content_type"] == "product"
    assert event["x-ga-gcs"] == "G111"  # carried to the consent policy, which strips it


def test_the_event_is_valid_and_hashes_as_meta_expects():
    (event,) = adapt(wrapped(event_time=1736170000)).events
    errors, _ = validate_event(event, now=1736170100)
    assert errors == []
    prepared, _ = prepare_event({k: v for k, v in event.items() if not k.startswith("x-ga")})
    assert prepared["user_data"]["em"] == [sha("anna.mueller@example.de")]
    assert prepared["user_data"]["ph"] == [sha("4930901820")]
    assert prepared["user_data"]["ln"] == [sha("müller")]


@pytest.mark.parametrize(("ga4", "meta"), sorted(GA4_TO_META.items()))
def test_ga4_names_become_metas(ga4, meta):
    assert meta_event_name(ga4) == meta


@pytest.mark.parametrize("name", ["Purchase", "ViewContent", "my_custom_event", "Quiz Done"])
def test_meta_and_custom_names_pass_through(name):
    assert meta_event_name(name) == name


def test_a_single_item_names_the_content_and_search_term_is_kept():
    data = {
        "event_name": "view_item",
        "page_location": "https://shop.example.com/p/1",
        "items": [{"item_id": 7, "item_name": "Tee", "item_category": "Apparel", "price": "9.5"}],
        "search_term": "green tee",
    }
    (event,) = adapt(data).events  # a bare event-data object works too
    custom = event["custom_data"]
    assert event["event_name"] == "ViewContent"
    assert custom["content_name"] == "Tee" and custom["content_category"] == "Apparel"
    assert custom["contents"] == [{"id": "7", "item_price": 9.5}] and custom["num_items"] == 1
    assert custom["search_string"] == "green tee"


def test_event_id_falls_back_to_the_transaction_then_to_the_relay():
    data = load("sgtm/purchase_event_data.json")
    del data["event_id"]
    assert adapt(data).events[0]["event_id"] == "T_12345"
    del data["transaction_id"]
    assert "event_id" not in adapt(data).events[0]


def test_meta_tag_conventions_x_fb_keys_are_honoured():
    data = {
        "event_name": "generate_lead",
        "x-fb-event_id": "lead-9",
        "x-fb-ud-em": "lead@example.com",
        "x-fb-ud-ph": ["+1 650 555 1212"],
        "x-fb-ck-fbp": "fb.1.1736160000000.42",
        "x-fb-cd-content_name": "Whitepaper",
        "user_agent": "UA",
    }
    (event,) = adapt(data).events
    assert event["event_name"] == "Lead" and event["event_id"] == "lead-9"
    assert event["user_data"]["em"] == "lead@example.com"
    assert event["user_data"]["ph"] == "+1 650 555 1212"
    assert event["user_data"]["fbp"] == "fb.1.1736160000000.42"
    assert event["custom_data"]["content_name"] == "Whitepaper"


def test_several_addresses_become_lists():
    data = {
        "event_name": "sign_up",
        "user_data": {
            "address": [{"city": "Berlin", "country": "DE"}, {"city": "Paris", "country": "FR"}]
        },
    }
    user = adapt(data).events[0]["user_data"]
    assert user["ct"] == ["Berlin", "Paris"] and user["country"] == ["DE", "FR"]


def test_wrapper_fields():
    batch = adapt(wrapped(event_name="CustomThing", pixel_id="222", test_event_code=" TEST9 "))
    assert batch.events[0]["event_name"] == "CustomThing"
    assert batch.test_event_code == "TEST9" and batch.extra == {"pixel_id": "222"}


@pytest.mark.parametrize(
    "body",
    [
        [],
        "text",
        {"event_data": []},
        {"page_location": "https://x.example/"},
        {"test_event_code": 5, "event_name": "x"},
    ],
)
def test_unusable_bodies(body):
    with pytest.raises(BodyError) as caught:
        adapt(body)
    assert caught.value.status == 400


# -- the route ----------------------------------------------------------------------------------


def relay(**kwargs):
    publisher = InMemoryPublisher()
    ingest = Ingest(
        publisher=publisher, auth=ApiKeyAuth(lambda: ("tag=sgtm-key",)), pixel_id="111", **kwargs
    )
    return ingest, publisher


def post(ingest, body, key="sgtm-key", content_type="application/json"):
    headers = {"X-API-Key": key} if key else {}
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return ingest.handle(IncomingRequest("POST", "/sgtm", headers, raw, content_type))


def test_sgtm_route_queues_the_event_with_fbc_from_the_page_url():
    ingest, pub = relay()
    body = wrapped()
    del body["cookies"]["_fbc"]
    reply = post(ingest, body)
    assert reply.status == 202, reply.body
    (message,) = pub.messages
    assert message.attributes["source"] == "sgtm"
    assert message.attributes["event_id"] == "purchase-T_12345-1736170000"
    queued = json.loads(message.data)
    assert queued["user_data"]["fbc"].endswith(".IwAR3sgtmClickId_Ab-12")
    assert "x-ga-gcs" not in queued and "x-ga-gcd" not in queued


def test_sgtm_route_auth_media_type_and_body_errors():
    ingest, pub = relay()
    assert post(ingest, wrapped(), key="").status == 401
    assert post(ingest, wrapped(), key="wrong").status == 401
    assert post(ingest, wrapped(), content_type="text/plain").status == 415
    assert post(ingest, b"{oops").status == 400
    assert post(ingest, b"").status == 400
    assert post(ingest, {"event_data": {"page_title": "x"}}).status == 400
    assert ingest.handle(IncomingRequest("GET", "/sgtm", {"X-API-Key": "sgtm-key"})).status == 405
    assert pub.messages == []


def test_sgtm_pixel_override_goes_through_routing():
    routing = parse_routing(
        {"pixels": {"111": {}, "222": {}}, "keys": {"tag": {"pixels": ["111"], "allow": ["222"]}}}
    )
    ingest, pub = relay(routing=routing)
    assert post(ingest, wrapped(pixel_id="222")).status == 202
    assert post(ingest, wrapped(pixel_id="333")).status == 403
    assert [m.attributes["pixel_id"] for m in pub.messages] == ["222"]


def test_size_is_checked_after_the_key_and_ambiguous_numbers_are_refused():
    ingest, _ = relay()
    big = IncomingRequest("POST", "/sgtm", {}, b"", "application/json", too_large=True)
    assert ingest.handle(big).status == 401
    big.headers = {"X-API-Key": "sgtm-key"}
    assert ingest.handle(big).status == 413
    (event,) = adapt({"event_name": "purchase", "value": "1,234", "currency": "USD"}).events
    assert event["custom_data"]["value"] == "1,234"  # passed on for validation to name
