"""The embedded queue of `capi serve`: Pub/Sub's behaviour in one process, no cloud needed.

Accepted events are journaled before ingest answers 202: `LocalQueue` keeps them in a SQLite
database in WAL mode (`capi-queue.db`, mode 0600: it holds the events as accepted, PII
included), one transaction per ingest request, so a crash or SIGKILL loses nothing that was
answered 202. Worker threads hand each due message to the forwarder: an ack deletes it, a retry
is kept with a capped exponential backoff (like the push subscription's retry policy), and when
the retry horizon (15 minutes by default) has passed the forwarder dead-letters it with the
reason. On start the journal's messages are delivered again (`recovered`); messages another
process added (`capi replay` from the local dead letters) are picked up within a second. Dead
letters go to a JSON Lines file, mode 0600.

The journal is a disk, and disks fail: full, or locked by another process longer than the busy
timeout. No SQLite error stops a worker:
- an enqueue that fails raises PublishError (ingest answers 503: nothing was accepted), and
  `problem` says why until a write succeeds again (`capi serve`'s `/healthz` answers 503 with it);
- an outcome that cannot be written (the DELETE after a delivery, the UPDATE of a retry) is kept
  in memory and written later, with backoff; until then the row is never handed out again, so a
  delivered event is not delivered twice (a crash before the write does resend it on the next
  start, with its event_id, which Meta deduplicates);
- a read that fails is retried with backoff.
SQLite is never called while the queue's condition is held, so a slow disk stalls no request
that does not need it.

One journal, one process: a lock file next to the journal (`capi-queue.db.lock`) is held while
the queue is open, and a second `capi serve` on the same journal refuses to start
(JournalInUse). `capi replay` adds rows without the lock (it never delivers).

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
from capi.errors import JournalInUse, PublishError
from capi.forward.forwarder import Decision, Delivery, Forwarder
from capi.queueing.messages import Message

POLL_S = 1.0  # how often the workers look for messages another process journaled
BUSY_TIMEOUT_MS = 5000  # how long one enqueue waits for another writer (capi replay)
SETTLE_BUSY_TIMEOUT_MS = 250  # how long writing outcomes waits (it is retried with backoff)
STORE_RETRY_S = (0.2, 10.0)  # backoff of a failed journal call: first delay, cap
RETRY_HORIZON_S = 900.0  # how long a transient failure is retried before it is dead-lettered


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


def attempts_for(horizon_s: float, backoff_s: float, max_backoff_s: float) -> int:
    """The delivery attempts whose backoff delays (backoff_s doubling, capped at max_backoff_s)
    add up to at least `horizon_s`: the last attempt comes after the horizon."""
    attempts, waited = 1, 0.0
    while waited < horizon_s:
        waited += min(backoff_s * 2 ** (attempts - 1), max_backoff_s)
        attempts += 1
    return attempts


class _Store(Protocol):
    def add(self, messages: Sequence[Message], due: float) -> list[int]: ...
    def earliest(self, exclude: set[int] | Any) -> tuple[float, int] | None: ...
    def due(self, exclude: set[int] | Any, now: float, limit: int) -> list[int]: ...
    def load(self, key: int) -> tuple[Message, int] | None: ...
    def settle(self, done: Sequence[int], again: Sequence[tuple[int, int, float]]) -> None: ...
    def count(self) -> int: ...
    def event_ids(self, limit: int) -> list[str]: ...
    def close(self) -> None: ...


class _MemoryStore:
    """The queue without a journal; thread-safe."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int]] = []
        self._rows: dict[int, tuple[Message, int, float]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def add(self, messages: Sequence[Message], due: float) -> list[int]:
        with self._lock:
            keys = []
            for message in messages:
                key = next(self._ids)
                self._rows[key] = (message, 1, due)
                heapq.heappush(self._heap, (due, key))
                keys.append(key)
            return keys

    def _live(self, entry: tuple[float, int]) -> bool:
        row = self._rows.get(entry[1])
        return row is not None and row[2] == entry[0]

    def earliest(self, exclude: set[int] | Any) -> tuple[float, int] | None:
        with self._lock:
            while self._heap and not self._live(self._heap[0]):
                heapq.heappop(self._heap)
            if self._heap and self._heap[0][1] not in exclude:
                return self._heap[0]
            wanted = len(exclude) + 1
            while True:  # the excluded few are on top; look just past them
                for entry in heapq.nsmallest(wanted, self._heap):
                    if entry[1] not in exclude and self._live(entry):
                        return entry
                if wanted >= len(self._heap):
                    return None
                wanted *= 2

    def due(self, exclude: set[int] | Any, now: float, limit: int) -> list[int]:
        """Up to `limit` keys due by `now`, earliest first, none of `exclude`."""
        with self._lock:
            entries = heapq.nsmallest(limit + len(exclude), self._heap)
        return [k for d, k in entries if d <= now and k not in exclude and self._live((d, k))][
            :limit
        ]

    def load(self, key: int) -> tuple[Message, int] | None:
        with self._lock:
            row = self._rows.get(key)
            return (row[0], row[1]) if row else None

    def settle(self, done: Sequence[int], again: Sequence[tuple[int, int, float]]) -> None:
        with self._lock:
            for key in done:
                self._rows.pop(key, None)
            for key, attempt, due in again:
                if key in self._rows:
                    self._rows[key] = (self._rows[key][0], attempt, due)
                    heapq.heappush(self._heap, (due, key))

    def count(self) -> int:
        with self._lock:
            return len(self._rows)

    def event_ids(self, limit: int) -> list[str]:
        with self._lock:
            rows = list(self._rows.values())[:limit]
        return [m.attributes.get("event_id", "") for m, _, _ in rows]

    def close(self) -> None:
        pass


class _SqliteStore:
    """The journal: one row per queued message. Every write is committed before it returns.

    Three connections, each used under its own lock: reads (WAL: they never wait for a writer),
    enqueues, and outcomes; so a worker looking for work never waits behind an enqueue that
    waits for the disk, and an enqueue waits at most its own busy timeout."""

    def __init__(self, path: str | Path, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
        self.path = private_file(path)
        self._writer = self._connect(busy_timeout_ms)
        self._writer.execute("PRAGMA journal_mode=WAL")
        self._writer.execute(
            "CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY, data BLOB NOT NULL,"
            " attributes TEXT NOT NULL, attempt INTEGER NOT NULL DEFAULT 1,"
            " due REAL NOT NULL, created REAL NOT NULL)"
        )
        self._writer.execute("CREATE INDEX IF NOT EXISTS messages_due ON messages (due)")
        # Outcomes are retried with backoff when they cannot be written: they wait little, and
        # on a connection of their own, so an enqueue never queues behind them.
        self._settler = self._connect(min(busy_timeout_ms, SETTLE_BUSY_TIMEOUT_MS))
        self._reader = self._connect(busy_timeout_ms)
        self._locks = {id(db): threading.Lock() for db in (self._writer, self._settler)}
        self._read_lock = threading.Lock()

    def _connect(self, busy_timeout_ms: int) -> sqlite3.Connection:
        db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA synchronous=FULL")  # durable at commit, power loss included
        # A delivered event's row is overwritten, not only unlinked: its customer information
        # does not stay in the file's free pages (docs/PRIVACY.md). Some SQLite builds have it
        # on by default; this makes it so on every build.
        db.execute("PRAGMA secure_delete=ON")
        db.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")  # capi replay may write too
        return db

    def _transaction(
        self, db: sqlite3.Connection, statements: Sequence[tuple[str, Sequence[Any]]]
    ) -> list[int]:
        """Run the statements in one write transaction; the rowid of each; all or nothing."""
        with self._locks[id(db)]:
            cursor = db.cursor()
            try:
                cursor.execute("BEGIN IMMEDIATE")
                ids = []
                for sql, params in statements:
                    cursor.execute(sql, params)
                    ids.append(int(cursor.lastrowid or 0))
                cursor.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        cursor.execute("ROLLBACK")
                raise
            return ids

    def add(self, messages: Sequence[Message], due: float) -> list[int]:
        now = time.time()
        insert = "INSERT INTO messages (data, attributes, due, created) VALUES (?, ?, ?, ?)"
        return self._transaction(
            self._writer,
            [(insert, (m.data, json.dumps(m.attributes), due, now)) for m in messages],
        )

    def settle(self, done: Sequence[int], again: Sequence[tuple[int, int, float]]) -> None:
        statements: list[tuple[str, Sequence[Any]]] = [
            ("DELETE FROM messages WHERE id = ?", (key,)) for key in done
        ]
        statements += [
            ("UPDATE messages SET attempt = ?, due = ? WHERE id = ?", (attempt, due, key))
            for key, attempt, due in again
        ]
        if statements:
            self._transaction(self._settler, statements)

    def earliest(self, exclude: set[int] | Any) -> tuple[float, int] | None:
        with self._read_lock:
            rows = self._reader.execute(
                "SELECT due, id FROM messages ORDER BY due LIMIT ?", (len(exclude) + 1,)
            ).fetchall()
        for due, key in rows:
            if int(key) not in exclude:
                return float(due), int(key)
        return None

    def due(self, exclude: set[int] | Any, now: float, limit: int) -> list[int]:
        """Up to `limit` keys due by `now`, earliest first, none of `exclude`."""
        with self._read_lock:
            rows = self._reader.execute(
                "SELECT id FROM messages WHERE due <= ? ORDER BY due LIMIT ?",
                (now, limit + len(exclude)),
            ).fetchall()
        return [int(k) for (k,) in rows if int(k) not in exclude][:limit]

    def load(self, key: int) -> tuple[Message, int] | None:
        with self._read_lock:
            row = self._reader.execute(
                "SELECT data, attributes, attempt FROM messages WHERE id = ?", (key,)
            ).fetchone()
        if row is None:
            return None
        data, attributes, attempt = row
        return Message(bytes(data), json.loads(attributes)), int(attempt)

    def count(self) -> int:
        with self._read_lock:
            return int(self._reader.execute("SELECT count(*) FROM messages").fetchone()[0])

    def event_ids(self, limit: int) -> list[str]:
        with self._read_lock:
            rows = self._reader.execute(
                "SELECT attributes FROM messages LIMIT ?", (limit,)
            ).fetchall()
        return [json.loads(a).get("event_id", "") for (a,) in rows]

    def close(self) -> None:
        for db in (self._reader, self._writer, self._settler):
            with self._locks.get(id(db), self._read_lock):
                db.close()


def journal_messages(path: str | Path, messages: Sequence[Message]) -> int:
    """Add messages to a journal from another process (`capi replay`); a running `capi serve`
    picks them up within a second, else the next one does."""
    store = _SqliteStore(path)
    try:
        return len(store.add(messages, time.time()))
    finally:
        store.close()


class _JournalLock:
    """`<journal>.lock`, locked (flock) while a queue has the journal open; holds its pid."""

    def __init__(self, journal: Path) -> None:
        self.path = journal.with_name(journal.name + ".lock")
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise JournalInUse(
                f"the queue journal {journal} is in use by another capi serve (pid {holder}): "
                "two processes on one journal would deliver every event twice. Stop the other "
                "one, or give this one its own --queue-file."
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the lock
            self._fd = None


class LocalQueue:
    def __init__(
        self,
        *,
        journal: str | Path | None = None,
        workers: int = 2,
        retry_horizon_s: float = RETRY_HORIZON_S,
        backoff_s: float = 1.0,
        max_backoff_s: float = 60.0,
        store_retry_s: tuple[float, float] = STORE_RETRY_S,
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
        batch_size: int = 1,
    ) -> None:
        self.forwarder: Forwarder | None = None
        self.workers = workers
        # Due messages a worker takes at once and hands to Forwarder.process_many: one Graph
        # request per pixel and test code for all of them (capi serve: 1,000). 1: one at a time.
        self.batch_size = max(1, min(batch_size, 1000))
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.retry_horizon_s = retry_horizon_s
        self.max_attempts = attempts_for(retry_horizon_s, backoff_s, max_backoff_s)
        self.journal = Path(journal) if journal else None
        self._lock_file = _JournalLock(self.journal) if self.journal else None
        try:
            self._store: _Store = (
                _SqliteStore(self.journal, busy_timeout_ms=busy_timeout_ms)
                if self.journal
                else _MemoryStore()
            )
            self.recovered = self._store.count()  # left by an earlier run: delivered again now
        except BaseException:
            if self._lock_file is not None:
                self._lock_file.release()
            raise
        self._busy: set[int] = set()
        # Outcomes decided but not yet written to the journal: None = delivered (the row is to
        # be deleted), (attempt, due) = to be retried. Never handed out while they are here.
        self._settled: dict[int, tuple[int, float] | None] = {}
        self._cond = threading.Condition()
        self._flush_lock = threading.Lock()
        self._store_retry_s = store_retry_s
        self._store_delay = 0.0  # the current backoff of failing journal calls
        self._store_next_try = 0.0  # monotonic time before which a failed write is not retried
        self.problem = ""  # why the journal cannot be used right now; "" when it is fine
        self._stopping = False
        self._threads: list[threading.Thread] = []

    def attach(self, forwarder: Forwarder) -> None:
        forwarder.max_delivery_attempts = self.max_attempts
        self.forwarder = forwarder

    # -- the journal's health ----------------------------------------------------------------

    def _store_failed(self, what: str, exc: sqlite3.Error) -> None:
        first, cap = self._store_retry_s
        self._store_delay = min(cap, self._store_delay * 2) if self._store_delay else first
        self._store_next_try = time.monotonic() + self._store_delay
        problem = f"the queue journal could not {what}: {exc}"
        if problem != self.problem:
            logs.error(
                "queue journal error; delivery goes on, the journal is retried",
                error=str(exc)[:200],
                operation=what,
            )
        self.problem = problem

    def _store_ok(self) -> None:
        if self.problem:
            logs.info("queue journal writable again", was=self.problem[:200])
        self.problem = ""
        self._store_delay = 0.0
        self._store_next_try = 0.0

    # -- in ----------------------------------------------------------------------------------

    def publish_all(self, messages: Sequence[Message]) -> list[str]:
        """Journal the messages (all or none) and return their ids; raises PublishError."""
        if self._stopping:
            raise PublishError("the local queue is shutting down")
        try:
            keys = self._store.add(messages, time.time())
        except sqlite3.Error as exc:
            self._store_failed("store the events", exc)
            raise PublishError(f"the local queue could not store the events: {exc}") from exc
        self._store_ok()
        with self._cond:
            self._cond.notify_all()
        return [f"local-{k}" for k in keys]

    # -- out ---------------------------------------------------------------------------------

    def start(self) -> None:
        if self.forwarder is None:
            raise RuntimeError("attach a forwarder before starting the queue")
        for i in range(self.workers):
            thread = threading.Thread(target=self._work, name=f"capi-queue-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _wait(self, seconds: float) -> None:
        with self._cond:
            if not self._stopping:
                self._cond.wait(max(0.0, seconds))

    def _next(self) -> tuple[int, Delivery] | None:
        while True:
            with self._cond:
                if self._stopping:
                    return None
                exclude = self._busy | self._settled.keys()
                retries = [(s[1], k) for k, s in self._settled.items() if s is not None]
            if self._settled and time.monotonic() >= self._store_next_try:
                self._flush()
            try:
                found = self._store.earliest(exclude)
            except sqlite3.Error as exc:
                self._store_failed("be read", exc)
                self._wait(self._store_delay)
                continue
            candidates = [c for c in (found, min(retries, default=None)) if c is not None]
            now = time.time()
            if not candidates or min(candidates)[0] > now:
                due = min(candidates)[0] - now if candidates else POLL_S
                self._wait(min(POLL_S, due))
                continue
            key = min(candidates)[1]
            with self._cond:
                settled = self._settled.get(key, ())
                if key in self._busy or settled is None or (settled and settled[1] > now):
                    continue
                self._busy.add(key)
            try:
                row = self._load_claimed(key)
            except sqlite3.Error as exc:
                self._store_failed("be read", exc)
                self._wait(self._store_delay)
                continue
            if row is None:
                continue
            message, attempt = row
            if settled:  # a retry not yet written: its attempt is the one in memory
                attempt = settled[0]
            return key, Delivery(message, message_id=f"local-{key}", attempt=attempt)

    def _load_claimed(self, key: int) -> tuple[Message, int] | None:
        """The journal row of a key this worker marked busy. When the row was deleted meanwhile
        (an outcome written by another worker) the mark is released and None returned; a journal
        error releases it too, and propagates."""
        try:
            row = self._store.load(key)
        except sqlite3.Error:
            self._release(key)
            raise
        if row is None:
            self._release(key)
        return row

    def _release(self, key: int) -> None:
        with self._cond:
            self._busy.discard(key)

    def _more(self, limit: int) -> list[tuple[int, Delivery]]:
        """Up to `limit` more messages due now, marked busy, from one journal query (the rest of
        a batch; retries whose outcome is only in memory wait for `_next`)."""
        with self._cond:
            if self._stopping or limit <= 0:
                return []
            exclude = self._busy | self._settled.keys()
        try:
            keys = self._store.due(exclude, time.time(), limit)
        except sqlite3.Error as exc:
            self._store_failed("be read", exc)
            return []
        taken: list[tuple[int, Delivery]] = []
        for key in keys:
            with self._cond:
                if key in self._busy or key in self._settled:
                    continue
                self._busy.add(key)
            try:
                row = self._load_claimed(key)
            except sqlite3.Error as exc:
                self._store_failed("be read", exc)
                break  # the journal cannot be read now: send what was taken
            if row is None:
                continue
            message, attempt = row
            taken.append((key, Delivery(message, message_id=f"local-{key}", attempt=attempt)))
        return taken

    def _work(self) -> None:
        assert self.forwarder is not None
        while (item := self._next()) is not None:
            items = [item, *self._more(self.batch_size - 1)]
            try:
                if len(items) == 1:
                    decisions = [self.forwarder.process(item[1])]
                else:
                    decisions = self.forwarder.process_many([d for _, d in items])
            except Exception as exc:  # a bug must not kill the worker or lose the messages
                logs.error("forwarder raised; messages will be retried", error=repr(exc)[:300])
                decisions = [Decision.RETRY] * len(items)
            now = time.time()
            with self._cond:
                for (key, delivery), decision in zip(items, decisions, strict=True):
                    outcome: tuple[int, float] | None = None
                    if decision is not Decision.ACK:
                        delay = min(
                            self.backoff_s * 2 ** (delivery.attempt - 1), self.max_backoff_s
                        )
                        outcome = (delivery.attempt + 1, now + delay)
                    self._busy.discard(key)
                    self._settled[key] = outcome
                self._cond.notify_all()
            if time.monotonic() >= self._store_next_try:
                self._flush()

    def _flush(self) -> bool:
        """Write the outcomes kept in memory to the journal, in one transaction; True when none
        is left. One thread at a time; the others go on delivering."""
        if not self._flush_lock.acquire(blocking=False):
            return False
        try:
            with self._cond:
                pending = dict(self._settled)
            if not pending:
                return True
            done = [k for k, s in pending.items() if s is None]
            again = [(k, s[0], s[1]) for k, s in pending.items() if s is not None]
            try:
                self._store.settle(done, again)
            except sqlite3.Error as exc:
                self._store_failed("record delivery outcomes", exc)
                return False
            self._store_ok()
            with self._cond:
                for key, outcome in pending.items():
                    if self._settled.get(key, ()) == outcome:
                        del self._settled[key]
                self._cond.notify_all()
                return not self._settled
        finally:
            self._flush_lock.release()

    # -- state -------------------------------------------------------------------------------

    def pending(self) -> int:
        """Messages accepted and not yet delivered or dead-lettered (in flight included)."""
        with self._cond:
            written_off = sum(1 for s in self._settled.values() if s is None)
        try:
            return max(0, self._store.count() - written_off)
        except sqlite3.Error as exc:
            self._store_failed("be read", exc)
            return -1

    def health(self) -> str:
        """ "" when the journal works, else why it does not (capi serve's /healthz says so)."""
        return self.problem

    def drain(self, timeout_s: float = 30.0) -> bool:
        """Wait until nothing is queued or in flight; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while True:
            left = self.pending()
            with self._cond:
                if left == 0 and not self._busy:
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.1))

    def stop(self, timeout_s: float = 10.0) -> int:
        """Deliver what is due within `timeout_s`, then stop the workers; what is left stays in
        the journal for the next start. Returns how many messages were left."""
        self.drain(timeout_s)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout=1.0)
        for _ in range(3):  # the outcomes still in memory: a last chance to write them
            if self._flush():
                break
            time.sleep(self._store_delay)
        with self._cond:
            unwritten = len(self._settled)
            in_flight = len(self._busy)
        left = self.pending()
        try:
            ids = self._store.event_ids(20)
        except sqlite3.Error:
            ids = []
        if unwritten:
            logs.error(
                "delivery outcomes could not be written to the journal: those events are "
                "sent again on the next start (same event_id, Meta deduplicates)",
                events=unwritten,
                error=self.problem[:200],
            )
        if left:
            where = f"kept in {self.journal}" if self.journal else "LOST (in-memory queue)"
            logs.warning(
                "events not delivered before stopping",
                events=left,
                in_flight=in_flight,
                kept=where,
                event_ids=ids,
            )
        self.close()
        return max(left, 0)

    def close(self) -> None:
        """Close the journal and release it for another process (no delivery after this)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._store.close()
        if self._lock_file is not None:
            self._lock_file.release()
            self._lock_file = None
