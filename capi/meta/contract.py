"""One caller event through the relay's checks: enrich, then validate (the same rules everywhere).

Used by ingest, `capi serve`, `capi validate` and `capi normalize`, so what the CLI says about a
file is exactly what ingest would answer for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from capi.meta.body import drop_tokens
from capi.meta.enrich import enrich
from capi.meta.match import Match, assess
from capi.meta.problems import Problem
from capi.meta.validate import check_and_prepare


@dataclass
class EventResult:
    index: int
    event: Any  # the enriched event when it was an object, else what was sent
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    # Set when a valid event is deliberately not sent (e.g. consent denies ad_storage under
    # CAPI_CONSENT_POLICY=drop): neither an error nor queued; the reason is reported.
    dropped: str = ""
    # The Meta-ready (normalized, hashed) event that validation produced; send this one.
    prepared: dict[str, Any] | None = None
    # What Meta can match the prepared event on (capi.meta.match): key names and the grade.
    match: Match | None = None

    @property
    def accepted(self) -> bool:
        return not self.errors and not self.dropped

    @property
    def status(self) -> str:
        if self.errors:
            return "rejected"
        return "dropped" if self.dropped else "accepted"

    @property
    def event_id(self) -> str | None:
        if isinstance(self.event, dict):
            value = self.event.get("event_id")
            return str(value) if value is not None else None
        return None

    def as_dict(self) -> dict[str, Any]:
        result = {
            "index": self.index,
            "event_id": self.event_id,
            "status": self.status,
            "errors": [p.as_dict() for p in self.errors],
            "warnings": [p.as_dict() for p in self.warnings],
        }
        if self.dropped and not self.errors:
            result["reason"] = self.dropped
        if self.match is not None:
            result["match_keys"] = list(self.match.keys)
            result["match"] = self.match.as_dict()
        return result


def check_event(
    raw: Any, index: int, *, now: float, default_country: str = "", date_order: str = ""
) -> EventResult:
    """One event as a caller sent it, by any way in (ingest's routes, the CLI): drop tokens,
    enrich, validate and prepare, always in that order."""
    if not isinstance(raw, dict):
        return EventResult(
            index, raw, [Problem("", "each event must be a JSON object", "invalid_type")]
        )
    event, warnings = enrich(drop_tokens(raw), now=now)
    prepared, errors, more_warnings = check_and_prepare(
        event, now=now, default_country=default_country, date_order=date_order
    )
    warnings += more_warnings
    match = assess(prepared) if prepared is not None else None
    if (
        match is not None
        and match.grade == "weak"
        and not errors
        and not any(w.code == "low_match" for w in warnings)
    ):
        warnings.append(Problem("user_data", f"weak match: {match.reason}", "weak_match"))
    return EventResult(index, event, errors, warnings, prepared=prepared, match=match)
