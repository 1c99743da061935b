"""Reading a file of events for the command line: `-` (stdin), a Meta body, a JSON array, a single
event object, or JSON Lines (one event, or one Meta body, per line). A line that is not JSON is
reported at its index and does not stop the others from being read.

The relay's own outputs read back as events too, so they can be checked and sent again: a line
of the local dead-letter file (`{"data": base64, "attributes"}`: the queued event) and a line of
`capi send`'s rejected file (`{"index", "errors", "event"}`: the event, perhaps fixed by hand).
"""

from __future__ import annotations

import base64
import itertools
import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from capi.meta.body import BodyError, parse_json


@dataclass
class FileEvent:
    index: int
    value: Any = None
    line: int | None = None  # 1-based line number for JSON Lines input
    error: str = ""  # set when this entry could not be read as JSON
    error_code: str = "invalid_json"  # the code ingest answers for the same text
    test_event_code: str = ""


def _unwrap(value: Any) -> Any:
    """The event inside a dead-letter or rejected-file record; anything else as it is."""
    if not isinstance(value, dict):
        return value
    if isinstance(value.get("data"), str) and isinstance(value.get("attributes"), dict):
        try:
            return json.loads(base64.b64decode(value["data"], validate=True))
        except ValueError:
            return value
    if "event" in value and "errors" in value and "event_name" not in value:
        return value["event"]
    return value


def parse_events(text: str) -> list[FileEvent]:
    """Every event of a file's text, in input order."""
    stripped = text.strip()
    if not stripped:
        return []
    try:
        # ingest's own strict parser: duplicate keys, NaN, non-finite numbers, depth, string
        # length and unpaired surrogates are refused the same way on both ways in
        whole = parse_json(stripped.encode("utf-8", "surrogatepass"))
    except BodyError:
        pass  # not one usable JSON document: JSON Lines (each line says what is wrong with it)
    else:
        if isinstance(whole, dict) and "data" in whole:
            if not isinstance(whole["data"], list):
                return [FileEvent(0, error='"data" must be an array of events')]
            code = str(whole.get("test_event_code") or "")
            return [FileEvent(i, e, test_event_code=code) for i, e in enumerate(whole["data"])]
        values = whole if isinstance(whole, list) else [whole]
        return [FileEvent(i, _unwrap(e)) for i, e in enumerate(values)]
    return list(json_lines(enumerate(text.split("\n"), start=1)))


def json_lines(lines: Iterable[tuple[int, str]], first_index: int = 0) -> Iterator[FileEvent]:
    """The events of JSON Lines, numbered from `first_index`: one event, or one Meta body, per
    line; a line that is not JSON is one entry with its error."""
    index = first_index
    for lineno, line in lines:
        if not line.strip():
            continue
        try:
            value = parse_json(line.encode("utf-8", "surrogatepass"))
        except BodyError as exc:
            yield FileEvent(index, line=lineno, error=exc.message, error_code=exc.code)
            index += 1
            continue
        if isinstance(value, dict) and isinstance(value.get("data"), list):
            code = str(value.get("test_event_code") or "")
            for event in value["data"]:
                yield FileEvent(index, event, line=lineno, test_event_code=code)
                index += 1
        else:
            yield FileEvent(index, _unwrap(value), line=lineno)
            index += 1


def _sniff(lines: Iterator[tuple[int, str]]) -> tuple[list[tuple[int, str]], bool]:
    """(every line read, blank ones included; whether the input is JSON Lines): it is when its
    first line of content is a JSON value of its own and another line of content follows.
    Reads up to that second line of content."""
    consumed: list[tuple[int, str]] = []
    content = 0
    for lineno, line in lines:
        consumed.append((lineno, line))
        content += bool(line.strip())
        if content == 2:
            break
    if content < 2:  # one line of content at most: a document on one line
        return consumed, False
    first = next(line for _, line in consumed if line.strip())
    try:
        parse_json(first.encode("utf-8", "surrogatepass"))
    except BodyError:  # a document over several lines (or a broken first line)
        return consumed, False
    return consumed, True


def is_json_lines(path: str) -> bool:
    """Whether iter_events would stream the file as JSON Lines."""
    with open(path, encoding="utf-8") as stream:
        return _sniff(enumerate(stream, start=1))[1]


def iter_events(path: str) -> Iterator[FileEvent]:
    """The events of a file (`-`: stdin), as parse_events reads them, with flat memory for JSON
    Lines: once the first line is a JSON value of its own and a second line follows, the file
    can only be JSON Lines, and it is read one line at a time. Anything else (one document,
    pretty-printed or on one line) is read whole, exactly as before."""
    stream = sys.stdin if path == "-" else open(path, encoding="utf-8")  # noqa: SIM115
    try:
        lines = enumerate(stream, start=1)
        consumed, streamed = _sniff(lines)
        if streamed:
            yield from json_lines(itertools.chain(consumed, lines))
        else:
            yield from parse_events("".join(line for _, line in consumed) + stream.read())
    finally:
        if stream is not sys.stdin:
            stream.close()
