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
