"""Source adapters: pure functions from a provider's payload to Meta-shaped caller events.

Each adapter (sgtm, shopify, stripe, generic) turns what its sender posts into events with Meta's
field names and raw PII, which then take the same path as `POST /events`: `Ingest.accept`
(consent, enrich, validate, publish, 202). Signatures are checked over the raw body before any
adapter runs (capi.sources.signatures); the HTTP routes live in capi.ingest.webhooks.
"""

from __future__ import annotations

from capi.errors import Ignored  # noqa: F401 - part of the family, raised here
