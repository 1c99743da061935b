"""`capi serve`: the whole relay in one local process: ingest on a port, an embedded queue instead
of Pub/Sub (journaled on disk: capi.tools.local_queue), and the forwarder. With no Meta token it
prints, per delivery, the exact JSON it would POST to Meta (hashed PII only); with
`CAPI_ACCESS_TOKEN` and `CAPI_PIXEL_ID` set it delivers. On SIGTERM or Ctrl-C it stops taking
requests, delivers what it can within `drain_s`, and leaves the rest in the journal for the next
start.
"""

from __future__ import annotations

import json
import secrets
import signal
import sys
import threading
from dataclasses import replace
from typing import Any

from capi import logs
from capi.config import ConfigError, Settings
from capi.ingest.handler import Ingest
from capi.tools.local_queue import FileDeadLetters, LocalQueue
from capi.tools.status import PAGE, LiveStatus, StatusPublisher
from capi.tools.status import install as install_status
from capi.tools.status import uninstall as uninstall_status
from capi.web import error_reply, from_flask, to_flask
from capi.wiring import build_forwarder, build_ingest

LOOPBACK = frozenset({"127.0.0.1", "::1"})


def make_app(ingest: Ingest, status: LiveStatus | None = None) -> Any:
    """A Flask app that sends every request to the ingest handler; with `status`, `GET /status`
    (and `GET /`) shows the live page and `GET /status.json` its numbers, to loopback clients
    only."""
    from flask import Flask, Response, request
    from werkzeug.exceptions import HTTPException

    app = Flask("capi-serve")

    def _status_page(path: str) -> Any:
        if status is None or request.method != "GET" or path not in ("", "status", "status.json"):
            return None
        if request.remote_addr not in LOOPBACK:
            return to_flask(error_reply(404, "not_found", "the status page is local only"))
        if path == "status.json":
            return Response(
                json.dumps(status.snapshot(), ensure_ascii=False),
                mimetype="application/json",
                headers={"Cache-Control": "no-store"},
            )
        return Response(PAGE, mimetype="text/html", headers={"Cache-Control": "no-store"})

    @app.route("/", defaults={"path": ""}, methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"])
    @app.route("/<path:path>", methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"])
    def _all(path: str) -> Any:
        page = _status_page(path)
        if page is not None:
            return page
        return to_flask(ingest.handle(from_flask(request, max_body_bytes=ingest.max_body_bytes)))

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:  # a path Flask cannot route, and the like
        code = exc.code or 500
        return to_flask(error_reply(code, "http_error", exc.name or "error"))

    return app


class LocalRelay:
    """Ingest + embedded queue + forwarder, started and stopped together."""

    def __init__(
        self,
        settings: Settings,
        *,
        dlq_path: str,
        journal: str | None = "capi-queue.db",
        workers: int = 2,
    ) -> None:
        dry_run = not (settings.access_token or settings.access_token_secret)
        if not dry_run and not settings.pixel_id:
            raise ConfigError(
                "a Meta token is set but no pixel: set CAPI_PIXEL_ID (the dataset the events "
                "belong to) to deliver, or unset the token for a dry run"
            )
        self.queue = LocalQueue(journal=journal, workers=workers)
        # Batching gathers concurrent pushes; the local queue delivers with `workers` (2) threads,
        # so a batch window would only add its wait to every delivery.
        settings = replace(settings, batch_window_ms=0)
        forwarder = build_forwarder(
            settings, dead_letters=FileDeadLetters(dlq_path), dry_run=dry_run
        )
        self.queue.attach(forwarder)
        self.forwarder = forwarder
        self.status = LiveStatus()
        self.ingest = build_ingest(
            settings, publisher=StatusPublisher(self.queue, self.status), require_pixel=False
        )
        self.server: Any = None

    def start(self, host: str, port: int) -> int:
        import logging

        from werkzeug.serving import make_server

        # Our own structured line per request replaces werkzeug's plain-text access log.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self.queue.start()
        install_status(self.status)
        self.server = make_server(host, port, make_app(self.ingest, self.status), threaded=True)
        threading.Thread(target=self.server.serve_forever, name="capi-http", daemon=True).start()
        return int(self.server.server_port)

    def stop(self, drain_s: float = 10.0) -> int:
        """Stop taking requests, deliver what can be delivered within `drain_s`; returns how
        many events were left in the journal."""
        if self.server is not None:
            self.server.shutdown()
        try:
            return self.queue.stop(drain_s)
        finally:
            uninstall_status(self.status)


def run(
    settings: Settings,
    *,
    host: str,
    port: int,
    dlq_path: str,
    journal: str | None = "capi-queue.db",
    drain_s: float = 10.0,
) -> int:
    generated_key = ""
    if (
        not settings.api_keys
        and not settings.api_keys_secret
        and not settings.allow_unauthenticated
    ):
        generated_key = secrets.token_urlsafe(24)
        settings = replace(settings, api_keys=(generated_key,))
    try:
        relay = LocalRelay(settings, dlq_path=dlq_path, journal=journal)
    except ConfigError as exc:
        print(f"capi serve: configuration error: {exc}", file=sys.stderr)
        return 2
    bound = relay.start(host, port)
    mode = (
        "dry run (no CAPI_ACCESS_TOKEN: payloads are printed)"
        if relay.forwarder.dry_run
        else (f"delivering to {settings.graph_url}/{settings.graph_version}")
    )
    print(f"capi serve: ingest on http://{host}:{bound}/events; {mode}", file=sys.stderr)
    print(f"capi serve: live status on http://{host}:{bound}/status", file=sys.stderr)
    if generated_key:
        print(f"capi serve: API key for this session: {generated_key}", file=sys.stderr)
    if journal:
        print(
            f"capi serve: queue journal {journal}: {relay.queue.recovered} events recovered "
            "from an earlier run",
            file=sys.stderr,
        )
        logs.info("queue journal opened", journal=journal, recovered=relay.queue.recovered)
    else:
        print("capi serve: in-memory queue: events not yet sent are lost on exit", file=sys.stderr)
    print(f"capi serve: dead letters go to {dlq_path}", file=sys.stderr)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    logs.info("capi serve stopping; finishing queued deliveries", drain_s=drain_s)
    left = relay.stop(drain_s)
    if left:
        print(
            f"capi serve: {left} events not yet delivered"
            + (f" are kept in {journal} for the next start" if journal else " are LOST"),
            file=sys.stderr,
        )
    return 0
