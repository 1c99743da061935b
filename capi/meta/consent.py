"""Consent: what to do with an event whose consent signals deny advertising storage.

Policy (`CAPI_CONSENT_POLICY`):
- `ignore` (default): signals are read, stripped and reported nowhere; every valid event is sent.
  The default because the relay cannot know the site's legal basis (many set consent up in the
  web container, so a tag that fires already had consent), because a missing signal means
  "unknown", not "denied", and because switching the relay on must not silently drop events of
  existing callers. Turning consent handling on is an explicit decision.
- `drop`: an event whose signals deny `ad_storage` is not sent; it is reported in the answer as
  `status: "dropped"` with the reason (neither an error nor queued).
- `ldu`: such an event is sent with Limited Data Use: `data_processing_options: ["LDU"]` and
  `data_processing_options_country` / `_state` = 1 / 1000 when the event's state is California,
  its country the US, and `CAPI_LDU_STATES` lists CA; 0 / 0 otherwise ("let Meta geolocate",
  which Meta applies to the right US states itself).

Signals, first found wins (the event's own before the request's body-level `consent`):
- explicit: `consent: {"ad_storage": false | "denied" | ...}` or `ad_storage: "denied"`;
- `consent_state: {"ad_storage": "denied"}` (sGTM clients that report the consent state);
- GA4 `x-ga-gcs` = `G1<ad_storage><analytics_storage>`: G100 and G101 deny ad_storage, G110 and
  G111 grant it (the digit right after `G1` is ad_storage);
- GA4 `x-ga-gcd` (consent mode v2): the letter at index 2 is ad_storage's state; p, q, m, u are
  denied, t, r, n, v granted, l not set.
Whatever the policy, these fields are removed from the event: Meta does not know them.

An event that already carries `data_processing_options` keeps them as sent (the caller decided).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from capi.config import CONSENT_POLICIES, ConfigError
from capi.meta import rules

SIGNAL_FIELDS = ("consent", "ad_storage", "consent_state", "x-ga-gcs", "x-ga-gcd")
# Meta's LDU state codes (META-RULES §2); a state is listed here only when Meta
# documents its code.
LDU_STATE_CODES = rules.LDU_STATE_CODES
LDU_COUNTRY_US = rules.LDU_COUNTRY_US

_GRANTED = {"granted", "true", "1", "yes", "y", "on", "allow", "allowed", "accepted"}
_DENIED = {"denied", "false", "0", "no", "n", "off", "deny", "refused", "rejected"}
_GCD_GRANTED = frozenset("trnv")
_GCD_DENIED = frozenset("pqmu")


@dataclass(frozen=True)
class Signal:
    ad_storage: bool | None  # True granted, False denied, None unknown
    source: str = ""  # which field said so, e.g. "x-ga-gcs=G100"


UNKNOWN = Signal(None)


def _state(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return bool(value) if value in (0, 1) else None
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _GRANTED:
            return True
        if text in _DENIED:
            return False
    return None


def _from_gcs(value: Any) -> bool | None:
    if isinstance(value, str):
        text = value.strip().upper()
        if len(text) == 4 and text.startswith("G1") and text[2] in "01" and text[3] in "01":
            return text[2] == "1"
    return None


def _from_gcd(value: Any) -> bool | None:
    if isinstance(value, str) and len(value.strip()) >= 3:
        letter = value.strip()[2].lower()
        if letter in _GCD_GRANTED:
            return True
        if letter in _GCD_DENIED:
            return False
    return None


def read_signal(holder: Mapping[str, Any]) -> Signal:
    """The ad_storage signal carried by an event (or a body), strongest first."""
    consent = holder.get("consent")
    if isinstance(consent, Mapping) and "ad_storage" in consent:
        state = _state(consent["ad_storage"])
        if state is not None:
            return Signal(state, "consent.ad_storage")
    if "ad_storage" in holder:
        state = _state(holder["ad_storage"])
        if state is not None:
            return Signal(state, "ad_storage")
    consent_state = holder.get("consent_state")
    if isinstance(consent_state, Mapping) and "ad_storage" in consent_state:
        state = _state(consent_state["ad_storage"])
        if state is not None:
            return Signal(state, "consent_state.ad_storage")
    gcs = _from_gcs(holder.get("x-ga-gcs"))
    if gcs is not None:
        return Signal(gcs, f"x-ga-gcs={str(holder['x-ga-gcs']).strip().upper()}")
    gcd = _from_gcd(holder.get("x-ga-gcd"))
    if gcd is not None:
        return Signal(gcd, "x-ga-gcd")
    return UNKNOWN


def strip_signals(event: dict[str, Any]) -> dict[str, Any]:
    """A copy of the event without the consent fields Meta does not know."""
    if not any(f in event for f in SIGNAL_FIELDS):
        return event
    return {k: v for k, v in event.items() if k not in SIGNAL_FIELDS}


@dataclass(frozen=True)
class Decision:
    event: Any  # the event to check and send (signals removed, LDU added when applied)
    dropped: str = ""  # the reason, when the event must not be sent
    ldu: bool = False


def _first_text(value: Any) -> str:
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, str) and item.strip():
            return item.strip()
    return ""


@dataclass(frozen=True)
class ConsentPolicy:
    mode: str = "ignore"
    ldu_states: frozenset[str] = frozenset()
    default_country: str = ""

    def __post_init__(self) -> None:
        if self.mode not in CONSENT_POLICIES:
            raise ConfigError(f"CAPI_CONSENT_POLICY must be one of {', '.join(CONSENT_POLICIES)}")
        unknown = sorted(s for s in self.ldu_states if s not in LDU_STATE_CODES)
        if unknown:
            raise ConfigError(
                f"CAPI_LDU_STATES: Meta documents no LDU state code for {', '.join(unknown)} "
                f"(known: {', '.join(sorted(LDU_STATE_CODES))}); events elsewhere get 0/0, "
                "which lets Meta geolocate"
            )

    def decide(self, event: Any, body: Mapping[str, Any] | None = None) -> Decision:
        """What to do with one caller event; `body` holds the request's body-level fields."""
        if not isinstance(event, dict):
            return Decision(event)
        signal = read_signal(event)
        if signal.ad_storage is None and body:
            signal = read_signal(body)
        clean = strip_signals(event)
        if signal.ad_storage is not False or self.mode == "ignore":
            return Decision(clean)
        if self.mode == "drop":
            return Decision(
                clean,
                dropped=f"consent denies ad_storage ({signal.source}); CAPI_CONSENT_POLICY=drop",
            )
        if "data_processing_options" in clean:
            return Decision(clean, ldu=True)
        return Decision({**clean, **self.ldu_fields(clean)}, ldu=True)

    def ldu_fields(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """The LDU fields for one event: state codes when its state is configured, else 0/0."""
        country, state = 0, 0
        code = self._state_code(event.get("user_data"))
        if code:
            country, state = LDU_COUNTRY_US, code
        return {
            "data_processing_options": ["LDU"],
            "data_processing_options_country": country,
            "data_processing_options_state": state,
        }

    def _state_code(self, user_data: Any) -> int:
        if not self.ldu_states or not isinstance(user_data, Mapping):
            return 0
        from capi.meta import normalize

        raw_country = _first_text(user_data.get("country")) or self.default_country
        raw_state = _first_text(user_data.get("st"))
        if not raw_country or not raw_state:
            return 0
        try:
            country = normalize.normalize_country(raw_country)
            state = normalize.normalize_state(raw_state, "US") if country == "us" else None
        except normalize.NormalizationError:
            return 0  # a hashed or unreadable value: let Meta geolocate
        if not state or state.upper() not in self.ldu_states:
            return 0
        return LDU_STATE_CODES[state.upper()]
