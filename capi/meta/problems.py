"""One problem found in an event: where (a field path) and what to do about it.

Messages never contain the raw value of a PII field: they name the field and the rule.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """An error (the event cannot be sent) or a warning (a field was dropped or changed)."""

    path: str  # e.g. "user_data.ph[1]", "custom_data.currency", "event_time"
    message: str  # what is wrong and how to fix it; no raw PII
    code: str = "invalid"  # short machine-readable kind: missing, invalid, stale, future, ...

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "code": self.code, "message": self.message}


def not_an_object(value: object) -> Problem:
    """The one answer to an event that is not a JSON object, on every path."""
    return Problem(
        "", f"each event must be a JSON object, got {type(value).__name__}", "invalid_type"
    )
