"""Where the Meta access token comes from: `CAPI_ACCESS_TOKEN` directly, or the Secret Manager
version named by `CAPI_ACCESS_TOKEN_SECRET` (cached with the reader's TTL, re-read on demand
when Meta answers code 190). Per-pixel secrets plug in through `secrets_by_pixel`.
"""

from __future__ import annotations

from collections.abc import Mapping

from capi.errors import NoToken
from capi.secret_store import SecretReader


class TokenSource:
    def __init__(
        self,
        *,
        token: str = "",
        secret_name: str = "",
        reader: SecretReader | None = None,
        secrets_by_pixel: Mapping[str, str] | None = None,
    ) -> None:
        self._token = token
        self._secret_name = secret_name
        self._secrets_by_pixel = dict(secrets_by_pixel or {})
        if (secret_name or self._secrets_by_pixel) and reader is None:
            raise ValueError("a SecretReader is needed to read token secrets")
        self._reader = reader

    def _secret_for(self, pixel_id: str) -> str:
        return self._secrets_by_pixel.get(pixel_id, self._secret_name)

    def get(self, pixel_id: str) -> str:
        """The token for a pixel. Raises NoToken, or SecretError when the secret can't be read."""
        secret = self._secret_for(pixel_id)
        if secret and self._reader is not None:
            return self._reader.get(secret)
        if self._token:
            return self._token
        raise NoToken(f"no Meta access token configured for pixel {pixel_id}")

    def refresh(self, pixel_id: str) -> bool:
        """Drop the cached token so the next `get` re-reads it; False when nothing can change."""
        secret = self._secret_for(pixel_id)
        if secret and self._reader is not None:
            self._reader.invalidate(secret)
            return True
        return False
