"""Properties (hypothesis): normalization never raises on any JSON value, is idempotent, and never
emits the hash of an empty string."""

from __future__ import annotations

import hashlib
import os
import string

import phonenumbers
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capi.meta import normalize as n
from capi.meta.prepare import prepare_event
from capi.meta.rules import HASHED_FIELDS, NEVER_HASHED_FIELDS
from capi.meta.user_data import prepare_user_data
from tests.corpus import NOW, make_corpus
from tests.factories import validate_event

pytestmark = pytest.mark.slow  # make test-fast leaves these generated runs out

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
# CAPI_HYPOTHESIS_EXAMPLES=5000 for a longer hunt
SETTINGS = settings(
    max_examples=int(os.environ.get("CAPI_HYPOTHESIS_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(
        alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=()),
        max_size=30,
    )
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
# Text that looks like the real thing often enough to reach deep into each normalizer.
phoneish = st.text(alphabet="0123456789+()-. x#extEXT", max_size=24)
dateish = st.text(alphabet="0123456789/-. :TZfebFEBmarchMayJuneth,", max_size=24)
emailish = st.text(alphabet=string.ascii_letters + "@._-+ ", max_size=24)
# any code point, lone surrogates included (json.loads accepts "\ud800")
anytext = st.text(
    alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=()),
    max_size=30,
)
field_values = (
    json_values
    | phoneish
    | dateish
    | emailish
    | st.lists(phoneish | emailish | dateish | anytext, max_size=4)
)
countries = st.sampled_from(["", "US", "us", "GB", "DE", "IT", "United States", "FR", "BR", "zz"])
orders = st.sampled_from(["", "MDY", "DMY", "YMD", "junk"])
user_data_dicts = st.dictionaries(
    st.sampled_from([*HASHED_FIELDS, *NEVER_HASHED_FIELDS, "email", "x"]),
    field_values,
    max_size=8,
)


def _all_strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _all_strings(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _all_strings(item)


@SETTINGS
@given(json_values, countries, orders)
def test_prepare_user_data_never_raises_on_any_json_value(value, country, order):
    result, problems = prepare_user_data(value, default_country=country, date_order=order)
    assert isinstance(result, dict) and isinstance(problems, list)


@SETTINGS
@given(user_data_dicts, countries, orders)
def test_prepare_user_data_is_idempotent_and_never_sends_the_empty_hash(user, country, order):
    once, _ = prepare_user_data(user, default_country=country, date_order=order)
    twice, problems = prepare_user_data(once, default_country=country, date_order=order)
    assert twice == once
    assert all(p.code == "not_public" for p in problems)
    assert EMPTY_SHA256 not in set(_all_strings(once))
    for key in HASHED_FIELDS:
        if key in once:
            assert isinstance(once[key], list) and once[key]
            assert all(len(h) == 64 and h == h.lower() for h in once[key])
            assert len(set(once[key])) == len(once[key])


@SETTINGS
@given(st.dictionaries(st.text(max_size=12), json_values, max_size=8), countries, orders)
def test_validate_and_prepare_never_raise_on_event_shaped_junk(event, country, order):
    errors, warnings = validate_event(event, now=NOW, default_country=country, date_order=order)
    assert all(p.path is not None for p in errors + warnings)
    prepared, _ = prepare_event(event, default_country=country, date_order=order)
    assert isinstance(prepared, dict)


@SETTINGS
@given(json_values)
def test_validate_never_raises_on_any_json_value(value):
    errors, _ = validate_event(value, now=NOW)
    if not isinstance(value, dict):
        assert [p.path for p in errors] == [""]


def _idempotent(function, value, **context):
    try:
        first = function(value, **context)
    except n.NormalizationError:
        return
    if first is None:
        return
    assert first != ""
    assert function(first, **context) == first


@SETTINGS
@given(anytext | emailish)
def test_email_idempotent(value):
    _idempotent(n.normalize_email, value)


@SETTINGS
@given(phoneish | anytext, countries, countries)
def test_phone_idempotent(value, country, default):
    """Digits without '+' are ambiguous across countries (``6465551234`` is a New York number in
    the US and ``+64 6 555 1234`` in New Zealand), so the output is a fixed point when read as
    E.164 and when read in its own country's context (docs/NORMALIZATION.md)."""
    try:
        first = n.normalize_phone(value, country=country, default_country=default)
    except n.NormalizationError:
        return
    if first is None:
        return
    assert first.isdigit() and not first.startswith("0")
    try:
        international = n.normalize_phone("+" + first)
    except n.NormalizationError:
        # No country was known: the digits were kept as given (Meta's libraries do the same,
        # and the relay warns). Read again without a country, they stay the same.
        assert not n.region_code(country) and not n.region_code(default)
        assert n.normalize_phone(first) == first
        return
    assert international == first
    region = phonenumbers.region_code_for_number(phonenumbers.parse("+" + first))
    assert n.normalize_phone(first, country=region) == first
    assert n.normalize_phone(first, default_country=region) == first
    if country in ("", region) and default in ("", region):
        assert n.normalize_phone(first, country=country, default_country=default) == first


@SETTINGS
@given(anytext)
def test_name_and_city_idempotent(value):
    _idempotent(n.normalize_name, value)
    _idempotent(n.normalize_city, value)


@SETTINGS
@given(anytext, countries)
def test_state_and_zip_idempotent(value, country):
    _idempotent(n.normalize_state, value, country=country)
    _idempotent(n.normalize_zip, value, country=country)


@SETTINGS
@given(anytext | st.sampled_from(["USA", "United Kingdom", "deu", "Côte d'Ivoire"]))
def test_country_gender_external_id_idempotent(value):
    _idempotent(n.normalize_country, value)
    _idempotent(n.normalize_gender, value)
    _idempotent(n.normalize_external_id, value)


@SETTINGS
@given(dateish | anytext, orders)
def test_date_idempotent(value, order):
    _idempotent(n.normalize_date_of_birth, value, date_order=order)


def test_corpus_prepared_twice_is_unchanged():
    for event in make_corpus():
        once, _ = prepare_event(event)
        assert prepare_event(once)[0] == once
        assert EMPTY_SHA256 not in set(_all_strings(once.get("user_data", {})))
