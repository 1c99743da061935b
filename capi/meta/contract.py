"""One caller event through the relay's checks, the same at every door.

`Contract` is the settings-free core that every door holds, built once from `Settings`
(`Contract.from_settings`): consent, then tokens dropped, enrich, validate, prepare (normalize and
hash) and match. Ingest's routes (through capi.ingest.intake), `capi serve`'s live page, `capi
validate`, `normalize`, `send` and `audit` all call the one built from the same settings, so no
door can hash an event differently (tests/unit/test_door_parity.py).

The forwarder calls `Contract.recheck`: what ingest checked cannot change in the queue, so a
message that ingest shaped (it carries the `contract` attribute, CONTRACT_VERSION) is only
checked again for what depends on the clock (event_time's age), then normalized and hashed. A
message without it (published by something else) gets the whole check.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from capi.meta.body import drop_tokens
from capi.meta.consent import ConsentPolicy
from capi.meta.enrich import enrich
from capi.meta.match import Match, assess
from capi.meta.prepare import prepare_event
from capi.meta.problems import Problem, not_an_object
from capi.meta.validate import check_and_prepare, check_event_time

if TYPE_CHECKING:
    from capi.config import Settings

# Set by ingest on every queue message (the `contract` attribute): the checks of this version ran
# on the event before it was queued. Raise it when a check is added that the forwarder must run
# on events queued by an older ingest.
CONTRACT_VERSION = "1"


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


@dataclass(frozen=True)
class Contract:
    """What shapes an event, the same at every door: the settings that change hashes
    (default country, date order) and the consent policy."""

    default_country: str = ""
    date_order: str = ""
    consent: ConsentPolicy = field(default_factory=ConsentPolicy)

    @classmethod
    def from_settings(cls, settings: Settings) -> Contract:
        return cls(
            default_country=settings.default_country,
            date_order=settings.date_order,
            consent=ConsentPolicy(
                settings.consent_policy, frozenset(settings.ldu_states), settings.default_country
            ),
        )

    def check(
        self, raw: Any, index: int, *, now: float, body: dict[str, Any] | None = None
    ) -> EventResult:
        """One event as a caller sent it: consent (with the request's body-level fields in
        `body`), then check_event's steps. A valid event that consent drops is reported as
        dropped, not queued."""
        decision = self.consent.decide(raw, body)
        result = check_event(
            decision.event,
            index,
            now=now,
            default_country=self.default_country,
            date_order=self.date_order,
        )
        if decision.dropped and not result.errors:
            result.dropped = decision.dropped
        return result

    def recheck(
        self, event: Any, *, now: float, shaped: bool
    ) -> tuple[dict[str, Any] | None, list[Problem], list[Problem]]:
        """The forwarder's check of a queued event, and the Meta-ready event:
        `(prepared, errors, warnings)`. `shaped`: ingest checked it with this contract version,
        so only its age is checked again; otherwise the whole check runs."""
        if not shaped or not isinstance(event, dict):
            return check_and_prepare(
                event, now=now, default_country=self.default_country, date_order=self.date_order
            )
        errors: list[Problem] = []
        warnings: list[Problem] = []
        check_event_time(event, now, errors, warnings)
        prepared, problems = prepare_event(
            event, default_country=self.default_country, date_order=self.date_order
        )
        return prepared, errors, warnings + problems


def check_event(
    raw: Any, index: int, *, now: float, default_country: str = "", date_order: str = ""
) -> EventResult:
    """One event as a caller sent it, by any way in (ingest's routes, the CLI): drop tokens,
    enrich, validate and prepare, always in that order."""
    if not isinstance(raw, dict):
        return EventResult(index, raw, [not_an_object(raw)])
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
