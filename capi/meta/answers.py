"""What Meta's answer means for an event (META-RULES §6).

Classified by Graph error `code` / `error_subcode` and `is_transient`, never by the (localized)
message text, and not by HTTP status alone: code 190 has been seen with 401 and with 500.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from capi.meta import rules


class Outcome(Enum):
    DELIVERED = "delivered"
    TRANSIENT = "transient"  # retry later (Pub/Sub redelivers with backoff)
    REJECTED = "rejected"  # permanent: the event is at fault -> DLQ with the reason
    CONFIG = "config"  # permanent: token, permissions or pixel are wrong -> DLQ with the reason
    TOKEN = "token"  # noqa: S105 - code 190: re-read the token once, then CONFIG


TRANSIENT_CODES = frozenset({1, 2, 4, 17, 341, 368, 613, 80003})
TOKEN_CODE = rules.GRAPH_INVALID_TOKEN
PERMISSION_CODES = frozenset({3, 10, *range(200, 300)})
NO_SUCH_OBJECT_SUBCODE = rules.GRAPH_NO_SUCH_OBJECT_SUBCODE


@dataclass(frozen=True)
class MetaError:
    http_status: int
    code: int | None = None
    subcode: int | None = None
    message: str = ""
    type: str = ""
    is_transient: bool = False
    user_title: str = ""
    user_msg: str = ""
    fbtrace_id: str = ""

    @classmethod
    def from_response(cls, http_status: int, body: Any) -> MetaError:
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            return cls(http_status, message=f"HTTP {http_status} without a Graph error body")

        def as_int(value: Any) -> int | None:
            # Every field of Meta's answer is untrusted: 1e999, "abc", [] or a bool give None.
            if isinstance(value, bool):
                return None
            try:
                number = int(value)
            except (TypeError, ValueError, OverflowError):
                return None
            return number if -(2**63) <= number < 2**63 else None

        return cls(
            http_status=http_status,
            code=as_int(error.get("code")),
            subcode=as_int(error.get("error_subcode")),
            message=str(error.get("message") or "")[:500],
            type=str(error.get("type") or ""),
            is_transient=error.get("is_transient") is True,
            user_title=str(error.get("error_user_title") or "")[:200],
            user_msg=str(error.get("error_user_msg") or "")[:500],
            fbtrace_id=str(error.get("fbtrace_id") or "")[:100],
        )


def classify(error: MetaError) -> Outcome:
    """The outcome of a non-2xx Graph answer."""
    code = error.code
    if code == TOKEN_CODE:
        return Outcome.TOKEN
    if error.is_transient or code in TRANSIENT_CODES:
        return Outcome.TRANSIENT
    if code in PERMISSION_CODES:
        return Outcome.CONFIG
    if code == 100:
        return Outcome.CONFIG if error.subcode == NO_SUCH_OBJECT_SUBCODE else Outcome.REJECTED
    if error.http_status == 429 or error.http_status >= 500:
        return Outcome.TRANSIENT
    return Outcome.REJECTED
