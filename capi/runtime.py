"""Building the ingest and forward handlers from Settings (what main.py and `capi serve` share).

Nothing here creates a Google client: publishers and secret readers create theirs on first use.
Each builder imports its own target's modules, so a target never loads the other's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from capi.config import ConfigError, Settings, split_keys
from capi.queue import Publisher, PubSubPublisher
from capi.secrets import SecretReader

if TYPE_CHECKING:
    from capi.forward import Forwarder
    from capi.ingest import Ingest


def require_token(settings: Settings) -> None:
    if not (settings.access_token or settings.access_token_secret):
        raise ConfigError("set CAPI_ACCESS_TOKEN or CAPI_ACCESS_TOKEN_SECRET for the forwarder")


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
    from capi.auth import ApiKeyAuth
    from capi.cors import CorsPolicy
    from capi.ingest import Ingest

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
    dry_run: bool = False,
    dry_run_stream: TextIO | None = None,
) -> Forwarder:
    """The forwarder. Without a token it refuses to be built, unless `dry_run` is asked for (only
    `capi serve` does): a deployed forwarder must never ack events it did not send."""
    if not dry_run:
        require_token(settings)
    from capi.forward import Forwarder
    from capi.graph import GraphClient
    from capi.tokens import TokenSource

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
        dry_run=dry_run,
        dry_run_stream=dry_run_stream,
    )
