"""prepare_user_data: hashing, lists, pass-through, never-hashed fields, warnings, never raising."""

from __future__ import annotations

import hashlib

import pytest

from capi.meta.user_data import is_sha256, prepare_user_data

EMAIL_HASH = "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"
PHONE_HASH = "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"
MARY_HASH = "6915771be1c5aa0c886870b6951b03d7eafc121fea0e80a5ea83beb7c449f4ec"
US_HASH = "79adb2a2fce5c6ba215fe5f27f532d4e7edbac4b6a5e09e1ef3a08084a904621"
EMPTY_HASH = hashlib.sha256(b"").hexdigest()


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def prepared(user_data, **kwargs):
    result, problems = prepare_user_data(user_data, **kwargs)
    return result, {p.path: p for p in problems}


def test_known_hashes_of_meta_capi_md():
    result, problems = prepared(
        {"em": "John_Smith@gmail.com", "ph": "(650)555-1212", "fn": "Mary", "country": "US"}
    )
    assert result == {
        "em": [EMAIL_HASH],
        "ph": [PHONE_HASH],
        "fn": [MARY_HASH],
        "country": [US_HASH],
    }
    assert problems == {}


def test_hashed_fields_are_always_lists_deduplicated_in_order():
    result, _ = prepared(
        {"em": ["b@example.com", " B@example.com ", "a@example.com", "b@example.com"]}
    )
    assert result["em"] == [sha("b@example.com"), sha("a@example.com")]


def test_prehashed_values_pass_through_lowercased_and_dedupe_with_raw_ones():
    result, problems = prepared({"em": [EMAIL_HASH.upper(), "John_Smith@gmail.com"]})
    assert result == {"em": [EMAIL_HASH]} and problems == {}
    result, _ = prepared({"ph": f"  {PHONE_HASH.upper()}  ", "fn": MARY_HASH})
    assert result == {"ph": [PHONE_HASH], "fn": [MARY_HASH]}


def test_empty_values_are_omitted_silently_and_never_hashed():
    result, problems = prepared({"em": "", "ph": "   ", "fn": [None, "", " "], "ln": None})
    assert result == {} and problems == {}
    assert EMPTY_HASH not in str(result)


def test_country_of_the_event_completes_phone_state_and_zip():
    result, problems = prepared(
        {"ph": "020 7946 0958", "country": "United Kingdom", "zp": "M1 1AE"}, default_country="US"
    )
    assert result["ph"] == [sha("442079460958")]
    assert result["zp"] == [sha("m11ae")]
    assert result["country"] == [sha("gb")]
    assert problems == {}


def test_default_country_when_the_event_has_none_or_a_hashed_one():
    for country in (None, US_HASH, "Narnia"):
        user = {"ph": "(650) 555-1212", "st": "California", "zp": "94025-1234"}
        if country is not None:
            user["country"] = country
        result, _ = prepared(user, default_country="US")
        assert result["ph"] == [PHONE_HASH]
        assert result["st"] == [sha("ca")]
        assert result["zp"] == [sha("94025")]


def test_phone_without_any_country_is_hashed_as_given_with_a_warning():
    # issue 14: Meta's libraries hash the digits as given; before, the relay dropped them
    result, problems = prepared({"ph": "(650) 555-1212", "em": "a@example.com"})
    assert result["ph"] == [sha("6505551212")]
    assert problems["user_data.ph"].code == "no_country"
    assert "CAPI_DEFAULT_COUNTRY" in problems["user_data.ph"].message
    assert "555-1212" not in problems["user_data.ph"].message
    with_country, none = prepared({"ph": "(650) 555-1212", "country": "US"})
    assert with_country["ph"] == [PHONE_HASH] and "user_data.ph" not in none


def test_one_bad_value_costs_that_value_only():
    result, problems = prepared(
        {"em": ["n/a", "mary@example.com"], "ph": ["12", "+1 650 555 1212"], "ge": "x"}
    )
    assert result == {"em": [sha("mary@example.com")], "ph": [PHONE_HASH]}
    assert set(problems) == {"user_data.em[0]", "user_data.ph[0]", "user_data.ge"}
    for problem in problems.values():
        assert "n/a" not in problem.message and problem.message.startswith("dropped")


def test_numbers_accepted_where_people_send_numbers():
    result, problems = prepared(
        {"ph": 16505551212, "zp": 2134, "db": 19970216, "external_id": 12345, "country": "US"}
    )
    assert result["ph"] == [PHONE_HASH]
    assert result["zp"] == [sha("02134")]
    assert result["db"] == [sha("19970216")]
    assert result["external_id"] == [sha("12345")]
    assert problems == {}
    result, _ = prepared({"zp": 94025.0, "country": "us"})
    assert result["zp"] == [sha("94025")]


def test_wrong_types_are_warnings():
    result, problems = prepared(
        {"em": 42, "fn": {"a": 1}, "ln": [["x"]], "ph": True, "zp": 1.5, "ct": ["Paris", 7]}
    )
    assert result == {"ct": [sha("paris")]}
    assert set(problems) == {
        "user_data.em",
        "user_data.fn",
        "user_data.ln[0]",
        "user_data.ph",
        "user_data.zp",
        "user_data.ct[1]",
    }


def test_external_id_lowercased_as_metas_libraries_do():
    result, _ = prepared({"external_id": ["  User-1 ", "user-1"]})
    assert result["external_id"] == [sha("user-1")]


def test_never_hashed_fields_pass_through():
    user = {
        "client_ip_address": " 8.8.8.8 ",
        "client_user_agent": "Mozilla/5.0 (X11)",
        "fbc": "fb.1.1554763741205.AbCdEfGhIjKlMnOpQrStUvWxYz1234567890",
        "fbp": "fb.1.1596403881668.1116446470",
        "subscription_id": "sub-1",
        "fb_login_id": 1234567890,
        "lead_id": "525645896321548",
        "anon_id": "anon",
        "madid": "38400000-8cf0-11bd-b23e-10b96e40000d",
        "page_id": "123",
        "page_scoped_user_id": "456",
        "ctwa_clid": "ARAkLkA8rmlFeiCktEJQ",
        "ig_account_id": "789",
        "ig_sid": "abc",
    }
    result, problems = prepared(user)
    assert result == {**user, "client_ip_address": "8.8.8.8"}
    assert problems == {}


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        ("2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
        ("2a03:2880:f12f:83:face:b00c:0:25de", "2a03:2880:f12f:83:face:b00c:0:25de"),
        ("::ffff:8.8.4.4", "8.8.4.4"),
        ("[2a03:2880::1]", "2a03:2880::1"),
        ("151.101.1.69", "151.101.1.69"),
    ],
)
def test_ip_addresses_are_canonical(given, sent):
    result, _ = prepared({"client_ip_address": given})
    assert result["client_ip_address"] == sent


@pytest.mark.parametrize(
    "bad", ["999.1.1.1", "1.2.3.4:443", "1.2.3.4, 10.0.0.1", "unknown", "2001:db8::g"]
)
def test_invalid_ip_is_dropped_with_a_warning(bad):
    result, problems = prepared({"client_ip_address": bad, "em": "a@example.com"})
    assert "client_ip_address" not in result
    assert problems["user_data.client_ip_address"].code == "invalid"


def test_private_ip_is_kept_with_a_warning():
    result, problems = prepared({"client_ip_address": "10.0.0.7"})
    assert result["client_ip_address"] == "10.0.0.7"
    assert problems["user_data.client_ip_address"].code == "not_public"


@pytest.mark.parametrize(
    ("key", "bad"),
    [
        ("fbc", "IwAR2xYz"),
        ("fbc", "fb.1.IwAR2xYz"),
        ("fbc", "fb.1.1554763741205.Ab Cd"),
        ("fbc", "fb.1.1554763741205.a.b.c"),
        ("fbp", "fb.1.1596403881668"),
        ("fbp", "1116446470"),
        ("fbp", "fb..1596403881668.1116446470"),
    ],
)
def test_malformed_click_ids_are_dropped(key, bad):
    result, problems = prepared({key: bad, "em": "a@example.com"})
    assert key not in result
    assert problems[f"user_data.{key}"].code == "invalid"


def test_five_segment_fbp_and_fbc_are_accepted():
    user = {"fbp": "fb.1.1596403881668.1116446470.AQ", "fbc": "fb.1.1554763741205.IwAR.Bg"}
    result, problems = prepared(user)
    assert result == user and problems == {}


def test_unknown_keys_are_dropped_with_a_hint():
    result, problems = prepared({"email": "john@example.com", "whatever": 1, "em": "a@b.co"})
    assert set(result) == {"em"}
    assert problems["user_data.email"].code == "unknown_field"
    assert "em" in problems["user_data.email"].message
    assert "john@example.com" not in problems["user_data.email"].message
    assert problems["user_data.whatever"].code == "unknown_field"


def test_a_key_that_is_not_a_field_name_is_not_echoed():
    _, problems = prepared({"john.smith@example.com": "x"})
    assert "john" not in repr(problems)


def test_lone_surrogates_cost_the_value_not_the_event():
    user = {
        "em": "a\ud800@example.com",
        "external_id": ["x\udc00", "ok"],
        "client_user_agent": "Mozilla\ud800",
        "fn": "Mary",
    }
    result, problems = prepared(user)
    assert result == {"external_id": [sha("ok")], "fn": [MARY_HASH]}
    assert set(problems) == {
        "user_data.em",
        "user_data.external_id[0]",
        "user_data.client_user_agent",
    }


def test_non_object_user_data():
    for junk in ([], "a@b.co", 3, True):
        result, problems = prepare_user_data(junk)
        assert result == {} and [p.path for p in problems] == ["user_data"]
    assert prepare_user_data(None) == ({}, [])


def test_date_order_is_passed_on():
    result, problems = prepared({"db": "03/04/1990"})
    assert "db" not in result and "ambiguous" in problems["user_data.db"].message
    result, _ = prepared({"db": "03/04/1990"}, date_order="DMY")
    assert result["db"] == [sha("19900403")]


def test_idempotent_on_its_own_output():
    user = {
        "em": ["John_Smith@gmail.com", "x"],
        "ph": "+44 (0)20 7946 0958",
        "fn": "Valéry",
        "st": "California",
        "country": "United States",
        "client_ip_address": "::ffff:8.8.8.8",
        "fbp": "fb.1.1596403881668.1116446470",
        "external_id": 7,
    }
    once, _ = prepare_user_data(user, default_country="US")
    twice, problems = prepare_user_data(once, default_country="US")
    assert twice == once and problems == []


def test_input_is_not_mutated():
    user = {"em": ["A@B.co", "A@B.co"], "client_ip_address": "::ffff:8.8.8.8"}
    snapshot = repr(user)
    prepare_user_data(user)
    assert repr(user) == snapshot


def test_is_sha256():
    assert is_sha256(EMAIL_HASH) and is_sha256(EMAIL_HASH.upper())
    assert not is_sha256(EMAIL_HASH[:-1]) and not is_sha256(EMAIL_HASH + "0")
    assert not is_sha256("g" * 64) and not is_sha256(None)
