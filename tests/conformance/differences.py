"""Where the relay deliberately normalizes differently from a published test vector, and why.

Each entry: the fields it concerns, a predicate that recognises the vector, the Meta rule that
decides (docs/META-RULES.md §3 and Meta's "Customer information parameters" page), and the reason.
docs/NORMALIZATION.md ("Conformance with Meta's libraries") carries the same list; the conformance
test fails on a disagreement no entry explains, and on an entry no vector exercises any more.

A predicate gets (field, input, expected, ours): `expected` is the library's normalized value or
None when it drops the value; `ours` is "dropped" or "hashed" (a hash other than the library's).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from capi.meta.user_data import EMPTY_SHA256


def _letters(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isascii() and ch.isalpha())


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isascii() and ch.isdigit())


@dataclass(frozen=True)
class Difference:
    name: str
    fields: frozenset[str]
    applies: Callable[[str, str, str | None, str], bool]
    rule: str
    why: str
    example: str


DIFFERENCES: tuple[Difference, ...] = (
    Difference(
        "hash_of_empty",
        frozenset({"em", "ph", "fn", "ct", "st", "zp", "country", "db", "ge", "external_id"}),
        lambda f, i, e, o: i.strip().lower() == EMPTY_SHA256,
        "a hash stands for a customer's value",
        "The library passes the SHA-256 of an empty string through; it is the hash of a missing "
        "value and matches nobody, so the relay drops it with a warning.",
        "e3b0c442...b855 -> library keeps it; relay drops it",
    ),
    Difference(
        "two_letters_of_anything",
        frozenset({"country", "st"}),
        lambda f, i, e, o: (
            e is not None and len(e) == 2 and e == _letters(i)[:2] and len(_letters(i)) > 2
        ),
        "country: ISO 3166-1 alpha-2 code; st: 2-letter code in the US, the full name elsewhere",
        "The library cuts text it does not recognise to its first two letters (Carolina -> ca, "
        "unknown -> un, Tex. -> te): that is another state's or country's code. The relay sends "
        "a recognised name's code, a non-US region in full, and drops an unknown country.",
        "Carolina -> library ca (California); relay carolina",
    ),
    Difference(
        "name_followed_by_other_words",
        frozenset({"country", "st"}),
        lambda f, i, e, o: e is not None and len(e) == 2 and e != _letters(i)[:2],
        "country: ISO 3166-1 alpha-2 code; st: 2-letter code in the US",
        "The library finds a name at the start of a longer text (JapanAsia -> jp, NewYorkCity -> "
        "ny, Japão -> ja). The relay reads a whole value as a name or a code and does not guess "
        "from a part of it: the text is dropped (country) or sent in full (region).",
        "GermanyEurope -> library de; relay drops it",
    ),
    Difference(
        "not_an_iso_code",
        frozenset({"country"}),
        lambda f, i, e, o: e is not None and len(_letters(i)) <= 2 and e == _letters(i),
        "country: ISO 3166-1 alpha-2 code",
        "The library keeps any one or two letters (x, zz, uk); the relay sends assigned ISO codes "
        "only, and maps UK to gb.",
        "U.K. -> library uk; relay gb",
    ),
    Difference(
        "non_ascii_letters",
        frozenset({"ct", "fn"}),
        lambda f, i, e, o: (
            not i.isascii()
            and any(not ch.isascii() and ch.isalpha() for ch in i)
            and (e is None or all(ch.isascii() for ch in e))
        ),
        "names and places: lowercase, UTF-8 encoded special characters allowed",
        "The library deletes letters outside a-z (San José -> sanjos, Москва -> nothing); the "
        "relay keeps the letters of every script, as Meta's rule allows.",
        "São Paulo -> library sopaulo; relay sãopaulo",
    ),
    Difference(
        "symbols_kept",
        frozenset({"fn", "zp"}),
        lambda f, i, e, o: e is not None and any(not ch.isalnum() for ch in e),
        "names: no punctuation or special characters; zp: no spaces, no dash",
        "The library keeps dashes, spaces, emoji and control characters inside names and postal "
        "codes (mary–jane, a1 b2, 123!@); the relay removes them as Meta's rule says.",
        "John😀 -> library john😀; relay john",
    ),
    Difference(
        "digits_in_city",
        frozenset({"ct"}),
        lambda f, i, e, o: bool(_digits(i)),
        "ct: lowercase letters, no punctuation or spaces",
        "The library keeps digits in a city (losangeles90210) or drops a city that starts with "
        "one; the relay removes digits: a postal code typed into the city field must not change "
        "the city's hash.",
        "Los Angeles 90210 -> library losangeles90210; relay losangeles",
    ),
    Difference(
        "date_guessed",
        frozenset({"db"}),
        lambda f, i, e, o: e is not None and o == "dropped",
        "db: YYYYMMDD",
        "The library takes the first date-like run of any text and reads an ambiguous one "
        "month-first (03-05-1995 -> 19950305), and keeps impossible dates (02-29-1900). The "
        "relay reads a date only when its order is certain or set (CAPI_DATE_ORDER) and the "
        "date exists: a wrong guess is another person's birthday.",
        "05-03-1995 -> library 19950503; relay drops it without CAPI_DATE_ORDER",
    ),
    Difference(
        "date_read_by_relay",
        frozenset({"db"}),
        lambda f, i, e, o: e is None and o == "hashed",
        "db: YYYYMMDD",
        "The relay also reads month names (December 31, 1990), full-width digits and two-digit "
        "years it can place; the library drops them.",
        "Dec 31, 1990 -> library nothing; relay 19901231",
    ),
    Difference(
        "gender_read_by_relay",
        frozenset({"ge"}),
        lambda f, i, e, o: e is None and o == "hashed",
        "ge: f or m",
        "The relay also reads the word with punctuation around it (male!, woman?), other "
        "languages (homme, Frau, donna) and w (weiblich); the library drops them.",
        "femme -> library nothing; relay f",
    ),
    Difference(
        "phone_not_valid",
        frozenset({"ph"}),
        lambda f, i, e, o: e is not None and o == "dropped" and len(_digits(i)) >= 7,
        "ph: digits with the country code",
        "The library sends any digits; the relay drops numbers that phonenumbers finds invalid "
        "for their country (the fictional 555 range, too long, digits and an extension run "
        "together): they match nobody.",
        "+1-555-123-4567 -> library 15551234567; relay drops it",
    ),
    Difference(
        "phone_too_short",
        frozenset({"ph"}),
        lambda f, i, e, o: e is not None and o == "dropped" and len(_digits(i).lstrip("0")) < 7,
        "ph: digits with the country code",
        "The library keeps any digits (911, 1, 1800 from 1-800-FLOWERS); without a country the "
        "relay keeps digits as given only when they can be a number with its country code.",
        "911 -> library 911; relay drops it",
    ),
    Difference(
        "phone_vanity_letters",
        frozenset({"ph"}),
        lambda f, i, e, o: o == "hashed" and bool(_letters(i)),
        "ph: digits with the country code",
        "The relay reads letters as the phone keypad does (1-800-FLOWERS -> 18003569377); the "
        "library deletes them (1800).",
        "1-800-FLOWERS -> library 1800; relay 18003569377",
    ),
    Difference(
        "zip_cut_at_dash",
        frozenset({"zp"}),
        lambda f, i, e, o: e is not None and "-" in i and e == i.strip().lower().split("-")[0],
        "zp: no spaces, no dash; US: first 5 digits",
        "The library keeps what is before the first dash in every country (abc-def-ghi -> abc); "
        "the relay removes dashes and keeps 5 digits only for the US ZIP+4 shape.",
        "abc-def-ghi -> library abc; relay abcdefghi",
    ),
    Difference(
        "zip_leading_dash",
        frozenset({"zp"}),
        lambda f, i, e, o: e is None and i.strip().startswith("-") and o == "hashed",
        "zp: no spaces, no dash",
        "The library drops a code that starts with a dash; the relay removes the dash.",
        "-90210 -> library nothing; relay 90210",
    ),
    Difference(
        "id_read_as_a_date",
        frozenset({"external_id"}),
        lambda f, i, e, o: e is not None and "gmt" in e and "gmt" not in i.lower(),
        "external_id: your identifier, sent the same way everywhere",
        "The library turns an id that looks like a date into JavaScript's date text; the relay "
        "keeps the id (lowercased).",
        "2023-01-01T00:00:00.000Z -> library sunjan01...; relay 2023-01-01t00:00:00.000z",
    ),
)


_PEER_NAMES = (
    Difference(
        "name_kept_as_name",
        frozenset({"country", "st"}),
        lambda f, i, e, o: e is not None and len(e) > 2 and e == _letters(i) and o == "hashed",
        "country: ISO 3166-1 alpha-2 code; st: 2-letter code in the US (and Canada)",
        "A peer sends names its table lacks as the name (unitedstatesofamerica, greatbritain, "
        "ontario); the relay, like Meta's parameter builder, sends the code (us, gb, on).",
        "Great Britain -> peer greatbritain; relay gb",
    ),
)
_MORE = (
    Difference(
        "eight_digits_kept_as_given",
        frozenset({"db"}),
        lambda f, i, e, o: e is not None and e == i.strip() and len(e) == 8 and o == "hashed",
        "db: YYYYMMDD",
        "The PHP library passes any 8 digits through (15011990, a DDMMYYYY date); the relay "
        "reads them as the date they are (19900115).",
        "15011990 -> library 15011990; relay 19900115",
    ),
)
DIFFERENCES = DIFFERENCES + _PEER_NAMES + _MORE


def explain(field: str, raw: str, expected: str | None, ours: str) -> Difference | None:
    """The documented difference that covers a disagreement, if any."""
    for difference in DIFFERENCES:
        if field in difference.fields and difference.applies(field, raw, expected, ours):
            return difference
    return None


# Where each difference's rule comes from. "§3" is docs/META-RULES.md §3, our copy of Meta's
# "Customer information parameters" page (the table of each field's normalization).
_S3 = "Meta, Customer information parameters (docs/META-RULES.md §3)"
SOURCES: dict[str, str] = {
    "hash_of_empty": f"{_S3}: the hash of an empty string is never sent",
    "two_letters_of_anything": f"{_S3}: country is ISO 3166-1 alpha-2; st is the US code",
    "name_followed_by_other_words": f"{_S3}: country, st; ISO 3166-1 and 3166-2 names",
    "not_an_iso_code": f"{_S3}: country is ISO 3166-1 alpha-2 (ISO's list of assigned codes)",
    "non_ascii_letters": f"{_S3}: fn, ln, ct keep letters of every script (UTF-8)",
    "symbols_kept": f"{_S3}: fn, ln, ct without punctuation; zp without spaces or dashes",
    "digits_in_city": f"{_S3}: ct is lowercase letters without punctuation or spaces",
    "date_guessed": f"{_S3}: db is YYYYMMDD (a day and month told apart, not guessed)",
    "date_read_by_relay": f"{_S3}: db is YYYYMMDD",
    "gender_read_by_relay": f"{_S3}: ge is f or m",
    "phone_not_valid": f"{_S3}: ph with its country code; phonenumbers' metadata (ITU-T E.164)",
    "phone_too_short": f"{_S3}: ph with its country code (ITU-T E.164 lengths)",
    "phone_vanity_letters": "ITU-T E.161: the letters of a telephone keypad",
    "zip_cut_at_dash": f"{_S3}: zp without spaces or dashes; the first 5 digits in the US only",
    "zip_leading_dash": f"{_S3}: zp without spaces or dashes",
    "id_read_as_a_date": f"{_S3}: external_id must equal what the Pixel sends",
    "name_kept_as_name": f"{_S3}: country is ISO 3166-1 alpha-2; st the province's code",
    "eight_digits_kept_as_given": f"{_S3}: db is YYYYMMDD",
}
