"""The Graph client against the stand-in: outcomes, and whether a lost answer may hide a
delivery."""

from __future__ import annotations

import pytest

from capi.meta.answers import Outcome
from capi.meta.graph import GraphClient
from tests.conftest import free_port
from tests.factories import lead
from tests.standins.meta_graph import MetaGraphStandIn

TOKEN = "EAAgraph"


@pytest.fixture
def meta():
    with MetaGraphStandIn(tokens=[TOKEN], pixels=["1"]) as standin:
        yield standin


def prepared():
    from capi.meta.prepare import prepare_event

    return prepare_event(lead())[0]


def test_delivered_and_token_in_body_not_url(meta):
    result = GraphClient(meta.url, "v26.0", timeout_s=2).send("1", TOKEN, [prepared()])
    assert result.outcome is Outcome.DELIVERED and result.events_received == 1
    (request,) = meta.requests
    assert request.token_source == "body" and TOKEN not in request.path


def test_read_timeout_may_have_reached_meta(meta):
    meta.delay_next(1, seconds=1.5)
    result = GraphClient(meta.url, "v26.0", timeout_s=0.5).send("1", TOKEN, [prepared()])
    assert result.outcome is Outcome.TRANSIENT and result.maybe_sent
    assert meta.events  # Meta did get it: a retry will be a duplicate with the same event_id


def test_connection_lost_after_sending_may_have_reached_meta(meta):
    meta.drop_connection_next(1, after_processing=True)
    result = GraphClient(meta.url, "v26.0", timeout_s=2).send("1", TOKEN, [prepared()])
    assert result.outcome is Outcome.TRANSIENT and result.maybe_sent


def test_refused_connection_never_reached_meta():
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = GraphClient(url, "v26.0", timeout_s=2).send("1", TOKEN, [prepared()])
    assert result.outcome is Outcome.TRANSIENT and not result.maybe_sent


@pytest.mark.parametrize(
    "answer",
    [
        {"events_received": 0, "fbtrace_id": "t"},
        {"events_received": -1},
        {"events_received": 1},  # fewer than the 2 sent
        {"events_received": 3},  # more than sent: not Meta's count of this request
    ],
)
def test_a_2xx_that_does_not_count_every_event_is_not_a_delivery(meta, answer):
    meta.fail_next(1, status=200, body=answer)
    result = GraphClient(meta.url, "v26.0", timeout_s=2).send("1", TOKEN, [prepared(), prepared()])
    assert result.outcome is Outcome.TRANSIENT
    assert "of 2 events sent" in result.reason


@pytest.mark.parametrize(
    "body",
    [
        '{"error": {"code": 1e999, "error_subcode": -1e999, "message": "x"}}',
        '{"error": {"code": "abc", "error_subcode": [1], "fbtrace_id": {"a": 1}}}',
        '{"error": {"code": ' + "9" * 5000 + "}}",
        "[" * 100_000,
    ],
    ids=["overflowing-code", "wrong-types", "5000-digit-code", "too-deep"],
)
def test_any_error_body_from_meta_is_classified_without_raising(meta, body):
    meta.fail_next(1, status=400, body=body)
    result = GraphClient(meta.url, "v26.0", timeout_s=2).send("1", TOKEN, [prepared()])
    assert result.outcome is Outcome.REJECTED
    assert result.error is not None and result.error.code is None


def test_an_event_that_cannot_be_encoded_is_rejected_not_transient(meta):
    event = {**prepared(), "custom_data": {"value": float("inf")}}
    result = GraphClient(meta.url, "v26.0", timeout_s=2).send("1", TOKEN, [event])
    assert result.outcome is Outcome.REJECTED and "cannot be encoded" in result.reason
    assert meta.requests == []  # nothing was sent
