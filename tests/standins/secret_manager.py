"""A local stand-in for Google Secret Manager's REST API (v1), for the real client library.

The relay's client is the real one, pointed here::

    SecretManagerServiceClient(
        transport="rest",
        client_options={"api_endpoint": url},  # http://127.0.0.1:PORT
        credentials=AnonymousCredentials(),
    )

What that client sends (observed with google-cloud-secret-manager 2.32 against this server; every
call carries the query ``$alt=json;enum-encoding=int``, ``Content-Type: application/json``, an
``x-goog-request-params`` header and, with anonymous credentials, no Authorization header):

    access_secret_version   GET  /v1/projects/P/secrets/S/versions/V:access   (no body)
    add_secret_version      POST /v1/projects/P/secrets/S:addVersion  {"payload": {"data": b64}}
    create_secret           POST /v1/projects/P/secrets?secretId=S    the Secret, e.g.
                                                                       {"replication": {...}}
    disable_secret_version  POST /v1/projects/P/secrets/S/versions/V:disable  {}
    enable_secret_version   POST /v1/projects/P/secrets/S/versions/V:enable   {}
    destroy_secret_version  POST /v1/projects/P/secrets/S/versions/V:destroy  {}
    get_secret_version      GET  /v1/projects/P/secrets/S/versions/V
    list_secret_versions    GET  /v1/projects/P/secrets/S/versions
    get_secret              GET  /v1/projects/P/secrets/S
    delete_secret           DELETE /v1/projects/P/secrets/S

The access answer is
``{"name": ".../versions/N", "payload": {"data": b64, "dataCrc32c": "<int64 as string>"}}``.
The client library does not verify ``dataCrc32c`` itself (Google's samples do, in user code); the
stand-in always sends the true CRC32C (google_crc32c when installed, else a pure-Python one).

Behaviour kept faithful on purpose:
- ``latest`` is the most recently *created* version, whatever its state (Google's reference:
  "an alias to the most recently created SecretVersion"). If that version is disabled, access
  fails with 400 FAILED_PRECONDITION "Secret Version [...] is in DISABLED state." -- it does NOT
  fall back to an older enabled version; users have hit exactly this (see
  google-github-actions/get-secretmanager-secrets#268, external-secrets#4042).
- Errors are Google REST errors ``{"error": {"code", "message", "status"}}``: 404 NOT_FOUND,
  400 FAILED_PRECONDITION / INVALID_ARGUMENT, 409 ALREADY_EXISTS, 403 PERMISSION_DENIED, 503
  UNAVAILABLE, 429 RESOURCE_EXHAUSTED. Over REST, api_core picks the exception class from the
  HTTP status alone, so the gRPC-named classes do not appear: 404 NotFound, 400 BadRequest (also
  for FAILED_PRECONDITION: a disabled version is not FailedPrecondition), 409 Conflict (not
  AlreadyExists), 403 Forbidden (not its subclass PermissionDenied), 429 TooManyRequests (not
  ResourceExhausted, hence not retried by the default retry), 503 ServiceUnavailable.
- Names in answers use the project *number* when ``project_numbers`` maps the id to one, as Google
  does; requests may use either. Without a mapping names echo the project as given.
- The client's default retry for access_secret_version retries ServiceUnavailable and
  ResourceExhausted (first sleep up to 2 s, deadline 60 s): pass ``retry=None`` or a short
  ``Retry`` in tests that inject 503.

Test hooks: ``set_secret(path, value) -> version name`` (creates the secret when needed),
``disable_version(name)``, ``access_count(name)`` (every access request that named the secret, or
exactly that version name, whatever its outcome), ``fail_next(n, status=503, operation=None)``,
``deny(path)`` (403 on access until ``allow(path)``), ``requests`` (all recorded requests).

Process mode::

    python tests/standins/secret_manager.py --port 0 --project P --secret S=VALUE [--secret ...]
        [--project-number N]

prints ``READY http://127.0.0.1:PORT`` and serves until SIGTERM / SIGINT. Control API:
``GET /_standin/access-counts`` ({secret path: count}), ``POST /_standin/faults``
({"n": 1, "status": 503, "operation": "access"}), ``POST /_standin/secrets``
({"name": "projects/P/secrets/S", "value": "..."} -> {"version": name}), ``POST /_standin/reset``
(counts, requests and faults). Rotation also works through the real ``:addVersion`` endpoint.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import re
import signal
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

try:
    from tests.standins._http import LoopbackService, StandInHandler, StandInServer
except ModuleNotFoundError:  # run as a script (process mode): the script's folder is on the path
    from _http import LoopbackService, StandInHandler, StandInServer  # type: ignore[no-redef]

try:
    import google_crc32c as _google_crc32c
except ImportError:  # not installed with every version of the client
    _google_crc32c = None

__all__ = ["SecretManagerStandIn", "crc32c"]

MAX_PAYLOAD_BYTES = 64 * 1024
_SECRET_ID = re.compile(r"[A-Za-z0-9_-]{1,255}")
_STATES = {"ENABLED": 1, "DISABLED": 2, "DESTROYED": 3}
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_FAULT_MESSAGES = {
    429: "Quota exceeded for quota metric 'Access requests' of service "
    "'secretmanager.googleapis.com'.",
    500: "Internal error encountered.",
    503: "The service is currently unavailable.",
    504: "Deadline expired before operation could complete.",
}


def _crc32c_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC32C (Castagnoli) of ``data``, as Secret Manager's ``dataCrc32c``."""
    if _google_crc32c is not None:
        return int(_google_crc32c.value(data))
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


class _ApiError(Exception):
    def __init__(self, status: int, message: str, grpc_status: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.grpc_status = grpc_status or _STATUS_NAMES.get(status, "UNKNOWN")

    def payload(self) -> dict[str, Any]:
        return {"error": {"code": self.status, "message": self.message, "status": self.grpc_status}}


@dataclass
class _Version:
    number: int
    data: bytes
    created: float
    state: str = "ENABLED"
    destroyed: float | None = None


@dataclass
class _Secret:
    created: float
    body: dict[str, Any]
    versions: list[_Version] = field(default_factory=list)


@dataclass
class _Fault:
    status: int
    message: str
    operation: str | None


@dataclass
class RecordedSecretRequest:
    method: str
    path: str
    operation: str
    secret: str | None  # canonical "projects/<id>/secrets/<s>" when the path names one
    status: int
    fault: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _timestamp(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class SecretManagerStandIn(LoopbackService):
    """Secret Manager v1 REST on 127.0.0.1; see the module docstring."""

    thread_name = "secret-manager-standin"

    def __init__(
        self,
        project_numbers: dict[str, str] | None = None,
        *,
        clock: Callable[[], float] = time.time,
        control_api: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.project_numbers = dict(project_numbers or {})
        self._project_ids = {str(v): k for k, v in self.project_numbers.items()}
        self.clock = clock
        self.control_api = control_api
        self.delay_s = 0.0  # answer every API request this much later (a slow Secret Manager)
        self.host = host
        self.port = port
        self.url: str | None = None
        self._lock = threading.Lock()
        self._secrets: dict[str, _Secret] = {}
        self._denied: set[str] = set()
        self._faults: deque[_Fault] = deque()
        self._access: Counter[str] = Counter()
        self._requests: list[RecordedSecretRequest] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._last_port = 0

    # ------------------------------------------------------------------ names
    def _canonical_project(self, project: str) -> str:
        return self._project_ids.get(project, project)

    def _public_project(self, project: str) -> str:
        return self.project_numbers.get(project, project)

    def _secret_key(self, name: str) -> str:
        """``projects/<p>/secrets/<s>[/versions/<v>]`` -> ``projects/<id>/secrets/<s>``."""
        parts = name.strip("/").split("/")
        if len(parts) < 4 or parts[0] != "projects" or parts[2] != "secrets":
            raise ValueError(f"not a secret name: {name!r}")
        return f"projects/{self._canonical_project(parts[1])}/secrets/{parts[3]}"

    def _public(self, key: str, version: int | str | None = None) -> str:
        parts = key.split("/")
        name = f"projects/{self._public_project(parts[1])}/secrets/{parts[3]}"
        return name if version is None else f"{name}/versions/{version}"

    # ------------------------------------------------------------------ test hooks
    def create_secret(self, name: str, body: dict[str, Any] | None = None) -> str:
        key = self._secret_key(name)
        with self._lock:
            if key in self._secrets:
                raise _ApiError(409, f"Secret [{self._public(key)}] already exists.")
            self._secrets[key] = _Secret(
                self.clock(), dict(body or {"replication": {"automatic": {}}})
            )
        return self._public(key)

    def set_secret(self, name: str, value: str | bytes) -> str:
        """Add a version holding ``value`` (creating the secret if needed); return its name."""
        key = self._secret_key(name)
        data = value.encode() if isinstance(value, str) else bytes(value)
        with self._lock:
            secret = self._secrets.get(key)
            if secret is None:
                secret = self._secrets[key] = _Secret(
                    self.clock(), {"replication": {"automatic": {}}}
                )
            version = _Version(len(secret.versions) + 1, data, self.clock())
            secret.versions.append(version)
        return self._public(key, version.number)

    add_version = set_secret

    def _set_state(self, name: str, state: str) -> dict[str, Any]:
        parts = name.strip("/").split("/")
        key = self._secret_key(name)
        with self._lock:
            version = self._find_version(key, parts[5] if len(parts) > 5 else "latest")
            if version.state == "DESTROYED" and state != "DESTROYED":
                raise _ApiError(
                    400,
                    f"Secret Version [{self._public(key, version.number)}] is in DESTROYED state.",
                    "FAILED_PRECONDITION",
                )
            version.state = state
            if state == "DESTROYED":
                version.data = b""
                version.destroyed = self.clock()
            return self._version_json(key, version, ints=False)

    def disable_version(self, name: str) -> None:
        self._set_state(name, "DISABLED")

    def enable_version(self, name: str) -> None:
        self._set_state(name, "ENABLED")

    def destroy_version(self, name: str) -> None:
        self._set_state(name, "DESTROYED")

    def delete_secret(self, name: str) -> None:
        key = self._secret_key(name)
        with self._lock:
            if self._secrets.pop(key, None) is None:
                raise _ApiError(404, f"Secret [{self._public(key)}] not found.")

    def deny(self, name: str) -> None:
        """Answer 403 PERMISSION_DENIED to every access of this secret until ``allow``."""
        with self._lock:
            self._denied.add(self._secret_key(name))

    def allow(self, name: str) -> None:
        with self._lock:
            self._denied.discard(self._secret_key(name))

    def fail_next(
        self,
        n: int = 1,
        status: int = 503,
        message: str | None = None,
        operation: str | None = None,
    ) -> None:
        """The next ``n`` API requests (of ``operation`` only, when given: "access",
        "addVersion", "create", "disable", ...) get a Google error with HTTP ``status``."""
        if message is None:
            message = _FAULT_MESSAGES.get(status, f"Stand-in injected error {status}.")
            if status == 403:
                message = "Permission denied on resource (or it may not exist)."
        with self._lock:
            for _ in range(n):
                self._faults.append(_Fault(status, message, operation))

    def access_count(self, name: str) -> int:
        """Access requests that named this secret (``projects/P/secrets/S``, any version) or,
        for a version name (``.../versions/latest``, ``.../versions/2``), exactly that one."""
        parts = name.strip("/").split("/")
        key = self._secret_key(name)
        with self._lock:
            if len(parts) > 5:
                return self._access[f"{key}/versions/{parts[5]}"]
            return sum(c for k, c in self._access.items() if k.startswith(key + "/versions/"))

    def access_counts(self) -> dict[str, int]:
        """{canonical secret path: number of access requests}."""
        out: Counter[str] = Counter()
        with self._lock:
            for k, c in self._access.items():
                out[k.rsplit("/versions/", 1)[0]] += c
        return dict(out)

    @property
    def requests(self) -> list[RecordedSecretRequest]:
        with self._lock:
            return list(self._requests)

    def value(self, name: str) -> bytes:
        """The payload of a version (``latest`` by default), without counting an access."""
        parts = name.strip("/").split("/")
        key = self._secret_key(name)
        with self._lock:
            return self._find_version(key, parts[5] if len(parts) > 5 else "latest").data

    def reset(self, secrets: bool = False) -> None:
        """Forget access counts, requests and faults (and every secret when ``secrets``)."""
        with self._lock:
            self._access.clear()
            self._requests.clear()
            self._faults.clear()
            self._denied.clear()
            if secrets:
                self._secrets.clear()

    # ------------------------------------------------------------------ the REST API
    def _find_version(self, key: str, version_id: str) -> _Version:
        secret = self._secrets.get(key)
        if secret is None or (version_id == "latest" and not secret.versions):
            raise _ApiError(404, f"Secret [{self._public(key)}] not found or has no versions.")
        if version_id == "latest":
            return secret.versions[-1]
        if not version_id.isdigit() or not 1 <= int(version_id) <= len(secret.versions):
            raise _ApiError(404, f"Secret Version [{self._public(key, version_id)}] not found.")
        return secret.versions[int(version_id) - 1]

    def _version_json(self, key: str, version: _Version, *, ints: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self._public(key, version.number),
            "createTime": _timestamp(version.created),
            "state": _STATES[version.state] if ints else version.state,
            "replicationStatus": {"automatic": {}},
            "etag": f'"{int(version.created * 1e6)}-{version.number}-{version.state[0]}"',
        }
        if version.destroyed is not None:
            out["destroyTime"] = _timestamp(version.destroyed)
        return out

    def _secret_json(self, key: str, secret: _Secret) -> dict[str, Any]:
        out = {k: v for k, v in secret.body.items() if k not in ("name", "createTime")}
        out.update(name=self._public(key), createTime=_timestamp(secret.created))
        out.setdefault("etag", f'"{int(secret.created * 1e6)}"')
        return out

    def handle(self, method: str, target: str, body: bytes) -> tuple[int, dict[str, Any]]:
        """Answer one REST request: (HTTP status, JSON payload)."""
        split = urlsplit(target)
        query = {k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        ints = "enum-encoding=int" in query.get("$alt", "")
        path = unquote(split.path)
        verb = ""
        if ":" in path.rsplit("/", 1)[-1]:
            path, verb = path.rsplit(":", 1)
        parts = path.strip("/").split("/")
        operation, key = self._route(method, parts, verb)
        record = RecordedSecretRequest(method, split.path, operation, key, 0)
        try:
            with self._lock:
                if operation == "access" and key is not None:
                    self._access[f"{key}/versions/{parts[6]}"] += 1
                fault = next((f for f in self._faults if f.operation in (None, operation)), None)
                if fault is not None:
                    self._faults.remove(fault)
                    record.fault = True
                    raise _ApiError(fault.status, fault.message)
            status, payload = (
                200,
                self._dispatch(operation, method, parts, key, query, body, ints=ints),
            )
        except _ApiError as exc:
            status, payload = exc.status, exc.payload()
        record.status = status
        with self._lock:
            self._requests.append(record)
        return status, payload

    def _route(self, method: str, parts: list[str], verb: str) -> tuple[str, str | None]:
        n = len(parts)
        if n < 3 or parts[0] != "v1" or parts[1] != "projects":
            return "unknown", None
        key = (
            f"projects/{self._canonical_project(parts[2])}/secrets/{parts[4]}"
            if n >= 5 and parts[3] == "secrets"
            else None
        )
        table = {
            (4, "POST", ""): "create",
            (4, "GET", ""): "list",
            (5, "POST", "addVersion"): "addVersion",
            (5, "GET", ""): "get",
            (5, "DELETE", ""): "delete",
            (6, "GET", ""): "listVersions",
            (7, "GET", "access"): "access",
            (7, "GET", ""): "getVersion",
            (7, "POST", "disable"): "disable",
            (7, "POST", "enable"): "enable",
            (7, "POST", "destroy"): "destroy",
        }
        if n >= 4 and parts[3] != "secrets":
            return "unknown", None
        if n >= 6 and parts[5] != "versions":
            return "unknown", None
        return table.get((n, method, verb), "unknown"), key

    def _dispatch(
        self,
        operation: str,
        method: str,
        parts: list[str],
        key: str | None,
        query: dict[str, str],
        body: bytes,
        *,
        ints: bool,
    ) -> dict[str, Any]:
        try:
            args = json.loads(body) if body.strip() else {}
        except ValueError:
            raise _ApiError(400, "Invalid JSON payload received.") from None
        if not isinstance(args, dict):
            raise _ApiError(400, "Invalid JSON payload received.")
        if operation == "unknown":
            raise _ApiError(404, f"Method not found: {method} /{'/'.join(parts)}")
        if operation == "create":
            secret_id = query.get("secretId", "")
            if not _SECRET_ID.fullmatch(secret_id):
                raise _ApiError(400, "Invalid secret id: must match [a-zA-Z0-9_-]{1,255}.")
            name = self.create_secret(f"projects/{parts[2]}/secrets/{secret_id}", args)
            with self._lock:
                secret = self._secrets[self._secret_key(name)]
                return self._secret_json(self._secret_key(name), secret)
        if operation == "list":
            project = self._canonical_project(parts[2])
            with self._lock:
                found = [
                    self._secret_json(k, s)
                    for k, s in sorted(self._secrets.items())
                    if k.split("/")[1] == project
                ]
            return {"secrets": found, "totalSize": len(found)} if found else {}
        assert key is not None
        if operation == "addVersion":
            return self._add_version(key, args, ints=ints)
        if operation == "delete":
            self.delete_secret(key)
            return {}
        with self._lock:
            secret = self._secrets.get(key)
            if secret is None and operation in ("access", "getVersion"):
                self._find_version(key, parts[6])  # "... not found or has no versions."
            if secret is None:
                raise _ApiError(404, f"Secret [{self._public(key)}] not found.")
            if operation == "get":
                return self._secret_json(key, secret)
            if operation == "listVersions":
                found = [self._version_json(key, v, ints=ints) for v in reversed(secret.versions)]
                return {"versions": found, "totalSize": len(found)} if found else {}
            if operation == "access":
                if key in self._denied:
                    raise _ApiError(
                        403,
                        "Permission 'secretmanager.versions.access' denied for resource "
                        f"'{self._public(key, parts[6])}' (or it may not exist).",
                    )
                version = self._find_version(key, parts[6])
                if version.state != "ENABLED":
                    raise _ApiError(
                        400,
                        f"Secret Version [{self._public(key, version.number)}] is in "
                        f"{version.state} state.",
                        "FAILED_PRECONDITION",
                    )
                return {
                    "name": self._public(key, version.number),
                    "payload": {
                        "data": base64.b64encode(version.data).decode(),
                        "dataCrc32c": str(crc32c(version.data)),
                    },
                }
            if operation == "getVersion":
                return self._version_json(key, self._find_version(key, parts[6]), ints=ints)
        # disable / enable / destroy take the lock themselves
        state = {"disable": "DISABLED", "enable": "ENABLED", "destroy": "DESTROYED"}[operation]
        out = self._set_state(f"{key}/versions/{parts[6]}", state)
        if ints:
            out["state"] = _STATES[out["state"]]
        return out

    def _add_version(self, key: str, args: dict[str, Any], *, ints: bool) -> dict[str, Any]:
        payload = args.get("payload")
        if not isinstance(payload, dict) or not isinstance(payload.get("data"), str):
            raise _ApiError(400, "Secret Version payload data is required.")
        try:
            data = base64.b64decode(payload["data"], validate=True)
        except (binascii.Error, ValueError):
            raise _ApiError(400, "Invalid value at 'payload.data' (TYPE_BYTES).") from None
        if len(data) > MAX_PAYLOAD_BYTES:
            raise _ApiError(400, f"Secret Version payload exceeds {MAX_PAYLOAD_BYTES} bytes.")
        checksum = payload.get("dataCrc32c")
        if checksum is not None and str(checksum) != str(crc32c(data)):
            raise _ApiError(400, "Checksum mismatch: payload.data_crc32c does not match the data.")
        with self._lock:
            secret = self._secrets.get(key)
            if secret is None:
                raise _ApiError(404, f"Secret [{self._public(key)}] not found.")
            version = _Version(len(secret.versions) + 1, data, self.clock())
            secret.versions.append(version)
            return self._version_json(key, version, ints=ints)


# ---------------------------------------------------------------------- HTTP plumbing
class _Server(StandInServer):
    standin: SecretManagerStandIn


class _Handler(StandInHandler):
    server_version = "SecretManagerStandIn/1"
    server: _Server

    def _dispatch(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        standin = self.server.standin
        if standin.delay_s and not self.path.startswith("/_standin/"):
            time.sleep(standin.delay_s)  # a slow Secret Manager
        if standin.control_api and self.path.startswith("/_standin/"):
            status, payload = _control(standin, method, self.path, body)
        else:
            status, payload = standin.handle(method, self.path, body)
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")


SecretManagerStandIn.server_class, SecretManagerStandIn.handler_class = _Server, _Handler


def _control(
    standin: SecretManagerStandIn, method: str, target: str, body: bytes
) -> tuple[int, Any]:
    name = urlsplit(target).path[len("/_standin/") :].strip("/")
    try:
        args = json.loads(body) if body.strip() else {}
        if not isinstance(args, dict):
            raise ValueError("body must be a JSON object")
        if method == "GET" and name == "access-counts":
            return 200, standin.access_counts()
        if method == "POST" and name == "faults":
            standin.fail_next(**args)
            return 200, {"queued": int(args.get("n", 1))}
        if method == "POST" and name == "secrets":
            return 200, {"version": standin.set_secret(args["name"], args["value"])}
        if method == "POST" and name == "reset":
            standin.reset()
            return 200, {"reset": True}
    except (KeyError, TypeError, ValueError) as exc:
        return 400, {"error": str(exc)}
    return 404, {"error": f"no control endpoint {method} /_standin/{name}"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Secret Manager REST stand-in")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--project", required=True, help="project id for bare secret names")
    parser.add_argument("--project-number", help="answer with this project number, as Google")
    parser.add_argument(
        "--secret",
        action="append",
        default=[],
        metavar="S=VALUE",
        help="secret id (or projects/P/secrets/S) and its first version's value (repeat)",
    )
    args = parser.parse_args(argv)
    numbers = {args.project: args.project_number} if args.project_number else None
    standin = SecretManagerStandIn(numbers, control_api=True, host=args.host, port=args.port)
    for spec in args.secret:
        secret, sep, value = spec.partition("=")
        if not sep or not secret:
            parser.error(f"--secret wants S=VALUE, got {spec!r}")
        path = (
            secret
            if secret.startswith("projects/")
            else f"projects/{args.project}/secrets/{secret}"
        )
        standin.set_secret(path, value)
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
