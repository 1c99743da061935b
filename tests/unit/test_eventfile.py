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


# -- streaming (issue 15) -----------------------------------------------------------------------


import io  # noqa: E402

import pytest  # noqa: E402

from capi.tools.eventfile import iter_events  # noqa: E402


@pytest.mark.parametrize(
    "text",
    [
        '{"event_name": "A"}\n{"event_name": "B"}\n',
        '\n\n{"event_name": "A"}\n\n{broken\n{"data": [{"event_name": "B"}, 1]}\n',
        '{broken\n\n{"event_name": "B"}\n',
        '[{"event_name": "A"}, {"event_name": "B"}]',
        '{\n  "data": [\n    {"event_name": "A"}\n  ],\n  "test_event_code": "T1"\n}\n',
        '{"data": [{"event_name": "A"}], "test_event_code": "T2"}',
        "[1, 2]\n",
        "",
        "\n\n",
    ],
)
def test_streaming_reads_exactly_what_the_whole_file_reader_reads(tmp_path, text):
    path = tmp_path / "events.jsonl"
    path.write_text(text)
    assert list(iter_events(str(path))) == parse_events(text)


class CountingInput(io.StringIO):
    def __init__(self, text):
        super().__init__(text)
        self.lines_read = 0

    def __next__(self):
        self.lines_read += 1
        return super().__next__()


def test_json_lines_are_read_one_line_at_a_time(monkeypatch):
    lines = "".join(f'{{"event_name": "E{i}"}}\n' for i in range(10_000))
    stdin = CountingInput(lines)
    monkeypatch.setattr("sys.stdin", stdin)
    events = iter_events("-")
    first = next(events)
    assert first.value == {"event_name": "E0"} and first.line == 1
    assert stdin.lines_read <= 3  # not the 10,000 lines: memory stays flat
    assert sum(1 for _ in events) == 9_999
