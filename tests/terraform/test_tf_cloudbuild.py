"""Cloud Build: the test build (cloudbuild-test.yaml) runs the suite with no deploy rights; the
deploy build (cloudbuild.yaml) runs no project code and deploys only a commit whose test build
passed; images pinned by digest, packages by hash."""

from __future__ import annotations

import json
import re

import pytest
import tfcli
from packaging.specifiers import SpecifierSet
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


TEST_BUILD = REPO / "cloudbuild-test.yaml"
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


@pytest.fixture(scope="module")
def test_build() -> dict:
    return yaml.safe_load(TEST_BUILD.read_text())


def test_the_deploy_build_runs_no_project_code_and_deploys_only_a_tested_commit(build):
    ids = [s["id"] for s in build["steps"]]
    assert ids == [
        "check-substitutions",
        "tests-passed",
        "terraform-init",
        "terraform-plan",
        "terraform-apply",
    ]
    # Steps without waitFor run sequentially and a failure stops the build (fail fast).
    assert all("waitFor" not in s for s in build["steps"])
    text = BUILD.read_text()
    for forbidden in (".ci/run", "pip install", "apt-get", "make ", "curl "):
        assert forbidden not in text, forbidden
    gate = args(build, "tests-passed")
    assert 'tags="capi-tests"' in gate and 'tags="commit-${_COMMIT}"' in gate
    assert 'status="SUCCESS"' in gate and "exit 1" in gate
    assert build["serviceAccount"] == "${_DEPLOY_SERVICE_ACCOUNT}"


def test_the_test_build_holds_no_deploy_step_and_marks_its_commit(test_build):
    assert test_build["serviceAccount"] == "${_TEST_SERVICE_ACCOUNT}"
    assert set(test_build["tags"]) == {"capi-tests", "commit-${_COMMIT}"}
    text = TEST_BUILD.read_text()
    for forbidden in ("terraform apply", "terraform plan", " apply", "gcloud functions deploy"):
        assert forbidden not in text.split("\nsteps:", 1)[1], forbidden
    test = step(test_build, "lint-and-test")
    assert "CI=true" in test["env"]
    assert "CAPI_PIP_LOCK=requirements-ci.lock" in test["env"]
    assert ".ci/run" in args(test_build, "lint-and-test")
    assert "make test" in (REPO / ".ci" / "run").read_text()


@pytest.mark.parametrize("config", ["cloudbuild.yaml", "cloudbuild-test.yaml"])
def test_every_image_is_pinned_by_digest_and_nothing_is_fetched_unchecked(config):
    build = yaml.safe_load((REPO / config).read_text())
    substitutions = build.get("substitutions", {})
    for s in build["steps"]:
        name = s["name"]
        image = substitutions.get(name[2:-1], name) if name.startswith("${") else name
        assert DIGEST.search(image), f"{s['id']}: {image} is not pinned by digest"
    text = (REPO / config).read_text()
    assert "curl" not in text and "wget" not in text


def test_the_locked_install_checks_every_hash_and_covers_every_requirement():
    makefile = (REPO / "Makefile").read_text()
    assert "--require-hashes -r $(CAPI_PIP_LOCK)" in makefile
    assert "--require-hashes -r requirements-tf.lock" in makefile  # the stand-in providers' env
    assert "--no-build-isolation" in makefile  # the build backend comes from the lock too
    lock = (REPO / "requirements-ci.lock").read_text()
    pinned = {
        m.group(1).lower().replace("_", "-")
        for m in re.finditer(r"^([A-Za-z0-9_.-]+)==\S+ \\$", lock, re.MULTILINE)
    }
    wanted = set()
    for name in ("requirements.txt", "requirements-dev.txt", "requirements-ci.in"):
        for line in (REPO / name).read_text().splitlines():
            line = line.split("#")[0].strip()
            if line and not line.startswith("-r"):
                wanted.add(re.split(r"[<>=!\[; ]", line)[0].lower().replace("_", "-"))
    assert wanted <= pinned, wanted - pinned
    blocks = lock.split("\n\n")
    assert all("--hash=sha256:" in b for b in blocks[1:] if "==" in b)
    assert "--find-links" not in lock and "/opt/" not in lock


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
        assert step(build, step_id)["name"] == "${_TF_IMAGE}"


def test_substitutions_are_declared_and_used(build):
    declared = set(build["substitutions"])
    rest = {k: v for k, v in build.items() if k != "substitutions"}
    used = set(SUBSTITUTION.findall(json.dumps(rest)))
    used |= {u for v in build["substitutions"].values() for u in SUBSTITUTION.findall(str(v))}
    assert used <= declared, used - declared
    assert declared - used == set(), "declared but unused (Cloud Build rejects them)"
    assert build["substitutions"]["_PROJECT_ID"] == "${PROJECT_ID}"
    assert build["options"]["dynamicSubstitutions"] is True


def test_the_applied_configuration_exists_and_keeps_its_state_in_gcs(build):
    directory = REPO / build["substitutions"]["_TF_DIR"]
    text = "\n".join(p.read_text() for p in directory.glob("*.tf"))
    assert re.findall(r'backend "(\w+)"', text) == ["gcs"]
    # every -var passed by the plan step is a variable of that configuration, and every variable
    # without a default is passed (terraform validate and test, in test_tf_validate.py, check the
    # rest of the configuration)
    blocks = dict(re.findall(r'^variable "(\w+)" \{(.*?)^\}', text, re.MULTILINE | re.DOTALL))
    plan_vars = re.findall(r"-var=([a-z_]+)=", args(build, "terraform-plan"))
    assert set(plan_vars) <= set(blocks)
    required = {n for n, body in blocks.items() if not re.search(r"^\s*default\s*=", body, re.M)}
    assert required <= set(plan_vars)


# -- what the test build must provide, and what the deploy build must check (issue 23) ----------

# How cloudbuild-test.yaml provides each tool the suite looks up: a Debian package it installs, the
# image itself, or a step of its own. A tool the tests start looking up (shutil.which, tool_or_skip)
# that is not in this table fails test_the_test_build_provides_every_tool_ci_requires.
PROVIDED_BY = {
    "gcloud": "image",  # google-cloud-cli:...-emulators: gcloud, the Pub/Sub emulator, Java
    "terraform": "step:terraform-binary",
    "node": "apt:nodejs",
    "npm": "apt:npm",  # the Makefile's npm ci for Meta's Node SDK
    "chromium": "apt:chromium",
    "checkov": "lock",  # a Python package of requirements-ci.lock
    "make": "apt:make",
    "python3 -m venv": "apt:python3-venv",
}
LOOKUP = re.compile(r"""(?:shutil\.which|tool_or_skip)\(\s*["']([\w.-]+)["']""")


def tools_the_suite_requires() -> set[str]:
    found = set()
    for path in (REPO / "tests").rglob("*.py"):
        found |= set(LOOKUP.findall(path.read_text()))
    found.discard("chromium-browser")  # the other name of chromium, looked up second
    if "command -v npm" in (REPO / "Makefile").read_text():
        found.add("npm")
    return found | {"make", "python3 -m venv"}  # .ci/run calls make, make makes the venvs


def test_the_test_build_provides_every_tool_ci_requires(test_build):
    required = tools_the_suite_requires()
    assert {"gcloud", "terraform", "node", "chromium", "npm"} <= required
    unknown = required - set(PROVIDED_BY)
    assert not unknown, f"say in PROVIDED_BY how cloudbuild-test.yaml provides {sorted(unknown)}"
    script = args(test_build, "lint-and-test")
    installed = set()
    for line in re.findall(r"apt-get install ([^\n>]*)", script):
        installed |= {w for w in line.split() if not w.startswith("-")}
    lock = (REPO / "requirements-ci.lock").read_text()
    for tool in required:
        kind, _, what = PROVIDED_BY[tool].partition(":")
        if kind == "apt":
            assert what in installed, f"{tool}: cloudbuild-test.yaml does not install {what}"
        elif kind == "step":
            assert step(test_build, what), tool
        elif kind == "lock":
            assert re.search(rf"^{tool}==", lock, re.MULTILINE), tool
        else:
            assert "emulators@sha256:" in step(test_build, "lint-and-test")["name"], tool
    # what .ci/run installs when it is missing, the build installs beforehand
    ci_run = (REPO / ".ci" / "run").read_text()
    for package in re.findall(r"apt-get install -y -q (\w+)", ci_run):
        assert package in installed, package


def test_the_lock_is_compiled_for_the_python_the_test_build_checks(test_build):
    lock = (REPO / "requirements-ci.lock").read_text()
    version = re.search(r"--python-version (3\.\d+)", lock.splitlines()[1])
    assert version, "requirements-ci.lock names the Python it is compiled for (make lock)"
    major, minor = version.group(1).split(".")
    script = args(test_build, "lint-and-test")
    assert f"sys.version_info[:2] != ({major}, {minor})" in script
    assert script.index("sys.version_info") < script.index(".ci/run")
    tf_lock = (REPO / "requirements-tf.lock").read_text()
    assert f"--python-version {version.group(1)}" in tf_lock.splitlines()[1]
    assert f"--python-version {version.group(1)}" in (REPO / "Makefile").read_text()


def test_the_deploy_build_runs_from_its_trigger_for_its_own_commit_only(build):
    check = args(build, "check-substitutions")
    assert 'test -n "${TRIGGER_NAME}"' in check
    assert 'test "${_COMMIT}" = "${COMMIT_SHA}"' in check
    assert check.index("TRIGGER_NAME") < check.index("_STATE_BUCKET")
    gate = args(build, "tests-passed")
    assert "buildTriggerId:*" in gate  # a test build started by hand does not count


def test_the_deploy_build_installs_only_the_locked_providers(build):
    assert "-lockfile=readonly" in step(build, "terraform-init")["args"]
    lock = (REPO / build["substitutions"]["_TF_DIR"] / ".terraform.lock.hcl").read_text()
    locked = dict(re.findall(r'provider "registry\.terraform\.io/hashicorp/([\w-]+)" \{\s*version\s*=\s*"([^"]+)"', lock))
    assert locked == tfcli.PROVIDERS  # the versions the offline checks validate against
    versions = (REPO / build["substitutions"]["_TF_DIR"] / "versions.tf").read_text()
    for name, version in locked.items():
        constraint = re.search(rf'{re.escape(name)} = \{{\s*source\s*=\s*"hashicorp/{re.escape(name)}"\s*version\s*=\s*"([^"]+)"', versions)
        assert constraint, name
        assert version in SpecifierSet(constraint.group(1).replace(" ", "")), (name, version)
        assert f'constraints = "{constraint.group(1)}"' in lock, name
    for block in re.findall(r"hashes = \[(.*?)\]", lock, re.DOTALL):
        hashes = re.findall(r'"(zh:[0-9a-f]{64})"', block)
        assert len(hashes) >= 10, "a zh: hash per published platform"
        assert len(hashes) == len(re.findall(r'"', block)) // 2
