"""`capi serve`: the whole relay in one process, no cloud: ingest, embedded queue, forwarder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest
import requests

from tests.conftest import BIN, ROOT, free_port, wait_for_http
from tests.factories import EMAIL_HASH, RAW_EMAIL, purchase

pytestmark = pytest.mark.integration


def start_serve(tmp_path, env):
    port = free_port()
    out = (tmp_path / "stdout").open("wb")
    err = (tmp_path / "stderr").open("wb")
    proc = subprocess.Popen(
        [str(BIN / "capi"), "serve", "--port", str(port), "--dlq-file", str(tmp_path / "dlq")],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=out,
        stderr=err,
    )
    wait_for_http(f"http://127.0.0.1:{port}/healthz", proc=proc)
    return proc, f"http://127.0.0.1:{port}"


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    proc.wait(15)


def test_serve_delivers_to_meta_when_a_token_is_set(tmp_path, graph_standin):
    proc, url = start_serve(
        tmp_path,
        {
            "CAPI_ACCESS_TOKEN": "EAAtesttoken",
            "CAPI_PIXEL_ID": "1234567890",
            "CAPI_GRAPH_URL": graph_standin.url,
            "CAPI_API_KEYS": "local-key",
        },
    )
    try:
        r = requests.post(
            url + "/events",
            json=purchase(event_id="serve-1"),
            headers={"X-API-Key": "local-key"},
            timeout=10,
        )
        assert r.status_code == 202
        (event,) = graph_standin.wait_for_events(1, timeout=15)
        assert event["event_id"] == "serve-1"
        assert event["user_data"]["em"] in (EMAIL_HASH, [EMAIL_HASH])
    finally:
        stop(proc)


def test_serve_dry_run_prints_the_exact_payload_hashed(tmp_path):
    proc, url = start_serve(tmp_path, {"CAPI_ACCESS_TOKEN": "", "CAPI_ACCESS_TOKEN_SECRET": ""})
    try:
        stderr = (tmp_path / "stderr").read_text()
        key = stderr.split("API key for this session: ")[1].split()[0]
        assert (
            requests.post(url + "/events", json=purchase(event_id="dry"), timeout=10).status_code
            == 401
        )
        r = requests.post(
            url + "/events",
            json=purchase(event_id="dry"),
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        )
        assert r.status_code == 202
        deadline = time.monotonic() + 10
        while "dry_run" not in (tmp_path / "stdout").read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop(proc)
    stdout = (tmp_path / "stdout").read_text()
    record = json.loads(stdout.splitlines()[0])
    assert record["payload"]["data"][0]["event_id"] == "dry"
    assert record["payload"]["data"][0]["user_data"]["em"] in (EMAIL_HASH, [EMAIL_HASH])
    assert RAW_EMAIL not in stdout and RAW_EMAIL not in (tmp_path / "stderr").read_text()
