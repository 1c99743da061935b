"""Queue messages and the Pub/Sub publisher.

One message per event (architecture.md, "Queue message"): `data` is the validated event as JSON,
before hashing; attributes carry `pixel_id`, `event_name`, `event_id` (and `test_event_code` when
set), so the forwarder and the DLQ tools can route and filter without decoding the data.

`PubSubPublisher.publish_all` returns only when Pub/Sub acknowledged every message, and raises
`PublishError` when any publish failed or did not finish within the timeout: ingest answers 202
only in the first case. Messages of one call are published together in as few Publish requests as
the client's batching allows (each request is all-or-nothing).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

MAX_ATTRIBUTE_BYTES = 1024  # Pub/Sub's limit for one attribute value


@dataclass(frozen=True)
class Message:
    data: bytes
    attributes: dict[str, str] = field(default_factory=dict)

    def event(self) -> Any:
        return json.loads(self.data)


class PublishError(RuntimeError):
    """The queue did not acknowledge every message; the caller must not report success."""


class Publisher(Protocol):
    def publish_all(self, messages: Sequence[Message]) -> list[str]: ...


def _attribute(value: Any) -> str:
    text = "" if value is None else str(value)
    encoded = text.encode("utf-8")[:MAX_ATTRIBUTE_BYTES]
    return encoded.decode("utf-8", errors="ignore")


def event_message(
    event: dict[str, Any], *, pixel_id: str, test_event_code: str = "", source: str = ""
) -> Message:
    """The queue message for one validated event."""
    attributes = {
        "pixel_id": _attribute(pixel_id),
        "event_name": _attribute(event.get("event_name")),
        "event_id": _attribute(event.get("event_id")),
    }
    if test_event_code:
        attributes["test_event_code"] = _attribute(test_event_code)
    if source:
        attributes["source"] = _attribute(source)
    data = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Message(data, attributes)


class PubSubPublisher:
    """Publishes to one topic with the real google-cloud-pubsub client (or the emulator, when
    PUBSUB_EMULATOR_HOST is set). The client is created on first use, under a lock."""

    def __init__(
        self,
        topic: str,
        *,
        timeout_s: float = 10.0,
        client_factory: Callable[[], Any] | None = None,
    ) -> None:
        if not topic:
            raise ValueError("a topic path (projects/P/topics/T) is required")
        self.topic = topic
        self._timeout_s = timeout_s
        self._client_factory = client_factory
        self._client: Any = None
        self._retry: Any = None
        self._lock = threading.Lock()

    def _get_client(self) -> Any:
        with self._lock:
            if self._client is None:
                from google.api_core import retry as retries

                if self._client_factory is not None:
                    self._client = self._client_factory()
                else:
                    from google.cloud import pubsub_v1

                    self._client = pubsub_v1.PublisherClient(
                        batch_settings=pubsub_v1.types.BatchSettings(
                            max_messages=1000, max_bytes=9 * 1024 * 1024, max_latency=0.005
                        )
                    )
                # Retry transient errors, but give up before the caller's deadline: a publish
                # that finishes after we answered 503 would duplicate the caller's retry.
                self._retry = retries.Retry(
                    initial=0.1, maximum=2.0, multiplier=2.0, timeout=max(self._timeout_s - 2, 1)
                )
            return self._client

    def publish_all(self, messages: Sequence[Message]) -> list[str]:
        client = self._get_client()
        futures = []
        try:
            for message in messages:
                futures.append(
                    client.publish(
                        self.topic,
                        message.data,
                        retry=self._retry,
                        timeout=min(self._timeout_s, 10.0),
                        **message.attributes,
                    )
                )
            return [f.result(timeout=self._timeout_s) for f in futures]
        except Exception as exc:
            for f in futures:
                f.cancel()
            raise PublishError(f"publish to {self.topic} failed: {type(exc).__name__}") from exc
