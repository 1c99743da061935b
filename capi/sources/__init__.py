"""Source adapters: from a sender's payload to Meta-shaped caller events.

Every adapter (sgtm, shopify, stripe, generic) has one signature and one error style:
`adapt(body, context) -> Batch`, raising only errors of the family (`BodyError` 400 for a body
that is not what its sender posts, `Ignored` for an authentic payload that makes no event,
`UnknownTopic`). Its events have Meta's field names and raw PII, and take the same path as
`POST /events`: the intake (consent, enrich, validate, publish, 202). Signatures are checked over
the raw body before any adapter runs (capi.sources.signatures); the HTTP doors live in
capi.ingest.webhooks.

The order a Purchase is about has one identity on every door, so that one order reaching the relay
twice (the storefront's dataLayer through sGTM, and a Shopify webhook) is one Purchase for Meta:
`custom_data.order_id`, in the form the store's own pages use, from which a missing `event_id` is
derived (capi.meta.enrich: the order id itself).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from capi.errors import Ignored  # noqa: F401 - part of the family, raised here

SHOPIFY_ORDER_KEYS = ("order_number", "name", "id")


@dataclass(frozen=True)
class SourceContext:
    """What an adapter may need beyond the body: the request's sender-specific headers and the
    settings of its source."""

    topic: str = ""  # Shopify: X-Shopify-Topic
    shop_domain: str = ""  # Shopify: X-Shopify-Shop-Domain
    allow_test_mode: bool = False  # Stripe: take test-mode events (a test event code is set)
    # Shopify: which field names the order as the store's pages do (their dataLayer's
    # transaction_id): order_number (1001, the default), name (#1001) or id.
    shopify_order_key: str = "order_number"
    mapping: Any = None  # generic: the WebhookMapping of the route
