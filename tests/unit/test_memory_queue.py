"""The in-memory queue that tests and local trials use in place of Pub/Sub."""

from __future__ import annotations

import pytest

from capi.errors import PublishError
from capi.queueing.memory import InMemoryPublisher
from capi.queueing.messages import Message, event_message
from tests.factories import purchase


def test_it_keeps_every_message_in_order_and_answers_with_their_ids():
    queue = InMemoryPublisher()
    assert queue.publish_all([Message(b"1"), Message(b"2")]) == ["0", "1"]
    assert queue.publish_all([event_message(purchase(event_id="p"), pixel_id="9")]) == ["2"]
    assert [m.data for m in queue.messages[:2]] == [b"1", b"2"]
    assert queue.events()[2]["event_id"] == "p" and queue.calls == 2


def test_a_failing_queue_keeps_nothing_of_the_call():
    queue = InMemoryPublisher()
    queue.fail_next(1)
    with pytest.raises(PublishError):
        queue.publish_all([Message(b"lost")])
    assert queue.publish_all([Message(b"kept")]) == ["0"]
    down = InMemoryPublisher(fail=True)
    with pytest.raises(PublishError):
        down.publish_all([Message(b"x")])
    assert down.messages == []
