"""Where raw customer information lives, through the real Pub/Sub emulator (issue 28,
docs/PRIVACY.md): ingest (built from the settings by capi.wiring) publishes to the emulator, a
separate pull subscription on the events topic shows what the queue stores, the drainer delivers
to Meta's stand-in, and a dead-lettered event shows what the dead-letter topic stores.

With CAPI_HASH_AT_INGEST the queue and the dead letters hold hashes only and Meta receives the
same hashes as without it; without it (the default) the queue holds the raw values, as the
privacy record says."""

from __future__ import annotations

import json
import os
import time

import pytest

from capi import wiring
from capi.config import Settings
from capi.tools.emulator import setup
from capi.web import IncomingRequest
from tests.conftest import new_project_id, pull_until_quiet
from tests.factories import EMAIL_HASH, PHONE_HASH, RAW_EMAIL, RAW_PHONE, purchase
from tests.integration.conftest import PIXEL, TOKEN

pytestmark = pytest.mark.integration
RAW = (RAW_EMAIL, RAW_EMAIL.lower(), RAW_PHONE, "6505551212", '"John"', '"Smith"')


def _relay(graph_url: str, hash_at_ingest: bool):
    from google.cloud import pubsub_v1

    project = new_project_id()
    names = setup(project, push_endpoint=None, max_delivery_attempts=5)
    spy = f"projects/{project}/subscriptions/what-the-queue-stores"
    pubsub_v1.SubscriberClient().create_subscription(name=spy, topic=names["topic"])
    env = {
        "CAPI_PIXEL_ID": PIXEL,
        "CAPI_ACCESS_TOKEN": TOKEN,
        "CAPI_API_KEYS": "key-1",
        "CAPI_GRAPH_URL": graph_url,
        "CAPI_TOPIC": names["topic"],
        "CAPI_DLQ_TOPIC": names["dlq_topic"],
        "CAPI_DRAIN_SUBSCRIPTION": names["drain_subscription"],
        "CAPI_HASH_AT_INGEST": "true" if hash_at_ingest else "false",
        "PUBSUB_EMULATOR_HOST": os.environ["PUBSUB_EMULATOR_HOST"],
    }
    settings = Settings.from_env(env)
    return wiring.build_ingest(settings), wiring.build_forward(settings), names, spy


def _post(ingest, events: list[dict]) -> None:
    body = json.dumps({"data": events}).encode()
    request = IncomingRequest("POST", "/events", {"X-API-Key": "key-1"}, body, "application/json")
    assert ingest.handle(request).status == 202


def _texts(received) -> list[str]:
    return [m.data.decode() + json.dumps(dict(m.attributes), sort_keys=True) for m in received]


@pytest.mark.parametrize("hash_at_ingest", [True, False], ids=["hash_at_ingest", "default"])
def test_what_the_queue_and_the_dead_letters_store(pubsub_emulator, graph_standin, hash_at_ingest):
    graph_standin.max_age = 86_400  # Meta (the stand-in) keeps events 1 day, the relay 7
    ingest, drainer, names, spy = _relay(graph_standin.url, hash_at_ingest)
    old = purchase(event_id="too-old", event_time=int(time.time()) - 2 * 86_400)
    _post(ingest, [purchase(event_id="kept"), old])
    stored = _texts(pull_until_quiet(spy, 2))
    assert len(stored) == 2
    found = [value for text in stored for value in RAW if value in text]
    if hash_at_ingest:
        assert found == [], found
        assert all(EMAIL_HASH in text and PHONE_HASH in text for text in stored)
    else:  # docs/PRIVACY.md: the queue holds the event as sent, checked, for its retention
        assert {RAW_EMAIL, RAW_PHONE} <= set(found)

    report = drainer.drain()  # the old event is refused by Meta and dead-lettered
    assert report.acked == 2, report
    (delivered,) = graph_standin.events
    assert delivered["event_id"] == "kept"
    assert delivered["user_data"]["em"] == [EMAIL_HASH]
    assert delivered["user_data"]["ph"] == [PHONE_HASH]

    letters = pull_until_quiet(names["dlq_subscription"], 1)
    assert len(letters) == 1
    letter = letters[0].data.decode() + json.dumps(dict(letters[0].attributes))
    leaked = [value for value in RAW if value in letter]
    assert (leaked == []) if hash_at_ingest else leaked, leaked
    drainer.subscription.close()
