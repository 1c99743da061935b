"""The embedded queue of `capi serve`: Pub/Sub's behaviour in one process, no cloud needed.

Accepted events are journaled before ingest answers 202: `LocalQueue` keeps them in a SQLite
database in WAL mode (`capi-queue.db`, mode 0600: it holds the events as accepted, PII
included), one transaction per ingest request, so a crash or SIGKILL loses nothing that was
answered 202. Worker threads hand each due message to the forwarder: an ack deletes it, a retry
is kept with an exponential backoff (like the push subscription's retry policy), and after
`max_attempts` the forwarder dead-letters it with the reason. On start the journal's messages
are delivered again (`recovered`); messages another process added (`capi replay` from the local
dead letters) are picked up within a second. Dead letters go to a JSON Lines file, mode 0600.

`journal=None` keeps the queue in memory only (benchmarks and tests: it forgets what it accepted
when the process ends).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import heapq
import itertools
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any, Protocol

from capi import logs
from capi.forward.forwarder import Decision, Delivery, Forwarder
from capi.queueing.messages import Message, PublishError

POLL_S = 1.0  # how often the workers look for messages another process journaled


def private_file(path: str | Path) -> Path:
    """Create the file if needed, readable by its owner only (also when it existed)."""
    path = Path(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    return path


def dead_letter_record(message: Message) -> dict[str, Any]:
    return {
        "data": base64.b64encode(message.data).decode("ascii"),
        "attributes": message.attributes,
    }


def read_dead_letter(record: Any) -> Message | None:
    """A line of the local dead-letter file back as a message; None when it is not one."""
    if not isinstance(record, dict) or not isinstance(record.get("data"), str):
        return None
    attributes = record.get("attributes")
    if not isinstance(attributes, dict):
        return None
    try:
        data = base64.b64decode(record["data"], validate=True)
    except ValueError:
        return None
    return Message(data, {str(k): str(v) for k, v in attributes.items()})


@contextlib.contextmanager
def locked_dead_letters(path: str | Path) -> Iterator[IO[str]]:
    """The dead-letter file, open for appending (mode 0600) and locked against `capi replay`,
    which rewrites it: after the lock is taken, a file that was replaced meanwhile is reopened."""
    path = Path(path)
    while True:
        f = private_file(path).open("a+", encoding="utf-8")
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            if os.fstat(f.fileno()).st_ino == os.stat(path).st_ino:
                yield f
                return
        finally:
            f.close()  # closing releases the lock


class FileDeadLetters:
    """A dead-letter 'topic' that appends each message to a JSON Lines file (mode 0600)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def publish_all(self, messages: Sequence[Message]) -> list[str]:
        lines = "".join(json.dumps(dead_letter_record(m)) + "\n" for m in messages)
        try:
            with self._lock, locked_dead_letters(self.path) as f:
                f.write(lines)
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            raise PublishError(f"could not write {self.path}: {exc.strerror}") from exc
        return [str(i) for i in range(len(messages))]


class _Store(Protocol):
    def add(self, messages: Sequence[Message], due: float) -> list[int]: ...
    def earliest(self, busy: set[int]) -> tuple[float, int] | None: ...
    def load(self, key: int) -> Delivery: ...
    def done(self, key: int) -> None: ...
    def again(self, key: int, attempt: int, due: float) -> None: ...
    def count(self) -> int: ...
    def event_ids(self, limit: int) -> list[str]: ...


class _MemoryStore:
    def __init__(self) -> None:
        self._heap: list[tuple[float, int]] = []
        self._rows: dict[int, tuple[Message, int]] = {}
        self._ids = itertools.count(1)

    def add(self, messages: Sequence[Message], due: float) -> list[int]:
        keys = []
        for message in messages:
            key = next(self._ids)
            self._rows[key] = (message, 1)
            heapq.heappush(self._heap, (due, key))
            keys.append(key)
        return keys

    def earliest(self, busy: set[int]) -> tuple[float, int] | None:
        while self._heap and self._heap[0][1] not in self._rows:
            heapq.heappop(self._heap)
        return self._heap[0] if self._heap else None

    def load(self, key: int) -> Delivery:
        heapq.heappop(self._heap)  # `earliest` just returned it: it is on top
        message, attempt = self._rows[key]
        return Delivery(message, message_id=f"local-{key}", attempt=attempt)

    def done(self, key: int) -> None:
        self._rows.pop(key, None)

    def again(self, key: int, attempt: int, due: float) -> None:
        message, _ = self._rows[key]
        self._rows[key] = (message, attempt)
        heapq.heappush(self._heap, (due, key))

    def count(self) -> int:
        return len(self._rows)

    def event_ids(self, limit: int) -> list[str]:
        return [m.attributes.get("event_id", "") for m, _ in list(self._rows.values())[:limit]]


class _SqliteStore:
    """The journal: one row per queued message. Every write is committed before it returns."""

    def __init__(self, path: str | Path) -> None:
        self.path = private_file(path)
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # durable at commit, power loss included
        self._db.execute("PRAGMA busy_timeout=5000")  # capi replay may write at the same time
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY, data BLOB NOT NULL,"
            " attributes TEXT NOT NULL, attempt INTEGER NOT NULL DEFAULT 1,"
            " due REAL NOT NULL, created REAL NOT NULL)"
        )
        self._db.execute("CREATE INDEX IF NOT EXISTS messages_due ON messages (due)")

    def add(self, messages: Sequence[Message], due: float) -> list[int]:
        rows = [(m.data, json.dumps(m.attributes), due, time.time()) for m in messages]
        cursor = self._db.cursor()
        try:
            cursor.execute("BEGIN IMMEDIATE")
            keys = []
            for row in rows:
                cursor.execute(
                    "INSERT INTO messages (data, attributes, due, created) VALUES (?, ?, ?, ?)",
                    row,
                )
                keys.append(int(cursor.lastrowid or 0))
            cursor.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                cursor.execute("ROLLBACK")
            raise
        return keys

    def earliest(self, busy: set[int]) -> tuple[float, int] | None:
        placeholders = ",".join("?" * len(busy))
        row = self._db.execute(
            f"SELECT due, id FROM messages WHERE id NOT IN ({placeholders})"  # noqa: S608 - only ?s
            " ORDER BY due LIMIT 1",
            tuple(busy),
        ).fetchone()
        return (float(row[0]), int(row[1])) if row else None

    def load(self, key: int) -> Delivery:
        data, attributes, attempt = self._db.execute(
            "SELECT data, attributes, attempt FROM messages WHERE id = ?", (key,)
        ).fetchone()
        message = Message(bytes(data), json.loads(attributes))
        return Delivery(message, message_id=f"local-{key}", attempt=attempt)

    def done(self, key: int) -> None:
        self._db.execute("DELETE FROM messages WHERE id = ?", (key,))

    def again(self, key: int, attempt: int, due: float) -> None:
        self._db.execute(
            "UPDATE messages SET attempt = ?, due = ? WHERE id = ?", (attempt, due, key)
        )

    def count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM messages").fetchone()[0])

    def event_ids(self, limit: int) -> list[str]:
        rows = self._db.execute("SELECT attributes FROM messages LIMIT ?", (limit,)).fetchall()
        return [json.loads(a).get("event_id", "") for (a,) in rows]

    def close(self) -> None:
        self._db.close()


def journal_messages(path: str | Path, messages: Sequence[Message]) -> int:
    """Add messages to a journal from another process (`capi replay`); a running `capi serve`
    picks them up within a second, else the next one does."""
    store = _SqliteStore(path)
    try:
        return len(store.add(messages, time.time()))
    finally:
        store.close()


class LocalQueue:
    def __init__(
        self,
        *,
        journal: str | Path | None = None,
        workers: int = 2,
        max_attempts: int = 5,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
    ) -> None:
        self.forwarder: Forwarder | None = None
        self.workers = workers
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self._store: _Store = _SqliteStore(journal) if journal else _MemoryStore()
        self.journal = Path(journal) if journal else None
        self.recovered = self._store.count()  # left by an earlier run: delivered again now
        self._busy: set[int] = set()
        self._cond = threading.Condition()
        self._stopping = False
        self._threads: list[threading.Thread] = []

    def attach(self, forwarder: Forwarder) -> None:
        forwarder.max_delivery_attempts = self.max_attempts
        self.forwarder = forwarder

    def publish_all(self, messages: Sequence[Message]) -> list[str]:
        """Journal the messages (all or none) and return their ids; raises PublishError."""
        with self._cond:
            if self._stopping:
                raise PublishError("the local queue is shutting down")
            try:
                keys = self._store.add(messages, time.time())
            except sqlite3.Error as exc:
                raise PublishError(f"the local queue could not store the events: {exc}") from exc
            self._cond.notify_all()
        return [f"local-{k}" for k in keys]

    def start(self) -> None:
        if self.forwarder is None:
            raise RuntimeError("attach a forwarder before starting the queue")
        for i in range(self.workers):
            thread = threading.Thread(target=self._work, name=f"capi-queue-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _next(self) -> tuple[int, Delivery] | None:
        with self._cond:
            while not self._stopping:
                now = time.time()
                found = self._store.earliest(self._busy)
                if found is not None and found[0] <= now:
                    key = found[1]
                    self._busy.add(key)
                    return key, self._store.load(key)
                self._cond.wait(POLL_S if found is None else min(POLL_S, found[0] - now))
            return None

    def _work(self) -> None:
        assert self.forwarder is not None
        while (item := self._next()) is not None:
            key, delivery = item
            try:
                decision = self.forwarder.process(delivery)
            except Exception as exc:  # a bug must not kill the worker or lose the message
                logs.error("forwarder raised; message will be retried", error=repr(exc)[:300])
                decision = Decision.RETRY
            with self._cond:
                self._busy.discard(key)
                if decision is Decision.ACK:
                    self._store.done(key)
                else:
                    delay = min(self.backoff_s * 2 ** (delivery.attempt - 1), self.max_backoff_s)
                    self._store.again(key, delivery.attempt + 1, time.time() + delay)
                self._cond.notify_all()

    def pending(self) -> int:
        """Messages journaled and not yet acked (in flight included)."""
        with self._cond:
            return self._store.count()

    def drain(self, timeout_s: float = 30.0) -> bool:
        """Wait until nothing is queued or in flight; False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._store.count() or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.1))
        return True

    def stop(self, timeout_s: float = 10.0) -> int:
        """Deliver what is due within `timeout_s`, then stop the workers; what is left stays in
        the journal for the next start. Returns how many messages were left."""
        self.drain(timeout_s)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout=1.0)
        with self._cond:
            left = self._store.count()
            ids = self._store.event_ids(20)
            in_flight = len(self._busy)
        if left:
            where = f"kept in {self.journal}" if self.journal else "LOST (in-memory queue)"
            logs.warning(
                "events not delivered before stopping",
                events=left,
                in_flight=in_flight,
                kept=where,
                event_ids=ids,
            )
        return left
