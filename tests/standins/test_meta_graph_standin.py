"""The Graph API stand-in must reject what Meta rejects and accept what Meta accepts."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.standins.meta_graph import EMPTY_SHA256, MetaGraphStandIn

NOW = 1_790_000_000.0
TOKEN = "EAAtoken"
PIXEL = "1234567890"
DAY = 86400
UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36"


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


EM = "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"  # john_smith@gmail.com
PH = "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"  # 16505551212


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def event(event_id: str = "e1", **overrides):
    ev = {
        "event_name": "Purchase",
        "event_time": int(NOW) - 60,
        "action_source": "website",
        "event_source_url": "https://shop.example/checkout",
        "event_id": event_id,
        "user_data": {
            "em": [EM],
            "ph": PH,
            "client_ip_address": "2001:db8::1",
            "client_user_agent": UA,
            "fbp": "fb.1.1596403881668.1116446470",
        },
        "custom_data": {"value": 12.5, "currency": "EUR"},
    }
    for key, value in overrides.items():
        if value is None:
            ev.pop(key, None)
        else:
            ev[key] = value
    return ev


def with_user_data(**fields):
    ev = event()
    for key, value in fields.items():
        if value is None:
            ev["user_data"].pop(key, None)
        else:
            ev["user_data"][key] = value
    return ev


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def meta(clock):
    with MetaGraphStandIn([TOKEN], [PIXEL], clock=clock) as standin:
        yield standin


@pytest.fixture
def http():
    with requests.Session() as session:
        yield session


def post(http, meta, events, *, token=TOKEN, pixel=PIXEL, version="v26.0", timeout=5, **extra):
    body = {"data": events, **extra}
    params = {"access_token": token} if token else {}
    url = f"{meta.url}/{version}/{pixel}/events"
    return http.post(url, params=params, json=body, timeout=timeout)


def graph_error(resp):
    assert resp.headers["Content-Type"].startswith("application/json")
    return resp.json()["error"]


def assert_rejected(resp, meta, subcode, code=100):
    assert resp.status_code == 400, resp.text
    err = graph_error(resp)
    assert err["code"] == code
    assert err.get("error_subcode") == subcode
    if subcode is not None:
        assert err["type"] == "OAuthException"
        assert err["is_transient"] is False
        assert err["error_user_title"] and err["error_user_msg"]
    assert err["fbtrace_id"]
    assert meta.events == []
    assert meta.requests[-1].accepted is False
    return err


# ---------------------------------------------------------------------- acceptance
def test_good_batch_is_accepted_and_recorded(meta, http, clock):
    evs = [event("e1"), event("e2", event_name="Lead", custom_data=None)]
    resp = post(http, meta, evs, test_event_code="TEST123", partner_agent="capi-relay/0.1")
    assert resp.status_code == 200
    body = resp.json()
    assert body["events_received"] == 2
    assert body["messages"] == []
    assert body["fbtrace_id"]
    assert meta.events == evs
    assert meta.event_ids() == ["e1", "e2"]
    (req,) = meta.requests
    assert (req.pixel_id, req.version, req.token, req.token_source) == (
        PIXEL,
        "v26.0",
        TOKEN,
        "query",
    )
    assert (req.test_event_code, req.partner_agent) == ("TEST123", "capi-relay/0.1")
    assert req.arrival == clock.now
    assert req.status == 200 and req.accepted and req.fault is None and not req.late
    assert "access_token" not in req.params
    assert meta.wait_for_events(2, timeout=0.1) == evs


def test_token_in_json_body_form_field_and_bearer_header(meta, http):
    url = f"{meta.url}/v26.0/{PIXEL}/events"
    r1 = http.post(url, json={"data": [event("a")], "access_token": TOKEN})
    r2 = http.post(url, data={"data": json.dumps([event("b")]), "access_token": TOKEN})
    r3 = http.post(url, json={"data": [event("c")]}, headers={"Authorization": f"Bearer {TOKEN}"})
    assert [r.status_code for r in (r1, r2, r3)] == [200, 200, 200]
    assert [r.token_source for r in meta.requests] == ["body", "body", "header"]
    assert meta.event_ids() == ["a", "b", "c"]


def test_form_body_with_events_as_json_strings_like_the_python_sdk(meta, http):
    data = json.dumps([json.dumps(event("s1")), json.dumps(event("s2"))])
    resp = http.post(
        f"{meta.url}/v26.0/{PIXEL}/events",
        params={"access_token": TOKEN},
        data={"data": data, "test_event_code": "TEST9"},
    )
    assert resp.status_code == 200 and resp.json()["events_received"] == 2
    assert meta.events == [event("s1"), event("s2")]
    assert meta.requests[0].content_type == "application/x-www-form-urlencoded"
    assert meta.requests[0].test_event_code == "TEST9"


def test_metas_own_python_sdk_is_accepted():
    api_mod = pytest.importorskip("facebook_business.api")
    from facebook_business.adobjects.serverside.action_source import ActionSource
    from facebook_business.adobjects.serverside.custom_data import CustomData
    from facebook_business.adobjects.serverside.event import Event
    from facebook_business.adobjects.serverside.event_request import EventRequest
    from facebook_business.adobjects.serverside.user_data import UserData

    api_cls = api_mod.FacebookAdsApi
    previous = api_cls.get_default_api()
    with MetaGraphStandIn([TOKEN], [PIXEL]) as meta:  # real clock: the SDK stamps now
        try:
            api = api_cls.init(access_token=TOKEN, api_version="v26.0")
            api._session.GRAPH = meta.url
            user = UserData(
                emails=["John_Smith@gmail.com"],
                client_ip_address="203.0.113.9",
                client_user_agent=UA,
                fbc="fb.1.1554763741205.AbCdEfGhIjKlMnOpQrStUvWxYz1234567890",
            )
            sdk_event = Event(
                event_name="Purchase",
                event_time=int(time.time()),
                event_source_url="https://shop.example/",
                action_source=ActionSource.WEBSITE,
                event_id="sdk-1",
                user_data=user,
                custom_data=CustomData(currency="usd", value=10.0),
            )
            request = EventRequest(events=[sdk_event], pixel_id=PIXEL, partner_agent="standin")
            response = request.execute()
        finally:
            api_cls.set_default_api(previous)
        assert response.events_received == 1
        (received,) = meta.events
        assert received["event_id"] == "sdk-1"
        assert received["user_data"]["em"] == [EM]
        assert meta.requests[0].partner_agent == "standin"


def test_exactly_1000_events_are_accepted(meta, http):
    evs = [event(f"e{i}") for i in range(1000)]
    resp = post(http, meta, evs)
    assert resp.status_code == 200 and resp.json()["events_received"] == 1000
    assert len(meta.events) == 1000


def test_get_pixel(meta, http):
    resp = http.get(f"{meta.url}/v26.0/{PIXEL}", params={"access_token": TOKEN})
    assert resp.status_code == 200 and resp.json()["id"] == PIXEL
    assert meta.events == []


# ---------------------------------------------------------------------- token, path
def test_unknown_token_gets_190(meta, http):
    resp = post(http, meta, [event()], token="EAAwrong")
    assert resp.status_code == 401
    err = resp.json()["error"]
    assert err["code"] == 190 and err["type"] == "OAuthException"
    assert err["message"] == "Invalid OAuth access token - Cannot parse access token"
    assert err["fbtrace_id"]
    assert meta.events == []
    assert meta.requests[0].status == 401 and meta.requests[0].token == "EAAwrong"


def test_missing_token_gets_190(meta, http):
    resp = post(http, meta, [event()], token=None)
    assert resp.status_code == 401 and resp.json()["error"]["code"] == 190
    assert meta.events == []


def test_token_error_status_is_configurable(clock, http):
    with MetaGraphStandIn([TOKEN], token_error_status=400, clock=clock) as meta:
        resp = post(http, meta, [event()], token="nope")
    assert resp.status_code == 400 and resp.json()["error"]["code"] == 190


def test_tokens_rotate_at_runtime(meta, http):
    meta.set_tokens(["EAAnew"])
    assert post(http, meta, [event("old")]).status_code == 401
    assert post(http, meta, [event("new")], token="EAAnew").status_code == 200
    assert meta.event_ids() == ["new"]


@pytest.mark.parametrize("pixel", ["999", "notapixel"])
def test_unknown_or_non_numeric_pixel_gets_subcode_33(meta, http, pixel):
    resp = post(http, meta, [event()], pixel=pixel)
    assert resp.status_code == 400
    err = resp.json()["error"]
    assert (err["code"], err["error_subcode"], err["type"]) == (100, 33, "GraphMethodException")
    assert f"Object with ID '{pixel}' does not exist" in err["message"]
    assert meta.events == []


def test_any_numeric_pixel_without_a_configured_set(clock, http):
    with MetaGraphStandIn([TOKEN], clock=clock) as meta:
        assert post(http, meta, [event()], pixel="42").status_code == 200
        assert post(http, meta, [event()], pixel="x42").status_code == 400


def test_version_must_be_well_formed_and_current(meta, http):
    bad_format = post(http, meta, [event()], version="26.0")
    assert bad_format.status_code == 400 and bad_format.json()["error"]["code"] == 2500
    deprecated = post(http, meta, [event()], version="v12.0")
    assert deprecated.status_code == 400 and deprecated.json()["error"]["code"] == 2635
    for version in ("v24.0", "v27.0"):
        assert post(http, meta, [event(version)], version=version).status_code == 200
    assert [r.version for r in meta.accepted_requests()] == ["v24.0", "v27.0"]


# ---------------------------------------------------------------------- data
@pytest.mark.parametrize("data", [None, "not json", {"event_name": "Lead"}, 7, []])
def test_data_missing_not_a_list_or_empty(meta, http, data):
    body = {} if data is None else {"data": data}
    resp = http.post(f"{meta.url}/v26.0/{PIXEL}/events", params={"access_token": TOKEN}, json=body)
    err = assert_rejected(resp, meta, None)
    assert err["message"].startswith("(#100)")


def test_1001_events_are_rejected(meta, http):
    resp = post(http, meta, [event(f"e{i}") for i in range(1001)])
    err = assert_rejected(resp, meta, None)
    assert "1000" in err["message"]


def test_one_stale_event_rejects_the_whole_batch(meta, http):
    stale = event("old", event_time=int(NOW) - 7 * DAY - 1)
    resp = post(http, meta, [event("good1"), stale, event("good2")])
    err = assert_rejected(resp, meta, 2804003)
    assert err["message"] == "Invalid parameter"
    assert meta.requests[-1].error_index == 1
    assert meta.event_ids() == []


def test_seven_days_exactly_is_still_accepted(meta, http):
    assert post(http, meta, [event(event_time=int(NOW) - 7 * DAY)]).status_code == 200


def test_physical_store_events_may_be_62_days_old(meta, http):
    def store_event(age_days):
        return event(
            f"store-{age_days}",
            action_source="physical_store",
            event_source_url=None,
            event_time=int(NOW) - age_days * DAY,
        )

    assert post(http, meta, [store_event(30)]).status_code == 200
    resp = post(http, meta, [store_event(63)])
    assert resp.status_code == 400 and resp.json()["error"]["error_subcode"] == 2804003
    assert meta.event_ids() == ["store-30"]


def test_event_time_in_the_future(meta, http):
    assert post(http, meta, [event("soon", event_time=int(NOW) + 30)]).status_code == 200
    resp = post(http, meta, [event("later", event_time=int(NOW) + 120)])
    assert resp.status_code == 400 and resp.json()["error"]["error_subcode"] == 2804019
    millis = post(http, meta, [event("ms", event_time=int(NOW) * 1000)])
    assert millis.status_code == 400
    assert meta.event_ids() == ["soon"]


def test_event_time_must_be_an_integer(meta, http):
    resp = post(http, meta, [event(event_time="yesterday")])
    assert_rejected(resp, meta, 2804019)


@pytest.mark.parametrize("missing", ["event_name", "event_time", "action_source", "user_data"])
def test_required_fields(meta, http, missing):
    assert_rejected(post(http, meta, [event(**{missing: None})]), meta, 2804019)


def test_invalid_action_source(meta, http):
    assert_rejected(post(http, meta, [event(action_source="web")]), meta, 2804019)


def test_website_needs_event_source_url(meta, http):
    assert_rejected(post(http, meta, [event(event_source_url=None)]), meta, 2804019)


def test_website_needs_client_user_agent(meta, http):
    resp = post(http, meta, [with_user_data(client_user_agent=None)])
    assert_rejected(resp, meta, 2804019)


def test_non_website_events_need_neither(meta, http):
    ev = event(action_source="system_generated", event_source_url=None)
    ev["user_data"].pop("client_user_agent")
    assert post(http, meta, [ev]).status_code == 200


# ---------------------------------------------------------------------- user_data
def test_unhashed_email_is_rejected(meta, http):
    resp = post(http, meta, [with_user_data(em="john_smith@gmail.com")])
    assert_rejected(resp, meta, 2804016)


@pytest.mark.parametrize(
    "field,value",
    [
        ("em", [EM, "john@example.com"]),
        ("ph", "16505551212"),
        ("fn", "mary"),
        ("ln", sha("smith")[:63]),
        ("db", 19970216),
        ("ge", "m"),
        ("ct", "menlopark"),
        ("st", "ca"),
        ("zp", "94025"),
        ("country", "us"),
    ],
)
def test_every_hashed_field_must_be_a_sha256(meta, http, field, value):
    assert_rejected(post(http, meta, [with_user_data(**{field: value})]), meta, 2804016)


@pytest.mark.parametrize("field", ["em", "ph", "fn", "country", "external_id"])
def test_hash_of_the_empty_string_is_rejected(meta, http, field):
    resp = post(http, meta, [with_user_data(**{field: [EMPTY_SHA256]})])
    err = assert_rejected(resp, meta, 2804016)
    assert "empty" in err["error_user_msg"]


def test_hashes_in_any_case_and_lists_are_accepted(meta, http):
    ev = with_user_data(
        em=[EM.upper(), sha("other@example.com")], fn=sha("mary"), country=sha("us")
    )
    assert post(http, meta, [ev]).status_code == 200


def test_external_id_may_be_unhashed(meta, http):
    ev = event(user_data={"external_id": "customer-42", "client_user_agent": UA})
    assert post(http, meta, [ev]).status_code == 200
    ev = event(user_data={"external_id": ["customer-42", sha("x")], "client_user_agent": UA})
    assert post(http, meta, [ev]).status_code == 200


def test_never_hashed_fields_are_accepted_as_given(meta, http):
    ev = with_user_data(
        client_ip_address="2001:db8:85a3::8a2e:370:7334",
        fbc="fb.1.1554763741205.IwAR2F4-dbP0l7Mn1IawQQGCINEz7PYXQvwjNwB_qa2ofrHyiLjcbCRxTDMgE",
        fbp="fb.1.1596403881668.1116446470.AQ",
        subscription_id="sub_1",
        lead_id="1234567",
    )
    assert post(http, meta, [ev]).status_code == 200


@pytest.mark.parametrize(
    "fbc",
    ["IwAR2F4-dbP0l7Mn1", "fb.1.notatime.abc", "fb.1.1554763741205", "fb..1554763741205.x", 12],
)
def test_malformed_fbc(meta, http, fbc):
    assert_rejected(post(http, meta, [with_user_data(fbc=fbc)]), meta, 2804001)


@pytest.mark.parametrize(
    "user_data",
    [
        {},
        {"client_user_agent": UA},
        {"ct": sha("menlopark"), "country": sha("us"), "st": sha("ca"), "zp": sha("94025")},
        {
            "ct": sha("menlopark"),
            "country": sha("us"),
            "st": sha("ca"),
            "zp": sha("94025"),
            "ge": sha("f"),
            "client_user_agent": UA,
        },
        {"db": sha("19970216"), "client_user_agent": UA},
        {"fn": sha("mary"), "ge": sha("f")},
        {"ln": sha("smith")},
        {"email": "someone@example.com", "client_user_agent": UA},  # unknown key: not counted
    ],
)
def test_too_little_customer_information(meta, http, user_data):
    ev = event(action_source="system_generated", event_source_url=None, user_data=user_data)
    assert_rejected(post(http, meta, [ev]), meta, 2804050)


@pytest.mark.parametrize(
    "user_data",
    [
        {"fn": sha("mary"), "ln": sha("smith")},
        {"client_ip_address": "203.0.113.9", "client_user_agent": UA},
        {"ct": sha("menlopark"), "em": EM},
        {"fbp": "fb.1.1596403881668.1116446470"},
    ],
)
def test_enough_customer_information(meta, http, user_data):
    ev = event(action_source="system_generated", event_source_url=None, user_data=user_data)
    assert post(http, meta, [ev]).status_code == 200


def test_website_event_with_only_a_user_agent_is_too_little(meta, http):
    ev = event(user_data={"client_user_agent": UA})
    assert_rejected(post(http, meta, [ev]), meta, 2804050)


# ---------------------------------------------------------------------- custom_data
def test_purchase_without_value(meta, http):
    resp = post(http, meta, [event(custom_data={"currency": "USD"})])
    assert_rejected(resp, meta, 2804009)


def test_purchase_without_currency(meta, http):
    resp = post(http, meta, [event(custom_data={"value": 10})])
    assert_rejected(resp, meta, 2804010)


def test_purchase_without_custom_data(meta, http):
    assert_rejected(post(http, meta, [event(custom_data=None)]), meta, 2804009)


def test_other_events_need_no_value(meta, http):
    assert post(http, meta, [event(event_name="AddToCart", custom_data=None)]).status_code == 200
    assert post(http, meta, [event(event_name="MyCustomEvent", custom_data={})]).status_code == 200


# ---------------------------------------------------------------------- faults
def test_fail_next_answers_5xx_then_recovers(meta, http):
    meta.fail_next(2, status=503)
    first, second = post(http, meta, [event("r")]), post(http, meta, [event("r")])
    third = post(http, meta, [event("r")])
    assert [r.status_code for r in (first, second, third)] == [503, 503, 200]
    err = first.json()["error"]
    assert err["is_transient"] is True and err["code"] == 2
    assert meta.event_ids() == ["r"]
    assert [r.fault for r in meta.requests] == ["fail", "fail", None]
    assert [r.accepted for r in meta.requests] == [False, False, True]


def test_fail_next_with_a_plain_text_body(meta, http):
    meta.fail_next(1, status=502, body="<html>502 Bad Gateway</html>")
    resp = post(http, meta, [event()])
    assert resp.status_code == 502
    assert resp.headers["Content-Type"].startswith("text/plain")
    assert resp.text == "<html>502 Bad Gateway</html>"
    assert meta.events == []


@pytest.mark.parametrize(
    "code,status,transient",
    [(4, 400, True), (17, 400, True), (613, 400, True), (80003, 429, True), (190, 500, False)],
)
def test_error_next_injects_any_graph_error(meta, http, code, status, transient):
    meta.error_next(code, status=status, is_transient=transient, headers={"Retry-After": "1"})
    resp = post(http, meta, [event()])
    assert resp.status_code == status
    assert resp.headers["Retry-After"] == "1"
    err = resp.json()["error"]
    assert err["code"] == code and err["is_transient"] is transient
    assert err["message"] and err["fbtrace_id"] and err["type"] == "OAuthException"
    assert "error_subcode" not in err
    assert meta.events == []
    assert post(http, meta, [event()]).status_code == 200


def test_error_next_with_subcode_and_message(meta, http):
    meta.error_next(100, subcode=2804003, message="Paramètre non valide", title="Trop ancien")
    err = post(http, meta, [event()]).json()["error"]
    assert (err["code"], err["error_subcode"]) == (100, 2804003)
    assert err["message"] == "Paramètre non valide" and err["error_user_title"] == "Trop ancien"


def test_delayed_answer_after_a_client_timeout_still_counts(meta, http):
    meta.delay_next(1, seconds=1.0)
    with pytest.raises(requests.exceptions.ReadTimeout):
        post(http, meta, [event("slow")], timeout=0.2)
    assert meta.wait_for_events(1, timeout=1) == [event("slow")]
    req = meta.requests[0]
    assert req.late and req.fault == "delay" and req.accepted and req.status == 200
    # The retry after the timeout carries the same event_id: Meta receives it twice.
    assert post(http, meta, [event("slow")]).status_code == 200
    assert meta.event_ids() == ["slow", "slow"]


def test_delayed_answer_arrives_when_the_client_waits(meta, http):
    meta.delay_next(1, seconds=0.3)
    started = time.monotonic()
    resp = post(http, meta, [event("patient")], timeout=5)
    assert resp.status_code == 200 and time.monotonic() - started >= 0.3


def test_drop_connection_before_processing(meta, http):
    meta.drop_connection_next(1)
    with pytest.raises(requests.exceptions.ConnectionError):
        post(http, meta, [event("lost")])
    assert meta.events == []
    assert meta.requests[0].fault == "drop" and meta.requests[0].status is None
    assert post(http, meta, [event("lost")]).status_code == 200
    assert meta.event_ids() == ["lost"]


def test_drop_connection_after_processing(meta, http):
    meta.drop_connection_next(1, after_processing=True)
    with pytest.raises(requests.exceptions.ConnectionError):
        post(http, meta, [event("ghost")])
    assert meta.event_ids() == ["ghost"]
    req = meta.requests[0]
    assert req.accepted and req.status is None and req.fault == "drop"


def test_faults_apply_in_order(meta, http):
    meta.fail_next(1)
    meta.error_next(613)
    meta.drop_connection_next(1)
    statuses = []
    for _ in range(4):
        try:
            statuses.append(post(http, meta, [event()]).status_code)
        except requests.exceptions.ConnectionError:
            statuses.append("dropped")
    assert statuses == [500, 400, "dropped", 200]
    assert meta.pending_faults == 0


def test_faults_are_thread_safe(meta):
    meta.fail_next(5)

    def send(i):
        with requests.Session() as session:
            return post(session, meta, [event(f"c{i}")]).status_code

    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(pool.map(send, range(20)))
    assert statuses.count(500) == 5 and statuses.count(200) == 15
    assert sorted(meta.event_ids()) == sorted(
        r.events[0]["event_id"] for r in meta.requests if r.accepted
    )
    assert len(meta.events) == 15


# ---------------------------------------------------------------------- helpers, lifecycle
def test_wait_for_events_blocks_until_they_arrive(meta):
    def later():
        time.sleep(0.1)
        with requests.Session() as session:
            post(session, meta, [event("x"), event("y")])

    threading.Thread(target=later).start()
    assert [e["event_id"] for e in meta.wait_for_events(2, timeout=5)] == ["x", "y"]


def test_wait_for_events_times_out(meta):
    with pytest.raises(TimeoutError):
        meta.wait_for_events(1, timeout=0.05)


def test_reset(meta, http):
    meta.set_tokens(["other"])
    meta.fail_next(3)
    post(http, meta, [event()], token="other")
    meta.reset()
    assert meta.requests == [] and meta.events == [] and meta.pending_faults == 0
    assert post(http, meta, [event()]).status_code == 200  # initial token restored


def test_stop_cuts_connections_and_start_reuses_the_port(clock):
    meta = MetaGraphStandIn([TOKEN], clock=clock)
    url = meta.start()
    assert url.startswith("http://127.0.0.1:")
    with requests.Session() as http:
        assert post(http, meta, [event()]).status_code == 200
        meta.stop()
        with pytest.raises(requests.exceptions.ConnectionError):
            post(http, meta, [event()], timeout=1)
        assert meta.start() == url
        try:
            assert post(http, meta, [event()]).status_code == 200
        finally:
            meta.stop()


# ---------------------------------------------------------------------- process mode
def test_process_mode_and_control_api():
    script = Path(__file__).with_name("meta_graph.py")
    proc = subprocess.Popen(
        [sys.executable, str(script), "--port", "0", "--token", TOKEN, "--pixel", PIXEL],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("READY http://127.0.0.1:")
        base = line.split(" ", 1)[1]
        events_url = f"{base}/v26.0/{PIXEL}/events"
        ev = event("p1", event_time=int(time.time()))
        with requests.Session() as http:
            resp = http.post(events_url, params={"access_token": TOKEN}, json={"data": [ev]})
            assert resp.status_code == 200
            assert http.get(f"{base}/_standin/events").json() == [ev]
            waited = http.get(f"{base}/_standin/wait", params={"n": 1, "timeout": 1})
            assert waited.status_code == 200 and waited.json()["events"] == [ev]

            fault = {"kind": "error", "code": 17, "is_transient": True}
            assert http.post(f"{base}/_standin/faults", json=fault).json() == {"pending_faults": 1}
            resp = http.post(events_url, params={"access_token": TOKEN}, json={"data": [ev]})
            assert resp.status_code == 400 and resp.json()["error"]["code"] == 17
            bad = http.post(f"{base}/_standin/faults", json={"kind": "nonsense"})
            assert bad.status_code == 400

            assert http.post(f"{base}/_standin/tokens", json={"tokens": ["EAA2"]}).ok
            resp = http.post(events_url, params={"access_token": TOKEN}, json={"data": [ev]})
            assert resp.status_code == 401
            requests_seen = http.get(f"{base}/_standin/requests").json()
            assert [r["status"] for r in requests_seen] == [200, 400, 401]

            assert http.post(f"{base}/_standin/reset").ok
            assert http.get(f"{base}/_standin/events").json() == []
            timed_out = http.get(f"{base}/_standin/wait", params={"n": 1, "timeout": 0.05})
            assert timed_out.status_code == 408
            resp = http.post(events_url, params={"access_token": TOKEN}, json={"data": [ev]})
            assert resp.status_code == 200  # reset restored the command-line token
    finally:
        proc.terminate()
        assert proc.wait(timeout=5) == 0
