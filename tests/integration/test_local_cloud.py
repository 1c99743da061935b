"""README, "Run it as Cloud Run does": scripts/local-cloud.sh starts the emulator, the topics and
both functions, an event posted to ingest arrives, and `stop` leaves no process behind."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time

import pytest
import requests

from tests.conftest import ROOT, free_port, missing
from tests.factories import purchase

pytestmark = pytest.mark.integration
SCRIPT = ROOT / "scripts" / "local-cloud.sh"


def run(command: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(SCRIPT), command], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize(
    ("mode", "delivery"), [("dry-run", "drain"), ("delivering", "drain"), ("delivering", "push")]
)
def test_the_documented_local_cloud_runs_an_event_through_and_stops_cleanly(
    tmp_path, graph_standin, mode, delivery
):
    if shutil.which("gcloud") is None:
        missing("the Pub/Sub emulator (gcloud) is needed")
    ports = {name: free_port() for name in ("EMULATOR", "FORWARD", "INGEST")}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAPI_", "PUBSUB_EMULATOR"))}
    env.update({f"CAPI_LOCAL_{k}_PORT": str(v) for k, v in ports.items()})
    env["CAPI_LOCAL_DIR"] = str(tmp_path)
    env["CAPI_LOCAL_DELIVERY"] = delivery
    env["CAPI_LOCAL_DRAIN_INTERVAL"] = "1"  # the scheduler stand-in calls /drain every second
    if mode == "delivering":
        env.update(
            CAPI_ACCESS_TOKEN="EAAtesttoken",
            CAPI_PIXEL_ID="1234567890",
            CAPI_GRAPH_URL=graph_standin.url,
        )
    started = run("start", env)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        names = ["emulator", "forward", "ingest"] + (["scheduler"] if delivery == "drain" else [])
        pids = [int((tmp_path / f"{n}.pid").read_text()) for n in names]
        answer = requests.post(
            f"http://127.0.0.1:{ports['INGEST']}/events",
            json=purchase(event_id="local-cloud-1"),
            headers={"X-API-Key": "dev-key"},
            timeout=10,
        )
        assert answer.status_code == 202, answer.text
        if mode == "delivering":
            (event,) = graph_standin.wait_for_events(1, timeout=30)
            assert event["event_id"] == "local-cloud-1"
            if delivery == "drain":  # Cloud Scheduler's stand-in called POST /drain
                calls = tmp_path / "scheduler.log"
                deadline = time.monotonic() + 10
                while not re.search(r'"acked":\s*1', calls.read_text()):
                    assert time.monotonic() < deadline, calls.read_text()
                    time.sleep(0.2)
        else:
            deadline = time.monotonic() + 30
            log = tmp_path / "forward.log"
            while '"dry_run": true' not in log.read_text() and time.monotonic() < deadline:
                time.sleep(0.2)
            (printed,) = [
                json.loads(line)
                for line in log.read_text().splitlines()
                if '"dry_run": true' in line
            ]
            assert printed["payload"]["data"][0]["event_id"] == "local-cloud-1"
            assert "DRY RUN" in log.read_text()
    finally:
        stopped = run("stop", env)
    assert stopped.returncode == 0, stopped.stderr
    time.sleep(0.5)
    assert not [pid for pid in pids if alive(pid)]
    java = subprocess.run(["pgrep", "-f", f"port={ports['EMULATOR']}"], capture_output=True)
    assert java.stdout == b""  # the emulator's Java child is gone too
