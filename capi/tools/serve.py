"""`capi serve`: the whole relay in one local process: ingest on a port, an embedded queue instead
of Pub/Sub (journaled on disk: capi.tools.local_queue), and the forwarder. With no Meta token it
prints, per delivery, the exact JSON it would POST to Meta (hashed PII only); with
`CAPI_ACCESS_TOKEN` and `CAPI_PIXEL_ID` set it delivers. On SIGTERM or Ctrl-C it stops taking
requests, delivers what it can within `drain_s`, and leaves the rest in the journal for the next
start.

It bounds what clients can hold: a request body (and an idle keep-alive connection) must arrive
within `READ_TIMEOUT_S`, and at most `MAX_CONNECTIONS` connections are served at once; the next
one gets a 503 at once (each connection is a thread: 3,000 half-sent bodies were 3,000 threads
and 3 GB before). The live page answers only requests whose `Host` names the loopback address
or `localhost` (a page of another site, rebound by DNS to 127.0.0.1, cannot read it).
"""

from __future__ import annotations

import json
import secrets
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from capi import logs
from capi.config import ConfigError, Settings
from capi.ingest.handler import Ingest
from capi.meta.contract import Contract
from capi.tools.local_queue import RETRY_HORIZON_S, FileDeadLetters, LocalQueue
from capi.tools.status import PAGE, LiveStatus, StatusPublisher
from capi.tools.status import install as install_status
from capi.tools.status import uninstall as uninstall_status
from capi.web import Reply, error_reply, from_flask, to_flask
from capi.wiring import build_forwarder, build_ingest

LOOPBACK = frozenset({"127.0.0.1", "::1"})
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})
READ_TIMEOUT_S = 10.0  # a request body, or the next request on a kept-alive connection
MAX_CONNECTIONS = 128  # connections served at once (one thread each)


def loopback_host(host: str) -> bool:
    """Whether an HTTP `Host` header names this machine's loopback address (port allowed)."""
    host = host.strip().lower()
    if host.startswith("["):
        name = host[: host.find("]") + 1] if "]" in host else host
    else:
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return name in LOOPBACK_HOSTS


def make_app(
    ingest: Ingest,
    status: LiveStatus | None = None,
    health: Callable[[], str] | None = None,
) -> Any:
    """A Flask app that sends every request to the ingest handler; with `status`, `GET /status`
    (and `GET /`) shows the live page and `GET /status.json` its numbers, to loopback clients
    that name a loopback host only; with `health`, `GET /healthz` answers 503 with its reason
    while it returns one (the journal cannot be written)."""
    from flask import Flask, Response, request
    from werkzeug.exceptions import ClientDisconnected, HTTPException

    app = Flask("capi-serve")

    def _status_page(path: str) -> Any:
        if status is None or request.method != "GET" or path not in ("", "status", "status.json"):
            return None
        if request.remote_addr not in LOOPBACK or not loopback_host(request.host):
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
        if path == "healthz" and health is not None and request.method in ("GET", "HEAD"):
            problem = health()
            if problem:
                return to_flask(Reply(503, {"status": "unavailable", "reason": problem}))
        try:
            incoming = from_flask(request, max_body_bytes=ingest.max_body_bytes)
        except (OSError, ClientDisconnected):  # the body did not arrive within the read timeout
            return to_flask(
                error_reply(408, "request_timeout", "the request body did not arrive in time")
            )
        return to_flask(ingest.handle(incoming))

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
        retry_horizon_s: float = RETRY_HORIZON_S,
        max_connections: int = MAX_CONNECTIONS,
        read_timeout_s: float = READ_TIMEOUT_S,
    ) -> None:
        dry_run = not (settings.access_token or settings.access_token_secret)
        if not dry_run and not settings.pixel_id:
            raise ConfigError(
                "a Meta token is set but no pixel: set CAPI_PIXEL_ID (the dataset the events "
                "belong to) to deliver, or unset the token for a dry run"
            )
        self.max_connections = max_connections
        self.read_timeout_s = read_timeout_s
        self.queue = LocalQueue(
            journal=journal,
            workers=workers,
            retry_horizon_s=retry_horizon_s,
            batch_size=1000,  # what is due goes to Meta together: one request per 1,000 events
        )
        # Batching gathers concurrent pushes; the local queue delivers with `workers` (2) threads,
        # so a batch window would only add its wait to every delivery.
        settings = replace(settings, batch_window_ms=0)
        try:
            forwarder = build_forwarder(
                settings, dead_letters=FileDeadLetters(dlq_path), dry_run=dry_run
            )
        except BaseException:
            self.queue.close()
            raise
        self.queue.attach(forwarder)
        self.forwarder = forwarder
        self.status = LiveStatus(contract=Contract.from_settings(settings))
        self.ingest = build_ingest(
            settings, publisher=StatusPublisher(self.queue, self.status), require_pixel=False
        )
        self.server: Any = None

    def start(self, host: str, port: int) -> int:
        import logging

        # Our own structured line per request replaces werkzeug's plain-text access log.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self.queue.start()
        install_status(self.status)
        app = make_app(self.ingest, self.status, health=self.queue.health)
        self.server = bounded_server(
            host, port, app, max_connections=self.max_connections, timeout_s=self.read_timeout_s
        )
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


BUSY_REPLY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Retry-After: 1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s"
)


def bounded_server(
    host: str, port: int, app: Any, *, max_connections: int, timeout_s: float
) -> Any:
    """Werkzeug's threaded server with a read timeout per connection and a cap on connections
    served at once: the one over the cap is answered 503 and closed, without a thread."""
    from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

    body = b'{"error":{"code":"busy","message":"too many connections; retry"}}'
    busy = BUSY_REPLY % (len(body), body)

    class Handler(WSGIRequestHandler):
        timeout = timeout_s  # StreamRequestHandler sets it on the socket: reads end in time

    class Server(ThreadedWSGIServer):
        def __init__(self) -> None:
            super().__init__(host, port, app, handler=Handler)
            self.slots = threading.BoundedSemaphore(max_connections)

        def process_request(self, request: Any, client_address: Any) -> None:
            if not self.slots.acquire(blocking=False):
                try:
                    request.settimeout(1.0)
                    request.sendall(busy)
                except OSError:
                    pass
                self.shutdown_request(request)
                return
            try:
                super().process_request(request, client_address)
            except BaseException:
                self.slots.release()
                raise

        def process_request_thread(self, request: Any, client_address: Any) -> None:
            try:
                super().process_request_thread(request, client_address)
            finally:
                self.slots.release()

    return Server()


def run(
    settings: Settings,
    *,
    host: str,
    port: int,
    dlq_path: str,
    journal: str | None = "capi-queue.db",
    drain_s: float = 10.0,
    retry_horizon_s: float = RETRY_HORIZON_S,
    max_connections: int = MAX_CONNECTIONS,
    read_timeout_s: float = READ_TIMEOUT_S,
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
        relay = LocalRelay(
            settings,
            dlq_path=dlq_path,
            journal=journal,
            retry_horizon_s=retry_horizon_s,
            max_connections=max_connections,
            read_timeout_s=read_timeout_s,
        )
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
