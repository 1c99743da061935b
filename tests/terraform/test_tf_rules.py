"""The few rules about the Terraform that `terraform validate` and `terraform test` cannot state
(they cannot list every resource of a kind, read the relay's code, or compare version
constraints), in their smallest form: reading the .tf files as text. Everything about planned
values is in terraform/tests/*.tftest.hcl, run by test_tf_validate.py."""

from __future__ import annotations

import re

from packaging.specifiers import SpecifierSet
from tf_helpers import EXAMPLES, REPO, TERRAFORM

MODULE_TF = {p.name: p.read_text() for p in TERRAFORM.glob("*.tf")}
ALL_TF = "\n".join(MODULE_TF.values())
GRANTS_RUN = (TERRAFORM / "tests" / "module.tftest.hcl").read_text()
RESOURCE = re.compile(r'^resource "(\w+)" "(\w+)"', re.MULTILINE)


def resources() -> list[tuple[str, str]]:
    return RESOURCE.findall(ALL_TF)


def test_every_iam_grant_is_in_the_reviewed_table_of_the_terraform_tests():
    grants = [(t, n) for t, n in resources() if re.search(r"_iam_(member|binding|policy)$", t)]
    assert len(grants) >= 20
    for type_, name in grants:
        assert type_.endswith("_iam_member"), f"{type_}.{name}: authoritative IAM"
        assert f"{type_}.{name}" in GRANTS_RUN, f"{type_}.{name} is not in the reviewed table"


def test_no_broad_role_is_granted():
    roles = set(re.findall(r'role\s*=\s*"(roles/[^"]+)"', ALL_TF))
    assert roles
    for role in roles:
        assert role not in {"roles/owner", "roles/editor", "roles/viewer"}, role
        assert "admin" not in role.lower() and not role.endswith(".serviceAgent"), role
        assert role != "roles/iam.serviceAccountUser", role


def test_only_the_ingest_invoker_default_is_public():
    public = [
        (name, line.strip())
        for name, text in MODULE_TF.items()
        for line in text.splitlines()
        if re.search(r"allUsers|allAuthenticatedUsers", line) and not line.strip().startswith("#")
    ]
    assert [name for name, _ in public] == ["variables.tf"] * len(public)
    assert any('default     = ["allUsers"]' in line for _, line in public)


def test_no_secret_value_can_enter_the_configuration_or_the_state():
    kinds = {t for t, _ in resources()}
    assert not kinds & {
        "google_secret_manager_secret_version",
        "google_secret_manager_regional_secret_version",
    }, "secret versions belong in gcloud, not in Terraform state"
    assert "google_secret_manager_secret_version" not in ALL_TF  # no data source either
    for name in re.findall(r'^variable "(\w+)"', ALL_TF, re.MULTILINE):
        assert not re.search(r"(token|password|api_?keys?|signing|webhook_secret)$", name), name


SECRET_LOOKING = re.compile(
    r"EAA[A-Za-z0-9]{20,}"  # Meta access tokens
    r"|sk_(live|test)_[A-Za-z0-9]{10,}|whsec_[A-Za-z0-9]{10,}|rk_live_[A-Za-z0-9]{10,}"  # Stripe
    r"|shp(ss|at|ca|pa)_[a-fA-F0-9]{16,}"  # Shopify
    r"|AIza[0-9A-Za-z_-]{30,}"  # Google API keys
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----"
    r"|\"type\":\s*\"service_account\""
)


def test_no_secret_looking_literal_anywhere():
    files = [
        *TERRAFORM.rglob("*.tf"),
        *TERRAFORM.rglob("*.tfvars"),
        REPO / "cloudbuild.yaml",
        REPO / "cloudbuild-test.yaml",
    ]
    for path in files:
        match = SECRET_LOOKING.search(path.read_text())
        assert match is None, f"{path}: {match.group(0)[:12]}..."


def test_signing_secret_names_cannot_shadow_a_setting_of_the_relay():
    """A name of var.webhook_signing_secrets becomes ingest's <NAME>_SECRET, and the code reads
    <NAME> first: neither may be a setting the relay reads. The validation's list must hold every
    CAPI_* name the code reads and every one the module sets."""
    variables = MODULE_TF["variables.tf"]
    block = variables[variables.index('variable "webhook_signing_secrets"') :]
    block = block[: block.index("\nvariable ")]
    reserved = set(re.findall(r'"(CAPI_[A-Z0-9_]+)"', block))
    sources = [REPO / "main.py", *(REPO / "capi").rglob("*.py")]
    read_by_code = {
        name for path in sources for name in re.findall(r'"(CAPI_[A-Z0-9_]+)"', path.read_text())
    }
    assert {"CAPI_API_KEYS", "CAPI_ACCESS_TOKEN", "CAPI_PIXELS"} <= read_by_code
    assert read_by_code - reserved == set(), "settings a signing secret could shadow"
    set_by_module = set(re.findall(r"\b(CAPI_[A-Z0-9_]+)\s*=", MODULE_TF["functions.tf"]))
    assert set_by_module - reserved == set()


def test_provider_constraints_admit_6_50_and_the_whole_7_line():
    """The configuration is written for google 6.50 and 7.x (versions.tf): what the stand-in
    serves (6.50.0) and the next major must both satisfy every constraint."""
    for path in [TERRAFORM / "versions.tf", *(e / "versions.tf" for e in EXAMPLES)]:
        found = re.search(r'hashicorp/google"\s*\n\s*version\s*=\s*"([^"]+)"', path.read_text())
        assert found, path
        allowed = SpecifierSet(found.group(1).replace(" ", ""))
        assert {"6.50.0", "7.0.0", "7.99.0"} <= set(allowed.filter(["6.50.0", "7.0.0", "7.99.0"]))
        assert not list(allowed.filter(["6.49.0", "8.0.0"])), path


def test_examples_use_the_module_and_production_keeps_state_remotely():
    for example in EXAMPLES:
        main = (example / "main.tf").read_text()
        assert re.search(r'source\s*=\s*"\.\./\.\."', main), example.name
    production = (TERRAFORM / "examples" / "production" / "versions.tf").read_text()
    assert re.search(r'backend "gcs" \{\}', production)


def test_the_packaged_files_exist_and_can_be_zipped_by_terraform():
    """What local.source_files selects (main.py, requirements.txt, capi/** without caches and dot
    files): the files must exist, be UTF-8 (Terraform's file() reads text) and the requirements
    must not point at anything outside the zip."""
    selected = ["main.py", "requirements.txt"] + [
        str(p.relative_to(REPO))
        for p in (REPO / "capi").rglob("*")
        if p.is_file()
        and "__pycache__" not in p.parts
        and p.suffix != ".pyc"
        and not p.name.startswith(".")
    ]
    assert "capi/__init__.py" in selected
    for name in selected:
        (REPO / name).read_text(encoding="utf-8")
    for line in (REPO / "requirements.txt").read_text().splitlines():
        assert not line.strip().startswith(("-e", "-r", "file:", "./", "../")), line


def block(kind: str, name: str) -> str:
    """The text of `resource "kind" "name" { ... }` (up to its closing brace at line start)."""
    match = re.search(rf'^resource "{kind}" "{name}" {{\n(.*?)^}}', ALL_TF, re.MULTILINE | re.DOTALL)
    assert match, f"{kind}.{name} not found"
    return match.group(1)


def depends_on(kind: str, name: str) -> set[str]:
    found = re.search(r"depends_on\s*=\s*\[(.*?)\]", block(kind, name), re.DOTALL)
    return set(re.findall(r"[\w.-]+\.[\w-]+", found.group(1))) if found else set()


def grants_to(member: str) -> set[str]:
    return {
        f"{kind}.{name}"
        for kind, name in resources()
        if kind.endswith("_iam_member") and re.search(rf"member\s*=\s*{re.escape(member)}\b", block(kind, name))
    }


def test_the_function_builds_wait_for_every_grant_of_the_build_account():
    """First apply: a build started before the build account's grants apply everywhere fails on a
    permission. Every grant to that account is waited for, and both functions wait."""
    build_grants = grants_to("google_service_account.build.member")
    assert len(build_grants) == 4
    assert depends_on("time_sleep", "build_grants") == build_grants
    assert 'create_duration = var.iam_propagation_delay' in block("time_sleep", "build_grants")
    for function in ("ingest", "forward"):
        assert "time_sleep.build_grants" in depends_on("google_cloudfunctions2_function", function)


def test_the_pubsub_agent_exists_before_it_is_granted_and_the_topics_wait_for_its_grants():
    identity = block("google_project_service_identity", "pubsub")
    assert "provider = google-beta" in identity and re.search(r'service\s*=\s*"pubsub.googleapis.com"', identity)
    assert 'pubsub_service_agent = "serviceAccount:${google_project_service_identity.pubsub.email}"' in ALL_TF
    agent_grants = grants_to("local.pubsub_service_agent")
    assert len(agent_grants) == 4
    # the grants that do not need a topic (the key, the push account) are waited for by the topics
    before_topics = {
        "google_kms_crypto_key_iam_member.pubsub_topics",
        "google_service_account_iam_member.push_token_creator_pubsub_agent",
    }
    assert before_topics < agent_grants
    assert depends_on("time_sleep", "pubsub_agent_grants") == before_topics
    for topic in ("events", "dlq"):
        assert "time_sleep.pubsub_agent_grants" in depends_on("google_pubsub_topic", topic)


def test_the_modules_provider_constraints_are_the_examples():
    module = (TERRAFORM / "versions.tf").read_text()
    wanted = dict(re.findall(r'(\w[\w-]*) = \{\s*source\s*=\s*"hashicorp/[\w-]+"\s*version\s*=\s*"([^"]+)"', module))
    assert set(wanted) == {"google", "google-beta", "archive", "time"}
    for example in EXAMPLES:
        text = (example / "versions.tf").read_text()
        found = dict(re.findall(r'(\w[\w-]*) = \{\s*source\s*=\s*"hashicorp/[\w-]+"\s*version\s*=\s*"([^"]+)"', text))
        assert found == wanted, example.name
