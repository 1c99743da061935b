"""The browser door (issue 27): `POST /browser` with a public browser key and its limits, and
`GET /pixel.js`. In a real browser (headless Chromium): tests/integration/test_pixel_js.py."""

from __future__ import annotations

import json

import pytest

from capi.config import ConfigError
from capi.ingest.auth import ApiKeyAuth
from capi.ingest.browser import BrowserDoor, RateLimiter, parse_browser_keys
from capi.ingest.handler import Ingest
from capi.queueing.memory import InMemoryPublisher
from capi.web import IncomingRequest

KEY = "pk_live_0123456789abcdef"
SHOP = "https://shop.example.com"


def door(**spec) -> tuple[Ingest, InMemoryPublisher]:
    keys = parse_browser_keys(json.dumps({KEY: {"origins": [SHOP], **spec}}))
    queue = InMemoryPublisher()
    ingest = Ingest(
        publisher=queue,
        auth=ApiKeyAuth(lambda: ("server-key",)),
        pixel_id="123",
        browser=BrowserDoor(keys, ip_rate_per_minute=30),
    )
    return ingest, queue


def beacon(body: dict | bytes, *, key: str = KEY, origin: str = SHOP, ip: str = "198.51.100.7",
           headers: dict | None = None, method: str = "POST") -> IncomingRequest:  # fmt: skip
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return IncomingRequest(
        method,
        "/browser",
        {"Origin": origin, "User-Agent": "Mozilla/5.0 Test", **(headers or {})},
        data,
        "text/plain;charset=UTF-8",
        query={"key": key},
        client_ip=ip,
    )


def event(**extra) -> dict:
    return {
        "event_name": "Purchase",
        "event_id": "pixel-1",
        "event_source_url": f"{SHOP}/thanks?fbclid=abc",
        "fbp": "fb.1.1700000000000.111",
        "fbclid": "abc",
        "user_data": {"em": "jane@example.com", "client_ip_address": "1.2.3.4"},
        "custom_data": {"value": 10, "currency": "USD"},
        **extra,
    }


def test_a_page_event_is_queued_as_a_website_event_with_the_pixels_event_id():
    ingest, queue = door()
    reply = ingest.handle(beacon(event()))
    assert reply.status == 202, reply.body
    assert reply.headers["Access-Control-Allow-Origin"] == SHOP
    (message,) = queue.messages
    queued = json.loads(message.data)
    assert queued["event_id"] == "pixel-1" and queued["action_source"] == "website"
    user = queued["user_data"]
    assert user["client_ip_address"] == "198.51.100.7"  # from the request, not the body
    assert user["client_user_agent"] == "Mozilla/5.0 Test"
    assert user["fbp"] == "fb.1.1700000000000.111" and user["fbc"].endswith(".abc")
    assert message.attributes["source"] == "browser" and message.attributes["pixel_id"] == "123"


@pytest.mark.parametrize(
    ("request_", "status", "code"),
    [
        (beacon(event(), origin="https://evil.example"), 403, "origin_not_allowed"),
        (beacon(event(), key="pk_unknown_0123456789"), 401, "browser_key_invalid"),
        (beacon(event(event_source_url="https://evil.example/x")), 400, "bad_page_url"),
        (beacon(b"not json"), 400, "bad_body"),
        (beacon(b"{" + b'"a":"' + b"x" * 20_000 + b'"}'), 413, "body_too_large"),
        (beacon(event(), method="GET"), 405, "method_not_allowed"),
    ],
)
def test_what_the_door_refuses(request_, status, code):
    ingest, queue = door()
    reply = ingest.handle(request_)
    assert (reply.status, reply.body["error"]["code"]) == (status, code)
    assert queue.messages == []


def test_only_the_keys_event_names_and_never_a_test_code_from_the_page():
    ingest, queue = door(events=["PageView", "Purchase"])
    refused = ingest.handle(beacon(event(event_name="Lead")))
    assert (refused.status, refused.body["error"]["code"]) == (403, "event_not_allowed")
    assert ingest.handle(beacon(event(test_event_code="TEST123"))).status == 202
    (message,) = queue.messages
    assert "test_event_code" not in message.attributes


def test_a_browser_key_is_not_an_api_key_and_an_api_key_opens_no_browser_door():
    ingest, queue = door()
    as_api = IncomingRequest(
        "POST", "/events", {"X-API-Key": KEY}, json.dumps(event()).encode(), "application/json"
    )
    assert ingest.handle(as_api).status == 401
    assert ingest.handle(beacon(event(), key="server-key")).status == 401
    assert queue.messages == []


def test_a_burst_from_one_address_is_held_to_its_rate_whatever_origin_it_claims():
    ingest, queue = door()
    statuses = [
        ingest.handle(beacon(event(event_id=f"b-{i}"), origin=origin)).status
        for i, origin in enumerate([SHOP, "https://forged.example"] * 50)
    ]
    assert statuses.count(429) >= 100 - 30  # 30 a minute from this address
    assert len(queue.messages) <= 30
    other = ingest.handle(beacon(event(event_id="other"), ip="203.0.113.9"))
    assert other.status == 202  # another visitor is not held back


def test_the_key_has_its_own_rate_across_addresses():
    ingest, _ = door(rate_per_minute=5)
    statuses = [
        ingest.handle(beacon(event(event_id=f"k-{i}"), ip=f"203.0.113.{i}")).status
        for i in range(20)
    ]
    assert statuses.count(202) == 5 and statuses.count(429) == 15


def test_the_rate_refills_with_time():
    now = [0.0]
    limiter = RateLimiter(clock=lambda: now[0])
    assert [limiter.allow("a", 60) for _ in range(61)].count(True) == 60
    now[0] += 1.0
    assert limiter.allow("a", 60) and not limiter.allow("a", 60)


def test_first_party_cookies_when_the_relay_serves_the_shops_subdomain():
    ingest, queue = door(cookie_domain="shop.example.com")
    body = event()
    del body["fbp"]
    reply = ingest.handle(beacon(body))
    assert reply.status == 202
    cookies = {c.split("=", 1)[0]: c for c in reply.cookies}
    assert set(cookies) == {"_fbp", "_fbc"}
    assert "Domain=shop.example.com" in cookies["_fbp"] and "Max-Age=7776000" in cookies["_fbp"]
    fbp = json.loads(queue.messages[0].data)["user_data"]["fbp"]
    assert cookies["_fbp"].startswith(f"_fbp={fbp};") and fbp.startswith("fb.1.")
    # the cookie the browser sends back is used, not replaced
    again = ingest.handle(beacon(event(fbp=None), headers={"Cookie": f"_fbp={fbp}"}))
    assert [c for c in again.cookies if c.startswith("_fbp")] == []


def test_pixel_js_is_served_cacheable_and_the_door_is_closed_without_keys():
    ingest, _ = door()
    reply = ingest.handle(IncomingRequest("GET", "/pixel.js", {}))
    assert reply.status == 200 and reply.headers["Content-Type"].startswith(
        "application/javascript"
    )
    assert "max-age" in reply.headers["Cache-Control"] and b"sendBeacon" in reply.body
    closed = Ingest(publisher=InMemoryPublisher(), auth=ApiKeyAuth(lambda: ("k",)), pixel_id="1")
    assert closed.handle(beacon(event())).status == 404


@pytest.mark.parametrize(
    "text",
    [
        "[]",
        '{"short": {"origins": ["https://a.example"]}}',
        '{"pk_0123456789abcdef": {"origins": []}}',
        '{"pk_0123456789abcdef": {"origins": ["a.example"]}}',
        '{"pk_0123456789abcdef": {"origins": ["https://a.example"], "rate_per_minute": 0}}',
    ],
)
def test_unusable_browser_keys_are_a_configuration_error(text):
    with pytest.raises(ConfigError):
        parse_browser_keys(text)


def test_the_client_ip_behind_cloud_run_is_the_last_forwarded_entry():
    keys = parse_browser_keys(json.dumps({KEY: {"origins": [SHOP]}}))
    trusted = BrowserDoor(keys, trust_forwarded_for=True)
    request = beacon(event(), headers={"X-Forwarded-For": "6.6.6.6, 198.51.100.20"})
    assert trusted._client_ip(request) == "198.51.100.20"  # the client wrote 6.6.6.6
    assert BrowserDoor(keys)._client_ip(request) == "198.51.100.7"  # capi serve: the peer
