"""`capi audit` (issue 12): counts, the three failures, the inputs it reads, and its reports."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from types import SimpleNamespace

from capi.queueing.messages import event_message
from capi.tools import audit
from capi.tools.cli import main
from tests.browser import rendered_dom
from tests.factories import purchase

NOW = time.time()  # when the module was collected: event times are set from it (older is fine)
UA = "Mozilla/5.0 (X11; Linux x86_64)"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def web(event_id=None, **user_data):
    event = {
        "event_name": "Lead",
        "event_time": int(NOW) - 60,
        "action_source": "website",
        "event_source_url": "https://example.com/",
        "user_data": {"client_user_agent": UA, **user_data},
    }
    if event_id:
        event["event_id"] = event_id
    return event


def sample_lines() -> list[str]:
    events = [
        purchase(event_id="p-1"),  # strong
        web("l-1", em="a@b.co"),  # good
        web(None, em="c@d.co", fbp="fb.1.1700000000000.1"),  # no event_id on a web event
        web("l-3", fbc="fb.1.1700000000000.IwAR1"),  # click id only
        web("l-4", em=sha("undefined"), ph="+14155552671"),  # a hashed placeholder
        web("l-5", em="not-an-email"),  # nothing usable: rejected
    ]
    lines = [json.dumps(e) for e in events]
    lines.append("{broken")
    # a line of the local dead-letter file
    message = event_message(purchase(event_id="dl-1"), pixel_id="1")
    lines.append(
        json.dumps(
            {
                "data": base64.b64encode(message.data).decode(),
                "attributes": {**message.attributes, "dlq_reason": "rejected", "error_code": "100"},
            }
        )
    )
    # exported log entries: an ingest line, a delivery, another message that is not counted
    lines.append(
        json.dumps(
            {
                "jsonPayload": {
                    "message": "event delivered",
                    "event_name": "Purchase",
                    "event_id": "d-1",
                    "match_keys": ["em", "ph", "fbp"],
                    "grade": "strong",
                    "outcome": "delivered",
                }
            }
        )
    )
    lines.append(json.dumps({"jsonPayload": {"message": "ingest request", "status": 202}}))
    return lines


def test_counts_failures_and_reasons_over_mixed_inputs(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(sample_lines()) + "\n")
    summary = audit.audit_files([str(path)], now=time.time()).summary()
    assert summary["events"] == 8 and summary["unreadable"] == 1
    assert summary["by_status"] == {
        "accepted": 5,
        "rejected": 1,
        "dead_lettered": 1,
        "delivered": 1,
    }
    assert summary["grades"]["strong"] == 4  # p-1, the no-id web event, dl-1, d-1
    failures = summary["failures"]
    assert failures["no_shared_event_id"]["events"] == 1
    assert failures["bad_hash"]["events"] == 1 and failures["bad_hash"]["examples"] == ["l-4"]
    assert failures["click_id_only"]["events"] == 1
    assert failures["click_id_only"]["examples"] == ["l-3"]
    reasons = {r["reason"]: r["events"] for r in summary["top_rejection_reasons"]}
    assert reasons == {
        "user_data: insufficient_customer_information": 1,
        "dead-lettered: rejected (Meta code 100)": 1,
    }
    assert summary["coverage"]["em"]["events"] == 5  # l-4's placeholder and l-5's were dropped
    lead = summary["by_event_name"]["Lead"]
    assert lead["events"] == 5 and lead["coverage"]["fbc"] == 20.0


def test_a_meta_body_or_an_array_file_is_read_whole(tmp_path):
    body = tmp_path / "body.json"
    body.write_text(json.dumps({"data": [purchase(), purchase(event_id="x")]}, indent=2))
    array = tmp_path / "array.json"
    array.write_text(json.dumps([purchase()]))
    assert audit.audit_files([str(body), str(array)], now=time.time()).total == 3


def test_the_cli_prints_text_json_and_writes_a_page(tmp_path, capsys):
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(sample_lines()) + "\n")
    assert main(["audit", str(path)]) == 0
    text = capsys.readouterr().out
    assert "No shared event_id" in text and "Click id as the only key" in text
    assert main(["audit", str(path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["events"] == 8
    page = tmp_path / "report.html"
    assert main(["audit", str(path), "--html", str(page)]) == 0
    content = page.read_text()
    assert "<svg" in content and "http" not in content.split("<body>")[1].replace(
        "https://", ""
    )  # self-contained: no script, stylesheet or image to fetch
    assert "<script" not in content and "<link" not in content
    assert main(["audit"]) == 2


def test_the_page_shows_its_numbers_in_a_real_browser(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(sample_lines()) + "\n")
    page = tmp_path / "report.html"
    main(["audit", str(path), "--html", str(page), "--no-progress"])
    dom = rendered_dom(page.as_uri())
    assert "The three failures every audit finds" in dom
    assert "Hashed placeholders" in dom and "l-4" in dom
    assert "insufficient_customer_information" in dom
    assert dom.count("<rect") >= 8  # the bars were drawn


def test_no_raw_customer_value_reaches_a_report(tmp_path, capsys):
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(sample_lines()) + "\n")
    page = tmp_path / "r.html"
    main(["audit", str(path), "--json", "--html", str(page)])
    out = capsys.readouterr().out + page.read_text()
    for raw in ("a@b.co", "c@d.co", "4155552671", "not-an-email"):
        assert raw not in out


class FakeMessage:
    def __init__(self, n):
        message = event_message(purchase(event_id=f"q-{n}"), pixel_id="1")
        self.data = message.data
        self.attributes = {**message.attributes, "dlq_reason": "exhausted"}
        self.message_id = str(n)


class FakeSubscriber:
    """Answers pulls like Pub/Sub: what is not acknowledged comes back."""

    def __init__(self, n):
        self.messages = [FakeMessage(i) for i in range(n)]
        self.released = []
        self.acked = []

    def pull(self, request, timeout):
        class Received:
            def __init__(self, message):
                self.message = message
                self.ack_id = "ack-" + message.message_id

        response = SimpleNamespace(received_messages=[Received(m) for m in self.messages[:2]])
        self.messages = self.messages[2:] + self.messages[:2]  # redelivered later
        return response

    def modify_ack_deadline(self, request):
        self.released += request["ack_ids"]

    def acknowledge(self, request):
        self.acked += request["ack_ids"]


def test_dead_letters_are_read_from_pubsub_and_left_in_place():
    subscriber = FakeSubscriber(5)
    values = list(audit.pull_dead_letters(subscriber, "projects/p/subscriptions/dlq"))
    assert len(values) == 5 and subscriber.acked == []
    assert set(subscriber.released) >= {f"ack-{i}" for i in range(5)}
    summary = audit.audit_values(values, now=time.time()).summary()
    assert summary["by_status"] == {"dead_lettered": 5}
    assert summary["top_rejection_reasons"][0]["reason"] == "dead-lettered: exhausted"


# -- hostile and real log exports (issue 22) --------------------------------------------------


def log_entry(message, **fields):
    return json.dumps({"jsonPayload": {"message": message, **fields}, "severity": "INFO"})


def test_an_export_counts_events_not_log_lines(tmp_path, capsys):
    """Three events: two Purchases with an ingest and a delivery line each, one Lead that was
    accepted then dead-lettered. Before: "6 events", "Purchase 5"."""
    lines = []
    for event_id in ("o-1", "o-2"):
        lines.append(
            log_entry(
                "ingest event",
                event_name="Purchase",
                event_id=event_id,
                status="accepted",
                match_keys=["em", "ph", "fbp"],
                grade="strong",
            )
        )
        lines.append(
            log_entry(
                "event delivered",
                event_name="Purchase",
                event_id=event_id,
                match_keys=["em", "ph", "fbp"],
                grade="strong",
            )
        )
    lines.append(
        log_entry(
            "ingest event",
            event_name="Lead",
            event_id="l-1",
            status="accepted",
            match_keys=["em"],
            grade="good",
        )
    )
    lines.append(
        log_entry("event dead-lettered", event_name="Lead", event_id="l-1", dlq_reason="rejected")
    )
    path = tmp_path / "export.jsonl"
    path.write_text("\n".join(lines) + "\n")
    summary = audit.audit_files([str(path)], now=time.time()).summary()
    assert summary["events"] == 3
    assert summary["by_status"] == {"delivered": 2, "dead_lettered": 1}
    assert summary["by_event_name"]["Purchase"]["events"] == 2
    assert summary["grades"] == {"strong": 2, "good": 1, "weak": 0, "none": 0}
    assert summary["coverage"]["em"]["events"] == 3


def test_a_dead_letter_line_alone_is_not_a_none_grade(tmp_path):
    path = tmp_path / "dlq-lines.jsonl"
    path.write_text(
        log_entry("event dead-lettered", event_name="Lead", event_id="x-1", dlq_reason="config")
        + "\n"
        + log_entry("event dead-lettered", event_name="Lead", event_id="x-2", dlq_reason="config")
        + "\n"
    )
    summary = audit.audit_files([str(path)], now=time.time()).summary()
    assert summary["events"] == 2 and summary["grades"]["none"] == 0
    assert summary["ungraded"] == 2
    assert "unknown" in audit.text_report(summary)


def test_hostile_lines_are_named_and_skipped_never_a_traceback(tmp_path, capsys):
    good = json.dumps(purchase(event_id="ok-1"))
    lines = [
        good,
        log_entry(
            "ingest event",
            event_name=["a"],
            event_id={"x": 1},
            status=7,
            grade=[1],
            match_keys="em",
            error_codes=5,
            warning_codes={"a": 1},
        ),
        log_entry(
            "event dead-lettered",
            event_name="Lead",
            event_id="d",
            error_code=[1],
            dlq_reason={"a": 1},
        ),
        "[" * 200_000 + "]" * 200_000,
        '{"data": "' + base64.b64encode(b"[" * 100_000).decode() + '", "attributes": {}}',
        json.dumps({"event": 5, "errors": 7}),
        good.replace("ok-1", "ok-2"),
    ]
    path = tmp_path / "hostile.jsonl"
    path.write_text("\n".join(lines) + "\n")
    assert main(["audit", str(path), "--no-progress"]) == 0
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert f"{path} line 4" in err  # the 200,000 brackets, named by its line
    summary = audit.audit_files([str(path)], now=time.time()).summary()
    assert summary["unreadable"] >= 1
    assert summary["by_status"]["accepted"] >= 2  # the lines after it were read


def test_the_text_report_names_the_columns_of_the_per_event_name_block(tmp_path, capsys):
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(sample_lines()) + "\n")
    main(["audit", str(path), "--no-progress"])
    out = capsys.readouterr().out
    block = out.split("per event name\n", 1)[1].splitlines()
    assert block[0].split() == [
        "event",
        "name",
        "events",
        "strong",
        "coverage",
        "of",
        "each",
        "identifier",
    ]
