"""Click ids (META-RULES §5): fbc/fbp validation and fbc built from fbclid."""

from __future__ import annotations

import pytest

from capi.meta.click_ids import add_fbc, fbc_from_url, fbclid_of, is_valid_fbc, is_valid_fbp

NOW_MS = 1_732_612_345_000


@pytest.mark.parametrize(
    "value",
    [
        "fb.1.1554763741205.AbCdEfGhIjKlMnOpQrStUvWxYz1234567890",  # Meta's documented example
        "fb.0.1554763741205.IwAR2F4-dbP0l7Mn1IawQQGCINEz7PYXQvwjNwB_qa2ofrHyiLjcbCRxTDMgk",
        "fb.2.1554763741205.IwAR_x.Bg",  # parameter builder's fifth segment
    ],
)
def test_valid_fbc(value):
    assert is_valid_fbc(value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "IwAR2F4",
        "fb.1.IwAR2F4",
        "fb.1.1554763741205",
        "fb.1.1554763741205.",
        "fb.x.1554763741205.IwAR",
        "fb.1.155476374120x.IwAR",
        "fb.1.1554763741205.Iw AR",
        "fb.1.1554763741205.a.b.c",
        "FB.1.1554763741205.IwAR",
        " fb.1.1554763741205.IwAR",
        None,
        123,
        ["fb.1.1554763741205.IwAR"],
    ],
)
def test_invalid_fbc(value):
    assert not is_valid_fbc(value)


def test_fbp_four_or_five_segments():
    assert is_valid_fbp("fb.1.1596403881668.1116446470")
    assert is_valid_fbp("fb.1.1596403881668.1116446470.AQ")
    assert not is_valid_fbp("fb.1.1596403881668")
    assert not is_valid_fbp("fb.1.1596403881668.1.2.3")
    assert not is_valid_fbp("_fbp=fb.1.1596403881668.1116446470")


def test_fbc_from_url_keeps_the_fbclid_exactly():
    url = "https://shop.example.com/p?utm_source=fb&fbclid=IwAR2xYz_-AbC&x=1#top"
    assert fbc_from_url(url, NOW_MS) == f"fb.1.{NOW_MS}.IwAR2xYz_-AbC"


@pytest.mark.parametrize(
    "url",
    [
        "https://shop.example.com/p",
        "https://shop.example.com/p?fbclid=",
        "https://shop.example.com/p#fbclid=IwAR",  # a fragment is not the query
        "https://shop.example.com/p?xfbclid=IwAR",
        "https://shop.example.com/p?fbclid=a.b",  # would not fit in an fbc
        "https://shop.example.com/p?fbclid=a%20b",
        "not a url",
        "http://[::1",  # urlsplit raises on this
    ],
)
def test_no_fbc_without_a_usable_fbclid(url):
    assert fbc_from_url(url, NOW_MS) is None


def test_fbc_from_url_rejects_bad_times_and_non_strings():
    url = "https://x.example/?fbclid=IwAR"
    assert fbc_from_url(url, 0) is None
    assert fbc_from_url(url, True) is None
    assert fbc_from_url(None, NOW_MS) is None  # type: ignore[arg-type]


def test_first_fbclid_wins():
    assert fbc_from_url("https://x.example/?fbclid=A&fbclid=B", 5) == "fb.1.5.A"


def test_add_fbc_when_absent():
    event = {"event_source_url": "https://x.example/?fbclid=IwAR1", "user_data": {"em": "x"}}
    result = add_fbc(event, NOW_MS)
    assert result["user_data"] == {"em": "x", "fbc": f"fb.1.{NOW_MS}.IwAR1"}
    assert "fbc" not in event["user_data"]  # input not mutated


def test_add_fbc_keeps_an_fbc_with_the_same_fbclid():
    given = "fb.1.1554763741205.IwAR1"
    event = {"event_source_url": "https://x.example/?fbclid=IwAR1", "user_data": {"fbc": given}}
    assert add_fbc(event, NOW_MS)["user_data"]["fbc"] == given


def test_add_fbc_replaces_an_fbc_with_another_fbclid_case_sensitive():
    given = "fb.1.1554763741205.iwar1"
    event = {"event_source_url": "https://x.example/?fbclid=IwAR1", "user_data": {"fbc": given}}
    assert add_fbc(event, NOW_MS)["user_data"]["fbc"] == f"fb.1.{NOW_MS}.IwAR1"


def test_add_fbc_replaces_a_malformed_fbc():
    event = {"event_source_url": "https://x.example/?fbclid=IwAR1", "user_data": {"fbc": "IwAR1"}}
    assert add_fbc(event, NOW_MS)["user_data"]["fbc"] == f"fb.1.{NOW_MS}.IwAR1"


def test_add_fbc_creates_user_data_but_leaves_junk_alone():
    event = {"event_source_url": "https://x.example/?fbclid=IwAR1"}
    assert add_fbc(event, NOW_MS)["user_data"] == {"fbc": f"fb.1.{NOW_MS}.IwAR1"}
    junk = {"event_source_url": "https://x.example/?fbclid=IwAR1", "user_data": "oops"}
    assert add_fbc(junk, NOW_MS) == junk


def test_add_fbc_without_fbclid_returns_the_event_itself():
    """Nothing to add: no copy (the event is shaped once per function)."""
    event = {"event_source_url": "https://x.example/", "user_data": {}}
    result = add_fbc(event, NOW_MS)
    assert result is event and event == {"event_source_url": "https://x.example/", "user_data": {}}


def test_fbclid_of():
    assert fbclid_of("fb.1.1554763741205.IwAR1") == "IwAR1"
    assert fbclid_of("fb.1.1554763741205.IwAR1.Bg") == "IwAR1"
    assert fbclid_of("IwAR1") is None
