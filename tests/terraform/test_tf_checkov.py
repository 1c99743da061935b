"""checkov on terraform/: no failed check; every skip carries its justification on the resource.

Offline: --skip-download (no Prisma Cloud metadata), BC_SKIP_MAPPING=TRUE (no guideline mapping),
CKV_SKIP_PACKAGE_UPDATE_CHECK=TRUE (no PyPI version check in the banner).
--quiet is not passed: it drops the skipped checks from the JSON, whose reasons are checked here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from tf_helpers import REPO, TERRAFORM, tool_or_skip

OFFLINE_ENV = {
    "BC_SKIP_MAPPING": "TRUE",
    "CKV_SKIP_PACKAGE_UPDATE_CHECK": "TRUE",
    "CHECKOV_REQUEST_CONNECT_TIMEOUT": "2",
    "REQUEST_MAX_TRIES": "1",
}
SKIP_COMMENT = re.compile(r"checkov:skip=([A-Z0-9_]+)(?::(.*))?")
MIN_REASON = 40  # characters: a reason, not a shrug


def run_checkov(directory: Path) -> dict:
    checkov = tool_or_skip("checkov", Path(sys.executable).parent / "checkov")
    cmd = [
        checkov,
        "-d",
        str(directory),
        "--framework",
        "terraform",
        "--compact",
        "--skip-download",
        "-o",
        "json",
    ]
    result = subprocess.run(
        cmd,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **OFFLINE_ENV},
    )
    try:
        data = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"checkov did not print JSON (exit {result.returncode}):\n{result.stderr}")
    runs = data if isinstance(data, list) else [data]
    runs = [r for r in runs if r.get("check_type") == "terraform"]
    assert len(runs) == 1, f"expected one terraform run, got {data!r:.2000}"
    return runs[0]


@pytest.fixture(scope="module")
def checkov_run() -> dict:
    return run_checkov(TERRAFORM)


def test_checkov_has_no_failed_check(checkov_run):
    summary = checkov_run["summary"]
    failed = checkov_run["results"].get("failed_checks", [])
    print(f"checkov {summary.get('checkov_version')}: {summary}")
    for c in checkov_run["results"].get("skipped_checks", []):
        print(
            f"skipped {c['check_id']} on {c['resource']}: {c['check_result']['suppress_comment']}"
        )
    assert summary["parsing_errors"] == 0, summary
    assert summary["resource_count"] >= 30, f"checkov saw almost nothing: {summary}"
    assert summary["passed"] >= 15, summary
    assert not failed, "\n".join(
        f"{c['check_id']} {c['check_name']}: {c['resource']} ({c['file_path']}:"
        f"{c['file_line_range']})"
        for c in failed
    )


def test_every_checkov_skip_is_justified(checkov_run):
    for c in checkov_run["results"].get("skipped_checks", []):
        reason = (c["check_result"].get("suppress_comment") or "").strip()
        assert len(reason) >= MIN_REASON, f"{c['check_id']} on {c['resource']}: {reason!r}"


def test_skip_comments_in_the_sources_carry_reasons():
    seen = 0
    for path in TERRAFORM.rglob("*.tf"):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            m = SKIP_COMMENT.search(line)
            if not m:
                continue
            seen += 1
            reason = (m.group(2) or "").strip()
            assert len(reason) >= MIN_REASON, f"{path}:{n}: skip without a real reason"
    assert seen >= 1


def test_checkov_really_checks(tmp_path):
    """A canary: a public, unprotected bucket must fail, or the checkov run proves nothing."""
    (tmp_path / "main.tf").write_text(
        'resource "google_storage_bucket" "b" {\n  name = "b"\n  location = "EU"\n}\n'
        'resource "google_storage_bucket_iam_member" "p" {\n  bucket = "b"\n'
        '  role = "roles/storage.objectViewer"\n  member = "allUsers"\n}\n'
    )
    run = run_checkov(tmp_path)
    failed = {c["check_id"] for c in run["results"].get("failed_checks", [])}
    assert {"CKV_GCP_28", "CKV_GCP_29", "CKV_GCP_114"} <= failed, failed
