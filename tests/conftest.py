"""Shared fixtures: the real Pub/Sub emulator, the Graph API and Secret Manager stand-ins, and
the two targets run as real `functions-framework` processes.

When the emulator (gcloud's pubsub component, Java) is missing, integration tests fail with a
clear message under CI=true and are skipped with that message otherwise.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
_project_ids = itertools.count(1)


def missing(message: str) -> None:
    """Fail under CI (a missing tool must not pass silently), skip elsewhere."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_http(url: str, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process for {url} exited with {proc.returncode}")
        try:
            requests.get(url, timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


class PubSubEmulator:
    """gcloud's Pub/Sub emulator on a fixed loopback port; can be stopped and started again."""

    def __init__(self, gcloud: str, port: int, log_path: Path) -> None:
        self.gcloud = gcloud
        self.port = port
        self.host = f"127.0.0.1:{port}"
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 90.0) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                self.gcloud,
                "beta",
                "emulators",
                "pubsub",
                "start",
                f"--host-port={self.host}",
                "--project=capi-test",
                "--quiet",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"the Pub/Sub emulator exited ({self.proc.returncode}); see {self.log_path}:\n"
                    + self.log_path.read_text(errors="replace")[-2000:]
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    if b"Server started" in self.log_path.read_bytes():
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"the Pub/Sub emulator did not start within {timeout}s")

    def stop(self) -> None:
        """Stop the emulator and return once its port refuses connections: gcloud exits before
        the emulator's Java process, which may go on serving for a moment under load (a test
        that stops the queue would then see its publishes succeed)."""
        if self.proc is not None and self.proc.poll() is None:
            group = self.proc.pid
            os.killpg(group, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(group, signal.SIGKILL)
                self.proc.wait(10)
            for signal_after in (signal.SIGKILL, None):  # 10 s, then SIGKILL and 10 s more
                deadline = time.monotonic() + 10
                while self._listening() and time.monotonic() < deadline:
                    time.sleep(0.05)
                if not self._listening():
                    break
                if signal_after is None:
                    raise RuntimeError(f"port {self.port} still answers after the emulator stopped")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(group, signal_after)
        self.proc = None

    def _listening(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
        except OSError:
            return False
        return True

    def restart(self, timeout: float = 90.0) -> None:
        """Stop, then start again on the same port; returns once the new server says it started.

        The emulator keeps everything in memory: topics and subscriptions are gone afterwards.
        """
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.stop()
        self.start(timeout)
        deadline = time.monotonic() + timeout
        while b"Server started" not in self.log_path.read_bytes()[offset:]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the Pub/Sub emulator did not restart within {timeout}s")
            time.sleep(0.1)


@pytest.fixture(scope="session")
def pubsub_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PubSubEmulator]:
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        missing(
            "the Pub/Sub emulator is needed: install the Google Cloud CLI with the "
            "pubsub-emulator component (and Java), e.g. apt-get install google-cloud-cli "
            "google-cloud-cli-pubsub-emulator default-jre-headless"
        )
    emulator = PubSubEmulator(gcloud, free_port(), tmp_path_factory.mktemp("emulator") / "log")
    try:
        emulator.start()
    except (RuntimeError, TimeoutError) as exc:
        emulator.stop()
        missing(f"the Pub/Sub emulator could not start: {exc}")
    previous = os.environ.get("PUBSUB_EMULATOR_HOST")
    os.environ["PUBSUB_EMULATOR_HOST"] = emulator.host
    yield emulator
    emulator.stop()
    if previous is None:
        os.environ.pop("PUBSUB_EMULATOR_HOST", None)
    else:
        os.environ["PUBSUB_EMULATOR_HOST"] = previous


def new_project_id() -> str:
    """A fresh emulator project per use, so tests never see each other's topics."""
    return f"capi-it-{os.getpid()}-{next(_project_ids)}"


class FunctionProcess:
    """One Functions Framework target served by the real `functions-framework` command."""

    def __init__(
        self, target: str, env: dict[str, str], log_path: Path, source: Path = ROOT / "main.py"
    ) -> None:
        self.target = target
        self.source = source
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self._log_file = None

    def start(self) -> FunctionProcess:
        env = {**os.environ, **self.env}
        self._log_file = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                str(BIN / "functions-framework"),
                "--source",
                str(self.source),
                "--target",
                self.target,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            cwd=ROOT,
            env=env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for_http(self.url + "/healthz", proc=self.proc)  # any answer means it is serving
        return self

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.proc.wait(10)
        if self._log_file is not None:
            self._log_file.close()

    def restart(self) -> FunctionProcess:
        """Start the target again on the same port and log file, after stop() or a kill (a
        Pub/Sub push subscription names a fixed endpoint). Waits for the old process to end."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.stop()
            else:
                self.proc.wait(10)
        if self._log_file is not None and not self._log_file.closed:
            self._log_file.close()
        return self.start()


@pytest.fixture
def graph_standin() -> Iterator:
    from tests.standins.meta_graph import MetaGraphStandIn

    with MetaGraphStandIn(tokens=["EAAtesttoken"], pixels=["1234567890"]) as standin:
        yield standin


@pytest.fixture
def secret_standin() -> Iterator:
    from tests.standins.secret_manager import SecretManagerStandIn

    with SecretManagerStandIn() as standin:
        yield standin


def pull_messages(subscription: str, n: int, timeout: float = 20.0) -> list:
    """Pull (and ack) until n messages arrived or the timeout passed; returns them all."""
    from google.cloud import pubsub_v1

    subscriber = pubsub_v1.SubscriberClient()
    received: list = []
    deadline = time.monotonic() + timeout
    try:
        while len(received) < n and time.monotonic() < deadline:
            response = subscriber.pull(
                request={"subscription": subscription, "max_messages": 100}, timeout=5
            )
            if response.received_messages:
                subscriber.acknowledge(
                    request={
                        "subscription": subscription,
                        "ack_ids": [m.ack_id for m in response.received_messages],
                    }
                )
                received.extend(m.message for m in response.received_messages)
            else:
                time.sleep(0.2)
    finally:
        subscriber.close()
    return received


def pull_until_quiet(
    subscription: str, n: int = 0, *, timeout: float = 30.0, quiet: float = 1.0
) -> list:
    """Pull (and ack) until at least n messages arrived or the timeout passed, then go on until
    nothing more came for `quiet` seconds; returns them all. It asks with return_immediately,
    so showing that *nothing more* arrives costs `quiet` seconds, not the ~4 s an empty
    pull_messages call waits in the emulator."""
    import warnings

    from google.cloud import pubsub_v1

    subscriber = pubsub_v1.SubscriberClient()
    received: list = []
    deadline = time.monotonic() + timeout
    last_news = time.monotonic()
    try:
        while True:
            with warnings.catch_warnings():  # return_immediately is deprecated, still served
                warnings.simplefilter("ignore", DeprecationWarning)
                response = subscriber.pull(
                    request={
                        "subscription": subscription,
                        "max_messages": 100,
                        "return_immediately": True,
                    },
                    timeout=5,
                )
            if response.received_messages:
                subscriber.acknowledge(
                    request={
                        "subscription": subscription,
                        "ack_ids": [m.ack_id for m in response.received_messages],
                    }
                )
                received.extend(m.message for m in response.received_messages)
                last_news = time.monotonic()
                continue
            now = time.monotonic()
            if len(received) >= n and now - last_news >= quiet:
                break
            if len(received) < n and now > deadline:
                break
            time.sleep(0.1)
    finally:
        subscriber.close()
    return received


@pytest.fixture
def capture_logs() -> Iterator:
    """The relay's log lines written during the test, as parsed JSON objects (call it)."""
    import io
    import json

    from capi import logs

    stream = io.StringIO()
    logs.set_stream(stream)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logs.set_stream(None)
