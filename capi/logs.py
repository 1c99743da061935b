"""Structured logs through the standard library's `logging`: one JSON object per line with
`severity` and `message` (Cloud Logging's format), for the relay's own lines and for every other
logger that reaches the root logger (Flask, werkzeug, the Google client libraries) and, once
`install` ran in the functions' process, gunicorn's (capi.logs.install_for_gunicorn).

`JsonFormatter` writes the line; `RedactionFilter` cleans it first. Callers pass only safe fields
(event ids, names, counts, codes). As a second line of defence every field whose name is a
customer-data or secret field is replaced by "[redacted]", and strings that look like an e-mail
address or a bearer token are masked, so a mistake costs a log line, not a leak.

Lines written while a request is handled carry Cloud Logging's trace field
(`logging.googleapis.com/trace`, from `X-Cloud-Trace-Context`), so the console groups them.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import re
import sys
from collections.abc import Iterator, Mapping
from typing import Any, TextIO

from capi.meta.rules import USER_DATA_FIELDS

_SENSITIVE_KEYS = frozenset(
    {
        # every customer information parameter of the rule book, hashed or not
        *USER_DATA_FIELDS,
        "email",
        "phone",
        "first_name",
        "last_name",
        "address",
        "user_data",
        "access_token",
        "token",
        "api_key",
        "authorization",
        "secret",
        "password",
    }
)
_EMAIL = re.compile(r"[^\s@\"'<>]+@[^\s@\"'<>]+\.[A-Za-z]{2,}")
_TOKENISH = re.compile(r"\b(EAA[A-Za-z0-9]{10,}|Bearer\s+\S+)")

# A list field keeps at most this many items: a delivery line lists the ids of up to 1,000
# events (capi.forward.delivery_log).
MAX_LIST_ITEMS = 1000

_stream: TextIO | None = None
_trace: contextvars.ContextVar[str] = contextvars.ContextVar("capi_trace", default="")
TRACE_FIELD = "logging.googleapis.com/trace"
_LOGGER = logging.getLogger("capi")
_SEVERITY = {"WARN": "WARNING", "FATAL": "CRITICAL"}


def set_stream(stream: TextIO | None) -> None:
    """Send log lines to `stream` (default: stderr at the time of each line)."""
    global _stream
    _stream = stream


def scrub_text(text: str) -> str:
    """Mask e-mail addresses and token-looking strings inside free text.

    Each pattern runs only on text holding the literal it cannot match without ("@"; "EAA" or
    "Bearer"): most fields are ids and names, and the scan is most of a log line's cost."""
    if "@" in text:
        text = _EMAIL.sub("[redacted-email]", text)
    if "EAA" in text or "Bearer" in text:
        text = _TOKENISH.sub("[redacted]", text)
    return text


def _scrub(value: Any, depth: int = 0) -> Any:
    if depth > 4:
        return "[nested]"
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, Mapping):
        return {
            str(k): "[redacted]" if str(k).lower() in _SENSITIVE_KEYS else _scrub(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_scrub(v, depth + 1) for v in value[:MAX_LIST_ITEMS]]
    if value is None or isinstance(value, bool | int | float):
        return value
    return scrub_text(str(value))


class RedactionFilter(logging.Filter):
    """Cleans a record before any handler writes it: its message (with its arguments) and its
    structured fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = scrub_text(record.getMessage())
        record.args = None
        fields = getattr(record, "capi_fields", None) or {}
        record.capi_fields = {
            key: "[redacted]" if key.lower() in _SENSITIVE_KEYS else _scrub(value)
            for key, value in fields.items()
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = scrub_text(logging.Formatter().formatException(record.exc_info))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: severity, message, time, the structured fields, the logger
    when it is not the relay's own, and the request's trace."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": _SEVERITY.get(record.levelname, record.levelname),
            "message": record.getMessage(),
            "time": record.created,
        }
        if not record.name.startswith("capi"):
            entry["logger"] = record.name
        entry.update(getattr(record, "capi_fields", None) or {})
        if record.exc_text:
            entry["exception"] = record.exc_text[-2000:]
        trace = _trace.get()
        if trace:
            entry[TRACE_FIELD] = trace
        return json.dumps(entry, ensure_ascii=False, default=str)


class _Handler(logging.Handler):
    """Writes to the stream chosen at the time of each line (set_stream, else stderr)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
            stream = _stream or sys.stderr
            stream.write(line + "\n")
            stream.flush()
        except Exception:
            self.handleError(record)


def handler() -> logging.Handler:
    """A handler writing JSON lines through the redaction filter."""
    h = _Handler()
    h.addFilter(RedactionFilter())
    h.setFormatter(JsonFormatter())
    return h


_HANDLER = handler()


def install() -> None:
    """Route the relay's lines and every other logger's (through the root logger) into JSON lines.
    Idempotent; third-party loggers below WARNING stay quiet."""
    root = logging.getLogger()
    if _HANDLER not in root.handlers:
        # a plain stderr handler (logging.basicConfig's) would print every line a second time,
        # as text; handlers of other kinds (a test runner's capture) are left alone
        for old in [h for h in root.handlers if type(h) is logging.StreamHandler]:
            root.removeHandler(old)
        root.addHandler(_HANDLER)
    if root.level == logging.NOTSET or root.level > logging.WARNING:
        root.setLevel(logging.WARNING)
    _LOGGER.setLevel(logging.INFO)
    # The Google client libraries may stop their "google" logger from propagating (their own
    # client logging): give it the same handler then, so its lines are not lost or plain text.
    google = logging.getLogger("google")
    if not google.propagate and _HANDLER not in google.handlers:
        google.addHandler(_HANDLER)


def install_for_gunicorn() -> None:
    """gunicorn gives its own loggers their own plain-text handlers when its arbiter starts: after
    that, hand them ours, so its lines are JSON too."""
    try:
        from gunicorn import glogging
    except ImportError:  # not served by gunicorn
        return
    original = glogging.Logger.setup
    if getattr(original, "capi_json", False):
        return

    def setup(self: Any, cfg: Any) -> None:
        original(self, cfg)
        for log in (self.error_log, self.access_log):
            for old in list(log.handlers):
                log.removeHandler(old)
            log.addHandler(_HANDLER)

    setup.capi_json = True  # type: ignore[attr-defined]
    glogging.Logger.setup = setup


@contextlib.contextmanager
def request_context(headers: Mapping[str, str]) -> Iterator[None]:
    """Lines logged inside carry the request's Cloud trace (`X-Cloud-Trace-Context`)."""
    token = _trace.set(_trace_of(headers))
    try:
        yield
    finally:
        _trace.reset(token)


def _trace_of(headers: Mapping[str, str]) -> str:
    raw = headers.get("X-Cloud-Trace-Context") or headers.get("x-cloud-trace-context") or ""
    trace_id = raw.split("/", 1)[0].strip()
    if not re.fullmatch(r"[0-9a-fA-F]{1,64}", trace_id):
        return ""
    project = os.environ.get("GOOGLE_CLOUD_PROJECT", "").strip()
    return f"projects/{project}/traces/{trace_id}" if project else trace_id


def log(severity: str, message: str, **fields: Any) -> None:
    """Write one structured log line. `severity`: DEBUG, INFO, WARNING, ERROR."""
    install()  # cheap, and it catches a "google" logger that stopped propagating since
    level = logging.getLevelName(severity)
    _LOGGER.log(
        level if isinstance(level, int) else logging.INFO, message, extra={"capi_fields": fields}
    )


def info(message: str, **fields: Any) -> None:
    log("INFO", message, **fields)


def warning(message: str, **fields: Any) -> None:
    log("WARNING", message, **fields)


def error(message: str, **fields: Any) -> None:
    log("ERROR", message, **fields)
