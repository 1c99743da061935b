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


def start_serve(tmp_path, env, *args, port=None):
    port = port or free_port()
    out = (tmp_path / "stdout").open("ab")
    err = (tmp_path / "stderr").open("ab")
    proc = subprocess.Popen(
        [
            str(BIN / "capi"),
            "serve",
            "--port",
            str(port),
            "--dlq-file",
            str(tmp_path / "dlq"),
            "--queue-file",
            str(tmp_path / "queue.db"),
            *args,
        ],
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


def delivering(graph_standin, **extra):
    return {
        "CAPI_ACCESS_TOKEN": "EAAtesttoken",
        "CAPI_PIXEL_ID": "1234567890",
        "CAPI_GRAPH_URL": graph_standin.url,
        "CAPI_API_KEYS": "local-key",
        **extra,
    }


def post_events(url, ids):
    for event_id in ids:
        answer = requests.post(
            url + "/events",
            json=purchase(event_id=event_id),
            headers={"X-API-Key": "local-key"},
            timeout=10,
        )
        assert answer.status_code == 202


def test_sigkill_after_202_loses_nothing_the_next_start_delivers_it(tmp_path, graph_standin):
    graph_standin.fail_next(1000, status=503)  # Meta is down: nothing can be delivered yet
    env = delivering(graph_standin)
    proc, url = start_serve(tmp_path, env)
    port = int(url.rsplit(":", 1)[1])
    ids = [f"kill-{i}" for i in range(5)]
    post_events(url, ids)
    proc.kill()  # SIGKILL: no chance to flush anything
    proc.wait(10)
    graph_standin.clear_faults()
    proc, url = start_serve(tmp_path, env, port=port)
    try:
        graph_standin.wait_for_events(5, timeout=30)
    finally:
        stop(proc)
    assert sorted(graph_standin.event_ids()) == ids
    assert "5 events recovered" in (tmp_path / "stderr").read_text()


def test_sigterm_drains_within_its_bound_and_names_what_it_leaves_on_disk(tmp_path, graph_standin):
    graph_standin.fail_next(1000, status=503)
    env = delivering(graph_standin)
    proc, url = start_serve(tmp_path, env, "--drain-seconds", "1")
    port = int(url.rsplit(":", 1)[1])
    post_events(url, ["term-1", "term-2"])
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0
    assert time.monotonic() - started < 8
    stderr = (tmp_path / "stderr").read_text()
    assert "2 events not yet delivered are kept in" in stderr
    left = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    (warning,) = [e for e in left if e["message"] == "events not delivered before stopping"]
    assert sorted(warning["event_ids"]) == ["term-1", "term-2"]
    graph_standin.clear_faults()
    proc, url = start_serve(tmp_path, env, port=port)
    try:
        graph_standin.wait_for_events(2, timeout=30)
    finally:
        stop(proc)
    assert sorted(graph_standin.event_ids()) == ["term-1", "term-2"]


def test_the_journal_and_the_dead_letters_are_private_files(tmp_path, graph_standin):
    graph_standin.error_next(100, 2804019)
    proc, url = start_serve(tmp_path, delivering(graph_standin))
    try:
        post_events(url, ["dead-1"])
        deadline = time.monotonic() + 15
        while not (tmp_path / "dlq").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop(proc)
    assert (tmp_path / "dlq").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "queue.db").stat().st_mode & 0o777 == 0o600


def test_a_token_without_a_pixel_refuses_to_start(tmp_path):
    answer = subprocess.run(
        [str(BIN / "capi"), "serve", "--queue-file", str(tmp_path / "q.db")],
        env={**os.environ, "CAPI_ACCESS_TOKEN": "EAAx", "CAPI_PIXEL_ID": ""},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert answer.returncode == 2 and "CAPI_PIXEL_ID" in answer.stderr


def test_local_dead_letters_are_read_back_and_replayed_into_a_running_serve(
    tmp_path, graph_standin
):
    graph_standin.error_next(10, n=2)  # permission missing: a config error, dead-lettered
    proc, url = start_serve(tmp_path, delivering(graph_standin))
    try:
        post_events(url, ["perm-1", "perm-2"])
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and (
            not (tmp_path / "dlq").exists() or len((tmp_path / "dlq").read_text().splitlines()) < 2
        ):
            time.sleep(0.1)
        check = subprocess.run(
            [str(BIN / "capi"), "validate", "--json", str(tmp_path / "dlq")],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert check.returncode == 0, check.stdout + check.stderr
        ids = sorted(json.loads(line)["event_id"] for line in check.stdout.splitlines())
        assert ids == ["perm-1", "perm-2"]
        replay = subprocess.run(
            [
                str(BIN / "capi"),
                "replay",
                "--dlq-file",
                str(tmp_path / "dlq"),
                "--queue-file",
                str(tmp_path / "queue.db"),
                "--reason",
                "config",
                "--limit",
                "1",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert replay.returncode == 0, replay.stderr
        assert "replayed 1 of 2 dead letters" in replay.stderr
        (event,) = graph_standin.wait_for_events(1, timeout=15)
    finally:
        stop(proc)
    remaining = (tmp_path / "dlq").read_text().splitlines()
    assert len(remaining) == 1
    assert event["event_id"] != json.loads(remaining[0])["attributes"]["event_id"]
    assert (tmp_path / "dlq").stat().st_mode & 0o777 == 0o600
