"""Secret Manager reads, cached with a time-to-live, for tokens, API keys and signing secrets.

The client is created on first use (after the server forked), under a lock, and only then is
`google.cloud.secretmanager` imported: a target that never reads a secret never pays for it.
`CAPI_SECRET_MANAGER_ENDPOINT` (e.g. http://127.0.0.1:9090) points the real client, over its
REST transport and with anonymous credentials, at a local stand-in.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from capi import logs


class SecretError(RuntimeError):
    """A secret could not be read; the message names the secret, never its value."""


class SecretReader:
    """Reads secret versions by full name (projects/P/secrets/S/versions/V), with a TTL cache."""

    def __init__(
        self,
        *,
        ttl_s: float = 300.0,
        endpoint: str = "",
        client_factory: Callable[[], Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl_s = ttl_s
        self._endpoint = endpoint
        self._client_factory = client_factory
        self._clock = clock
        self._client: Any = None
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[str, float]] = {}

    def _get_client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = (self._client_factory or self._default_client)()
            return self._client

    def _default_client(self) -> Any:
        from google.cloud import secretmanager

        if self._endpoint:
            from google.auth.credentials import AnonymousCredentials

            return secretmanager.SecretManagerServiceClient(
                transport="rest",
                credentials=AnonymousCredentials(),
                client_options={"api_endpoint": self._endpoint},
            )
        return secretmanager.SecretManagerServiceClient()

    def get(self, name: str) -> str:
        """The secret's value (UTF-8, surrounding whitespace removed), cached for the TTL."""
        now = self._clock()
        cached = self._cache.get(name)
        if cached is not None and cached[1] > now:
            return cached[0]
        try:
            response = self._get_client().access_secret_version(name=name)
            value = response.payload.data.decode("utf-8").strip()
        except Exception as exc:  # any client/transport failure: name the secret, not the value
            logs.error("secret read failed", secret=name, error_type=type(exc).__name__)
            raise SecretError(f"could not read secret {name}: {type(exc).__name__}") from exc
        self._cache[name] = (value, now + self._ttl_s)
        return value

    def invalidate(self, name: str) -> None:
        """Forget a cached value, so the next `get` reads the secret again (e.g. after a 190)."""
        self._cache.pop(name, None)
