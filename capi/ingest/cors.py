"""CORS for browser callers of ingest: an allow-list of exact origins (`CAPI_CORS_ORIGINS`).

Server-to-server callers (sGTM, webhooks, backends) send no `Origin` and are not affected. A
request that carries an `Origin` not on the list is refused with 403, and so is its preflight;
with no list configured, every browser origin is refused. Wildcards are not supported: the
callers present API keys, and a key usable from any web page is a key for everyone.
"""

from __future__ import annotations

from capi.web import IncomingRequest, Reply, error_reply

ALLOWED_METHODS = "POST, OPTIONS"
ALLOWED_HEADERS = "Content-Type, X-API-Key, Authorization"
MAX_AGE_S = "600"


class CorsPolicy:
    def __init__(self, origins: tuple[str, ...] = ()) -> None:
        self.origins = frozenset(o.rstrip("/") for o in origins)

    def screen(self, request: IncomingRequest) -> Reply | None:
        """A reply that ends the request (preflight answer or refusal), or None to go on."""
        origin = request.headers.get("Origin")
        if origin is None:
            if request.method == "OPTIONS":
                return Reply(204, None, {"Allow": ALLOWED_METHODS})
            return None
        if origin.rstrip("/") not in self.origins:
            return error_reply(403, "origin_not_allowed", "this origin may not call the relay")
        if request.method == "OPTIONS":
            return Reply(
                204,
                None,
                {
                    "Access-Control-Allow-Methods": ALLOWED_METHODS,
                    "Access-Control-Allow-Headers": ALLOWED_HEADERS,
                    "Access-Control-Max-Age": MAX_AGE_S,
                },
            )
        return None

    def decorate(self, request: IncomingRequest, reply: Reply) -> Reply:
        origin = request.headers.get("Origin")
        if origin is not None and origin.rstrip("/") in self.origins:
            reply.headers["Access-Control-Allow-Origin"] = origin
            reply.headers["Vary"] = "Origin"
        return reply
