import json
from concurrent.futures import Future

import pytest

from capi.queue import Message, PublishError, PubSubPublisher, event_message


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


class FakePublisherClient:
    def __init__(self, fail_on=None):
        self.published = []
        self.fail_on = fail_on

    def publish(self, topic, data, retry=None, timeout=None, **attrs):
        future = Future()
        if self.fail_on is not None and len(self.published) == self.fail_on:
            future.set_exception(RuntimeError("unavailable"))
        else:
            future.set_result(str(len(self.published)))
        self.published.append((topic, data, attrs))
        return future


def test_publish_all_returns_ids_after_every_ack():
    client = FakePublisherClient()
    pub = PubSubPublisher("projects/p/topics/t", client_factory=lambda: client)
    ids = pub.publish_all([Message(b"1", {"a": "1"}), Message(b"2")])
    assert ids == ["0", "1"]
    assert client.published[0] == ("projects/p/topics/t", b"1", {"a": "1"})


def test_one_failed_publish_fails_the_whole_call():
    client = FakePublisherClient(fail_on=1)
    pub = PubSubPublisher("projects/p/topics/t", client_factory=lambda: client)
    with pytest.raises(PublishError, match="projects/p/topics/t"):
        pub.publish_all([Message(b"1"), Message(b"2"), Message(b"3")])


def test_topic_is_required():
    with pytest.raises(ValueError):
        PubSubPublisher("")
