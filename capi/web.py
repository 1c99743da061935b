"""The framework-neutral request and reply the handlers work on, and the Flask adapters.

Handlers take an `IncomingRequest` and return a `Reply`, so they are tested without a server and
served by Functions Framework (Flask) or `capi serve` alike.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from capi.errors import CapiError


@dataclass
class IncomingRequest:
    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes = b""
    content_type: str = ""
    query: Mapping[str, str] = field(default_factory=dict)
    too_large: bool = False  # the body was longer than the limit and was not read whole
    client_ip: str = ""  # the connection's peer address (the browser door's fallback)


@dataclass
class Reply:
    status: int
    body: Any = None  # JSON, or bytes sent as they are (their Content-Type in headers)
    headers: dict[str, str] = field(default_factory=dict)
    cookies: list[str] = field(default_factory=list)  # Set-Cookie values, one header each

    def json_bytes(self) -> bytes:
        return json.dumps(self.body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def error_reply(status: int, code: str, message: str, **extra: Any) -> Reply:
    return Reply(status, {"error": {"code": code, "message": message, **extra}})


def error_reply_for(error: CapiError) -> Reply:
    """The answer to an error of the family: its status, code and message."""
    return error_reply(error.status, error.code, error.message)


def from_flask(request: Any, *, max_body_bytes: int) -> IncomingRequest:
    """Read a Flask/Werkzeug request without ever holding more than max_body_bytes + 1 bytes."""
    length = request.content_length
    too_large = length is not None and length > max_body_bytes
    body = b""
    if not too_large:
        body = request.stream.read(max_body_bytes + 1)
        too_large = len(body) > max_body_bytes
    return IncomingRequest(
        method=request.method,
        path=request.path,
        headers=request.headers,
        body=b"" if too_large else body,
        content_type=request.headers.get("Content-Type", ""),
        query=request.args,
        too_large=too_large,
        client_ip=request.remote_addr or "",
    )


def to_flask(reply: Reply) -> Any:
    from flask import Response

    headers = {"Content-Type": "application/json", "Cache-Control": "no-store", **reply.headers}
    if reply.body is None:
        body = b""
    elif isinstance(reply.body, bytes):
        body = reply.body
    else:
        body = reply.json_bytes()
    response = Response(body, status=reply.status, headers=headers)
    for cookie in reply.cookies:
        response.headers.add("Set-Cookie", cookie)
    return response
