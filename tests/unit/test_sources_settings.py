"""Settings for the sources and how runtime builds ingest and forward from them."""

import json

import pytest

from capi.config import ConfigError, Settings
from capi.queueing.memory import InMemoryPublisher
from capi.secret_store import SecretReader
from capi.web import IncomingRequest
from capi.wiring import build_forwarder, build_ingest, secret_values
from tests.fixtures import shopify_order
from tests.signing import shopify_signature


class FakeSecrets:
    """A Secret Manager client that counts reads per secret."""

    def __init__(self, values):
        self.values = values
        self.reads = {}

    def access_secret_version(self, name, **_):
        self.reads[name] = self.reads.get(name, 0) + 1
        value = self.values[name]

        class Payload:
            data = value.encode()

        class Response:
            payload = Payload()

        return Response()


def test_source_settings_from_the_environment():
    s = Settings.from_env(
        {
            "CAPI_SHOPIFY_WEBHOOK_SECRET": "shpss_1",
            "CAPI_STRIPE_WEBHOOK_SECRET_SECRET": "projects/p/secrets/stripe/versions/latest",
            "CAPI_STRIPE_WEBHOOK_TOLERANCE": "0",
            "CAPI_WEBHOOK_MAPPINGS": "/etc/capi/mappings.yaml",
            "CAPI_PIXELS": '{"pixels": {}}',
        }
    )
    assert s.shopify_webhook_secret == "shpss_1"
    assert s.stripe_webhook_secret_secret == "projects/p/secrets/stripe/versions/latest"
    assert s.stripe_tolerance_s == 0
    assert s.webhook_mappings == "/etc/capi/mappings.yaml"
    assert s.pixels_config == '{"pixels": {}}'
    assert "shpss_1" not in repr(s)
    assert Settings.from_env({}).stripe_tolerance_s == 300
    with pytest.raises(ConfigError, match="CAPI_STRIPE_WEBHOOK_TOLERANCE"):
        Settings.from_env({"CAPI_STRIPE_WEBHOOK_TOLERANCE": "-1"})
    with pytest.raises(ConfigError, match="CAPI_STRIPE_WEBHOOK_TOLERANCE"):
        Settings.from_env({"CAPI_STRIPE_WEBHOOK_TOLERANCE": "soon"})


def test_secret_values_direct_wins_then_secret_manager_then_none():
    client = FakeSecrets({"projects/p/secrets/s/versions/latest": "new, old"})
    reader = SecretReader(client_factory=lambda: client)
    assert secret_values("a,b", "projects/p/secrets/s/versions/latest", reader)() == ("a", "b")
    from_manager = secret_values("", "projects/p/secrets/s/versions/latest", reader)
    assert from_manager() == ("new", "old") and from_manager() == ("new", "old")
    assert client.reads == {"projects/p/secrets/s/versions/latest": 1}  # cached for the TTL
    assert secret_values("", "", reader) is None


def test_ingest_built_from_settings_verifies_shopify_with_the_secret_from_secret_manager():
    name = "projects/p/secrets/capi-shopify-webhook/versions/latest"
    reader = SecretReader(client_factory=lambda: FakeSecrets({name: "shpss_from_manager"}))
    settings = Settings.from_env(
        {
            "CAPI_PIXEL_ID": "111",
            "CAPI_API_KEYS": "k",
            "CAPI_SHOPIFY_WEBHOOK_SECRET_SECRET": name,
            "CAPI_PIXELS": json.dumps(
                {"pixels": {"111": {}, "222": {}}, "routes": {"/webhooks/shopify": ["111", "222"]}}
            ),
            "CAPI_CONSENT_POLICY": "drop",
        }
    )
    publisher = InMemoryPublisher()
    ingest = build_ingest(settings, publisher=publisher, reader=reader)
    body = json.dumps(shopify_order()).encode()
    request = IncomingRequest(
        "POST",
        "/webhooks/shopify",
        {
            "X-Shopify-Topic": "orders/paid",
            "X-Shopify-Hmac-Sha256": shopify_signature(body, "shpss_from_manager"),
        },
        body,
        "application/json",
    )
    reply = ingest.handle(request)
    assert reply.status == 202, reply.body
    assert [m.attributes["pixel_id"] for m in publisher.messages] == ["111", "222"]
    assert ingest.consent.mode == "drop"


def test_bad_routing_or_mapping_files_stop_the_build(tmp_path):
    with pytest.raises(ConfigError, match="CAPI_PIXELS"):
        build_ingest(Settings.from_env({"CAPI_PIXELS": "{oops"}), publisher=InMemoryPublisher())
    bad = tmp_path / "m.yaml"
    bad.write_text("webhooks: {x: {}}")
    with pytest.raises(ConfigError, match="CAPI_WEBHOOK_MAPPINGS"):
        build_ingest(
            Settings.from_env({"CAPI_WEBHOOK_MAPPINGS": str(bad)}), publisher=InMemoryPublisher()
        )
    with pytest.raises(ConfigError, match="CAPI_LDU_STATES"):
        build_ingest(
            Settings.from_env({"CAPI_CONSENT_POLICY": "ldu", "CAPI_LDU_STATES": "NY"}),
            publisher=InMemoryPublisher(),
        )


def test_forwarder_gets_one_token_secret_per_pixel():
    secret_a = "projects/p/secrets/meta-token-a/versions/latest"
    secret_b = "projects/p/secrets/meta-token-b/versions/latest"
    client = FakeSecrets({secret_a: "EAAtokenA", secret_b: "EAAtokenB"})
    reader = SecretReader(client_factory=lambda: client)
    pixels = {"pixels": {"111": {"token_secret": secret_a}, "222": {"token_secret": secret_b}}}
    settings = Settings.from_env({"CAPI_PIXEL_ID": "111", "CAPI_PIXELS": json.dumps(pixels)})
    forwarder = build_forwarder(settings, dead_letters=InMemoryPublisher(), reader=reader)
    assert forwarder.tokens.get("111") == "EAAtokenA"
    assert forwarder.tokens.get("222") == "EAAtokenB"
    assert forwarder.tokens.get("111") == "EAAtokenA"
    assert client.reads == {secret_a: 1, secret_b: 1}  # each cached separately
    assert forwarder.tokens.refresh("222") and forwarder.tokens.get("222") == "EAAtokenB"
    assert client.reads == {secret_a: 1, secret_b: 2}


def test_forwarder_without_any_token_still_refuses_to_build():
    with pytest.raises(ConfigError, match="CAPI_ACCESS_TOKEN"):
        build_forwarder(Settings.from_env({"CAPI_PIXELS": '{"pixels": {"1": {}}}'}))
