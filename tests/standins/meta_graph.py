"""A local stand-in for Meta's Graph API Conversions endpoint (``POST /{version}/{pixel}/events``).

It validates like Meta does (docs/META-RULES.md, sections 1, 2, 3, 5, 6), so that a relay that gets
an answer of 200 from it has sent something Meta would also have accepted. Standard library only.

It keeps its own copy of Meta's rules on purpose and imports nothing from capi/: if the relay's rule
book (capi/meta/rules.py) were wrong, reusing it here would let the mistake pass both.

In-process use::

    with MetaGraphStandIn(tokens=["T"], pixels=["123"]) as meta:
        ...  # point the relay at meta.url
        events = meta.wait_for_events(2, timeout=5)

Process use (fixtures, benchmarks)::

    python tests/standins/meta_graph.py --port 0 --token T [--token T2] [--pixel P ...]

prints ``READY http://127.0.0.1:PORT`` as its first stdout line and serves until SIGTERM / SIGINT.
The process also answers a control API (the same methods as the object; never faulted nor recorded):

    GET  /_standin/events                     accepted events (JSON list)
    GET  /_standin/requests                   every recorded request (JSON list of objects)
    GET  /_standin/wait?n=N&timeout=S         {"events": [...]} once N events arrived, else 408
    POST /_standin/faults   {"kind": "fail"|"error"|"delay"|"drop", "n": 1, ...method kwargs}
    POST /_standin/tokens   {"tokens": ["T2"]}
    POST /_standin/reset

What the stand-in accepts
-------------------------
- Token from the ``access_token`` query parameter, form field or JSON body field, or from an
  ``Authorization: Bearer <t>`` (or ``OAuth <t>``) header. Missing or unknown -> code 190,
  HTTP ``token_error_status`` (401 by default).
- JSON bodies and form-encoded bodies whose ``data`` is a JSON string. Elements of ``data`` may be
  objects or JSON strings of objects: Meta's Python SDK (facebook-business) sends the latter.
- Path ``/{version}/{pixel}/events``. The version must look like ``vNN.N`` and be one of
  ``versions`` (default v22.0 to v27.0; older -> code 2635 "deprecated version", unknown -> 2500).
  A non-numeric pixel, or one outside ``pixels`` when given -> code 100 / subcode 33.

Validation (HTTP 400, code 100; any invalid event rejects the whole request, nothing of it is
recorded as accepted): ``data`` missing / not an array / empty / more than 1000 elements (no
subcode); ``event_time`` more than 7 days old (62 days for ``physical_store``) -> 2804003; more than
``future_tolerance`` (60 s) in the future, not an integer, missing ``event_name`` / ``event_time``
/ ``action_source`` / ``user_data``, invalid ``action_source``, ``website`` without
``event_source_url`` or ``client_user_agent`` -> 2804019; a hashed ``user_data`` field that is not a
SHA-256 hex digest -> 2804016; too little customer information -> 2804050; Purchase without
``custom_data.value`` / ``currency`` -> 2804009 / 2804010; ``fbc`` not ``fb.<int>.<int>.<rest>`` ->
2804001. The first failing event, in order, decides the error; ``RecordedRequest.error_index`` says
which one (Meta does not tell: relays must not rely on it).

Deliberate differences from Meta
--------------------------------
Stricter: the SHA-256 of the empty string (e3b0c442...b855) is rejected as "not hashed" (2804016)
in every hashed field, external_id included: Meta is not known to reject it (it just never
matches), and the relay must never send it. Unversioned paths (``/{pixel}/events``) are
refused (Graph would use the app's default version). A missing token gets code 190 (real Graph
may answer code 104). The subcode for a future ``event_time`` (2804019 here) and the wording of
the top-level ``data`` messages are unconfirmed; classify by code / subcode, never by text.
Looser: ``physical_store`` events may be 62 days old (Meta's docs say so; acceptance is
unconfirmed; ``physical_store_max_age_days=7`` makes it strict). ``external_id`` may be unhashed
(Meta only recommends hashing it); ``fbp``, never-hash
fields (``client_ip_address`` ...), ``custom_data`` beyond Purchase's value/currency,
``data_processing_options`` and unknown fields are not policed. Unknown ``user_data`` keys are
ignored and do not count as customer information. Meta does not deduplicate server events with
the same ``event_id`` in what it reports, and neither do we: ``event_ids()`` shows duplicates.

Fault injection (queued; each Graph request takes the next fault, in order, thread-safe)
-----------------------------------------------------------------------------------------
- ``fail_next(n, status=500, body=None)``: answer ``status`` with a transient Graph error body
  (code 2, ``is_transient: true``), or ``body`` (dict -> JSON, str -> text/plain). Not processed.
- ``error_next(code, subcode=None, status=400, is_transient=False, message=None, n=1)``: any Graph
  error (throttling 4 / 17 / 613 with 400, HTTP 429, 190 with 500 ...). Not processed.
- ``drop_connection_next(n, after_processing=False)``: close the socket without an answer. By
  default the request is not processed; with ``after_processing=True`` it is validated and, if
  valid, recorded as accepted before the socket is closed (Meta got it, the answer was lost).
- ``delay_next(n, seconds)``: the request is processed and recorded at once, flagged ``late=True``,
  and the answer is sent only after ``seconds``. That is the faithful case: Meta may well have
  processed a request whose answer the client stopped waiting for. A relay that retries after a
  timeout therefore sends the same events twice; exactly-once tests must look at ``event_ids()``
  (duplicates are visible) and expect the same ``event_id`` on the retry, never a new one.
A request that took a fail / error / drop (before processing) fault is recorded in ``requests``
with ``fault`` set and ``accepted=False``; its events are never in ``events``.

Observing: ``requests`` (RecordedRequest list), ``events``, ``accepted_requests()``,
``event_ids()``, ``wait_for_events(n, timeout)``, ``wait_for_requests(n, timeout)`` (both raise
TimeoutError). ``stop()`` cuts open connections; ``start()`` after ``stop()`` binds the same port
again (an outage, then recovery, at the same URL). ``clock`` (default time.time) is the "now" of
the 7-day and future checks.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import secrets
import signal
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

try:
    from tests.standins._http import LoopbackService, StandInHandler, StandInServer
except ModuleNotFoundError:  # run as a script (process mode): the script's folder is on the path
    from _http import LoopbackService, StandInHandler, StandInServer  # type: ignore[no-redef]

__all__ = [
    "ACTION_SOURCES",
    "DEFAULT_TOKEN",
    "DEFAULT_VERSIONS",
    "EMPTY_SHA256",
    "MetaGraphStandIn",
    "RecordedRequest",
]

DEFAULT_TOKEN = "standin-token"
DEFAULT_VERSIONS = ("v22.0", "v23.0", "v24.0", "v25.0", "v26.0", "v27.0")
MAX_EVENTS = 1000
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

ACTION_SOURCES = frozenset(
    {
        "email",
        "website",
        "app",
        "phone_call",
        "chat",
        "physical_store",
        "system_generated",
        "business_messaging",
        "other",
    }
)
HASHED_FIELDS = ("em", "ph", "fn", "ln", "db", "ge", "ct", "st", "zp", "country", "external_id")
NEVER_HASHED_FIELDS = (
    "client_ip_address",
    "client_user_agent",
    "fbc",
    "fbp",
    "subscription_id",
    "fb_login_id",
    "lead_id",
    "anon_id",
    "madid",
    "page_id",
    "page_scoped_user_id",
    "ctwa_clid",
    "ig_account_id",
    "ig_sid",
)
# Accepted as customer information without being policed (older or rarer SDK fields).
OTHER_USER_DATA_FIELDS = ("doby", "dobm", "dobd", "f5first", "f5last", "fi")
CUSTOMER_FIELDS = frozenset(HASHED_FIELDS + NEVER_HASHED_FIELDS + OTHER_USER_DATA_FIELDS)
INSUFFICIENT_SETS = (
    frozenset({"ct", "country", "st", "zp", "ge", "client_user_agent"}),
    frozenset({"db", "client_user_agent"}),
    frozenset({"fn", "ge"}),
    frozenset({"ln", "ge"}),
)

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_FBC = re.compile(r"fb\.\d+\.\d+\..+", re.DOTALL)
_VERSION = re.compile(r"v(\d+)\.(\d+)")
_CURRENCY = re.compile(r"[A-Za-z]{3}")
_DAY = 86400

_THROTTLE_MESSAGES = {
    1: "An unknown error occurred",
    2: "An unexpected error has occurred. Please retry your request later.",
    3: "(#3) Application does not have the capability to make this API call.",
    4: "(#4) Application request limit reached",
    10: "(#10) Application does not have permission for this action",
    17: "(#17) User request limit reached",
    100: "Invalid parameter",
    190: "Invalid OAuth access token - Cannot parse access token",
    200: "(#200) Permissions error",
    341: "(#341) Application limit reached",
    368: "(#368) The action attempted has been deemed abusive or is otherwise disallowed",
    613: "(#613) Calls to this api have exceeded the rate limit.",
    80003: "(#80003) There have been too many calls to this ad-account. Wait a bit and try again.",
}


def fbtrace_id() -> str:
    """A random id shaped like Meta's ``fbtrace_id``."""
    return secrets.token_urlsafe(17)[:23]


def _error(
    message: str,
    code: int,
    *,
    subcode: int | None = None,
    type_: str = "OAuthException",
    is_transient: bool | None = None,
    title: str | None = None,
    user_msg: str | None = None,
) -> dict[str, Any]:
    err: dict[str, Any] = {"message": message, "type": type_, "code": code}
    if subcode is not None:
        err["error_subcode"] = subcode
    if is_transient is not None:
        err["is_transient"] = is_transient
    if title is not None:
        err["error_user_title"] = title
    if user_msg is not None:
        err["error_user_msg"] = user_msg
    err["fbtrace_id"] = fbtrace_id()
    return {"error": err}


class _GraphError(Exception):
    def __init__(
        self, status: int, payload: dict[str, Any], *, index: int | None = None, headers=None
    ):
        super().__init__(payload["error"]["message"])
        self.status = status
        self.payload = payload
        self.index = index
        self.headers = headers or {}


def _invalid(subcode: int, title: str, user_msg: str) -> _GraphError:
    """A Conversions API validation error (code 100 with a 2804xxx subcode)."""
    return _GraphError(
        400,
        _error(
            "Invalid parameter",
            100,
            subcode=subcode,
            is_transient=False,
            title=title,
            user_msg=user_msg,
        ),
    )


def _param_error(message: str) -> _GraphError:
    """A Graph parameter error without subcode (bad ``data``)."""
    return _GraphError(400, _error(message, 100, is_transient=False))


def _missing(name: str, where: str = "server events") -> _GraphError:
    return _invalid(
        2804019,
        "Missing Parameter",
        f"The {name} parameter is required for {where}. Add {name} to the event and send it again.",
    )


@dataclass
class RecordedRequest:
    """One request that reached the Graph endpoints (control API calls are not recorded)."""

    method: str
    path: str
    version: str | None
    pixel_id: str | None
    token: str | None
    token_source: str | None
    content_type: str
    params: dict[str, Any]  # query + body parameters, access_token removed
    test_event_code: Any
    partner_agent: Any
    events: list[Any]  # decoded ``data`` (when it could be decoded), accepted or not
    arrival: float  # clock() when the request arrived
    status: int | None = None  # None: the connection was dropped without an answer
    response: Any = None  # JSON payload (dict) or text
    accepted: bool = False
    fault: str | None = None  # "fail", "error", "drop", "delay"
    late: bool = False  # answered after a delay_next() delay
    error_index: int | None = None  # index in data of the event that caused a rejection

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Fault:
    kind: str
    status: int = 500
    body: Any = None
    seconds: float = 0.0
    after_processing: bool = False
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Outcome:
    status: int
    payload: Any
    headers: dict[str, str]
    record: RecordedRequest


class MetaGraphStandIn(LoopbackService):
    """A faithful Conversions API endpoint on 127.0.0.1; see the module docstring."""

    thread_name = "meta-graph-standin"

    def __init__(
        self,
        tokens: Iterable[str] = (DEFAULT_TOKEN,),
        pixels: Iterable[str] | None = None,
        *,
        versions: Iterable[str] | None = DEFAULT_VERSIONS,
        clock: Callable[[], float] = time.time,
        token_error_status: int = 401,
        max_age_days: float = 7,
        physical_store_max_age_days: float = 62,
        future_tolerance: float = 60,
        control_api: bool = False,
        latency_s: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if isinstance(tokens, str):
            tokens = [tokens]
        self._initial_tokens = frozenset(tokens)
        self._tokens = set(self._initial_tokens)
        self.pixels = None if pixels is None else {str(p) for p in pixels}
        self.versions = None if versions is None else set(versions)
        parsed_versions = [_VERSION.fullmatch(v) for v in self.versions or ()]
        self._version_order = sorted(
            ((int(m.group(1)), int(m.group(2))), m.group(0)) for m in parsed_versions if m
        )
        self.clock = clock
        self.token_error_status = token_error_status
        self.max_age = max_age_days * _DAY
        self.physical_store_max_age = physical_store_max_age_days * _DAY
        self.future_tolerance = future_tolerance
        self.control_api = control_api
        # Seconds every Graph answer takes (benchmarks: Meta answers in a few hundred ms). The
        # request is processed at once; only the answer waits.
        self.latency_s = latency_s
        self.host = host
        self.port = port
        self.url: str | None = None
        self._cond = threading.Condition()
        self._requests: list[RecordedRequest] = []
        self._events: list[dict[str, Any]] = []
        self._faults: deque[_Fault] = deque()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._last_port = 0  # start() after stop() binds the same port again

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> str:
        self._stopping.clear()
        return super().start()

    def stop(self) -> None:
        """Stop serving and cut every open connection (pending delayed answers are abandoned)."""
        if self._server is not None:
            self._stopping.set()
        super().stop()

    # ------------------------------------------------------------------ configuration
    def set_tokens(self, tokens: Iterable[str]) -> None:
        """Replace the valid tokens (token rotation)."""
        if isinstance(tokens, str):
            tokens = [tokens]
        with self._cond:
            self._tokens = set(tokens)

    @property
    def tokens(self) -> frozenset[str]:
        with self._cond:
            return frozenset(self._tokens)

    def reset(self) -> None:
        """Forget requests, events and pending faults; restore the tokens given at construction."""
        with self._cond:
            self._requests.clear()
            self._events.clear()
            self._faults.clear()
            self._tokens = set(self._initial_tokens)
            self._cond.notify_all()

    # ------------------------------------------------------------------ faults
    def _queue(self, n: int, fault: _Fault) -> None:
        if n < 0:
            raise ValueError("n must be >= 0")
        with self._cond:
            for _ in range(n):
                self._faults.append(fault)

    def fail_next(self, n: int = 1, status: int = 500, body: Any = None) -> None:
        """The next ``n`` requests get HTTP ``status`` and are not processed.

        ``body`` None -> a transient Graph error (code 2, is_transient true); a dict -> JSON; a
        str -> text/plain (what a proxy in front of Graph sends).
        """
        self._queue(n, _Fault("fail", status=status, body=body))

    def error_next(
        self,
        code: int,
        subcode: int | None = None,
        status: int = 400,
        is_transient: bool = False,
        message: str | None = None,
        *,
        n: int = 1,
        title: str | None = None,
        user_msg: str | None = None,
        type: str = "OAuthException",
        headers: dict[str, str] | None = None,
    ) -> None:
        """The next ``n`` requests get an arbitrary Graph error and are not processed."""
        if message is None:
            message = _THROTTLE_MESSAGES.get(code, f"(#{code}) Stand-in injected error")
        body = {
            "message": message,
            "type": type,
            "code": code,
            "error_subcode": subcode,
            "is_transient": is_transient,
            "error_user_title": title,
            "error_user_msg": user_msg,
        }
        body = {k: v for k, v in body.items() if v is not None}
        self._queue(n, _Fault("error", status=status, body=body, headers=dict(headers or {})))

    def delay_next(self, n: int = 1, seconds: float = 2.0) -> None:
        """The next ``n`` requests are processed at once but answered after ``seconds``."""
        self._queue(n, _Fault("delay", seconds=seconds))

    def drop_connection_next(self, n: int = 1, after_processing: bool = False) -> None:
        """The next ``n`` requests get no answer: the socket is closed.

        With ``after_processing`` the request is first processed (and recorded as accepted when
        valid): the events reached Meta but the client never learns it.
        """
        self._queue(n, _Fault("drop", after_processing=after_processing))

    def clear_faults(self) -> None:
        with self._cond:
            self._faults.clear()

    @property
    def pending_faults(self) -> int:
        with self._cond:
            return len(self._faults)

    def _next_fault(self) -> _Fault | None:
        with self._cond:
            return self._faults.popleft() if self._faults else None

    # ------------------------------------------------------------------ observations
    @property
    def requests(self) -> list[RecordedRequest]:
        """Every Graph request received, in arrival order, including rejected and faulted ones."""
        with self._cond:
            return list(self._requests)

    @property
    def events(self) -> list[dict[str, Any]]:
        """Every accepted event, flattened over requests, in arrival order."""
        with self._cond:
            return list(self._events)

    def accepted_requests(self) -> list[RecordedRequest]:
        with self._cond:
            return [r for r in self._requests if r.accepted]

    def event_ids(self) -> list[Any]:
        """``event_id`` of every accepted event (a list: duplicates stay visible)."""
        return [e.get("event_id") for e in self.events]

    def wait_for_events(self, n: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Block until at least ``n`` events were accepted; return all accepted events.

        Raises TimeoutError (naming what did arrive) when ``timeout`` passes first.
        """
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._events) >= n, timeout):
                statuses = [(r.status, r.fault) for r in self._requests]
                raise TimeoutError(
                    f"expected {n} accepted events within {timeout}s, got {len(self._events)} "
                    f"(event_ids {[e.get('event_id') for e in self._events]}; "
                    f"requests (status, fault): {statuses})"
                )
            return list(self._events)

    def wait_for_requests(self, n: int, timeout: float = 5.0) -> list[RecordedRequest]:
        """Block until at least ``n`` Graph requests (of any outcome) arrived; return them all."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._requests) >= n, timeout):
                raise TimeoutError(
                    f"expected {n} requests within {timeout}s, got {len(self._requests)}"
                )
            return list(self._requests)

    def _record(self, record: RecordedRequest) -> None:
        with self._cond:
            self._requests.append(record)
            if record.accepted:
                self._events.extend(record.events)
            self._cond.notify_all()

    # ------------------------------------------------------------------ the Graph API
    def handle(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        body: bytes,
        *,
        fault: str | None = None,
        late: bool = False,
        dropped: bool = False,
    ) -> _Outcome:
        """Process one Graph request (no faults) and record it. Used by the HTTP handler."""
        split = urlsplit(target)
        query = {k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        content_type = headers.get("content-type", "")
        record = RecordedRequest(
            method=method,
            path=split.path,
            version=None,
            pixel_id=None,
            token=None,
            token_source=None,
            content_type=content_type,
            params={},
            test_event_code=None,
            partner_agent=None,
            events=[],
            arrival=self.clock(),
            fault=fault,
            late=late,
        )
        try:
            payload = self._graph(method, split.path, query, headers, body, record)
            status, extra = 200, {}
            record.accepted = method == "POST"
        except _GraphError as exc:
            status, payload, extra = exc.status, exc.payload, exc.headers
            record.error_index = exc.index
        record.status = None if dropped else status
        record.response = None if dropped else payload
        self._record(record)
        return _Outcome(status, payload, extra, record)

    def _graph(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        body: bytes,
        record: RecordedRequest,
    ) -> dict[str, Any]:
        parts = [p for p in path.split("/") if p]
        if method == "POST" and len(parts) == 3 and parts[2] == "events":
            version, pixel = parts[0], parts[1]
        elif method == "GET" and len(parts) == 2:
            version, pixel = parts
        else:
            raise _GraphError(400, _error(f"Unknown path components: {path}", 2500))
        record.version, record.pixel_id = version, pixel
        self._check_version(version, path)

        params = dict(query)
        params.update(_parse_body(headers.get("content-type", ""), body))
        token, source = params.pop("access_token", None), None
        if token is not None:
            source = "body" if "access_token" not in query else "query"
            token = str(token)
        else:
            auth = headers.get("authorization", "")
            scheme, _, value = auth.partition(" ")
            if scheme.lower() in ("bearer", "oauth") and value.strip():
                token, source = value.strip(), "header"
        record.token, record.token_source = token, source
        record.params = params
        self._check_token(token)
        self._check_pixel(pixel, "post" if method == "POST" else "get")
        if method == "GET":
            return {"id": pixel, "name": f"Stand-in dataset {pixel}"}

        record.test_event_code = params.get("test_event_code")
        record.partner_agent = params.get("partner_agent")
        events = _decode_data(params.get("data"), record)
        self._validate(events)
        return {"events_received": len(events), "messages": [], "fbtrace_id": fbtrace_id()}

    def _check_version(self, version: str, path: str) -> None:
        m = _VERSION.fullmatch(version)
        if m is None:
            raise _GraphError(400, _error(f"Unknown path components: {path}", 2500))
        if self.versions is None or version in self.versions:
            return
        known = self._version_order
        if known and (int(m.group(1)), int(m.group(2))) < known[0][0]:
            raise _GraphError(
                400,
                _error(
                    "(#2635) You are calling a deprecated version of the Graph API. "
                    f"Please update to the latest version: {known[-1][1]}.",
                    2635,
                ),
            )
        raise _GraphError(400, _error(f"Unknown path components: {path}", 2500))

    def _check_token(self, token: str | None) -> None:
        with self._cond:
            valid = token is not None and token in self._tokens
        if valid:
            return
        message = "Invalid OAuth access token - Cannot parse access token"
        raise _GraphError(
            self.token_error_status,
            _error(message, 190),
            headers={"WWW-Authenticate": f'OAuth "Facebook Platform" "invalid_token" "{message}"'},
        )

    def _check_pixel(self, pixel: str, verb: str) -> None:
        if pixel.isdigit() and (self.pixels is None or pixel in self.pixels):
            return
        raise _GraphError(
            400,
            _error(
                f"Unsupported {verb} request. Object with ID '{pixel}' does not exist, cannot be "
                "loaded due to missing permissions, or does not support this operation. Please "
                "read the Graph API documentation at https://developers.facebook.com/docs/graph-api",
                100,
                subcode=33,
                type_="GraphMethodException",
            ),
        )

    # ------------------------------------------------------------------ validation
    def _validate(self, events: list[Any]) -> None:
        if not events:
            raise _param_error("(#100) param data must be a non-empty array")
        if len(events) > MAX_EVENTS:
            raise _param_error(
                f"(#100) param data must be an array of at most {MAX_EVENTS} elements"
            )
        now = self.clock()
        for index, event in enumerate(events):
            try:
                self._validate_event(event, now)
            except _GraphError as exc:
                exc.index = index
                raise

    def _validate_event(self, ev: Any, now: float) -> None:
        if not isinstance(ev, dict):
            raise _param_error("(#100) param data must be an array of objects")
        for name in ("event_name", "event_time", "action_source", "user_data"):
            if ev.get(name) in (None, ""):
                raise _missing(name)
        if not isinstance(ev["event_name"], str):
            raise _invalid(2804019, "Invalid Parameter", "The event_name parameter must be text.")
        event_time = _as_int(ev["event_time"])
        if event_time is None:
            raise _invalid(
                2804019,
                "Invalid Event Time",
                "The event_time parameter must be a Unix timestamp in seconds.",
            )
        action_source = ev["action_source"]
        if action_source not in ACTION_SOURCES:
            raise _invalid(
                2804019,
                "Invalid Action Source",
                f"The action_source value {action_source!r} is not valid. Use one of: "
                + ", ".join(sorted(ACTION_SOURCES))
                + ".",
            )
        max_age = self.physical_store_max_age if action_source == "physical_store" else self.max_age
        if now - event_time > max_age:
            days = int(max_age // _DAY)
            raise _invalid(
                2804003,
                "Event Timestamp Too Old",
                "The timestamp for this event is too far in the past. Events need to be sent from "
                f"your server within {days} days of when they occurred. Enter a timestamp that "
                f"has occurred within the last {days} days.",
            )
        if event_time - now > self.future_tolerance:
            raise _invalid(
                2804019,
                "Event Timestamp In Future",
                "The timestamp for this event is in the future. Enter the time at which the event "
                "actually occurred, as a Unix timestamp in seconds.",
            )
        user_data = ev["user_data"]
        if not isinstance(user_data, dict):
            raise _invalid(
                2804019, "Invalid Parameter", "The user_data parameter must be an object."
            )
        if action_source == "website":
            if not _present(ev.get("event_source_url")):
                raise _missing("event_source_url", "events with action_source website")
            if not _present(user_data.get("client_user_agent")):
                raise _missing("client_user_agent", "events with action_source website")
        _check_hashed(user_data)
        fbc = user_data.get("fbc")
        if fbc is not None and not (isinstance(fbc, str) and _FBC.fullmatch(fbc)):
            raise _invalid(
                2804001,
                "Invalid Click ID",
                "The fbc parameter is not formatted correctly. It should look like "
                "fb.1.1554763741205.AbCdEfGhIjKlMnOpQrStUvWxYz1234567890.",
            )
        present = {k for k, v in user_data.items() if k in CUSTOMER_FIELDS and _present(v)}
        if not present or any(present <= allowed for allowed in INSUFFICIENT_SETS):
            raise _invalid(
                2804050,
                "Too Little Customer Information",
                "The server event has too little customer information, so it can't be matched to "
                "a Meta account. Add more customer information parameters, such as em, ph, "
                "external_id, client_ip_address, fbc or fbp.",
            )
        if ev["event_name"] == "Purchase":
            custom = ev.get("custom_data")
            custom = custom if isinstance(custom, dict) else {}
            if not _is_number(custom.get("value")):
                raise _invalid(
                    2804009,
                    "Missing Value Parameter",
                    "Purchase events need a value parameter in custom_data. Add the purchase "
                    "amount as a number.",
                )
            currency = custom.get("currency")
            if not (isinstance(currency, str) and _CURRENCY.fullmatch(currency)):
                raise _invalid(
                    2804010,
                    "Missing Currency Parameter",
                    "Purchase events need a currency parameter in custom_data. Add a valid "
                    "ISO 4217 three-letter currency code.",
                )


def _present(value: Any) -> bool:
    return value not in (None, "", [], {})


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _is_number(value: Any) -> bool:
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, int | float):
        return True
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return False
        return True
    return False


def _check_hashed(user_data: dict[str, Any]) -> None:
    for name in HASHED_FIELDS:
        raw = user_data.get(name)
        if raw is None:
            continue
        values = raw if isinstance(raw, list) else [raw]
        for value in values:
            if name == "external_id" and (
                (isinstance(value, str) and value.lower() != EMPTY_SHA256)
                or (isinstance(value, int) and not isinstance(value, bool))
            ):
                continue  # unhashed external_id is allowed (hashing is recommended only)
            if isinstance(value, str) and _HEX64.fullmatch(value) and value.lower() != EMPTY_SHA256:
                continue
            empty = isinstance(value, str) and value.lower() == EMPTY_SHA256
            what = "the hash of an empty string" if empty else "not hashed"
            raise _invalid(
                2804016,
                "Unhashed Customer Information",
                f"The {name} parameter in user_data is {what}. Normalize the value and hash it "
                "with SHA-256 (lowercase hexadecimal) before sending it.",
            )


def _parse_body(content_type: str, body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    ctype = content_type.split(";")[0].strip().lower()
    text = body.decode("utf-8", errors="replace")
    is_json = ctype == "application/json" or ctype.endswith("+json")
    if is_json or (ctype != "application/x-www-form-urlencoded" and text.lstrip()[:1] == "{"):
        try:
            parsed = json.loads(text)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    return {k: v[0] for k, v in parse_qs(text, keep_blank_values=True).items()}


def _decode_data(data: Any, record: RecordedRequest) -> list[Any]:
    if data is None:
        raise _param_error("(#100) The parameter data is required")
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            raise _param_error("(#100) param data must be an array.") from None
    if not isinstance(data, list):
        raise _param_error("(#100) param data must be an array.")
    events: list[Any] = []
    for item in data:
        if isinstance(item, str):  # facebook-business sends each event as a JSON string
            with contextlib.suppress(ValueError):
                item = json.loads(item)
        events.append(item)
    record.events = events
    return events


# ---------------------------------------------------------------------- HTTP plumbing
class _Server(StandInServer):
    standin: MetaGraphStandIn


class _Handler(StandInHandler):
    server_version = "MetaGraphStandIn/1"
    server: _Server

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        if isinstance(payload, dict | list):
            data = json.dumps(payload).encode()
            ctype = "application/json; charset=UTF-8"
        else:
            data = str(payload).encode()
            ctype = "text/plain; charset=UTF-8"
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
            trace = payload["error"].get("fbtrace_id")
        elif isinstance(payload, dict):
            trace = payload.get("fbtrace_id")
        else:
            trace = None
        if trace:
            self.send_header("x-fb-trace-id", str(trace))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        standin = self.server.standin
        body = self._body()
        if standin.control_api and self.path.startswith("/_standin/"):
            status, payload = _control(standin, method, self.path, body)
            self._send(status, payload)
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        fault = standin._next_fault()
        if fault is None:
            out = standin.handle(method, self.path, headers, body)
            if standin.latency_s and standin._stopping.wait(standin.latency_s):
                self._drop()
                return
            self._send(out.status, out.payload, out.headers)
            return
        if fault.kind == "delay":
            out = standin.handle(method, self.path, headers, body, fault="delay", late=True)
            if standin._stopping.wait(fault.seconds):
                self._drop()
                return
            try:
                self._send(out.status, out.payload, out.headers)
            except OSError:
                self.close_connection = True  # the client gave up waiting
            return
        if fault.kind == "drop" and fault.after_processing:
            standin.handle(method, self.path, headers, body, fault="drop", dropped=True)
            self._drop()
            return
        record = _bare_record(standin, method, self.path, headers)
        record.fault = fault.kind
        if fault.kind == "drop":
            standin._record(record)
            self._drop()
            return
        if fault.kind == "fail":
            if fault.body is None:
                payload: Any = _error(_THROTTLE_MESSAGES[2], 2, is_transient=True)
            else:
                payload = fault.body
        else:  # error
            payload = {"error": {**fault.body, "fbtrace_id": fbtrace_id()}}
        record.status, record.response = fault.status, payload
        standin._record(record)
        self._send(fault.status, payload, fault.headers)


MetaGraphStandIn.server_class, MetaGraphStandIn.handler_class = _Server, _Handler


def _bare_record(
    standin: MetaGraphStandIn, method: str, target: str, headers: dict[str, str]
) -> RecordedRequest:
    path = urlsplit(target).path
    parts = [p for p in path.split("/") if p]
    return RecordedRequest(
        method=method,
        path=path,
        version=parts[0] if parts else None,
        pixel_id=parts[1] if len(parts) > 1 else None,
        token=None,
        token_source=None,
        content_type=headers.get("content-type", ""),
        params={},
        test_event_code=None,
        partner_agent=None,
        events=[],
        arrival=standin.clock(),
    )


_FAULT_METHODS = {
    "fail": "fail_next",
    "error": "error_next",
    "delay": "delay_next",
    "drop": "drop_connection_next",
}


def _control(standin: MetaGraphStandIn, method: str, target: str, body: bytes) -> tuple[int, Any]:
    split = urlsplit(target)
    name = split.path[len("/_standin/") :].strip("/")
    query = {k: v[0] for k, v in parse_qs(split.query).items()}
    try:
        args = json.loads(body) if body.strip() else {}
    except ValueError:
        return 400, {"error": "body is not JSON"}
    if not isinstance(args, dict):
        return 400, {"error": "body must be a JSON object"}
    try:
        if method == "GET" and name == "events":
            return 200, standin.events
        if method == "GET" and name == "requests":
            return 200, [r.to_dict() for r in standin.requests]
        if method == "GET" and name == "wait":
            n, timeout = int(query.get("n", "1")), float(query.get("timeout", "5"))
            try:
                return 200, {"events": standin.wait_for_events(n, timeout)}
            except TimeoutError as exc:
                return 408, {"error": str(exc), "events": standin.events}
        if method == "POST" and name == "faults":
            kind = args.pop("kind", None)
            if kind not in _FAULT_METHODS:
                return 400, {"error": f"kind must be one of {sorted(_FAULT_METHODS)}"}
            getattr(standin, _FAULT_METHODS[kind])(**args)
            return 200, {"pending_faults": standin.pending_faults}
        if method == "POST" and name == "tokens":
            tokens = args.get("tokens")
            if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
                return 400, {"error": "tokens must be a list of strings"}
            standin.set_tokens(tokens)
            return 200, {"tokens": len(tokens)}
        if method == "POST" and name == "reset":
            standin.reset()
            return 200, {"reset": True}
    except (TypeError, ValueError) as exc:
        return 400, {"error": str(exc)}
    return 404, {"error": f"no control endpoint {method} /_standin/{name}"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Meta Graph API Conversions endpoint stand-in")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", action="append", required=True, help="valid token (repeat)")
    parser.add_argument("--pixel", action="append", help="known pixel id (repeat; default: any)")
    parser.add_argument("--version", action="append", help="accepted Graph version (repeat)")
    parser.add_argument("--any-version", action="store_true", help="accept any vNN.N version")
    parser.add_argument("--token-error-status", type=int, default=401)
    args = parser.parse_args(argv)
    versions = None if args.any_version else (args.version or DEFAULT_VERSIONS)
    standin = MetaGraphStandIn(
        args.token,
        args.pixel,
        versions=versions,
        token_error_status=args.token_error_status,
        control_api=True,
        host=args.host,
        port=args.port,
    )
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    url = standin.start()
    print(f"READY {url}", flush=True)
    try:
        while not done.wait(0.5):
            pass
    finally:
        standin.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
