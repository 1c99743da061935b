"""The Pub/Sub publisher.

`PubSubPublisher.publish_all` returns only when Pub/Sub acknowledged every message, and raises
`PublishError` when any publish failed or did not finish within the timeout: ingest answers 202
only in the first case. The messages of one call travel in one Publish request, which Pub/Sub
applies all-or-nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from capi.config import DEFAULT_PUBLISH_MAX_INFLIGHT
from capi.errors import PublishError
from capi.queueing.group_commit import GroupCommit
from capi.queueing.messages import (
    MAX_MESSAGES_PER_PUBLISH,
    MAX_PUBLISH_BYTES,
    Message,
    fits_one_publish,
    publish_size,
)


class PubSubPublisher:
    """Publishes to one topic with the real google-cloud-pubsub client (or the emulator, when
    PUBSUB_EMULATOR_HOST is set). The client is created on first use, under a lock.

    All messages of one `publish_all` call go in ONE Publish request: the request is
    all-or-nothing, so a failure means no event of it was accepted and a retry of the same body
    cannot duplicate any. Messages that do not fit in one request are refused before anything is
    sent (`PublishError`); ingest answers 413 before it gets that far. Concurrent calls share a
    request when `max_inflight` RPCs are already running (`capi.queueing.group_commit`: whole
    calls only, never past a call's timeout); 0 gives every call its own RPC at once.
    """

    def __init__(
        self,
        topic: str,
        *,
        timeout_s: float = 10.0,
        max_inflight: int = DEFAULT_PUBLISH_MAX_INFLIGHT,
        client_factory: Callable[[], Any] | None = None,
        endpoint: str = "",
    ) -> None:
        """`endpoint`: a Pub/Sub endpoint other than the global one (CAPI_PUBSUB_ENDPOINT, a
        locational endpoint such as europe-west1-pubsub.googleapis.com:443)."""
        if not topic:
            raise ValueError("a topic path (projects/P/topics/T) is required")
        self.topic = topic
        self._timeout_s = timeout_s
        self._client_factory = client_factory
        self._endpoint = endpoint
        self._api: Any = None
        self._retry: Any = None
        self._lock = threading.Lock()
        self.group = GroupCommit(
            self._send,
            max_inflight=max_inflight,
            max_messages=MAX_MESSAGES_PER_PUBLISH,
            max_bytes=MAX_PUBLISH_BYTES,
        )

    def _get_api(self) -> Any:
        with self._lock:
            if self._api is None:
                from google.api_core import retry as retries

                if self._client_factory is not None:
                    self._api = self._client_factory()
                else:
                    from google.cloud import pubsub_v1

                    options = {"api_endpoint": self._endpoint} if self._endpoint else None
                    self._api = pubsub_v1.PublisherClient(client_options=options).api
                # Retry transient errors, but give up within the caller's deadline: a publish
                # that lands after we answered 503 would duplicate the caller's retry.
                self._retry = retries.Retry(initial=0.1, maximum=1.0, multiplier=2.0)
            return self._api

    def publish_all(self, messages: Sequence[Message]) -> list[str]:
        size = publish_size(messages)
        if not fits_one_publish(messages, size):
            raise PublishError(
                f"{len(messages)} messages ({size} bytes) do not fit in one "
                "Publish request; nothing was sent"
            )
        if not messages:
            return []
        self._get_api()
        return self.group.publish(messages, size, self._timeout_s)

    def _send(self, messages: list[Message], left_s: float) -> Sequence[str]:
        """One Publish RPC; retries and every attempt end within `left_s` seconds."""
        try:
            response = self._api.publish(
                request={
                    "topic": self.topic,
                    "messages": [{"data": m.data, "attributes": m.attributes} for m in messages],
                },
                retry=self._retry.with_timeout(left_s),
                timeout=left_s,
            )
        except Exception as exc:
            raise PublishError(f"publish to {self.topic} failed: {type(exc).__name__}") from exc
        return response.message_ids
