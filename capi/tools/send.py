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
  rejected and written out) are saved in the state file. A rerun sends exactly the events whose
  content was not handled yet: rows fixed in place or appended are sent, handled rows are not,
  whatever their position, and a changed file is reported as such. `--restart` forgets the state.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from capi.errors import SendAborted
from capi.meta.answers import Outcome
from capi.meta.body import MAX_EVENTS_PER_REQUEST
from capi.meta.contract import check_event
from capi.meta.graph import GraphClient, GraphResult

MAX_BATCH = MAX_EVENTS_PER_REQUEST


@dataclass
class SendReport:
    total: int = 0
    delivered: int = 0
    rejected: int = 0  # by our validation or by Meta
    skipped: int = 0  # already handled by an earlier, resumed run
    requests: int = 0
    rejected_ids: list[str] = field(default_factory=list)


@dataclass
class _Item:
    index: int
    event: dict[str, Any]


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
    ) -> None:
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
        events: Sequence[Any],
        *,
        pending: Sequence[int],
        checkpoint: Callable[[list[int]], None],
        unreadable: dict[int, str] | None = None,
    ) -> SendReport:
        """Send events[i] for each i of `pending`, in batches; `checkpoint(indexes)` is called
        with the indexes each batch handled (delivered or written out as rejected).
        `unreadable` maps input indexes that could not be read to the reason."""
        unreadable = unreadable or {}
        self.report.total = len(events)
        self.report.skipped = len(events) - len(pending)
        now = time.time()
        for offset in range(0, len(pending), self.batch_size):
            chunk = pending[offset : offset + self.batch_size]
            batch: list[_Item] = []
            for index in chunk:
                if index in unreadable:
                    error = {"path": "", "code": "invalid_json", "message": unreadable[index]}
                    self._reject(index, None, [error])
                    continue
                result = check_event(events[index], index, now=now)
                if not result.accepted:
                    self._reject(index, events[index], [p.as_dict() for p in result.errors])
                    continue
                assert result.prepared is not None  # accepted: an object without errors
                batch.append(_Item(index, result.prepared))
            if batch:
                self._deliver(batch)
            checkpoint(list(chunk))
            self.progress(self.report)
        return self.report


def event_digest(value: Any, unreadable: str = "") -> str:
    """What identifies one input event for resuming: a digest of its content."""
    text = (
        "unreadable:" + unreadable
        if unreadable
        else json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    )
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class StateFile:
    """What one input file's earlier runs handled: a count per event digest, and the digest of
    the whole file as it was then (to say "the file changed")."""

    VERSION = 2

    def __init__(self, path: Path, source: str, file_digest: str) -> None:
        self.path = path
        self.source = source
        self.file_digest = file_digest
        self.handled: Counter[str] = Counter()
        self.previous_file_digest = ""

    def load(self) -> None:
        try:
            state = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return
        if not isinstance(state, dict) or state.get("version") != self.VERSION:
            return
        if state.get("source") != self.source or not isinstance(state.get("handled"), dict):
            return
        self.previous_file_digest = str(state.get("file_digest") or "")
        self.handled = Counter(
            {str(k): int(v) for k, v in state["handled"].items() if isinstance(v, int) and v > 0}
        )

    @property
    def file_changed(self) -> bool:
        return bool(self.handled) and self.previous_file_digest != self.file_digest

    def pending(self, digests: Sequence[str]) -> list[int]:
        """The indexes still to send: each digest is skipped as often as it was handled."""
        left = Counter(self.handled)
        pending = []
        for index, digest in enumerate(digests):
            if left[digest] > 0:
                left[digest] -= 1
            else:
                pending.append(index)
        return pending

    def save(self, digests: Sequence[str]) -> None:
        self.handled.update(digests)
        state = {
            "version": self.VERSION,
            "source": self.source,
            "file_digest": self.file_digest,
            "done": sum(self.handled.values()),
            "handled": dict(self.handled),
        }
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(self.path)


def print_progress(stream: TextIO) -> Callable[[SendReport], None]:
    def show(r: SendReport) -> None:
        done = r.skipped + r.delivered + r.rejected
        width = 30
        filled = int(width * done / r.total) if r.total else width
        bar = "#" * filled + "-" * (width - filled)
        end = "\r" if stream.isatty() else "\n"
        stream.write(
            f"[{bar}] {done}/{r.total} events: {r.delivered} delivered, {r.rejected} rejected, "
            f"{r.requests} requests{end}"
        )
        stream.flush()

    return show


def default_rejected_path(source: str) -> str:
    return "rejected.jsonl" if source == "-" else f"{source}.rejected.jsonl"
