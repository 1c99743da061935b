"""`capi normalize --jobs 2` and `capi validate --jobs 2` write exactly what one process writes:
the same lines on stdout and stderr, in input order, with the same event and line numbers, for
messy JSON Lines."""

from __future__ import annotations

import json

import pytest

from capi.tools import parallel
from capi.tools.cli import main
from tests.corpus import make_corpus


@pytest.fixture
def messy_file(tmp_path):
    import time

    events = make_corpus(300, now=int(time.time()))
    lines = [json.dumps(e, ensure_ascii=False) for e in events]
    lines[7] = "{not json"
    lines[20] = ""  # blank lines are skipped but counted
    lines[33] = json.dumps({"data": events[:5], "test_event_code": "T1"})  # a Meta body per line
    lines[34] = json.dumps([1, 2])  # an array: one entry, invalid
    lines[50] = json.dumps({"event_name": "Purchase", "event_name ": 1})
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run(capsys, *args, command="normalize"):
    code = main([command, *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_two_processes_write_what_one_writes(messy_file, capsys, monkeypatch):
    monkeypatch.setattr(parallel, "BLOCK_BYTES", 3000)  # many blocks of a few lines each
    one = run(capsys, "--jobs", "1", str(messy_file))
    two = run(capsys, "--jobs", "2", str(messy_file))
    assert one == two
    code, out, err = two
    assert code == 1 and len(out.splitlines()) > 200
    assert "event 7 (line 8) skipped" in err


def test_event_numbers_follow_meta_bodies_across_blocks(messy_file, capsys, monkeypatch):
    monkeypatch.setattr(parallel, "BLOCK_BYTES", 1500)
    _, _, err = run(capsys, "--jobs", "2", str(messy_file))
    _, _, err_one = run(capsys, "--jobs", "1", str(messy_file))
    # line 35 holds the array [1, 2]: after the 5-event body on line 34 it is event 37
    assert "event 37 (line 35) skipped" in err_one
    assert err == err_one


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_validate_with_two_processes_reports_what_one_reports(
    messy_file, capsys, monkeypatch, as_json
):
    monkeypatch.setattr(parallel, "BLOCK_BYTES", 1500)  # blocks of one to a few lines
    flags = ["--json"] if as_json else []
    one = run(capsys, *flags, "--jobs", "1", str(messy_file), command="validate")
    two = run(capsys, *flags, "--jobs", "2", str(messy_file), command="validate")
    assert one == two
    code, out, err = two
    assert code == 1
    if as_json:
        records = [json.loads(line) for line in out.splitlines()]
        assert [r["index"] for r in records] == list(range(len(records)))
        # the array on line 35 comes after the 5-event body on line 34: event 37
        assert records[37]["line"] == 35 and records[37]["status"] == "rejected"
    else:
        assert "event 7 (line 8): INVALID" in out
        assert "event 37 (line 35): INVALID" in out
        assert err.endswith(" events\n")


def test_small_files_and_stdin_stay_in_one_process(tmp_path, monkeypatch):
    small = tmp_path / "small.jsonl"
    small.write_text("{}\n{}\n")
    assert parallel.default_jobs(str(small)) == 1
    assert parallel.default_jobs("-") == 1
    monkeypatch.setattr(parallel, "AUTO_MIN_BYTES", 1)
    assert parallel.default_jobs(str(small)) >= 1
    assert parallel.default_jobs(str(tmp_path / "missing.jsonl")) == 1


def test_a_file_of_half_a_megabyte_is_shared_among_every_worker(tmp_path):
    """Issue 26: below 8 MiB a file used to stay in one process, and a 1 MiB file was one block,
    so a second worker had nothing to do. Now a file of 512 KiB or more uses every core, cut
    into blocks small enough that each worker gets several."""
    path = tmp_path / "mid.jsonl"
    line = json.dumps({"event_name": "PageView", "pad": "x" * 500}) + "\n"
    path.write_text(line * (600 * 1024 // len(line)), encoding="utf-8")
    assert parallel.default_jobs(str(path)) == parallel.cores()
    for jobs in (2, 4):
        chunks = list(parallel.blocks(str(path), parallel.block_size(str(path), jobs)))
        assert len(chunks) >= jobs * 2  # several per worker (blocks of at least 64 KiB)
        assert b"".join(chunks) == path.read_bytes()
    assert parallel.block_size(str(path), 1) <= parallel.BLOCK_BYTES
    assert parallel.block_size(str(tmp_path / "missing.jsonl"), 2) == parallel.BLOCK_BYTES


def test_ordered_map_keeps_order_with_a_bounded_window():
    read = []

    def tasks():
        for i in range(20):
            read.append(i)
            yield i

    results = []
    for result in parallel.ordered_map(abs, tasks(), 2):
        results.append(result)
        assert len(read) - len(results) <= 4  # at most 2 x jobs ahead
    assert results == list(range(20))


def test_core_count_without_an_affinity_mask(monkeypatch):
    """macOS has no sched_getaffinity: the CPU count is used instead."""
    monkeypatch.delattr(parallel.os, "sched_getaffinity")
    monkeypatch.setattr(parallel.os, "cpu_count", lambda: 3)
    assert parallel.cores() == 3


def test_blocks_cut_only_after_newlines(tmp_path):
    path = tmp_path / "f.jsonl"
    data = b'{"a": 1}\r\n' + b'{"b": "' + b"x" * 50 + b'"}\n' + b'{"c": "\xc3\xa9"}\r' + b"{}"
    path.write_bytes(data)
    for size in (1, 3, 7, 64, 1 << 20):
        chunks = list(parallel.blocks(str(path), size))
        assert b"".join(chunks) == data
        assert all(chunk.endswith(b"\n") for chunk in chunks[:-1])


@pytest.mark.parametrize("newline", ["\r\n", "\r"], ids=["crlf", "cr"])
def test_two_processes_read_other_line_endings_as_one_does(tmp_path, capsys, monkeypatch, newline):
    import time

    events = make_corpus(40, now=int(time.time()))
    lines = [json.dumps(e, ensure_ascii=False) for e in events]
    lines[5] = "{not json"
    path = tmp_path / "events.jsonl"
    path.write_bytes(newline.join(lines).encode() + newline.encode())
    monkeypatch.setattr(parallel, "BLOCK_BYTES", 1500)
    one = run(capsys, "--jobs", "1", str(path))
    two = run(capsys, "--jobs", "2", str(path))
    assert one == two
    assert "event 5 (line 6) skipped" in two[2]


def test_two_processes_refuse_a_file_that_is_not_utf8_as_one_does(tmp_path, capsys, monkeypatch):
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"{}\n" * 50 + b'{"event_name": "\xff"}\n' + b"{}\n")
    monkeypatch.setattr(parallel, "BLOCK_BYTES", 16)
    outcomes = []
    for jobs in ("1", "2"):
        with pytest.raises(SystemExit) as exited:
            run(capsys, "--jobs", jobs, str(path))
        outcomes.append(str(exited.value.code))
    assert outcomes[0] == outcomes[1]
    assert "not UTF-8" in outcomes[0]
