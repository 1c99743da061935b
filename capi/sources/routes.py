"""HTTP routes of the sources: /sgtm and /webhooks/<name>."""

from __future__ import annotations

from typing import Any

from capi.http import IncomingRequest, Reply, error_reply


class SourceRoutes:
    def handle(self, ingest: Any, request: IncomingRequest) -> Reply:
        return error_reply(404, "not_found", f"no route {request.path}")
