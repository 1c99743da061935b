"""Settings read from the environment (the contract in docs: ARCHITECTURE.md, "Configuration").

Reading is cheap and has no side effects: every target calls `Settings.from_env()` once, lazily.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from capi.errors import ConfigError

DEFAULT_GRAPH_URL = "https://graph.facebook.com"
# Conversions API versions stay usable for at least two years; keep this current, never hard-code
# an old one elsewhere (CAPI_GRAPH_VERSION overrides it).
DEFAULT_GRAPH_VERSION = "v26.0"
DEFAULT_MAX_BODY_BYTES = 1_000_000
DEFAULT_GRAPH_TIMEOUT_S = 10.0
DEFAULT_SECRET_TTL_S = 300.0
DEFAULT_SECRET_TIMEOUT_S = 5.0
DEFAULT_PUBLISH_TIMEOUT_S = 10.0
GRAPH_CONNECT_TIMEOUT_S = 3.05  # a TCP connect to Graph; the read timeout is CAPI_GRAPH_TIMEOUT
DELIVERY_MARGIN_S = 5.0  # decoding, validation, hashing, logging, the batch window (<= 1 s)
DEFAULT_BATCH_WINDOW_MS = 100  # bench/bench_forward.py --sweep: docs/PERFORMANCE.md
DEFAULT_BATCH_MIN_INFLIGHT = 4  # capi/forward/batcher.py says why
# Publish RPCs a publisher runs at once; later calls queue and share the next RPC
# (capi/queueing/group_commit.py; docs/PERFORMANCE.md gives the measurements).
DEFAULT_PUBLISH_MAX_INFLIGHT = 2
DEFAULT_STRIPE_TOLERANCE_S = 300.0  # the official Stripe libraries' default
DEFAULT_NORMALIZE_CACHE_SIZE = 4096
CONSENT_POLICIES = ("ignore", "drop", "ldu")
DEFAULT_DELIVERED_LOG_SAMPLE = 0.01
SHOPIFY_PURCHASE_TOPICS = ("orders/create", "orders/paid")


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def _float(
    env: Mapping[str, str], name: str, default: float, ok: Callable[[float], bool], what: str
) -> float:
    """NAME as a number that `ok` accepts (the default when unset), else ConfigError saying
    `what` it must be."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be {what}, got {raw!r}") from None
    if not ok(value):
        raise ConfigError(f"{name} must be {what}, got {raw!r}")
    return value


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    return _float(env, name, default, lambda v: v > 0, "a positive number")


def _fraction(env: Mapping[str, str], name: str, default: float) -> float:
    return _float(env, name, default, lambda v: 0.0 <= v <= 1.0, "a fraction from 0 to 1")


def _count(env: Mapping[str, str], name: str) -> int:
    raw = env.get(name, "").strip() or "0"
    if not raw.isdigit():
        raise ConfigError(f"{name} must be a whole number >= 0, got {raw!r}")
    return int(raw)


def _bounded(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ConfigError(f"{name} must be a whole number from {low} to {high}, got {raw!r}")
    return int(raw)


def _subscription(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if value and not (value.startswith("projects/") and "/subscriptions/" in value):
        raise ConfigError(
            f"{name} must be a subscription path like projects/P/subscriptions/S, got {value!r}"
        )
    return value


def _topic(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if value and not (value.startswith("projects/") and "/topics/" in value):
        raise ConfigError(f"{name} must be a topic path like projects/P/topics/T, got {value!r}")
    return value


def _seconds_or_zero(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, got {raw!r}") from None
    if value < 0:
        raise ConfigError(f"{name} must be >= 0 (0 switches the check off), got {raw!r}")
    return value


def _consent_policy(env: Mapping[str, str]) -> str:
    value = env.get("CAPI_CONSENT_POLICY", "").strip().lower() or "ignore"
    if value not in CONSENT_POLICIES:
        raise ConfigError(
            f"CAPI_CONSENT_POLICY must be one of {', '.join(CONSENT_POLICIES)}, got {value!r}"
        )
    return value


def _states(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    states = tuple(s.strip().upper() for s in env.get(name, "").split(",") if s.strip())
    for state in states:
        if len(state) != 2 or not state.isalpha():
            raise ConfigError(f"{name} must list 2-letter US state codes such as CA, got {state!r}")
    return states


def normalize_cache_size(env: Mapping[str, str] | None = None) -> int:
    """CAPI_NORMALIZE_CACHE_SIZE: entries per normalization cache (0 switches caching off). Read
    when capi.meta.normalize is first imported, before any Settings exist."""
    env = os.environ if env is None else env
    raw = env.get("CAPI_NORMALIZE_CACHE_SIZE", "").strip()
    if not raw:
        return DEFAULT_NORMALIZE_CACHE_SIZE
    if not raw.isdigit():
        raise ConfigError(f"CAPI_NORMALIZE_CACHE_SIZE must be a whole number >= 0, got {raw!r}")
    return int(raw)


def _secret_settings(env: Mapping[str, str]) -> dict[str, str]:
    """Every CAPI_* variable, for the signing secrets that webhook mappings name themselves
    (verify: secret_env NAME reads NAME, else NAME_SECRET)."""
    return {k: v.strip() for k, v in env.items() if k.startswith("CAPI_")}


def _one_of(env: Mapping[str, str], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = env.get(name, "").strip().lower() or default
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def _shopify_topics(env: Mapping[str, str]) -> tuple[str, ...]:
    raw = env.get("CAPI_SHOPIFY_TOPICS", "")
    topics = tuple(t.lower() for t in split_keys(raw)) or SHOPIFY_PURCHASE_TOPICS
    for topic in topics:
        if topic not in SHOPIFY_PURCHASE_TOPICS:
            raise ConfigError(
                f"CAPI_SHOPIFY_TOPICS may name {' and '.join(SHOPIFY_PURCHASE_TOPICS)}, "
                f"got {topic!r}"
            )
    return topics


def load_document(content: str, name: str, setting: str) -> Any:
    """A YAML or JSON document (JSON when `name` ends in .json). Raises ConfigError."""
    if name.lower().endswith(".json"):
        try:
            return json.loads(content)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{setting}: {name} is not valid JSON: {exc.msg}") from None
    import yaml  # only when a YAML file is configured

    try:
        return yaml.safe_load(content)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{setting}: {name} is not valid YAML: {exc}") from None


def split_keys(raw: str) -> tuple[str, ...]:
    """Comma- or newline-separated keys, blanks dropped."""
    return tuple(k.strip() for k in raw.replace("\n", ",").split(",") if k.strip())


@dataclass(frozen=True)
class Settings:
    pixel_id: str = ""
    access_token: str = field(default="", repr=False)
    access_token_secret: str = ""
    graph_url: str = DEFAULT_GRAPH_URL
    graph_version: str = DEFAULT_GRAPH_VERSION
    graph_timeout_s: float = DEFAULT_GRAPH_TIMEOUT_S
    topic: str = ""
    dlq_topic: str = ""
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    api_keys_secret: str = ""
    cors_origins: tuple[str, ...] = ()  # browser origins allowed to call ingest
    allow_unauthenticated: bool = False
    test_event_code: str = ""
    default_country: str = ""
    date_order: str = ""  # "", "MDY" or "DMY": settles 03/04/1990
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    secret_ttl_s: float = DEFAULT_SECRET_TTL_S
    secret_timeout_s: float = DEFAULT_SECRET_TIMEOUT_S  # deadline of one read, retries included
    secret_manager_endpoint: str = ""  # tests: a local Secret Manager stand-in (REST)
    publish_timeout_s: float = DEFAULT_PUBLISH_TIMEOUT_S
    # Publish RPCs one publisher runs at once before calls share the next one (0: no limit).
    publish_max_inflight: int = DEFAULT_PUBLISH_MAX_INFLIGHT
    # The push subscription's ack deadline (Terraform sets it): the forwarder refuses to start
    # when one delivery could outlast it (0: not known, not checked).
    ack_deadline_s: float = 0.0
    # Local trials only: the forwarder prints each payload and sends nothing (never in the cloud:
    # Terraform does not set it, and it is logged as a warning at start and for every event).
    dry_run: bool = False
    # When Pub/Sub's delivery attempt reaches this, a transient failure is dead-lettered by the
    # forwarder itself, with its reason (0: leave it to the subscription's dead-letter policy).
    max_delivery_attempts: int = 0
    # The forwarder sends the events of concurrent pushes in one Graph request (capi.forward.
    # batcher): how long the first push waits for others (0: no batching; at most 1000 ms) and
    # how many events one request carries at most (Meta's limit is 1,000).
    batch_window_ms: int = DEFAULT_BATCH_WINDOW_MS
    batch_max_events: int = 1000
    batch_min_inflight: int = DEFAULT_BATCH_MIN_INFLIGHT
    # Sources (docs/SOURCES.md). Every secret X is given directly or as X_SECRET, a Secret
    # Manager version read with the shared SecretReader.
    shopify_webhook_secret: str = field(default="", repr=False)
    shopify_webhook_secret_secret: str = ""
    stripe_webhook_secret: str = field(default="", repr=False)
    stripe_webhook_secret_secret: str = ""
    stripe_tolerance_s: float = DEFAULT_STRIPE_TOLERANCE_S
    # The Shopify topics this shop's webhooks were set up with (the topic header is not signed).
    shopify_topics: tuple[str, ...] = SHOPIFY_PURCHASE_TOPICS
    # Which field of a Shopify order names it as the store's pages do (their dataLayer's
    # transaction_id): the order identity a Purchase's event_id is derived from.
    shopify_order_key: str = "order_number"
    webhook_mappings: str = ""  # generic webhook mappings: a YAML/JSON file path, or inline JSON
    pixels_config: str = ""  # CAPI_PIXELS: path to a YAML/JSON routing file, or inline JSON
    consent_policy: str = "ignore"  # ignore | drop | ldu
    ldu_states: tuple[str, ...] = ()  # US states whose LDU code the relay sets (CA -> 1000)
    dlq_subscription: str = ""  # capi replay's default DLQ pull subscription
    # The draining forwarder (capi.forward.drainer): the pull subscription POST /drain empties,
    # how long one drain may run, and the ack deadline it keeps extending while Meta answers.
    drain_subscription: str = ""
    drain_budget_s: float = 50.0
    drain_ack_deadline_s: int = 60
    # A lingering drain (low latency): an empty subscription does not end the drain until this
    # many seconds of it have passed; it polls every second meanwhile (0: it ends at once).
    drain_linger_s: float = 0.0
    # No raw customer information at rest (docs/PRIVACY.md): ingest queues events normalized and
    # hashed. And the Pub/Sub endpoint the clients call: a locational one
    # ("europe-west1-pubsub.googleapis.com:443") keeps requests in the region, as a topic's
    # message storage policy with enforce_in_transit requires.
    hash_at_ingest: bool = False
    pubsub_endpoint: str = ""
    # The browser door (capi.ingest.browser): its public keys with their limits, the per-IP rate
    # limit, and whether X-Forwarded-For is the platform's (Cloud Run) or the client's own.
    browser_keys: str = ""
    browser_rate_per_ip: int = 60
    trust_forwarded_for: bool = False
    # The share of delivered events that also get a line of their own ("event delivered"); every
    # Graph request gets one "events delivered" line with counts and ids (docs/ARCHITECTURE.md).
    delivered_log_sample: float = DEFAULT_DELIVERED_LOG_SAMPLE
    # CAPI_* variables that settings name indirectly: a webhook mapping's secret_env.
    named: Mapping[str, str] = field(default_factory=dict, repr=False)

    def named_secret(self, name: str) -> tuple[str, str]:
        """(NAME's value, NAME_SECRET's value) for a variable a mapping names."""
        return self.named.get(name, ""), self.named.get(name + "_SECRET", "")

    @property
    def delivery_worst_case_s(self) -> float:
        """The longest one push can take in the forwarder, every outside call at its deadline:
        read the token, call Graph, on code 190 read the token again and call Graph again, then
        publish to the dead-letter topic. The ack deadline and the function's timeout must not
        be shorter, or Pub/Sub redelivers an event that is still being sent (a duplicate)."""
        graph = GRAPH_CONNECT_TIMEOUT_S + self.graph_timeout_s
        return 2 * self.secret_timeout_s + 2 * graph + self.publish_timeout_s + DELIVERY_MARGIN_S

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        version = env.get("CAPI_GRAPH_VERSION", "").strip() or DEFAULT_GRAPH_VERSION
        if not version.startswith("v"):
            version = "v" + version
        country = env.get("CAPI_DEFAULT_COUNTRY", "").strip().upper()
        if country and (len(country) != 2 or not country.isalpha()):
            raise ConfigError(
                f"CAPI_DEFAULT_COUNTRY must be an ISO 3166-1 alpha-2 code, got {country!r}"
            )
        date_order = env.get("CAPI_DATE_ORDER", "").strip().upper()
        if date_order not in {"", "MDY", "DMY", "YMD"}:
            raise ConfigError(f"CAPI_DATE_ORDER must be MDY, DMY or YMD, got {date_order!r}")
        return cls(
            pixel_id=env.get("CAPI_PIXEL_ID", "").strip(),
            access_token=env.get("CAPI_ACCESS_TOKEN", "").strip(),
            access_token_secret=env.get("CAPI_ACCESS_TOKEN_SECRET", "").strip(),
            graph_url=(env.get("CAPI_GRAPH_URL", "").strip() or DEFAULT_GRAPH_URL).rstrip("/"),
            graph_version=version,
            graph_timeout_s=_number(env, "CAPI_GRAPH_TIMEOUT", DEFAULT_GRAPH_TIMEOUT_S),
            topic=_topic(env, "CAPI_TOPIC"),
            dlq_topic=_topic(env, "CAPI_DLQ_TOPIC"),
            api_keys=split_keys(env.get("CAPI_API_KEYS", "")),
            api_keys_secret=env.get("CAPI_API_KEYS_SECRET", "").strip(),
            cors_origins=split_keys(env.get("CAPI_CORS_ORIGINS", "")),
            allow_unauthenticated=_flag(env.get("CAPI_ALLOW_UNAUTHENTICATED")),
            test_event_code=env.get("CAPI_TEST_EVENT_CODE", "").strip(),
            default_country=country,
            date_order=date_order,
            max_body_bytes=int(_number(env, "CAPI_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)),
            secret_ttl_s=_number(env, "CAPI_SECRET_TTL", DEFAULT_SECRET_TTL_S),
            secret_timeout_s=_number(env, "CAPI_SECRET_TIMEOUT", DEFAULT_SECRET_TIMEOUT_S),
            secret_manager_endpoint=env.get("CAPI_SECRET_MANAGER_ENDPOINT", "").strip(),
            publish_timeout_s=_number(env, "CAPI_PUBLISH_TIMEOUT", DEFAULT_PUBLISH_TIMEOUT_S),
            publish_max_inflight=_bounded(
                env, "CAPI_PUBLISH_MAX_INFLIGHT", DEFAULT_PUBLISH_MAX_INFLIGHT, 0, 1000
            ),
            max_delivery_attempts=_count(env, "CAPI_MAX_DELIVERY_ATTEMPTS"),
            batch_window_ms=_bounded(env, "CAPI_BATCH_WINDOW_MS", DEFAULT_BATCH_WINDOW_MS, 0, 1000),
            batch_max_events=_bounded(env, "CAPI_BATCH_MAX_EVENTS", 1000, 1, 1000),
            batch_min_inflight=_bounded(
                env, "CAPI_BATCH_MIN_INFLIGHT", DEFAULT_BATCH_MIN_INFLIGHT, 1, 1000
            ),
            ack_deadline_s=float(_count(env, "CAPI_ACK_DEADLINE")),
            dry_run=_flag(env.get("CAPI_DRY_RUN")),
            shopify_webhook_secret=env.get("CAPI_SHOPIFY_WEBHOOK_SECRET", "").strip(),
            shopify_webhook_secret_secret=env.get("CAPI_SHOPIFY_WEBHOOK_SECRET_SECRET", "").strip(),
            stripe_webhook_secret=env.get("CAPI_STRIPE_WEBHOOK_SECRET", "").strip(),
            stripe_webhook_secret_secret=env.get("CAPI_STRIPE_WEBHOOK_SECRET_SECRET", "").strip(),
            stripe_tolerance_s=_seconds_or_zero(
                env, "CAPI_STRIPE_WEBHOOK_TOLERANCE", DEFAULT_STRIPE_TOLERANCE_S
            ),
            shopify_topics=_shopify_topics(env),
            shopify_order_key=_one_of(
                env, "CAPI_SHOPIFY_ORDER_KEY", ("order_number", "name", "id"), "order_number"
            ),
            webhook_mappings=env.get("CAPI_WEBHOOK_MAPPINGS", "").strip(),
            pixels_config=env.get("CAPI_PIXELS", "").strip(),
            consent_policy=_consent_policy(env),
            ldu_states=_states(env, "CAPI_LDU_STATES"),
            dlq_subscription=env.get("CAPI_DLQ_SUBSCRIPTION", "").strip(),
            drain_subscription=_subscription(env, "CAPI_DRAIN_SUBSCRIPTION"),
            drain_budget_s=_number(env, "CAPI_DRAIN_BUDGET", 50.0),
            drain_ack_deadline_s=_bounded(env, "CAPI_DRAIN_ACK_DEADLINE", 60, 10, 600),
            drain_linger_s=_seconds_or_zero(env, "CAPI_DRAIN_LINGER", 0.0),
            hash_at_ingest=_flag(env.get("CAPI_HASH_AT_INGEST")),
            browser_keys=env.get("CAPI_BROWSER_KEYS", "").strip(),
            browser_rate_per_ip=_bounded(env, "CAPI_BROWSER_RATE_PER_IP", 60, 1, 100_000),
            trust_forwarded_for=_flag(env.get("CAPI_TRUST_FORWARDED_FOR")),
            pubsub_endpoint=env.get("CAPI_PUBSUB_ENDPOINT", "").strip(),
            delivered_log_sample=_fraction(
                env, "CAPI_DELIVERED_LOG_SAMPLE", DEFAULT_DELIVERED_LOG_SAMPLE
            ),
            named=_secret_settings(env),
        )
