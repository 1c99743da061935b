"""The HTTP routes of the sources, called by `Ingest._route`:

- `POST /sgtm`: sGTM event data (capi.sources.sgtm), API key as for /events.
- `POST /webhooks/shopify`: Shopify order webhooks, `X-Shopify-Hmac-Sha256` signature.
- `POST /webhooks/stripe`: Stripe events, `Stripe-Signature` with its timestamp tolerance.
- `POST /webhooks/<name>`: a generic JSON webhook mapped in CAPI_WEBHOOK_MAPPINGS (HMAC when the
  mapping says so, else the API key); an unmapped name is 404.

Webhooks prove their origin by signature, not by API key (Shopify and Stripe cannot send custom
headers); the signature is checked over the raw bytes before the JSON is parsed. Every adapted
event then goes through `Intake.accept`, like /events.

Answers for Shopify and Stripe, which retry every non-2xx answer for days (and disable endpoints
that keep failing): 202 queued; 200 `{"status": "ignored", "reason"}` for topics / types / events
the relay deliberately does not send; 200 `{"status": "rejected", ...results}` when the adapted
event is invalid (a retry cannot fix it; the reason is in the body and the log); 401 missing or
bad signature; 400 a stale Stripe timestamp (a correctly signed but old request: replay or a
wrong clock), an unknown Shopify topic or a body that is not the provider's JSON; 404 the route
is not set up (no signing secret setting: Secret Manager is not asked); 500 its signing secret
has no value; 503 the secret could not be read or the queue failed (both
retried). Logs name the source, topic or type and the reason, never customer data.

`?test_event_code=...` and `?pixel_id=...` on a webhook URL are honoured (the pixel only when the
routing allows it for that route).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from capi import logs
from capi.ingest.intake import Gate
from capi.meta.body import Batch, BodyError, is_json_content_type, parse_json
from capi.secret_store import SecretError
from capi.sources import Ignored, SourceContext, generic, sgtm, shopify, stripe
from capi.sources.replays import ReplayGuard
from capi.sources.signatures import (
    STRIPE_DEFAULT_TOLERANCE_S,
    SignatureError,
    header_value,
    verify_hmac,
    verify_shopify,
    verify_stripe,
)
from capi.web import IncomingRequest, Reply, error_reply, error_reply_for

SecretsFn = Callable[[], tuple[str, ...]]
MAX_QUERY_VALUE = 128


class SourceRoutes:
    """Per-process, thread-safe: holds the source settings; each request is independent."""

    def __init__(
        self,
        *,
        shopify_secrets: SecretsFn | None = None,
        stripe_secrets: SecretsFn | None = None,
        stripe_tolerance_s: float = STRIPE_DEFAULT_TOLERANCE_S,
        mappings: Mapping[str, generic.WebhookMapping] | None = None,
        mapping_secrets: Mapping[str, SecretsFn] | None = None,
        shopify_topics: frozenset[str] = shopify.PURCHASE_TOPICS,
        shopify_order_key: str = "order_number",
        clock: Callable[[], float] = time.time,
        replays: ReplayGuard | None = None,
    ) -> None:
        self.shopify_secrets = shopify_secrets
        self.shopify_topics = shopify_topics
        self.shopify_order_key = shopify_order_key
        self.replays = replays or ReplayGuard()
        self.stripe_secrets = stripe_secrets
        self.stripe_tolerance_s = stripe_tolerance_s
        self.mappings = dict(mappings or {})
        self.mapping_secrets = dict(mapping_secrets or {})
        self.clock = clock

    def handle(self, gate: Gate, request: IncomingRequest) -> Reply:
        is_sgtm = request.path == "/sgtm"
        name = "" if is_sgtm else request.path.removeprefix("/webhooks/")
        if not is_sgtm and name not in ("shopify", "stripe") and name not in self.mappings:
            return error_reply(
                404,
                "not_found",
                f"no webhook named {name!r}: map it in CAPI_WEBHOOK_MAPPINGS, or use "
                "/webhooks/shopify, /webhooks/stripe, /sgtm or /events",
            )
        if request.method != "POST":
            return Reply(
                405,
                {"error": {"code": "method_not_allowed", "message": "use POST"}},
                {"Allow": "POST"},
            )
        if is_sgtm:
            return self.sgtm(gate, request)
        too_large = _too_large(gate, request)  # a signature cannot be checked on a cut body
        if too_large is not None:
            return too_large
        if name == "shopify":
            return self.shopify(gate, request)
        if name == "stripe":
            return self.stripe(gate, request)
        return self.generic(gate, request, self.mappings[name])

    # -- sGTM ------------------------------------------------------------------------------------

    def sgtm(self, gate: Gate, request: IncomingRequest) -> Reply:
        denied, key_name = gate.authenticate(request)
        if denied is not None:
            return denied
        too_large = _too_large(gate, request)
        if too_large is not None:
            return too_large
        if not is_json_content_type(request.content_type):
            return error_reply(415, "unsupported_media_type", "send Content-Type: application/json")
        try:
            batch = sgtm.adapt(_parse(request.body), SourceContext())
        except BodyError as exc:
            return error_reply_for(exc)
        return gate.intake.accept(batch, source="sgtm", key_name=key_name, route="/sgtm")

    # -- Shopify ---------------------------------------------------------------------------------

    def shopify(self, gate: Gate, request: IncomingRequest) -> Reply:
        topic = header_value(request.headers, "X-Shopify-Topic").strip().lower()
        secrets, problem = _read_secrets(
            self.shopify_secrets,
            "set CAPI_SHOPIFY_WEBHOOK_SECRET or CAPI_SHOPIFY_WEBHOOK_SECRET_SECRET",
        )
        if problem is not None:
            return problem
        try:
            verify_shopify(
                request.body, header_value(request.headers, "X-Shopify-Hmac-Sha256"), secrets
            )
        except SignatureError as exc:
            return _refused("shopify", exc, topic=topic)
        unsigned = _unsigned_routing(request)
        if unsigned is not None:
            return unsigned
        if topic in shopify.PURCHASE_TOPICS and topic not in self.shopify_topics:
            # The topic header is outside the signature: only the topics this shop was set up
            # with are taken, so a captured body cannot be replayed under another topic.
            logs.warning("webhook topic not configured", source="shopify", topic=topic[:100])
            return error_reply(
                400,
                "topic_not_configured",
                f"topic {topic} is not in CAPI_SHOPIFY_TOPICS "
                f"({', '.join(sorted(self.shopify_topics))})",
            )
        webhook_id = header_value(request.headers, "X-Shopify-Webhook-Id")[:200]
        return self._once(
            "shopify",
            request.body,
            webhook_id,
            lambda: self._shopify_events(gate, request, topic),
        )

    def _shopify_events(self, gate: Gate, request: IncomingRequest, topic: str) -> Reply:
        context = SourceContext(
            topic=topic,
            shop_domain=header_value(request.headers, "X-Shopify-Shop-Domain"),
            shopify_order_key=self.shopify_order_key,
        )
        try:
            batch = shopify.adapt(_parse(request.body), context)
        except shopify.UnknownTopic as exc:
            logs.warning("webhook topic unknown", source="shopify", topic=topic[:100])
            return error_reply_for(exc)
        except BodyError as exc:
            return error_reply_for(exc)
        except Ignored as exc:
            return _ignored("shopify", exc.reason, topic=topic)
        reply = gate.intake.accept(batch, source="shopify", route="/webhooks/shopify")
        return _settled("shopify", reply)

    def _once(
        self, source: str, body: bytes, delivery_id: str, handle: Callable[[], Reply]
    ) -> Reply:
        """Handle a signed delivery unless the same one was already taken (a replay or a
        duplicate): answered 200 so the sender stops, and logged."""
        keys = ReplayGuard.keys(body, delivery_id)
        if not self.replays.begin(keys):
            logs.warning("webhook delivery already taken; not queued again", source=source)
            return Reply(
                200,
                {"status": "duplicate", "reason": "this signed delivery was already received"},
            )
        reply = Reply(503)
        try:
            reply = handle()
        finally:
            self.replays.end(keys, accepted=200 <= reply.status < 300)
        return reply

    # -- Stripe ----------------------------------------------------------------------------------

    def stripe(self, gate: Gate, request: IncomingRequest) -> Reply:
        secrets, problem = _read_secrets(
            self.stripe_secrets,
            "set CAPI_STRIPE_WEBHOOK_SECRET or CAPI_STRIPE_WEBHOOK_SECRET_SECRET",
        )
        if problem is not None:
            return problem
        try:
            verify_stripe(
                request.body,
                header_value(request.headers, "Stripe-Signature"),
                secrets,
                tolerance_s=self.stripe_tolerance_s,
                now=self.clock(),
            )
        except SignatureError as exc:
            return _refused("stripe", exc)
        unsigned = _unsigned_routing(request)
        if unsigned is not None:
            return unsigned
        return self._once("stripe", request.body, "", lambda: self._stripe_events(gate, request))

    def _stripe_events(self, gate: Gate, request: IncomingRequest) -> Reply:
        event_type = ""
        context = SourceContext(allow_test_mode=bool(gate.intake.test_event_code))
        try:
            body = _parse(request.body)
            if isinstance(body, dict):
                event_type = str(body.get("type") or "")[:100]
            batch = stripe.adapt(body, context)
        except BodyError as exc:
            return error_reply_for(exc)
        except Ignored as exc:
            return _ignored("stripe", exc.reason, type=event_type)
        reply = gate.intake.accept(batch, source="stripe", route="/webhooks/stripe")
        return _settled("stripe", reply)

    # -- generic ---------------------------------------------------------------------------------

    def generic(
        self, gate: Gate, request: IncomingRequest, mapping: generic.WebhookMapping
    ) -> Reply:
        source = f"webhook:{mapping.name}"
        if mapping.verify is None:
            denied, key_name = gate.authenticate(request)
            if denied is not None:
                return denied
            return self._generic_events(gate, request, mapping, key_name)
        env = mapping.verify.secret_env
        hint = f"set {env} or {env}_SECRET" if env else f"check {mapping.verify.secret}"
        secrets, problem = _read_secrets(
            self.mapping_secrets.get(mapping.name), hint, unset_status=500
        )
        if problem is not None:
            return problem
        try:
            verify_hmac(
                request.body,
                header_value(request.headers, mapping.verify.scheme.header),
                secrets,
                mapping.verify.scheme,
            )
        except SignatureError as exc:
            return _refused(source, exc)
        unsigned = _unsigned_routing(request)
        if unsigned is not None:
            return unsigned
        return self._once(
            source, request.body, "", lambda: self._generic_events(gate, request, mapping, "")
        )

    def _generic_events(
        self,
        gate: Gate,
        request: IncomingRequest,
        mapping: generic.WebhookMapping,
        key_name: str,
    ) -> Reply:
        source = f"webhook:{mapping.name}"
        try:
            adapted = generic.adapt(_parse(request.body), SourceContext(mapping=mapping))
        except BodyError as exc:
            return error_reply_for(exc)
        except Ignored as exc:
            return _ignored(source, exc.reason)
        batch = _query_batch(adapted.events, request)
        if isinstance(batch, Reply):
            return batch
        batch.notes = adapted.notes
        return gate.intake.accept(
            batch, source=source, key_name=key_name, route=f"/webhooks/{mapping.name}"
        )


def _too_large(gate: Gate, request: IncomingRequest) -> Reply | None:
    if request.too_large or len(request.body) > gate.max_body_bytes:
        return error_reply(
            413, "body_too_large", f"the body is larger than {gate.max_body_bytes} bytes"
        )
    return None


def _parse(body: bytes) -> Any:
    if not body.strip():
        raise BodyError(400, "empty_body", "the body is empty")
    return parse_json(body)


def _read_secrets(
    fn: SecretsFn | None, hint: str, *, unset_status: int = 404
) -> tuple[tuple[str, ...], Reply | None]:
    """The signing secrets (several during a rotation), or the reply that ends the request.
    No secret setting at all: the route is not set up here (404; a mapping that asks for a
    signature but has no secret is a broken setup: 500), and Secret Manager is not asked."""
    if fn is None:
        return (), error_reply(
            unset_status, "webhook_not_configured", f"this webhook is not set up: {hint}"
        )
    try:
        secrets = tuple(s for s in fn() if s)
    except SecretError:
        return (), error_reply(
            503, "secret_unavailable", "the signing secret could not be read; retry later"
        )
    if not secrets:
        return (), error_reply(
            500, "webhook_secret_empty", f"the signing secret has no value: {hint}"
        )
    return secrets, None


def _query_text(request: IncomingRequest, name: str) -> str:
    value = request.query.get(name) if request.query else None
    return value.strip() if isinstance(value, str) else ""


def _query_batch(events: list[Any], request: IncomingRequest) -> Batch | Reply:
    """A batch with the URL's optional test_event_code and pixel_id."""
    code = _query_text(request, "test_event_code")
    pixel = _query_text(request, "pixel_id")
    if len(code) > MAX_QUERY_VALUE or len(pixel) > MAX_QUERY_VALUE:
        return error_reply(400, "invalid_query", "query values are limited to 128 characters")
    extra = {"pixel_id": [p for p in pixel.split(",") if p]} if pixel else {}
    return Batch(events, code, extra)


def _unsigned_routing(request: IncomingRequest) -> Reply | None:
    """Signed webhooks take their pixel and test code from configuration: `?pixel_id=` and
    `?test_event_code=` are outside the signature, so whoever replays a captured delivery could
    redirect it with them."""
    named = [n for n in ("pixel_id", "test_event_code") if _query_text(request, n)]
    if not named:
        return None
    return error_reply(
        400,
        "unsigned_routing",
        f"?{' and ?'.join(named)} cannot be used on a signed webhook (the query is not signed): "
        "route it in CAPI_PIXELS (routes, a pixel's test_event_code) or CAPI_TEST_EVENT_CODE",
    )


def _refused(source: str, exc: SignatureError, **fields: Any) -> Reply:
    logs.warning(
        "webhook signature refused", source=source, code=exc.code, status=exc.status, **fields
    )
    return error_reply_for(exc)


def _ignored(source: str, reason: str, **fields: Any) -> Reply:
    logs.info("webhook ignored", source=source, reason=reason, **fields)
    return Reply(200, {"status": "ignored", "reason": reason})


def _settled(source: str, reply: Reply) -> Reply:
    """Shopify and Stripe retry every non-2xx: an event that validation rejected is answered 200
    with the results (a retry would be rejected the same way); everything else is kept."""
    body = reply.body if isinstance(reply.body, dict) else {}
    if reply.status == 400 and "results" in body:
        codes = sorted({e["code"] for r in body["results"] for e in r.get("errors", [])})
        paths = sorted({e["path"] for r in body["results"] for e in r.get("errors", [])})
        logs.warning("webhook event rejected", source=source, error_codes=codes, paths=paths)
        return Reply(200, {**body, "status": "rejected"})
    return reply
