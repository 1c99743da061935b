"""scripts/deploy.sh and scripts/cloud-build-setup.sh, run as a user runs them, against stand-ins
of gcloud, terraform and curl on PATH that record every call (Google Cloud cannot be reached from
here): the calls, their order, that no secret ever appears in a command line, and that the test
Purchase they send is an event ingest accepts."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from tf_helpers import REPO

from capi.meta.contract import check_event

FAKE = r"""#!/usr/bin/env bash
# Records its arguments (one call per line, JSON) and what it read on stdin for secrets.
log="$FAKE_DIR/calls"
python3 -c 'import json,sys; print(json.dumps(sys.argv[1:]))' "$(basename "$0")" "$@" >> "$log"
case "$(basename "$0") $*" in
  "gcloud secrets versions list"*) [ -f "$FAKE_DIR/has-versions" ] && echo "projects/p/secrets/s/versions/1"; exit 0 ;;
  "gcloud secrets versions add"*) cat > "$FAKE_DIR/stdin-$(printf '%s' "$4")"; exit 0 ;;
  "gcloud storage buckets describe"*) exit 1 ;;
  "gcloud iam service-accounts describe"*) exit 1 ;;
  "gcloud iam roles describe"*) exit 1 ;;
  "terraform output -json secret_ids") echo '{"meta_token": "capi-meta-token", "api_keys": "capi-api-keys"}' ;;
  "terraform output -raw ingest_url") printf '%s' "https://capi-ingest-abc123-ew.a.run.app" ;;
  "curl "*)
    while [ $# -gt 0 ]; do [ "$1" = -d ] && printf '%s' "$2" > "$FAKE_DIR/body"; shift; done
    echo '{"accepted": 1}' ;;
esac
exit 0
"""


@pytest.fixture
def fakes(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("gcloud", "terraform", "curl"):
        (bin_dir / name).write_text(FAKE)
        (bin_dir / name).chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_DIR": str(tmp_path)}


def calls(tmp_path: Path) -> list[list[str]]:
    return [json.loads(line) for line in (tmp_path / "calls").read_text().splitlines()]


def test_deploy_goes_from_an_empty_project_to_a_test_purchase(tmp_path, fakes):
    token = "EAAsecret-meta-token-value"
    run = subprocess.run(
        [str(REPO / "scripts" / "deploy.sh"), "my-project", "1234567890", "europe-west1"],
        input=token + "\n",
        env={**fakes, "TEST_EVENT_CODE": "TEST123", "CAPI_AUTO_APPROVE": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    made = calls(tmp_path)
    kinds = [" ".join(c[:3]) for c in made]
    assert kinds.index("gcloud services enable") < kinds.index("terraform init -input=false")
    apply = next(c for c in made if c[:2] == ["terraform", "apply"])
    assert "-auto-approve" in apply and "project_id=my-project" in apply
    assert "pixel_id=1234567890" in apply and "test_event_code=TEST123" in apply
    # the token and the keys travel on stdin, never as an argument
    assert (tmp_path / "stdin-capi-meta-token").read_text() == token
    keys = (tmp_path / "stdin-capi-api-keys").read_text()
    assert keys.startswith("sgtm=") and ",backend=" in keys
    assert token not in json.dumps(made)
    assert keys.split("backend=")[1] not in json.dumps([c for c in made if c[0] != "curl"])
    assert token not in run.stdout + run.stderr
    # the test Purchase is an event ingest accepts, with the backend key
    curl = next(c for c in made if c[0] == "curl")
    assert f"X-API-Key: {keys.split('backend=')[1]}" in curl
    assert "https://capi-ingest-abc123-ew.a.run.app/events" in curl
    (event,) = json.loads((tmp_path / "body").read_text())["data"]
    result = check_event(event, 0, now=time.time())
    assert result.status == "accepted", result.errors
    assert "Test events (code TEST123)" in run.stdout


def test_deploy_run_again_keeps_the_stored_secrets(tmp_path, fakes):
    (tmp_path / "has-versions").write_text("")
    run = subprocess.run(
        [str(REPO / "scripts" / "deploy.sh"), "my-project", "1234567890"],
        stdin=subprocess.DEVNULL,
        env={**fakes, "CAPI_AUTO_APPROVE": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    made = calls(tmp_path)
    assert not [c for c in made if c[:4] == ["gcloud", "secrets", "versions", "add"]]
    assert not [c for c in made if c[0] == "curl"]
    assert "has a token already: kept" in run.stdout


def test_deploy_refuses_a_pixel_id_that_is_not_a_number(tmp_path, fakes):
    run = subprocess.run(
        [str(REPO / "scripts" / "deploy.sh"), "my-project", "my pixel"],
        env=fakes,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.returncode == 2 and "PIXEL_ID" in run.stderr
    assert not (tmp_path / "calls").exists()


def test_cloud_build_setup_makes_the_accounts_the_staging_bucket_and_the_grants(tmp_path, fakes):
    table = json.loads((REPO / "terraform" / "deployer" / "permissions.json").read_text())
    run = subprocess.run(
        [str(REPO / "scripts" / "cloud-build-setup.sh"), "my-project", "europe-west1"],
        env=fakes,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    made = calls(tmp_path)
    deployer = "serviceAccount:capi-deployer@my-project.iam.gserviceaccount.com"
    tester = "serviceAccount:capi-tester@my-project.iam.gserviceaccount.com"
    roles_of = {}
    for call in made:
        if call[:3] == ["gcloud", "projects", "add-iam-policy-binding"]:
            member = next(a.split("=", 1)[1] for a in call if a.startswith("--member="))
            role = next(a.split("=", 1)[1] for a in call if a.startswith("--role="))
            roles_of.setdefault(member, []).append(role)
    assert roles_of[deployer] == [*table["deployer_roles"], "projects/my-project/roles/capiRelayDeployer"]
    assert roles_of[tester] == ["roles/logging.logWriter"]  # and nothing else on the project
    create = next(c for c in made if c[:4] == ["gcloud", "iam", "roles", "create"])
    assert "--permissions=serviceusage.services.generateServiceIdentity" in create
    staging = next(c for c in made if c[:4] == ["gcloud", "storage", "buckets", "add-iam-policy-binding"])
    assert staging[4] == "gs://my-project-capi-build-source"
    assert f"--member={tester}" in staging and "--role=roles/storage.objectViewer" in staging
    assert "--gcs-source-staging-dir=gs://my-project-capi-build-source/source" in run.stdout
