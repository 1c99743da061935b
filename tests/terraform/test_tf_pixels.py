"""Several pixels, generic webhook mappings (with their signing secrets) and consent: the
environment the module gives the two functions, evaluated by terraform itself (tf_render.py), then
read by the relay's own code (Settings, the routing, the mapping loader, the webhook sources, the
ingest and forward builders)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import os
import re
import shlex
import time
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
import schema_check as sc
import yaml
from tf_helpers import REPO, TERRAFORM
from tf_render import Renderer, Result, evaluate

from capi import runtime
from capi.config import Settings
from capi.http import IncomingRequest
from capi.routing import RoutingError
from capi.secrets import SecretReader
from capi.sources.generic import load_mappings

SHOP_A, SHOP_B, SHOP_C = "111111111111", "222222222222", "333333333333"  # SHOP_A: pixel_id
SECRETS = "projects/my-project/secrets"
PRODUCTION = TERRAFORM / "examples" / "production"
FIXTURE_MAPPINGS = REPO / "tests" / "fixtures" / "generic" / "mappings.yaml"
TYPEFORM_PAYLOAD = REPO / "tests" / "fixtures" / "generic" / "typeform_form_response.json"
# What the production example passes to the module about pixels, mappings and consent.
ROUTING_ARGUMENTS = (
    "pixel_id",
    "pixels",
    "key_pixels",
    "route_pixels",
    "webhook_mappings",
    "webhook_signing_secrets",
    "consent_policy",
    "ldu_states",
)

# The environment of a single-pixel relay, as the module has always set it.
SINGLE_PIXEL_INGEST = {
    "CAPI_PIXEL_ID": SHOP_A,
    "CAPI_GRAPH_VERSION": "v26.0",
    "CAPI_TOPIC": "projects/my-project/topics/capi-events",
    "CAPI_API_KEYS_SECRET": f"{SECRETS}/capi-api-keys/versions/latest",
}
# With var.webhook_sources = ["shopify", "stripe"] (the production example's default).
WEBHOOK_SOURCES_INGEST = {
    "CAPI_SHOPIFY_WEBHOOK_SECRET_SECRET": f"{SECRETS}/capi-shopify-webhook-secret/versions/latest",
    "CAPI_STRIPE_WEBHOOK_SECRET_SECRET": f"{SECRETS}/capi-stripe-webhook-secret/versions/latest",
    "CAPI_SHOPIFY_TOPICS": "orders/paid",
}
SINGLE_PIXEL_FORWARD = {
    "CAPI_PIXEL_ID": SHOP_A,
    "CAPI_GRAPH_VERSION": "v26.0",
    "CAPI_DLQ_TOPIC": "projects/my-project/topics/capi-events-dlq",
    "CAPI_ACCESS_TOKEN_SECRET": f"{SECRETS}/capi-meta-token/versions/latest",
    "CAPI_MAX_DELIVERY_ATTEMPTS": "10",
    "CAPI_ACK_DEADLINE": "60",
    "CAPI_GRAPH_TIMEOUT": "10",
    "CAPI_SECRET_TIMEOUT": "5",
    "CAPI_PUBLISH_TIMEOUT": "10",
}

SEVERAL_PIXELS = {
    "pixels": {SHOP_B: {}, SHOP_C: {"test_event_code": "TEST42"}},
    "key_pixels": {
        "shop-b": {"pixels": [SHOP_B]},
        "agency": {"pixels": [SHOP_A, SHOP_B], "allow": [SHOP_C]},
    },
    "route_pixels": {"/webhooks/shopify": {"pixels": [SHOP_B]}},
}


def token_version(pixel: str) -> str:
    return f"{SECRETS}/capi-meta-token-{pixel}/versions/latest"


def flat(text: str) -> str:
    """Terraform wraps its messages at the terminal width."""
    return " ".join(text.split())


@pytest.fixture(scope="module")
def renderer(module) -> Renderer:
    return Renderer(module)


@pytest.fixture
def render(renderer, tmp_path):
    counter = itertools.count()

    def run(**variables: object) -> Result:
        return renderer.render(tmp_path / f"render-{next(counter)}", variables)

    return run


def rendered(result: Result) -> Result:
    assert result.ok, result.output
    assert result.failed_preconditions() == []
    return result


def test_webhook_sources_set_their_secrets_and_topics_on_ingest_only(render):
    result = rendered(render(webhook_sources=["shopify", "stripe"], shopify_topics=["orders/paid"]))
    assert result.ingest_env == {**SINGLE_PIXEL_INGEST, **WEBHOOK_SOURCES_INGEST}
    assert result.forward_env == SINGLE_PIXEL_FORWARD
    ingest, _ = both_functions_start(result)
    assert ingest.shopify_topics == ("orders/paid",)


def test_the_rendered_forwarder_fits_its_worst_case_in_the_ack_deadline(render):
    _, forward = both_functions_start(rendered(render()))
    assert forward.delivery_worst_case_s <= forward.ack_deadline_s == 60


def both_functions_start(result: Result) -> tuple[Settings, Settings]:
    """The relay's own builders accept what Terraform renders (they create no Google client)."""
    ingest, forward = Settings.from_env(result.ingest_env), Settings.from_env(result.forward_env)
    runtime.build_ingest(ingest)
    runtime.build_forwarder(forward)
    return ingest, forward


# -------------------------------------------------------------------------------------------------


def test_without_additional_pixels_the_environment_is_the_single_pixel_one(render):
    result = rendered(render())
    assert result.ingest_env == SINGLE_PIXEL_INGEST
    assert result.forward_env == SINGLE_PIXEL_FORWARD
    ingest, forward = both_functions_start(result)
    assert runtime.routing(ingest).resolve(key_name="anyone") == [SHOP_A]
    assert runtime.routing(forward).token_secrets() == {}


def test_several_pixels_are_routed_by_ingest_and_given_their_own_token_by_forward(render):
    result = rendered(render(**SEVERAL_PIXELS))
    # the same routing on both functions, and nothing else changes
    assert result.ingest_env["CAPI_PIXELS"] == result.forward_env["CAPI_PIXELS"]
    assert {k: v for k, v in result.ingest_env.items() if k != "CAPI_PIXELS"} == (
        SINGLE_PIXEL_INGEST
    )
    assert {k: v for k, v in result.forward_env.items() if k != "CAPI_PIXELS"} == (
        SINGLE_PIXEL_FORWARD
    )
    document = json.loads(result.ingest_env["CAPI_PIXELS"])
    assert document == {
        "pixels": {
            SHOP_B: {"token_secret": token_version(SHOP_B)},
            SHOP_C: {"token_secret": token_version(SHOP_C), "test_event_code": "TEST42"},
        },
        "keys": {
            "shop-b": {"pixels": [SHOP_B]},
            "agency": {"pixels": [SHOP_A, SHOP_B], "allow": [SHOP_C]},
        },
        "routes": {"/webhooks/shopify": {"pixels": [SHOP_B]}},
    }
    ingest, forward = both_functions_start(result)
    routing = runtime.routing(ingest)
    assert routing.resolve(key_name="agency") == [SHOP_A, SHOP_B]  # fan-out
    assert routing.resolve(key_name="agency", requested=[SHOP_C]) == [SHOP_C]
    assert routing.resolve(key_name="shop-b") == [SHOP_B]
    assert routing.resolve(key_name="legacy") == [SHOP_A]  # a key without entry: pixel_id
    assert routing.resolve(route="/webhooks/shopify") == [SHOP_B]
    with pytest.raises(RoutingError) as refused:
        routing.resolve(key_name="shop-b", requested=[SHOP_A])
    assert refused.value.status == 403
    assert routing.test_event_code(SHOP_C) == "TEST42"
    # forward: each additional pixel's own secret, pixel_id still on the global one
    assert runtime.routing(forward).token_secrets() == {
        SHOP_B: token_version(SHOP_B),
        SHOP_C: token_version(SHOP_C),
    }
    assert forward.access_token_secret == f"{SECRETS}/capi-meta-token/versions/latest"


def test_routing_by_key_alone_needs_no_additional_pixel(render):
    result = rendered(render(key_pixels={"sgtm": {"pixels": [SHOP_A]}}))
    assert json.loads(result.forward_env["CAPI_PIXELS"]) == {
        "pixels": {},
        "keys": {"sgtm": {"pixels": [SHOP_A]}},
    }
    ingest, forward = both_functions_start(result)
    assert runtime.routing(ingest).resolve(key_name="sgtm") == [SHOP_A]
    assert runtime.routing(forward).token_secrets() == {}


def test_webhook_mappings_and_consent_reach_ingest_only(render):
    mappings = json.dumps({"webhooks": {"crm": {"event_name": "Lead", "fields": {}}}})
    result = rendered(
        render(webhook_mappings=f"  {mappings}\n", consent_policy="ldu", ldu_states=["ca"])
    )
    assert result.ingest_env == {
        **SINGLE_PIXEL_INGEST,
        "CAPI_WEBHOOK_MAPPINGS": mappings,
        "CAPI_CONSENT_POLICY": "ldu",
        "CAPI_LDU_STATES": "CA",
    }
    assert result.forward_env == SINGLE_PIXEL_FORWARD
    ingest, _ = both_functions_start(result)
    assert set(load_mappings(ingest.webhook_mappings)) == {"crm"}
    assert (ingest.consent_policy, ingest.ldu_states) == ("ldu", ("CA",))


def test_consent_drop_without_states(render):
    result = rendered(render(consent_policy="drop"))
    assert result.ingest_env == {**SINGLE_PIXEL_INGEST, "CAPI_CONSENT_POLICY": "drop"}


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"pixels": {"shop-b": {}}}, "pixels must be keyed by numeric pixel (dataset) ids"),
        ({"key_pixels": {"9lives": {"pixels": [SHOP_A]}}}, "an API key name is a letter"),
        ({"key_pixels": {"a": {"pixels": ["pixel-a"]}}}, "pixels and allow list numeric"),
        ({"route_pixels": {"webhooks/shopify": {"pixels": [SHOP_A]}}}, "a route is a path"),
        ({"route_pixels": {"/sgtm": {"pixels": [SHOP_A], "allow": ["x"]}}}, "numeric pixel ids"),
        ({"route_pixels": {"/sgtm": {"pixels": [], "allow": [SHOP_A]}}}, "at least one pixel"),
        ({"key_pixels": {"sgtm": {"pixels": []}}}, "at least one pixel"),
        ({"webhook_mappings": "webhooks: {}"}, "must be empty or valid JSON"),
        ({"webhook_mappings": "/workspace/mappings.yaml"}, "must be empty or valid JSON"),
        ({"webhook_mappings": '[{"webhooks": {}}]'}, 'top-level "webhooks" object'),
        ({"webhook_mappings": '{"hooks": {}}'}, 'top-level "webhooks" object'),
        ({"webhook_mappings": '{"webhooks": []}'}, 'top-level "webhooks" object'),
        ({"webhook_mappings": '{"webhooks": {"x": "' + "a" * 24576 + '"}}'}, "share 32 KiB"),
        ({"consent_policy": "deny"}, "consent_policy must be ignore, drop or ldu"),
        ({"consent_policy": "LDU"}, "consent_policy must be ignore, drop or ldu"),
        ({"ldu_states": ["NY"]}, "ldu_states may only list CA"),
        ({"forward": {"timeout_seconds": 30}}, "must be at least 2 x secret_timeout_seconds"),
        (
            {"forward": {"timeout_seconds": 60, "graph_timeout_seconds": 20}},
            "must be at least 2 x secret_timeout_seconds",
        ),
        ({"webhook_sources": ["paypal"]}, "webhook_sources may list"),
        ({"shopify_topics": ["orders/updated"]}, "shopify_topics lists orders/create"),
    ],
)
def test_invalid_values_are_refused_by_the_plan(render, variables, message):
    result = render(**variables)
    assert not result.ok
    assert "Invalid value for variable" in result.output
    assert message in flat(result.output)


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"pixels": {SHOP_A: {}}}, "pixels must not list pixel_id"),
        ({"key_pixels": {"a": {"pixels": [SHOP_B]}}}, "neither pixel_id nor a key of pixels"),
        (
            {
                "pixels": {SHOP_B: {}},
                "route_pixels": {"/sgtm": {"pixels": [SHOP_B], "allow": [SHOP_C]}},
            },
            "neither pixel_id nor a key of pixels",
        ),
        ({"ldu_states": ["CA"]}, 'ldu_states only take effect with consent_policy = "ldu"'),
    ],
)
def test_inconsistent_values_fail_the_ingest_preconditions(render, variables, message):
    """Rules across variables (a validation may only read its own variable before Terraform
    1.9): preconditions of the ingest function, so the plan stops before anything is deployed."""
    result = render(**variables)
    assert result.ok, result.output
    (failed,) = result.failed_preconditions()
    assert message in failed


# -------------------------------------------------------------------------------------------------
# Signing secrets of generic webhook mappings (verify: secret_env)

TYPEFORM_SECRET = "typeform-signing-secret"  # test value: a fake Secret Manager serves it
TYPEFORM_VERSION = f"{SECRETS}/capi-webhook-typeform-secret/versions/latest"
API_KEYS_VERSION = f"{SECRETS}/capi-api-keys/versions/latest"


class FakeSecretManager:
    """Secret Manager behind the relay's own SecretReader: serves versions by full name (what the
    ingest service account is granted), refuses any other, records every read."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.reads: list[str] = []

    def access_secret_version(self, name: str, **_: object) -> SimpleNamespace:
        self.reads.append(name)
        if name not in self.values:
            raise PermissionError(f"403 no grant on {name}")
        return SimpleNamespace(payload=SimpleNamespace(data=self.values[name].encode()))

    def reader(self) -> SecretReader:
        return SecretReader(client_factory=lambda: self)


class RecordingPublisher:
    def __init__(self) -> None:
        self.messages: list = []

    def publish_all(self, messages) -> list[str]:
        self.messages.extend(messages)
        return []


def fixture_mappings() -> str:
    """tests/fixtures/generic/mappings.yaml as the inline JSON the module passes on: typeform-leads
    (verify, secret_env CAPI_TYPEFORM_SECRET) and crm-deals (API key)."""
    return json.dumps(yaml.safe_load(FIXTURE_MAPPINGS.read_text()))


def mapping(verify: dict | None = None) -> dict:
    return {"event_name": "Lead", **({} if verify is None else {"verify": verify})}


def mappings_json(**named: dict) -> str:
    return json.dumps({"webhooks": named})


def typeform_request(secret: str) -> IncomingRequest:
    payload = json.loads(TYPEFORM_PAYLOAD.read_text())
    submitted = datetime.fromtimestamp(time.time() - 60, UTC)
    payload["form_response"]["submitted_at"] = submitted.isoformat(timespec="seconds")
    body = json.dumps(payload).encode()
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    signature = "sha256=" + base64.b64encode(digest).decode()
    headers = {"Typeform-Signature": signature}
    return IncomingRequest("POST", "/webhooks/typeform-leads", headers, body, "application/json")


def test_a_verify_mapping_gets_its_own_secret_named_to_ingest_only(render):
    mappings = fixture_mappings()
    result = rendered(
        render(webhook_mappings=mappings, webhook_signing_secrets=["CAPI_TYPEFORM_SECRET"])
    )
    assert result.ingest_env == {
        **SINGLE_PIXEL_INGEST,
        "CAPI_WEBHOOK_MAPPINGS": mappings,
        "CAPI_TYPEFORM_SECRET_SECRET": TYPEFORM_VERSION,
    }
    assert result.forward_env == SINGLE_PIXEL_FORWARD
    # the relay's own code finds the secret of the verify block, under that version path
    ingest, _ = both_functions_start(result)
    manager = FakeSecretManager({TYPEFORM_VERSION: TYPEFORM_SECRET})
    sources = runtime.build_sources(ingest, manager.reader(), env=result.ingest_env)
    assert set(sources.mapping_secrets) == {"typeform-leads"}  # crm-deals: the API key
    assert sources.mapping_secrets["typeform-leads"]() == (TYPEFORM_SECRET,)
    assert manager.reads == [TYPEFORM_VERSION]


def test_a_signed_webhook_is_accepted_by_ingest_built_from_the_rendered_environment(
    render, monkeypatch
):
    """As main.py does on Cloud Run: Settings from the process environment (exactly what the
    module sets), build_ingest, then a request signed with the secret stored in the version."""
    result = rendered(
        render(
            webhook_mappings=fixture_mappings(), webhook_signing_secrets=["CAPI_TYPEFORM_SECRET"]
        )
    )
    for name in [n for n in os.environ if n.startswith("CAPI_")]:
        monkeypatch.delenv(name)
    for name, value in result.ingest_env.items():
        monkeypatch.setenv(name, value)
    manager = FakeSecretManager({TYPEFORM_VERSION: TYPEFORM_SECRET, API_KEYS_VERSION: "k"})
    publisher = RecordingPublisher()
    ingest = runtime.build_ingest(Settings.from_env(), publisher=publisher, reader=manager.reader())
    reply = ingest.handle(typeform_request(TYPEFORM_SECRET))
    assert reply.status == 202, reply.body
    assert publisher.messages[0].attributes["source"] == "webhook:typeform-leads"
    assert ingest.handle(typeform_request("not-the-secret")).status == 401
    assert len(publisher.messages) == 1
    assert set(manager.reads) == {TYPEFORM_VERSION}  # the one secret it needed, nothing else


def test_signing_secret_ids_follow_the_prefix_and_are_listed_in_next_steps(render):
    names = ["CAPI_TYPEFORM_SECRET", "CAPI_HUBSPOT_V3"]
    result = rendered(render(name_prefix="shop", webhook_signing_secrets=names))
    assert {k: v for k, v in result.ingest_env.items() if k.startswith("CAPI_HUB")} == {
        "CAPI_HUBSPOT_V3_SECRET": f"{SECRETS}/shop-webhook-hubspot-v3/versions/latest"
    }
    assert result.ingest_env["CAPI_TYPEFORM_SECRET_SECRET"] == (
        f"{SECRETS}/shop-webhook-typeform-secret/versions/latest"
    )
    commands = [
        shlex.split(line)
        for line in result.steps["webhook_signing_steps"].splitlines()
        if "gcloud" in line
    ]
    assert commands == [
        ["printf", "%s", f"${variable}", "|", "gcloud", "secrets", "versions", "add",
         f"shop-webhook-{secret}", "--project=my-project", "--data-file=-"]
        for variable, secret in (
            ("HUBSPOT_V3", "hubspot-v3"),
            ("TYPEFORM_SECRET", "typeform-secret"),
        )
    ]  # fmt: skip
    assert rendered(render()).steps["webhook_signing_steps"] == ""


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        (
            {"webhook_mappings": fixture_mappings()},
            "verify block names secret_env CAPI_TYPEFORM_SECRET, which webhook_signing_secrets "
            "does not list",
        ),
        (
            {
                "webhook_mappings": mappings_json(
                    a=mapping({"header": "X-Sig", "secret_env": " CAPI_A "}),
                    b=mapping({"header": "X-Sig", "secret_env": "LEGACY_SECRET"}),
                    c=mapping({"header": "X-Sig", "secret_env": "CAPI_C"}),
                ),
                "webhook_signing_secrets": ["CAPI_C"],
            },
            "names secret_env CAPI_A, LEGACY_SECRET, which",
        ),
    ],
)
def test_a_verify_secret_env_without_its_secret_fails_the_ingest_precondition(
    render, variables, message
):
    result = render(**variables)
    assert result.ok, result.output
    (failed,) = result.failed_preconditions()
    assert message in failed


def test_mappings_without_secret_env_need_no_signing_secret(render):
    """secret: names a version directly: the module does not manage that secret (docs: grant it
    yourself). A listed name that no mapping uses yet is allowed (create the secret first)."""
    mappings = mappings_json(
        open=mapping(),
        direct=mapping({"header": "X-Sig", "secret": "projects/p/secrets/s/versions/latest"}),
        empty=mapping(None),
    )
    result = rendered(render(webhook_mappings=mappings, webhook_signing_secrets=["CAPI_LATER"]))
    assert result.ingest_env["CAPI_LATER_SECRET"] == (
        f"{SECRETS}/capi-webhook-later/versions/latest"
    )
    ingest, _ = both_functions_start(result)
    sources = runtime.build_sources(ingest, FakeSecretManager({}).reader(), result.ingest_env)
    assert set(sources.mapping_secrets) == {"direct"}


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["TYPEFORM_SECRET"], "CAPI_ followed by upper-case letters"),
        (["capi_typeform_secret"], "CAPI_ followed by upper-case letters"),
        (["CAPI_TYPEFORM-SECRET"], "CAPI_ followed by upper-case letters"),
        (["whsec_0123456789abcdef"], "a name, never the secret itself"),
        (["CAPI_"], "CAPI_ followed by upper-case letters"),
        # the relay's own settings, as the name or as its <name>_SECRET
        (["CAPI_API_KEYS"], "a setting of the relay itself"),
        (["CAPI_ACCESS_TOKEN"], "a setting of the relay itself"),
        (["CAPI_SHOPIFY_WEBHOOK_SECRET"], "a setting of the relay itself"),
        (["CAPI_STRIPE_WEBHOOK"], "a setting of the relay itself"),
        (["CAPI_PIXELS"], "a setting of the relay itself"),
        (["CAPI_WEBHOOK_MAPPINGS"], "a setting of the relay itself"),
        (["CAPI_TOPIC"], "a setting of the relay itself"),
        (["CAPI_A", "CAPI_A_SECRET"], "must not list both a name and <name>_SECRET"),
    ],
)
def test_invalid_signing_secret_names_are_refused_by_the_plan(render, names, message):
    result = render(webhook_signing_secrets=names)
    assert not result.ok
    assert "Invalid value for variable" in result.output
    assert message in flat(result.output)


# -------------------------------------------------------------------------------------------------
# The production example


def example_arguments(tmp_path, *args: str) -> dict:
    """What the production example passes to the module, evaluated by terraform."""
    call = sc.load_module(PRODUCTION).modules["capi_relay"]
    expressions = {name: call.body.attributes[name].expr.text for name in ROUTING_ARGUMENTS}
    base = ("-var=project_id=my-project", "-var=region=europe-west1")
    return evaluate(tmp_path / "example", PRODUCTION, expressions, base + args)


def test_production_example_defaults_keep_the_single_pixel_relay(renderer, tmp_path):
    arguments = example_arguments(tmp_path, f"-var=pixel_id={SHOP_A}")
    result = rendered(renderer.render(tmp_path / "module", arguments))
    assert result.ingest_env == SINGLE_PIXEL_INGEST
    assert result.forward_env == SINGLE_PIXEL_FORWARD


def test_production_example_with_two_pixels(renderer, tmp_path):
    tfvars = PRODUCTION / "two-pixels.tfvars"
    example = sc.load_module(PRODUCTION)
    assert set(sc.parse_hcl(tfvars.read_text(), tfvars.name).attributes) <= set(example.variables)
    assert {"pixel_token_secret_ids", "pixels_config", "next_steps"} <= set(example.outputs)
    arguments = example_arguments(tmp_path, "-var-file=two-pixels.tfvars")
    result = rendered(renderer.render(tmp_path / "module", arguments))
    ingest, forward = both_functions_start(result)
    # two pixels: pixel_id on capi-meta-token, the other on its own secret
    assert ingest.pixel_id == SHOP_A
    assert forward.access_token_secret == f"{SECRETS}/capi-meta-token/versions/latest"
    assert runtime.routing(forward).token_secrets() == {SHOP_B: token_version(SHOP_B)}
    routing = runtime.routing(ingest)
    assert routing.resolve(key_name="shop-a") == [SHOP_A]
    assert routing.resolve(key_name="shop-b") == [SHOP_B]
    assert routing.resolve(key_name="agency") == [SHOP_A, SHOP_B]
    assert routing.resolve(route="/webhooks/shopify") == [SHOP_B]
    assert routing.resolve(route="/webhooks/stripe") == [SHOP_A]
    assert routing.resolve(route="/webhooks/stripe", requested=[SHOP_B]) == [SHOP_B]
    assert routing.resolve(route="/webhooks/crm-deals") == [SHOP_B]
    # the mapping file arrives whole, as inline JSON
    assert load_mappings(ingest.webhook_mappings) == load_mappings(
        str(PRODUCTION / "webhook-mappings.yaml")
    )
    assert (ingest.consent_policy, ingest.ldu_states) == ("ldu", ("CA",))
    # ... with the signing secret of its verify block, for ingest only
    assert result.ingest_env["CAPI_TYPEFORM_SECRET_SECRET"] == TYPEFORM_VERSION
    assert not any(v == TYPEFORM_VERSION for v in result.forward_env.values())
    manager = FakeSecretManager({TYPEFORM_VERSION: TYPEFORM_SECRET})
    sources = runtime.build_sources(ingest, manager.reader(), env=result.ingest_env)
    assert set(sources.mapping_secrets) == {"typeform-leads"}
    assert sources.mapping_secrets["typeform-leads"]() == (TYPEFORM_SECRET,)


@pytest.mark.parametrize(
    "path", [PRODUCTION / "webhook-mappings.yaml", FIXTURE_MAPPINGS], ids=lambda p: p.name
)
def test_a_mapping_file_becomes_the_same_mappings_as_inline_json(tmp_path, path):
    """jsonencode(yamldecode(file(...))) in the example: the code reads the inline JSON into the
    same mappings as the YAML file itself (Terraform's YAML 1.2 reader versus PyYAML)."""
    arguments = example_arguments(
        tmp_path, f"-var=pixel_id={SHOP_A}", f"-var=webhook_mappings_file={path}"
    )
    inline = arguments["webhook_mappings"]
    assert re.match(r"^\{", inline)
    assert load_mappings(inline) == load_mappings(str(path))
