"""`capi replay`: move dead-lettered events back to the main topic, or, for `capi serve`, from the
local dead-letter file back into its queue journal (`replay_file`).

Pulls from the DLQ pull subscription, keeps the messages that match the filters (event name,
Meta error code, DLQ reason, age), and republishes each to the main topic with its original
attributes (the dead-letter reason is dropped, a replay count is added). A message is
acknowledged only after its republish succeeded; a message that does not match, or whose
republish failed, is handed back at once (ack deadline 0) and stays in the DLQ.
`--dry-run` lists what would be replayed and acknowledges nothing.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from capi.errors import PublishError
from capi.queueing.messages import Message, Publisher

# Attributes the forwarder (or Pub/Sub's own dead-lettering) adds; not part of the original.
REASON_ATTRIBUTES = frozenset(
    {
        "dlq_reason",
        "error_message",
        "error_code",
        "error_subcode",
        "http_status",
        "fbtrace_id",
        "error_user_title",
        "error_paths",
        "attempts",
        "failed_at",
        "original_message_id",
    }
)
PUBSUB_DEAD_LETTER_PREFIX = "CloudPubSubDeadLetter"


@dataclass
class ReplayFilter:
    event_names: frozenset[str] = frozenset()
    error_codes: frozenset[str] = frozenset()
    reasons: frozenset[str] = frozenset()
    older_than_s: float | None = None
    newer_than_s: float | None = None

    def matches(self, attributes: dict[str, str], publish_time: float, now: float) -> bool:
        if self.event_names and attributes.get("event_name", "") not in self.event_names:
            return False
        if self.error_codes and attributes.get("error_code", "") not in self.error_codes:
            return False
        if self.reasons and attributes.get("dlq_reason", "") not in self.reasons:
            return False
        age = now - publish_time
        if self.older_than_s is not None and age < self.older_than_s:
            return False
        return self.newer_than_s is None or age <= self.newer_than_s


def original_attributes(attributes: dict[str, str]) -> dict[str, str]:
    kept = {
        k: v
        for k, v in attributes.items()
        if k not in REASON_ATTRIBUTES and not k.startswith(PUBSUB_DEAD_LETTER_PREFIX)
    }
    kept["replay_count"] = str(int(attributes.get("replay_count", "0") or 0) + 1)
    return kept


def parse_duration(text: str) -> float:
    """'90s', '15m', '6h', '2d' -> seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = text.strip().lower()
    if text and text[-1] in units and text[:-1].replace(".", "", 1).isdigit():
        return float(text[:-1]) * units[text[-1]]
    raise ValueError(f"not a duration: {text!r} (use e.g. 90s, 15m, 6h, 2d)")


@dataclass
class ReplayReport:
    seen: int = 0
    replayed: int = 0
    skipped: int = 0  # did not match the filters
    failed: int = 0  # republish failed; left in the DLQ
    listed: list[dict[str, Any]] = field(default_factory=list)


def _publish_seconds(message: Any) -> float:
    published = getattr(message, "publish_time", None)
    if isinstance(published, datetime):
        return published.timestamp()
    if published is not None and hasattr(published, "timestamp"):
        return float(published.timestamp())
    return time.time()


class Replayer:
    def __init__(
        self,
        subscriber: Any,
        subscription: str,
        publisher: Publisher,
        *,
        filter: ReplayFilter,
        dry_run: bool = False,
        limit: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.subscriber = subscriber
        self.subscription = subscription
        self.publisher = publisher
        self.filter = filter
        self.dry_run = dry_run
        self.limit = limit
        self.clock = clock

    def _pull(self) -> list[Any]:
        response = self.subscriber.pull(
            request={"subscription": self.subscription, "max_messages": 100}, timeout=10
        )
        return list(response.received_messages)

    def _release(self, ack_ids: Iterable[str]) -> None:
        ids = list(ack_ids)
        if ids:
            self.subscriber.modify_ack_deadline(
                request={
                    "subscription": self.subscription,
                    "ack_ids": ids,
                    "ack_deadline_seconds": 0,
                }
            )

    def run(self) -> ReplayReport:
        report = ReplayReport()
        seen_ids: set[str] = set()
        while self.limit is None or report.replayed < self.limit:
            received = self._pull()
            fresh = [r for r in received if r.message.message_id not in seen_ids]
            if not fresh:
                self._release(r.ack_id for r in received)
                break
            now = self.clock()
            to_ack: list[str] = []
            to_release: list[str] = [r.ack_id for r in received if r not in fresh]
            stop = False
            for item in fresh:
                message = item.message
                seen_ids.add(message.message_id)
                report.seen += 1
                attributes = dict(message.attributes)
                limited = self.limit is not None and report.replayed >= self.limit
                if stop or limited:
                    to_release.append(item.ack_id)
                    continue
                if not self.filter.matches(attributes, _publish_seconds(message), now):
                    report.skipped += 1
                    to_release.append(item.ack_id)
                    continue
                listing = {"message_id": message.message_id, **attributes}
                if self.dry_run:
                    report.replayed += 1
                    report.listed.append(listing)
                    to_release.append(item.ack_id)
                    continue
                try:
                    self.publisher.publish_all(
                        [Message(bytes(message.data), original_attributes(attributes))]
                    )
                except PublishError:
                    # The main topic is not taking messages: stop; nothing was lost.
                    report.failed += 1
                    stop = True
                    to_release.append(item.ack_id)
                    continue
                report.replayed += 1
                report.listed.append(listing)
                to_ack.append(item.ack_id)
            if to_ack:
                self.subscriber.acknowledge(
                    request={"subscription": self.subscription, "ack_ids": to_ack}
                )
            self._release(to_release)
            if stop:
                break
        return report


def _failed_at(attributes: dict[str, str], default: float) -> float:
    try:
        return datetime.fromisoformat(attributes.get("failed_at", "")).timestamp()
    except ValueError:
        return default


def replay_file(
    dlq_path: str | Path,
    journal: str | Path,
    *,
    filter: ReplayFilter,
    dry_run: bool = False,
    limit: int | None = None,
    clock: Callable[[], float] = time.time,
) -> ReplayReport:
    """`capi serve`'s dead letters back into its queue journal, with the same filters as from
    Pub/Sub. The matching records are journaled first (durably), then removed from the file, which
    is rewritten under the lock `capi serve` takes to append to it: nothing is lost or doubled
    when both run at once. Lines that are not dead letters stay in the file."""
    from capi.tools.local_queue import (
        journal_messages,
        locked_dead_letters,
        private_file,
        read_dead_letter,
    )

    report = ReplayReport()
    path = Path(dlq_path)
    if not path.exists():
        return report
    now = clock()
    with locked_dead_letters(path) as f:
        f.seek(0)
        lines = f.read().splitlines()
        kept: list[str] = []
        chosen: list[Message] = []
        for line in lines:
            try:
                message = read_dead_letter(json.loads(line)) if line.strip() else None
            except ValueError:
                message = None
            if message is None:
                kept.append(line)
                continue
            report.seen += 1
            limited = limit is not None and report.replayed >= limit
            attributes = message.attributes
            if limited or not filter.matches(attributes, _failed_at(attributes, now), now):
                report.skipped += 0 if limited else 1
                kept.append(line)
                continue
            report.replayed += 1
            report.listed.append(dict(attributes))
            if dry_run:
                kept.append(line)
            else:
                chosen.append(Message(message.data, original_attributes(attributes)))
        if chosen:
            journal_messages(journal, chosen)
            tmp = path.with_name(path.name + ".tmp")
            with private_file(tmp).open("w", encoding="utf-8") as out:
                out.write("".join(line + "\n" for line in kept))
                out.flush()
                os.fsync(out.fileno())
            tmp.replace(path)
    return report
