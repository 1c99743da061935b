"""Match keys and the relay's grade (issue 12): in every ingest answer, for each case."""

from __future__ import annotations

import hashlib
import json

import pytest

from capi.ingest.auth import ApiKeyAuth
from capi.ingest.handler import Ingest
from capi.meta.contract import check_event
from capi.meta.match import assess
from capi.queueing.memory import InMemoryPublisher
from capi.web import IncomingRequest
from tests.factories import purchase

NOW = 1_800_000_000
UA = "Mozilla/5.0 (X11; Linux x86_64)"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def web_event(**user_data):
    return {
        "event_name": "Lead",
        "event_time": NOW - 60,
        "event_id": "lead-1",
        "action_source": "website",
        "event_source_url": "https://example.com/form",
        "user_data": {"client_user_agent": UA, **user_data},
    }


def system_event(**user_data):
    return {
        "event_name": "Lead",
        "event_time": NOW - 60,
        "event_id": "lead-2",
        "action_source": "system_generated",
        "user_data": user_data,
    }


@pytest.mark.parametrize(
    ("event", "grade", "words"),
    [
        (web_event(em="a@b.co", fbp="fb.1.1700000000000.123"), "strong", "em, fbp"),
        (web_event(ph="+14155552671", client_ip_address="93.184.216.34"), "strong", "ph"),
        (system_event(em="a@b.co", ph="+14155552671"), "strong", "em, ph"),
        (system_event(em="a@b.co", external_id="u-1"), "strong", "external_id"),
        (system_event(em="a@b.co", fn="Ann", ln="Lee", zp="94080"), "good", "without browser"),
        (web_event(external_id="u-1", fbp="fb.1.1700000000000.123"), "good", "external_id"),
        (web_event(fbc="fb.1.1700000000000.IwAR1"), "weak", "only a click id"),
        (
            web_event(fbp="fb.1.1700000000000.1", client_ip_address="93.184.216.34"),
            "weak",
            "browser",
        ),
        (system_event(fn="Ann", ln="Lee"), "weak", "name and address"),
        (system_event(external_id="u-1"), "weak", "only external_id"),
    ],
)
def test_the_grade_of_each_case(event, grade, words):
    result = check_event(event, 0, now=NOW)
    assert result.match is not None
    assert result.match.grade == grade, result.match
    assert words in result.match.reason
    answer = result.as_dict()
    assert answer["match"]["grade"] == grade
    assert set(answer["match_keys"]) <= set(event["user_data"])  # names only, never values
    assert not any(str(v) in json.dumps(answer["match_keys"]) for v in ("a@b.co", "Ann", "u-1"))


def test_keys_are_those_left_after_normalization():
    result = check_event(system_event(em="not an email", ph="+14155552671"), 0, now=NOW)
    assert result.match.keys == ("ph",)  # the bad email was dropped, with its own warning
    assert result.match.grade == "good"


def test_nothing_to_match_on_is_none_and_refused():
    result = check_event(system_event(em="not an email"), 0, now=NOW)
    assert result.errors and result.match.grade == "none"


def test_weak_events_are_accepted_with_a_warning_a_click_id_alone_with_its_own():
    names = check_event(system_event(fn="Ann", ln="Lee"), 0, now=NOW)
    assert names.accepted
    assert [w.code for w in names.warnings] == ["weak_match"]
    click = check_event(web_event(fbc="fb.1.1700000000000.IwAR1"), 0, now=NOW)
    assert click.accepted and [w.code for w in click.warnings] == ["low_match"]


@pytest.mark.parametrize("placeholder", ["", "null", "undefined", "UNDEFINED", "[object Object]"])
def test_hashes_of_placeholders_are_dropped_with_a_warning(placeholder):
    event = system_event(em=sha(placeholder), ph="+14155552671")
    result = check_event(event, 0, now=NOW)
    assert result.match.keys == ("ph",)
    (warning,) = [w for w in result.warnings if w.path.startswith("user_data.em")]
    assert "SHA-256" in warning.message
    assert "em" not in result.prepared["user_data"]


def test_a_real_hash_passes_and_the_same_raw_value_hashes_identically():
    hashed = check_event(system_event(em=sha("ann@example.com")), 0, now=NOW)
    raw = check_event(system_event(em="Ann@Example.com"), 0, now=NOW)
    assert hashed.prepared["user_data"]["em"] == raw.prepared["user_data"]["em"]


def test_a_raw_placeholder_is_dropped_too_so_prepare_stays_idempotent():
    result = check_event(system_event(fn="undefined", em="a@b.co"), 0, now=NOW)
    assert "fn" not in result.prepared["user_data"]
    assert any(w.path.startswith("user_data.fn") for w in result.warnings)


def test_assess_reads_a_prepared_event_only():
    assert assess({"user_data": {"em": [sha("a@b.co")], "fbp": "fb.1.1.1"}}).grade == "strong"
    assert assess({}).grade == "none" and assess(None).grade == "none"


def test_every_route_answers_with_the_match_of_each_event():
    ingest = Ingest(publisher=InMemoryPublisher(), auth=ApiKeyAuth(lambda: ("k",)), pixel_id="1")
    body = json.dumps({"data": [purchase(), system_event(fn="Ann", ln="Lee")]}).encode()
    reply = ingest.handle(
        IncomingRequest("POST", "/events", {"X-API-Key": "k"}, body, "application/json")
    )
    assert reply.status == 202, reply.body
    first, second = reply.body["results"]
    assert first["match"]["grade"] == "strong" and "em" in first["match_keys"]
    assert second["match"]["grade"] == "weak" and second["match_keys"] == ["fn", "ln"]


def test_the_fixtures_of_every_source_get_a_grade():
    import time

    from capi.sources import SourceContext, generic, sgtm, shopify, stripe
    from tests.fixtures import load, path, shopify_order, stripe_event, typeform

    now = time.time()
    events = {
        "sgtm": sgtm.adapt(
            {"event_data": load("sgtm/purchase_event_data.json"), "event_time": int(now) - 60}
        ).events[0],
        "shopify": shopify.adapt(shopify_order(), SourceContext(topic="orders/paid")).events[0],
        "stripe": stripe.adapt(stripe_event("checkout_session_completed"), SourceContext()).events[
            0
        ],
        "typeform": generic.apply(
            generic.load_mappings(str(path("generic/mappings.yaml")))["typeform-leads"],
            typeform(),
        )[0][0],
    }
    grades = {}
    for name, event in events.items():
        event = {k: v for k, v in event.items() if not k.startswith("x-ga")}
        result = check_event(event, 0, now=now)
        assert result.match is not None, name
        grades[name] = result.match.grade
    # the shops' fixtures carry an email or phone plus ids tying them to the buyer; the form's
    # phone (+1 555 555 0100, a fictional number) is dropped, leaving the email alone
    assert grades == {
        "sgtm": "strong",
        "shopify": "strong",
        "stripe": "strong",
        "typeform": "good",
    }
