"""Group commit through the real Pub/Sub client and the emulator: concurrent publish calls share
Publish RPCs, each call gets the ids of its own messages, every message arrives once, and a call
never outlives its timeout, shared RPC or not (capi/queueing/group_commit.py)."""

from __future__ import annotations

import threading
import time

import pytest

from capi.errors import PublishError
from capi.queueing.messages import Message
from capi.queueing.pubsub import PubSubPublisher
from tests.conftest import new_project_id, pull_until_quiet

pytestmark = pytest.mark.integration


def topic_and_subscription() -> tuple[str, str]:
    from google.cloud import pubsub_v1

    project = new_project_id()
    topic = f"projects/{project}/topics/grouping"
    subscription = f"projects/{project}/subscriptions/grouping"
    pubsub_v1.PublisherClient().create_topic(name=topic)
    pubsub_v1.SubscriberClient().create_subscription(name=subscription, topic=topic)
    return topic, subscription


def test_concurrent_calls_share_rpcs_and_each_gets_the_ids_of_its_own_messages(pubsub_emulator):
    topic, subscription = topic_and_subscription()
    publisher = PubSubPublisher(topic, max_inflight=1)
    calls = [
        [Message(f"{t}-{c}-{m}".encode(), {"call": f"{t}-{c}"}) for m in range(1 + (c % 3))]
        for t in range(12)
        for c in range(15)
    ]
    results: dict[int, list[str]] = {}
    errors: list[Exception] = []

    def worker(t: int) -> None:
        for c in range(15):
            i = t * 15 + c
            try:
                results[i] = publisher.publish_all(calls[i])
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    total = sum(len(call) for call in calls)
    assert publisher.group.calls == len(calls)
    assert publisher.group.rpcs < len(calls)  # some RPCs carried several calls

    received = pull_until_quiet(subscription, total, timeout=60, quiet=1.0)
    by_id = {m.message_id: m for m in received}
    assert len(received) == total == len(by_id)  # each message once
    for i, call in enumerate(calls):
        # Pub/Sub's ids, as the shared RPC answered them, land with the call that sent them
        assert [by_id[mid].data for mid in results[i]] == [m.data for m in call]


def test_calls_queued_behind_a_dead_queue_fail_within_their_timeout(pubsub_emulator):
    topic, _ = topic_and_subscription()
    publisher = PubSubPublisher(topic, timeout_s=2.0, max_inflight=1)
    assert publisher.publish_all([Message(b"warm")])  # connected
    outcomes: list[object] = []
    pubsub_emulator.stop()
    try:

        def call(i: int) -> None:
            started = time.monotonic()
            try:
                publisher.publish_all([Message(f"{i}".encode())])
                outcomes.append("published")
            except PublishError:
                outcomes.append(time.monotonic() - started)

        threads = [threading.Thread(target=call, args=(i,)) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    finally:
        pubsub_emulator.restart()
    assert len(outcomes) == 6
    # no call is told "published", and none waits past its own 2 s (plus scheduling slack),
    # whether it led an RPC or queued behind one
    assert all(isinstance(o, float) and o < 2.0 + 1.0 for o in outcomes), outcomes
