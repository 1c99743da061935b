"""`capi send`: batches, isolation of the events Meta rejects, retries, resume."""

from __future__ import annotations

import json

import pytest

from capi.tools.cli import main
from capi.tools.send import StateFile
from tests.factories import lead, purchase
from tests.standins import meta_graph

TOKEN = "EAAbackfill"
PIXEL = "1234567890"


class PickyMeta(meta_graph.MetaGraphStandIn):
    """Meta rejects the whole request when one event carries order_id "poison"; our own
    validation cannot know that, so only isolation by bisection can find it."""

    def _validate_event(self, ev, now):
        super()._validate_event(ev, now)
        if (ev.get("custom_data") or {}).get("order_id") == "poison":
            raise meta_graph._invalid(2804019, "Invalid parameter", "order_id is not allowed")


@pytest.fixture
def meta(monkeypatch):
    with PickyMeta(tokens=[TOKEN], pixels=[PIXEL]) as standin:
        monkeypatch.setenv("CAPI_GRAPH_URL", standin.url)
        monkeypatch.setenv("CAPI_ACCESS_TOKEN", TOKEN)
        monkeypatch.setenv("CAPI_PIXEL_ID", PIXEL)
        monkeypatch.delenv("CAPI_ACCESS_TOKEN_SECRET", raising=False)
        yield standin


def write_events(tmp_path, events):
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


def poisoned(i):
    return purchase(
        event_id=f"e-{i}", custom_data={"value": 1, "currency": "EUR", "order_id": "poison"}
    )


def test_rejected_events_are_isolated_and_the_rest_delivered(tmp_path, meta):
    events = [lead(event_id=f"e-{i}") for i in range(2500)]
    for i in (7, 1500, 2499):
        events[i] = poisoned(i)
    path = write_events(tmp_path, events)
    assert main(["send", str(path)]) == 1  # some events were rejected
    delivered = meta.event_ids()
    assert len(delivered) == 2497 and len(set(delivered)) == 2497
    assert not {"e-7", "e-1500", "e-2499"} & set(delivered)
    rejected = [
        json.loads(x) for x in (tmp_path / "events.jsonl.rejected.jsonl").read_text().splitlines()
    ]
    assert [r["event_id"] for r in rejected] == ["e-7", "e-1500", "e-2499"]
    assert all(r["errors"][0]["meta_subcode"] == 2804019 for r in rejected)
    assert max(len(r.events) for r in meta.requests) <= 1000


def test_invalid_events_are_not_sent_and_unreadable_lines_are_reported(tmp_path, meta):
    bad = lead(event_id="bad")
    del bad["action_source"]
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps(lead(event_id="ok")) + "\n{oops\n" + json.dumps(bad) + "\n")
    assert main(["send", str(path)]) == 1
    assert meta.event_ids() == ["ok"]
    rejected = [
        json.loads(x) for x in (tmp_path / "events.jsonl.rejected.jsonl").read_text().splitlines()
    ]
    assert [r["errors"][0]["code"] for r in rejected] == ["invalid_json", "missing"]


def test_transient_failures_are_retried(tmp_path, meta, monkeypatch):
    monkeypatch.setattr("time.sleep", lambda s: None)
    meta.fail_next(2, status=503)
    meta.error_next(613, status=400)
    path = write_events(tmp_path, [lead(event_id=f"t-{i}") for i in range(10)])
    assert main(["send", str(path)]) == 0
    assert sorted(meta.event_ids()) == sorted(f"t-{i}" for i in range(10))


def test_bad_token_stops_and_a_rerun_resumes_without_duplicates(tmp_path, meta, capsys):
    path = write_events(tmp_path, [lead(event_id=f"r-{i}") for i in range(2500)])
    meta.set_tokens([TOKEN])
    original_handle = meta.handle
    calls = {"n": 0}

    def revoke_after_first(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            meta.set_tokens(["EAAother"])  # the token is revoked mid-run
        return original_handle(*args, **kwargs)

    meta.handle = revoke_after_first
    assert main(["send", str(path), "--batch-size", "1000"]) == 2
    assert "code=190" in capsys.readouterr().err
    assert len(meta.event_ids()) == 1000
    state = StateFile(tmp_path / "events.jsonl.send-state.json", str(path), "")
    state.load()
    assert state.counts.total == 1000  # the first batch's events are recorded as handled

    meta.handle = original_handle
    meta.set_tokens([TOKEN])
    assert main(["send", str(path)]) == 0
    ids = meta.event_ids()
    assert len(ids) == 2500 and len(set(ids)) == 2500


def test_needs_pixel_and_token(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("CAPI_PIXEL_ID", raising=False)
    monkeypatch.delenv("CAPI_ACCESS_TOKEN", raising=False)
    path = write_events(tmp_path, [lead()])
    assert main(["send", str(path)]) == 2
    assert main(["send", str(path), "--pixel", "1"]) == 2
    assert "CAPI_ACCESS_TOKEN" in capsys.readouterr().err


def test_a_2xx_that_counts_fewer_events_is_not_reported_as_delivered(
    tmp_path, meta, monkeypatch, capsys
):
    monkeypatch.setattr("time.sleep", lambda s: None)
    meta.fail_next(20, status=200, body={"events_received": 0, "fbtrace_id": "t"})
    path = write_events(tmp_path, [lead(event_id=f"z-{i}") for i in range(10)])
    assert main(["send", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Meta counted 0 of 10 events" in err and "10 delivered" not in err
    meta.clear_faults()
    assert main(["send", str(path)]) == 0  # nothing was recorded as done: all are sent
    assert sorted(meta.event_ids()) == sorted(f"z-{i}" for i in range(10))


def test_rows_fixed_in_place_are_sent_on_the_rerun_and_only_they(tmp_path, meta, capsys):
    events = [lead(event_id=f"f-{i}") for i in range(6)]
    events[2] = poisoned(2)
    events[4] = poisoned(4)
    path = write_events(tmp_path, events)
    assert main(["send", str(path), "--batch-size", "2"]) == 1  # two rejected by Meta
    assert len(meta.event_ids()) == 4
    rejected = [json.loads(x) for x in (tmp_path / "events.jsonl.rejected.jsonl").open()]
    assert [r["event_id"] for r in rejected] == ["e-2", "e-4"]
    events[2] = lead(event_id="fixed-2")
    events[4] = lead(event_id="fixed-4")
    path = write_events(tmp_path, events)  # fixed in place
    capsys.readouterr()
    assert main(["send", str(path), "--batch-size", "2"]) == 0
    err = capsys.readouterr().err
    assert "changed since the last run: 4 of its events were handled then" in err
    assert "2 delivered" in err
    assert sorted(meta.event_ids())[-2:] == ["fixed-2", "fixed-4"]
    assert len(meta.event_ids()) == 6


def test_appended_rows_are_sent_alone_and_restart_sends_everything(tmp_path, meta, capsys):
    path = write_events(tmp_path, [lead(event_id=f"a-{i}") for i in range(3)])
    assert main(["send", str(path)]) == 0
    path = write_events(tmp_path, [lead(event_id=f"a-{i}") for i in range(5)])  # 2 appended
    assert main(["send", str(path)]) == 0
    assert sorted(meta.event_ids()) == ["a-0", "a-1", "a-2", "a-3", "a-4"]
    capsys.readouterr()
    assert main(["send", str(path)]) == 0  # nothing left to send
    assert "0 delivered" in capsys.readouterr().err
    assert main(["send", str(path), "--restart"]) == 0
    assert len(meta.event_ids()) == 10


def test_rejected_file_fixed_by_hand_is_read_back_and_sent(tmp_path, meta):
    path = write_events(tmp_path, [lead(event_id="ok"), poisoned(1)])
    assert main(["send", str(path)]) == 1
    rejected = tmp_path / "events.jsonl.rejected.jsonl"
    (record,) = [json.loads(line) for line in rejected.open()]
    record["event"]["custom_data"]["order_id"] = "1001"  # the fix
    fixed = tmp_path / "fixed.jsonl"
    fixed.write_text(json.dumps(record) + "\n")
    assert main(["validate", str(fixed)]) == 0
    assert main(["send", str(fixed)]) == 0
    assert sorted(meta.event_ids()) == ["e-1", "ok"]


def test_the_state_is_a_journal_appended_per_batch(tmp_path, meta):
    """Saving a batch appends its digests (before: the whole state was rewritten after every
    batch, quadratic in the file's size); a rerun starts from what the journal says."""
    path = write_events(tmp_path, [lead(event_id=f"j-{i}") for i in range(5)])
    assert main(["send", str(path), "--batch-size", "2"]) == 0
    lines = (tmp_path / "events.jsonl.send-state.json").read_text().splitlines()
    assert json.loads(lines[0])["version"] == 3
    assert [len(line.split()) for line in lines[1:]] == [2, 2, 1]
    assert main(["send", str(path)]) == 0
    assert len(meta.event_ids()) == 5
    lines = (tmp_path / "events.jsonl.send-state.json").read_text().splitlines()
    assert [len(line.split()) for line in lines[1:]] == [5]  # rewritten once, at the start


def test_a_batch_line_cut_short_by_a_crash_is_sent_again(tmp_path, meta):
    path = write_events(tmp_path, [lead(event_id=f"c-{i}") for i in range(4)])
    assert main(["send", str(path), "--batch-size", "2"]) == 0
    state = tmp_path / "events.jsonl.send-state.json"
    text = state.read_text()
    state.write_text(text[: text.rindex("\n", 0, len(text) - 1) + 1] + text.splitlines()[-1][:20])
    assert main(["send", str(path)]) == 0
    assert sorted(meta.event_ids()) == sorted(["c-0", "c-1", "c-2", "c-3", "c-2", "c-3"])


def test_a_version_2_state_file_is_still_read(tmp_path, meta, capsys):
    from capi.tools.send import event_digest

    events = [lead(event_id=f"v-{i}") for i in range(3)]
    path = write_events(tmp_path, events)
    (tmp_path / "events.jsonl.send-state.json").write_text(
        json.dumps(
            {
                "version": 2,
                "source": str(path),
                "file_digest": "old",
                "done": 2,
                "handled": {event_digest(events[0]): 1, event_digest(events[1]): 1},
            }
        )
    )
    assert main(["send", str(path)]) == 0
    assert meta.event_ids() == ["v-2"]
    assert "2 of its events were handled then" in capsys.readouterr().err


def test_digest_counts_claim_each_handling_once():
    from capi.tools.send import _DigestCounts, event_digest

    a, b = event_digest({"a": 1}), event_digest({"b": 2})
    counts = _DigestCounts([a, b, a])
    assert counts.total == 3 and sorted(counts) == sorted([a, a, b])
    assert [counts.claim(a), counts.claim(a), counts.claim(a)] == [True, True, False]
    assert counts.claim(b) and not counts.claim(event_digest({"c": 3}))
    counts.reset()
    assert counts.claim(a)


def test_no_rejection_names_no_file_and_leaves_none(tmp_path, meta, capsys):
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps(purchase(event_id="clean-1")) + "\n")
    assert main(["send", str(path)]) == 0
    err = capsys.readouterr().err
    assert "0 rejected," in err and "written to" not in err
    assert not (tmp_path / "events.jsonl.rejected.jsonl").exists()


def test_every_send_option_has_help_text(capsys):
    with pytest.raises(SystemExit):
        main(["send", "--help"])
    out = capsys.readouterr().out
    after = out.rsplit("--test-event-code TEST_EVENT_CODE", 1)[1]  # the options list
    assert after.split()[:3] == ["send", "as", "test"]  # its help follows it
