"""Pixel routing (CAPI_PIXELS), named API keys, and fan-out through Intake.accept."""

import json

import pytest

from capi.config import ConfigError
from capi.ingest.auth import ApiKeyAuth, AuthResult, split_named_key
from capi.ingest.handler import Ingest
from capi.queueing.memory import InMemoryPublisher
from capi.routing import Routing, RoutingError, load_routing, parse_routing, requested_pixels
from capi.web import IncomingRequest
from tests.factories import lead, purchase

A, B, C, D = "111111111111", "222222222222", "333333333333", "444444444444"
SECRET_A = "projects/p/secrets/meta-token-a/versions/latest"
SECRET_B = "projects/p/secrets/meta-token-b/versions/3"

CONFIG = {
    "pixels": {
        A: {"token_secret": SECRET_A, "test_event_code": "TEST_A"},
        B: {"token_secret": SECRET_B},
        C: None,
    },
    "default": [A],
    "keys": {
        "agency-a": [A],
        "agency-b": {"pixels": [A, B], "allow": [C]},
    },
    "routes": {"/webhooks/shopify": [B], "/sgtm": {"pixels": [C]}},
}


@pytest.fixture
def routing() -> Routing:
    return parse_routing(CONFIG)


# -- named keys ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("agency-a=key1", ("agency-a", "key1")),
        (" shop.b_2 = k=ey ", ("shop.b_2", "k=ey")),
        ("plainkey", ("", "plainkey")),
        ("dGVzdA==", ("", "dGVzdA==")),  # base64 padding is not a name
        ("abcd=", ("", "abcd=")),
        ("1abc=key", ("", "1abc=key")),  # a name starts with a letter
        ("has space=key", ("", "has space=key")),
    ],
)
def test_named_and_plain_keys(entry, expected):
    assert split_named_key(entry) == expected


def test_identify_returns_the_matched_keys_name_never_the_key():
    auth = ApiKeyAuth(lambda: ("agency-a=key1", "agency-b=key2", "plain"))
    assert auth.identify({"X-API-Key": "key2"}) == (AuthResult.OK, "agency-b")
    assert auth.identify({"Authorization": "Bearer plain"}) == (AuthResult.OK, "")
    assert auth.identify({"X-API-Key": "agency-a=key1"}) == (AuthResult.INVALID, "")
    assert auth.identify({"X-API-Key": "agency-a"}) == (AuthResult.INVALID, "")
    assert auth.identify({"X-API-Key": "key1"})[0] is AuthResult.OK
    assert ApiKeyAuth(lambda: (), allow_unauthenticated=True).identify({}) == (AuthResult.OK, "")


# -- resolution ----------------------------------------------------------------------------------


def test_key_entry_then_route_entry_then_default(routing):
    assert routing.resolve(key_name="agency-a", route="/webhooks/shopify") == [A]
    assert routing.resolve(key_name="agency-b") == [A, B]  # fan-out
    assert routing.resolve(key_name="unknown-name", route="/webhooks/shopify") == [B]
    assert routing.resolve(route="/sgtm") == [C]
    assert routing.resolve(route="/events") == [A]
    assert routing.resolve() == [A]


def test_a_request_may_pick_only_pixels_its_key_or_route_allows(routing):
    assert routing.resolve(key_name="agency-b", requested=[C]) == [C]  # via allow
    assert routing.resolve(key_name="agency-b", requested=[B, A, B]) == [B, A]
    with pytest.raises(RoutingError) as denied:
        routing.resolve(key_name="agency-a", requested=[B])
    assert (denied.value.status, denied.value.code) == (403, "pixel_not_allowed")
    assert B in denied.value.message and "API key" in denied.value.message
    with pytest.raises(RoutingError):
        routing.resolve(route="/webhooks/shopify", requested=[A])
    with pytest.raises(RoutingError):
        routing.resolve(requested=[D])


def test_without_configuration_only_the_default_pixel():
    routing = load_routing("", default_pixel="1234567890")
    assert routing.resolve(key_name="x", route="/sgtm") == ["1234567890"]
    assert routing.resolve(requested=["1234567890"]) == ["1234567890"]
    with pytest.raises(RoutingError) as denied:
        routing.resolve(requested=["999"])
    assert denied.value.status == 403
    with pytest.raises(RoutingError) as none:
        load_routing("", default_pixel="").resolve()
    assert (none.value.status, none.value.code) == (500, "no_pixel")


def test_per_pixel_tokens_and_test_event_codes(routing):
    assert routing.token_secrets() == {A: SECRET_A, B: SECRET_B}
    assert routing.test_event_code(A) == "TEST_A"
    assert routing.test_event_code(B) == routing.test_event_code(D) == ""


def test_requested_pixels_from_the_body():
    assert requested_pixels({}) == []
    assert requested_pixels({"pixel_id": A}) == [A]
    assert requested_pixels({"pixel_id": [A, int(B)]}) == [A, B]
    assert requested_pixels({"pixel_ids": [C], "pixel_id": ""}) == [C]
    for bad in ({"pixel_id": "abc"}, {"pixel_id": True}, {"pixel_ids": [{"id": 1}]}):
        with pytest.raises(RoutingError) as caught:
            requested_pixels(bad)
        assert caught.value.status == 400
    with pytest.raises(RoutingError):
        requested_pixels({"pixel_ids": [A] * 21})


# -- loading -------------------------------------------------------------------------------------


def test_load_from_yaml_file_json_file_and_inline_json(tmp_path):
    yaml_file = tmp_path / "pixels.yaml"
    yaml_file.write_text(
        f"""
pixels:
  {A}:                      # unquoted: YAML reads an int
    token_secret: {SECRET_A}
  "{B}": {{}}
keys:
  agency-a: [{A}, "{B}"]
routes:
  /webhooks/stripe: {B}
"""
    )
    from_yaml = load_routing(str(yaml_file), default_pixel=A)
    assert from_yaml.resolve(key_name="agency-a") == [A, B]
    assert from_yaml.resolve(route="/webhooks/stripe") == [B]
    assert from_yaml.default == (A,)
    json_file = tmp_path / "pixels.json"
    json_file.write_text(json.dumps(CONFIG))
    assert load_routing(str(json_file)).resolve(key_name="agency-b") == [A, B]
    assert load_routing(json.dumps(CONFIG)).resolve(route="/sgtm") == [C]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"pixel": {}}, "unknown field"),
        ({"pixels": {"abc": {}}}, "not a pixel id"),
        ({"pixels": {A: {"token": "EAAsecret"}}}, "token values never go here"),
        ({"pixels": {A: {"token_secret": "meta-token"}}}, "secret version"),
        ({"pixels": {A: {}}, "keys": {"k": [B]}}, "not listed under pixels"),
        ({"pixels": {A: {}}, "routes": {"webhooks/shopify": [A]}}, "must be a path"),
        ({"pixels": {A: {}}, "keys": {"k": {"pixels": [A], "deny": [A]}}}, "unknown field"),
        ({"pixels": {A: {}}, "keys": {"k": [1.5]}}, "not a pixel id"),
        ([A], "must be an object"),
    ],
)
def test_configuration_mistakes_are_named(document, message):
    with pytest.raises(ConfigError, match=message):
        parse_routing(document, default_pixel="")


def test_unreadable_configuration(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_routing(str(tmp_path / "missing.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("pixels: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_routing(str(bad))
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_routing("{nope")


def test_the_default_pixel_need_not_be_listed():
    routing = parse_routing({"keys": {"k": ["1234567890"]}}, default_pixel="1234567890")
    assert routing.resolve(key_name="k") == ["1234567890"]


# -- through Intake.accept -------------------------------------------------------------------------


def make(routing, **kwargs):
    publisher = InMemoryPublisher()
    ingest = Ingest(
        publisher=publisher,
        auth=ApiKeyAuth(lambda: ("agency-a=key-a", "agency-b=key-b", "plain-key")),
        pixel_id=A,
        routing=routing,
        **kwargs,
    )
    return ingest, publisher


def post(ingest, body, key):
    return ingest.handle(
        IncomingRequest(
            "POST", "/events", {"X-API-Key": key}, json.dumps(body).encode(), "application/json"
        )
    )


def test_one_message_per_event_and_pixel_with_the_same_event_id(routing):
    ingest, pub = make(routing)
    reply = post(ingest, {"data": [purchase(event_id="p-1"), lead(event_id="l-1")]}, "key-b")
    assert reply.status == 202
    assert reply.body["pixel_ids"] == [A, B]
    assert len(reply.body["results"]) == 2  # one result per event, not per pixel
    sent = [(m.attributes["event_id"], m.attributes["pixel_id"]) for m in pub.messages]
    assert sent == [("p-1", A), ("p-1", B), ("l-1", A), ("l-1", B)]
    assert pub.messages[0].data == pub.messages[1].data


def test_test_event_code_request_then_pixel_then_global(routing):
    ingest, pub = make(routing, test_event_code="GLOBAL")
    post(ingest, {"data": [lead()], "test_event_code": "REQ"}, "key-b")
    post(ingest, {"data": [lead()]}, "key-b")
    codes = [(m.attributes["pixel_id"], m.attributes.get("test_event_code")) for m in pub.messages]
    assert codes == [(A, "REQ"), (B, "REQ"), (A, "TEST_A"), (B, "GLOBAL")]


def test_body_pixel_id_is_checked_against_the_key(routing):
    ingest, pub = make(routing)
    ok = post(ingest, {"data": [lead()], "pixel_id": C}, "key-b")
    assert ok.status == 202 and {m.attributes["pixel_id"] for m in pub.messages} == {C}
    refused = post(ingest, {"data": [lead()], "pixel_id": B}, "key-a")
    assert refused.status == 403 and refused.body["error"]["code"] == "pixel_not_allowed"
    assert post(ingest, {"data": [lead()], "pixel_id": "x"}, "key-a").status == 400
    assert len(pub.messages) == 1


def test_plain_keys_and_unconfigured_relays_keep_working():
    ingest, pub = make(None)
    assert post(ingest, lead(), "plain-key").status == 202
    assert post(ingest, {"data": [lead()], "pixel_id": A}, "plain-key").status == 202
    assert post(ingest, {"data": [lead()], "pixel_id": B}, "plain-key").status == 403
    assert [m.attributes["pixel_id"] for m in pub.messages] == [A, A]
