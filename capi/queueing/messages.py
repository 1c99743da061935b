"""Queue messages, what publishes them (the `Publisher` protocol) and Pub/Sub's limits.

One message per event (ARCHITECTURE.md, "Queue message"): `data` is the validated event as JSON,
before hashing; attributes carry `pixel_id`, `event_name`, `event_id` (and `test_event_code` when
set), so the forwarder and the DLQ tools can route and filter without decoding the data. The
publishers: capi.queueing.pubsub (Pub/Sub) and capi.queueing.memory (in memory).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

MAX_ATTRIBUTE_BYTES = 1024  # Pub/Sub's limit for one attribute value
# One Publish request takes at most 1,000 messages and 10 MB; a request is applied all or nothing,
# so everything one ingest request queues must fit in one. The byte budget keeps a margin for the
# request's own encoding (field tags, lengths, the topic name).
MAX_MESSAGES_PER_PUBLISH = 1000
MAX_PUBLISH_BYTES = 9_500_000
_MESSAGE_OVERHEAD_BYTES = 32


@dataclass(frozen=True)
class Message:
    data: bytes
    attributes: dict[str, str] = field(default_factory=dict)


class Publisher(Protocol):
    def publish_all(self, messages: Sequence[Message]) -> list[str]: ...


def attribute_value(value: Any) -> str:
    """A Pub/Sub attribute value: text of at most 1,024 UTF-8 bytes, cut at a character boundary."""
    text = "" if value is None else str(value)
    encoded = text.encode("utf-8")[:MAX_ATTRIBUTE_BYTES]
    return encoded.decode("utf-8", errors="ignore")


def publish_size(messages: Sequence[Message]) -> int:
    """About how many bytes a Publish request of these messages takes (an upper estimate)."""
    return sum(
        len(m.data)
        + _MESSAGE_OVERHEAD_BYTES
        + sum(len(k.encode()) + len(v.encode()) + 8 for k, v in m.attributes.items())
        for m in messages
    )


def fits_one_publish(messages: Sequence[Message], size: int | None = None) -> bool:
    """Whether the messages (of `size` bytes, publish_size's, when known) fit in one
    all-or-nothing Publish request."""
    if len(messages) > MAX_MESSAGES_PER_PUBLISH:
        return False
    return (publish_size(messages) if size is None else size) <= MAX_PUBLISH_BYTES


def event_message(
    event: dict[str, Any],
    *,
    pixel_id: str,
    test_event_code: str = "",
    source: str = "",
    contract: str = "",
) -> Message:
    """The queue message for one validated event. `contract`: the version of the checks the
    event passed (capi.meta.contract.CONTRACT_VERSION): the forwarder then checks again only
    what the wait in the queue can change."""
    attributes = {
        "pixel_id": attribute_value(pixel_id),
        "event_name": attribute_value(event.get("event_name")),
        "event_id": attribute_value(event.get("event_id")),
    }
    if test_event_code:
        attributes["test_event_code"] = attribute_value(test_event_code)
    if source:
        attributes["source"] = attribute_value(source)
    if contract:
        attributes["contract"] = contract
    data = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Message(data, attributes)
