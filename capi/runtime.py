"""Building the ingest and forward handlers from Settings (what main.py and `capi serve` share).

Nothing here creates a Google client: publishers and secret readers create theirs on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TextIO

from capi.auth import ApiKeyAuth
from capi.config import Settings, split_keys
from capi.cors import CorsPolicy
from capi.forward import Forwarder
from capi.graph import GraphClient
from capi.ingest import Ingest
from capi.queue import Publisher, PubSubPublisher
from capi.secrets import SecretReader
from capi.tokens import TokenSource


def secret_reader(settings: Settings) -> SecretReader:
    return SecretReader(ttl_s=settings.secret_ttl_s, endpoint=settings.secret_manager_endpoint)


def api_keys(settings: Settings, reader: SecretReader) -> Callable[[], tuple[str, ...]]:
    """Keys given directly win; else the secret's keys, re-read after the TTL (rotation)."""
    if settings.api_keys or not settings.api_keys_secret:
        keys = settings.api_keys
        return lambda: keys
    return lambda: split_keys(reader.get(settings.api_keys_secret))


def build_ingest(
    settings: Settings,
    *,
    publisher: Publisher | None = None,
    reader: SecretReader | None = None,
    require_pixel: bool = True,
) -> Ingest:
    reader = reader or secret_reader(settings)
    if publisher is None:
        if not settings.topic:
            raise ValueError("CAPI_TOPIC is not set (projects/P/topics/capi-events)")
        publisher = PubSubPublisher(settings.topic, timeout_s=settings.publish_timeout_s)
    return Ingest(
        publisher=publisher,
        auth=ApiKeyAuth(
            api_keys(settings, reader), allow_unauthenticated=settings.allow_unauthenticated
        ),
        pixel_id=settings.pixel_id or ("" if require_pixel else "dry-run"),
        test_event_code=settings.test_event_code,
        default_country=settings.default_country,
        date_order=settings.date_order,
        max_body_bytes=settings.max_body_bytes,
        cors=CorsPolicy(settings.cors_origins),
    )


def build_forwarder(
    settings: Settings,
    *,
    dead_letters: Publisher | None = None,
    reader: SecretReader | None = None,
    dry_run_stream: TextIO | None = None,
) -> Forwarder:
    if dead_letters is None and settings.dlq_topic:
        dead_letters = PubSubPublisher(settings.dlq_topic, timeout_s=settings.publish_timeout_s)
    tokens = TokenSource(
        token=settings.access_token,
        secret_name=settings.access_token_secret,
        reader=(reader or secret_reader(settings)) if settings.access_token_secret else None,
    )
    return Forwarder(
        tokens=tokens,
        dead_letters=dead_letters,
        graph=GraphClient(
            settings.graph_url, settings.graph_version, timeout_s=settings.graph_timeout_s
        ),
        default_pixel=settings.pixel_id,
        test_event_code=settings.test_event_code,
        default_country=settings.default_country,
        date_order=settings.date_order,
        max_delivery_attempts=settings.max_delivery_attempts,
        dry_run_stream=dry_run_stream,
    )
