import json

from capi.queueing.memory import InMemoryPublisher
from capi.tools.cli import main
from tests.factories import EMAIL_HASH, RAW_EMAIL, lead, purchase


def write(tmp_path, events, name="events.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return str(path)


def test_validate_exit_status_and_per_event_errors(tmp_path, capsys):
    good = write(tmp_path, [purchase(), lead()])
    assert main(["validate", good]) == 0
    bad_event = purchase()
    del bad_event["action_source"]
    mixed = write(tmp_path, [purchase(), bad_event], "mixed.jsonl")
    capsys.readouterr()
    assert main(["validate", mixed]) == 1
    out = capsys.readouterr().out
    assert "event 1 (line 2): INVALID" in out and "action_source" in out
    assert RAW_EMAIL not in out


def test_validate_json_output(tmp_path, capsys):
    path = write(tmp_path, [lead()])
    main(["validate", "--json", path])
    record = json.loads(capsys.readouterr().out.splitlines()[0])
    assert record["status"] == "accepted" and record["event_id"] == "lead-1"


def test_normalize_prints_hashed_events_in_input_order(tmp_path, capsys):
    path = write(tmp_path, [purchase(event_id="a"), lead(event_id="b"), purchase(event_id="c")])
    assert main(["normalize", path]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["event_id"] for e in lines] == ["a", "b", "c"]
    assert lines[0]["user_data"]["em"] in (EMAIL_HASH, [EMAIL_HASH])


def test_normalize_reads_stdin(monkeypatch, capsys):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps({"data": [lead()]})))
    assert main(["normalize", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["event_name"] == "Lead"


def test_missing_file_is_a_clear_error(tmp_path):
    import pytest

    with pytest.raises(SystemExit, match="cannot read"):
        main(["validate", str(tmp_path / "nope.json")])


def test_normalize_prints_each_warning_once(tmp_path, capsys):
    # regression: normalization's warnings were printed twice (from validation and again)
    event = lead(event_id="w")
    event["user_data"] = {"em": "mary@example.com", "ph": "not a phone"}
    assert main(["normalize", write(tmp_path, [event])]) == 0
    err = capsys.readouterr().err
    phone_warnings = [line for line in err.splitlines() if "user_data.ph" in line]
    assert len(phone_warnings) == 1, err


def test_non_finite_numbers_make_an_event_invalid_in_validate_and_normalize(tmp_path, capsys):
    path = tmp_path / "inf.jsonl"
    good = json.dumps(lead(event_id="fine"))
    bad = json.dumps(purchase(event_id="huge")).replace('"value": 49.9', '"value": 1e999')
    path.write_text(good + "\n" + bad + "\n" + '{"event_name": "Lead", "n": ' + "9" * 5000 + "}\n")
    assert main(["validate", "--json", str(path)]) == 1
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["status"] for r in records] == ["accepted", "rejected", "rejected"]
    # the same answer as ingest's for that body: non_finite_number, naming the field
    (error,) = records[1]["errors"]
    assert error["code"] == "non_finite_number" and "custom_data.value" in error["message"]
    assert records[2]["errors"][0]["code"] == "invalid_json"
    assert main(["normalize", str(path)]) == 1
    out = capsys.readouterr().out
    assert [json.loads(line)["event_id"] for line in out.splitlines()] == ["fine"]
    assert "Infinity" not in out


def test_the_cli_and_ingest_give_the_same_verdict_for_the_same_body(tmp_path, capsys):
    """One contract: `capi validate` reads a body with ingest's own parser and judges each event
    with the same steps, so the verdicts, codes and paths are ingest's."""
    from capi.ingest.auth import ApiKeyAuth
    from capi.ingest.handler import Ingest
    from capi.web import IncomingRequest

    ingest = Ingest(publisher=InMemoryPublisher(), auth=ApiKeyAuth(lambda: ("k",)), pixel_id="1")
    no_source = purchase(event_id="x")
    del no_source["action_source"]
    bodies = [
        {"data": [lead(event_id="a"), no_source, {**lead(event_id="t"), "access_token": "EAAx"}]},
        [purchase(event_id="b"), lead(event_id=None)],
        '{"event_name": "Lead", "event_name": "Lead"}',  # duplicate key
        '{"event_name": "Lead", "value": NaN}',
        '{"event_name": "Lead", "value": 1e999}',
    ]
    for n, body in enumerate(bodies):
        text = body if isinstance(body, str) else json.dumps(body)
        answer = ingest.handle(
            IncomingRequest(
                "POST", "/events", {"X-API-Key": "k"}, text.encode(), "application/json"
            )
        )
        path = tmp_path / f"body-{n}.json"
        path.write_text(text)
        capsys.readouterr()
        main(["validate", "--json", str(path)])
        records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        if "results" in answer.body:
            verdicts = [(r["status"], sorted(e["code"] for e in r["errors"])) for r in records]
            expected = [
                (r["status"], sorted(e["code"] for e in r["errors"]))
                for r in answer.body["results"]
            ]
            assert verdicts == expected, (n, verdicts, expected)
            warned = [sorted(w["code"] for w in r["warnings"]) for r in records]
            assert warned == [
                sorted(w["code"] for w in r["warnings"]) for r in answer.body["results"]
            ]
        else:  # the body as a whole is refused: the CLI refuses its only event with the same code
            (record,) = records
            assert record["status"] == "rejected"
            assert record["errors"][0]["code"] == answer.body["error"]["code"], n
    out = capsys.readouterr()
    assert "EAAx" not in out.out


def test_normalize_never_prints_a_callers_access_token(tmp_path, capsys):
    path = write(tmp_path, [{**lead(event_id="t"), "access_token": "EAAsecret"}])
    assert main(["normalize", path]) == 0
    assert "EAAsecret" not in capsys.readouterr().out


def test_normalize_writes_numbers_as_json_does(tmp_path, capsys):
    """orjson writes the output where it agrees with json.dumps: tiny floats and integers beyond
    64 bits in pass-through fields come out as before."""
    event = purchase(event_id="n")
    event["custom_data"].update({"tiny": 1e-05, "big": 123456789012345678901234567890})
    assert main(["normalize", write(tmp_path, [event])]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    assert '"tiny":1e-05' in line and '"big":123456789012345678901234567890' in line
    assert json.loads(line)["custom_data"]["big"] == 123456789012345678901234567890


def test_normalize_refuses_a_lone_surrogate_with_a_reason(tmp_path, capsys):
    path = tmp_path / "surrogate.jsonl"
    text = json.dumps(purchase(event_id="s"))[:-1] + ', "note": "\\ud800x"}\n'
    path.write_text(text + json.dumps(lead(event_id="ok")) + "\n")
    assert main(["normalize", str(path)]) == 1
    captured = capsys.readouterr()
    assert "unpaired surrogate" in captured.err
    assert [json.loads(x)["event_id"] for x in captured.out.splitlines()] == ["ok"]
