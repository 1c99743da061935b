"""`capi send FILE`: deliver a file of events straight to Meta, in batches of up to 1,000.

- Every event goes through the relay's checks first (enrich, validate); an invalid one is not
  sent but written to the rejected file with its errors.
- One invalid event makes Meta reject its whole batch (META-RULES §1). A rejected batch
  is therefore split in halves and resent until the offending events are isolated: the rest is
  delivered, and each offender is written out with Meta's reason. A rejected request was not
  processed, so resending its halves cannot duplicate anything.
- Transient failures are retried with exponential backoff; a bad token, missing permission or
  unknown pixel stops the run (nothing more can succeed) with a clear message.
- Resumable by content: after every batch the digests of the events it handled (delivered, or
  rejected and written out) are appended to the state file. A rerun sends exactly the events
  whose content was not handled yet: rows fixed in place or appended are sent, handled rows are
  not, whatever their position, and a changed file is reported as such. `--restart` forgets the
  state.
- Streaming: events are read, checked and sent one batch at a time, so memory stays flat
  however large the file (the state of a resumed run costs 26 bytes per handled event).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from capi.errors import SendAborted
from capi.meta.answers import Outcome
from capi.meta.body import MAX_EVENTS_PER_REQUEST
from capi.meta.contract import Contract
from capi.meta.graph import GraphClient, GraphResult, build_payload

MAX_BATCH = MAX_EVENTS_PER_REQUEST


@dataclass
class SendReport:
    total: int | None = 0  # None: not known in advance (stdin)
    delivered: int = 0
    rejected: int = 0  # by our validation or by Meta
    skipped: int = 0  # already handled by an earlier, resumed run
    dropped: int = 0  # valid, but the consent policy says not to send them
    printed: int = 0  # a dry run: printed instead of sent
    requests: int = 0
    rejected_ids: list[str] = field(default_factory=list)


@dataclass
class _Item:
    index: int
    event: dict[str, Any]


@dataclass
class InputEvent:
    """One event of the input file, as `capi send` reads it."""

    index: int
    value: Any
    digest: str  # event_digest(): what the state file records once it is handled
    error: str = ""  # set when the entry could not be read as JSON
    handled: bool = False  # an earlier run handled it: skipped


class Backfill:
    def __init__(
        self,
        graph: GraphClient,
        token: str,
        pixel_id: str,
        *,
        test_event_code: str = "",
        batch_size: int = MAX_BATCH,
        max_retries: int = 6,
        backoff_s: float = 1.0,
        rejected_out: TextIO,
        progress: Callable[[SendReport], None] | None = None,
        sleep: Callable[[float], None] | None = None,
        contract: Contract | None = None,
        dry_run: TextIO | None = None,
    ) -> None:
        """`contract`: the checks and hashes of every door, from the same settings as ingest.
        `dry_run`: write each request's JSON (what would be POSTed, without the token) there,
        one line per request, and send nothing."""
        if not 1 <= batch_size <= MAX_BATCH:
            raise ValueError(f"batch size must be between 1 and {MAX_BATCH}")
        self.graph = graph
        self.token = token
        self.pixel_id = pixel_id
        self.test_event_code = test_event_code
        self.batch_size = batch_size
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.rejected_out = rejected_out
        self.progress = progress or (lambda report: None)
        self.sleep = sleep or time.sleep  # looked up now, so tests can patch time.sleep
        self.contract = contract or Contract()
        self.dry_run = dry_run
        self.report = SendReport()

    def _reject(self, index: int, event: Any, errors: list[dict[str, Any]]) -> None:
        self.report.rejected += 1
        event_id = event.get("event_id") if isinstance(event, dict) else None
        if event_id:
            self.report.rejected_ids.append(str(event_id))
        record = {"index": index, "event_id": event_id, "errors": errors, "event": event}
        self.rejected_out.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.rejected_out.flush()

    def _post(self, items: Sequence[_Item]) -> GraphResult:
        for attempt in range(self.max_retries + 1):
            result = self.graph.send(
                self.pixel_id,
                self.token,
                [i.event for i in items],
                test_event_code=self.test_event_code,
            )
            self.report.requests += 1
            if result.outcome is not Outcome.TRANSIENT:
                return result
            if attempt < self.max_retries:
                self.sleep(min(self.backoff_s * 2**attempt, 60.0))
        raise SendAborted(f"Meta kept failing transiently ({result.reason}); run again to resume")

    def _deliver(self, items: Sequence[_Item]) -> None:
        """Send items; isolate and write out the ones Meta rejects."""
        if self.dry_run is not None:
            events = [i.event for i in items]
            record = {
                "dry_run": True,
                "url": self.graph.events_url(self.pixel_id),
                "payload": build_payload(events, test_event_code=self.test_event_code),
            }
            self.dry_run.write(json.dumps(record, ensure_ascii=False) + "\n")
            self.report.printed += len(items)
            self.report.requests += 1
            return
        result = self._post(items)
        if result.outcome is Outcome.DELIVERED:
            self.report.delivered += len(items)
            return
        if result.outcome in (Outcome.TOKEN, Outcome.CONFIG):
            raise SendAborted(f"Meta refused the request: {result.reason}")
        if len(items) == 1:
            error = result.error
            reason = {
                "path": "",
                "code": "meta_rejected",
                "message": result.reason,
                "meta_code": error.code if error else None,
                "meta_subcode": error.subcode if error else None,
            }
            self._reject(items[0].index, items[0].event, [reason])
            return
        middle = len(items) // 2
        self._deliver(items[:middle])
        self._deliver(items[middle:])

    def run(
        self,
        inputs: Iterable[InputEvent],
        *,
        checkpoint: Callable[[list[str]], None],
        total: int | None = None,
    ) -> SendReport:
        """Send the inputs not handled yet, in batches of `batch_size` as they are read;
        `checkpoint(digests)` is called with the digests of the events each batch handled
        (delivered or written out as rejected). `total` (when known) is for the progress."""
        self.report.total = total
        now = time.time()
        chunk: list[InputEvent] = []
        for item in inputs:
            if item.handled:
                self.report.skipped += 1
                continue
            chunk.append(item)
            if len(chunk) >= self.batch_size:
                self._send_chunk(chunk, now, checkpoint)
                chunk = []
        if chunk:
            self._send_chunk(chunk, now, checkpoint)
        if total is None:
            self.report.total = self.report.skipped + self.report.delivered + self.report.rejected
        return self.report

    def _send_chunk(
        self, chunk: list[InputEvent], now: float, checkpoint: Callable[[list[str]], None]
    ) -> None:
        batch: list[_Item] = []
        for item in chunk:
            if item.error:
                error = {"path": "", "code": "invalid_json", "message": item.error}
                self._reject(item.index, None, [error])
                continue
            result = self.contract.check(item.value, item.index, now=now)
            if result.dropped and not result.errors:
                self.report.dropped += 1
                continue
            if not result.accepted:
                self._reject(item.index, item.value, [p.as_dict() for p in result.errors])
                continue
            assert result.prepared is not None  # accepted: an object without errors
            batch.append(_Item(item.index, result.prepared))
        if batch:
            self._deliver(batch)
        checkpoint([item.digest for item in chunk])
        self.progress(self.report)


def event_digest(value: Any, unreadable: str = "") -> str:
    """What identifies one input event for resuming: a digest of its content."""
    text = (
        "unreadable:" + unreadable
        if unreadable
        else json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    )
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class _DigestCounts:
    """How many times each digest was handled, in 26 bytes per entry: the 128-bit digests as
    two sorted arrays of 64-bit halves and a count beside each (a dict of strings would take
    about 150 bytes per entry, 150 MB for a million handled events)."""

    def __init__(self, digests: Iterable[str]) -> None:
        keys = sorted(int(digest, 16) for digest in digests)  # 52 bytes each, for a moment
        self.high, self.low, self.counts = array("Q"), array("Q"), array("L")
        previous = None
        for key in keys:
            if key == previous:
                self.counts[-1] += 1
                continue
            previous = key
            self.high.append(key >> 64)
            self.low.append(key & 0xFFFF_FFFF_FFFF_FFFF)
            self.counts.append(1)
        del keys
        self.left = array("L", self.counts)
        self.total = sum(self.counts)

    def reset(self) -> None:
        """Every digest claimable again as often as it was handled."""
        self.left = array("L", self.counts)

    def __iter__(self) -> Iterator[str]:
        """Each digest, as often as it was handled."""
        for high, low, count in zip(self.high, self.low, self.counts, strict=True):
            digest = f"{(high << 64) | low:032x}"
            for _ in range(count):
                yield digest

    def claim(self, digest: str) -> bool:
        """True, once per time it was handled, for a digest an earlier run handled."""
        key = int(digest, 16)
        high, low = key >> 64, key & 0xFFFF_FFFF_FFFF_FFFF
        at = bisect_left(self.high, high)
        while at < len(self.high) and self.high[at] == high:
            if self.low[at] == low and self.left[at] > 0:
                self.left[at] -= 1
                return True
            at += 1
        return False


_DIGEST = re.compile(r"[0-9a-f]{32}")


def _journal_digests(lines: Iterable[str]) -> Iterator[str]:
    for line in lines:
        if line.endswith("\n"):  # a line cut short by a crash is not counted
            yield from (token for token in line.split() if _DIGEST.fullmatch(token))


def _v2_digests(state: dict[str, Any]) -> Iterator[str]:
    handled = state.get("handled")
    if isinstance(handled, dict):
        for key, count in handled.items():
            if isinstance(count, int) and count > 0 and _DIGEST.fullmatch(str(key)):
                yield from [str(key)] * count


class StateFile:
    """What one input file's earlier runs handled, as a journal: a header line (version, source,
    digest of the file as it was then), then one line of event digests per handled batch. A run
    rewrites it once when it starts (its own file digest, the digests so far on one line) and
    then appends, so saving a batch costs that batch alone. A last line cut short by a crash is
    ignored: those events are sent again (Meta deduplicates them by event_id). Version 2 files
    (one JSON object, rewritten after every batch) are read too."""

    VERSION = 3

    def __init__(self, path: Path, source: str, file_digest: str) -> None:
        self.path = path
        self.source = source
        self.file_digest = file_digest
        self.previous_file_digest = ""
        self.counts = _DigestCounts(())
        self._out: TextIO | None = None

    def load(self) -> None:
        """Read what earlier runs handled (nothing when the file is missing or not ours)."""
        try:
            with self.path.open(encoding="utf-8") as state:
                first = state.readline()
                try:
                    header = json.loads(first)
                except ValueError:
                    return
                if not isinstance(header, dict) or header.get("source") != self.source:
                    return
                if header.get("version") == 2:
                    counts = _DigestCounts(_v2_digests(header))
                elif header.get("version") == self.VERSION:
                    counts = _DigestCounts(_journal_digests(state))
                else:
                    return
        except (OSError, ValueError):
            return
        self.previous_file_digest = str(header.get("file_digest") or "")
        self.counts = counts

    @property
    def file_changed(self) -> bool:
        return self.counts.total > 0 and self.previous_file_digest != self.file_digest

    def claim(self, digest: str) -> bool:
        """Whether an earlier run handled this event (each handling is claimed once)."""
        return self.counts.claim(digest)

    def start(self) -> None:
        """Rewrite the journal for this run: its header, and the digests earlier runs handled,
        on lines of 1,000 (before any claim of this run)."""
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        with tmp.open("w", encoding="utf-8") as out:
            header = {"version": self.VERSION, "source": self.source}
            out.write(json.dumps({**header, "file_digest": self.file_digest}) + "\n")
            line: list[str] = []
            for digest in self.counts:
                line.append(digest)
                if len(line) >= 1000:
                    out.write(" ".join(line) + "\n")
                    line = []
            if line:
                out.write(" ".join(line) + "\n")
        tmp.replace(self.path)
        self._out = self.path.open("a", encoding="utf-8")

    def save(self, digests: Sequence[str]) -> None:
        """Record one handled batch (appended, flushed and synced before the next batch)."""
        if self._out is None:
            self.start()
        assert self._out is not None
        self._out.write(" ".join(digests) + "\n")
        self._out.flush()
        os.fsync(self._out.fileno())

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None


def claimed(state: StateFile | None, events: Iterable[InputEvent]) -> Iterator[InputEvent]:
    """The events with `handled` set for those an earlier run handled."""
    for event in events:
        if state is not None and state.claim(event.digest):
            event.handled = True
        yield event


def print_progress(stream: TextIO) -> Callable[[SendReport], None]:
    def show(r: SendReport) -> None:
        done = r.skipped + r.delivered + r.rejected
        width = 30
        filled = int(width * done / r.total) if r.total else width
        bar = "#" * filled + "-" * (width - filled)
        end = "\r" if stream.isatty() else "\n"
        count = f"{done}" if r.total is None else f"[{bar}] {done}/{r.total}"  # stdin: no total
        stream.write(
            f"{count} events: {r.delivered} delivered, {r.rejected} rejected, "
            f"{r.requests} requests{end}"
        )
        stream.flush()

    return show


def default_rejected_path(source: str) -> str:
    return "rejected.jsonl" if source == "-" else f"{source}.rejected.jsonl"
