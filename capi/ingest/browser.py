"""The browser door (issue 27): `GET /pixel.js` and `POST /browser`, for shops with only the Pixel.

`pixel.js` (capi/ingest/pixel.js, served as it is in the repository) wraps the page's `fbq`: every
`track`/`trackCustom` call gets an `eventID` (the caller's or a new one) that the Pixel sends, and
the same event goes to `POST /browser?key=<browser key>` with `navigator.sendBeacon`. This module
checks what comes back and hands it to the one intake, as every door does.

Browser keys are public: any visitor can read them from the page. So a browser key is never an API
key (it opens this door only), and carries its own limits (`CAPI_BROWSER_KEYS`, a JSON object
`{"<key>": {"origins": [...], "events": [...], "rate_per_minute": N, "cookie_domain": "..."}}`):
- the page's `Origin` must be one of `origins` (exact), and the event's page URL of the same origin;
- only `events` (when given) may be sent; `test_event_code` is never taken from the page;
- at most `rate_per_minute` events a minute for the key (600 by default) and
  CAPI_BROWSER_RATE_PER_IP for one client IP address (60), whatever key or origin it claims;
- a body of at most 16 KB, one event.
The client IP address and user agent come from the request, never from the body: the IP from
`X-Forwarded-For` as Cloud Run sets it (its last entry; CAPI_TRUST_FORWARDED_FOR) or from the
connection (`capi serve`). docs/SOURCES.md, "The browser door", gives the trust model.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from capi.errors import ConfigError
from capi.meta.body import Batch
from capi.meta.rules import HASHED
from capi.web import IncomingRequest, Reply, error_reply

MAX_BROWSER_BODY = 16_384
DEFAULT_KEY_RATE = 600  # events a minute for one browser key
DEFAULT_IP_RATE = 60  # events a minute from one client IP address
FBP_MAX_AGE_S = 90 * 86_400  # Meta's _fbp and _fbc cookies live 90 days
PIXEL_JS = Path(__file__).with_name("pixel.js")
# What the page may send about the customer: the hashed customer information parameters of the
# rule book, minus the split forms; never the IP address, the user agent or the platform ids.
_PAGE_FIELDS = frozenset(k for k, field in HASHED.items() if field.normalizer != "split")


@dataclass(frozen=True)
class BrowserKey:
    name: str
    origins: frozenset[str]
    events: frozenset[str] | None = None  # None: any event name
    rate_per_minute: int = DEFAULT_KEY_RATE
    cookie_domain: str = ""  # set first-party _fbp/_fbc cookies for this domain ("" never)


def parse_browser_keys(text: str) -> dict[str, BrowserKey]:
    """CAPI_BROWSER_KEYS: a JSON object of keys and their limits; ConfigError when unusable."""
    if not text.strip():
        return {}
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"CAPI_BROWSER_KEYS is not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError("CAPI_BROWSER_KEYS must be a JSON object of keys")
    keys = {}
    for key, spec in raw.items():
        if not isinstance(key, str) or len(key) < 16:
            raise ConfigError("CAPI_BROWSER_KEYS: each key must be a string of 16+ characters")
        if not isinstance(spec, dict):
            raise ConfigError(f"CAPI_BROWSER_KEYS[{key[:6]}...]: expected an object")
        origins = spec.get("origins")
        if (
            not isinstance(origins, list)
            or not origins
            or not all(
                isinstance(o, str) and o.startswith(("https://", "http://")) for o in origins
            )
        ):
            raise ConfigError(
                f"CAPI_BROWSER_KEYS[{key[:6]}...].origins: a list of origins (https://shop...)"
            )
        events = spec.get("events")
        if events is not None and not (
            isinstance(events, list) and all(isinstance(e, str) and e for e in events)
        ):
            raise ConfigError(f"CAPI_BROWSER_KEYS[{key[:6]}...].events: a list of event names")
        rate = spec.get("rate_per_minute", DEFAULT_KEY_RATE)
        if not isinstance(rate, int) or isinstance(rate, bool) or not 1 <= rate <= 100_000:
            raise ConfigError(f"CAPI_BROWSER_KEYS[{key[:6]}...].rate_per_minute: 1 to 100000")
        cookie_domain = spec.get("cookie_domain", "")
        if not isinstance(cookie_domain, str):
            raise ConfigError(f"CAPI_BROWSER_KEYS[{key[:6]}...].cookie_domain: a domain")
        keys[key] = BrowserKey(
            name=f"browser-{key[:6]}",
            origins=frozenset(o.rstrip("/") for o in origins),
            events=frozenset(events) if events is not None else None,
            rate_per_minute=rate,
            cookie_domain=cookie_domain.lstrip("."),
        )
    return keys


class RateLimiter:
    """A token bucket per name (a key, an IP address): `rate` a minute, bursts of up to a
    minute's worth. Memory is bounded: the least recently seen names are forgotten first."""

    def __init__(
        self, *, capacity: int = 50_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._capacity = capacity
        self._clock = clock
        self._lock = threading.Lock()

    def allow(self, name: str, rate_per_minute: int) -> bool:
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.pop(name, (float(rate_per_minute), now))
            tokens = min(float(rate_per_minute), tokens + (now - last) * rate_per_minute / 60)
            allowed = tokens >= 1
            self._buckets[name] = (tokens - 1 if allowed else tokens, now)
            while len(self._buckets) > self._capacity:
                self._buckets.popitem(last=False)
            return allowed


class BrowserDoor:
    def __init__(
        self,
        keys: Mapping[str, BrowserKey],
        *,
        ip_rate_per_minute: int = DEFAULT_IP_RATE,
        trust_forwarded_for: bool = False,
        limiter: RateLimiter | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.keys = dict(keys)
        self.ip_rate = ip_rate_per_minute
        self.trust_forwarded_for = trust_forwarded_for
        self.limiter = limiter or RateLimiter()
        self.clock = clock
        self._script: bytes | None = None

    # -- GET /pixel.js -------------------------------------------------------------------------

    def script(self, request: IncomingRequest) -> Reply:
        if request.method not in ("GET", "HEAD"):
            return error_reply(405, "method_not_allowed", "GET /pixel.js")
        if self._script is None:
            self._script = PIXEL_JS.read_bytes()
        return Reply(
            200,
            self._script,
            {
                "Content-Type": "application/javascript; charset=utf-8",
                "Cache-Control": "public, max-age=3600",
                "Access-Control-Allow-Origin": "*",
            },
        )

    # -- POST /browser -------------------------------------------------------------------------

    def handle(self, gate: Any, request: IncomingRequest) -> Reply:
        key = self.keys.get(request.query.get("key", ""))
        origin = (request.headers.get("Origin") or "").rstrip("/")
        if request.method == "OPTIONS":
            if key is None or origin not in key.origins:
                return error_reply(403, "origin_not_allowed", "this origin may not send events")
            return self._cors(
                Reply(204, None, {"Access-Control-Allow-Methods": "POST, OPTIONS",
                                  "Access-Control-Allow-Headers": "Content-Type",
                                  "Access-Control-Max-Age": "600"}),
                origin,
            )  # fmt: skip
        if request.method != "POST":
            return error_reply(405, "method_not_allowed", "POST /browser")
        ip = self._client_ip(request)
        if not self.limiter.allow(f"ip:{ip}", self.ip_rate):
            return error_reply(429, "rate_limited", "too many events from this address")
        if key is None:
            return error_reply(401, "browser_key_invalid", "the browser key is not valid")
        if origin not in key.origins:
            return error_reply(403, "origin_not_allowed", "this origin may not send events")
        return self._cors(self._accept(gate, request, key, origin, ip), origin)

    def _accept(
        self, gate: Any, request: IncomingRequest, key: BrowserKey, origin: str, ip: str
    ) -> Reply:
        """The answer to an event from a page of `origin`, one of the key's."""
        if not self.limiter.allow(f"key:{key.name}", key.rate_per_minute):
            return error_reply(429, "rate_limited", "too many events for this key")
        if request.too_large or len(request.body) > MAX_BROWSER_BODY:
            return error_reply(413, "body_too_large", f"at most {MAX_BROWSER_BODY} bytes")
        try:
            sent = json.loads(request.body)
        except (ValueError, RecursionError):
            sent = None
        if not isinstance(sent, dict):
            return error_reply(400, "bad_body", "send one event as a JSON object")
        event_name = sent.get("event_name")
        if not isinstance(event_name, str) or not event_name:
            return error_reply(400, "bad_body", "event_name is required")
        if key.events is not None and event_name not in key.events:
            return error_reply(403, "event_not_allowed", f"{event_name[:40]!r} is not allowed")
        page = sent.get("event_source_url")
        if not isinstance(page, str) or _origin_of(page) != origin:
            return error_reply(400, "bad_page_url", "event_source_url must be a page of the origin")
        cookies = _cookies(request.headers.get("Cookie", ""))
        event, set_cookies = self._event(sent, request, ip, cookies, key)
        reply = gate.intake.accept(Batch([event]), source="browser", route="/browser")
        if reply.status < 300:
            # First-party cookies, set by the shop's own subdomain: they outlive script-set ones
            # under browsers' tracking protection (docs/SOURCES.md lists what browsers still cap).
            reply.cookies.extend(set_cookies)
        return reply

    def _event(
        self,
        sent: dict[str, Any],
        request: IncomingRequest,
        ip: str,
        cookies: dict[str, str],
        key: BrowserKey,
    ) -> tuple[dict[str, Any], list[str]]:
        now = self.clock()
        user: dict[str, Any] = {}
        given = sent.get("user_data")
        if isinstance(given, dict):
            user.update({k: v for k, v in given.items() if k in _PAGE_FIELDS})
        user["client_ip_address"] = ip
        user["client_user_agent"] = request.headers.get("User-Agent", "")[:1000]
        set_cookies: list[str] = []
        fbp = _text(sent.get("fbp")) or cookies.get("_fbp", "")
        if not fbp and key.cookie_domain:
            fbp = f"fb.1.{int(now * 1000)}.{secrets.randbelow(2**31)}"
            set_cookies.append(_cookie("_fbp", fbp, key.cookie_domain))
        fbc = _text(sent.get("fbc")) or cookies.get("_fbc", "")
        fbclid = _text(sent.get("fbclid"))
        if fbclid and not fbc.endswith("." + fbclid):
            fbc = f"fb.1.{int(now * 1000)}.{fbclid}"
            if key.cookie_domain:
                set_cookies.append(_cookie("_fbc", fbc, key.cookie_domain))
        if fbp:
            user["fbp"] = fbp
        if fbc:
            user["fbc"] = fbc
        event: dict[str, Any] = {
            "event_name": sent["event_name"],
            "event_time": int(now),
            "action_source": "website",
            "event_source_url": sent["event_source_url"],
            "user_data": user,
        }
        for field in ("event_id", "referrer_url"):
            value = _text(sent.get(field))
            if value:
                event[field] = value
        if isinstance(sent.get("custom_data"), dict):
            event["custom_data"] = sent["custom_data"]
        return event, set_cookies

    def _client_ip(self, request: IncomingRequest) -> str:
        if self.trust_forwarded_for:
            forwarded = request.headers.get("X-Forwarded-For", "")
            if forwarded:
                # Cloud Run appends the address it received the request from: the last entry.
                # Entries before it are whatever the client wrote.
                return forwarded.rsplit(",", 1)[-1].strip()
        return request.client_ip

    @staticmethod
    def _cors(reply: Reply, origin: str) -> Reply:
        if origin:
            reply.headers["Access-Control-Allow-Origin"] = origin
            reply.headers["Access-Control-Allow-Credentials"] = "true"
            reply.headers["Vary"] = "Origin"
        return reply


def _origin_of(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return ""
    return f"{parts.scheme}://{parts.netloc}"


def _text(value: Any) -> str:
    return value[:500] if isinstance(value, str) else ""


def _cookies(header: str) -> dict[str, str]:
    found = {}
    for part in header.split(";")[:50]:
        name, _, value = part.strip().partition("=")
        if name in ("_fbp", "_fbc"):
            found[name] = value[:500]
    return found


def _cookie(name: str, value: str, domain: str) -> str:
    return f"{name}={value}; Domain={domain}; Path=/; Max-Age={FBP_MAX_AGE_S}; Secure; SameSite=Lax"
