"""No raw customer information at rest, as an option (issue 28): with CAPI_HASH_AT_INGEST ingest
queues the Meta-ready event, the forwarder forwards it with the same hashes, and what is queued,
dead-lettered or journaled holds no raw value. Through the real emulator:
tests/integration/test_privacy_emulator.py."""

from __future__ import annotations

import hashlib
import json

import pytest

from capi.config import Settings
from capi.forward.forwarder import Decision, Delivery, Forwarder
from capi.forward.tokens import TokenSource
from capi.ingest.auth import ApiKeyAuth
from capi.ingest.handler import Ingest
from capi.meta.answers import Outcome
from capi.meta.graph import GraphResult
from capi.queueing.memory import InMemoryPublisher
from capi.web import IncomingRequest
from tests.factories import EMAIL_HASH, PHONE_HASH, RAW_EMAIL, RAW_PHONE, purchase

RAW_VALUES = (RAW_EMAIL, RAW_EMAIL.lower(), RAW_PHONE, "6505551212", "John", "Smith")


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def queued(hash_at_ingest: bool) -> list:
    queue = InMemoryPublisher()
    ingest = Ingest(
        publisher=queue,
        auth=ApiKeyAuth(lambda: ("k",)),
        pixel_id="123",
        hash_at_ingest=hash_at_ingest,
    )
    body = json.dumps({"data": [purchase(event_id="p-1")]}).encode()
    request = IncomingRequest("POST", "/events", {"X-API-Key": "k"}, body, "application/json")
    assert ingest.handle(request).status == 202
    return queue.messages


def raw_in(data: bytes) -> list[str]:
    text = data.decode()
    return [value for value in RAW_VALUES if value in text]


def test_with_the_option_the_queue_holds_hashes_only():
    (message,) = queued(hash_at_ingest=True)
    assert raw_in(message.data) == []
    user = json.loads(message.data)["user_data"]
    assert user["em"] == [EMAIL_HASH] and user["ph"] == [PHONE_HASH]
    assert user["fn"] == [sha("john")] and user["ln"] == [sha("smith")]


def test_without_it_the_queue_holds_the_raw_values_the_docs_name():
    """docs/PRIVACY.md: with the option off (the default) the queue message carries the event as
    the caller sent it, checked; the forwarder hashes."""
    (message,) = queued(hash_at_ingest=False)
    assert set(raw_in(message.data)) >= {RAW_EMAIL, RAW_PHONE, "John", "Smith"}


class Graph:
    def __init__(self, outcome: Outcome = Outcome.DELIVERED):
        self.outcome = outcome
        self.sent: list[dict] = []

    def send(self, pixel_id, token, events, *, test_event_code=""):
        self.sent += list(events)
        if self.outcome is Outcome.DELIVERED:
            return GraphResult(Outcome.DELIVERED, 200, len(events), "trace")
        from capi.meta.answers import MetaError, classify

        error = MetaError.from_response(400, {"error": {"message": "bad", "code": 100}})
        return GraphResult(classify(error), 400, error=error)


@pytest.mark.parametrize("hash_at_ingest", [True, False])
def test_meta_receives_the_same_hashes_either_way(hash_at_ingest):
    (message,) = queued(hash_at_ingest)
    graph = Graph()
    forwarder = Forwarder(tokens=TokenSource(token="EAAx"), dead_letters=None, graph=graph)
    assert forwarder.process_many([Delivery(message)]) == [Decision.ACK]
    (sent,) = graph.sent
    assert sent["user_data"]["em"] == [EMAIL_HASH] and sent["user_data"]["ph"] == [PHONE_HASH]
    assert sent["user_data"]["fn"] == [sha("john")]


def test_a_dead_letter_of_a_hashed_event_holds_no_raw_value():
    (message,) = queued(hash_at_ingest=True)
    dlq = InMemoryPublisher()
    forwarder = Forwarder(
        tokens=TokenSource(token="EAAx"), dead_letters=dlq, graph=Graph(Outcome.REJECTED)
    )
    assert forwarder.process_many([Delivery(message)]) == [Decision.ACK]
    (letter,) = dlq.messages
    assert raw_in(letter.data) == []
    assert raw_in(json.dumps(letter.attributes).encode()) == []


def test_the_settings():
    assert Settings.from_env({}).hash_at_ingest is False
    assert Settings.from_env({"CAPI_HASH_AT_INGEST": "true"}).hash_at_ingest is True
    endpoint = "europe-west1-pubsub.googleapis.com:443"
    assert Settings.from_env({"CAPI_PUBSUB_ENDPOINT": endpoint}).pubsub_endpoint == endpoint


def test_the_clients_call_the_locational_endpoint(monkeypatch):
    """With a message storage policy that enforces in-transit regions, a request reaching Pub/Sub
    in another region fails: the clients call the region's endpoint when it is set."""
    import google.auth
    from google.auth.credentials import AnonymousCredentials

    from capi.queueing.pubsub import PubSubPublisher
    from capi.queueing.pull import PubSubSubscription

    monkeypatch.delenv("PUBSUB_EMULATOR_HOST", raising=False)
    monkeypatch.setattr(google.auth, "default", lambda *a, **k: (AnonymousCredentials(), "p"))
    endpoint = "europe-west1-pubsub.googleapis.com:443"
    publisher = PubSubPublisher("projects/p/topics/t", endpoint=endpoint)
    assert publisher._get_api().transport._host == endpoint
    subscription = PubSubSubscription("projects/p/subscriptions/s", endpoint=endpoint)
    assert subscription._api().api.transport._host == endpoint
