"""The one intake every door of ingest ends in: consent -> enrich -> check -> match -> messages ->
publish, and the answer.

`Intake` is built once from `Settings` (capi.wiring) around a `Contract` (capi.meta.contract, the
settings-free core the command line uses with the same settings), the pixel routing and the
publisher. `/events`, `/sgtm`, the webhooks and the Graph-compatible route are doors in front of
it: each reads its sender's body into a `Batch` (capi.sources) and calls `Intake.accept`; a
`Gate` holds what every door shares (the intake, the API keys, the body limit).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from capi import logs
from capi.errors import PublishError
from capi.ingest.auth import ApiKeyAuth, AuthResult
from capi.meta.body import Batch
from capi.meta.contract import CONTRACT_VERSION, Contract, EventResult
from capi.queueing.messages import (
    MAX_MESSAGES_PER_PUBLISH,
    MAX_PUBLISH_BYTES,
    Publisher,
    event_message,
    fits_one_publish,
    publish_size,
)
from capi.routing import Routing, RoutingError, requested_pixels
from capi.secret_store import SecretError
from capi.values import scalar_text
from capi.web import IncomingRequest, Reply, error_reply, error_reply_for

_AUTH_MESSAGES = {
    AuthResult.MISSING: "send your API key in X-API-Key or Authorization: Bearer",
    AuthResult.INVALID: "the API key is not valid",
    AuthResult.NOT_CONFIGURED: "the relay has no API keys configured (set CAPI_API_KEYS or "
    "CAPI_API_KEYS_SECRET)",
}


class Intake:
    """Stateless per request; the publisher is shared and thread-safe."""

    def __init__(
        self,
        *,
        contract: Contract,
        publisher: Publisher,
        routing: Routing,
        test_event_code: str = "",
        clock: Callable[[], float] = time.time,
        hash_at_ingest: bool = False,
    ) -> None:
        self.contract = contract
        self.publisher = publisher
        self.routing = routing
        self.test_event_code = test_event_code
        self.clock = clock
        # CAPI_HASH_AT_INGEST: queue the Meta-ready event (customer information normalized and
        # hashed) instead of the checked one, so that no raw value is stored after this request
        # (docs/PRIVACY.md). The forwarder then only checks its age again.
        self.hash_at_ingest = hash_at_ingest

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
            result = self.contract.check(raw, i, now=now, body=batch.extra)
            result.warnings[:0] = batch.notes.get(i, [])
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
                r.prepared if self.hash_at_ingest and r.prepared is not None else r.event,
                pixel_id=pixel,
                test_event_code=(
                    batch.test_event_code
                    or self.routing.test_event_code(pixel)
                    or self.test_event_code
                ),
                source=source,
                contract=CONTRACT_VERSION,
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


@dataclass
class Gate:
    """What every door shares: the intake its events go to, the API keys, the body limit."""

    intake: Intake
    auth: ApiKeyAuth
    max_body_bytes: int = 1_000_000

    def authenticate(self, request: IncomingRequest) -> tuple[Reply | None, str]:
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

    def too_large(self, request: IncomingRequest) -> Reply | None:
        if request.too_large or len(request.body) > self.max_body_bytes:
            return error_reply(
                413, "body_too_large", f"the body is larger than {self.max_body_bytes} bytes"
            )
        return None


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
