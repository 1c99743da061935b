"""The ingest endpoint: auth -> parse -> enrich and validate -> publish, wait for the ack -> answer.

Answers (ARCHITECTURE.md, "Ingest HTTP API"): 202 with one result per event when at least one
event was accepted and Pub/Sub acknowledged all accepted events; 400 when the body is unusable or
no event is valid; 401 bad or missing key; 413 too large; 415 not JSON; 503 when the queue did not
take the events (nothing accepted: the caller retries, and the same body yields the same ids).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from capi import logs
from capi.ingest.auth import ApiKeyAuth, AuthResult
from capi.ingest.consent import ConsentPolicy
from capi.ingest.cors import CorsPolicy
from capi.ingest.graph_route import GRAPH_PATH, GraphRoute
from capi.ingest.pixels import Routing, RoutingError, requested_pixels
from capi.meta.body import Batch, BodyError, parse_body
from capi.meta.contract import EventResult, check_event
from capi.queueing.messages import (
    MAX_MESSAGES_PER_PUBLISH,
    MAX_PUBLISH_BYTES,
    Publisher,
    PublishError,
    event_message,
    fits_one_publish,
    publish_size,
)
from capi.secret_store import SecretError
from capi.values import scalar_text
from capi.web import IncomingRequest, Reply, error_reply, error_reply_for

EVENT_PATHS = frozenset({"/", "/events"})
SOURCE_PATHS = frozenset({"/sgtm"})  # plus /webhooks/<name>: capi.ingest.webhooks

_AUTH_MESSAGES = {
    AuthResult.MISSING: "send your API key in X-API-Key or Authorization: Bearer",
    AuthResult.INVALID: "the API key is not valid",
    AuthResult.NOT_CONFIGURED: "the relay has no API keys configured (set CAPI_API_KEYS or "
    "CAPI_API_KEYS_SECRET)",
}


class Ingest:
    """Stateless per request; `publisher` and `auth` are shared and thread-safe."""

    def __init__(
        self,
        *,
        publisher: Publisher,
        auth: ApiKeyAuth,
        pixel_id: str,
        test_event_code: str = "",
        default_country: str = "",
        date_order: str = "",
        max_body_bytes: int = 1_000_000,
        clock: Callable[[], float] = time.time,
        cors: CorsPolicy | None = None,
        routing: Routing | None = None,
        consent: ConsentPolicy | None = None,
        sources: Any = None,
    ) -> None:
        self.publisher = publisher
        self.auth = auth
        self.pixel_id = pixel_id
        self.test_event_code = test_event_code
        self.default_country = default_country
        self.date_order = date_order
        self.max_body_bytes = max_body_bytes
        self.clock = clock
        self.cors = cors or CorsPolicy()
        # Which pixels each request's events go to (CAPI_PIXELS; default: pixel_id alone).
        self.routing = routing or Routing.single(pixel_id)
        self.consent = consent or ConsentPolicy()
        # capi.ingest.webhooks.SourceRoutes: /sgtm and /webhooks/<name> (built on first use when
        # not given: sGTM works, webhooks answer that they are not configured).
        self.sources = sources
        # POST /{version}/{pixel_id}/events: the Graph-compatible door (capi.ingest.graph_route).
        self.graph = GraphRoute()

    def handle(self, request: IncomingRequest) -> Reply:
        with logs.request_context(request.headers):
            return self._handle(request)

    def _handle(self, request: IncomingRequest) -> Reply:
        started = time.perf_counter()
        reply = self.cors.screen(request) or self._route(request)
        self.cors.decorate(request, reply)
        logs.info(
            "ingest request",
            path=request.path,
            status=reply.status,
            latency_ms=round((time.perf_counter() - started) * 1000, 2),
            **_summary(reply),
        )
        return reply

    def _route(self, request: IncomingRequest) -> Reply:
        if request.method in ("GET", "HEAD") and request.path == "/healthz":
            return Reply(200, {"status": "ok"})
        if request.path in SOURCE_PATHS or request.path.startswith("/webhooks/"):
            if self.sources is None:
                from capi.ingest.webhooks import SourceRoutes

                self.sources = SourceRoutes()
            return self.sources.handle(self, request)
        graph = GRAPH_PATH.fullmatch(request.path)
        if graph is not None:
            return self.graph.handle(self, request, graph)
        if request.path not in EVENT_PATHS:
            return error_reply(404, "not_found", f"no route {request.path}; POST events to /events")
        if request.method != "POST":
            return Reply(
                405,
                {"error": {"code": "method_not_allowed", "message": "use POST"}},
                {"Allow": "POST"},
            )
        return self.handle_events(request)

    def authenticate_key(self, request: IncomingRequest) -> tuple[Reply | None, str]:
        """(None, the key's name) when the caller may go on, else (the error reply, "")."""
        try:
            result, name = self.auth.identify(request.headers)
        except SecretError:
            return (
                error_reply(503, "auth_unavailable", "API keys could not be read; retry later"),
                "",
            )
        if result is AuthResult.OK:
            return None, name
        status = 500 if result is AuthResult.NOT_CONFIGURED else 401
        return error_reply(status, f"auth_{result.value}", _AUTH_MESSAGES[result]), ""

    def handle_events(self, request: IncomingRequest) -> Reply:
        denied, key_name = self.authenticate_key(request)
        if denied is not None:
            return denied
        if request.too_large:
            return error_reply(
                413, "body_too_large", f"the body is larger than {self.max_body_bytes} bytes"
            )
        try:
            batch = parse_body(request.body, request.content_type, max_bytes=self.max_body_bytes)
        except BodyError as exc:
            return error_reply_for(exc)
        return self.accept(batch, source="events", key_name=key_name, route="/events")

    def accept(
        self,
        batch: Batch,
        *,
        source: str,
        pixel_id: str | None = None,
        key_name: str = "",
        route: str = "",
        all_or_nothing: bool = False,
    ) -> Reply:
        """Check every event of a batch, publish the valid ones, and build the answer.

        Every source (/events, /sgtm, webhooks) ends here. The pixels come from `pixel_id` when
        given, else from the routing (key name, route, the body's `pixel_id`); each accepted
        event becomes one message per pixel, all with the same event_id. The consent policy is
        applied before the checks: a dropped event is reported as `status: "dropped"`. With
        `all_or_nothing` (the Graph-compatible route: Meta refuses a whole request for one bad
        event), one invalid event means nothing is queued and the answer is 400.
        """
        now = self.clock()
        try:
            pixels = (
                [pixel_id]
                if pixel_id
                else self.routing.resolve(
                    key_name=key_name, route=route, requested=requested_pixels(batch.extra)
                )
            )
        except RoutingError as exc:
            return error_reply_for(exc)
        results = []
        for i, raw in enumerate(batch.events):
            decision = self.consent.decide(raw, batch.extra)
            result = check_event(
                decision.event,
                i,
                now=now,
                default_country=self.default_country,
                date_order=self.date_order,
            )
            result.warnings[:0] = batch.notes.get(i, [])
            if decision.dropped and not result.errors:
                result.dropped = decision.dropped
            results.append(result)
        accepted = [r for r in results if r.accepted]
        dropped = sum(1 for r in results if r.status == "dropped")
        body: dict[str, Any] = {
            "accepted": len(accepted),
            "rejected": len(results) - len(accepted) - dropped,
            "dropped": dropped,
            "pixel_ids": pixels,
            "results": [r.as_dict() for r in results],
        }
        if not accepted and not dropped:
            body["error"] = {"code": "no_valid_event", "message": "no event in the body is valid"}
            _log_events(results, pixels, source)
            return Reply(400, body)
        if all_or_nothing and body["rejected"]:
            body["error"] = {"code": "invalid_event", "message": "an event is invalid: none queued"}
            _log_events(results, pixels, source, refused="request_refused")
            return Reply(400, body)
        messages = [
            event_message(
                r.event,
                pixel_id=pixel,
                test_event_code=(
                    batch.test_event_code
                    or self.routing.test_event_code(pixel)
                    or self.test_event_code
                ),
                source=source,
            )
            for r in accepted
            for pixel in pixels
        ]
        if not messages:
            _log_events(results, pixels, source)
            return Reply(202, body)
        if not fits_one_publish(messages):
            _log_events(results, pixels, source, refused="too_large_for_queue")
            # Several Publish calls could fail half-way: a 503 would then not mean "nothing was
            # queued". Refuse what cannot be queued all or nothing, and say how to split it.
            size = publish_size(messages)
            fitting = min(
                MAX_MESSAGES_PER_PUBLISH // len(pixels),
                len(accepted) * MAX_PUBLISH_BYTES // size,
            )
            return error_reply(
                413,
                "too_large_for_queue",
                f"{len(accepted)} events to {len(pixels)} pixel(s) make {len(messages)} queue "
                f"messages of {size} bytes; one request may queue at most "
                f"{MAX_MESSAGES_PER_PUBLISH} messages and {MAX_PUBLISH_BYTES} bytes: send at most "
                f"{max(1, fitting)} events per request",
            )
        try:
            self.publisher.publish_all(messages)
        except PublishError as exc:
            logs.error("publish failed", error=str(exc), events=len(messages))
            _log_events(results, pixels, source, refused="queue_unavailable")
            return error_reply(
                503,
                "queue_unavailable",
                "the queue did not take the events; nothing was accepted, retry the same request",
            )
        _log_events(results, pixels, source)
        return Reply(202, body)


def _log_events(
    results: list[EventResult], pixels: list[str], source: str, *, refused: str = ""
) -> None:
    """One "ingest event" line per event and pixel: what the log-based metrics and the
    dashboard count (terraform/metrics.tf reads these field names). Names, never values.
    `refused`: why an otherwise accepted event was not queued (the whole request was refused)."""
    for r in results:
        event = r.event if isinstance(r.event, dict) else {}
        status = refused if refused and r.status == "accepted" else r.status
        fields: dict[str, Any] = {
            "status": status,
            "source": source,
            "event_name": scalar_text(event.get("event_name")),
            "action_source": scalar_text(event.get("action_source")),
            "event_id": r.event_id or "",
            "match_keys": list(r.match.keys) if r.match else [],
            "grade": r.match.grade if r.match else "none",
        }
        if r.errors:
            fields["error_codes"] = sorted({e.code for e in r.errors})
        if r.warnings:
            fields["warning_codes"] = sorted({w.code for w in r.warnings})
        for pixel in pixels:
            logs.info("ingest event", pixel_id=pixel, **fields)


def _summary(reply: Reply) -> dict[str, Any]:
    body = reply.body if isinstance(reply.body, dict) else {}
    summary: dict[str, Any] = {}
    if "accepted" in body:
        summary["accepted"] = body["accepted"]
        summary["rejected"] = body["rejected"]
        summary["dropped"] = body.get("dropped", 0)
        summary["pixel_ids"] = body.get("pixel_ids", [])
        summary["event_ids"] = [r["event_id"] for r in body.get("results", [])][:20]
        summary["error_codes"] = sorted(
            {e["code"] for r in body.get("results", []) for e in r["errors"]}
        )
    if "error" in body:
        summary["error_code"] = body["error"].get("code")
        if "fbtrace_id" in body["error"]:
            summary["fbtrace_id"] = body["error"]["fbtrace_id"]
    if "events_received" in body:  # the Graph-compatible route's answer
        summary["events_received"] = body["events_received"]
        summary["fbtrace_id"] = body.get("fbtrace_id")
    return summary
