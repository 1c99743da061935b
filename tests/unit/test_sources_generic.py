"""Generic JSON webhooks: the declarative mapping engine, its loading, and /webhooks/<name>."""

import base64
import hashlib
import hmac
import json
import time

import pytest

from capi.config import ConfigError
from capi.ingest.auth import ApiKeyAuth
from capi.ingest.handler import Ingest
from capi.ingest.webhooks import SourceRoutes
from capi.queueing.memory import InMemoryPublisher
from capi.secret_store import SecretReader
from capi.sources.generic import apply, load_mappings, lookup, parse_mappings
from capi.web import IncomingRequest
from tests.factories import validate_event
from tests.fixtures import crm_deals, path, typeform

TYPEFORM_SECRET = "typeform-signing-secret"


@pytest.fixture(scope="module")
def mappings():
    return load_mappings(str(path("generic/mappings.yaml")))


def typeform_signature(body: bytes, secret: str = TYPEFORM_SECRET) -> str:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


def test_typeform_response_becomes_a_lead(mappings):
    payload = typeform()
    events, skipped, _ = apply(mappings["typeform-leads"], payload)
    assert skipped == 0
    (event,) = events
    assert event == {
        "event_name": "Lead",
        "action_source": "system_generated",
        "event_id": "typeform-a3a12ec67a1365927098a606107fac15",
        "event_time": event["event_time"],
        "user_data": {"fn": "Laura", "em": "laura@example.com", "ph": "+15555550100"},
    }
    assert abs(event["event_time"] - (time.time() - 60)) < 5
    assert validate_event(event)[0] == []


def test_crm_batch_rules_lists_transforms_and_root_paths(mappings):
    events, skipped, _ = apply(mappings["crm-deals"], crm_deals())
    assert skipped == 1  # closedlost matches no rule
    won, lead = events
    assert (won["event_name"], won["event_id"]) == ("Purchase", "deal-90011-closedwon")
    assert won["custom_data"] == {"value": 1250.0, "currency": "EUR"}
    assert won["user_data"] == {
        "em": "Mary.Jones@example.com",
        "ph": "+44 7700 900123",  # the empty phone is skipped for the next path
        "fn": "Mary",
        "ln": "Jones",
        "external_id": "c-501",
    }
    assert (lead["event_name"], lead["user_data"]["fn"], lead["user_data"]["ln"]) == (
        "Lead",
        "Ravi",
        "Patel",
    )
    assert "value" not in lead["custom_data"]
    now = time.time()
    for event in events:
        assert abs(event["event_time"] - (now - 60)) < 5  # ISO with offset, and milliseconds
        assert validate_event(event)[0] == []


def test_lookup_paths():
    body = {"a": {"b": [{"c": 1}, {"c": 2}]}, "top": "root"}
    assert lookup("a.b.1.c", body, body) == 2
    assert lookup("a.b[0].c", body, body) == 1
    assert lookup("a.b[5].c", body, body) is None
    assert lookup("$.top", {"x": 1}, body) == "root"
    assert lookup("a.missing.deep", body, body) is None


def test_event_name_map_default_and_skip():
    doc = {
        "webhooks": {
            "events": {
                "records": "items",
                "event_name": {"path": "kind", "map": {"signup": "CompleteRegistration"}},
                "fields": {"user_data.em": "email"},
            }
        }
    }
    mapping = parse_mappings(doc)["events"]
    events, skipped, _ = apply(
        mapping, {"items": [{"kind": "signup", "email": "a@b.co"}, {"kind": "x"}]}
    )
    assert [e["event_name"] for e in events] == ["CompleteRegistration"] and skipped == 1
    single, _, _ = apply(mapping, {"items": {"kind": "signup"}})  # one object is one record
    assert len(single) == 1


def test_types_templates_defaults_and_constants():
    doc = {
        "webhooks": {
            "t": {
                "event_name": "Schedule",
                "fields": {
                    "event_id": {"template": "{booking.id}-{booking.slot}"},
                    "custom_data.value": {"path": "price", "type": "number", "default": 0},
                    "custom_data.num_items": {"path": "seats", "type": "integer"},
                    "opt_out": {"path": "optout", "type": "boolean"},
                    "user_data.em": {"path": "email", "transform": "lower"},
                    "user_data.country": {"value": "us", "transform": "upper"},
                },
                "constants": {"custom_data.currency": "USD", "action_source": "phone_call"},
            }
        }
    }
    mapping = parse_mappings(doc)["t"]
    (event,), _, _ = apply(
        mapping,
        {
            "booking": {"id": 7, "slot": "am"},
            "price": "n/a",
            "seats": "2",
            "optout": "no",
            "email": "A@B.CO",
        },
    )
    assert event["event_id"] == "7-am"
    assert event["custom_data"] == {"value": 0, "num_items": 2, "currency": "USD"}
    assert event["opt_out"] is False and event["action_source"] == "phone_call"
    assert event["user_data"] == {"em": "a@b.co", "country": "US"}
    (partial,), _, _ = apply(mapping, {"booking": {"id": 7}})
    assert "event_id" not in partial  # a template with a missing field gives nothing


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({}, "top-level webhooks"),
        ({"webhooks": {"Bad Name": {"event_name": "Lead"}}}, "a name is"),
        ({"webhooks": {"stripe": {"event_name": "Lead"}}}, "not shopify or stripe"),
        ({"webhooks": {"x": {"fields": {}}}}, "event_name is required"),
        ({"webhooks": {"x": {"event_name": "Lead", "extra": 1}}}, "unknown key"),
        ({"webhooks": {"x": {"event_name": {"rules": []}}}}, "no event could get a name"),
        (
            {"webhooks": {"x": {"event_name": {"rules": [{"when": {"path": "a"}, "value": "L"}]}}}},
            "one of equals",
        ),
        (
            {
                "webhooks": {
                    "x": {
                        "event_name": {"rules": [{"when": {"path": "a", "in": "b"}, "value": "L"}]}
                    }
                }
            },
            "in takes a list",
        ),
        (
            {
                "webhooks": {
                    "x": {"event_name": "Lead", "fields": {"event_id": {"path": "a", "value": 1}}}
                }
            },
            "exactly one",
        ),
        (
            {
                "webhooks": {
                    "x": {
                        "event_name": "Lead",
                        "fields": {"event_time": {"path": "a", "type": "date"}},
                    }
                }
            },
            "type must be",
        ),
        (
            {
                "webhooks": {
                    "x": {"event_name": "Lead", "fields": {"event_id": {"template": "static"}}}
                }
            },
            "template",
        ),
        (
            {"webhooks": {"x": {"event_name": "Lead", "fields": {"user_data.em": ""}}}},
            "non-empty string",
        ),
        (
            {"webhooks": {"x": {"event_name": "Lead", "verify": {"header": "X-Sig"}}}},
            "secret_env or secret",
        ),
        (
            {
                "webhooks": {
                    "x": {"event_name": "Lead", "verify": {"header": "X-Sig", "secret": "s3cr3t"}}
                }
            },
            "never the secret itself",
        ),
        (
            {
                "webhooks": {
                    "x": {
                        "event_name": "Lead",
                        "verify": {"header": "X-Sig", "secret_env": "E", "algorithm": "md5"},
                    }
                }
            },
            "algorithm",
        ),
        ({"webhooks": {"x": {"event_name": "Lead", "verify": {"secret_env": "E"}}}}, "header"),
    ],
)
def test_mapping_mistakes_are_named(document, message):
    with pytest.raises(ConfigError, match=message):
        parse_mappings(document)


def test_loading(tmp_path):
    assert load_mappings("") == {}
    inline = load_mappings('{"webhooks": {"x": {"event_name": "Lead"}}}')
    assert list(inline) == ["x"]
    json_file = tmp_path / "m.json"
    json_file.write_text(json.dumps({"webhooks": {"y": {"event_name": "Contact"}}}))
    assert list(load_mappings(str(json_file))) == ["y"]
    with pytest.raises(ConfigError, match="cannot read"):
        load_mappings(str(tmp_path / "nope.yaml"))


# -- the route ----------------------------------------------------------------------------------


def relay(mappings, secrets=None):
    publisher = InMemoryPublisher()
    sources = SourceRoutes(
        mappings=mappings,
        mapping_secrets=secrets
        if secrets is not None
        else {"typeform-leads": lambda: (TYPEFORM_SECRET,)},
    )
    ingest = Ingest(
        publisher=publisher,
        auth=ApiKeyAuth(lambda: ("crm=crm-key",)),
        pixel_id="111",
        sources=sources,
    )
    return ingest, publisher


def post(ingest, name, body, headers):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return ingest.handle(
        IncomingRequest("POST", f"/webhooks/{name}", headers, raw, "application/json")
    )


def test_signed_typeform_webhook_is_queued(mappings):
    ingest, pub = relay(mappings)
    body = json.dumps(typeform()).encode()
    reply = post(ingest, "typeform-leads", body, {"Typeform-Signature": typeform_signature(body)})
    assert reply.status == 202, reply.body
    assert pub.messages[0].attributes["source"] == "webhook:typeform-leads"
    assert pub.messages[0].attributes["event_name"] == "Lead"
    bad = post(
        ingest, "typeform-leads", body, {"Typeform-Signature": typeform_signature(body, "x")}
    )
    assert bad.status == 401
    assert post(ingest, "typeform-leads", body, {"X-API-Key": "crm-key"}).status == 401
    assert len(pub.messages) == 1


def test_api_key_mapping(mappings):
    ingest, pub = relay(mappings)
    assert post(ingest, "crm-deals", crm_deals(), {}).status == 401
    reply = post(ingest, "crm-deals", crm_deals(), {"X-API-Key": "crm-key"})
    assert reply.status == 202 and reply.body["accepted"] == 2
    assert [m.attributes["event_id"] for m in pub.messages] == [
        "deal-90011-closedwon",
        "deal-90012-qualifiedtobuy",
    ]


def test_nothing_to_send_is_ignored_and_invalid_is_400(mappings):
    ingest, pub = relay(mappings)
    none = post(ingest, "crm-deals", {"deals": [{"stage": "closedlost"}]}, {"X-API-Key": "crm-key"})
    assert none.status == 200 and none.body["status"] == "ignored"
    invalid = post(
        ingest, "crm-deals", {"deals": [{"stage": "closedwon", "id": 1}]}, {"X-API-Key": "crm-key"}
    )
    assert invalid.status == 400  # a configurable sender sees its errors
    assert post(ingest, "crm-deals", b"[1,", {"X-API-Key": "crm-key"}).status == 400
    assert pub.messages == []


def test_unknown_name_is_404_and_unconfigured_secret_500(mappings):
    ingest, _ = relay(mappings, secrets={})
    assert post(ingest, "nope", {}, {}).status == 404
    assert ingest.handle(IncomingRequest("GET", "/webhooks/nope", {})).status == 404
    assert ingest.handle(IncomingRequest("GET", "/webhooks/crm-deals", {})).status == 405
    reply = post(ingest, "typeform-leads", typeform(), {"Typeform-Signature": "sha256=x"})
    assert reply.status == 500 and "CAPI_TYPEFORM_SECRET" in reply.body["error"]["message"]


def test_runtime_reads_mapping_secrets_from_env_or_secret_manager(tmp_path):
    from capi.config import Settings
    from capi.wiring import build_sources

    mapping_file = tmp_path / "m.yaml"
    mapping_file.write_text(
        """
webhooks:
  direct: {event_name: Lead, verify: {header: X-Sig, secret_env: CAPI_DIRECT}}
  indirect: {event_name: Lead, verify: {header: X-Sig, secret_env: CAPI_INDIRECT}}
  manager: {event_name: Lead, verify: {header: X-Sig, secret: projects/p/secrets/s/versions/1}}
  missing: {event_name: Lead, verify: {header: X-Sig, secret_env: CAPI_MISSING}}
  open: {event_name: Lead}
"""
    )

    class FakeClient:
        def access_secret_version(self, name, **_):
            class Payload:
                data = f"from:{name}".encode()

            class Response:
                payload = Payload()

            return Response()

    reader = SecretReader(client_factory=FakeClient)
    env = {"CAPI_DIRECT": "one,two", "CAPI_INDIRECT_SECRET": "projects/p/secrets/i/versions/latest"}
    settings = Settings.from_env({"CAPI_WEBHOOK_MAPPINGS": str(mapping_file), **env})
    routes = build_sources(settings, reader)
    assert routes.mapping_secrets["direct"]() == ("one", "two")
    assert routes.mapping_secrets["indirect"]() == ("from:projects/p/secrets/i/versions/latest",)
    assert routes.mapping_secrets["manager"]() == ("from:projects/p/secrets/s/versions/1",)
    assert "missing" not in routes.mapping_secrets and "open" not in routes.mapping_secrets
