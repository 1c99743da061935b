"""Creating the relay's topics and subscriptions in the Pub/Sub emulator (`capi emulator-setup`).

The same shape Terraform builds in the cloud: topic `capi-events` with a push subscription to the
forward target (retry with backoff, dead-letter policy), topic `capi-events-dlq` with a pull
subscription for inspection and `capi replay`. Idempotent: what exists is left as it is.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

TOPIC = "capi-events"
DLQ_TOPIC = "capi-events-dlq"
PUSH_SUBSCRIPTION = "capi-events-forward"
DRAIN_SUBSCRIPTION = "capi-events-drain"
DLQ_SUBSCRIPTION = "capi-events-dlq-replay"


@dataclass(frozen=True)
class Names:
    project: str

    def topic(self, name: str = TOPIC) -> str:
        return f"projects/{self.project}/topics/{name}"

    def subscription(self, name: str) -> str:
        return f"projects/{self.project}/subscriptions/{name}"


def _create(call: Any, **kwargs: Any) -> bool:
    from google.api_core import exceptions

    try:
        call(request=kwargs)
        return True
    except exceptions.AlreadyExists:
        return False


def setup(
    project: str,
    *,
    push_endpoint: str | None,
    max_delivery_attempts: int = 5,
    ack_deadline_s: int = 30,
    min_backoff_s: int = 1,
    max_backoff_s: int = 60,
) -> dict[str, str]:
    """Create topics and subscriptions; returns the resource names. Needs PUBSUB_EMULATOR_HOST."""
    if not os.environ.get("PUBSUB_EMULATOR_HOST"):
        raise RuntimeError(
            "PUBSUB_EMULATOR_HOST is not set; start the emulator with "
            "`gcloud beta emulators pubsub start --host-port=127.0.0.1:8085` and export "
            "PUBSUB_EMULATOR_HOST=127.0.0.1:8085"
        )
    from google.cloud import pubsub_v1

    names = Names(project)
    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    try:
        for topic in (names.topic(TOPIC), names.topic(DLQ_TOPIC)):
            _create(publisher.create_topic, name=topic)
        _create(
            subscriber.create_subscription,
            name=names.subscription(DLQ_SUBSCRIPTION),
            topic=names.topic(DLQ_TOPIC),
            ack_deadline_seconds=60,
        )
        # Push to the forward target, or (push_endpoint None) a pull subscription its drainer
        # empties: never both, or every event would be delivered twice.
        mode: dict[str, Any] = (
            {
                "name": names.subscription(PUSH_SUBSCRIPTION),
                "push_config": {"push_endpoint": push_endpoint},
            }
            if push_endpoint
            else {"name": names.subscription(DRAIN_SUBSCRIPTION)}
        )
        _create(
            subscriber.create_subscription,
            **mode,
            topic=names.topic(TOPIC),
            ack_deadline_seconds=ack_deadline_s,
            retry_policy={
                "minimum_backoff": {"seconds": min_backoff_s},
                "maximum_backoff": {"seconds": max_backoff_s},
            },
            dead_letter_policy={
                "dead_letter_topic": names.topic(DLQ_TOPIC),
                "max_delivery_attempts": max_delivery_attempts,
            },
        )
    finally:
        subscriber.close()
    return {
        "topic": names.topic(TOPIC),
        "dlq_topic": names.topic(DLQ_TOPIC),
        "push_subscription": names.subscription(PUSH_SUBSCRIPTION) if push_endpoint else "",
        "drain_subscription": "" if push_endpoint else names.subscription(DRAIN_SUBSCRIPTION),
        "dlq_subscription": names.subscription(DLQ_SUBSCRIPTION),
        "push_endpoint": push_endpoint or "",
    }
