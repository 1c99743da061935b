"""The draining forwarder through the real Pub/Sub emulator: a pull subscription (with the dead-
letter policy the push one has), `Drainer` built by capi.wiring from the settings, the real
pull/ack client, the Graph stand-in with injected faults. docs/RELIABILITY.md maps each test to
the guarantee it proves. What every test checks in the end: each published event is at the
stand-in with its own event_id or in the DLQ with the reason, never both, never neither, and
the subscription holds nothing afterwards."""

from __future__ import annotations

import base64
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from capi import wiring
from capi.config import Settings
from capi.forward.drainer import Drainer
from capi.queueing.messages import event_message
from capi.queueing.pubsub import PubSubPublisher
from capi.queueing.pull import PubSubSubscription
from capi.tools.emulator import setup
from tests.conftest import FunctionProcess, new_project_id, pull_until_quiet
from tests.factories import purchase
from tests.integration.conftest import PIXEL, TOKEN

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class DrainRig:
    names: dict[str, str]
    env: dict[str, str]
    drainer: Drainer

    def publish(self, events: list[dict]) -> list[str]:
        publisher = PubSubPublisher(self.names["topic"], max_inflight=0)
        for start in range(0, len(events), 500):
            chunk = events[start : start + 500]
            publisher.publish_all([event_message(e, pixel_id=PIXEL) for e in chunk])
        return [e["event_id"] for e in events]

    def dead_letters(self, quiet: float = 1.0) -> list:
        return pull_until_quiet(self.names["dlq_subscription"], quiet=quiet)

    def left_in_queue(self) -> list:
        return pull_until_quiet(self.names["drain_subscription"], quiet=0.5)


@pytest.fixture
def drain_rig(pubsub_emulator, graph_standin) -> Iterator[Callable[..., DrainRig]]:
    rigs: list[DrainRig] = []

    def start(*, ack_deadline_s: int = 30, env: dict[str, str] | None = None) -> DrainRig:
        project = new_project_id()
        names = setup(
            project, push_endpoint=None, max_delivery_attempts=5, ack_deadline_s=ack_deadline_s
        )
        full_env = {
            "CAPI_PIXEL_ID": PIXEL,
            "CAPI_ACCESS_TOKEN": TOKEN,
            "CAPI_GRAPH_URL": graph_standin.url,
            "CAPI_GRAPH_TIMEOUT": "20",
            "CAPI_DLQ_TOPIC": names["dlq_topic"],
            "CAPI_DRAIN_SUBSCRIPTION": names["drain_subscription"],
            "CAPI_DRAIN_ACK_DEADLINE": str(ack_deadline_s),
            "PUBSUB_EMULATOR_HOST": os.environ["PUBSUB_EMULATOR_HOST"],
            **(env or {}),
        }
        drainer = wiring.build_forward(Settings.from_env(full_env))
        assert isinstance(drainer, Drainer)
        drainer.retry_backoff_s = (1, 2)  # the tests wait seconds, not minutes
        rig = DrainRig(names, full_env, drainer)
        rigs.append(rig)
        return rig

    yield start
    for rig in rigs:
        rig.drainer.subscription.close()


def events(prefix: str, n: int, **overrides) -> list[dict]:
    return [purchase(event_id=f"{prefix}-{i}", **overrides) for i in range(n)]


def assert_each_once(at_meta: list, dead: list, expected: list[str]) -> None:
    counts = Counter(at_meta)
    assert [i for i, c in counts.items() if c > 1] == [], "delivered twice"
    assert set(counts) & set(dead) == set(), "both delivered and dead-lettered"
    assert sorted(set(counts) | set(dead)) == sorted(expected), "lost"
    assert len(dead) == len(set(dead)), "dead-lettered twice"


def drain_until_quiet(drainer: Drainer, settle_s: float = 3.0, timeout: float = 60) -> list:
    """Drain, wait for what was given back to return, drain again, until a drain finds nothing
    after `settle_s`."""
    reports = []
    waiting = True  # the caller's last drain may have given messages back
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if waiting:
            time.sleep(settle_s)
        report = drainer.drain()
        reports.append(report)
        if report.pulled == 0:
            break
        waiting = report.retried > 0
    return reports


def test_a_burst_of_600_reaches_meta_in_a_few_requests(drain_rig, graph_standin):
    """The issue's goal: 600 events, Meta answering after 150 ms, <= 20 Graph requests, none
    lost, none doubled."""
    graph_standin.latency_s = 0.15
    rig = drain_rig()
    expected = rig.publish(events("burst", 600))
    report = rig.drainer.drain()
    assert report.acked == 600 and report.retried == 0 and report.stopped == "empty"
    assert len(graph_standin.requests) <= 20, len(graph_standin.requests)
    assert_each_once(graph_standin.event_ids(), [], expected)
    assert rig.left_in_queue() == [] and rig.dead_letters() == []


def test_a_lingering_drain_delivers_events_about_a_second_after_they_are_queued(
    drain_rig, graph_standin
):
    """The low-latency drain (CAPI_DRAIN_LINGER): a drain that keeps polling the empty
    subscription sends each event published meanwhile about a second later, not at the next
    scheduled drain; it ends when its linger does, not at its budget."""
    graph_standin.latency_s = 0.15
    rig = drain_rig(env={"CAPI_DRAIN_BUDGET": "30", "CAPI_DRAIN_LINGER": "9"})
    with ThreadPoolExecutor(1) as pool:
        started = time.monotonic()
        running = pool.submit(rig.drainer.drain)
        published: dict[str, float] = {}
        for i in range(6):
            time.sleep(1.0)
            (event_id,) = rig.publish([purchase(event_id=f"linger-{i}")])
            published[event_id] = time.time()
        report = running.result(timeout=60)
        took = time.monotonic() - started
    assert report.acked == 6 and report.stopped == "empty"
    assert 8 <= took < 15  # it lingered about 9 s (its last poll a second before), not 30
    arrival = {
        event["event_id"]: request.arrival
        for request in graph_standin.accepted_requests()
        for event in request.events
    }
    latencies = sorted(arrival[i] - published[i] for i in published)
    print(f"\nlingering drain: publish to Meta, s: {[round(x, 2) for x in latencies]}")
    assert latencies[-1] <= 2.5, latencies  # a 1 s poll, the emulator, Meta's 150 ms
    assert_each_once(graph_standin.event_ids(), [], list(published))
    assert rig.left_in_queue() == [] and rig.dead_letters() == []


@pytest.mark.parametrize(
    "inject",
    [
        pytest.param(lambda s: s.fail_next(1, status=503), id="5xx"),
        pytest.param(lambda s: s.error_next(4, status=400), id="throttled"),
        pytest.param(lambda s: s.error_next(2, status=500, is_transient=True), id="is_transient"),
    ],
)
def test_transient_failures_are_given_back_then_delivered_once(drain_rig, graph_standin, inject):
    rig = drain_rig()
    expected = rig.publish(events("transient", 50))
    inject(graph_standin)
    first = rig.drainer.drain()
    # The whole batch failed: the drain stops and leaves the rest to the next one.
    assert first.acked == 0 and first.retried == 50 and first.stopped == "transient"
    assert graph_standin.event_ids() == []
    drain_until_quiet(rig.drainer)
    assert_each_once(graph_standin.event_ids(), [], expected)
    assert rig.left_in_queue() == [] and rig.dead_letters() == []


def test_permanent_errors_are_dead_lettered_once_with_their_reason(drain_rig, graph_standin):
    rig = drain_rig()
    expected = rig.publish(events("refused", 30))
    graph_standin.error_next(10, status=403)  # permission: concerns the request, every event
    report = rig.drainer.drain()
    assert report.acked == 30 and report.retried == 0
    letters = rig.dead_letters()
    assert {m.attributes["dlq_reason"] for m in letters} == {"config"}
    assert {m.attributes["error_code"] for m in letters} == {"10"}
    dead = [json.loads(m.data)["event_id"] for m in letters]
    assert_each_once(graph_standin.event_ids(), dead, expected)
    assert rig.left_in_queue() == []


def test_a_rejected_batch_is_split_so_only_the_events_at_fault_are_dead_lettered(
    drain_rig, graph_standin
):
    """Meta rejects what the relay let through (here: the stand-in keeps events 1 day, the relay
    7): the batch is halved until the three old events are alone; the 37 others are delivered,
    none retried."""
    graph_standin.max_age = 86_400
    rig = drain_rig()
    old = time.time() - 2 * 86_400
    batch = events("part", 40)
    for index in (3, 17, 31):
        batch[index]["event_time"] = int(old)
    expected = rig.publish(batch)
    report = rig.drainer.drain()
    assert report.acked == 40 and report.retried == 0
    letters = rig.dead_letters()
    dead = sorted(json.loads(m.data)["event_id"] for m in letters)
    assert dead == ["part-17", "part-3", "part-31"]
    assert {m.attributes["dlq_reason"] for m in letters} == {"rejected"}
    assert_each_once(graph_standin.event_ids(), dead, expected)
    # Halving: at most 2 requests per level of the split for each event at fault, fewer than
    # the 1 + 40 of sending every event of a rejected batch alone.
    assert len(graph_standin.requests) <= 1 + 2 * 3 * math.ceil(math.log2(40))


def test_a_count_mismatch_is_split_and_every_event_delivered(drain_rig, graph_standin):
    rig = drain_rig()
    expected = rig.publish(events("count", 20))
    # A 2xx counting 5 of 20 (and processing none): which 5 is not said.
    graph_standin.fail_next(1, status=200, body={"events_received": 5, "fbtrace_id": "AbC"})
    report = rig.drainer.drain()
    assert report.acked == 20 and report.retried == 0
    assert_each_once(graph_standin.event_ids(), [], expected)
    assert rig.dead_letters() == [] and rig.left_in_queue() == []


def test_a_slow_meta_past_the_ack_deadline_gets_no_redelivery(drain_rig, graph_standin):
    """Meta answers after 25 s; the ack deadline is 10 s. The keeper extends it: another drain
    pulling meanwhile gets nothing, and each event reaches Meta once."""
    rig = drain_rig(ack_deadline_s=10, env={"CAPI_GRAPH_TIMEOUT": "30"})
    expected = rig.publish(events("slow", 10))
    graph_standin.delay_next(1, seconds=25)
    other = PubSubSubscription(rig.names["drain_subscription"])  # another drain's puller
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(rig.drainer.drain)
        graph_standin.wait_for_requests(1, timeout=10)
        time.sleep(14)  # past the first deadline
        meanwhile = other.pull(100)
        report = running.result(timeout=60)
    other.close()
    assert meanwhile == []
    assert report.acked == 10
    assert_each_once(graph_standin.event_ids(), [], expected)
    assert rig.left_in_queue() == []


DRAIN_ONCE = """
from capi import wiring
from capi.config import Settings
wiring.build_forward(Settings.from_env()).drain()
"""


def test_a_drainer_killed_mid_batch_loses_nothing(drain_rig, graph_standin, tmp_path):
    """A drain in its own process is killed while Meta holds its request: nothing was acked, the
    messages come back after the ack deadline, the next drain delivers them. Meta got them
    twice, with the same event_id and event_name: it deduplicates."""
    rig = drain_rig(ack_deadline_s=10)
    expected = rig.publish(events("killed", 25))
    graph_standin.delay_next(1, seconds=60)
    env = {**os.environ, **rig.env, "PYTHONPATH": str(ROOT)}
    log = (tmp_path / "drain.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-c", DRAIN_ONCE], env=env, cwd=ROOT, stdout=log, stderr=log
    )
    try:
        graph_standin.wait_for_requests(1, timeout=30)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    assert Counter(graph_standin.event_ids()) == Counter(expected)  # processed, never answered
    graph_standin.clear_faults()
    time.sleep(11)  # the ack deadline the dead drainer no longer extends
    reports = drain_until_quiet(rig.drainer)
    assert sum(r.acked for r in reports) == 25
    counts = Counter(graph_standin.event_ids())
    assert set(counts) == set(expected) and set(counts.values()) == {2}
    assert rig.left_in_queue() == [] and rig.dead_letters() == []


def test_the_forward_function_serves_the_drain_and_still_takes_pushes(
    drain_rig, graph_standin, tmp_path
):
    """The deployed shape: functions-framework serving `forward` with CAPI_DRAIN_SUBSCRIPTION;
    Cloud Scheduler's POST /drain empties the subscription, a push at / is still delivered."""
    rig = drain_rig()
    expected = rig.publish(events("served", 120))
    forward = FunctionProcess("forward", rig.env, tmp_path / "forward.log")
    forward.start()
    try:
        answer = requests.post(forward.url + "/drain", timeout=60)
        assert answer.status_code == 200, answer.text
        assert answer.json()["acked"] == 120 and answer.json()["stopped"] == "empty"
        pushed = purchase(event_id="served-push")
        message = event_message(pushed, pixel_id=PIXEL)
        envelope = {
            "message": {
                "data": base64.b64encode(message.data).decode(),
                "attributes": message.attributes,
                "messageId": "1",
            }
        }
        assert requests.post(forward.url + "/", json=envelope, timeout=30).status_code == 204
        assert requests.get(forward.url + "/drain", timeout=10).status_code == 405
    finally:
        forward.stop()
    assert_each_once(graph_standin.event_ids(), [], [*expected, "served-push"])
    assert len(graph_standin.requests) <= 4
