"""The Graph API client: POST {graph}/{version}/{pixel}/events, and what came back.

The token travels in the JSON body (`access_token`), never in the URL, so no proxy or log line
that records URLs can see it. Network errors and timeouts are transient outcomes, not exceptions.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from capi import PARTNER_AGENT
from capi.config import GRAPH_CONNECT_TIMEOUT_S
from capi.meta.answers import MetaError, Outcome, classify


@dataclass(frozen=True)
class GraphResult:
    outcome: Outcome
    http_status: int = 0  # 0: no answer (network error or timeout)
    events_received: int = 0
    fbtrace_id: str = ""
    error: MetaError | None = None
    network_error: str = ""  # exception type when there was no answer
    # True when the request may have reached Meta although no answer came back (read timeout,
    # connection lost after sending): a retry may then make a duplicate, with the same event_id.
    maybe_sent: bool = False
    # Meta's `messages` on a delivery (advisories), as short texts; untrusted, never parsed.
    messages: tuple[str, ...] = ()
    # A 2xx whose events_received is not the number of events sent: which ones Meta counted is
    # not known (transient: a batch is split, a lone event retried).
    miscounted: bool = False

    @property
    def reason(self) -> str:
        if self.network_error:
            return f"network: {self.network_error}"
        if self.error is not None:
            e = self.error
            return f"code={e.code} subcode={e.subcode} http={e.http_status} {e.message}".strip()
        return f"http={self.http_status}"


def build_payload(events: Sequence[dict[str, Any]], *, test_event_code: str = "") -> dict[str, Any]:
    """The JSON body Meta receives (without the token)."""
    payload: dict[str, Any] = {"data": list(events), "partner_agent": PARTNER_AGENT}
    if test_event_code:
        payload["test_event_code"] = test_event_code
    return payload


POOL_MAXSIZE = 128  # >= the forward function's concurrency (Terraform: forward.concurrency)


class GraphClient:
    def __init__(self, base_url: str, version: str, *, timeout_s: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.version = version
        self.timeout_s = timeout_s
        self._session: Any = None
        self._lock = threading.Lock()

    def _get_session(self) -> Any:
        with self._lock:
            if self._session is None:
                import requests

                session = requests.Session()
                # Proxies from the environment (NO_PROXY included) are read once here for the
                # Graph host, not on every request as requests does when trust_env is on.
                session.trust_env = False
                session.proxies = requests.utils.get_environ_proxies(self.base_url)
                # As many pooled connections as concurrent deliveries (the forwarder's threads).
                adapter = requests.adapters.HTTPAdapter(
                    pool_connections=4, pool_maxsize=POOL_MAXSIZE
                )
                session.mount("https://", adapter)
                session.mount("http://", adapter)
                self._session = session
            return self._session

    def events_url(self, pixel_id: str) -> str:
        return f"{self.base_url}/{self.version}/{pixel_id}/events"

    def send(
        self,
        pixel_id: str,
        token: str,
        events: Sequence[dict[str, Any]],
        *,
        test_event_code: str = "",
    ) -> GraphResult:
        import requests

        payload = build_payload(events, test_event_code=test_event_code)
        payload["access_token"] = token
        try:
            body_bytes = json.dumps(
                payload, ensure_ascii=False, allow_nan=False, separators=(",", ":")
            ).encode("utf-8")
        except (ValueError, TypeError) as exc:
            # Retrying cannot fix what cannot be encoded (a non-finite number, a lone
            # surrogate): permanent, with the reason, never "transient network".
            return GraphResult(
                Outcome.REJECTED,
                error=MetaError(0, message=f"the event cannot be encoded as JSON: {exc}"[:300]),
            )
        try:
            response = self._get_session().post(
                self.events_url(pixel_id),
                data=body_bytes,
                headers={"Content-Type": "application/json"},
                timeout=(GRAPH_CONNECT_TIMEOUT_S, self.timeout_s),
            )
        except requests.RequestException as exc:
            return GraphResult(
                Outcome.TRANSIENT, network_error=type(exc).__name__, maybe_sent=_maybe_sent(exc)
            )
        body = _answer_body(response.content)
        if 200 <= response.status_code < 300:
            return _success(response.status_code, body, sent=len(events))
        error = MetaError.from_response(response.status_code, body)
        return GraphResult(
            classify(error), response.status_code, fbtrace_id=error.fbtrace_id, error=error
        )


MAX_META_MESSAGES = 10  # kept from one answer, each cut to 300 characters


def _answer_body(content: bytes) -> Any:
    """Meta's answer as JSON, or None. Every field of it is untrusted input."""
    try:
        return json.loads(content)
    except (ValueError, RecursionError):  # not JSON, too deep, or an absurdly long integer
        return None


def _success(status: int, body: Any, *, sent: int) -> GraphResult:
    """A 2xx is a delivery only when Meta counted every event sent (`events_received`)."""
    received = body.get("events_received") if isinstance(body, dict) else None
    if isinstance(received, bool) or not isinstance(received, int):
        # Not Graph's answer (a proxy, a captive portal, a wrong CAPI_GRAPH_URL): Meta may never
        # have seen the events. Retry rather than call them delivered.
        message = f"HTTP {status} without events_received: not an answer from the Graph API"
        return GraphResult(Outcome.TRANSIENT, status, error=MetaError(status, message=message))
    trace = str(body.get("fbtrace_id") or "")[:100]
    if received != sent:
        # Meta counted fewer (or more) events than it was sent: it is not known which ones, so
        # none is called delivered; the caller retries (same event_id) or dead-letters.
        message = f"Meta counted {received} of {sent} events sent (events_received)"
        return GraphResult(
            Outcome.TRANSIENT,
            status,
            max(received, 0) if received < 2**31 else 0,
            fbtrace_id=trace,
            error=MetaError(status, message=message, fbtrace_id=trace),
            maybe_sent=True,
            miscounted=True,
        )
    raw = body.get("messages")
    messages = tuple(
        str(m)[:300] for m in (raw if isinstance(raw, list) else [])[:MAX_META_MESSAGES]
    )
    return GraphResult(Outcome.DELIVERED, status, received, fbtrace_id=trace, messages=messages)


def _maybe_sent(exc: Exception) -> bool:
    """Whether Meta may have received a request that got no answer. False only when the
    connection was never made (refused, or it timed out while connecting)."""
    import requests
    from urllib3.exceptions import NewConnectionError

    if isinstance(exc, requests.ConnectTimeout):
        return False
    if isinstance(exc, requests.ConnectionError):
        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        return not isinstance(reason, NewConnectionError)
    return isinstance(exc, requests.ReadTimeout)
