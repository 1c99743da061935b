"""Refusing a signed webhook delivered twice: a replay of a captured request, or a duplicate.

A signature proves who wrote a body, not that this is the first time it arrives. Shopify sends
each delivery with an `X-Shopify-Webhook-Id` that its own retries keep; the header is outside the
signature, so the signed body's digest is remembered too. Only an accepted delivery is
remembered (a retry after a 503 must go through); one in progress blocks its twin. Memory is per
instance and bounded: a window and a number of entries, digests only.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

DEFAULT_WINDOW_S = 48 * 3600.0  # Shopify retries a failed delivery for up to 48 hours
DEFAULT_CAPACITY = 100_000


def _digest(text: str | bytes) -> bytes:
    data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    return hashlib.blake2b(data, digest_size=16).digest()


class ReplayGuard:
    def __init__(
        self,
        *,
        window_s: float = DEFAULT_WINDOW_S,
        capacity: int = DEFAULT_CAPACITY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._window_s = window_s
        self._capacity = capacity
        self._clock = clock
        self._seen: OrderedDict[bytes, float] = OrderedDict()  # digest -> first accepted at
        self._in_progress: set[bytes] = set()
        self._lock = threading.Lock()

    @staticmethod
    def keys(body: bytes, *ids: str) -> tuple[bytes, ...]:
        """The keys of one delivery: its body, and each non-empty delivery id."""
        return (_digest(body), *(_digest("id:" + i) for i in ids if i))

    def _expire(self, now: float) -> None:
        while self._seen:
            at = next(iter(self._seen.values()))
            if now - at < self._window_s and len(self._seen) <= self._capacity:
                break
            self._seen.popitem(last=False)

    def begin(self, keys: Iterable[bytes]) -> bool:
        """True: go on (then call `end`). False: already accepted, or being handled now."""
        keys = tuple(keys)
        with self._lock:
            self._expire(self._clock())
            if any(k in self._seen or k in self._in_progress for k in keys):
                return False
            self._in_progress.update(keys)
            return True

    def end(self, keys: Iterable[bytes], *, accepted: bool) -> None:
        now = self._clock()
        with self._lock:
            for key in keys:
                self._in_progress.discard(key)
                if accepted:
                    self._seen[key] = now
            self._expire(now)
