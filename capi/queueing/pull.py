"""Pulling from a Pub/Sub subscription (the draining forwarder, capi.forward.drainer).

`PubSubSubscription` wraps the real client's synchronous Pull, Acknowledge and ModifyAckDeadline
(the emulator's too, when PUBSUB_EMULATOR_HOST is set). What it returns is plain data
(`Pulled`), so the forwarder needs nothing of the client; a failure of any call is a
`QueueError`, and a message never acked comes back by itself after its ack deadline.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from capi.errors import QueueError
from capi.queueing.messages import Message

MAX_MESSAGES_PER_PULL = 1000  # Pub/Sub's limit for one Pull
MAX_ACK_IDS_PER_CALL = 1000  # keeps Acknowledge/ModifyAckDeadline far below their 512 KB
MAX_ACK_DEADLINE_S = 600  # Pub/Sub's longest ack deadline


@dataclass(frozen=True)
class Pulled:
    """One message as Pull returned it."""

    ack_id: str
    message: Message
    message_id: str
    attempt: int  # deliveryAttempt: counted only when the subscription has a dead-letter policy
    published_at: float | None  # Unix seconds


class Subscription(Protocol):
    def pull(self, max_messages: int) -> list[Pulled]: ...
    def ack(self, ack_ids: Sequence[str]) -> None: ...
    def extend(self, ack_ids: Sequence[str], seconds: int) -> None: ...


class PubSubSubscription:
    """One pull subscription (projects/P/subscriptions/S) through google-cloud-pubsub; the client
    is created on first use, under a lock."""

    def __init__(
        self,
        name: str,
        *,
        timeout_s: float = 30.0,
        client_factory: Callable[[], Any] | None = None,
        endpoint: str = "",
    ) -> None:
        if not name.startswith("projects/") or "/subscriptions/" not in name:
            raise ValueError("a subscription path (projects/P/subscriptions/S) is required")
        self.name = name
        self.timeout_s = timeout_s
        self._client_factory = client_factory
        self._endpoint = endpoint  # CAPI_PUBSUB_ENDPOINT, a locational endpoint ("" global)
        self._client: Any = None
        self._lock = threading.Lock()

    def _api(self) -> Any:
        with self._lock:
            if self._client is None:
                if self._client_factory is not None:
                    self._client = self._client_factory()
                else:
                    from google.cloud import pubsub_v1

                    options = {"api_endpoint": self._endpoint} if self._endpoint else None
                    self._client = pubsub_v1.SubscriberClient(client_options=options)
            return self._client

    def pull(self, max_messages: int) -> list[Pulled]:
        """Up to `max_messages` (at most 1,000) messages; [] when there are none now."""
        from google.api_core import exceptions

        count = max(1, min(max_messages, MAX_MESSAGES_PER_PULL))
        # return_immediately: an empty subscription answers at once instead of holding the Pull
        # open for seconds (the emulator ~4 s), billed instance time on every idle drain. Google
        # deprecated it ("may return fewer messages"); a drain that stops early leaves the rest
        # to the next one, a minute later.
        request = {"subscription": self.name, "max_messages": count, "return_immediately": True}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                answer = self._api().pull(request=request, timeout=self.timeout_s)
        except exceptions.DeadlineExceeded:
            return []  # nothing arrived while the Pull waited
        except exceptions.GoogleAPICallError as exc:
            raise QueueError(f"pull from {self.name} failed: {type(exc).__name__}") from exc
        return [_pulled(received) for received in answer.received_messages]

    def ack(self, ack_ids: Sequence[str]) -> None:
        for chunk in _chunks(ack_ids):
            self._call("acknowledge", {"subscription": self.name, "ack_ids": chunk})

    def extend(self, ack_ids: Sequence[str], seconds: int) -> None:
        """Set the messages' ack deadline to `seconds` from now (0: give them back at once)."""
        seconds = max(0, min(int(seconds), MAX_ACK_DEADLINE_S))
        for chunk in _chunks(ack_ids):
            request = {"subscription": self.name, "ack_ids": chunk, "ack_deadline_seconds": seconds}
            self._call("modify_ack_deadline", request)

    def _call(self, method: str, request: dict[str, Any]) -> None:
        from google.api_core import exceptions

        try:
            getattr(self._api(), method)(request=request, timeout=self.timeout_s)
        except exceptions.GoogleAPICallError as exc:
            raise QueueError(f"{method} on {self.name} failed: {type(exc).__name__}") from exc

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


def _chunks(ack_ids: Sequence[str]) -> list[list[str]]:
    ids = list(ack_ids)
    return [ids[i : i + MAX_ACK_IDS_PER_CALL] for i in range(0, len(ids), MAX_ACK_IDS_PER_CALL)]


def _pulled(received: Any) -> Pulled:
    message = received.message
    published = message.publish_time
    attempt = int(received.delivery_attempt or 0)
    return Pulled(
        ack_id=received.ack_id,
        message=Message(
            bytes(message.data), {str(k): str(v) for k, v in message.attributes.items()}
        ),
        message_id=str(message.message_id),
        attempt=attempt if attempt > 0 else 1,
        published_at=published.timestamp() if published else None,
    )
