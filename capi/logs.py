"""Structured logs: one JSON object per line with `severity` and `message` (Cloud Logging's format).

Callers pass only safe fields (event ids, names, counts, codes). As a second line of defence every
field whose name is a customer-data or secret field is replaced by "[redacted]", and strings that
look like an e-mail address or a bearer token are masked, so a mistake costs a log line, not a leak.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any, TextIO

_SENSITIVE_KEYS = frozenset(
    {
        "em",
        "ph",
        "fn",
        "ln",
        "db",
        "ge",
        "ct",
        "st",
        "zp",
        "country",
        "external_id",
        "email",
        "phone",
        "first_name",
        "last_name",
        "address",
        "user_data",
        "client_ip_address",
        "client_user_agent",
        "fbc",
        "fbp",
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

_lock = threading.Lock()
_stream: TextIO | None = None


def set_stream(stream: TextIO | None) -> None:
    """Send log lines to `stream` (default: stderr at the time of each call)."""
    global _stream
    _stream = stream


def scrub_text(text: str) -> str:
    """Mask e-mail addresses and token-looking strings inside free text."""
    return _TOKENISH.sub("[redacted]", _EMAIL.sub("[redacted-email]", text))


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
        return [_scrub(v, depth + 1) for v in value[:50]]
    if value is None or isinstance(value, bool | int | float):
        return value
    return scrub_text(str(value))


def log(severity: str, message: str, **fields: Any) -> None:
    """Write one structured log line. `severity`: DEBUG, INFO, WARNING, ERROR."""
    entry = {"severity": severity, "message": scrub_text(message), "time": time.time()}
    for key, value in fields.items():
        entry[key] = "[redacted]" if key.lower() in _SENSITIVE_KEYS else _scrub(value)
    line = json.dumps(entry, ensure_ascii=False, default=str)
    with _lock:
        stream = _stream or sys.stderr
        stream.write(line + "\n")
        stream.flush()


def info(message: str, **fields: Any) -> None:
    log("INFO", message, **fields)


def warning(message: str, **fields: Any) -> None:
    log("WARNING", message, **fields)


def error(message: str, **fields: Any) -> None:
    log("ERROR", message, **fields)
