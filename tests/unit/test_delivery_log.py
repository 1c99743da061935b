"""Lean delivery logs (issue 25): one `events delivered` line per Graph request with counts and
ids, per-event lines only for dead letters, transient failures and a sample; `capi audit` and
`capi serve`'s page read the per-request lines."""

from __future__ import annotations

import json
import logging
import time

from capi.config import ConfigError, Settings
from capi.forward.delivery_log import IDS_BYTES_PER_LINE, Delivered, log_delivered
from capi.forward.forwarder import Decision, Delivery
from capi.queueing.messages import event_message
from capi.tools.audit import audit_values
from capi.tools.status import LiveStatus
from tests.factories import purchase
from tests.unit.test_drainer import BAD, Graph, deliveries, forwarder, sha


def _lines(captured, message):
    return [line for line in captured if line["message"] == message]


def test_a_drained_batch_writes_one_line_per_graph_request_not_one_per_event(capture_logs):
    graph = Graph()
    batch = deliveries([purchase(event_id=f"a-{i}") for i in range(2300)], pixel="111")
    assert forwarder(graph).process_many(batch) == [Decision.ACK] * 2300
    lines = _lines(capture_logs(), "events delivered")
    assert len(lines) == len(graph.requests) == 3
    assert sorted(line["events"] for line in lines) == [300, 1000, 1000]
    ids = [i for line in lines for i in line["event_ids"]["Purchase"]]
    assert sorted(ids) == sorted(f"a-{i}" for i in range(2300))
    assert {line["pixel_id"] for line in lines} == {"111"}
    assert not _lines(capture_logs(), "event delivered")  # no sample by default


def test_a_split_batch_logs_each_delivered_request_and_each_dead_letter(capture_logs):
    graph = Graph({sha(BAD)})
    events = [purchase(event_id=f"e-{i}") for i in range(16)]
    events[3]["user_data"]["em"] = BAD
    forwarder(graph).process_many(deliveries(events))
    captured = capture_logs()
    delivered = _lines(captured, "events delivered")
    assert sum(line["events"] for line in delivered) == 15
    accepted_requests = [r for r in graph.requests if sha(BAD) not in json.dumps(r["events"])]
    assert len(delivered) == len(accepted_requests)  # one line per request Meta took
    (dead,) = _lines(captured, "event dead-lettered")
    assert dead["event_id"] == "e-3"


def test_the_sample_writes_a_per_event_line_for_the_drawn_share(capture_logs):
    draws = iter([0.5, 0.001, 0.9, 0.002])
    graph = Graph()
    batch = deliveries([purchase(event_id=f"s-{i}") for i in range(4)])
    forwarder(graph, delivered_log_sample=0.01, draw=lambda: next(draws)).process_many(batch)
    sampled = _lines(capture_logs(), "event delivered")
    assert [line["event_id"] for line in sampled] == ["s-1", "s-3"]
    assert all(line["grade"] and line["match_keys"] for line in sampled)


def test_a_push_writes_its_own_line_with_its_latency(capture_logs):
    graph = Graph()
    delivery = Delivery(event_message(purchase(event_id="p-1"), pixel_id="9"), message_id="m")
    delivery.published_at = time.time() - 3
    assert forwarder(graph).process(delivery) is Decision.ACK
    (line,) = _lines(capture_logs(), "events delivered")
    assert line["events"] == 1 and line["event_ids"] == {"Purchase": ["p-1"]}
    assert 2500 <= line["latency_ms"] <= 60_000


def test_ids_beyond_a_line_s_budget_go_to_further_lines_each_with_its_count(capture_logs):
    long_id = "x" * 150
    events = [Delivered(f"{long_id}{i:04d}", "Lead", "api", None, 1) for i in range(1000)]
    assert log_delivered("1", events, now=0.0) >= 2
    lines = _lines(capture_logs(), "events delivered")
    assert sum(line["events"] for line in lines) == 1000
    for line in lines:
        assert len(line["event_ids"]["Lead"]) == line["events"]
        assert len(json.dumps(line["event_ids"])) <= IDS_BYTES_PER_LINE + 10 * line["events"]


def test_the_audit_counts_each_event_of_a_per_request_line_once():
    lines = [
        {
            "message": "ingest event",
            "event_id": "a",
            "event_name": "Purchase",
            "status": "accepted",
        },
        {
            "message": "ingest event",
            "event_id": "b",
            "event_name": "Purchase",
            "status": "accepted",
        },
        {"message": "events delivered", "events": 2, "event_ids": {"Purchase": ["a", "b"]}},
        # a sampled per-event line of an event the request line settles: still one event
        {"message": "event delivered", "event_id": "a", "event_name": "Purchase"},
        # a hostile line: counts as nothing it does not say
        {"message": "events delivered", "events": "many", "event_ids": ["not", "a", "map"]},
    ]
    summary = audit_values([{"jsonPayload": line} for line in lines]).summary()
    assert summary["events"] == 2
    assert summary["by_status"] == {"delivered": 2}


def test_the_live_page_counts_the_events_of_a_request_line_and_not_the_sample():
    status = LiveStatus()
    logger = logging.getLogger("capi.test_delivery_log")
    logger.addHandler(status)
    logger.setLevel(logging.INFO)
    try:
        fields = {"events": 3, "event_ids": {"Lead": ["1", "2", "3"]}}
        logger.info("events delivered", extra={"capi_fields": fields})
        logger.info("event delivered", extra={"capi_fields": {"event_id": "1"}})
    finally:
        logger.removeHandler(status)
    assert status.snapshot()["delivered"] == 3


def test_the_sample_setting_is_a_fraction():
    assert Settings.from_env({}).delivered_log_sample == 0.01
    assert Settings.from_env({"CAPI_DELIVERED_LOG_SAMPLE": "0"}).delivered_log_sample == 0.0
    for bad in ("2", "-0.1", "often"):
        try:
            Settings.from_env({"CAPI_DELIVERED_LOG_SAMPLE": bad})
        except ConfigError as exc:
            assert "CAPI_DELIVERED_LOG_SAMPLE" in str(exc)
        else:
            raise AssertionError(bad)
