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
from capi.errors import SecretError

DEFAULT_READ_TIMEOUT_S = 5.0
DEFAULT_FAILURE_TTL_S = 10.0


class SecretReader:
    """Reads secret versions by full name (projects/P/secrets/S/versions/V), with a TTL cache.

    Every read has a deadline (`timeout_s`, retries included), so a slow Secret Manager cannot
    hold a request past the function's timeout. A failed read is remembered for
    `failure_ttl_s`: in that window no new read is made (a flood of requests makes one read, not
    one each), and the last good value, if there is one, is used instead of failing.
    """

    def __init__(
        self,
        *,
        ttl_s: float = 300.0,
        timeout_s: float = DEFAULT_READ_TIMEOUT_S,
        failure_ttl_s: float = DEFAULT_FAILURE_TTL_S,
        endpoint: str = "",
        client_factory: Callable[[], Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl_s = ttl_s
        self._timeout_s = timeout_s
        self._failure_ttl_s = failure_ttl_s
        self._endpoint = endpoint
        self._client_factory = client_factory
        self._clock = clock
        self._client: Any = None
        self._retry: Any = None
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[str, float]] = {}  # name -> (last good value, fresh until)
        self._failed_until: dict[str, float] = {}

    def _get_client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = (self._client_factory or self._default_client)()
                from google.api_core import retry as retries

                self._retry = retries.Retry(
                    initial=0.2, maximum=1.0, multiplier=2.0, timeout=self._timeout_s
                )
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
        """The secret's value (UTF-8, surrounding whitespace removed), cached for the TTL.
        Raises SecretError when it cannot be read and no earlier value is known."""
        now = self._clock()
        cached = self._cache.get(name)
        if cached is not None and cached[1] > now:
            return cached[0]
        if self._failed_until.get(name, 0.0) > now:
            if cached is not None:
                return cached[0]
            raise SecretError(f"could not read secret {name} (a read failed moments ago)")
        try:
            client = self._get_client()
            response = client.access_secret_version(
                name=name, retry=self._retry, timeout=self._timeout_s
            )
            value = response.payload.data.decode("utf-8").strip()
        except Exception as exc:  # any client/transport failure: name the secret, not the value
            self._failed_until[name] = now + self._failure_ttl_s
            if cached is not None:
                logs.warning(
                    "secret read failed; using the last value read",
                    secret=name,
                    error_type=type(exc).__name__,
                )
                return cached[0]
            logs.error("secret read failed", secret=name, error_type=type(exc).__name__)
            raise SecretError(f"could not read secret {name}: {type(exc).__name__}") from exc
        self._cache[name] = (value, now + self._ttl_s)
        self._failed_until.pop(name, None)
        return value

    def invalidate(self, name: str) -> None:
        """Forget a cached value, so the next `get` reads the secret again (e.g. after a 190)."""
        self._cache.pop(name, None)
        self._failed_until.pop(name, None)
