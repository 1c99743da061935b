"""What Meta will be able to match an event on: its match keys and the relay's grade.

The grade is the relay's own estimate from the keys that survive normalization, not Meta's Event
Match Quality (Meta computes that itself and publishes no weights; META-RULES §7 names em, ph,
fn/ln, client_ip_address, fbc and fbp as the valuable parameters). docs/META-RULES.md §7 states
the rule below; the same grade is in every ingest answer, the forwarder's delivery log line and
`capi audit`.

- ``strong``: an email or phone, plus something that ties it to this visit or person: fbp, fbc,
  client_ip_address, external_id, or the other of email / phone;
- ``good``: an email or phone alone (with or without name and address), or external_id together
  with a browser id (fbp or fbc);
- ``weak``: anything else Meta can still use: only browser or click ids (fbc, fbp, IP and user
  agent), only name and address parts, or only external_id;
- ``none``: nothing to match on (validation refuses such an event anyway).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from capi.meta.rules import HASHED_FIELDS, NEVER_HASHED_FIELDS, PLACE_FIELDS

__all__ = ["GRADES", "Match", "assess", "match_keys"]

GRADES = ("strong", "good", "weak", "none")
KEY_ORDER = (*HASHED_FIELDS, *NEVER_HASHED_FIELDS)
_RANK = {key: rank for rank, key in enumerate(KEY_ORDER)}
_CONTACT = frozenset({"em", "ph"})
_TIES = frozenset({"fbp", "fbc", "client_ip_address", "external_id"})
_BROWSER = frozenset({"fbp", "fbc", "client_ip_address", "client_user_agent"})
_PLACE = PLACE_FIELDS


@dataclass(frozen=True, slots=True)
class Match:
    keys: tuple[str, ...]  # names only, never values, in Meta's order
    grade: str  # one of GRADES
    reason: str  # why, in words a marketer reads

    def as_dict(self) -> dict[str, Any]:
        return {"grade": self.grade, "reason": self.reason}


def match_keys(user_data: Any) -> tuple[str, ...]:
    """The names of the customer parameters present in a prepared (normalized) user_data."""
    if not isinstance(user_data, Mapping):
        return ()
    present = [k for k, v in user_data.items() if k in _RANK and v not in (None, "", [])]
    present.sort(key=_RANK.__getitem__)
    return tuple(present)


def click_id_only(keys: Iterable[str]) -> bool:
    """Whether the only identifier among these match keys is the fbc click id (with at most the
    user agent): almost never matched. The one place this is judged (validation warns, the grade
    says it, `capi audit` counts it)."""
    return set(keys) - {"client_user_agent"} == {"fbc"}


def _names(keys: Iterable[str]) -> str:
    return ", ".join(keys)


def assess(prepared_event: Any) -> Match:
    """The match keys and grade of a prepared event (the output of validation's prepare step)."""
    user_data = prepared_event.get("user_data") if isinstance(prepared_event, Mapping) else None
    keys = match_keys(user_data)
    present = set(keys)
    contact = present & _CONTACT
    if contact:
        ties = present & _TIES
        if len(contact) == 2 or ties:
            linked = sorted(contact) + sorted(ties)
            return Match(keys, "strong", f"{_names(linked)}: contact data tied to the visitor")
        return Match(
            keys,
            "good",
            f"{_names(sorted(contact))} without browser ids (fbp, fbc, IP) or external_id",
        )
    if "external_id" in present and present & {"fbp", "fbc"}:
        return Match(keys, "good", "external_id with a browser id, but no email or phone")
    if not keys:
        return Match(keys, "none", "no customer parameter Meta can match on")
    if present <= _BROWSER:
        only = "only a click id (fbc)" if click_id_only(present) else None
        return Match(
            keys, "weak", (only or "only browser ids") + ": add email or phone for a match"
        )
    if present <= _PLACE | {"client_user_agent"}:
        return Match(keys, "weak", "only name and address parts: add email or phone")
    return Match(keys, "weak", f"only {_names(keys)}: add email or phone for a match")
