"""The gaps issue 14 names, each as the case a user met (all failed before the fix)."""

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


@pytest.mark.parametrize("word", ["count", "god", "king", "chick", "fellow", "unknown"])
def test_words_with_another_meaning_are_not_a_gender(word):
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
