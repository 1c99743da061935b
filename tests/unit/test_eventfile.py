import json

from capi.tools.eventfile import parse_events


def test_meta_body_array_object_and_json_lines():
    e1, e2 = {"event_name": "A"}, {"event_name": "B"}
    body = parse_events(json.dumps({"data": [e1, e2], "test_event_code": "T"}))
    assert [f.value for f in body] == [e1, e2] and body[0].test_event_code == "T"
    assert [f.value for f in parse_events(json.dumps([e1, e2]))] == [e1, e2]
    assert [f.value for f in parse_events(json.dumps(e1))] == [e1]
    lines = parse_events(json.dumps(e1) + "\n\n" + json.dumps(e2) + "\n")
    assert [(f.index, f.line, f.value) for f in lines] == [(0, 1, e1), (1, 3, e2)]


def test_bad_line_is_reported_and_does_not_stop_the_rest():
    items = parse_events('{"event_name": "A"}\n{broken\n{"event_name": "C"}\n')
    assert [bool(f.error) for f in items] == [False, True, False]
    assert items[1].line == 2 and items[2].value == {"event_name": "C"}


def test_more_than_one_request_worth_is_fine_in_a_file():
    items = parse_events(json.dumps([{"event_name": "A"}] * 2500))
    assert len(items) == 2500


def test_empty_input():
    assert parse_events("  \n") == []
