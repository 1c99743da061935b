"""Normalization of customer information before hashing: one function per user_data field.

Every rule cites META-RULES §3 ("user_data"); docs/NORMALIZATION.md lists them all with
the deliberate differences from Meta's Python SDK.

Contract of every ``normalize_*`` function (its caller, capi.meta.user_data, makes warnings):

- returns the normalized, *unhashed* string, ready for SHA-256;
- returns ``None`` when the value is empty or only whitespace (there is nothing to send, and the
  hash of an empty string must never be sent);
- raises :class:`NormalizationError` when a value is present but unusable (an implausible email,
  a phone number that cannot be made valid, an ambiguous date...). ``str(error)`` is a short
  reason that never contains the value itself, so it can go into a Problem message or a log.

They take ``str`` only (capi.meta.user_data converts JSON numbers where a number makes sense)
and never see pre-hashed values (capi.meta.user_data passes a 64-hex SHA-256 digest through
before calling them).

The functions are pure, so they are memoized with a bounded ``functools.lru_cache`` (real traffic
repeats the same values); the size comes from ``CAPI_NORMALIZE_CACHE_SIZE`` (default 4096 entries
per function, 0 disables caching). :func:`clear_caches` empties them (the benchmark uses it).
"""

from __future__ import annotations

import datetime as _dt
import functools
import re
import unicodedata
from collections.abc import Callable
from typing import Any, TypeVar

import phonenumbers
from phonenumbers import NumberParseException

from capi.config import normalize_cache_size
from capi.errors import NormalizationError
from capi.meta import iso_data
from capi.meta import phones as phone_fast

__all__ = [
    "NormalizationError",
    "clear_caches",
    "normalize_city",
    "normalize_country",
    "normalize_date_of_birth",
    "normalize_email",
    "normalize_external_id",
    "normalize_gender",
    "normalize_name",
    "normalize_phone",
    "normalize_split_field",
    "normalize_state",
    "normalize_zip",
]


# --------------------------------------------------------------------------------------------------
# memoization

_F = TypeVar("_F", bound=Callable[..., Any])


CACHE_SIZE = normalize_cache_size()
_CACHED: list[Any] = []
# The (value, reason) form of each memoized normalizer, by function name (see NORMALIZERS).
_OUTCOMES: dict[str, Callable[..., tuple[Any, str | None]]] = {}


def _memoize(fn: _F) -> _F:
    """``fn`` with a bounded cache of its results, failures included: an invalid value that keeps
    coming back is not parsed again each time (its reason is cached, a fresh error raised).

    ``fn.outcome(*args)`` is the cached ``(value, reason)`` form, without raising, for the hot
    path of capi.meta.user_data (reason is None on success)."""

    def outcome(*args: Any) -> tuple[Any, str | None]:
        try:
            return fn(*args), None
        except NormalizationError as error:
            return None, str(error)

    if CACHE_SIZE == 0:
        fn.outcome = outcome  # type: ignore[attr-defined]
        _OUTCOMES[fn.__name__] = outcome
        return fn
    cached_outcome = functools.lru_cache(maxsize=CACHE_SIZE)(outcome)
    _OUTCOMES[fn.__name__] = cached_outcome

    @functools.wraps(fn)
    def cached(*args: Any) -> Any:
        value, reason = cached_outcome(*args)
        if reason is not None:
            raise NormalizationError(reason)
        return value

    cached.outcome = cached_outcome  # type: ignore[attr-defined]
    _CACHED.append(cached_outcome)
    return cached  # type: ignore[return-value]


def clear_caches() -> None:
    """Empty the memoization caches of every normalizer."""
    for fn in _CACHED:
        fn.cache_clear()


# --------------------------------------------------------------------------------------------------
# shared helpers

_NFC = functools.partial(unicodedata.normalize, "NFC")
_ASCII_NOT_ALNUM = re.compile(r"[^a-z0-9]+")
_ASCII_NOT_ALPHA = re.compile(r"[^a-z]+")


def _keep(text: str, categories: str) -> str:
    """Lowercase ``text`` (NFC) and keep only characters whose Unicode category starts with one
    of ``categories`` ("L" letters, "M" marks, "N" numbers). The result is NFC again, so that
    removing a character never leaves a decomposed letter behind (idempotency)."""
    if text.isascii():
        lowered = text.lower()
        pattern = _ASCII_NOT_ALNUM if "N" in categories else _ASCII_NOT_ALPHA
        return pattern.sub("", lowered)
    lowered = _NFC(_NFC(text).lower())
    category = unicodedata.category
    kept = "".join(ch for ch in lowered if category(ch)[0] in categories and not _is_emoji_part(ch))
    return _NFC(kept)


def _is_emoji_part(ch: str) -> bool:
    """Variation selectors (U+FE0F turns a character into an emoji) and emoji skin-tone
    modifiers: Unicode files them as marks or symbols of no script, never part of a name."""
    code = ord(ch)
    return 0xFE00 <= code <= 0xFE0F or 0xE0100 <= code <= 0xE01EF or 0x1F3FB <= code <= 0x1F3FF


def _fold_table() -> dict[int, str | None]:
    table: dict[int, str | None] = dict.fromkeys(map(ord, _INVISIBLE), None)
    table.update(dict.fromkeys(_DASHES, "-"))
    table.update({ord(ch): "'" for ch in "\u2018\u2019\u201a\u201b\u2032\u02bc\u02b9"})
    table.update({ord(ch): '"' for ch in "\u201c\u201d\u201e\u201f\u2033"})
    table[0x2212] = "-"  # the minus sign
    table[0x0130] = "i"  # Turkish dotted capital I: lowercase i, not i + a combining dot
    return table


# Every dash of Unicode's BMP but "-" (category Pd; tests/unit/test_fidelity.py checks the list
# against unicodedata): each counts as a hyphen.
_DASHES = (
    0x058A, 0x05BE, 0x1400, 0x1806, 0x2010, 0x2011, 0x2012, 0x2013, 0x2014, 0x2015, 0x2E17,
    0x2E1A, 0x2E3A, 0x2E3B, 0x2E40, 0x2E5D, 0x301C, 0x3030, 0x30A0, 0xFE31, 0xFE32, 0xFE58,
    0xFE63, 0xFF0D,
)  # fmt: skip
# The BOM and zero-width characters: invisible, typed or pasted into any value.
_INVISIBLE = "\u00ad\u200b\u200c\u200d\u2060\ufeff"
_FOLD = _fold_table()


def fold_text(value: str) -> str:
    """A value as a matcher reads it, before any field's rules: compatibility forms folded
    (NFKC: full-width letters, digits, ``＋`` and ``＠``, ligatures), the BOM and zero-width
    characters removed anywhere, Unicode dashes and curly quotes made ASCII punctuation, and
    the Turkish dotted capital I made a plain ``i``. ASCII text is returned as it is."""
    if value.isascii():
        return value
    text = unicodedata.normalize("NFKC", value).translate(_FOLD)
    if "\u0307" in text:  # a combining dot above an i (decomposed Turkish I): one dot
        text = text.replace("i\u0307", "i").replace("I\u0307", "i")
    return text


def _fold(text: str) -> str:
    """A lookup key: accents removed, lowercase ASCII letters only ("Côte d'Ivoire" ->
    "cotedivoire"). Only for matching against tables, never sent."""
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return _ASCII_NOT_ALPHA.sub("", text.lower())


# --------------------------------------------------------------------------------------------------
# em


_EMAIL = re.compile(r"([^\s@\"(),:;<>\[\]\\]+)@([^\s@\"(),:;<>\[\]\\]+)")


@_memoize
def normalize_email(value: str) -> str | None:
    """``em`` (META-RULES §3): trim, lowercase.

    ``John_Smith@gmail.com`` -> ``john_smith@gmail.com``. A leading ``mailto:`` is removed.
    Plausibility check (not full RFC 5322): one ``@``, a non-empty local part without spaces,
    a domain of dot-separated non-empty labels ending in a top-level domain of at least two
    characters that is not all digits. Anything else ("n/a", "john@", "john at gmail dot com")
    raises NormalizationError: it would hash fine and never match anyone.
    """
    text = fold_text(value).strip().lower()
    if not text:
        return None
    if text.startswith("mailto:"):
        text = text[7:].strip()
    match = _EMAIL.fullmatch(text)
    if match is None:
        raise NormalizationError("not a plausible email address (expected name@domain.tld)")
    labels = match.group(2).split(".")
    tld = labels[-1]
    if len(labels) < 2 or not all(labels) or len(tld) < 2 or tld.isdigit():
        raise NormalizationError("the email domain is not plausible (expected name@domain.tld)")
    local = match.group(1)
    if local.startswith(".") or local.endswith(".") or ".." in local:
        raise NormalizationError("the part before @ is not a plausible mailbox name")
    return text


# --------------------------------------------------------------------------------------------------
# ph

_ASCII_DIGITS = re.compile(r"[0-9]")
# Digits kept as given when no country is known must be at least this many: a country code
# plus the shortest national numbers in use. "911" or "12" is not a customer's phone number.
MIN_PHONE_DIGITS = 7
_LETTER_RUN = re.compile(r"[^\W\d_]+")
_NUMBER_START = re.compile(r"[+\d]")
_EXTENSION = re.compile(r"\s*(?:#|x|ext\.?)\s*\d{1,6}\s*$", re.IGNORECASE)


def region_code(country: str) -> str:
    """An ISO 3166-1 alpha-2 code, upper case, from a code or a country name; '' if unusable."""
    if not country:
        return ""
    code = country.strip()
    if len(code) == 2 and code.isascii() and code.isalpha():
        return code.upper()
    try:
        found = normalize_country(code)
    except NormalizationError:
        return ""
    return found.upper() if found else ""


def _try_parse(text: str, region: str | None) -> tuple[int, str] | None:
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return number.country_code, phonenumbers.national_significant_number(number)


def _read(text: str, region: str | None) -> tuple[int, str] | None:
    """(country code, national significant number) of ``text`` read in ``region`` (None:
    international only), if phonenumbers finds it valid. Clean inputs take the equivalent fast
    path of capi.meta.phones; others are retried without words such as "(mobile)" (phonenumbers
    would read letters as a vanity number)."""
    fast = phone_fast.read(text, region)
    if fast is None and ("x" in text or "#" in text):  # an extension: phonenumbers drops it
        bare = _EXTENSION.sub("", text)
        if bare != text:
            found = phone_fast.read(bare, region)
            if found is not None and found != phone_fast.INVALID:  # else phonenumbers decides
                fast = found
    if fast is not None:
        return None if fast == phone_fast.INVALID else fast  # type: ignore[return-value]
    number = _try_parse(text, region)
    if number is None and _LETTER_RUN.search(text):
        number = _try_parse(_LETTER_RUN.sub(" ", text), region)
    return number


def _mexican_mobile(digits: str) -> tuple[int, str] | None:
    """Mexico's mobile numbers before August 2019 carried a 1 after the country code
    (+52 1 55 1234 5678); the same line is now +52 55 1234 5678, the form Meta matches."""
    rest = digits[5:] if digits.startswith("00") else digits[3:]
    if len(rest) != 10:
        return None
    return _read("+52" + rest, None)


def normalize_phone(value: str, country: str = "", default_country: str = "") -> str | None:
    """``ph`` (META-RULES §3): digits only, no leading zeros, **with the country code**.

    ``(650)555-1212`` in the US -> ``16505551212``; ``+44 (0)20 7946 0958`` -> ``442079460958``.
    The number is parsed with ``phonenumbers`` and must be valid for its country. The country
    comes, in order, from an explicit ``+`` or ``00`` prefix, then ``country`` (the event's own),
    then ``default_country`` (``CAPI_DEFAULT_COUNTRY``); both accept ISO alpha-2 codes or names.
    Trunk prefixes such as ``(0)`` and extensions (``ext. 12``, ``x12``, ``#12``) are dropped.
    Digits that already carry a country code without ``+`` (``16505551212``, ``442079460958``)
    are recognised, so normalizing an output again returns it unchanged. A number that cannot be
    made valid raises NormalizationError: it is never hashed as garbage.
    """
    return _phone(fold_text(value).strip(), region_code(country), region_code(default_country))


@_memoize
def _phone(text: str, country: str, default_country: str) -> str | None:
    if not text:
        return None
    digits = "".join(_ASCII_DIGITS.findall(text))
    if not digits and not any(ch.isdigit() for ch in text):
        raise NormalizationError("contains no digits")
    regions = [r for r in dict.fromkeys((country, default_country)) if r]
    start = _NUMBER_START.search(text)
    head = text[start.start() :] if start else text  # "tel:+1 650...", "(+44) 20...", "Tel 0044..."
    if head.startswith(("+", "00")):
        international = head if head.startswith("+") else "+" + head[2:]
        if international.startswith("+00"):  # "+001 (616)...": the 00 prefix written after a +
            international = "+" + international[3:]
        number = _read(international, None)
        if number is None and digits.startswith(("521", "00521")):
            number = _mexican_mobile(digits)
        if number is None and "(0)" in international:  # "+1 (0)650...": a trunk zero misplaced
            number = _read(international.replace("(0)", " "), None)
        for region in regions:  # other international call prefixes (011, 0011...)
            if number is not None:
                break
            number = _read(text, region)
        if number is None:
            raise NormalizationError("not a valid international phone number")
        return f"{number[0]}{number[1]}"
    for region in regions:
        number = _read(text, region)
        if number is None:
            continue
        result = f"{number[0]}{number[1]}"
        if result != digits and digits.startswith(str(number[0])) and digits[0] != "0":
            # the digits may already be international without '+' ("4930123456" in DE)
            again = _read("+" + text, None)
            if again is not None and again[0] == number[0]:
                return f"{again[0]}{again[1]}"
        return result
    if digits and digits[0] != "0":
        number = _read("+" + text, None)  # already E.164 without '+'
        if number is None and digits.startswith("521"):
            number = _mexican_mobile(digits)
        if number is not None:
            return f"{number[0]}{number[1]}"
    if not regions:
        # No country from the value, the event or the settings: Meta's own libraries hash the
        # digits as given (leading zeros removed); so do we, and capi.meta.user_data warns.
        national = digits.lstrip("0")
        if len(national) < MIN_PHONE_DIGITS:
            raise NormalizationError(
                "too few digits for a phone number with its country code; send it with "
                "+<country code>, set user_data.country, or set CAPI_DEFAULT_COUNTRY"
            )
        return national
    raise NormalizationError(f"not a valid phone number for country {'/'.join(regions)}")


# --------------------------------------------------------------------------------------------------
# fn, ln, ct


@_memoize
def normalize_name(value: str) -> str | None:
    """``fn`` and ``ln`` (META-RULES §3): lowercase, no punctuation, UTF-8 kept.

    ``Valéry`` -> ``valéry``, ``O'Brien-Smith`` -> ``obriensmith``, ``José María`` ->
    ``josémaría``. Unicode NFC; letters (and combining marks, needed by scripts such as
    Devanagari) and digits of any script are kept; punctuation, spaces, symbols and invisible
    format characters are removed. Nothing left -> NormalizationError.
    """
    text = fold_text(value).strip()
    if not text:
        return None
    result = _keep(text, "LMN")
    if not result:
        raise NormalizationError("no letters left after removing punctuation and spaces")
    return result


@_memoize
def normalize_city(value: str) -> str | None:
    """``ct`` (META-RULES §3): lowercase, no punctuation, no spaces.

    ``Menlo Park`` -> ``menlopark``, ``Saint-Étienne`` -> ``saintétienne``. Letters only (of any
    script, NFC); digits, punctuation and spaces are removed. Nothing left -> NormalizationError.
    """
    text = fold_text(value).strip()
    if not text:
        return None
    result = _keep(text, "LM")
    if not result:
        raise NormalizationError("no letters left after removing punctuation, digits and spaces")
    return result


# --------------------------------------------------------------------------------------------------
# st

# Names that ISO 3166-2 does not give, folded with _fold(). US and Canadian codes and their English
# ISO names come from capi.meta.iso_data; these are extra spellings people use.
_STATE_ALIASES = {
    "US": {
        "washingtondc": "dc",
        "dc": "dc",
        "usvirginislands": "vi",
        "virginislands": "vi",
        "armedforcesamericas": "aa",
        "armedforceseurope": "ae",
        "armedforcespacific": "ap",
        "aa": "aa",
        "ae": "ae",
        "ap": "ap",
    },
    "CA": {
        "newfoundland": "nl",
        "labrador": "nl",
        "pei": "pe",
        "yukonterritory": "yt",
        "colombiebritannique": "bc",
        "nouvelleecosse": "ns",
        "nouveaubrunswick": "nb",
        "ileduprinceedouard": "pe",
        "terreneuveetlabrador": "nl",
        "territoiresdunordouest": "nt",
    },
}


@functools.cache
def _state_tables() -> dict[str, dict[str, str]]:
    tables: dict[str, dict[str, str]] = {}
    for country in ("US", "CA"):
        table: dict[str, str] = {}
        for code, name in iso_data.SUBDIVISIONS[country]:
            code = code.lower()
            table[code] = code
            table[_fold(name)] = code
        table.update(_STATE_ALIASES[country])
        tables[country] = table
    return tables


_STATE_WORDS = {"US": "a US state", "CA": "a Canadian province"}

# The traditional abbreviations of US states (the AP stylebook's, and the GPO's Tex. and
# Penn.), read only when written with their period and the country is the US: without the
# period several are words or names (Miss, Ind, La, Wash).
_US_ABBREVIATIONS = {
    "ala": "al", "ariz": "az", "ark": "ar", "calif": "ca", "cal": "ca", "colo": "co",
    "conn": "ct", "del": "de", "fla": "fl", "ga": "ga", "ill": "il", "ind": "in", "kan": "ks",
    "kans": "ks", "ky": "ky", "la": "la", "md": "md", "mass": "ma", "mich": "mi", "minn": "mn",
    "miss": "ms", "mo": "mo", "mont": "mt", "neb": "ne", "nebr": "ne", "nev": "nv", "nh": "nh",
    "nj": "nj", "nm": "nm", "ny": "ny", "nc": "nc", "nd": "nd", "okla": "ok", "ore": "or",
    "oreg": "or", "pa": "pa", "penn": "pa", "penna": "pa", "ri": "ri", "sc": "sc", "sd": "sd",
    "tenn": "tn", "tex": "tx", "vt": "vt", "va": "va", "wash": "wa", "wva": "wv", "wis": "wi",
    "wisc": "wi", "wyo": "wy",
}  # fmt: skip
_COMPASS = {"n": "north", "s": "south", "w": "west"}


def normalize_state(value: str, country: str = "") -> str | None:
    """``st`` (META-RULES §3): US 2-letter code, lowercase; elsewhere lowercase without
    punctuation or spaces.

    ``California`` -> ``ca``. US states and territories and Canadian provinces (ISO 3166-2 names
    or codes, accents ignored) become their 2-letter code, lowercase. For the US and Canada a
    value that is neither raises NormalizationError (only the code can match). When the country
    is unknown, a US or Canadian name still becomes its code; other values, and every value for
    other countries, are lowercased with letters and digits kept
    (``New South Wales`` -> ``newsouthwales``). ``country`` is alpha-2 or a name.
    """
    return _state(fold_text(value).strip(), region_code(country))


@_memoize
def _state(text: str, country: str) -> str | None:
    if not text:
        return None
    if country in ("US", "CA") or not country:
        key = _fold(text)
        tables = _state_tables()
        if country:
            code = tables[country].get(key)
            if code is None and country == "US" and "." in text:
                code = _us_abbreviation(text)
            if code is None:
                raise NormalizationError(
                    f"not {_STATE_WORDS[country]} name or 2-letter code (only the code can match)"
                )
            return code
        code = tables["US"].get(key) or tables["CA"].get(key)
        if code is not None:
            return code
    result = _keep(text, "LMN")
    if not result:
        raise NormalizationError("no letters or digits left after removing punctuation")
    if not country and not any(ch.isalpha() for ch in result):
        # digits alone name a region only with their country (Japan's prefecture codes: "13")
        raise NormalizationError("no letters: a state or region is a name or a code")
    return result


def _us_abbreviation(text: str) -> str | None:
    """``Calif.``, ``Mass.``, ``N.C.``, ``N. Carolina`` -> the state's code, or None."""
    compact = _fold(text)
    code = _US_ABBREVIATIONS.get(compact)
    if code is not None:
        return code
    head, _, rest = text.partition(".")
    direction = _COMPASS.get(_fold(head))
    if direction and rest.strip():  # "N. Carolina", "W. Virginia"
        return _state_tables()["US"].get(direction + _fold(rest))
    return None


# --------------------------------------------------------------------------------------------------
# zp

_FIVE_DIGITS_DASH = re.compile(r"(\d{5})\s*-\s*\d{4}(?!\d)")  # ZIP+4, maybe more after it


def normalize_zip(value: str, country: str = "") -> str | None:
    """``zp`` (META-RULES §3): lowercase, no spaces or dash; US: first 5 digits.

    ``94025-1234`` -> ``94025``, ``M1 1AE`` -> ``m11ae``. All punctuation and spaces are removed.
    US: 5 or 9 digits keep the first 5; 3 or 4 digits are a ZIP code that lost its leading zeros
    (a spreadsheet or a JSON number) and are padded back (``2134`` -> ``02134``); anything else
    raises NormalizationError. Country unknown: the ZIP+4 shape (``12345-6789``, also with more
    after it: ``12345-6789-0000``) keeps the first 5 digits, as every Meta library does;
    ``12345 6789`` loses its space only, as Meta's Python SDK does.
    ``country`` is alpha-2 or a name.
    """
    return _zip(fold_text(value).strip(), region_code(country))


@_memoize
def _zip(text: str, country: str) -> str | None:
    if not text:
        return None
    if country == "US":
        digits = _ASCII_NOT_ALNUM.sub("", text.lower())
        if digits.isdigit() and len(digits) in (5, 9):
            return digits[:5]
        if digits.isdigit() and len(digits) in (3, 4) and "-" not in text:
            return digits.zfill(5)
        raise NormalizationError("not a US ZIP code (5 digits, or ZIP+4)")
    if not country:  # 12345-6789, 12345-6789-0000: the first five digits, as Meta's libraries
        match = _FIVE_DIGITS_DASH.match(text)
        if match is not None:
            return match.group(1)
    result = _keep(text, "LN")
    if not result:
        raise NormalizationError("no letters or digits left after removing spaces and dashes")
    if len(result) < 2:
        raise NormalizationError("one character is not a postal code")
    return result


# --------------------------------------------------------------------------------------------------
# country

# Spellings that are not ISO 3166-1 names (folded with _fold()).
_COUNTRY_ALIASES = {
    # older and short forms Meta's parameter builder also reads
    "macedoniatheformeryugoslavrepublicof": "mk",
    "micronesia": "fm",
    "usa": "us",
    "unitedstatesofamerica": "us",
    "america": "us",
    "uk": "gb",
    "greatbritain": "gb",
    "britain": "gb",
    "england": "gb",
    "scotland": "gb",
    "wales": "gb",
    "northernireland": "gb",
    "holland": "nl",
    "thenetherlands": "nl",
    "russia": "ru",
    "turkey": "tr",
    "czechrepublic": "cz",
    "korea": "kr",
    "southkorea": "kr",
    "republicofkorea": "kr",
    "northkorea": "kp",
    "ivorycoast": "ci",
    "macedonia": "mk",
    "swaziland": "sz",
    "capeverde": "cv",
    "burma": "mm",
    "vatican": "va",
    "vaticancity": "va",
    "brunei": "bn",
    "palestine": "ps",
    "uae": "ae",
    "drc": "cd",
    "democraticrepublicofthecongo": "cd",
    # a few endonyms seen in shop data
    "deutschland": "de",
    "espana": "es",
    "italia": "it",
    "nederland": "nl",
    "osterreich": "at",
    "schweiz": "ch",
    "suisse": "ch",
    "svizzera": "ch",
    "brasil": "br",
    "polska": "pl",
    "sverige": "se",
    "norge": "no",
    "danmark": "dk",
    "suomi": "fi",
    "belgique": "be",
    "belgie": "be",
    "ellada": "gr",
}


@functools.cache
def _country_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for alpha_2, alpha_3, iso_name, official_name, common_name in iso_data.COUNTRIES:
        code = alpha_2.lower()
        for name in (official_name, common_name, iso_name):
            if name:
                table[_fold(name)] = code
                # "Korea, Republic of" -> also "Republic of Korea"
                if ", " in name:
                    head, _, tail = name.partition(", ")
                    table[_fold(f"{tail} {head}")] = code
        table[alpha_3.lower()] = code
    table.update(_COUNTRY_ALIASES)
    for alpha_2, *_ in iso_data.COUNTRIES:  # codes last: a 2-letter key is always the ISO code
        table[alpha_2.lower()] = alpha_2.lower()
    return table


@_memoize
def normalize_country(value: str) -> str | None:
    """``country`` (META-RULES §3): ISO 3166-1 alpha-2, lowercase.

    ``United States`` -> ``us``. Accepts alpha-2 and alpha-3 codes and English names (ISO names,
    common and official names from ISO 3166-1, accents and punctuation ignored), plus a few usual
    spellings (``USA``, ``UK``, ``Deutschland``...). Anything else raises NormalizationError.
    """
    text = fold_text(value).strip()
    if not text:
        return None
    key = _fold(text)
    table = _country_table()
    code = table.get(key)
    if code is None:  # "Germany Europe", "Canada Country": a name and the word around it
        for word in _COUNTRY_TAILS:
            if key.endswith(word) and len(key) > len(word):
                code = table.get(key[: -len(word)])
                if code is not None and len(key) - len(word) > 3:  # a name, not a code
                    break
                code = None
    if code is None:
        raise NormalizationError("not an ISO 3166-1 country code or country name")
    return code


# Words that may follow a country's name in a free-text field: the continent, or "country"
# (longest first: "southamerica" before "america").
_COUNTRY_TAILS = (
    "centralamerica",
    "northamerica",
    "southamerica",
    "antarctica",
    "caribbean",
    "oceania",
    "america",
    "country",
    "europe",
    "africa",
    "asia",
)


# --------------------------------------------------------------------------------------------------
# ge

_GENDERS = {
    **dict.fromkeys(
        [
            "m",
            "male",
            "man",
            "men",
            "boy",
            "masculine",
            "masculino",
            "masculin",
            "mannlich",
            "maennlich",
            "mann",
            "mr",
            "homme",
            "hombre",
            # issue 26: every other word of Meta's parameter builder's list (genderUtil.js,
            # facebook/capi-param-builder b0b6f0b), as it maps them
            "guy",
            "papa",
            "groom",
            "widower",
            "king",
            "prince",
            "duke",
            "count",
            "emperor",
            "god",
            "lord",
            "lad",
            "fellow",
            "chap",
            "bloke",
            "dude",
            # issue 14: words Meta's parameter builder maps, where the word names a man and has no
            # other common meaning (titles, pronouns, family words; several languages)
            "mister",
            "sir",
            "gentleman",
            "he",
            "him",
            "his",
            "himself",
            "father",
            "son",
            "brother",
            "husband",
            "boyfriend",
            "uncle",
            "nephew",
            "dad",
            "daddy",
            "uomo",
            "maschio",
            "maschile",
            "masculina",
            "herr",
            "monsieur",
            "senor",
            "homem",
            "muzhskoi",
            "erkek",
        ],
        "m",
    ),
    **dict.fromkeys(
        [
            "f",
            "female",
            "woman",
            "women",
            "girl",
            "feminine",
            "femenino",
            "femenina",
            "feminin",
            "weiblich",
            "w",
            "frau",
            "femme",
            "mujer",
            # issue 26: the rest of Meta's parameter builder's list (above)
            "mama",
            "bride",
            "widow",
            "queen",
            "princess",
            "duchess",
            "countess",
            "empress",
            "goddess",
            "maiden",
            "lass",
            "gal",
            "chick",
            "dame",
            "belle",
            "mrs",
            "ms",
            "miss",
            "lady",
            "madam",
            "maam",
            "she",
            "her",
            "hers",
            "herself",
            "mother",
            "daughter",
            "sister",
            "wife",
            "girlfriend",
            "aunt",
            "niece",
            "mom",
            "mommy",
            "mum",
            "donna",
            "femmina",
            "femminile",
            "madame",
            "senora",
            "mulher",
            "feminino",
            "kadin",
            "zhenskii",
        ],
        "f",
    ),
}


@_memoize
def normalize_gender(value: str) -> str | None:
    """``ge`` (META-RULES §3): ``f`` or ``m``.

    ``Male`` -> ``m``. Every word Meta's parameter builder maps (male, man, guy, king, he,
    father...; female, woman, queen, bride, she, mother...), in any case, and words of several
    other languages (homme, uomo; femme, donna...) map to ``m`` or ``f``; so does a word with
    trailing punctuation (``male!``). A value with a digit or a space inside (``mal3e``,
    ``m9``, ``ma le``) is garbage, not a reading. Anything else (unknown, other, x) raises
    NormalizationError: Meta accepts only these two values.
    """
    text = fold_text(value).strip()
    if not text:
        return None
    if any(ch.isdigit() or ch.isspace() for ch in text):
        raise NormalizationError("a gender with digits or spaces inside is not a reading")
    gender = _GENDERS.get(_fold(text))
    if gender is None:
        raise NormalizationError("not a recognised gender (Meta accepts only m or f)")
    return gender


# --------------------------------------------------------------------------------------------------
# db

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            "jan january",
            "feb february",
            "mar march",
            "apr april",
            "may",
            "jun june",
            "jul july",
            "aug august",
            "sep sept september",
            "oct october",
            "nov november",
            "dec december",
        ),
        start=1,
    )
    for name in names.split()
}
_DATE_NOISE = frozenset(
    [
        "st",
        "nd",
        "rd",
        "th",
        "of",
        "the",
        "mon",
        "tue",
        "tues",
        "wed",
        "thu",
        "thur",
        "thurs",
        "fri",
        "sat",
        "sun",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        # Chinese and Japanese (年 月 日) and Korean (년 월 일) dates: 1997年2月16日
        "年",
        "月",
        "日",
        "년",
        "월",
        "일",
    ]
)
# A format note next to a date ("03/04/1990 (dd/mm/yyyy)"): its order settles day and month.
_NOTE_PARTS = {"d": "D", "dd": "D", "m": "M", "mm": "M", "y": "Y", "yy": "Y", "yyyy": "Y"}
_ISO_DATE = re.compile(
    r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[t ].*|-\d{1,2}[-:.]\d{2}(?:[-:.]\d{2}(?:[.,]\d+)?)?)?"
)
_TIME_SUFFIX = re.compile(
    r"[t ]\s*\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:am|pm|z|[+-]\d{2}:?\d{2})?"
)
_DATE_TOKEN = re.compile(r"\d+|[^\W\d_]+")
_DATE_ORDERS = frozenset({"MDY", "DMY", "YMD"})


def normalize_date_of_birth(value: str, date_order: str = "") -> str | None:
    """``db`` (META-RULES §3): ``YYYYMMDD``.

    ``2/16/1997`` -> ``19970216``. Accepted: ``YYYYMMDD``, ``YYYY-MM-DD`` (also with ``/`` or
    ``.`` and an ISO time part), ``MM/DD/YYYY`` and ``DD/MM/YYYY`` (``/``, ``-``, ``.`` or space),
    the same with two-digit years (``97`` -> 1997, ``05`` -> 2005: the latest year not in the
    future), ``MMDDYYYY``/``DDMMYYYY``, and English month names (``16 Feb 1997``,
    ``February 16th, 1997``). When day and month cannot be told apart (``03/04/1990``),
    ``date_order`` (``CAPI_DATE_ORDER``: ``MDY``, ``DMY`` or ``YMD``) settles it; without it the
    date raises NormalizationError, as do impossible dates (``02/30/1990``), years before 1900
    and dates in the future.
    """
    return _date(fold_text(value).strip().lower(), date_order.strip().upper())


def _year_first(year: int, second: int, third: int) -> str:
    """A date written year first: year-month-day, or year-day-month when the middle number
    cannot be a month and the last can (1997-16-02)."""
    if second > 12 >= third:
        return _ymd(year, third, second)
    return _ymd(year, second, third)


def _ymd(year: int, month: int, day: int) -> str:
    try:
        date = _dt.date(year, month, day)
    except ValueError:
        raise NormalizationError("not a real calendar date") from None
    if year < 1900:
        raise NormalizationError("the year is before 1900: not a plausible date of birth")
    if date > _dt.date.today():
        raise NormalizationError("the date is in the future: not a plausible date of birth")
    return f"{year:04d}{month:02d}{day:02d}"


def _full_year(token: str) -> int:
    year = int(token)
    if len(token) <= 2:
        this_year = _dt.date.today().year
        year += 2000 if 2000 + year <= this_year else 1900
    return year


def _day_month(first: str, second: str, order: str) -> tuple[int, int]:
    """(month, day) from the two numbers before a year (MDY or DMY)."""
    a, b = int(first), int(second)
    if a > 12 >= b:
        return b, a
    if b > 12 >= a or a == b or order == "MDY":
        return a, b
    if order == "DMY":
        return b, a
    if a > 12:
        raise NormalizationError("not a real calendar date (no month between 1 and 12)")
    raise NormalizationError(
        "ambiguous day and month order: send YYYY-MM-DD, or set CAPI_DATE_ORDER (MDY or DMY)"
    )


@_memoize
def _date(text: str, order: str) -> str | None:
    if not text:
        return None
    if order not in _DATE_ORDERS:
        order = ""
    if len(text) == 8 and text.isascii() and text.isdigit():
        try:
            return _ymd(int(text[:4]), int(text[4:6]), int(text[6:]))
        except NormalizationError:
            if 1900 <= int(text[:4]) <= _dt.date.today().year:
                raise
        month, day = _day_month(text[:2], text[2:4], order)  # MMDDYYYY or DDMMYYYY
        return _ymd(int(text[4:]), month, day)
    match = _ISO_DATE.fullmatch(text)
    if match is not None:
        return _year_first(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    text = _TIME_SUFFIX.sub("", text, count=1) if ":" in text else text
    numbers: list[str] = []
    months: list[int] = []
    words: list[str] = []  # a label ("dob", "born") or a format note ("dd/mm/yyyy")
    for token in _DATE_TOKEN.findall(text):
        if token[0].isdecimal():
            numbers.append(str(int(token)).zfill(len(token)) if not token.isascii() else token)
        elif token in _MONTHS:
            months.append(_MONTHS[token])
        elif token not in _DATE_NOISE:
            words.append(token)
    if words:
        # Words are read as a label or a format note only around exactly one date's three
        # parts; a note that names an order (dd mm yyyy) gives it.
        if len(numbers) + len(months) != 3:
            raise NormalizationError("not a recognisable date (send YYYY-MM-DD)")
        note = "".join(_NOTE_PARTS.get(word, "") for word in words)
        if sorted(note) == ["D", "M", "Y"]:
            order = note
    if len(months) == 1 and len(numbers) == 2:
        first, second = numbers
        if len(first) == 4 or (int(first) > 31 and len(second) != 4):
            year, day = first, second
        else:
            day, year = first, second
        return _ymd(_full_year(year), months[0], int(day))
    if months or len(numbers) != 3 or any(len(n) > 4 for n in numbers):
        raise NormalizationError("not a recognisable date (send YYYY-MM-DD)")
    a, b, c = numbers
    if len(a) == 4 or (len(c) <= 2 and (order == "YMD" or int(a) > 31)):
        return _year_first(_full_year(a), int(b), int(c))
    if len(a) > 2 or len(b) > 2 or len(c) == 3:
        raise NormalizationError("not a recognisable date (send YYYY-MM-DD)")
    month, day = _day_month(a, b, order)
    return _ymd(_full_year(c), month, day)


# --------------------------------------------------------------------------------------------------
# external_id


_SPLIT_LENGTH = {"f5first": 5, "f5last": 5, "fi": 1}
_SPLIT_RANGE = {"dobd": (1, 31), "dobm": (1, 12)}


def normalize_split_field(key: str, value: str) -> str | None:
    """The split customer fields of Meta's business SDKs (META-RULES §3), normalized as they
    normalize them: ``f5first`` / ``f5last`` the first 5 letters of the normalized first / last
    name, ``fi`` its first letter; ``dobd`` / ``dobm`` two digits (``7`` -> ``07``) in range,
    ``doby`` four digits. Raises NormalizationError for a value that is none of these."""
    text = fold_text(value).strip()
    if not text:
        return None
    if key in _SPLIT_LENGTH:
        name = normalize_name(text)
        return name[: _SPLIT_LENGTH[key]] if name else None
    if not (text.isascii() and text.isdigit()):
        raise NormalizationError("digits only")
    if key == "doby":
        if len(text) != 4:
            raise NormalizationError("a year of 4 digits")
        return text
    low, high = _SPLIT_RANGE[key]
    if len(text) > 2 or not low <= int(text) <= high:
        raise NormalizationError(f"a number from {low:02d} to {high:02d}")
    return text.zfill(2)


# JavaScript's whitespace (`\s`, what String.prototype.trim removes): the BOM is whitespace there,
# the information separators \x1c-\x1f and \x85 are not (Python's str.split() has it the other
# way round).
_JS_SPACE = re.compile("[\t\n\v\f\r \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]+")


def normalize_external_id(value: str) -> str | None:
    """``external_id`` (META-RULES §3): lowercase, every whitespace character removed, as Meta's
    parameter builder and business SDKs do before hashing (``USER 456`` -> ``user456``), so that
    the same id hashes the same from the relay, the Pixel and Meta's tooling. Whitespace is
    JavaScript's set, as in Meta's parameter builder: the BOM is removed, control separators
    (``\x1c``-``\x1f``) are kept. This changed on 2026-11-27: before, the case was kept
    (docs/NORMALIZATION.md)."""
    text = _JS_SPACE.sub("", value).lower()
    return text or None


def register_cache(cache: Any) -> None:
    """Add a cache of another module's to those clear_caches() empties (same bound, same
    lifetime as the normalizers' own)."""
    _CACHED.append(cache)


def _split_outcome(text: str, key: str) -> tuple[str | None, str | None]:
    try:
        return normalize_split_field(key, text), None
    except NormalizationError as error:
        return None, str(error)


# Each field's normalizer in (value, reason) form, without raising, by the name the rule book
# gives it (capi.meta.rules.HASHED: `normalizer`); the second argument is the field's context
# (`context` there: the region for st and zp, (event region, default region) for ph, the date
# order for db, the field's own name for the split forms, None for the rest). capi.meta.user_data
# dispatches through this table; tests/unit/test_rules_table.py checks that every hashed field has
# its entry.
NORMALIZERS: dict[str, Callable[[str, Any], tuple[str | None, str | None]]] = {
    "email": lambda text, _: _OUTCOMES["normalize_email"](text),
    "phone": lambda text, regions: _OUTCOMES["_phone"](fold_text(text).strip(), *regions),
    "name": lambda text, _: _OUTCOMES["normalize_name"](text),
    "city": lambda text, _: _OUTCOMES["normalize_city"](text),
    "state": lambda text, region: _OUTCOMES["_state"](fold_text(text).strip(), region),
    "zip": lambda text, region: _OUTCOMES["_zip"](fold_text(text).strip(), region),
    "country": lambda text, _: _OUTCOMES["normalize_country"](text),
    "gender": lambda text, _: _OUTCOMES["normalize_gender"](text),
    "date": lambda text, order: _OUTCOMES["_date"](fold_text(text).strip().lower(), order),
    "external_id": lambda text, _: (normalize_external_id(text), None),
    "split": _split_outcome,
}
