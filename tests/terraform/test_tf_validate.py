"""The real Terraform CLI checks the Terraform, offline: `terraform init` from a filesystem mirror
of schema-only stand-in providers (tfcli.py), then `terraform validate` on the module and every
example, and `terraform test` (terraform/tests/*.tftest.hcl, mock providers, plan only).

Deliberately broken copies prove that each kind of mistake fails the suite with Terraform's own
message."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tfcli
from tf_helpers import EXAMPLES, REPO, TERRAFORM


@pytest.fixture(scope="module")
def terraform(tmp_path_factory: pytest.TempPathFactory) -> tfcli.Terraform:
    return tfcli.build_mirror(tmp_path_factory.mktemp("tf-mirror"))


@pytest.fixture(scope="module")
def tree(terraform: tfcli.Terraform, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An initialised copy of terraform/ (and of the function source it zips)."""
    copy = tfcli.copy_tree(tmp_path_factory.mktemp("tf-tree"))
    for directory in (copy, *(copy / "examples" / e.name for e in EXAMPLES)):
        init(terraform, directory)
    return copy


def init(terraform: tfcli.Terraform, directory: Path) -> None:
    result = terraform.run(directory, "init", "-backend=false", "-input=false", "-no-color")
    assert result.returncode == 0, result.stdout + result.stderr


def text(result) -> str:
    return " ".join((result.stdout + result.stderr).split())


@pytest.mark.parametrize("where", ["module", *(e.name for e in EXAMPLES)])
def test_terraform_validate_accepts_the_module_and_every_example(terraform, tree, where):
    directory = tree if where == "module" else tree / "examples" / where
    result = terraform.run(directory, "validate", "-no-color")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "The configuration is valid" in result.stdout


def test_terraform_test_passes_every_run(terraform, tree):
    result = terraform.run(tree, "test", "-no-color", timeout=900)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-6000:]
    passed = re.search(r"Success! (\d+) passed, 0 failed", result.stdout)
    assert passed and int(passed.group(1)) >= 50, result.stdout[-2000:]


def test_terraform_test_passes_in_the_production_example(terraform, tree):
    result = terraform.run(tree / "examples" / "production", "test", "-no-color", timeout=600)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-6000:]
    assert "Success! 2 passed, 0 failed" in result.stdout


# -- broken copies: each mistake fails, with Terraform's message ------------------------------


def broken(terraform, tmp_path, file: str, old: str, new: str) -> Path:
    copy = tfcli.copy_tree(tmp_path)
    path = copy / file
    source = path.read_text()
    assert old in source, f"{old!r} not in {file}: update this test with the module"
    path.write_text(source.replace(old, new, 1))
    init(terraform, copy)
    return copy


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        (  # an argument the resource does not have
            "pubsub.tf",
            "  ack_deadline_seconds       = var.forward.timeout_seconds\n",
            "  ack_deadline_seconds       = var.forward.timeout_seconds\n  ack_deadline = 10\n",
            'An argument named "ack_deadline" is not expected here',
        ),
        (  # a required argument left out
            "pubsub.tf",
            "  topic   = google_pubsub_topic.dlq.id\n",
            "",
            'The argument "topic" is required, but no definition was found',
        ),
        (  # a reference to something that does not exist
            "pubsub.tf",
            "dead_letter_topic     = google_pubsub_topic.dlq.id",
            "dead_letter_topic     = google_pubsub_topic.deadletters.id",
            'A managed resource "google_pubsub_topic" "deadletters" has not been declared',
        ),
        (  # more blocks than the schema allows
            "pubsub.tf",
            '  expiration_policy {\n    ttl = ""\n  }\n',
            '  expiration_policy {\n    ttl = ""\n  }\n  expiration_policy {\n    ttl = ""\n  }\n',
            'No more than 1 "expiration_policy" blocks are allowed',
        ),
        (  # a value for an attribute only the provider computes
            "iam.tf",
            'resource "google_service_account" "ingest" {\n',
            'resource "google_service_account" "ingest" {\n  unique_id = "123"\n',
            "Value for unconfigurable attribute",
        ),
    ],
    ids=["unknown-argument", "missing-required", "wrong-reference", "block-count", "computed"],
)
def test_a_broken_configuration_fails_validate_with_terraforms_message(
    terraform, tmp_path, file, old, new, message
):
    copy = broken(terraform, tmp_path, file, old, new)
    result = terraform.run(copy, "validate", "-no-color")
    assert result.returncode != 0
    assert message in text(result), result.stdout + result.stderr


def only_runs(tftest: str, *names: str) -> str:
    """A test file with its mocks, overrides and variables, but only the named runs."""
    head, *runs = re.split(r'(?m)^(?=run ")', tftest)
    kept = [r for r in runs if re.match(r'run "(\w+)"', r).group(1) in names]
    assert len(kept) == len(names), names
    return head + "".join(kept)


@pytest.mark.parametrize(
    ("file", "old", "new", "message", "run"),
    [
        (  # forward made public
            "functions.tf",
            'ingress_settings                 = "ALLOW_INTERNAL_ONLY"',
            'ingress_settings                 = "ALLOW_ALL"',
            "forward is internal and invoked by the push identity only",
            "only_ingest_is_public_and_forward_is_invoked_by_the_push_identity_alone",
        ),
        (  # the dead-letter policy removed
            "pubsub.tf",
            "  dead_letter_policy {\n    dead_letter_topic     = google_pubsub_topic.dlq.id\n"
            "    max_delivery_attempts = var.max_delivery_attempts\n  }\n",
            "",
            "retry with backoff, a dead-letter policy, never expire",
            "push_subscription_delivers_with_oidc_backoff_and_dead_letter",
        ),
    ],
    ids=["public-forward", "no-dead-letter-policy"],
)
def test_a_broken_design_fails_terraform_test_with_its_assertion(
    terraform, tmp_path, file, old, new, message, run
):
    copy = broken(terraform, tmp_path, file, old, new)
    shutil.rmtree(copy / "tests")
    (copy / "tests").mkdir()
    tests = (TERRAFORM / "tests" / "module.tftest.hcl").read_text()
    (copy / "tests" / "module.tftest.hcl").write_text(only_runs(tests, run))
    result = terraform.run(copy, "test", "-no-color", timeout=900)
    assert result.returncode != 0
    assert message in text(result), result.stdout[-4000:] + result.stderr[-4000:]


# -- the deployed zip --------------------------------------------------------------------------


def deployed_files(terraform, tree) -> list[str]:
    """local.source_files as Terraform itself evaluates it: what the functions' zip holds."""
    result = subprocess.run(
        [terraform.binary, "console", "-var=project_id=p", "-var=region=r", "-var=pixel_id=1"],
        cwd=tree,
        env=terraform.env,
        input="jsonencode(local.source_files)\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(json.loads(result.stdout.strip()))


def imported_by_the_functions() -> set[str]:
    """Every capi module main.py reaches for either target, lazy imports included."""
    sys.path.insert(0, str(REPO / "tests" / "unit"))
    from test_layout import GRAPH, imports_of

    pending = [m for m in imports_of(REPO / "main.py") if m in GRAPH]
    seen: set[str] = set()
    while pending:
        module = pending.pop()
        if module not in seen:
            seen.add(module)
            pending += GRAPH[module]
    return seen


def test_the_zip_holds_what_the_functions_import_and_not_the_command_line(terraform, tree):
    files = deployed_files(terraform, tree)
    assert "main.py" in files and "requirements.txt" in files
    assert not [f for f in files if f.startswith("capi/tools/") or f == "capi/__main__.py"]
    needed = imported_by_the_functions()
    assert {"capi.wiring", "capi.ingest.handler", "capi.forward.forwarder"} <= needed
    missing = sorted(
        m
        for m in needed
        if m.replace(".", "/") + ".py" not in files
        and m.replace(".", "/") + "/__init__.py" not in files
    )
    assert missing == [], "imported by the functions but not deployed"
    assert not any(m.startswith("capi.tools") for m in needed), "a function imports the CLI"


def test_the_production_lock_file_is_read_and_its_versions_are_the_ones_installed(terraform, tmp_path):
    """`terraform init -lockfile=readonly` (cloudbuild.yaml) with the committed lock file: every
    provider is the locked version, and a lock naming a version that is not there stops init
    (the registry's zip hashes cannot be checked offline: the mirror serves unpacked stand-ins)."""
    copy = tfcli.copy_tree(tmp_path / "locked")
    example = copy / "examples" / "production"
    lock = (REPO / "terraform" / "examples" / "production" / ".terraform.lock.hcl").read_text()
    (example / ".terraform.lock.hcl").write_text(lock)
    result = terraform.run(example, "init", "-backend=false", "-input=false", "-no-color", "-lockfile=readonly")
    assert result.returncode == 0, result.stdout + result.stderr
    for name in tfcli.PROVIDERS:
        assert f"Reusing previous version of hashicorp/{name} from the dependency lock file" in result.stdout
    shutil.rmtree(example / ".terraform")
    (example / ".terraform.lock.hcl").write_text(lock.replace('version     = "0.13.1"', 'version     = "0.13.0"'))
    stale = terraform.run(example, "init", "-backend=false", "-input=false", "-no-color", "-lockfile=readonly")
    assert stale.returncode != 0
    assert "0.13.0" in text(stale)
