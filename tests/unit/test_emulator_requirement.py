"""Without the Pub/Sub emulator, integration tests fail loudly under CI and skip elsewhere."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # make test-fast leaves these generated runs out

ROOT = Path(__file__).resolve().parents[2]
TARGET = "tests/integration/test_replay.py::test_bad_duration_is_a_clear_error"


def run_without_gcloud(ci: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"CI", "PUBSUB_EMULATOR_HOST"}}
    env["PATH"] = str(Path(sys.executable).parent)  # the venv only: no gcloud
    env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", TARGET],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(("ci", "outcome"), [("true", "1 error"), ("false", "1 skipped")])
def test_missing_emulator_is_explained(ci, outcome):
    result = run_without_gcloud(ci)
    assert outcome in result.stdout, result.stdout[-2000:]
    assert "the Pub/Sub emulator is needed" in result.stdout
