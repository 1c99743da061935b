"""main.py: each target imports only its own modules, and bad settings stop the start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("CAPI_")}, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


MODULES = "import main, sys; print('\\n'.join(sys.modules))"
CLIENTS = {"google.cloud.pubsub_v1", "google.cloud.secretmanager", "grpc", "requests"}


def imported(target: str) -> set[str]:
    out = run(
        MODULES,
        FUNCTION_TARGET=target,
        CAPI_ACCESS_TOKEN="EAAx",
        CAPI_TOPIC="projects/p/topics/capi-events",
        CAPI_PIXEL_ID="1",
    )
    assert out.returncode == 0, out.stderr
    return set(out.stdout.split())


def test_ingest_target_does_not_import_the_forwarder_or_google_clients():
    modules = imported("ingest")
    assert "capi.ingest.handler" in modules
    assert sorted(m for m in modules if m.startswith("capi.forward")) == []
    assert not CLIENTS & modules  # clients are imported on the first request, after fork


def test_forward_target_does_not_import_ingest_or_google_clients():
    """Nothing of ingest at all: before, wiring brought capi.ingest.pixels (the routing) into
    the forward function."""
    modules = imported("forward")
    assert "capi.forward.forwarder" in modules
    assert sorted(m for m in modules if m == "capi.ingest" or m.startswith("capi.ingest.")) == []
    assert sorted(m for m in modules if m.startswith("capi.sources")) == []
    assert not CLIENTS & modules


def test_misconfiguration_stops_the_start_and_names_the_variable():
    out = run("import main", FUNCTION_TARGET="ingest", CAPI_TOPIC="not-a-path")
    assert out.returncode != 0
    assert "CAPI_TOPIC" in out.stderr


def test_a_forwarder_without_a_token_refuses_to_start():
    # regression: it used to start in dry-run mode and ack every event without sending it
    out = run("import main", FUNCTION_TARGET="forward")
    assert out.returncode != 0
    assert "CAPI_ACCESS_TOKEN" in out.stderr


def test_a_broken_webhook_mapping_stops_the_start():
    out = run(
        "import main",
        FUNCTION_TARGET="ingest",
        CAPI_TOPIC="projects/p/topics/capi-events",
        CAPI_WEBHOOK_MAPPINGS='{"crm": {"fields": ',
    )
    assert out.returncode != 0
    assert "CAPI_WEBHOOK_MAPPINGS" in out.stderr
