"""The gaps issues 14 and 26 name, each as the case a user met (all failed before the fix).

Issue 26's cases carry their source: Meta's parameter builder (facebook/capi-param-builder
b0b6f0b, nodejs/capi-param-builder/src/piiUtil: genderUtil.js's word lists, zipCodeUtil.js's
cut at the dash, commonUtil.js's trim), Meta's own documentation (META-RULES §3), or the
matcher's view (no vector covers it: the case names what a customer types or pastes)."""

from __future__ import annotations

import hashlib

import pytest

from capi.meta import normalize as n
from capi.meta.user_data import prepare_user_data


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def hashed(field: str, value: str, **user) -> list[str] | None:
    prepared, _ = prepare_user_data({field: value, **user})
    return prepared.get(field)


def test_external_id_hashes_as_metas_tooling_does():
    assert hashed("external_id", "USER456") == [sha("user456")]
    assert hashed("external_id", " User 456 ") == [sha("user456")]


@pytest.mark.parametrize(
    ("given", "digits"), [("１２３４５", "12345"), ("１００－０００１", "1000001")]
)
def test_full_width_zip_digits_hash_as_ascii(given, digits):
    assert hashed("zp", given) == [sha(digits)]


@pytest.mark.parametrize(
    ("field", "given", "kept"),
    [
        ("ct", "Paris ❤️", "paris"),
        ("fn", "Anna 👍🏽", "anna"),
        ("ln", "Müller ✨", "müller"),
        ("fn", "अनुष्का", "अनुष्का"),  # letters and combining marks of every script stay
    ],
)
def test_emoji_and_symbols_leave_names_and_places(field, given, kept):
    assert hashed(field, given) == [sha(kept)]


def test_international_prefix_written_after_a_plus():
    assert n.normalize_phone("+001 (616) 954-78 88") == "16169547888"


def test_a_phone_without_any_country_is_hashed_as_given_with_a_warning():
    prepared, problems = prepare_user_data({"ph": "1(650)123-4567"})
    assert prepared["ph"] == [sha("16501234567")]  # Meta's parameter builder's own example
    (warning,) = problems
    assert warning.code == "no_country" and "CAPI_DEFAULT_COUNTRY" in warning.message
    # before, such a number could be read as a foreign one: 8 digits became Norwegian
    prepared, problems = prepare_user_data({"ph": "12345678"})
    assert prepared["ph"] == [sha("12345678")] and problems[0].code == "no_country"


@pytest.mark.parametrize(
    ("word", "gender"),
    [
        ("gentleman", "m"),
        ("he", "m"),
        ("Herr", "m"),
        ("uomo", "m"),
        ("lady", "f"),
        ("she", "f"),
        ("madame", "f"),
        ("donna", "f"),
        ("Mulher", "f"),
    ],
)
def test_unambiguous_gender_words(word, gender):
    assert n.normalize_gender(word) == gender


@pytest.mark.parametrize("word", ["unknown", "other", "x", "n/a"])
def test_words_that_name_no_sex_are_not_a_gender(word):
    with pytest.raises(n.NormalizationError):
        n.normalize_gender(word)


def test_zip_with_a_space_and_no_country_loses_the_space_as_metas_python_sdk_does():
    assert hashed("zp", "12345 9876") == [sha("123459876")]
    assert hashed("zp", "12345-9876") == [sha("12345")]  # the US ZIP+4 shape


def test_one_letter_and_numeric_states():
    assert hashed("st", "a") == [sha("a")]  # as Meta's parameter builder keeps it
    assert hashed("st", "123") is None  # digits alone name no region without a country
    assert hashed("st", "13", country="JP") == [sha("13")]  # Japan's prefecture codes


def test_split_fields_of_metas_sdks():
    prepared, problems = prepare_user_data(
        {
            "f5first": "George",
            "f5last": "Washington",
            "fi": "ABC",
            "dobd": "9",
            "dobm": "1",
            "doby": "2000",
        }
    )
    assert prepared == {
        "f5first": [sha("georg")],
        "f5last": [sha("washi")],
        "fi": [sha("a")],
        "dobd": [sha("09")],
        "dobm": [sha("01")],
        "doby": [sha("2000")],
    }
    assert problems == []
    refused, problems = prepare_user_data({"dobd": "32", "dobm": "13", "doby": "19999"})
    assert refused == {} and len(problems) == 3


# -- issue 26: follow Meta where its libraries agree ------------------------------------------


@pytest.mark.parametrize(
    ("word", "gender"),
    [
        ("guy", "m"),
        ("Papa", "m"),
        ("GROOM", "m"),
        ("king", "m"),
        ("count", "m"),
        ("fellow", "m"),
        ("dude", "m"),
        ("queen", "f"),
        ("Bride", "f"),
        ("lass", "f"),
        ("chick", "f"),
        ("belle", "f"),
        ("ma'am", "f"),
        ("male!", "m"),  # trailing punctuation: still a reading (documented)
        ("femme", "f"),  # another language's word: still a reading (documented)
    ],
)
def test_every_word_of_metas_gender_list_in_any_case(word, gender):
    """genderUtil.js maps these words (MALE_SET, FEMALE_SET) after lowercasing."""
    assert hashed("ge", word) == [sha(gender)]


@pytest.mark.parametrize("garbage", ["mal3e", "male1", "m9", "ma le", "f 1", "fe male"])
def test_gender_with_digits_or_inner_spaces_is_dropped(garbage):
    assert hashed("ge", garbage) is None


@pytest.mark.parametrize(
    ("given", "date"),
    [
        ("1997年2月16日", "19970216"),  # Chinese and Japanese
        ("1997년 2월 16일", "19970216"),  # Korean
        ("DOB: 16/02/1997", "19970216"),  # a label around an unambiguous date
        ("born 16 Feb 1997", "19970216"),
        ("03/04/1990 (dd/mm/yyyy)", "19900403"),  # a format note settles the order
        ("03/04/1990 (MM/DD/YYYY)", "19900304"),
        ("1997-16-02", "19970216"),  # year-day-month: 16 cannot be a month
        ("1997-02-16-10-30-00", "19970216"),  # an ISO date with a dashed time part
    ],
)
def test_dates_meta_would_read(given, date):
    assert hashed("db", given) == [sha(date)]


@pytest.mark.parametrize(
    "given",
    [
        "1899-12-31",  # Meta's rule: years from 1900
        "03/04/1990",  # ambiguous without CAPI_DATE_ORDER (Meta's libraries read month first)
        "DOB 03/04/1990",
        "call 12 05 1990 99",  # words around more than one date's parts
    ],
)
def test_dates_still_refused(given):
    assert hashed("db", given) is None


@pytest.mark.parametrize(
    ("given", "zip_code"),
    [("12345-6789", "12345"), ("12345-6789-0000", "12345"), ("12345 - 6789 x", "12345")],
)
def test_zip_plus_four_and_more_keep_the_first_five_without_a_country(given, zip_code):
    """zipCodeUtil.js cuts at the first dash; Meta's Python SDK and PHP builder do the same. A
    Brazilian CEP (5 digits, a dash, 3) is not a ZIP+4: it keeps its eight digits."""
    assert hashed("zp", given) == [sha(zip_code)]
    assert hashed("zp", "01310-100") == [sha("01310100")]


def test_external_id_trims_javascripts_whitespace():
    """commonUtil.js removes \\s (the BOM is whitespace there); \\x1c-\\x1f are not."""
    assert hashed("external_id", "\ufeffUser 456\u3000") == [sha("user456")]
    assert hashed("external_id", "external\x1fid") == [sha("external\x1fid")]


# -- issue 26: fold like a matcher -----------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "given", "expected"),
    [
        ("em", "ＪＯＨＮ＠ＥＸＡＭＰＬＥ．ＣＯＭ", "john@example.com"),  # full-width
        ("fn", "Ｊｏｈｎ", "john"),
        ("ct", "Ｐａｒｉｓ", "paris"),
        ("ph", "＋１ ６５０ ５５５ １２１２", "16505551212"),  # full-width + and digits
        ("fn", "ﬁona", "fiona"),  # a ligature
    ],
)
def test_compatibility_forms_fold_before_the_field_rules(field, given, expected):
    assert hashed(field, given) == [sha(expected)]


@pytest.mark.parametrize(
    ("field", "given", "expected"),
    [
        ("em", "jo\u200bhn@example.com", "john@example.com"),  # a zero-width space inside
        ("em", "\ufeffjohn@example.com", "john@example.com"),  # a BOM from a CSV export
        ("ph", "+1 650\u200b555 1212", "16505551212"),
        ("fn", "Jo\u2060hn", "john"),
        ("zp", "94025\u00ad", "94025"),
    ],
)
def test_invisible_characters_are_removed_anywhere(field, given, expected):
    assert hashed(field, given) == [sha(expected)]


@pytest.mark.parametrize(
    ("field", "given", "expected"),
    [
        ("ct", "İSTANBUL", "istanbul"),  # not i + a combining dot
        ("ln", "Yİğit", "yiğit"),
        ("ln", "O’Brien", "obrien"),  # a curly apostrophe is punctuation
        ("zp", "94025‑1234", "94025"),  # a non-breaking hyphen (U+2011) is a hyphen
        ("db", "1997‐02‐16", "19970216"),  # U+2010
        ("ph", "+1 650–555–1212", "16505551212"),  # en dashes
    ],
)
def test_case_folding_and_unicode_punctuation(field, given, expected):
    assert hashed(field, given) == [sha(expected)]


def test_the_dash_table_is_every_dash_of_unicode():
    import unicodedata

    dashes = {c for c in range(0x80, 0x10000) if unicodedata.category(chr(c)) == "Pd"}
    assert dashes == set(n._DASHES)


@pytest.mark.parametrize(
    "given", ["+52 1 55 1234 5678", "+5215512345678", "0052 1 55 1234 5678", "5215512345678"]
)
def test_mexicos_old_mobile_prefix_is_dropped(given):
    """Since August 2019 Mexico's mobiles are dialled without the 1 after +52."""
    assert hashed("ph", given) == [sha("525512345678")]
