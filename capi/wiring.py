"""Building the ingest and forward handlers from Settings (what main.py and `capi serve` share).

Nothing here creates a Google client: publishers and secret readers create theirs on first use.
Each builder imports its own target's modules, so a target never loads the other's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from capi import logs
from capi.config import ConfigError, Settings, split_keys
from capi.meta.contract import Contract
from capi.queueing.messages import Publisher
from capi.queueing.pubsub import PubSubPublisher
from capi.secret_store import SecretReader

if TYPE_CHECKING:
    from capi.forward.forwarder import Forwarder
    from capi.ingest.handler import Ingest
    from capi.ingest.webhooks import SourceRoutes
    from capi.routing import Routing


def require_token(settings: Settings) -> None:
    """A forwarder needs a token: CAPI_ACCESS_TOKEN(_SECRET), or per-pixel token_secret entries
    in CAPI_PIXELS (loaded here when there is no global token: a broken file stops the start)."""
    if settings.access_token or settings.access_token_secret:
        return
    if not routing(settings).token_secrets():
        raise ConfigError(
            "set CAPI_ACCESS_TOKEN or CAPI_ACCESS_TOKEN_SECRET (or token_secret per pixel in "
            "CAPI_PIXELS) for the forwarder"
        )


def secret_reader(settings: Settings) -> SecretReader:
    return SecretReader(
        ttl_s=settings.secret_ttl_s,
        timeout_s=settings.secret_timeout_s,
        endpoint=settings.secret_manager_endpoint,
    )


def api_keys(settings: Settings, reader: SecretReader) -> Callable[[], tuple[str, ...]]:
    """Keys given directly win; else the secret's keys, re-read after the TTL (rotation)."""
    if settings.api_keys or not settings.api_keys_secret:
        keys = settings.api_keys
        return lambda: keys
    return lambda: split_keys(reader.get(settings.api_keys_secret))


def secret_values(
    direct: str, secret_name: str, reader: SecretReader
) -> Callable[[], tuple[str, ...]] | None:
    """A secret setting given directly (X) or as a Secret Manager version (X_SECRET, re-read
    after the TTL); comma- or newline-separated values are all valid (rotation). None: unset."""
    if direct:
        values = split_keys(direct)
        return lambda: values
    if secret_name:
        return lambda: split_keys(reader.get(secret_name))
    return None


def routing(settings: Settings, *, default_pixel: str | None = None) -> Routing:
    from capi.routing import load_routing

    pixel = settings.pixel_id if default_pixel is None else default_pixel
    return load_routing(settings.pixels_config, default_pixel=pixel)


def build_sources(settings: Settings, reader: SecretReader) -> SourceRoutes:
    """/sgtm and the webhooks: signing secrets (each X or X_SECRET) and generic mappings."""
    from capi.ingest.webhooks import SourceRoutes
    from capi.sources.generic import load_mappings

    mappings = load_mappings(settings.webhook_mappings)
    mapping_secrets = {}
    for name, mapping in mappings.items():
        if mapping.verify is None:
            continue
        if mapping.verify.secret:
            fn = secret_values("", mapping.verify.secret, reader)
        else:
            direct, secret_name = settings.named_secret(mapping.verify.secret_env)
            fn = secret_values(direct, secret_name, reader)
        if fn is not None:
            mapping_secrets[name] = fn
    return SourceRoutes(
        shopify_secrets=secret_values(
            settings.shopify_webhook_secret, settings.shopify_webhook_secret_secret, reader
        ),
        stripe_secrets=secret_values(
            settings.stripe_webhook_secret, settings.stripe_webhook_secret_secret, reader
        ),
        stripe_tolerance_s=settings.stripe_tolerance_s,
        shopify_topics=frozenset(settings.shopify_topics),
        shopify_order_key=settings.shopify_order_key,
        mappings=mappings,
        mapping_secrets=mapping_secrets,
    )


def build_ingest(
    settings: Settings,
    *,
    publisher: Publisher | None = None,
    reader: SecretReader | None = None,
    require_pixel: bool = True,
) -> Ingest:
    from capi.ingest.auth import ApiKeyAuth
    from capi.ingest.cors import CorsPolicy
    from capi.ingest.handler import Ingest

    reader = reader or secret_reader(settings)
    if publisher is None:
        if not settings.topic:
            raise ValueError("CAPI_TOPIC is not set (projects/P/topics/capi-events)")
        publisher = PubSubPublisher(
            settings.topic,
            timeout_s=settings.publish_timeout_s,
            max_inflight=settings.publish_max_inflight,
            endpoint=settings.pubsub_endpoint,
        )
    pixel_id = settings.pixel_id or ("" if require_pixel else "dry-run")
    return Ingest(
        publisher=publisher,
        auth=ApiKeyAuth(
            api_keys(settings, reader), allow_unauthenticated=settings.allow_unauthenticated
        ),
        pixel_id=pixel_id,
        test_event_code=settings.test_event_code,
        contract=Contract.from_settings(settings),
        max_body_bytes=settings.max_body_bytes,
        cors=CorsPolicy(settings.cors_origins),
        routing=routing(settings, default_pixel=pixel_id),
        sources=build_sources(settings, reader),
        hash_at_ingest=settings.hash_at_ingest,
        browser=build_browser(settings),
    )


def build_browser(settings: Settings) -> Any:
    """The browser door when CAPI_BROWSER_KEYS names keys, else None (the door answers 404)."""
    from capi.ingest.browser import BrowserDoor, parse_browser_keys

    keys = parse_browser_keys(settings.browser_keys)
    if not keys:
        return None
    return BrowserDoor(
        keys,
        ip_rate_per_minute=settings.browser_rate_per_ip,
        trust_forwarded_for=settings.trust_forwarded_for,
    )


def build_forwarder(
    settings: Settings,
    *,
    dead_letters: Publisher | None = None,
    reader: SecretReader | None = None,
    dry_run: bool = False,
    dry_run_stream: TextIO | None = None,
) -> Forwarder:
    """The forwarder. Without a token it refuses to be built, unless a dry run is asked for
    (`capi serve` without a token, or CAPI_DRY_RUN=true for a local trial of the two functions):
    a deployed forwarder must never ack events it did not send."""
    per_pixel = routing(settings).token_secrets()  # each cached apart: keyed by secret name
    if settings.dry_run:
        dry_run = True
        logs.warning(
            "DRY RUN (CAPI_DRY_RUN=true): this forwarder sends NOTHING to Meta; it prints each "
            "payload and acks it. For local trials only."
        )
    if not dry_run:
        require_token(settings)
    worst = settings.delivery_worst_case_s
    if settings.ack_deadline_s and settings.ack_deadline_s < worst:
        raise ConfigError(
            f"CAPI_ACK_DEADLINE is {settings.ack_deadline_s:g} s but one delivery may take "
            f"{worst:g} s (2 x CAPI_SECRET_TIMEOUT + 2 x (3.05 + CAPI_GRAPH_TIMEOUT) + "
            "CAPI_PUBLISH_TIMEOUT + 5): raise the push subscription's ack deadline and the "
            "function's timeout, or lower those timeouts"
        )
    from capi.forward.batcher import Batcher
    from capi.forward.forwarder import Forwarder
    from capi.forward.tokens import TokenSource
    from capi.meta.graph import GraphClient

    if dead_letters is None and settings.dlq_topic:
        dead_letters = PubSubPublisher(
            settings.dlq_topic,
            timeout_s=settings.publish_timeout_s,
            max_inflight=settings.publish_max_inflight,
            endpoint=settings.pubsub_endpoint,
        )
    tokens = TokenSource(
        token=settings.access_token,
        secret_name=settings.access_token_secret,
        reader=(
            (reader or secret_reader(settings))
            if settings.access_token_secret or per_pixel
            else None
        ),
        secrets_by_pixel=per_pixel,
    )
    graph = GraphClient(
        settings.graph_url, settings.graph_version, timeout_s=settings.graph_timeout_s
    )
    batcher = (
        Batcher(
            graph,
            window_s=settings.batch_window_ms / 1000,
            max_events=settings.batch_max_events,
            min_inflight=settings.batch_min_inflight,
        )
        if settings.batch_window_ms
        else None
    )
    return Forwarder(
        tokens=tokens,
        dead_letters=dead_letters,
        graph=graph,
        batcher=batcher,
        default_pixel=settings.pixel_id,
        test_event_code=settings.test_event_code,
        contract=Contract.from_settings(settings),
        max_delivery_attempts=settings.max_delivery_attempts,
        dry_run=dry_run,
        dry_run_stream=dry_run_stream,
        in_flight_wait_s=worst,
        delivered_log_sample=settings.delivered_log_sample,
    )


def build_forward(settings: Settings, **kwargs: Any) -> Any:
    """What the forward function serves: the forwarder (Pub/Sub pushes), wrapped in the drainer
    (POST /drain, Cloud Scheduler) when CAPI_DRAIN_SUBSCRIPTION names a pull subscription. Both
    answer `handle(request)`."""
    forwarder = build_forwarder(settings, **kwargs)
    if not settings.drain_subscription:
        return forwarder
    from capi.forward.drainer import Drainer
    from capi.queueing.pull import PubSubSubscription

    subscription = PubSubSubscription(
        settings.drain_subscription, endpoint=settings.pubsub_endpoint
    )
    return Drainer(
        forwarder,
        subscription,
        budget_s=settings.drain_budget_s,
        ack_deadline_s=settings.drain_ack_deadline_s,
        linger_s=settings.drain_linger_s,
    )
