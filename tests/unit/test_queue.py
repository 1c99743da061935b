import json
from types import SimpleNamespace

import pytest

from capi.errors import PublishError
from capi.queueing.messages import Message, event_message
from capi.queueing.pubsub import PubSubPublisher


def test_event_message_carries_data_and_routing_attributes():
    event = {"event_name": "Purchase", "event_id": "e1", "user_data": {"em": "a@b.co"}}
    msg = event_message(event, pixel_id="123", test_event_code="TEST9", source="events")
    assert json.loads(msg.data) == event
    assert msg.attributes == {
        "pixel_id": "123",
        "event_name": "Purchase",
        "event_id": "e1",
        "test_event_code": "TEST9",
        "source": "events",
    }


def test_attribute_values_are_cut_to_pubsubs_limit_without_breaking_utf8():
    msg = event_message({"event_name": "é" * 2000, "event_id": "x"}, pixel_id="1")
    assert len(msg.attributes["event_name"].encode()) <= 1024


class FakePublisherApi:
    """The GAPIC publisher surface the relay uses: one Publish request per call."""

    def __init__(self, fail=False):
        self.requests = []
        self.fail = fail

    def publish(self, request, retry=None, timeout=None):
        self.requests.append(request)
        if self.fail:
            raise RuntimeError("unavailable")
        first = sum(len(r["messages"]) for r in self.requests[:-1])
        ids = [str(first + i) for i in range(len(request["messages"]))]
        return SimpleNamespace(message_ids=ids)


def test_publish_all_sends_one_request_and_returns_the_ids():
    api = FakePublisherApi()
    pub = PubSubPublisher("projects/p/topics/t", client_factory=lambda: api)
    ids = pub.publish_all([Message(b"1", {"a": "1"}), Message(b"2")])
    assert ids == ["0", "1"]
    (request,) = api.requests
    assert request["topic"] == "projects/p/topics/t"
    assert request["messages"] == [
        {"data": b"1", "attributes": {"a": "1"}},
        {"data": b"2", "attributes": {}},
    ]


@pytest.mark.parametrize(
    "messages",
    [[Message(b"x")] * 1001, [Message(b"x" * 1_000_000)] * 10],
    ids=["1001-messages", "10-MB"],
)
def test_more_than_one_request_worth_is_refused_before_anything_is_sent(messages):
    """Split into several requests, a failure half-way would queue part of an ingest request
    that was answered 503 ("nothing was accepted"): the caller's retry would duplicate it."""
    api = FakePublisherApi()
    pub = PubSubPublisher("projects/p/topics/t", client_factory=lambda: api)
    with pytest.raises(PublishError, match="do not fit in one Publish request"):
        pub.publish_all(messages)
    assert api.requests == []
    assert len(pub.publish_all([Message(b"x")] * 1000)) == 1000  # the limit itself is fine


def test_a_failed_publish_fails_the_whole_call():
    pub = PubSubPublisher("projects/p/topics/t", client_factory=lambda: FakePublisherApi(True))
    with pytest.raises(PublishError, match="projects/p/topics/t"):
        pub.publish_all([Message(b"1"), Message(b"2"), Message(b"3")])


def test_topic_is_required():
    with pytest.raises(ValueError):
        PubSubPublisher("")
