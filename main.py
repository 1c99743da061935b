"""Functions Framework entry points (Cloud Run functions): `ingest` (HTTP) and `forward` (HTTP:
Pub/Sub push requests, and POST /drain from Cloud Scheduler when CAPI_DRAIN_SUBSCRIPTION is set).

    functions-framework --source main.py --target ingest --port 8080
    functions-framework --source main.py --target forward --port 8081

Each target imports only its own modules, and builds its handler (and, through it, any Google
client) on the first request, after the server forked, under a lock.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import functions_framework

_lock = threading.Lock()
_handlers: dict[str, Any] = {}


def _build(target: str) -> tuple[Any, int]:
    """The target's handler and its body limit. Builds no Google client (they come on first use,
    after the server forked); raises ConfigError for a setting, routing or mapping it cannot use."""
    from capi import wiring
    from capi.config import Settings

    settings = Settings.from_env()
    if target == "ingest":
        return wiring.build_ingest(settings), settings.max_body_bytes
    # push bodies carry the event base64-encoded, inside an envelope
    return wiring.build_forward(settings), 2 * settings.max_body_bytes


def _handler(target: str) -> tuple[Any, int]:
    handler = _handlers.get(target)
    if handler is None:
        with _lock:
            handler = _handlers.get(target)
            if handler is None:
                handler = _handlers[target] = _build(target)
    return handler


# Every log line of the process is structured JSON: the relay's, Flask's, the Google libraries'
# and gunicorn's (its arbiter sets up its loggers after this module is imported).
if os.environ.get("FUNCTION_TARGET") in {"ingest", "forward"}:
    from capi import logs

    logs.install()
    logs.install_for_gunicorn()

# Build the served target's handler now (cold start, before the first request), importing only
# that target's modules: a misconfigured deployment fails to start, naming the variable or file,
# instead of answering 500 to every request.
if os.environ.get("FUNCTION_TARGET") in {"ingest", "forward"}:
    _handler(os.environ["FUNCTION_TARGET"])


def _serve(target: str, request: Any) -> Any:
    from capi.web import from_flask, to_flask

    handler, max_body_bytes = _handler(target)
    incoming = from_flask(request, max_body_bytes=max_body_bytes)
    if target == "ingest":
        return to_flask(handler.handle(incoming))
    return to_flask(handler.handle(incoming))


@functions_framework.http
def ingest(request: Any) -> Any:
    return _serve("ingest", request)


@functions_framework.http
def forward(request: Any) -> Any:
    return _serve("forward", request)
