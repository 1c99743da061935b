"""`POST /{version}/{pixel_id}/events`: the relay as a drop-in for graph.facebook.com.

An integration that already sends server events to Meta (Meta's business SDKs, e-commerce
plugins, code copied from Meta's docs) switches to the relay by changing its Graph base URL and
using a relay API key as its `access_token`. The route runs the same contract as `/events`
(consent, enrichment, validation, publish before answering) and answers as Graph does:

- 200 `{"events_received": N, "messages": [...], "fbtrace_id": "..."}` once Pub/Sub acknowledged
  every event; `messages` carries the relay's warnings as text (Meta's are empty or advisory too).
- Errors in Graph's envelope `{"error": {"message", "type", "code", "error_subcode",
  "is_transient", "error_user_title", "error_user_msg", "fbtrace_id"}}` with Graph's HTTP status:
  190 for a key that is not a relay key (401), 100 for an invalid request or event (400; one
  invalid event rejects the whole request, as Meta does, and `error_user_msg` names the event and
  field), 100 / subcode 33 for a pixel the relay does not route (400), 2635 for a version Meta no
  longer serves (400), and code 2 with `is_transient: true` when the queue did not take the
  events (503), which Meta's SDKs treat as retryable.
- `fbtrace_id` is the relay's id for the request; the request's log line carries it too.

Bodies as Meta accepts them: JSON, `application/x-www-form-urlencoded` and `multipart/form-data`;
`data` is a JSON array (or, in a form, a JSON string of one) whose items are event objects or
JSON-encoded event strings (Meta's Python SDK sends the latter). docs/SOURCES.md, "Point an
existing integration at the relay", lists what each accepted field does.
"""

from __future__ import annotations

import io
import re
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from capi.ingest.auth import AuthResult
from capi.ingest.intake import Gate
from capi.meta import rules
from capi.meta.body import BodyError, events_from_value, is_json_content_type, parse_json
from capi.routing import RoutingError
from capi.secret_store import SecretError
from capi.web import IncomingRequest, Reply

GRAPH_PATH = re.compile(r"/(v(\d{1,3})\.(\d{1,2}))/([^/]{1,64})/events/?")
MAX_MESSAGES = 50  # warnings returned in `messages`; the log line has the counts
MAX_USER_MSG_ERRORS = 10  # event errors named in error_user_msg
MAX_FORM_FIELDS = 100  # Meta's events endpoint takes about a dozen parameters
LONG_FIELDS = frozenset({("data",)})  # a JSON body's `data` string: capped by the body's size


def request_id() -> str:
    """An id for one request, shaped like Meta's fbtrace_id (letters, digits, `_`, `-`)."""
    return secrets.token_urlsafe(16)[:22]


def graph_error(
    status: int,
    message: str,
    code: int,
    trace: str,
    *,
    subcode: int | None = None,
    transient: bool = False,
    title: str = "",
    user_msg: str = "",
    kind: str = "OAuthException",
) -> Reply:
    """A reply in Graph's error envelope."""
    error: dict[str, Any] = {"message": message, "type": kind, "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    error["is_transient"] = transient
    if title:
        error["error_user_title"] = title
    if user_msg:
        error["error_user_msg"] = user_msg
    error["fbtrace_id"] = trace
    return Reply(status, {"error": error})


class GraphRoute:
    """The Graph-compatible door of an Ingest. Stateless; one instance serves every request."""

    def handle(self, gate: Gate, request: IncomingRequest, match: re.Match[str]) -> Reply:
        trace = request_id()
        version, major, minor, pixel = match.group(1), match.group(2), match.group(3), match[4]
        if request.method != "POST":
            return graph_error(
                400,
                f"Unsupported {request.method.lower()} request. The relay takes POST "
                f"/{version}/{{pixel_id}}/events only.",
                rules.GRAPH_INVALID_PARAMETER,
                trace,
                kind="GraphMethodException",
            )
        if (int(major), int(minor)) < rules.OLDEST_SERVED_GRAPH_VERSION:
            oldest = "v{}.{}".format(*rules.OLDEST_SERVED_GRAPH_VERSION)
            return graph_error(
                400,
                f"(#2635) You are calling a deprecated version of the Graph API ({version}); "
                f"use {oldest} or later.",
                rules.GRAPH_DEPRECATED_VERSION,
                trace,
            )
        if request.too_large or len(request.body) > gate.max_body_bytes:
            return graph_error(
                413,
                f"(#100) The request body is larger than {gate.max_body_bytes} bytes; send fewer "
                "events per request.",
                rules.GRAPH_INVALID_PARAMETER,
                trace,
            )
        # The key is checked before the body is read when the query or a header carries it: a
        # caller without a key costs nothing more than that look. Only a key sent in the body
        # (Meta's SDKs send it there) needs the body read first, and that read is bounded.
        early = _credentials_outside_body(request)
        if early is not None:
            denied, key_name = _authenticate(gate, request, early, trace)
            if denied is not None:
                return denied
        try:
            fields = _fields(request, gate.max_body_bytes)
        except BodyError as exc:
            status = 413 if exc.status == 413 else 400
            return graph_error(
                status,
                f"(#100) {exc.message}",
                rules.GRAPH_INVALID_PARAMETER,
                trace,
                title="Invalid body",
            )
        if early is None:
            denied, key_name = _authenticate(gate, request, fields, trace)
            if denied is not None:
                return denied
        try:
            pixels = gate.intake.routing.resolve(
                key_name=key_name, route="/graph", requested=[pixel]
            )
        except RoutingError:
            return graph_error(
                400,
                f"Unsupported post request. Object with ID '{pixel[:64]}' does not exist, cannot "
                "be loaded due to missing permissions, or does not support this operation. (The "
                "relay routes only the pixels of CAPI_PIXEL_ID / CAPI_PIXELS that this key may "
                "send to.)",
                rules.GRAPH_INVALID_PARAMETER,
                trace,
                subcode=rules.GRAPH_NO_SUCH_OBJECT_SUBCODE,
                kind="GraphMethodException",
            )
        try:
            batch = events_from_value(_graph_value(fields))
        except BodyError as exc:
            return graph_error(
                400,
                f"(#100) {exc.message}",
                rules.GRAPH_INVALID_PARAMETER,
                trace,
                title="Invalid parameter",
            )
        reply = gate.intake.accept(
            batch, source="graph", pixel_id=pixels[0], key_name=key_name, all_or_nothing=True
        )
        return _graph_reply(reply, trace, len(batch.events))


def _credentials_outside_body(request: IncomingRequest) -> dict[str, Any] | None:
    """The key as the query or the headers carry it, shaped as fields for `_authenticate`;
    None when neither carries one (then it can only be in the body)."""
    token = (request.query or {}).get("access_token")
    if isinstance(token, str) and token.strip():
        return {"access_token": token}
    headers = request.headers
    if (headers.get("Authorization") or "").strip() or (headers.get("X-API-Key") or "").strip():
        return {}
    return None


def _form_fields(request: IncomingRequest, media: str, options: dict[str, str], max_bytes: int):
    """A form body's fields, bounded: at most MAX_FORM_FIELDS fields or parts, values valid
    UTF-8 whether sent raw or percent-encoded (a `%FF` is refused like a raw invalid byte)."""
    if media == "application/x-www-form-urlencoded":
        try:
            text = request.body.decode("utf-8")
            pairs = parse_qsl(
                text,
                keep_blank_values=True,
                encoding="utf-8",
                errors="strict",
                max_num_fields=MAX_FORM_FIELDS,
            )
        except UnicodeDecodeError:
            raise BodyError(400, "invalid_utf8", "the form body is not UTF-8") from None
        except ValueError:
            raise BodyError(
                413, "too_many_fields", f"the form has more than {MAX_FORM_FIELDS} fields"
            ) from None
        return dict(pairs)
    # werkzeug's multipart parser is imported here, not at cold start: the rare case
    from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
    from werkzeug.formparser import FormDataParser

    parser = FormDataParser(
        max_form_memory_size=max_bytes,
        max_content_length=max_bytes,
        silent=False,
        max_form_parts=MAX_FORM_FIELDS,
    )
    try:
        _, form, files = parser.parse(io.BytesIO(request.body), media, len(request.body), options)
    except RequestEntityTooLarge:
        raise BodyError(
            413, "too_many_fields", f"the form has more than {MAX_FORM_FIELDS} parts"
        ) from None
    except (HTTPException, ValueError) as exc:
        raise BodyError(400, "invalid_body", f"the form body could not be read: {exc}") from None
    if files:
        raise BodyError(400, "invalid_body", "files are not taken; send data as a form field")
    fields = {key: form.get(key) for key in form}
    # werkzeug decodes a part with errors="replace": an invalid byte became U+FFFD
    if "\ufffd".encode() not in request.body and any(
        "\ufffd" in value for value in fields.values() if isinstance(value, str)
    ):
        raise BodyError(400, "invalid_utf8", "a form field is not UTF-8")
    return fields


def _fields(request: IncomingRequest, max_bytes: int) -> dict[str, Any]:
    """The request's parameters: the body's fields, then the query's where the body has none."""
    from werkzeug.http import parse_options_header

    media, options = parse_options_header(request.content_type or "")
    body: Mapping[str, Any]
    if not request.body.strip():
        body = {}
    elif is_json_content_type(media):
        # `data` may be a JSON string of the events, as in a form: as long as the body allows
        value = parse_json(request.body, long_strings=LONG_FIELDS)
        if not isinstance(value, dict):
            raise BodyError(400, "invalid_body", "the JSON body must be an object with data")
        body = value
    elif media in ("application/x-www-form-urlencoded", "multipart/form-data"):
        body = _form_fields(request, media, options, max_bytes)
    else:
        raise BodyError(
            415,
            "unsupported_media_type",
            "send JSON, application/x-www-form-urlencoded or multipart/form-data",
        )
    fields: dict[str, Any] = dict(body)
    for key, value in (request.query or {}).items():
        fields.setdefault(key, value)
    return fields


def _authenticate(
    gate: Gate, request: IncomingRequest, fields: Mapping[str, Any], trace: str
) -> tuple[Reply | None, str]:
    token = fields.get("access_token")
    token = token.strip() if isinstance(token, str) else ""
    scheme, _, value = (request.headers.get("Authorization") or "").strip().partition(" ")
    if not token and scheme.lower() == "oauth":
        token = value.strip()
    headers: Mapping[str, str] = {"X-API-Key": token} if token else request.headers
    try:
        result, name = gate.auth.identify(headers)
    except SecretError:
        return graph_error(
            503,
            "An unexpected error has occurred. Please retry your request later. (The relay "
            "could not read its API keys.)",
            rules.GRAPH_SERVICE_UNAVAILABLE,
            trace,
            transient=True,
        ), ""
    if result is AuthResult.OK:
        return None, name
    if result is AuthResult.NOT_CONFIGURED:
        return graph_error(
            500,
            "The relay has no API keys configured (set CAPI_API_KEYS or CAPI_API_KEYS_SECRET).",
            rules.GRAPH_UNKNOWN_ERROR,
            trace,
        ), ""
    presented = token or headers.get("X-API-Key", "")
    hint = (
        "This is a Meta access token: the relay keeps the Meta token itself and takes one of "
        "its own API keys as access_token."
        if presented.startswith("EAA")
        else "Send one of the relay's API keys as access_token (or in X-API-Key)."
    )
    what = "Invalid OAuth access token" if presented else "An access token is required"
    return graph_error(401, f"{what} for this relay. {hint}", rules.GRAPH_INVALID_TOKEN, trace), ""


def _graph_value(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Meta's request as the `{data: [...], test_event_code}` body that /events takes."""
    if "data" not in fields:
        raise BodyError(400, "invalid_body", "The parameter data is required")
    data = fields["data"]
    if isinstance(data, str):
        data = parse_json(data.encode("utf-8"))
    if not isinstance(data, list):
        raise BodyError(400, "invalid_body", "data must be an array of events")
    events = [parse_json(item.encode("utf-8")) if isinstance(item, str) else item for item in data]
    value: dict[str, Any] = {"data": events}
    code = fields.get("test_event_code")
    if code not in (None, ""):
        value["test_event_code"] = code
    return value


def _graph_reply(reply: Reply, trace: str, count: int) -> Reply:
    body = reply.body if isinstance(reply.body, dict) else {}
    results = body.get("results", [])
    if reply.status == 202:
        messages = []
        for r in results:
            who = f"event {r['index']}" + (f" ({r['event_id']})" if r.get("event_id") else "")
            if r.get("status") == "dropped":
                messages.append(f"{who}: not sent: {r.get('reason', 'dropped')}")
            if r.get("match"):
                keys = ", ".join(r["match_keys"]) or "none"
                grade = r["match"]["grade"]
                messages.append(f"{who}: match keys {keys}; grade {grade}: {r['match']['reason']}")
            messages += [f"{who}: {w['path']}: {w['message']}" for w in r["warnings"]]
        return Reply(
            200,
            {"events_received": count, "messages": messages[:MAX_MESSAGES], "fbtrace_id": trace},
        )
    if results:  # one or more invalid events: the whole request is refused
        named = [
            f"event {r['index']}"
            + (f" ({r['event_id']})" if r.get("event_id") else "")
            + f": {e['path'] or 'event'}: {e['message']}"
            for r in results
            for e in r["errors"]
        ]
        more = len(named) - MAX_USER_MSG_ERRORS
        text = "; ".join(named[:MAX_USER_MSG_ERRORS]) + (f"; and {more} more" if more > 0 else "")
        invalid = sum(1 for r in results if r["errors"])
        return graph_error(
            400,
            f"Invalid parameter: {invalid} of {count} events are invalid; none was accepted",
            rules.GRAPH_INVALID_PARAMETER,
            trace,
            title="Invalid event",
            user_msg=text,
        )
    error = body.get("error", {})
    message = error.get("message", "")
    if reply.status == 503:
        return graph_error(
            503,
            f"An unexpected error has occurred. Please retry your request later. ({message})",
            rules.GRAPH_SERVICE_UNAVAILABLE,
            trace,
            transient=True,
        )
    return graph_error(reply.status if reply.status < 500 else 500, f"(#100) {message}", 100, trace)
