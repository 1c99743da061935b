"""Removing customer data from text that came from outside: Meta's free-text error messages.

Meta's messages may quote what it was sent ("Invalid IP 203.0.113.7 for user Johnathan
Smithersonian +16505551212"). The forwarder holds the event's raw values, so it removes every one
of them, in the spellings a message may use (as sent, lower case, each word, digits only), then
applies the generic masks: e-mail addresses, tokens, IP addresses and phone-like digit runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from capi.logs import scrub_text

REDACTED = "[redacted]"
_MIN_LENGTH = 3  # shorter values ("m", "us", "ca") identify nobody and would garble the text
_IPV4 = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")
_IPV6 = re.compile(r"\b(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}\b")
_PHONE_LIKE = re.compile(r"\+?\d(?:[\s().-]{0,2}\d){6,}")
_WORD = re.compile(r"[^\W_]+")


def _leaves(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int | float):
        yield str(value)
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _leaves(item)


# Values quoted whole only: their words ("like", "Gecko") are everyday words, not identities.
_WHOLE_ONLY = frozenset({"client_user_agent", "fbc", "fbp"})


def _spellings(text: str, *, words: bool = True) -> set[str]:
    text = text.strip()
    forms = {text, text.lower(), "".join(text.split()).lower()}
    if words:
        forms.update(_WORD.findall(text))
    digits = "".join(ch for ch in text if ch.isdigit())
    if len(digits) >= 5:
        forms.add(digits)
    return {f for f in forms if len(f) >= _MIN_LENGTH}


class Redactor:
    """Removes the given customer values (and their spellings) from free text."""

    def __init__(self, values: Iterable[Any] = (), whole_values: Iterable[Any] = ()) -> None:
        forms: set[str] = set()
        for text in _leaves(list(values)):
            forms |= _spellings(text)
        for text in _leaves(list(whole_values)):
            forms |= _spellings(text, words=False)
        # Longest first, so "john smith" goes before "john" leaves " smith" behind.
        ordered = sorted(forms, key=len, reverse=True)
        self._pattern = (
            re.compile("|".join(re.escape(f) for f in ordered), re.IGNORECASE) if ordered else None
        )

    @classmethod
    def for_event(cls, *events: Any) -> Redactor:
        """The customer values of events (raw as queued, and as prepared for Meta)."""
        values: list[Any] = []
        whole: list[Any] = []
        for event in events:
            user_data = event.get("user_data") if isinstance(event, Mapping) else None
            if isinstance(user_data, Mapping):
                for key, value in user_data.items():
                    (whole if key in _WHOLE_ONLY else values).append(value)
        return cls(values, whole)

    def __call__(self, text: str) -> str:
        if not text:
            return text
        if self._pattern is not None:
            text = self._pattern.sub(REDACTED, text)
        text = scrub_text(text)
        text = _IPV4.sub(REDACTED, text)
        text = _IPV6.sub(lambda m: REDACTED if m.group().count(":") >= 2 else m.group(), text)
        return _PHONE_LIKE.sub(REDACTED, text)
