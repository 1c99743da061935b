"""Both cores for large files: `capi normalize --jobs N` and `capi validate --jobs N` check (and
hash) JSON Lines in worker processes, a block of lines each, and write exactly what one process
writes, in input order.

The main process reads the file and hands out blocks of `BLOCK_LINES` lines, at most two per
worker in flight (memory stays flat whatever the file's size); each worker reads its lines as
capi.tools.eventfile does, runs the same checks (capi.meta.contract.check_event, with the
same `now` and settings) and sends back, per event, its output line or its messages
(`normalize`), or its verdict as a record (`validate`). Event
numbers depend on every earlier block (a line may hold a whole Meta body), so the main process
numbers the events as the blocks come back.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from capi.meta.contract import EventResult, check_event
from capi.tools.eventfile import FileEvent, json_lines
from capi.tools.jsonout import compact_line

BLOCK_LINES = 2000
AUTO_MIN_BYTES = 8 << 20  # below this a second process costs more than it saves


def cores() -> int:
    """The cores this process may run on (the affinity mask where the system has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def default_jobs(path: str) -> int:
    """`--jobs` when not given: every available core for a file of 8 MiB or more, else 1."""
    try:
        big = path != "-" and os.path.getsize(path) >= AUTO_MIN_BYTES
    except OSError:
        return 1
    return cores() if big else 1


def blocks(path: str, size: int = 0) -> Iterator[list[tuple[int, str]]]:
    """The file's lines, numbered from 1, in blocks of `size` (BLOCK_LINES)."""
    size = size or BLOCK_LINES
    block: list[tuple[int, str]] = []
    with open(path, encoding="utf-8") as stream:
        for number, line in enumerate(stream, start=1):
            block.append((number, line))
            if len(block) >= size:
                yield block
                block = []
    if block:
        yield block


# One event's outcome from a worker: (index within the block, line number, output line or None,
# messages). An event is skipped when its output line is None; its first message says why.
Normalized = tuple[int, int | None, str | None, list[str]]


def normalize_block(task: tuple[list[tuple[int, str]], float, str, str]) -> list[Normalized]:
    """What `capi normalize` writes for one block of lines (in a worker process)."""
    lines, now, default_country, date_order = task
    return [
        normalized(item, checked(item, now, default_country, date_order))
        for item in json_lines(lines)
    ]


# One event's verdict for `capi validate`: (index within the block, its record: what --json
# prints for it, with "index" and "line").
Validated = tuple[int, dict[str, Any]]


def validate_block(task: tuple[list[tuple[int, str]], float, str, str]) -> list[Validated]:
    """What `capi validate` reports for one block of lines (in a worker process)."""
    lines, now, default_country, date_order = task
    return [
        validated(item, checked(item, now, default_country, date_order))
        for item in json_lines(lines)
    ]


def validated(item: FileEvent, result: EventResult | None) -> Validated:
    """One event's verdict as `capi validate` reports it (`result` None: unreadable)."""
    if result is None:
        error = {"path": "", "code": item.error_code, "message": item.error}
        record = {"index": item.index, "line": item.line, "status": "rejected", "errors": [error]}
    else:
        record = {**result.as_dict(), "line": item.line}
    return item.index, record


def checked(
    item: FileEvent, now: float, default_country: str, date_order: str
) -> EventResult | None:
    """Ingest's verdict on one event of a file (None when it could not be read as JSON)."""
    if item.error:
        return None
    return check_event(
        item.value, item.index, now=now, default_country=default_country, date_order=date_order
    )


def normalized(item: FileEvent, result: EventResult | None) -> Normalized:
    """What `capi normalize` writes for one event of the file (`result` None: unreadable)."""
    if result is None:
        return item.index, item.line, None, [item.error]
    if not result.accepted:
        reasons = "; ".join(f"{p.path or '(event)'}: {p.message}" for p in result.errors)
        return item.index, item.line, None, [reasons]
    warnings = [f"{p.path}: {p.message}" for p in result.warnings]
    return item.index, item.line, compact_line(result.prepared), warnings


def ordered_map(function: Callable[[Any], Any], tasks: Iterable[Any], jobs: int) -> Iterator[Any]:
    """function(task) for each task, in `jobs` processes, results in task order, with at most
    2 x jobs tasks in flight (Pool.imap would read every task ahead)."""
    # fork is quick and safe on Linux; elsewhere (macOS) the platform's default, spawn
    method = "fork" if sys.platform.startswith("linux") else "spawn"
    with multiprocessing.get_context(method).Pool(jobs) as pool:
        pending: deque = deque()
        for task in tasks:
            pending.append(pool.apply_async(function, (task,)))
            if len(pending) >= 2 * jobs:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()
