"""The relay as Cloud Run runs it: ingest and forward as `functions-framework` processes, wired
through the real Pub/Sub emulator (topics and push subscription created by
capi.tools.emulator.setup), delivering to the Graph API stand-in."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from capi.tools.emulator import DLQ_SUBSCRIPTION, setup
from tests.conftest import FunctionProcess, new_project_id, pull_messages

PIXEL = "1234567890"
API_KEY = "it-key-1"
TOKEN = "EAAtesttoken"


@dataclass
class CloudRelay:
    project: str
    names: dict[str, str]
    ingest: FunctionProcess
    forward: FunctionProcess
    processes: list[FunctionProcess] = field(default_factory=list)

    def post(self, body, *, key: str = API_KEY, path: str = "/events", headers=None, **kwargs):
        headers = {**({"X-API-Key": key} if key else {}), **(headers or {})}
        return requests.post(
            self.ingest.url + path, json=body, headers=headers, timeout=30, **kwargs
        )

    def dead_letters(self, n: int, timeout: float = 20.0) -> list:
        return pull_messages(
            f"projects/{self.project}/subscriptions/{DLQ_SUBSCRIPTION}", n, timeout
        )

    def stop(self) -> None:
        for proc in self.processes:
            proc.stop()


@pytest.fixture
def start_relay(
    pubsub_emulator, graph_standin, tmp_path: Path
) -> Iterator[Callable[..., CloudRelay]]:
    relays: list[CloudRelay] = []

    def start(
        *,
        ingest_env: dict[str, str] | None = None,
        forward_env: dict[str, str] | None = None,
        max_delivery_attempts: int = 5,
    ) -> CloudRelay:
        project = new_project_id()
        forward = FunctionProcess(
            "forward",
            {
                "CAPI_PIXEL_ID": PIXEL,
                "CAPI_ACCESS_TOKEN": TOKEN,
                "CAPI_GRAPH_URL": graph_standin.url,
                "CAPI_GRAPH_TIMEOUT": "2",
                "CAPI_DLQ_TOPIC": f"projects/{project}/topics/capi-events-dlq",
                **(forward_env or {}),
            },
            tmp_path / f"forward-{project}.log",
        )
        names = setup(
            project,
            push_endpoint=forward.url + "/",
            max_delivery_attempts=max_delivery_attempts,
            min_backoff_s=1,
            max_backoff_s=2,
        )
        ingest = FunctionProcess(
            "ingest",
            {
                "CAPI_PIXEL_ID": PIXEL,
                "CAPI_API_KEYS": API_KEY,
                "CAPI_TOPIC": names["topic"],
                **(ingest_env or {}),
            },
            tmp_path / f"ingest-{project}.log",
        )
        relay = CloudRelay(project, names, ingest, forward, [forward, ingest])
        relays.append(relay)
        forward.start()
        ingest.start()
        return relay

    yield start
    for relay in relays:
        relay.stop()
