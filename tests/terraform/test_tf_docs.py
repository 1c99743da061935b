"""The deployment documentation stays in step with the module."""

from __future__ import annotations

import re

from tf_helpers import REPO, TERRAFORM

DEPLOY = (REPO / "docs" / "DEPLOY.md").read_text()
README = (TERRAFORM / "README.md").read_text()
MODULE = "\n".join(p.read_text() for p in TERRAFORM.glob("*.tf"))


def test_module_readme_lists_every_input_and_output():
    names = re.findall(r'^(?:variable|output) "(\w+)"', MODULE, re.MULTILINE)
    assert len(names) > 30
    for name in names:
        assert f"`{name}`" in README, f"terraform/README.md does not mention {name}"


def test_deploy_guide_fills_every_secret_with_gcloud():
    (prefix,) = re.findall(r'variable "name_prefix" \{[^}]*?default\s*=\s*"([^"]+)"', MODULE)
    secrets_tf = (TERRAFORM / "secrets.tf").read_text()
    secret_ids = re.findall(r'^\s*secret_id\s*=\s*"(.*)"\s*$', secrets_tf, re.MULTILINE)
    assert len(secret_ids) == 6
    for template in secret_ids:
        template = template.replace("${local.prefix}", prefix)
        # one secret per key of a for_each (var.pixels, var.webhook_signing_secrets): shown for
        # an example key, a pixel id or a name such as CAPI_TYPEFORM_SECRET (typeform-secret)
        pieces = re.split(r"\$\{[^}]*\}", template)
        secret_id = "[a-z0-9-]+".join(re.escape(piece) for piece in pieces)
        assert re.search(rf"gcloud secrets versions add {secret_id} ", DEPLOY), secret_id


def test_several_pixels_webhook_mappings_and_consent_are_documented():
    names = ("pixels", "key_pixels", "route_pixels", "webhook_mappings", "consent_policy")
    for doc, text in (("docs/DEPLOY.md", DEPLOY), ("terraform/README.md", README)):
        for heading in ("Several pixels", "Generic webhook mappings and consent"):
            assert re.search(rf"^#+ .*{heading}", text, re.M), f"{doc}: no section {heading!r}"
        for name in (*names, "ldu_states", "CAPI_PIXELS", "CAPI_WEBHOOK_MAPPINGS"):
            assert name in text, f"{doc} does not mention {name}"
        assert "two-pixels.tfvars" in text, doc
    # the command that fills a pixel's own token, and the API key names the routing refers to
    assert re.search(r"gcloud secrets versions add capi-meta-token-[0-9]+ ", DEPLOY)
    assert re.search(r"shop-a=\$", DEPLOY)


def test_webhook_signing_secrets_are_documented():
    """A mapping's verify secret_env on the Terraform stack: the variable, the secret it makes,
    the variable ingest gets, and the command that fills it (the example name throughout)."""
    for doc, text in (("docs/DEPLOY.md", DEPLOY), ("terraform/README.md", README)):
        for needle in (
            "webhook_signing_secrets",
            "webhook_signing_secret_ids",
            "secret_env",
            "CAPI_TYPEFORM_SECRET",
            "CAPI_TYPEFORM_SECRET_SECRET",
            "capi-webhook-typeform-secret",
        ):
            assert needle in text, f"{doc} does not mention {needle}"
        assert "not supported by the module yet" not in text, doc
        assert "the module provides none yet" not in text, doc
    assert re.search(r"gcloud secrets versions add capi-webhook-typeform-secret ", DEPLOY)
    sources = (REPO / "docs" / "SOURCES.md").read_text()
    assert "is not provisioned yet" not in sources
    assert "webhook_signing_secrets" in sources


def test_deploy_guide_covers_the_path_to_events_manager():
    for needle in (
        "gcloud services enable",
        "terraform init",
        "terraform apply",
        "terraform output -raw ingest_url",
        "X-API-Key",
        '"$INGEST_URL/events"',
        "Server-side Google Tag Manager",
        "sgtm/capi-relay-tag.tpl",
        "scripts/deploy.sh",
        "Test events",
        "event_id",
        "cloudbuild.yaml",
        "_STATE_BUCKET",
    ):
        assert needle in DEPLOY, needle
    for example in ("minimal", "production"):
        assert f"terraform/examples/{example}" in DEPLOY
        assert (TERRAFORM / "examples" / example).is_dir()


def test_next_steps_prints_the_commands_of_the_deploy_guide_word_for_word():
    """terraform output next_steps (its text for the default settings is
    terraform/tests/next_steps.txt, which `terraform test` compares with the output) gives the
    reader DEPLOY.md's own commands, with the same variable names: one story, two places."""
    rendered = (TERRAFORM / "tests" / "next_steps.txt").read_text()
    commands = [
        line.strip()
        for line in rendered.splitlines()
        if line.startswith("     ") and not re.match(r"\s+(server-side GTM|your backend|Relay URL)", line)
    ]
    assert len(commands) >= 10
    deploy_lines = {line.strip() for line in DEPLOY.splitlines()}
    missing = [c for c in commands if c not in deploy_lines]
    assert not missing, f"docs/DEPLOY.md lacks: {missing}"
    assert "Purchase" in rendered and "PageView" not in rendered


CITED = re.compile(
    r"(?<![\w./-])((?:\.ci|bench|capi|docs|scripts|sgtm|terraform|tests)/[\w./-]*[\w/])"
    r"|\]\(((?!https?:|#|mailto:)[^)#\s]+)"
)
DOCUMENTS = [
    REPO / "README.md",
    REPO / "openapi.yaml",
    *sorted((REPO / "docs").glob("*.md")),
    *sorted(TERRAFORM.rglob("README.md")),
]


def cited_paths(document):
    text = document.read_text()
    for match in CITED.finditer(text):
        path = (match.group(1) or match.group(2)).split("::")[0].rstrip("./")
        if not path or re.search(r"[<>{}*$]|\.\.\.", path):
            continue  # a placeholder or a pattern, not a file
        yield path, bool(match.group(2))


def test_every_path_the_documents_cite_exists():
    wrong = []
    for document in DOCUMENTS:
        for path, is_link in cited_paths(document):
            candidates = [document.parent / path] if is_link else [REPO / path, document.parent / path]
            if not any(c.exists() for c in candidates):
                wrong.append(f"{document.relative_to(REPO)}: {path}")
    assert not wrong, "cited but not in the repository:\n" + "\n".join(wrong)


def test_the_path_check_finds_a_missing_file(tmp_path):
    document = tmp_path / "GUIDE.md"
    document.write_text("See `tests/terraform/test_gone.py::test_x` and [the guide](NOPE.md).")
    assert list(cited_paths(document)) == [("tests/terraform/test_gone.py", False), ("NOPE.md", True)]
