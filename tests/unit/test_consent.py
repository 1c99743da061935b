"""Consent signals (GA4 x-ga-gcs / x-ga-gcd, consent_state, explicit fields) and the policy."""

import json

import pytest

from capi.config import ConfigError, Settings
from capi.ingest.auth import ApiKeyAuth
from capi.ingest.handler import Ingest
from capi.meta.consent import ConsentPolicy, Signal, read_signal, strip_signals
from capi.queueing.memory import InMemoryPublisher
from capi.web import IncomingRequest
from tests.factories import lead, purchase, validate_event


@pytest.mark.parametrize(
    ("value", "ad_storage"),
    [
        ("G100", False),  # nothing granted
        ("G101", False),  # analytics only
        ("G110", True),  # ads only
        ("G111", True),  # both
        ("g110", True),
        ("G1--", None),
        ("G2", None),
        ("", None),
        (111, None),
    ],
)
def test_gcs_the_digit_after_g1_is_ad_storage(value, ad_storage):
    assert read_signal({"x-ga-gcs": value}).ad_storage is ad_storage


@pytest.mark.parametrize(
    ("value", "ad_storage"),
    [
        ("11p1p1p1p5", False),  # denied by default, no update
        ("13q3q3q2q5", False),  # denied, confirmed by the user
        ("13r3r3r2r5", True),  # denied by default, granted by the user
        ("13v3v3v2v5", True),
        ("13u3v3v2v5", False),  # granted by default, then denied
        ("13l3l3l2l1", None),  # not set
        ("1", None),
    ],
)
def test_gcd_ad_storage_letter(value, ad_storage):
    assert read_signal({"x-ga-gcd": value}).ad_storage is ad_storage


@pytest.mark.parametrize(
    ("holder", "expected"),
    [
        ({"consent": {"ad_storage": False}}, Signal(False, "consent.ad_storage")),
        ({"consent": {"ad_storage": "granted"}}, Signal(True, "consent.ad_storage")),
        ({"ad_storage": "denied"}, Signal(False, "ad_storage")),
        ({"consent_state": {"ad_storage": "denied"}}, Signal(False, "consent_state.ad_storage")),
        ({"consent_state": {"ad_storage": True}}, Signal(True, "consent_state.ad_storage")),
        # an explicit field wins over GA4's
        (
            {"consent": {"ad_storage": "granted"}, "x-ga-gcs": "G100"},
            Signal(True, "consent.ad_storage"),
        ),
        ({"x-ga-gcs": "G110", "x-ga-gcd": "11p1p1p1p5"}, Signal(True, "x-ga-gcs=G110")),
        ({"consent": {"ad_storage": "maybe"}}, Signal(None)),
        ({"consent": "denied"}, Signal(None)),
        ({}, Signal(None)),
    ],
)
def test_signal_precedence(holder, expected):
    assert read_signal(holder) == expected


def denied(**extra):
    event = purchase(event_id="c-1", **extra)
    event["x-ga-gcs"] = "G100"
    return event


def test_ignore_sends_everything_but_still_strips_the_signal_fields():
    decision = ConsentPolicy("ignore").decide(denied(consent_state={"ad_storage": "denied"}))
    assert not decision.dropped and not decision.ldu
    assert not set(decision.event) & {"x-ga-gcs", "consent_state", "consent", "ad_storage"}


def test_drop_reports_why():
    decision = ConsentPolicy("drop").decide(denied())
    assert decision.dropped == "consent denies ad_storage (x-ga-gcs=G100); CAPI_CONSENT_POLICY=drop"
    granted = ConsentPolicy("drop").decide({**purchase(), "x-ga-gcs": "G111"})
    unknown = ConsentPolicy("drop").decide(purchase())
    assert not granted.dropped and not unknown.dropped


def test_body_level_consent_applies_to_events_without_their_own():
    policy = ConsentPolicy("drop")
    body = {"consent": {"ad_storage": "denied"}}
    assert policy.decide(purchase(), body).dropped
    assert not policy.decide({**purchase(), "ad_storage": "granted"}, body).dropped


def test_ldu_geolocates_by_default_and_the_fields_validate():
    decision = ConsentPolicy("ldu").decide(denied())
    assert decision.ldu and not decision.dropped
    event = decision.event
    assert event["data_processing_options"] == ["LDU"]
    assert (event["data_processing_options_country"], event["data_processing_options_state"]) == (
        0,
        0,
    )
    errors, _ = validate_event(event)
    assert errors == []


@pytest.mark.parametrize(
    ("user_data", "default_country", "expected"),
    [
        ({"st": "California", "country": "United States"}, "", (1, 1000)),
        ({"st": "CA", "country": "us"}, "", (1, 1000)),
        ({"st": ["ca"]}, "US", (1, 1000)),
        ({"st": "CA"}, "", (0, 0)),  # no country: let Meta geolocate
        ({"st": "NY", "country": "US"}, "", (0, 0)),
        ({"st": "CA", "country": "CA"}, "", (0, 0)),  # CA as a country is Canada
        ({"st": "a" * 64, "country": "US"}, "", (0, 0)),  # hashed: unreadable
        ({"country": "US"}, "", (0, 0)),
    ],
)
def test_ldu_state_codes_when_configured(user_data, default_country, expected):
    policy = ConsentPolicy("ldu", frozenset({"CA"}), default_country)
    event = {**lead(), "user_data": {"em": "a@example.com", **user_data}, "ad_storage": False}
    result = policy.decide(event).event
    assert (
        result["data_processing_options_country"],
        result["data_processing_options_state"],
    ) == expected
    assert validate_event(result)[0] == []


def test_ldu_keeps_the_callers_own_processing_options():
    event = {**denied(), "data_processing_options": []}
    assert ConsentPolicy("ldu").decide(event).event["data_processing_options"] == []


def test_policy_settings():
    assert Settings.from_env({}).consent_policy == "ignore"
    s = Settings.from_env({"CAPI_CONSENT_POLICY": "LDU", "CAPI_LDU_STATES": "ca, "})
    assert (s.consent_policy, s.ldu_states) == ("ldu", ("CA",))
    with pytest.raises(ConfigError, match="CAPI_CONSENT_POLICY"):
        Settings.from_env({"CAPI_CONSENT_POLICY": "block"})
    with pytest.raises(ConfigError, match="CAPI_LDU_STATES"):
        Settings.from_env({"CAPI_LDU_STATES": "California"})
    with pytest.raises(ConfigError, match="no LDU state code for CO"):
        ConsentPolicy("ldu", frozenset({"CO"}))


def test_strip_signals_returns_the_same_object_when_there_is_nothing_to_strip():
    event = lead()
    assert strip_signals(event) is event


# -- through Ingest ----------------------------------------------------------------------------


def post(policy, body):
    publisher = InMemoryPublisher()
    ingest = Ingest(
        publisher=publisher, auth=ApiKeyAuth(lambda: ("k",)), pixel_id="1", consent=policy
    )
    request = IncomingRequest(
        "POST", "/events", {"X-API-Key": "k"}, json.dumps(body).encode(), "application/json"
    )
    return ingest.handle(request), publisher.messages


def test_dropped_events_are_reported_neither_error_nor_queued():
    reply, messages = post(ConsentPolicy("drop"), [denied(), lead(event_id="ok")])
    assert reply.status == 202
    assert (reply.body["accepted"], reply.body["rejected"], reply.body["dropped"]) == (1, 0, 1)
    first = reply.body["results"][0]
    assert first["status"] == "dropped" and "ad_storage" in first["reason"]
    assert first["event_id"] == "c-1" and first["errors"] == []
    assert [m.attributes["event_id"] for m in messages] == ["ok"]


def test_all_dropped_is_still_a_202_with_nothing_published():
    reply, messages = post(
        ConsentPolicy("drop"), {"data": [lead()], "consent": {"ad_storage": "denied"}}
    )
    assert reply.status == 202 and reply.body["dropped"] == 1 and messages == []


def test_an_invalid_denied_event_is_rejected_not_dropped():
    bad = denied()
    del bad["event_name"]
    reply, _ = post(ConsentPolicy("drop"), [bad])
    assert reply.status == 400 and reply.body["results"][0]["status"] == "rejected"


def test_ldu_events_are_queued_with_the_ldu_fields_and_without_the_signals():
    reply, messages = post(ConsentPolicy("ldu"), [denied()])
    assert reply.status == 202
    queued = json.loads(messages[0].data)
    assert queued["data_processing_options"] == ["LDU"]
    assert "x-ga-gcs" not in queued
