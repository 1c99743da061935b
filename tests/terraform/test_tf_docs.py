"""The deployment documentation stays in step with the module."""

from __future__ import annotations

import re

import schema_check as sc
from tf_helpers import REPO, TERRAFORM

DEPLOY = (REPO / "docs" / "DEPLOY.md").read_text()
README = (TERRAFORM / "README.md").read_text()


def test_module_readme_lists_every_input_and_output(module):
    for name in [*module.variables, *module.outputs]:
        assert f"`{name}`" in README, f"terraform/README.md does not mention {name}"


def test_deploy_guide_fills_every_secret_with_gcloud(module):
    prefix = sc.literal(module.variables["name_prefix"].body.attributes["default"].expr)
    for block in module.resources_of("google_secret_manager_secret").values():
        template = block.body.attributes["secret_id"].expr.text.strip('"')
        secret_id = template.replace("${local.prefix}", str(prefix))
        assert re.search(rf"gcloud secrets versions add {re.escape(secret_id)} ", DEPLOY), secret_id


def test_deploy_guide_covers_the_path_to_events_manager():
    for needle in (
        "gcloud services enable",
        "terraform init",
        "terraform apply",
        "terraform output -raw ingest_url",
        "X-API-Key",
        '"$INGEST_URL/events"',
        "Server-side Google Tag Manager",
        "sendHttpRequest",
        "Test events",
        "event_id",
        "cloudbuild.yaml",
        "_STATE_BUCKET",
    ):
        assert needle in DEPLOY, needle
    for example in ("minimal", "production"):
        assert f"terraform/examples/{example}" in DEPLOY
        assert (TERRAFORM / "examples" / example).is_dir()
