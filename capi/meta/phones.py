"""A fast reading of *clean* phone numbers, giving exactly what phonenumbers gives.

``phonenumbers.parse`` + ``is_valid_number`` cost about 20-25 us per number in pure Python, most
of it in generic steps a clean input does not need (extension and RFC 3966 parsing, Unicode digit
conversion, re-compiling patterns through a cache on every call, trying every region of a shared
country code). For an input made only of digits, spaces, ``-``, ``.``, parentheses and an optional
leading ``+`` this module runs the same steps as phonenumbers' ``parse`` (country code extraction
rewritten for ASCII digits; national prefix stripping and the length test are phonenumbers' own
internal functions) and an equivalent of ``is_valid_number`` on precompiled metadata patterns.

:func:`read` returns ``(country_code, national_significant_number)`` for a valid number,
:data:`INVALID` when phonenumbers would find the number invalid or unparsable, and ``None`` when
the input is not clean (or phonenumbers' internals are not the expected ones): the caller then
uses phonenumbers itself. tests/unit/test_normalize_phone_fast.py checks the equivalence on tens of
thousands of numbers of every region, in both directions.
"""

from __future__ import annotations

import re
from typing import Any, Final

from phonenumbers import PhoneMetadata
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE, region_code_for_country_code

try:  # phonenumbers' own parsing steps (private, so guarded: without them, no fast path)
    from phonenumbers.phonenumberutil import (
        ValidationResult,
        _extract_country_code,
        _match_national_number,
        _maybe_strip_national_prefix_carrier_code,
        _test_number_length,
    )

    AVAILABLE = True
    _TOO_SHORT_RESULTS: frozenset = frozenset(
        {
            ValidationResult.TOO_SHORT,
            ValidationResult.IS_POSSIBLE_LOCAL_ONLY,
            ValidationResult.INVALID_LENGTH,
        }
    )
except ImportError:  # pragma: no cover - a future phonenumbers without these internals
    AVAILABLE = False

__all__ = ["AVAILABLE", "INVALID", "read"]

INVALID: Final = "invalid"
_CLEAN = re.compile(r"\+?[0-9 ().\-]+")
_NOT_DIGIT = re.compile(r"[^0-9]+")
_MIN_NSN, _MAX_NSN = 2, 17  # phonenumbers' limits
# The number types phonenumbers' _number_type_helper tests. Only "is it one of them" matters here,
# so the two that most customers' numbers are come first, and a valid number stops there.
_TYPES = (
    "fixed_line",
    "mobile",
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
)
_Desc = tuple[frozenset[int] | None, re.Pattern[str]]


def _desc(desc: Any) -> _Desc | None:
    if desc is None or not desc.national_number_pattern:
        return None
    lengths = frozenset(desc.possible_length) if desc.possible_length else None
    return lengths, re.compile(desc.national_number_pattern)


def _matches(desc: _Desc, number: str) -> bool:
    lengths, pattern = desc
    return (lengths is None or len(number) in lengths) and pattern.fullmatch(number) is not None


class _Region:
    """The patterns phonenumbers' _number_type_helper tests, compiled once."""

    __slots__ = ("general", "leading", "types")

    def __init__(self, metadata: Any) -> None:
        self.general = _desc(metadata.general_desc)
        self.types = [d for d in (_desc(getattr(metadata, name)) for name in _TYPES) if d]
        self.leading = re.compile(metadata.leading_digits) if metadata.leading_digits else None

    def known_type(self, number: str) -> bool:
        """_number_type_helper(number, metadata) != UNKNOWN."""
        if self.general is None or not _matches(self.general, number):
            return False
        return any(_matches(desc, number) for desc in self.types)


_REGIONS: dict[int, list[_Region] | None] = {}


def _regions(country_code: int) -> list[_Region] | None:
    if country_code not in _REGIONS:
        codes = COUNTRY_CODE_TO_REGION_CODE.get(country_code, ())
        metadata = [PhoneMetadata.metadata_for_region(code, None) for code in codes]
        # non-geographic codes ("001") have no region metadata: leave them to phonenumbers
        _REGIONS[country_code] = (
            [_Region(m) for m in metadata] if metadata and None not in metadata else None
        )
    return _REGIONS[country_code]


def _is_valid(country_code: int, number: str) -> bool | None:
    """phonenumbers.is_valid_number for (country code, national significant number); None when
    this module cannot tell (non-geographic country codes)."""
    regions = _regions(country_code)
    if regions is None:
        return None
    if len(regions) == 1:
        return regions[0].known_type(number)
    for region in regions:  # region_code_for_number, then is_valid_number_for_region
        if region.leading is not None:
            if region.leading.match(number):
                return region.known_type(number)
        elif region.known_type(number):
            return True
    return False


class _Decline(Exception):
    """phonenumbers would raise or retry here: let it handle the input itself."""


_IDD: dict[str, re.Pattern[str]] = {}


def _idd(metadata: Any) -> re.Pattern[str] | None:
    prefix = metadata.international_prefix
    if prefix is None:
        return None
    if prefix not in _IDD:
        _IDD[prefix] = re.compile(prefix)
    return _IDD[prefix]


def _extract(digits: str, plus: bool, metadata: Any) -> tuple[int, str]:
    """phonenumbers' _maybe_extract_country_code for ASCII digits (already normalized, so its
    per-character Unicode normalization is skipped): (country code, rest) or (0, "")."""
    international = plus
    if not plus and metadata is not None:
        idd = _idd(metadata)
        match = idd.match(digits) if idd is not None else None
        if match is not None:
            rest = digits[match.end() :]
            if rest[:1] != "0":  # country codes never start with 0
                international, digits = True, rest
    if international:
        if len(digits) <= _MIN_NSN:
            raise _Decline  # TOO_SHORT_AFTER_IDD
        country_code, rest = _extract_country_code(digits)
        if country_code == 0:
            raise _Decline  # INVALID_COUNTRY_CODE: parse retries in its own way
        return country_code, rest
    if metadata is not None:
        code = str(metadata.country_code)
        if digits.startswith(code):
            general = metadata.general_desc
            _, potential, _ = _maybe_strip_national_prefix_carrier_code(
                digits[len(code) :], metadata
            )
            if (
                not _match_national_number(digits, general, False)
                and _match_national_number(potential, general, False)
            ) or _test_number_length(digits, metadata) == ValidationResult.TOO_LONG:
                return metadata.country_code, potential
    return 0, ""


def read(text: str, region: str | None) -> tuple[int, str] | str | None:
    """What ``phonenumbers.parse(text, region)`` + ``is_valid_number`` say about a clean input:
    ``(country_code, national_significant_number)``, :data:`INVALID`, or None (not clean: ask
    phonenumbers). ``region`` is an upper-case alpha-2 code or None (international only)."""
    if not AVAILABLE or len(text) > 250 or _CLEAN.fullmatch(text) is None:
        return None
    digits = _NOT_DIGIT.sub("", text)
    if len(digits) < 3:
        return None
    plus = text[0] == "+"
    metadata = PhoneMetadata.metadata_for_region(region, None) if region else None
    if not plus and metadata is None:
        return INVALID  # parse raises: no country to read a national number with
    try:
        country_code, national = _extract(digits, plus, metadata)
    except _Decline:
        return None
    if country_code != 0:
        number_region = region_code_for_country_code(country_code)
        if number_region != region:
            metadata = PhoneMetadata.metadata_for_region_or_calling_code(
                country_code, number_region
            )
    else:
        national += digits
        country_code = metadata.country_code
    if len(national) < _MIN_NSN:
        return INVALID
    if metadata is not None:
        _, stripped, _ = _maybe_strip_national_prefix_carrier_code(national, metadata)
        if _test_number_length(stripped, metadata) not in _TOO_SHORT_RESULTS:
            national = stripped
    if not _MIN_NSN <= len(national) <= _MAX_NSN:
        return INVALID
    valid = _is_valid(country_code, national)
    if valid is None:
        return None
    return (country_code, national) if valid else INVALID
