"""The log-based metrics and the dashboard read the fields the code writes (issue 12).

Every `google_logging_metric` in terraform/metrics.tf selects log lines by their `message` and reads
`jsonPayload.<field>`; this test produces those lines with the real ingest and forward handlers and
checks that each selected message exists and carries every field the metric reads, and that the
dashboard charts only metrics and labels the module defines.
"""

from __future__ import annotations

import base64
import json
import re
import time
from pathlib import Path

import hcl2
import pytest

from capi.forward.forwarder import Forwarder
from capi.forward.tokens import TokenSource
from capi.ingest.auth import ApiKeyAuth
from capi.ingest.handler import Ingest
from capi.meta.answers import MetaError, Outcome, classify
from capi.meta.graph import GraphResult
from capi.queueing.memory import InMemoryPublisher
from capi.queueing.messages import event_message
from capi.web import IncomingRequest
from tests.factories import purchase

ROOT = Path(__file__).resolve().parents[2]
METRICS_TF = ROOT / "terraform" / "metrics.tf"
FIELD = re.compile(r"jsonPayload\.([A-Za-z_]+)")


def _one(value):
    """python-hcl2 (some versions) wraps every attribute value in a one-item list."""
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def metrics() -> dict[str, dict]:
    document = hcl2.loads(METRICS_TF.read_text())
    found = {}
    for block in document["resource"]:
        for kind, resources in block.items():
            if kind == "google_logging_metric":
                for name, body in resources.items():
                    found[name] = {key: _one(value) for key, value in body.items()}
    return found


def selected_messages(filter_text: str) -> list[str]:
    """The `message` values a filter selects: message="x" or message=("x" OR "y")."""
    match = re.search(r'jsonPayload\.message=(\(.*?\)|"[^"]*")', filter_text.replace('\\"', '"'))
    assert match, filter_text
    return re.findall(r'"([^"]+)"', match.group(1))


def fields_read(metric: dict) -> set[str]:
    text = json.dumps(
        [metric.get("filter"), metric.get("label_extractors"), metric.get("value_extractor")]
    )
    return set(FIELD.findall(text)) - {"message"}


class Graph:
    def __init__(self, *answers):
        self.answers = list(answers)

    def send(self, pixel_id, token, events, *, test_event_code=""):
        return self.answers.pop(0)


def push(event, publish_time):
    message = event_message(event, pixel_id="123", source="events")
    envelope = {
        "message": {
            "data": base64.b64encode(message.data).decode(),
            "attributes": message.attributes,
            "messageId": "1",
            "publishTime": publish_time,
        }
    }
    return IncomingRequest("POST", "/", {}, json.dumps(envelope).encode(), "application/json")


@pytest.fixture
def log_lines(capture_logs):
    """The lines one accepted, one rejected, one delivered and one dead-lettered event write."""
    ingest = Ingest(publisher=InMemoryPublisher(), auth=ApiKeyAuth(lambda: ("k",)), pixel_id="123")
    stale = purchase(event_id="old")
    stale["event_time"] = int(time.time()) - 30 * 86400
    body = json.dumps({"data": [purchase(), stale]}).encode()
    reply = ingest.handle(
        IncomingRequest("POST", "/events", {"X-API-Key": "k"}, body, "application/json")
    )
    assert reply.status == 202
    delivered = GraphResult(Outcome.DELIVERED, 200, 1, "trace", messages=("a note",))
    error = MetaError.from_response(400, {"error": {"message": "m", "code": 100}})
    rejected = GraphResult(classify(error), 400, error=error)

    forwarder = Forwarder(
        tokens=TokenSource(token="EAAx"),
        dead_letters=InMemoryPublisher(),
        graph=Graph(delivered, rejected),
        delivered_log_sample=0.5,
        draw=lambda: 0.25,  # sampled: the per-event line is written too
    )
    published = time.strftime("%Y-%m-%dT%H:%M:%S.123456789Z", time.gmtime(time.time() - 2))
    assert forwarder.handle_push(push(purchase(event_id="a"), published)).status == 204
    assert forwarder.handle_push(push(purchase(event_id="b"), published)).status == 204
    return capture_logs()


def test_every_metric_reads_fields_its_log_lines_carry(log_lines):
    by_message: dict[str, list[dict]] = {}
    for line in log_lines:
        by_message.setdefault(line["message"], []).append(line)
    defined = metrics()
    assert {
        "ingest_events",
        "coverage",
        "delivered_events",
        "dead_letters",
        "delivery_latency",
    } <= set(defined)
    for name, metric in defined.items():
        selected = selected_messages(metric["filter"])
        for message in selected:
            assert message in by_message, (name, message, sorted(by_message))
        lines = [line for message in selected for line in by_message[message]]
        for field in fields_read(metric):  # a label may belong to one of the messages only
            assert any(field in line for line in lines), (name, selected, field)


def test_the_lines_carry_what_the_dashboard_groups_by(log_lines):
    events = [line for line in log_lines if line["message"] == "ingest event"]
    assert {e["status"] for e in events} == {"accepted", "rejected"}
    accepted = next(e for e in events if e["status"] == "accepted")
    assert accepted["grade"] == "strong" and "em" in accepted["match_keys"]
    assert accepted["pixel_id"] == "123" and accepted["event_name"] == "Purchase"
    assert "@" not in json.dumps(events)  # names of keys, never values
    (delivered,) = [line for line in log_lines if line["message"] == "events delivered"]
    assert delivered["outcome"] == "delivered" and delivered["events"] == 1
    assert delivered["event_ids"] == {"Purchase": ["a"]} and delivered["pixel_id"] == "123"
    assert 1500 <= delivered["latency_ms"] <= 60_000  # published two seconds earlier
    assert delivered["meta_messages"] == ["a note"]
    (sampled,) = [line for line in log_lines if line["message"] == "event delivered"]
    assert sampled["grade"] == "strong" and sampled["event_id"] == "a" and sampled["sampled"] == 0.5
    (dead,) = [line for line in log_lines if line["message"] == "event dead-lettered"]
    assert dead["outcome"] == "dead_lettered" and dead["error_code"] == 100
    assert dead["pixel_id"] == "123"


def test_the_coverage_keys_are_metas_and_the_dashboard_charts_defined_metrics():
    from capi.meta.rules import USER_DATA_FIELDS

    text = METRICS_TF.read_text()
    keys = json.loads(re.search(r"coverage_keys = (\[.*?\])", text).group(1))
    assert set(keys) <= USER_DATA_FIELDS
    labels = set(re.findall(r'key\s*=\s*"([a-z_]+)"', text))
    # labels the charts filter on (metric.label."x") and group by (group = ["x", ...])
    quoted = re.findall(r'metric\.label\.\\"([a-z_]+)\\"', text)
    for group in re.findall(r"group\s*=\s*\[([^\]]*)\]", text):
        quoted += re.findall(r'"([a-z_]+)"', group)
    assert {"status", "grade", "dlq_reason", "error_code"} <= set(quoted)
    assert set(quoted) <= labels


def _labels_of(metric: dict) -> set[str]:
    descriptor = _one(metric["metric_descriptor"])
    found = descriptor.get("labels") or []
    return {_one(_one(label)["key"]) for label in (found if isinstance(found, list) else [found])}


def test_the_promql_chart_reads_defined_metrics_and_their_labels():
    """The delivered/dead-lettered chart is PromQL: the names it queries are the module's metrics
    under Cloud Monitoring's PromQL mapping, and it groups by labels both metrics have."""
    text = METRICS_TF.read_text()
    defined = metrics()
    delivered = _one(defined["delivered_events"])
    assert delivered["value_extractor"] == "EXTRACT(jsonPayload.events)"
    assert _one(_one(delivered["metric_descriptor"])["value_type"]) == "DISTRIBUTION"
    promql_names = dict(
        re.findall(
            r'(promql_[a-z_]+)\s*=\s*"logging_googleapis_com:user_\$\{replace\(local\.(metric_[a-z_]+)',
            text,
        )
    )
    assert promql_names == {
        "promql_delivered_sum": "metric_delivered",
        "promql_dead_letters": "metric_dead_letters",
    }
    for local, metric in (
        ("metric_delivered", "delivered_events"),
        ("metric_dead_letters", "dead_letters"),
    ):
        assert re.search(rf"name\s*=\s*local\.{local}\b", text)
        assert "pixel_id" in _labels_of(defined[metric])
    assert text.count("sum by (pixel_id, outcome)") == 2
