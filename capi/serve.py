"""`capi serve`: the whole relay in one local process: ingest on a port, an embedded queue instead
of Pub/Sub, and the forwarder. With no Meta token it prints, per delivery, the exact JSON it would
POST to Meta (hashed PII only); with `CAPI_ACCESS_TOKEN` and `CAPI_PIXEL_ID` set it delivers.
"""

from __future__ import annotations

import secrets
import signal
import sys
import threading
from dataclasses import replace
from typing import Any

from capi import logs
from capi.config import Settings
from capi.http import error_reply, from_flask, to_flask
from capi.ingest import Ingest
from capi.local_queue import FileDeadLetters, LocalQueue
from capi.runtime import build_forwarder, build_ingest


def make_app(ingest: Ingest) -> Any:
    """A Flask app that sends every request to the ingest handler."""
    from flask import Flask, request
    from werkzeug.exceptions import HTTPException

    app = Flask("capi-serve")

    @app.route("/", defaults={"path": ""}, methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"])
    @app.route("/<path:path>", methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"])
    def _all(path: str) -> Any:
        return to_flask(ingest.handle(from_flask(request, max_body_bytes=ingest.max_body_bytes)))

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:  # a path Flask cannot route, and the like
        code = exc.code or 500
        return to_flask(error_reply(code, "http_error", exc.name or "error"))

    return app


class LocalRelay:
    """Ingest + embedded queue + forwarder, started and stopped together."""

    def __init__(self, settings: Settings, *, dlq_path: str, workers: int = 2) -> None:
        self.queue = LocalQueue(workers=workers)
        dry_run = not (settings.access_token or settings.access_token_secret)
        forwarder = build_forwarder(
            settings, dead_letters=FileDeadLetters(dlq_path), dry_run=dry_run
        )
        self.queue.attach(forwarder)
        self.forwarder = forwarder
        self.ingest = build_ingest(settings, publisher=self.queue, require_pixel=False)
        self.server: Any = None

    def start(self, host: str, port: int) -> int:
        import logging

        from werkzeug.serving import make_server

        # Our own structured line per request replaces werkzeug's plain-text access log.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self.queue.start()
        self.server = make_server(host, port, make_app(self.ingest), threaded=True)
        threading.Thread(target=self.server.serve_forever, name="capi-http", daemon=True).start()
        return int(self.server.server_port)

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
        self.queue.stop()


def run(settings: Settings, *, host: str, port: int, dlq_path: str) -> int:
    generated_key = ""
    if (
        not settings.api_keys
        and not settings.api_keys_secret
        and not settings.allow_unauthenticated
    ):
        generated_key = secrets.token_urlsafe(24)
        settings = replace(settings, api_keys=(generated_key,))
    relay = LocalRelay(settings, dlq_path=dlq_path)
    bound = relay.start(host, port)
    mode = (
        "dry run (no CAPI_ACCESS_TOKEN: payloads are printed)"
        if relay.forwarder.dry_run
        else (f"delivering to {settings.graph_url}/{settings.graph_version}")
    )
    print(f"capi serve: ingest on http://{host}:{bound}/events; {mode}", file=sys.stderr)
    if generated_key:
        print(f"capi serve: API key for this session: {generated_key}", file=sys.stderr)
    print(f"capi serve: dead letters go to {dlq_path}", file=sys.stderr)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    logs.info("capi serve stopping; finishing queued deliveries")
    relay.stop()
    return 0
