"""The deployer's roles and the module's resource types stay in step (issue 23): every type the
Terraform declares has the permissions its create, read, update and delete calls need in
terraform/deployer/permissions.json, and a role the deployer is given grants each of them. A mock
plan cannot see this: Google refuses the call at apply time (before: no deployer role held
logging.logMetrics.create, so the first real apply would have stopped at the log-based metrics)."""

from __future__ import annotations

import json
import re

from tf_helpers import REPO, TERRAFORM

TABLE = json.loads((TERRAFORM / "deployer" / "permissions.json").read_text())
DECLARED = re.compile(r'^\s*(resource|data)\s+"(\w+)"', re.MULTILINE)


def declared_types() -> set[str]:
    found = set()
    for path in TERRAFORM.rglob("*.tf"):
        if ".terraform" not in path.parts:
            found |= {name for _, name in DECLARED.findall(path.read_text())}
    return found


def granted(roles: list[str]) -> set[str]:
    permissions = set(TABLE["custom_role"]["permissions"])
    for role in roles:
        permissions |= set(TABLE["roles"][role])
    return permissions


def test_every_declared_type_has_its_permissions_in_the_table():
    missing = declared_types() - set(TABLE["resource_types"])
    assert not missing, f"add the IAM permissions of {sorted(missing)} to permissions.json"
    assert declared_types() >= {"google_logging_metric", "google_project_service_identity"}


def test_the_deployer_roles_grant_every_permission_the_module_needs():
    roles = TABLE["deployer_roles"]
    have = granted(roles)
    conditional = {t for r in TABLE["conditional_roles"].values() for t in r["for"]}
    for kind in declared_types():
        if kind in conditional:
            continue
        lacking = set(TABLE["resource_types"][kind]) - have
        assert not lacking, f"{kind} needs {sorted(lacking)}, which no deployer role grants"
    assert set(TABLE["build"]["permissions"]) <= have


def test_conditional_roles_grant_what_their_types_need():
    for role, rule in TABLE["conditional_roles"].items():
        for kind in rule["for"]:
            lacking = set(TABLE["resource_types"][kind]) - set(TABLE["roles"][role])
            assert not lacking, f"{role} does not grant {sorted(lacking)} for {kind}"


def test_the_table_would_catch_the_missing_log_metrics_role():
    """The check fails without roles/logging.configWriter, as the deployer was before."""
    roles = [r for r in TABLE["deployer_roles"] if r != "roles/logging.configWriter"]
    lacking = set(TABLE["resource_types"]["google_logging_metric"]) - granted(roles)
    assert "logging.logMetrics.create" in lacking


def test_the_table_holds_only_real_permission_and_role_names_with_their_source():
    permission = re.compile(r"^[a-z0-9]+\.[a-zA-Z0-9]+\.[a-zA-Z0-9]+$")
    everything = [p for ps in TABLE["resource_types"].values() for p in ps]
    everything += [p for ps in TABLE["roles"].values() for p in ps]
    assert all(permission.match(p) for p in everything), [p for p in everything if not permission.match(p)]
    assert set(TABLE["deployer_roles"]) <= set(TABLE["roles"])
    assert all(r.startswith("roles/") for r in TABLE["roles"])
    assert re.match(r"^\d{4}-\d{2}-\d{2}$", TABLE["checked"]) and TABLE["sources"]["roles"].startswith("https://")
    assert not {"roles/owner", "roles/editor"} & set(TABLE["deployer_roles"])


def test_the_setup_script_grants_exactly_the_tables_roles_and_custom_role():
    script = (REPO / "scripts" / "cloud-build-setup.sh").read_text()
    listed = re.search(r"DEPLOYER_ROLES=\(\s*(.*?)\s*\)", script, re.DOTALL)
    assert listed, "DEPLOYER_ROLES=( ... ) in scripts/cloud-build-setup.sh"
    assert listed.group(1).split() == TABLE["deployer_roles"]
    custom = TABLE["custom_role"]
    assert f'CUSTOM_ROLE={custom["id"]}' in script
    assert f'CUSTOM_PERMISSIONS={",".join(custom["permissions"])}' in script
