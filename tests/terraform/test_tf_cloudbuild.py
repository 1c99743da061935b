"""cloudbuild.yaml: tests gate the deployment; init/plan/apply use the substitutions."""

from __future__ import annotations

import re

import pytest
import schema_check as sc
from tf_helpers import REPO

yaml = pytest.importorskip("yaml")  # PyYAML comes with checkov (requirements-dev.txt)

BUILD = REPO / "cloudbuild.yaml"
SUBSTITUTION = re.compile(r"\$\{(_[A-Z0-9_]+)\}")


@pytest.fixture(scope="module")
def build() -> dict:
    return yaml.safe_load(BUILD.read_text())


def step(build: dict, step_id: str) -> dict:
    (found,) = [s for s in build["steps"] if s.get("id") == step_id]
    return found


def args(build: dict, step_id: str) -> str:
    return " ".join(step(build, step_id).get("args", []))


def test_steps_run_in_order_and_tests_gate_terraform(build):
    ids = [s["id"] for s in build["steps"]]
    assert ids == [
        "check-substitutions",
        "lint-and-test",
        "terraform-init",
        "terraform-plan",
        "terraform-apply",
    ]
    # Steps without waitFor run sequentially and a failure stops the build (fail fast);
    # waitFor: ['-'] would start a step immediately, in parallel with the tests.
    assert all("waitFor" not in s for s in build["steps"])


def test_the_test_step_runs_the_project_ci_entry_point_with_ci_true(build):
    test = step(build, "lint-and-test")
    assert "CI=true" in test.get("env", [])
    script = args(build, "lint-and-test")
    assert ".ci/run" in script  # ruff check, ruff format --check, pytest (make test)
    assert "terraform" in script  # the fmt check needs the binary under CI=true
    ci = (REPO / ".ci" / "run").read_text()
    assert "make test" in ci


def test_terraform_steps_use_the_substitutions(build):
    init = args(build, "terraform-init")
    assert "-backend-config=bucket=${_STATE_BUCKET}" in init
    assert "-backend-config=prefix=${_STATE_PREFIX}" in init
    plan = args(build, "terraform-plan")
    for var, sub in (
        ("project_id", "_PROJECT_ID"),
        ("region", "_REGION"),
        ("pixel_id", "_PIXEL_ID"),
    ):
        assert f"-var={var}=${{{sub}}}" in plan
    assert "-out=tfplan" in plan
    apply = step(build, "terraform-apply")["args"]
    assert apply[0] == "apply" and apply[-1] == "tfplan" and "-input=false" in apply
    for step_id in ("terraform-init", "terraform-plan", "terraform-apply"):
        assert step(build, step_id)["dir"] == "${_TF_DIR}"
        assert step(build, step_id)["name"] == "hashicorp/terraform:${_TF_VERSION}"


def test_substitutions_are_declared_and_used(build):
    declared = set(build["substitutions"])
    used = set(SUBSTITUTION.findall(BUILD.read_text().split("\nsteps:", 1)[1]))
    assert used <= declared, used - declared
    assert declared - used == set(), "declared but unused (Cloud Build rejects them)"
    assert build["substitutions"]["_PROJECT_ID"] == "${PROJECT_ID}"
    assert build["options"]["dynamicSubstitutions"] is True


def test_the_applied_configuration_exists_and_keeps_its_state_in_gcs(build):
    directory = REPO / build["substitutions"]["_TF_DIR"]
    mod = sc.load_module(directory)
    backends = [b for t in mod.blocks if t.type == "terraform" for b in t.body.blocks_of("backend")]
    assert [b.labels for b in backends] == [["gcs"]]
    # every -var passed by the plan step is a variable of that configuration
    plan_vars = re.findall(r"-var=([a-z_]+)=", args(build, "terraform-plan"))
    assert set(plan_vars) <= set(mod.variables)
    required = {n for n, v in mod.variables.items() if "default" not in v.body.attributes}
    assert required <= set(plan_vars)
