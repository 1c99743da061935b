"""`capi replay` against the real Pub/Sub emulator: filter, dry run, ack only after republish."""

from __future__ import annotations

import json

import pytest

from capi.tools.cli import main
from tests.conftest import new_project_id, pull_messages

pytestmark = pytest.mark.integration


@pytest.fixture
def topics(pubsub_emulator):
    from google.cloud import pubsub_v1

    project = new_project_id()
    names = {
        "topic": f"projects/{project}/topics/capi-events",
        "dlq": f"projects/{project}/topics/capi-events-dlq",
        "dlq_sub": f"projects/{project}/subscriptions/capi-events-dlq-replay",
        "observe": f"projects/{project}/subscriptions/observe-main",
    }
    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    publisher.create_topic(name=names["topic"])
    publisher.create_topic(name=names["dlq"])
    subscriber.create_subscription(name=names["dlq_sub"], topic=names["dlq"])
    subscriber.create_subscription(name=names["observe"], topic=names["topic"])
    dead = [
        ("a", "Purchase", {"dlq_reason": "config", "error_code": "190"}),
        ("b", "Lead", {"dlq_reason": "rejected", "error_code": "100", "error_subcode": "2804019"}),
        ("c", "Purchase", {"dlq_reason": "config", "error_code": "190", "replay_count": "1"}),
    ]
    for event_id, name, reason in dead:
        data = json.dumps({"event_id": event_id, "event_name": name}).encode()
        attrs = {
            "event_id": event_id,
            "event_name": name,
            "pixel_id": "1",
            **reason,
            "attempts": "3",
            "failed_at": "2026-11-26T10:00:00+00:00",
        }
        publisher.publish(names["dlq"], data, **attrs).result()
    subscriber.close()
    return names


def test_replays_only_matching_dead_letters_with_original_attributes(topics, capsys):
    code = main(
        [
            "replay",
            "--topic",
            topics["topic"],
            "--subscription",
            topics["dlq_sub"],
            "--error-code",
            "190",
        ]
    )
    assert code == 0
    assert "replayed 2 of 3" in capsys.readouterr().err
    replayed = pull_messages(topics["observe"], 2, timeout=10)
    by_id = {m.attributes["event_id"]: dict(m.attributes) for m in replayed}
    assert set(by_id) == {"a", "c"}
    assert by_id["a"] == {
        "event_id": "a",
        "event_name": "Purchase",
        "pixel_id": "1",
        "replay_count": "1",
    }
    assert by_id["c"]["replay_count"] == "2"
    assert json.loads(replayed[0].data)["event_id"] in {"a", "c"}
    left = pull_messages(topics["dlq_sub"], 1, timeout=5)
    assert [m.attributes["event_id"] for m in left] == ["b"]  # the rest stays in the DLQ


def test_dry_run_lists_and_keeps_everything(topics, capsys):
    assert (
        main(
            [
                "replay",
                "--topic",
                topics["topic"],
                "--subscription",
                topics["dlq_sub"],
                "--dry-run",
                "--event-name",
                "Purchase",
            ]
        )
        == 0
    )
    out = capsys.readouterr()
    assert "would replay 2 of 3" in out.err
    assert {json.loads(line)["event_id"] for line in out.out.splitlines()} == {"a", "c"}
    assert pull_messages(topics["observe"], 1, timeout=2) == []
    assert len(pull_messages(topics["dlq_sub"], 3, timeout=10)) == 3


def test_failed_republish_leaves_the_message_in_the_dlq(topics, capsys):
    missing_topic = topics["topic"].replace("capi-events", "gone")
    assert main(["replay", "--topic", missing_topic, "--subscription", topics["dlq_sub"]]) == 1
    assert "1 failed" in capsys.readouterr().err
    assert len(pull_messages(topics["dlq_sub"], 3, timeout=10)) == 3


def test_bad_duration_is_a_clear_error(topics, capsys):
    assert main(["replay", "--topic", topics["topic"], "--older-than", "soon"]) == 2
    assert "not a duration" in capsys.readouterr().err


def test_audit_reads_the_dlq_subscription_and_leaves_it_as_it_was(topics, capsys):
    """`capi audit --dlq-subscription` on the real emulator: every dead letter is counted with
    its reason, and none is acknowledged (a replay afterwards still finds all three)."""
    assert main(["audit", "--dlq-subscription", topics["dlq_sub"], "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["by_status"] == {"dead_lettered": 3}
    reasons = {r["reason"]: r["events"] for r in summary["top_rejection_reasons"]}
    assert reasons == {
        "dead-lettered: config (Meta code 190)": 2,
        "dead-lettered: rejected (Meta code 100)": 1,
    }
    assert len(pull_messages(topics["dlq_sub"], 3, timeout=20)) == 3
