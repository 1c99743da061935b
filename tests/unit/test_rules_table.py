"""The rule book is the one place each rule is stated (issue 24): every hashed field of
capi.meta.rules.HASHED has a normalizer, a log redaction rule and a place among the match keys;
the code reads the table rather than a list of its own."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from capi import logs
from capi.meta import match, normalize, rules
from capi.meta.user_data import prepare_user_data
from capi.meta.validate import check_and_prepare
from tests.factories import purchase

PACKAGE = Path(__file__).resolve().parents[2] / "capi"


@pytest.mark.parametrize("field", rules.HASHED_FIELDS)
def test_every_hashed_field_has_a_normalizer_a_redaction_and_a_match_place(field):
    rule = rules.HASHED[field]
    assert rule.normalizer in normalize.NORMALIZERS, f"{field}: no normalizer {rule.normalizer}"
    assert rule.context in ("", "phone", "country", "date_order", "field")
    assert field in logs._SENSITIVE_KEYS, f"{field} would not be redacted in a log line"
    assert field in match.KEY_ORDER, f"{field} has no place among the match keys"


def test_a_field_added_to_the_table_without_a_normalizer_is_caught(monkeypatch):
    monkeypatch.setitem(rules.HASHED, "zz", rules.HashedField("nowhere", "anything"))
    assert rules.HASHED["zz"].normalizer not in normalize.NORMALIZERS


def test_the_table_drives_normalization_hashing_and_the_messages():
    prepared, problems = prepare_user_data({"ph": "not a phone", "zp": 94025, "ge": "Female"})
    assert "ph" not in prepared and "zp" in prepared and "ge" in prepared
    (problem,) = [p for p in problems if p.path == "user_data.ph"]
    assert rules.HASHED["ph"].shape in problem.message  # the words come from the table


def test_required_custom_data_comes_from_the_table(monkeypatch):
    event = purchase(event_id="x")
    del event["custom_data"]["currency"]
    _, errors, _ = check_and_prepare(event, now=event["event_time"] + 5)
    (error,) = [e for e in errors if e.path == "custom_data.currency"]
    assert "2804010" in error.message and error.code == "missing"
    lead = {**purchase(event_id="y"), "event_name": "Lead", "custom_data": {}}
    monkeypatch.setitem(
        rules.REQUIRED_CUSTOM_DATA, "Lead", {"value": rules.RequiredField("a lead's value", 1)}
    )
    _, errors, _ = check_and_prepare(lead, now=lead["event_time"] + 5)
    assert [e.path for e in errors] == ["custom_data.value"]


def test_no_module_restates_the_hashed_field_list():
    """The list of hashed fields is written once: in capi/meta/rules.py."""
    stated = re.compile(r'"em",\s*"ph",\s*"fn"')
    holders = [
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        if stated.search(path.read_text())
    ]
    assert holders == [], holders
