"""`capi audit`: what Meta will be able to match, over a file of events or the relay's own records.

Inputs, mixed freely and told apart line by line:
- events, as `capi validate` reads them (a Meta body, a JSON array, JSON Lines): each goes through
  ingest's contract (capi.meta.contract), so its status, match keys and grade are what ingest
  would answer;
- the relay's dead letters: a line of the local dead-letter file, or of `--dlq-subscription`
  (`{"data": base64 event, "attributes": {...dlq_reason...}}`): the event, counted as dead-lettered;
- an export of the relay's log lines (Cloud Logging's JSON export, one entry per line with a
  `jsonPayload`, or the bare lines): `ingest event`, `events delivered` (one line per Graph
  request, with its events' ids), the sampled `event delivered` and `event dead-lettered`.

The summary: events by status, coverage per identifier (overall and per event name), the grade
distribution (capi.meta.match; the relay's estimate, not Meta's Event Match Quality), the three
failures every audit finds with counts and example event ids, and the top rejection reasons.
Printed as text, `--json`, or `--html FILE` (one self-contained page, charts as inline SVG).

JSON Lines are read one line at a time with flat memory; a file that is one JSON document (an
array, a Meta body) is read whole.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
import json
import os
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from capi.meta.contract import Contract
from capi.meta.match import GRADES, KEY_ORDER, click_id_only
from capi.tools.eventfile import parse_events

EXAMPLES = 5  # example event ids kept per failure and per reason
PROGRESS_FROM_BYTES = 5_000_000  # a progress bar (on a terminal) for inputs larger than this
DELIVERED_LINE = "events delivered"  # capi.forward.delivery_log.DELIVERED_MESSAGE
LOG_MESSAGES = {"ingest event", "event delivered", "event dead-lettered"}
FAILURES = {
    "no_shared_event_id": (
        "No shared event_id",
        "web events without the caller's event_id: the Pixel cannot share it, so Meta counts the "
        "conversion twice (browser and server)",
    ),
    "bad_hash": (
        "Hashed placeholders",
        "pre-hashed values that are the hash of an empty or placeholder value (null, "
        "undefined...): they match nobody",
    ),
    "click_id_only": (
        "Click id as the only key",
        "events whose only customer key is the fbc click id: almost never matched",
    ),
}


@dataclass
class Record:
    """One event as the audit counts it."""

    event_id: str
    event_name: str
    status: str  # accepted, rejected, dropped, delivered, dead_lettered, ...
    keys: tuple[str, ...]
    grade: str  # "" when the line does not say (a dead-letter log line): not counted as "none"
    action_source: str = ""
    error_codes: tuple[str, ...] = ()
    warning_codes: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()  # rejection reasons: "path: code" or the dead-letter reason
    # Log lines only: which event the line is about. The ingest line and the delivery line of
    # one event are one event, counted once, with the later outcome.
    same_event: bytes | None = None


# An event's status moves forward as its log lines are read: accepted, then delivered or
# dead-lettered (an event fanned out to two pixels may be both: dead-lettered wins, it needs
# a look).
_STATUS_RANK = {"delivered": 1, "dead_lettered": 2}
MAX_PROBLEMS = 20  # unreadable entries named one by one; the rest are counted


@dataclass
class Audit:
    """Counts over records. Memory grows with distinct names and codes, and, for log exports,
    with a 16-byte digest per distinct event (to count its lines as one event)."""

    total: int = 0
    unreadable: int = 0
    problems: list[str] = field(default_factory=list)  # "where: what", the first MAX_PROBLEMS
    by_status: Counter = field(default_factory=Counter)
    by_grade: Counter = field(default_factory=Counter)
    by_key: Counter = field(default_factory=Counter)
    by_name: Counter = field(default_factory=Counter)
    by_name_key: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    by_name_grade: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    failures: Counter = field(default_factory=Counter)
    failure_examples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    reasons: Counter = field(default_factory=Counter)
    reason_examples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    _events: dict[bytes, tuple[str, bool]] = field(default_factory=dict)  # status, graded

    def skip(self, where: str, what: str) -> None:
        """An entry that could not be read: counted, and named while there are few."""
        self.unreadable += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(f"{where}: {what}"[:300])

    def add(self, record: Record) -> None:
        name = record.event_name or "(no name)"
        seen = self._events.get(record.same_event) if record.same_event else None
        if seen is None:
            self.total += 1
            self.by_name[name] += 1
            self.by_status[record.status] += 1
            status, graded = record.status, False
        else:
            status, graded = seen
            if _STATUS_RANK.get(record.status, 0) > _STATUS_RANK.get(status, 0):
                self.by_status[status] -= 1
                if not self.by_status[status]:
                    del self.by_status[status]
                self.by_status[record.status] += 1
                status = record.status
        if record.grade and not graded:
            graded = True
            self.by_grade[record.grade] += 1
            self.by_name_grade[name][record.grade] += 1
            for key in record.keys:
                self.by_key[key] += 1
                self.by_name_key[name][key] += 1
            for failure in failures_of(record):
                self.failures[failure] += 1
                if len(self.failure_examples[failure]) < EXAMPLES:
                    self.failure_examples[failure].append(record.event_id or "(no id)")
        for reason in record.reasons:
            self.reasons[reason] += 1
            if len(self.reason_examples[reason]) < EXAMPLES:
                self.reason_examples[reason].append(record.event_id or "(no id)")
        if record.same_event:
            self._events[record.same_event] = (status, graded)

    def summary(self, top: int = 10) -> dict[str, Any]:
        def share(n: int, of: int) -> float:
            return round(100 * n / of, 1) if of else 0.0

        keys = [k for k in KEY_ORDER if self.by_key[k]]
        return {
            "events": self.total,
            "unreadable": self.unreadable,
            "problems": list(self.problems),
            "by_status": dict(self.by_status.most_common()),
            "grades": {g: self.by_grade[g] for g in GRADES},
            "ungraded": self.total - sum(self.by_grade[g] for g in GRADES),
            "coverage": {
                k: {"events": self.by_key[k], "percent": share(self.by_key[k], self.total)}
                for k in keys
            },
            "by_event_name": {
                name: {
                    "events": count,
                    "grades": {g: self.by_name_grade[name][g] for g in GRADES},
                    "coverage": {k: share(self.by_name_key[name][k], count) for k in keys},
                }
                for name, count in self.by_name.most_common()
            },
            "failures": {
                kind: {
                    "title": FAILURES[kind][0],
                    "explanation": FAILURES[kind][1],
                    "events": self.failures[kind],
                    "examples": self.failure_examples[kind],
                }
                for kind in FAILURES
            },
            "top_rejection_reasons": [
                {"reason": reason, "events": n, "examples": self.reason_examples[reason]}
                for reason, n in self.reasons.most_common(top)
            ],
        }


def failures_of(record: Record) -> list[str]:
    found = []
    if "derived" in record.warning_codes and record.action_source in ("website", ""):
        found.append("no_shared_event_id")
    if "placeholder" in record.warning_codes:
        found.append("bad_hash")
    if click_id_only(record.keys):
        found.append("click_id_only")
    return found


# -- reading ------------------------------------------------------------------------------------


def record_from_event(value: Any, index: int, now: float, contract: Contract) -> Record:
    result = contract.check(value, index, now=now)
    event = result.event if isinstance(result.event, dict) else {}
    match = result.match
    return Record(
        event_id=result.event_id or "",
        event_name=str(event.get("event_name") or ""),
        status=result.status,
        keys=match.keys if match else (),
        grade=match.grade if match else "none",
        action_source=str(event.get("action_source") or ""),
        error_codes=tuple(sorted({e.code for e in result.errors})),
        warning_codes=tuple(sorted({w.code for w in result.warnings})),
        reasons=tuple(f"{e.path or 'event'}: {e.code}" for e in result.errors),
    )


def _text(value: Any) -> str:
    """A log field as text: what a wrong type (a list, a number, an object) gives is empty."""
    return value if isinstance(value, str) else ""


def _texts(value: Any) -> tuple[str, ...]:
    """A log field that should be a list of strings: its strings; anything else: none."""
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _event_digest(line: dict[str, Any]) -> bytes | None:
    """Which event a log line is about (its name and id, with the test code when there is one),
    as a 16-byte digest; None without an event_id (then each line counts)."""
    event_id = line.get("event_id")
    if not isinstance(event_id, str | int) or isinstance(event_id, bool) or event_id == "":
        return None
    text = "\x1f".join((_text(line.get("event_name")), str(event_id)))
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def record_from_log(line: dict[str, Any]) -> Record:
    """A relay log line as a record. Every field is untrusted: a field of the wrong type counts
    as absent."""
    message = line.get("message")
    grade = _text(line.get("grade"))
    if message == "ingest event":
        status = _text(line.get("status")) or "unknown"
        reasons = tuple(f"ingest: {c}" for c in _texts(line.get("error_codes")))
        grade = grade or "none"
    elif message == "event delivered":
        status, reasons = "delivered", ()
    else:
        status, grade = "dead_lettered", ""  # the line does not say what the event carried
        code = line.get("error_code")
        code = code if isinstance(code, int | str) and not isinstance(code, bool) else None
        reasons = (
            f"dead-lettered: {_text(line.get('dlq_reason')) or 'unknown'}"
            + (f" (Meta code {code})" if code is not None else ""),
        )
    event_id = line.get("event_id")
    return Record(
        event_id=str(event_id)[:200] if isinstance(event_id, str | int) else "",
        event_name=_text(line.get("event_name"))[:200],
        status=status,
        keys=_texts(line.get("match_keys")),
        grade=grade if grade in GRADES or not grade else "none",
        action_source=_text(line.get("action_source")),
        error_codes=_texts(line.get("error_codes")),
        warning_codes=_texts(line.get("warning_codes")),
        reasons=reasons,
        same_event=_event_digest(line),
    )


def record_from_dead_letter(
    value: dict[str, Any], index: int, now: float, contract: Contract
) -> Record:
    attributes = value.get("attributes") or {}
    try:
        event = json.loads(base64.b64decode(value["data"], validate=True))
    except (ValueError, binascii.Error, RecursionError):
        event = None
    record = record_from_event(event, index, now, contract)
    record.status = "dead_lettered"
    reason = _text(attributes.get("dlq_reason")) or "unknown"
    code = _text(attributes.get("error_code"))
    record.reasons = (f"dead-lettered: {reason}" + (f" (Meta code {code})" if code else ""),)
    return record


def records_from_delivered_line(line: dict[str, Any]) -> list[Record]:
    """The events an `events delivered` line settles, one record each (ids by event name);
    a line without readable ids counts its `events` as id-less records."""
    records = []
    by_name = line.get("event_ids")
    if isinstance(by_name, dict):
        for name, ids in list(by_name.items())[:1000]:
            if not isinstance(ids, list):
                continue
            for event_id in ids[:1000]:
                if isinstance(event_id, str | int) and not isinstance(event_id, bool):
                    one = {"message": "event delivered", "event_name": name, "event_id": event_id}
                    records.append(record_from_log(one))
    count = line.get("events")
    if not records and isinstance(count, int) and not isinstance(count, bool):
        records = [record_from_log({"message": "event delivered"}) for _ in range(min(count, 1000))]
    return records


def classify(
    value: Any, index: int, now: float, contract: Contract | None = None
) -> Record | list[Record] | None:
    """The record for one parsed JSON value of any input kind; None for a log line of no interest
    (another message of the relay's logs), a list for a line about several events. `contract`:
    ingest's checks with the same settings (CAPI_DEFAULT_COUNTRY, CAPI_DATE_ORDER, the consent
    policy)."""
    contract = contract or Contract()
    if isinstance(value, dict):
        payload = value.get("jsonPayload") if isinstance(value.get("jsonPayload"), dict) else None
        line = payload if payload is not None else value
        if line.get("message") in LOG_MESSAGES and "event_name" in line:
            return record_from_log(line)
        if line.get("message") == DELIVERED_LINE:
            return records_from_delivered_line(line)
        if payload is not None or ("severity" in value and "message" in value):
            return None  # some other log line
        if isinstance(value.get("data"), str) and isinstance(value.get("attributes"), dict):
            return record_from_dead_letter(value, index, now, contract)
        if "event" in value and "errors" in value and "event_name" not in value:
            value = value["event"]  # a line of `capi send`'s rejected file
    return record_from_event(value, index, now, contract)


def _loads(text: str) -> Any:
    """json.loads, with the errors of a hostile line (200,000 nested brackets) as ValueError."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _values(stream: IO[str], progress: Any) -> Iterator[tuple[int, Any, str]]:
    """(line number, parsed value, error) per entry of a file. JSON Lines (the first non-blank
    line is a JSON object) are read one line at a time; anything else (an array, a
    pretty-printed document) is read whole through the CLI's reader."""
    first, start = "", 0
    for number, text in enumerate(stream, start=1):
        progress.update(len(text.encode("utf-8", "surrogateescape")))
        if text.strip():
            first, start = text, number
            break
    else:
        return
    try:
        value = _loads(first)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        rest = first + stream.read()
        progress.update(len(rest.encode("utf-8", "surrogateescape")) - len(first))
        for item in parse_events(rest):
            where = item.line + start - 1 if item.line else start
            yield (where, None, item.error) if item.error else (where, item.value, "")
        return
    for item in _expanded(value):
        yield (start, *item)
    for lineno, line in enumerate(stream, start=start + 1):
        progress.update(len(line.encode("utf-8", "surrogateescape")))
        if not line.strip():
            continue
        try:
            value = _loads(line)
        except ValueError as exc:
            yield lineno, None, str(exc)
            continue
        for item in _expanded(value):
            yield (lineno, *item)


def _expanded(value: Any) -> Iterator[tuple[Any, str]]:
    """A line that is a Meta body or an array stands for its events."""
    if (
        isinstance(value, dict)
        and isinstance(value.get("data"), list)
        and "event_name" not in value
    ):
        for event in value["data"]:
            yield event, ""
    elif isinstance(value, list):
        for event in value:
            yield event, ""
    else:
        yield value, ""


def add_entry(
    result: Audit,
    value: Any,
    index: int,
    now: float,
    where: str,
    contract: Contract | None = None,
) -> None:
    """One entry into the audit; an entry that cannot be read is named, never a traceback."""
    try:
        record = classify(value, index, now, contract)
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
        result.skip(where, f"not readable as an event, a dead letter or a log line ({exc})")
        return
    for one in record if isinstance(record, list) else [record] if record is not None else []:
        result.add(one)


class _NoProgress:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(path: str, enabled: bool) -> Any:
    if not enabled or path == "-":
        return _NoProgress()
    try:
        from tqdm import tqdm
    except ImportError:  # the bar is a convenience of the dev install
        return _NoProgress()
    return tqdm(
        total=os.path.getsize(path),
        unit="B",
        unit_scale=True,
        desc=os.path.basename(path),
        file=sys.stderr,
        leave=False,
        mininterval=0.5,
    )


def audit_files(
    paths: Iterable[str],
    *,
    now: float | None = None,
    progress: bool = False,
    contract: Contract | None = None,
) -> Audit:
    """The audit of every entry of the given files (`-` for stdin)."""
    now = time.time() if now is None else now
    result = Audit()
    for path in paths:
        big = path != "-" and os.path.getsize(path) > PROGRESS_FROM_BYTES
        bar = _progress(path, progress and big)
        if path == "-":
            stream: IO[str] = sys.stdin
        else:
            stream = open(path, encoding="utf-8", errors="surrogateescape")  # noqa: SIM115
        name = "stdin" if path == "-" else path
        try:
            for index, (lineno, value, error) in enumerate(_values(stream, bar)):
                if error:
                    result.skip(f"{name} line {lineno}", error)
                    continue
                add_entry(result, value, index, now, f"{name} line {lineno}", contract)
        finally:
            bar.close()
            if stream is not sys.stdin:
                stream.close()
    return result


def audit_values(
    values: Iterable[Any], *, now: float | None = None, contract: Contract | None = None
) -> Audit:
    """The audit of already-read values (dead letters pulled from Pub/Sub, tests)."""
    now = time.time() if now is None else now
    result = Audit()
    for index, value in enumerate(values):
        add_entry(result, value, index, now, f"entry {index + 1}", contract)
    return result


def pull_dead_letters(
    subscriber: Any, subscription: str, *, limit: int = 1_000_000
) -> Iterator[dict[str, Any]]:
    """The messages of a dead-letter pull subscription, read and left in place: none is
    acknowledged, and all are released (ack deadline 0) when the reading ends."""
    seen: set[str] = set()
    held: list[str] = []
    try:
        while len(seen) < limit:
            response = subscriber.pull(
                request={"subscription": subscription, "max_messages": 500}, timeout=10
            )
            received = list(response.received_messages)
            held += [r.ack_id for r in received]
            fresh = [r for r in received if r.message.message_id not in seen]
            if not fresh:
                break
            for item in fresh[: limit - len(seen)]:
                seen.add(item.message.message_id)
                yield {
                    "data": base64.b64encode(bytes(item.message.data)).decode("ascii"),
                    "attributes": dict(item.message.attributes),
                }
    finally:
        for start in range(0, len(held), 1000):
            subscriber.modify_ack_deadline(
                request={
                    "subscription": subscription,
                    "ack_ids": held[start : start + 1000],
                    "ack_deadline_seconds": 0,
                }
            )


# -- output -------------------------------------------------------------------------------------


def text_report(summary: dict[str, Any]) -> str:
    lines = [
        f"{summary['events']} events"
        + (
            f" ({summary['unreadable']} unreadable entries skipped)"
            if summary["unreadable"]
            else ""
        )
    ]
    lines.append("status: " + ", ".join(f"{k} {v}" for k, v in summary["by_status"].items()))
    total = summary["events"] or 1
    lines.append("")
    lines.append("match grade (the relay's estimate, not Meta's Event Match Quality)")
    for grade, n in summary["grades"].items():
        lines.append(f"  {grade:<8} {n:>9}  {100 * n / total:5.1f}%  {_bar(n / total)}")
    if summary.get("ungraded"):
        n = summary["ungraded"]
        lines.append(
            f"  {'unknown':<8} {n:>9}  {100 * n / total:5.1f}%  (dead-letter lines without "
            "the event's ingest line: they do not say what it carried)"
        )
    lines.append("")
    lines.append("coverage per identifier (events carrying it after normalization)")
    for key, c in summary["coverage"].items():
        lines.append(
            f"  {key:<18} {c['events']:>9}  {c['percent']:5.1f}%  {_bar(c['percent'] / 100)}"
        )
    lines.append("")
    lines.append("per event name")
    lines.append(f"  {'event name':<22} {'events':>9}  {'strong':>12}  coverage of each identifier")
    for name, row in summary["by_event_name"].items():
        best = ", ".join(f"{k} {v:.0f}%" for k, v in row["coverage"].items() if v)
        strong = row["grades"]["strong"] * 100 / (row["events"] or 1)
        lines.append(f"  {name:<22} {row['events']:>9}  strong {strong:5.1f}%  {best}")
    lines.append("")
    lines.append("the three failures every audit finds")
    for failure in summary["failures"].values():
        examples = ", ".join(failure["examples"])
        lines.append(
            f"  {failure['title']:<26} {failure['events']:>9}"
            + (f"  e.g. {examples}" if examples else "")
        )
    if summary["top_rejection_reasons"]:
        lines.append("")
        lines.append("top rejection reasons")
        for reason in summary["top_rejection_reasons"]:
            lines.append(
                f"  {reason['events']:>9}  {reason['reason']}  e.g. {', '.join(reason['examples'])}"
            )
    return "\n".join(lines) + "\n"


def _bar(fraction: float, width: int = 30) -> str:
    return "#" * round(max(0.0, min(1.0, fraction)) * width)


_SHORT = {  # column headings of the per-event-name table (the full name is the tooltip)
    "client_ip_address": "ip",
    "client_user_agent": "ua",
    "external_id": "ext id",
    "country": "ctry",
}
_GRADE_COLOURS = {"strong": "#1a7f37", "good": "#4c9be8", "weak": "#d4a72c", "none": "#cf222e"}


def _svg_bars(rows: list[tuple[str, float, str, str]], *, width: int = 560) -> str:
    """Horizontal bars: (label, fraction 0..1, text at the end, colour)."""
    height = 26 * len(rows) + 8
    parts = [f'<svg class="bars" viewBox="0 0 {width} {height}" width="100%" role="img">']
    for i, (label, fraction, text, colour) in enumerate(rows):
        y = 6 + 26 * i
        length = max(0.0, min(1.0, fraction)) * (width - 260)
        parts.append(
            f'<text x="0" y="{y + 14}" class="label">{html.escape(label)}</text>'
            f'<rect x="150" y="{y}" width="{width - 260}" height="18" rx="3" class="track"/>'
            f'<rect x="150" y="{y}" width="{length:.1f}" height="18" rx="3" fill="{colour}"/>'
            f'<text x="{width - 100}" y="{y + 14}" class="value">{html.escape(text)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _heat(percent: float) -> str:
    """A background from pale to deep green for a coverage cell."""
    light = 96 - round(percent * 0.5)
    return f"background:hsl(140,45%,{light}%)"


_CSS = """
.wide{overflow-x:auto}
body{
  font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;
  margin:0;
  color:#1f2328;
  background:#f6f8fa;
}
header{background:#0d1117;color:#fff;padding:20px 32px} header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;color:#9da7b3}
main{max-width:1100px;margin:0 auto;padding:24px 32px}
section{
  background:#fff;
  border:1px solid #d0d7de;
  border-radius:8px;
  padding:16px 20px;
  margin:0 0 20px;
}
h2{font-size:17px;margin:0 0 12px}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:20px}
.cards{display:grid;grid-template-columns:repeat(3,1fr);gap:16px}
.card{border-radius:8px;padding:14px 16px;border:1px solid #d0d7de}
.card.bad{background:#fff1f0;border-color:#ffaba8}
.card.ok{background:#eefbf1;border-color:#9fe3b0}
.card .count{font-size:30px;font-weight:700} .card h3{margin:2px 0 6px;font-size:15px}
.card p{margin:4px 0;font-size:13px} .examples{color:#57606a;word-break:break-all}
svg.bars text{font-size:13px;fill:#1f2328} svg.bars .track{fill:#eaeef2}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{padding:5px 8px;text-align:right;border-bottom:1px solid #eaeef2}
th:first-child,td:nth-child(2){text-align:left} thead th{color:#57606a;font-weight:600}
.note{color:#57606a;font-size:13px}
.kpi{display:flex;gap:28px;margin:6px 0 0}
.kpi b{font-size:24px;display:block}
"""


def html_report(summary: dict[str, Any], *, title: str = "capi-relay audit") -> str:
    total = summary["events"] or 1
    grades = _svg_bars(
        [
            (g, n / total, f"{n:,} ({100 * n / total:.1f}%)", _GRADE_COLOURS[g])
            for g, n in summary["grades"].items()
        ]
    )
    coverage = _svg_bars(
        [
            (k, c["percent"] / 100, f"{c['percent']:.1f}%", "#4c9be8")
            for k, c in summary["coverage"].items()
        ]
    )
    statuses = _svg_bars(
        [(s, n / total, f"{n:,}", "#8250df") for s, n in summary["by_status"].items()]
    )
    keys = list(summary["coverage"])
    head = "".join(
        f'<th title="{html.escape(k)}">{html.escape(_SHORT.get(k, k))}</th>' for k in keys
    )
    rows = []
    for name, row in summary["by_event_name"].items():
        cells = "".join(
            f'<td style="{_heat(row["coverage"][k])}">{row["coverage"][k]:.0f}%</td>' for k in keys
        )
        strong = 100 * row["grades"]["strong"] / (row["events"] or 1)
        rows.append(
            f"<tr><th>{html.escape(name)}</th><td>{row['events']:,}</td>"
            f'<td style="{_heat(strong)}">{strong:.0f}%</td>{cells}</tr>'
        )
    cards = []
    for failure in summary["failures"].values():
        level = "bad" if failure["events"] else "ok"
        examples = ", ".join(html.escape(e) for e in failure["examples"]) or "none"
        cards.append(
            f'<div class="card {level}"><div class="count">{failure["events"]:,}</div>'
            f"<h3>{html.escape(failure['title'])}</h3><p>{html.escape(failure['explanation'])}</p>"
            f'<p class="examples">Examples: {examples}</p></div>'
        )
    reasons = (
        "".join(
            f"<tr><td>{r['events']:,}</td><td>{html.escape(r['reason'])}</td>"
            f"<td>{html.escape(', '.join(r['examples']))}</td></tr>"
            for r in summary["top_rejection_reasons"]
        )
        or '<tr><td colspan="3">No rejected events.</td></tr>'
    )
    failing = sum(f["events"] for f in summary["failures"].values())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>
{_CSS}</style></head>
<body><header><h1>{html.escape(title)}</h1>
<p>What Meta will be able to match, event by event, after the relay's normalization.</p></header>
<main>
<section><h2>Overview</h2><div class="kpi">
<div><b>{summary["events"]:,}</b>events</div>
<div><b>{100 * summary["grades"]["strong"] / total:.1f}%</b>strong match</div>
<div><b>{failing:,}</b>events with a common failure</div>
<div><b>{summary["unreadable"]:,}</b>unreadable entries</div></div></section>
<section><h2>The three failures every audit finds</h2>
<div class="cards">{"".join(cards)}</div></section>
<div class="grid">
<section><h2>Match grade</h2>{grades}
<p class="note">The relay's estimate from the keys that survive normalization, not Meta's
Event Match Quality. strong: email or phone plus a browser id, IP or external_id; good: email or
phone alone; weak: only click or browser ids, or only name and address.</p></section>
<section><h2>Coverage per identifier</h2>{coverage}</section>
</div>
<section><h2>Per event name: share of events carrying each identifier</h2>
<div class="wide"><table><thead><tr><th>event</th><th>events</th><th>strong</th>{head}</tr></thead>
<tbody>{"".join(rows)}</tbody></table></div>
<p class="note">ip: client_ip_address, ua: client_user_agent, ext id: external_id.</p></section>
<div class="grid">
<section><h2>Events by status</h2>{statuses}</section>
<section><h2>Top rejection reasons</h2><table>
<thead><tr><th>events</th><th>reason</th><th>examples</th></tr></thead>
<tbody>{reasons}</tbody></table></section>
</div>
</main></body></html>
"""
