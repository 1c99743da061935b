"""schemathesis against a local ingest served over HTTP, configured as in production (API key,
Shopify and Stripe signing secrets, generic mappings): for any request the OpenAPI description
allows, no 5xx, and every answer matches the description."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi import checks as openapi_checks

from capi.config import Settings
from capi.queueing.memory import InMemoryPublisher
from capi.tools.serve import make_app
from capi.wiring import build_ingest

pytestmark = pytest.mark.slow  # make test-fast leaves these generated runs out

ROOT = Path(__file__).resolve().parents[2]
schema = schemathesis.openapi.from_path(ROOT / "openapi.yaml")
KEY = "schema-key"


MAPPINGS = json.dumps(
    {
        "webhooks": {
            "crm-deals": {
                "records": "deals",
                "event_name": {
                    "rules": [{"when": {"path": "stage", "equals": "won"}, "value": "Purchase"}],
                    "default": "Lead",
                },
                "fields": {
                    "event_id": {"template": "deal-{id}"},
                    "user_data.em": "email",
                    "custom_data.value": {"path": "amount", "type": "number"},
                    "custom_data.currency": {"path": "currency", "default": "USD"},
                },
            },
            "signed-form": {
                "verify": {"header": "X-Signature", "secret_env": "CAPI_FORM_SECRET"},
                "event_name": "Lead",
                "fields": {"user_data.em": "email"},
            },
        }
    }
)


@pytest.fixture(scope="module")
def base_url():
    from werkzeug.serving import make_server

    settings = Settings.from_env(
        {
            "CAPI_API_KEYS": KEY,
            "CAPI_PIXEL_ID": "1234567890",
            "CAPI_SHOPIFY_WEBHOOK_SECRET": "shpss_test",
            "CAPI_STRIPE_WEBHOOK_SECRET": "whsec_test",
            "CAPI_WEBHOOK_MAPPINGS": MAPPINGS,
            "CAPI_BROWSER_KEYS": json.dumps(
                {"pk_schema_0123456789": {"origins": ["https://shop.example.com"]}}
            ),
        }
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CAPI_FORM_SECRET", "form-secret")
        ingest = build_ingest(settings, publisher=InMemoryPublisher())
    server = make_server("127.0.0.1", 0, make_app(ingest), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


CHECKS = [
    schemathesis.checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
]


@schema.parametrize()
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
def test_ingest_matches_its_openapi_description(case, base_url):
    case.call_and_validate(base_url=base_url, headers={"X-API-Key": KEY}, checks=CHECKS)
