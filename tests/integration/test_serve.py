"""`capi serve`: the whole relay in one process, no cloud: ingest, embedded queue, forwarder."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest
import requests

from tests.conftest import BIN, ROOT, free_port, wait_for_http
from tests.factories import EMAIL_HASH, RAW_EMAIL, purchase

pytestmark = pytest.mark.integration


def start_serve(tmp_path, env, *args, port=None, queue_file=None):
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
            str(queue_file or tmp_path / "queue.db"),
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


# -- faults and abuse (issue 22) --------------------------------------------------------------


def post_many(url, ids):
    """Each id posted once: the ids answered 202, and the statuses of the others."""
    accepted, refused = [], Counter()
    for event_id in ids:
        answer = requests.post(
            url + "/events",
            json=purchase(event_id=event_id),
            headers={"X-API-Key": "local-key"},
            timeout=30,
        )
        if answer.status_code == 202:
            accepted.append(event_id)
        else:
            refused[answer.status_code] += 1
    return accepted, refused


HOLD_LOCK = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("COMMIT")
"""


def test_a_journal_locked_by_another_process_for_15_s_loses_and_doubles_nothing(
    tmp_path, graph_standin
):
    """Another process holds the journal's write lock (BEGIN IMMEDIATE) for 15 s while events
    are being delivered and more arrive: new events get 503 and /healthz says why; every event
    answered 202 reaches Meta once; no worker dies (delivery goes on after the lock)."""
    graph_standin.delay_next(6, seconds=0.5)  # deliveries in flight when the lock is taken
    proc, url = start_serve(tmp_path, delivering(graph_standin))
    try:
        before, _ = post_many(url, [f"before-{i}" for i in range(6)])
        assert len(before) == 6
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLD_LOCK, str(tmp_path / "queue.db"), "15"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert holder.stdout.readline().strip() == "locked"
        locked_at = time.monotonic()
        during, refused = [], Counter()
        while time.monotonic() - locked_at < 8:  # an enqueue waits at most 5 s for the lock
            accepted, failed = post_many(url, [f"during-{len(during) + sum(refused.values())}"])
            during += accepted
            refused += failed
        assert during == [] and refused[503] >= 2 and set(refused) == {503}
        health = requests.get(url + "/healthz", timeout=10)
        assert health.status_code == 503 and "journal" in health.json()["reason"]
        graph_standin.wait_for_events(6, timeout=15)  # delivered while the journal is locked
        assert holder.wait(30) == 0
        after, _ = post_many(url, [f"after-{i}" for i in range(4)])
        assert len(after) == 4
        graph_standin.wait_for_events(10, timeout=30)
        deadline = time.monotonic() + 15
        while requests.get(url + "/healthz", timeout=10).status_code != 200:
            assert time.monotonic() < deadline, "the journal never became healthy again"
            time.sleep(0.2)
        time.sleep(2)  # a resend of a row whose DELETE failed would come now
    finally:
        stop(proc)
    assert sorted(graph_standin.event_ids()) == sorted(before + after)
    restart, _ = start_serve(tmp_path, delivering(graph_standin))
    stop(restart)
    assert "0 events recovered" in (tmp_path / "stderr").read_text().split("ingest on")[-1]


@pytest.fixture
def small_disk():
    """A 512 KiB tmpfs (the journal's disk), unmounted at the end; skipped where this user may
    not mount one (the unit tests fill a disk with a file-size limit instead)."""
    where = Path(tempfile.mkdtemp(prefix="capi-disk-"))
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        where.rmdir()
        pytest.skip("cannot mount a tmpfs here (not root): " + mounted.stderr.decode()[:200])
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)
        shutil.rmtree(where, ignore_errors=True)


def test_a_full_disk_gives_503_and_the_relay_recovers_when_space_is_freed(
    tmp_path, graph_standin, small_disk
):
    graph_standin.fail_next(1000, status=503)  # Meta down: the journal keeps every event
    env = delivering(graph_standin)
    proc, url = start_serve(tmp_path, env, queue_file=small_disk / "queue.db")
    filler = small_disk / "filler"
    try:
        with filler.open("wb") as f:  # the disk full but for about 100 KiB
            free = shutil.disk_usage(small_disk).free
            f.write(b"\0" * max(0, free - 100 * 1024))
        accepted, refused = post_many(url, [f"full-{i}" for i in range(150)])
        assert refused[503] > 0, "the disk never filled"
        assert set(refused) == {503}
        health = requests.get(url + "/healthz", timeout=10)
        assert health.status_code == 503
        filler.unlink()
        late, refused_late = post_many(url, ["late-1", "late-2"])
        assert late == ["late-1", "late-2"], refused_late
        assert requests.get(url + "/healthz", timeout=10).status_code == 200
        graph_standin.clear_faults()
        graph_standin.wait_for_events(len(accepted) + 2, timeout=90)
        time.sleep(2)
    finally:
        stop(proc)
    assert sorted(graph_standin.event_ids()) == sorted(accepted + late)


def test_a_second_serve_on_the_same_journal_refuses_to_start(tmp_path, graph_standin):
    proc, _ = start_serve(tmp_path, delivering(graph_standin))
    try:
        second = subprocess.run(
            [
                str(BIN / "capi"),
                "serve",
                "--port",
                str(free_port()),
                "--queue-file",
                str(tmp_path / "queue.db"),
            ],
            env={**os.environ, **delivering(graph_standin)},
            capture_output=True,
            text=True,
            timeout=30,
        )
    finally:
        stop(proc)
    assert second.returncode == 2
    assert f"in use by another capi serve (pid {proc.pid})" in second.stderr


def test_the_status_page_refuses_a_foreign_host(tmp_path, graph_standin):
    """DNS rebinding: a page of evil.example whose name now resolves to 127.0.0.1 reaches
    capi serve from the loopback address, but with its own name in Host."""
    proc, url = start_serve(tmp_path, delivering(graph_standin))
    port = url.rsplit(":", 1)[1]
    try:
        for path in ("/status", "/status.json", "/"):
            foreign = requests.get(url + path, headers={"Host": f"evil.example:{port}"}, timeout=5)
            assert foreign.status_code == 404, path
            for host in (f"localhost:{port}", f"127.0.0.1:{port}", "localhost"):
                local = requests.get(url + path, headers={"Host": host}, timeout=5)
                assert local.status_code == 200, (path, host)
    finally:
        stop(proc)


def _half_sent(port):
    """A connection that announced a body and sends only part of it."""
    sock = socket.create_connection(("127.0.0.1", int(port)), timeout=30)
    sock.sendall(
        b"POST /events HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        b'X-API-Key: local-key\r\nContent-Length: 1000\r\n\r\n{"data": ['
    )
    return sock


def _answer(sock):
    data = b""
    while True:
        try:
            chunk = sock.recv(4096)
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    return data


def test_slow_bodies_time_out_and_connections_are_capped(tmp_path, graph_standin):
    proc, url = start_serve(
        tmp_path,
        delivering(graph_standin),
        "--max-connections",
        "4",
        "--read-timeout",
        "2",
    )
    port = url.rsplit(":", 1)[1]
    slow = [_half_sent(port) for _ in range(4)]
    try:
        time.sleep(0.3)
        extra = socket.create_connection(("127.0.0.1", int(port)), timeout=10)
        busy = _answer(extra)
        assert busy.startswith(b"HTTP/1.1 503"), busy[:100]
        started = time.monotonic()
        answers = [_answer(s) for s in slow]
        assert time.monotonic() - started < 6
        assert all(a.startswith(b"HTTP/1.1 408") for a in answers), answers
        post_events(url, ["after-slow"])  # the slots are free again
        graph_standin.wait_for_events(1, timeout=15)
    finally:
        for s in slow:
            s.close()
        stop(proc)
