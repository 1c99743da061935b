"""Both cores for large files: `capi normalize --jobs N` and `capi validate --jobs N` check (and
hash) JSON Lines in worker processes, a block of lines each, and write exactly what one process
writes, in input order.

The main process reads the file in blocks cut after a newline (at most `BLOCK_BYTES`, small enough
that every worker gets several: `block_size`), as bytes (no decoding or splitting there: it stays a
small share of a core), and hands them out, at most two per worker in flight (memory stays flat
whatever the file's size). Each worker decodes its block and reads its lines as capi.tools.eventfile
reads the file (UTF-8, universal newlines), runs the same checks (capi.meta.contract.check_event,
with the same `now` and settings) and sends back, per event, its output line or its messages
(`normalize`), or its verdict as a record (`validate`), numbered within the block. Event and line
numbers depend on every earlier block (a line may hold a whole Meta body), so the main process adds
them up as the blocks come back.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from capi.meta.contract import Contract, EventResult
from capi.tools.eventfile import FileEvent, json_lines
from capi.tools.jsonout import compact_line

BLOCK_BYTES = 1 << 20  # about 2,000 events of a typical export: the largest block
MIN_BLOCK_BYTES = 64 << 10  # the smallest block a file is cut into (BLOCK_BYTES wins if less)
BLOCKS_PER_JOB = 8  # a file is cut into at least this many blocks per worker, when it can be
AUTO_MIN_BYTES = 512 << 10  # below this a second process costs more than it saves


def cores() -> int:
    """The cores this process may run on (the affinity mask where the system has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def default_jobs(path: str) -> int:
    """`--jobs` when not given: every available core for a file of 512 KiB or more, else 1."""
    try:
        big = path != "-" and os.path.getsize(path) >= AUTO_MIN_BYTES
    except OSError:
        return 1
    return cores() if big else 1


def block_size(path: str, jobs: int) -> int:
    """The size of the blocks `path` is handed out in to `jobs` workers: small enough that
    every worker gets several (BLOCKS_PER_JOB) and the last one to finish is not left alone
    with a large block, large enough that handing them out stays cheap (MIN_BLOCK_BYTES), at
    most BLOCK_BYTES."""
    try:
        share = os.path.getsize(path) // (max(jobs, 1) * BLOCKS_PER_JOB)
    except OSError:
        share = BLOCK_BYTES
    return min(BLOCK_BYTES, max(MIN_BLOCK_BYTES, share))


def blocks(path: str, size: int) -> Iterator[bytes]:
    """The file's bytes in blocks of about `size` bytes (block_size), each cut just after a
    newline (the last one may end without): a line is never split, and as b"\\n" never occurs
    inside a UTF-8 sequence, nor is a character (nor a "\\r\\n" pair). A line longer than
    `size` makes a block of its own size."""
    rest: list[bytes] = []  # the start of a line that goes on in the next read
    with open(path, "rb") as stream:
        while data := stream.read(size):
            cut = data.rfind(b"\n") + 1
            if not cut:
                rest.append(data)
                continue
            yield b"".join([*rest, data[:cut]])
            rest = [data[cut:]] if cut < len(data) else []
    if rest:
        yield b"".join(rest)


def _lines(block: bytes) -> Iterator[tuple[int, str]]:
    """The lines of a block, numbered from 1, read exactly as a text file is read."""
    return enumerate(io.TextIOWrapper(io.BytesIO(block), encoding="utf-8"), start=1)


# What a worker sends back for a block: the number of its lines, and its events' outcomes, each
# starting with (index within the block, line number within the block or None).
Outcomes = tuple[int, list[tuple[Any, ...]]]


def _per_block(
    block: bytes, one: Callable[[FileEvent, EventResult | None], tuple[Any, ...]], *checks: Any
) -> Outcomes:
    lines = list(_lines(block))
    return len(lines), [one(item, checked(item, *checks)) for item in json_lines(lines)]


# One event's outcome: (index, line number, output line or None, messages). An event is skipped
# when its output line is None; its first message says why.
Normalized = tuple[int, int | None, str | None, list[str]]


def normalize_block(task: tuple[bytes, float, Contract]) -> Outcomes:
    """What `capi normalize` writes for one block of the file (in a worker process)."""
    block, *checks = task
    return _per_block(block, normalized, *checks)


# One event's verdict for `capi validate`: (index, line number, its record: what --json prints
# for it, "index" and "line" set by the caller).
Validated = tuple[int, int | None, dict[str, Any]]


def validate_block(task: tuple[bytes, float, Contract]) -> Outcomes:
    """What `capi validate` reports for one block of the file (in a worker process)."""
    block, *checks = task
    return _per_block(block, validated, *checks)


def validated(item: FileEvent, result: EventResult | None) -> Validated:
    """One event's verdict as `capi validate` reports it (`result` None: unreadable)."""
    if result is None:
        error = {"path": "", "code": item.error_code, "message": item.error}
        record = {"index": item.index, "line": item.line, "status": "rejected", "errors": [error]}
    else:
        record = {**result.as_dict(), "line": item.line}
    return item.index, item.line, record


def checked(item: FileEvent, now: float, contract: Contract) -> EventResult | None:
    """Ingest's verdict on one event of a file (None when it could not be read as JSON), by
    the contract built from the same settings as ingest's."""
    if item.error:
        return None
    return contract.check(item.value, item.index, now=now)


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
