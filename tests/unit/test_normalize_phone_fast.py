"""capi.meta.phones must say exactly what phonenumbers.parse + is_valid_number say (differential).

Tens of thousands of numbers: every region's example numbers with changed digits, in every
format people write, read in their own region, in other regions and as international numbers;
plus random clean strings (hypothesis).
"""

from __future__ import annotations

import random

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from capi.meta import phones as phone_fast

READ_IN = (None, "US", "GB", "DE", "FR", "IT", "IN", "BR", "AR", "MX", "RU", "JP", "AU", "CN")
TYPES = (
    PhoneNumberType.MOBILE,
    PhoneNumberType.FIXED_LINE,
    PhoneNumberType.TOLL_FREE,
    PhoneNumberType.PREMIUM_RATE,
    PhoneNumberType.VOIP,
)


def slow(text: str, region: str | None):
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return phone_fast.INVALID
    if not phonenumbers.is_valid_number(number):
        return phone_fast.INVALID
    return number.country_code, phonenumbers.national_significant_number(number)


def texts_for(number: phonenumbers.PhoneNumber, rng: random.Random) -> list[str]:
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    nsn = phonenumbers.national_significant_number(number)
    code = str(number.country_code)
    return [
        e164,
        e164[1:],
        "00" + e164[1:],
        phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL),
        national,
        "".join(ch for ch in national if ch.isdigit()),
        nsn,
        f"+{code} (0){nsn}",
        f"+{code} 0{nsn}",
        national.replace(" ", "."),
        f"({nsn[:3]}) {nsn[3:6]}-{nsn[6:]}",
        "".join(rng.choice("0123456789") for _ in range(rng.randrange(3, 16))),
        *(
            phonenumbers.format_out_of_country_calling_number(number, calling_from)
            for calling_from in ("US", "DE", "AU", "JP", "RU")
        ),  # international call prefixes: 011, 00, 0011, 010, 8~10
        f"{code}{nsn}",
        f"{code}0{nsn}",
    ]


def numbers(seed: int = 7):
    """Every region's example numbers, and copies with changed, added or removed digits."""
    rng = random.Random(seed)
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in TYPES:
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            yield example, rng
            nsn = phonenumbers.national_significant_number(example)
            for _ in range(2):
                k = rng.randrange(1, min(4, len(nsn)) + 1)
                changed = nsn[:-k] + "".join(rng.choice("0123456789") for _ in range(k))
                if rng.random() < 0.2:
                    changed = changed[:-1] if rng.random() < 0.5 else changed + "5"
                try:
                    yield phonenumbers.parse(f"+{example.country_code}{changed}", None), rng
                except phonenumbers.NumberParseException:
                    continue


def test_fast_path_is_available():
    assert phone_fast.AVAILABLE


@pytest.mark.slow
def test_equivalent_to_phonenumbers_on_every_region():
    compared = valid = 0
    mismatches = []
    for number, rng in numbers():
        for text in texts_for(number, rng):
            own = phonenumbers.region_code_for_number(number)
            for region in {None, own, *rng.sample(READ_IN, 3)}:
                if region == "001":
                    continue
                fast = phone_fast.read(text, region)
                if fast is None:
                    continue  # not clean: phonenumbers itself is used
                expected = slow(text, region)
                compared += 1
                valid += expected != phone_fast.INVALID
                if fast != expected:
                    mismatches.append((text, region, fast, expected))
    assert mismatches == [], mismatches[:10]
    assert compared > 10000 and valid > 3000, (compared, valid)


@pytest.mark.parametrize(
    ("text", "region", "expected"),
    [
        ("+16505551212", None, (1, "6505551212")),
        ("(650) 555-1212", "US", (1, "6505551212")),
        ("1 650 555 1212", "US", (1, "6505551212")),
        ("+44 (0)20 7946 0958", None, (44, "2079460958")),
        ("020 7946 0958", "GB", (44, "2079460958")),
        ("+39 06 1234 5678", None, (39, "0612345678")),
        ("011 44 20 7946 0958", "US", (44, "2079460958")),
        ("5551212", "US", phone_fast.INVALID),
        ("6505551212", None, phone_fast.INVALID),
        ("650 555 1212 ext 5", "US", None),  # not clean: left to phonenumbers
        ("tel:+16505551212", None, None),
        ("+800 1234 5678", None, None),  # non-geographic: left to phonenumbers
    ],
)
def test_examples(text, region, expected):
    assert phone_fast.read(text, region) == expected
    if expected is not None:
        assert slow(text, region) == expected


@settings(max_examples=1500, deadline=None)
@given(
    st.text(alphabet="0123456789 ().-", min_size=3, max_size=20).map(
        lambda s: s if s[:1] != " " else s.strip() or "123"
    ),
    st.booleans(),
    st.sampled_from(READ_IN),
)
def test_equivalent_on_random_clean_strings(body, plus, region):
    text = ("+" + body) if plus else body
    fast = phone_fast.read(text, region)
    if fast is not None:
        assert fast == slow(text, region)


@pytest.mark.parametrize(
    ("text", "region"),
    [
        ("(312) 933-3001 #4", "US"),
        ("03-1234-4042 x301", "JP"),
        ("0121 234 4423 ext. 12", "GB"),
        ("(506) 234-7680 x301", "CA"),
        ("0412 346 191 #4", "AU"),
        ("+1 650 555 1212 x12", None),
        ("(555) 123-4567 x1", "US"),  # invalid either way
    ],
)
def test_an_extension_is_read_as_phonenumbers_reads_it(text, region):
    """capi.meta.normalize._read strips `x301`, `#4`, `ext. 12` and takes the fast path: the same
    (country code, national number) or refusal as phonenumbers on the whole text."""
    from capi.meta import normalize as n

    assert n._read(text, region) == n._try_parse(text, region)
