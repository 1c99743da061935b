"""The ingest endpoint: CORS -> route to a door -> the door reads its sender's body -> the intake
(capi.ingest.intake: consent, enrich, check, publish, wait for the ack) -> the answer.

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
from capi.ingest.auth import ApiKeyAuth
from capi.ingest.cors import CorsPolicy
from capi.ingest.graph_route import GRAPH_PATH, GraphRoute
from capi.ingest.intake import Gate, Intake
from capi.meta.body import BodyError, parse_body
from capi.meta.consent import ConsentPolicy
from capi.meta.contract import Contract
from capi.queueing.messages import Publisher
from capi.routing import Routing
from capi.web import IncomingRequest, Reply, error_reply, error_reply_for

EVENT_PATHS = frozenset({"/", "/events"})
SOURCE_PATHS = frozenset({"/sgtm"})  # plus /webhooks/<name>: capi.ingest.webhooks


BROWSER_PATHS = frozenset({"/pixel.js", "/browser"})


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
        contract: Contract | None = None,
        sources: Any = None,
        hash_at_ingest: bool = False,
        browser: Any = None,
    ) -> None:
        """`contract` (built from the same settings as every other door, capi.wiring) or, for
        tests, its parts `default_country`, `date_order` and `consent`."""
        self.pixel_id = pixel_id
        self.cors = cors or CorsPolicy()
        self.intake = Intake(
            contract=contract or Contract(default_country, date_order, consent or ConsentPolicy()),
            publisher=publisher,
            # Which pixels each request's events go to (CAPI_PIXELS; default: pixel_id alone).
            routing=routing or Routing.single(pixel_id),
            test_event_code=test_event_code,
            clock=clock,
            hash_at_ingest=hash_at_ingest,
        )
        self.gate = Gate(self.intake, auth, max_body_bytes)
        # The doors: /events; capi.ingest.webhooks.SourceRoutes: /sgtm and /webhooks/<name>
        # (built on first use when not given: sGTM works, webhooks answer that they are not
        # configured); POST /{version}/{pixel_id}/events (capi.ingest.graph_route).
        self.events = EventsDoor()
        self.sources = sources
        self.graph = GraphRoute()
        # GET /pixel.js and POST /browser (capi.ingest.browser): None when no browser key is set.
        self.browser = browser

    @property
    def auth(self) -> ApiKeyAuth:
        return self.gate.auth

    @property
    def max_body_bytes(self) -> int:
        return self.gate.max_body_bytes

    @property
    def routing(self) -> Routing:
        return self.intake.routing

    @property
    def consent(self) -> ConsentPolicy:
        return self.intake.contract.consent

    @property
    def publisher(self) -> Publisher:
        return self.intake.publisher

    @property
    def test_event_code(self) -> str:
        return self.intake.test_event_code

    def handle(self, request: IncomingRequest) -> Reply:
        with logs.request_context(request.headers):
            return self._handle(request)

    def _handle(self, request: IncomingRequest) -> Reply:
        started = time.perf_counter()
        if request.path in BROWSER_PATHS:  # its own origins, per browser key
            reply = self._browser(request)
        else:
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

    def _browser(self, request: IncomingRequest) -> Reply:
        if self.browser is None:
            return error_reply(
                404, "not_found", "the browser door is off: set CAPI_BROWSER_KEYS to open it"
            )
        if request.path == "/pixel.js":
            return self.browser.script(request)
        return self.browser.handle(self.gate, request)

    def _route(self, request: IncomingRequest) -> Reply:
        if request.method in ("GET", "HEAD") and request.path == "/healthz":
            return Reply(200, {"status": "ok"})
        if request.path in SOURCE_PATHS or request.path.startswith("/webhooks/"):
            if self.sources is None:
                from capi.ingest.webhooks import SourceRoutes

                self.sources = SourceRoutes()
            return self.sources.handle(self.gate, request)
        graph = GRAPH_PATH.fullmatch(request.path)
        if graph is not None:
            return self.graph.handle(self.gate, request, graph)
        if request.path not in EVENT_PATHS:
            return error_reply(404, "not_found", f"no route {request.path}; POST events to /events")
        if request.method != "POST":
            return Reply(
                405,
                {"error": {"code": "method_not_allowed", "message": "use POST"}},
                {"Allow": "POST"},
            )
        return self.events.handle(self.gate, request)


class EventsDoor:
    """`POST /events` (and `/`): a Meta body, one event or an array, with an API key."""

    def handle(self, gate: Gate, request: IncomingRequest) -> Reply:
        denied, key_name = gate.authenticate(request)
        if denied is not None:
            return denied
        too_large = gate.too_large(request)
        if too_large is not None:
            return too_large
        try:
            batch = parse_body(request.body, request.content_type, max_bytes=gate.max_body_bytes)
        except BodyError as exc:
            return error_reply_for(exc)
        return gate.intake.accept(batch, source="events", key_name=key_name, route="/events")


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
