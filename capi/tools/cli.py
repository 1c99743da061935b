"""The `capi` command (also `python -m capi`): serve, validate, normalize, send, replay, audit,
emulator-setup. Each subcommand imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from capi.config import ConfigError, Settings
from capi.tools.jsonout import json_line

if TYPE_CHECKING:
    from capi.meta.contract import Contract, EventResult
    from capi.tools.eventfile import FileEvent
    from capi.tools.parallel import Outcomes
    from capi.tools.replay import ReplayReport


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except ConfigError as exc:
        raise SystemExit(f"capi: configuration error: {exc}") from None


def _events(path: str) -> Iterator[FileEvent]:
    """The file's events one at a time (capi.tools.eventfile.iter_events); a file that cannot be
    read ends the command with the reason."""
    from capi.tools.eventfile import iter_events

    try:
        yield from iter_events(path)
    except OSError as exc:
        raise SystemExit(f"capi: cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise SystemExit(f"capi: {path} is not UTF-8 text") from None


def _contract() -> Contract:
    """The checks every door of the relay runs, with the same settings as ingest (CAPI_*)."""
    from capi.meta.contract import Contract

    return Contract.from_settings(_settings())


def _where(index: int, line: int | None) -> str:
    return f"event {index}" + (f" (line {line})" if line else "")


def _checked(args: argparse.Namespace) -> Iterator[tuple[FileEvent, EventResult | None]]:
    """Each event of the file with ingest's verdict (None when it could not be read), one at
    a time: JSON Lines are streamed with flat memory (capi.tools.eventfile.iter_events)."""
    from capi.tools.parallel import checked

    contract = _contract()
    now = time.time()
    for item in _events(args.file):
        yield item, checked(item, now, contract)


class _Blocks:
    """Lines written in blocks: one system call per `size` lines instead of one per line."""

    def __init__(self, stream: Any, size: int = 512) -> None:
        self.stream = stream
        self.size = size
        self.lines: list[str] = []

    def __call__(self, line: str) -> None:
        self.lines.append(line)
        if len(self.lines) >= self.size:
            self.flush()

    def flush(self) -> None:
        if self.lines:
            self.stream.write("\n".join(self.lines) + "\n")
            self.lines.clear()
        self.stream.flush()


def cmd_validate(args: argparse.Namespace) -> int:
    out = _Blocks(sys.stdout)
    try:
        return _validate(args, out)
    finally:
        out.flush()


def _validate(args: argparse.Namespace, emit: Any) -> int:
    from capi.tools import parallel

    invalid = total = 0
    for index, line, record in _per_event(args, parallel.validated, parallel.validate_block):
        total += 1
        record["index"], record["line"] = index, line
        invalid += record["status"] != "accepted"
        if args.json:
            emit(json_line(record, ensure_ascii=False))
            continue
        status = "ok" if record["status"] == "accepted" else "INVALID"
        emit(
            f"{_where(index, line)}: {status}"
            + (f" event_id={record.get('event_id')}" if record.get("event_id") else "")
        )
        for problem in record["errors"]:
            emit(f"  error   {problem['path'] or '(event)'}: {problem['message']}")
        for problem in record.get("warnings", []):
            emit(f"  warning {problem['path']}: {problem['message']}")
    if not args.json:
        emit.flush()
        sys.stderr.write(f"{total - invalid} valid, {invalid} invalid, {total} events\n")
    return 1 if invalid or total == 0 else 0


def cmd_normalize(args: argparse.Namespace) -> int:
    out, err = _Blocks(sys.stdout), _Blocks(sys.stderr)
    invalid = 0
    try:
        from capi.tools import parallel

        for index, line, output, messages in _per_event(
            args, parallel.normalized, parallel.normalize_block
        ):
            where = _where(index, line)
            if output is None:
                invalid += 1
                err(f"capi normalize: {where} skipped: {messages[0]}")
                continue
            for message in messages:  # normalization's warnings are among them
                err(f"capi normalize: {where} warning {message}")
            out(output)
    finally:
        out.flush()
        err.flush()
    return 1 if invalid else 0


def _per_event(
    args: argparse.Namespace,
    one: Callable[[FileEvent, EventResult | None], tuple[Any, ...]],
    block: Callable[[Any], Outcomes],
) -> Iterator[tuple[Any, ...]]:
    """`one(event, verdict)` for each event of the file, in input order: in this process, or,
    for a JSON Lines file, `block` in `--jobs` worker processes (capi.tools.parallel: the same
    outcomes). Each outcome starts with the event's number and its line number, counted over the
    whole file."""
    from capi.tools import parallel
    from capi.tools.eventfile import is_json_lines

    jobs = args.jobs or parallel.default_jobs(args.file)
    try:
        streamed = jobs > 1 and args.file != "-" and is_json_lines(args.file)
    except (OSError, UnicodeDecodeError):
        streamed = False  # _events below reports it
    if not streamed:
        for item, result in _checked(args):
            yield one(item, result)
        return
    contract = _contract()
    now = time.time()
    size = parallel.block_size(args.file, jobs)
    tasks = ((data, now, contract) for data in parallel.blocks(args.file, size))
    events = lines = 0  # in the blocks before this one
    try:
        for line_count, outcomes in parallel.ordered_map(block, tasks, jobs):
            for index, line, *rest in outcomes:
                yield events + index, lines + line if line else line, *rest
            events += len(outcomes)
            lines += line_count
    except OSError as exc:
        raise SystemExit(f"capi: cannot read {args.file}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise SystemExit(f"capi: {args.file} is not UTF-8 text") from None


def cmd_serve(args: argparse.Namespace) -> int:
    from capi.tools.serve import run

    return run(
        _settings(),
        host=args.host,
        port=args.port,
        dlq_path=args.dlq_file,
        journal=None if args.in_memory else args.queue_file,
        drain_s=args.drain_seconds,
        retry_horizon_s=args.retry_minutes * 60,
        max_connections=args.max_connections,
        read_timeout_s=args.read_timeout,
    )


def cmd_send(args: argparse.Namespace) -> int:
    from pathlib import Path

    from capi.forward.tokens import NoToken, TokenSource
    from capi.meta.graph import GraphClient
    from capi.secret_store import SecretError
    from capi.tools.send import (
        Backfill,
        InputEvent,
        SendAborted,
        StateFile,
        claimed,
        default_rejected_path,
        event_digest,
        print_progress,
    )
    from capi.wiring import secret_reader

    settings = _settings()
    pixel = args.pixel or settings.pixel_id or ("dry-run" if args.dry_run else "")
    if not pixel:
        print("capi send: no pixel: pass --pixel or set CAPI_PIXEL_ID", file=sys.stderr)
        return 2
    token = ""
    if not args.dry_run:
        tokens = TokenSource(
            token=settings.access_token,
            secret_name=settings.access_token_secret,
            reader=secret_reader(settings) if settings.access_token_secret else None,
        )
        try:
            token = tokens.get(pixel)
        except (NoToken, SecretError) as exc:
            print(
                f"capi send: {exc}; set CAPI_ACCESS_TOKEN or CAPI_ACCESS_TOKEN_SECRET (or try "
                "--dry-run)",
                file=sys.stderr,
            )
            return 2

    def inputs() -> Iterator[InputEvent]:
        for item in _events(args.file):
            digest = event_digest(item.value, item.error)
            yield InputEvent(item.index, item.value, digest, item.error)

    state_path = args.state or (None if args.file == "-" else f"{args.file}.send-state.json")
    state = None
    if state_path and not args.dry_run:  # a dry run sends nothing, so it records nothing
        state = StateFile(Path(state_path), os.path.abspath(args.file), _file_digest(args.file))
        if not args.restart:
            state.load()
    total = handled = None
    if args.file != "-":  # a first pass, streamed too: how many events, how many handled
        total = handled = 0
        for item in claimed(state, inputs()):
            total += 1
            handled += item.handled
        if state is not None:
            state.counts.reset()
    resuming = bool(handled)
    if state and state.file_changed:
        print(
            f"capi send: {args.file} changed since the last run: {handled} of "
            f"its events were handled then and are skipped; {total - handled} are new or changed",
            file=sys.stderr,
        )
    elif resuming:
        print(
            f"capi send: resuming: {handled} events were handled by an "
            f"earlier run ({state_path}; --restart sends everything again)",
            file=sys.stderr,
        )
    rejected_path = args.rejected or default_rejected_path(args.file)
    graph = GraphClient(
        settings.graph_url, settings.graph_version, timeout_s=settings.graph_timeout_s
    )
    with open(rejected_path, "a" if resuming else "w", encoding="utf-8") as rejected_out:
        backfill = Backfill(
            graph,
            token,
            pixel,
            test_event_code=args.test_event_code or settings.test_event_code,
            batch_size=args.batch_size,
            rejected_out=rejected_out,
            progress=print_progress(sys.stderr),
            contract=_contract(),
            dry_run=sys.stdout if args.dry_run else None,
        )

        if state is not None:
            state.start()
        try:
            report = backfill.run(
                claimed(state, inputs()),
                checkpoint=state.save if state is not None else (lambda digests: None),
                total=total,
            )
        except SendAborted as exc:
            print(f"\ncapi send: stopped: {exc}", file=sys.stderr)
            return 2
        finally:
            if state is not None:
                state.close()
    if not resuming and not report.rejected:
        with contextlib.suppress(OSError):  # an empty file of rejections names none: no file
            if os.path.getsize(rejected_path) == 0:
                os.remove(rejected_path)
    where = f" (written to {rejected_path})" if report.rejected else ""
    dropped = f", {report.dropped} dropped by the consent policy" if report.dropped else ""
    if args.dry_run:
        print(
            f"\ncapi send: DRY RUN: {report.printed} events in {report.requests} requests printed "
            f"(NOTHING sent to Meta), {report.rejected} rejected{where}{dropped}",
            file=sys.stderr,
        )
        return 1 if report.rejected else 0
    print(
        f"\ncapi send: {report.delivered} delivered, {report.rejected} rejected{where}{dropped}, "
        f"{report.requests} requests",
        file=sys.stderr,
    )
    return 1 if report.rejected else 0


def _print_replay(report: ReplayReport, dry_run: bool, source: str, target: str) -> int:
    for item in report.listed:
        keys = ("message_id", "event_id", "event_name", "dlq_reason", "error_code", "failed_at")
        print(json.dumps({k: item.get(k) for k in keys}))
    verb = "would replay" if dry_run else "replayed"
    print(
        f"capi replay: {verb} {report.replayed} of {report.seen} dead letters from "
        f"{source} to {target}; {report.skipped} did not match, {report.failed} failed",
        file=sys.stderr,
    )
    return 1 if report.failed else 0


def _file_digest(path: str) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cmd_replay(args: argparse.Namespace) -> int:
    from capi.queueing.pubsub import PubSubPublisher
    from capi.tools.replay import Replayer, ReplayFilter, parse_duration, replay_file

    try:
        older = parse_duration(args.older_than) if args.older_than else None
        newer = parse_duration(args.newer_than) if args.newer_than else None
    except ValueError as exc:
        print(f"capi replay: {exc}", file=sys.stderr)
        return 2
    replay_filter = ReplayFilter(
        event_names=frozenset(args.event_name),
        error_codes=frozenset(args.error_code),
        reasons=frozenset(args.reason),
        older_than_s=older,
        newer_than_s=newer,
    )
    if args.dlq_file:  # capi serve's dead letters, back into its queue journal
        report = replay_file(
            args.dlq_file,
            args.queue_file,
            filter=replay_filter,
            dry_run=args.dry_run,
            limit=args.limit,
        )
        return _print_replay(report, args.dry_run, args.dlq_file, args.queue_file)
    settings = _settings()
    topic = args.topic or settings.topic
    if not topic:
        print(
            "capi replay: no main topic: pass --topic or set CAPI_TOPIC (or --dlq-file for "
            "capi serve's dead letters)",
            file=sys.stderr,
        )
        return 2
    project = topic.split("/")[1]
    subscription = (
        args.subscription
        or settings.dlq_subscription
        or f"projects/{project}/subscriptions/capi-events-dlq-replay"
    )
    subscriber = _subscriber(settings.pubsub_endpoint)
    try:
        report = Replayer(
            subscriber,
            subscription,
            PubSubPublisher(
                topic, timeout_s=settings.publish_timeout_s, endpoint=settings.pubsub_endpoint
            ),
            filter=replay_filter,
            dry_run=args.dry_run,
            limit=args.limit,
        ).run()
    finally:
        subscriber.close()
    return _print_replay(report, args.dry_run, subscription, topic)


def _subscriber(endpoint: str) -> Any:
    """A Pub/Sub subscriber client; on `endpoint` (CAPI_PUBSUB_ENDPOINT) when set: a topic that
    enforces its storage regions in transit refuses requests received elsewhere."""
    from google.cloud import pubsub_v1

    return pubsub_v1.SubscriberClient(
        client_options={"api_endpoint": endpoint} if endpoint else None
    )


def cmd_audit(args: argparse.Namespace) -> int:
    from capi.tools import audit

    if not args.files and not args.dlq_subscription:
        print("give event or log files, - for stdin, or --dlq-subscription", file=sys.stderr)
        return 2
    contract = _contract()
    result = audit.audit_files(
        args.files, progress=not args.no_progress and sys.stderr.isatty(), contract=contract
    )
    if args.dlq_subscription:
        subscriber = _subscriber(_settings().pubsub_endpoint)
        letters = audit.pull_dead_letters(subscriber, args.dlq_subscription, limit=args.limit)
        for i, letter in enumerate(letters):
            audit.add_entry(result, letter, i, time.time(), f"dead letter {i + 1}", contract)
    for problem in result.problems:
        print(f"capi audit: skipped {problem}", file=sys.stderr)
    if result.unreadable > len(result.problems):
        more = result.unreadable - len(result.problems)
        print(f"capi audit: skipped {more} more unreadable entries", file=sys.stderr)
    summary = result.summary()
    if args.html:
        with open(args.html, "w", encoding="utf-8") as f:
            f.write(audit.html_report(summary))
        print(f"report written to {args.html}", file=sys.stderr)
    if args.json:
        print(json.dumps(summary, ensure_ascii=False, indent=2))
    elif not args.html:
        sys.stdout.write(audit.text_report(summary))
    return 0 if result.total else 1


def cmd_emulator_setup(args: argparse.Namespace) -> int:
    from capi.tools.emulator import setup

    try:
        names = setup(
            args.project,
            push_endpoint=None if args.drain else args.push_endpoint,
            max_delivery_attempts=args.max_delivery_attempts,
        )
    except RuntimeError as exc:
        print(f"capi emulator-setup: {exc}", file=sys.stderr)
        return 2
    for key, value in names.items():
        print(f"{key}: {value}")
    exports = f"CAPI_TOPIC={names['topic']} CAPI_DLQ_TOPIC={names['dlq_topic']}"
    if names["drain_subscription"]:
        exports += f" CAPI_DRAIN_SUBSCRIPTION={names['drain_subscription']}"
    print(f"export {exports}")
    return 0


def _jobs(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError("--jobs must be 1..64")
    return value


def _add_jobs(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--jobs",
        type=_jobs,
        default=0,
        help="processes for a JSON Lines file (default: every core for 512 KiB or more, else 1)",
    )


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number: {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="capi", description="Meta Conversions API relay")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the whole relay locally (ingest + queue + forwarder)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    p.add_argument("--dlq-file", default="capi-dlq.jsonl", help="where dead letters are written")
    p.add_argument(
        "--queue-file", default="capi-queue.db", help="the queue's journal (SQLite), kept on disk"
    )
    p.add_argument(
        "--in-memory",
        action="store_true",
        help="no journal: events not yet sent are lost on exit (benchmarks only)",
    )
    p.add_argument(
        "--drain-seconds",
        type=float,
        default=10.0,
        help="on SIGTERM / Ctrl-C, how long to keep delivering before leaving the rest on disk",
    )
    p.add_argument(
        "--retry-minutes",
        type=_positive_float,
        default=15.0,
        help="how long an event that meets transient failures (Meta down, throttling) is retried, "
        "with backoff from 1 s doubling to 60 s, before it is dead-lettered (default 15)",
    )
    p.add_argument(
        "--max-connections",
        type=int,
        default=128,
        help="connections served at once; the next one gets 503 (default 128)",
    )
    p.add_argument(
        "--read-timeout",
        type=_positive_float,
        default=10.0,
        help="seconds a request body (or an idle kept-alive connection) may take (default 10)",
    )
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("validate", help="check events; exit 1 when any is invalid")
    p.add_argument("file", help="a file of events, or - for stdin")
    p.add_argument("--json", action="store_true", help="one JSON result per line")
    _add_jobs(p)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("normalize", help="print the Meta-ready (hashed) events, one per line")
    p.add_argument("file", help="a file of events, or - for stdin")
    _add_jobs(p)
    p.set_defaults(func=cmd_normalize)

    p = sub.add_parser("send", help="deliver a file of events straight to Meta, in batches")
    p.add_argument("file", help="a file of events, or - for stdin")
    p.add_argument("--pixel", default="", help="pixel / dataset id (default CAPI_PIXEL_ID)")
    p.add_argument("--batch-size", type=int, default=1000, help="events per request, 1..1000")
    p.add_argument("--rejected", default="", help="where rejected events go (JSON Lines)")
    p.add_argument("--state", default="", help="resume file (default FILE.send-state.json)")
    p.add_argument(
        "--restart", action="store_true", help="forget the resume file: send every event again"
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print each request as JSON (what would be POSTed, without the token) and send "
        "nothing: no token needed, no resume file written",
    )
    p.add_argument(
        "--test-event-code",
        default="",
        help="send as test events (the code from Events Manager > Test Events; default "
        "CAPI_TEST_EVENT_CODE): they show in Test Events and are not counted as conversions",
    )
    p.set_defaults(func=cmd_send)

    p = sub.add_parser("replay", help="move dead-lettered events back to the main topic")
    p.add_argument("--subscription", default="", help="DLQ pull subscription path")
    p.add_argument("--topic", default="", help="main topic path (default CAPI_TOPIC)")
    p.add_argument("--event-name", action="append", default=[], help="only these event names")
    p.add_argument("--error-code", action="append", default=[], help="only these Meta codes")
    p.add_argument(
        "--reason",
        action="append",
        default=[],
        help="only these DLQ reasons: rejected, config, invalid, poison, exhausted",
    )
    p.add_argument("--older-than", default="", help="only dead letters older than e.g. 1h")
    p.add_argument("--newer-than", default="", help="only dead letters newer than e.g. 2d")
    p.add_argument("--limit", type=int, default=None, help="replay at most this many")
    p.add_argument("--dry-run", action="store_true", help="list only; acknowledge nothing")
    p.add_argument(
        "--dlq-file",
        default="",
        help="capi serve's dead-letter file (e.g. capi-dlq.jsonl): replay into --queue-file",
    )
    p.add_argument("--queue-file", default="capi-queue.db", help="capi serve's queue journal")
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser(
        "audit", help="coverage, match grades and common failures of events, dead letters or logs"
    )
    p.add_argument(
        "files",
        nargs="*",
        help="files of events (as for validate), dead-letter files, or exported log lines; - stdin",
    )
    p.add_argument("--dlq-subscription", default="", help="also read this DLQ pull subscription")
    p.add_argument("--limit", type=int, default=1_000_000, help="dead letters to read at most")
    p.add_argument("--json", action="store_true", help="the summary as JSON")
    p.add_argument("--html", default="", help="write a self-contained HTML report to this file")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on large inputs")
    p.set_defaults(func=cmd_audit)

    p = sub.add_parser("emulator-setup", help="create topics and subscriptions in the emulator")
    p.add_argument("--project", default=os.environ.get("PUBSUB_PROJECT_ID", "capi-local"))
    p.add_argument("--push-endpoint", default="http://127.0.0.1:8081/")
    p.add_argument("--max-delivery-attempts", type=int, default=5)
    p.add_argument(
        "--drain",
        action="store_true",
        help="a pull subscription for the draining forwarder (POST /drain) instead of push",
    )
    p.set_defaults(func=cmd_emulator_setup)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
