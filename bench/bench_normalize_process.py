"""Benchmark: `capi normalize` as a whole process against Meta's Python SDK and the floor, on a
file of realistic events where every event is a new customer (a script, not a test).

    .venv/bin/python bench/bench_normalize_process.py [--events 40000] [--runs 3]
        [--baseline REV] [--common]

The corpus is tests/corpus.py's (messy names, phones in every national form, dates, states,
countries, public IPs), with a unique e-mail per event, written as JSON Lines. Each contestant
is one process that reads the file line by line and writes JSON Lines to a file:

- ours: `capi normalize FILE` (validation, normalization, hashing: what `capi send` sends),
  which uses every core for a file of 8 MiB or more, and `--jobs 1` (one process);
- SDK: facebook-business `UserData(...).normalize()` on each event's user_data (which also
  hashes), the rest of the event passed through; an event the SDK raises on is skipped, as it
  drops the whole user_data;
- floor: read each line, SHA-256 every customer-information value (lowercased and stripped, the
  same number of digests), write the line: what any normalizer must at least pay, with the JSON
  codec ours uses (orjson when installed, as `capi normalize`);
- ours at git revision REV (extracted with `git archive`), with --baseline.

With --common every contestant runs on the corpus events that both ours and the SDK write (the
SDK raises on about 58% of the corpus and so writes nothing for them): the same work on both
sides.

Every contestant runs with Python's bytecode cache (see _WITH_BYTECODE). Prints wall time,
events/s, CPU seconds and peak memory (ru_maxrss; it includes the about 10 MiB this small parent
had when it forked) of each, fastest of --runs, and the ratios ours/SDK (events/s) and
ours/floor (time).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PII = ("em", "ph", "fn", "ln", "ct", "st", "zp", "country", "db", "ge", "external_id")


def write_corpus(path: Path, events: int) -> None:
    sys.path.insert(0, str(ROOT))
    from tests.corpus import make_corpus

    chunk = 10_000
    now = int(time.time())  # events of the last days: the relay refuses future or stale ones
    with path.open("w", encoding="utf-8") as out:
        for start in range(0, events, chunk):
            batch = make_corpus(min(chunk, events - start), seed=start + 1, now=now)
            for offset, event in enumerate(batch):
                index = start + offset
                event["event_id"] = f"evt-{index}"
                user = event["user_data"]
                emails = user.get("em")
                if isinstance(emails, str) and "@" in emails:  # a new customer on every event
                    local, _, domain = emails.partition("@")
                    user["em"] = f"{local}.{index}@{domain}"
                out.write(json.dumps(event, ensure_ascii=False) + "\n")


def sdk_normalizer() -> Callable[[dict], dict | None]:
    """The SDK's `UserData(...).normalize()` of an event's user_data, or None where the SDK
    raises (it then drops the whole user_data)."""
    sys.path.insert(0, str(ROOT / "bench"))
    from bench_normalize import sdk_arguments
    from facebook_business.adobjects.serverside.user_data import UserData

    def normalize(event: dict) -> dict | None:
        try:
            return UserData(**sdk_arguments([event.get("user_data") or {}])[0]).normalize()
        except (TypeError, ValueError, AttributeError):
            return None

    return normalize


def child_sdk(source: str, target: str) -> None:
    normalize = sdk_normalizer()
    with open(source, encoding="utf-8") as lines, open(target, "w", encoding="utf-8") as out:
        for line in lines:
            event = json.loads(line)
            user = normalize(event)
            if user is None:
                continue
            event["user_data"] = user
            out.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n")


def child_floor(source: str, target: str) -> None:
    try:
        import orjson

        loads, dumps = orjson.loads, lambda v: orjson.dumps(v).decode()
    except ImportError:
        loads, dumps = (
            json.loads,
            lambda v: json.dumps(v, ensure_ascii=False, separators=(",", ":")),
        )

    def digest(value: Any) -> str:
        return hashlib.sha256(str(value).strip().lower().encode()).hexdigest()

    with open(source, encoding="utf-8") as lines, open(target, "w", encoding="utf-8") as out:
        for line in lines:
            event = loads(line)
            user = event.get("user_data") or {}
            for key in PII:
                value = user.get(key)
                if isinstance(value, list):
                    user[key] = [digest(v) for v in value]
                elif value is not None:
                    user[key] = [digest(value)]
            out.write(dumps(event) + "\n")


def write_common(source: str, ours_output: str, target: str) -> None:
    """The events of `source` that both the SDK and ours write (ours wrote `ours_output`)."""
    normalize = sdk_normalizer()
    with open(ours_output, encoding="utf-8") as lines:
        written = {json.loads(line).get("event_id") for line in lines}
    with open(source, encoding="utf-8") as lines, open(target, "w", encoding="utf-8") as out:
        for line in lines:
            event = json.loads(line)
            if event.get("event_id") in written and normalize(event) is not None:
                out.write(line)


# Every contestant runs with Python's bytecode cache, as an installation has it (pip compiles
# site-packages, where the SDK is; a source tree writes __pycache__ on its first run): a
# PYTHONDONTWRITEBYTECODE in the caller's environment would make only ours compile its modules
# on every run (about 20-30 ms of each run on this machine).
_WITH_BYTECODE = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def measure(command: list[str], stdout: Path, env: dict[str, str]) -> dict[str, float]:
    started = time.perf_counter()
    with stdout.open("wb") as out:
        proc = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.DEVNULL,
            cwd=stdout.parent,
            env={**_WITH_BYTECODE, **env},
        )
        _, _, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_mib": usage.ru_maxrss / 1024,
    }


def baseline_tree(revision: str) -> Path:
    tree = Path(tempfile.mkdtemp(prefix="capi-normalize-process-baseline-"))
    archive = subprocess.run(
        ["git", "archive", revision, "capi"], cwd=ROOT, check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline", default="")
    parser.add_argument(
        "--common",
        action="store_true",
        help="measure on the corpus events that both the SDK and ours write",
    )
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, source, target = args.child
        if kind == "corpus":
            write_corpus(Path(target), int(source))
        elif kind == "common":
            write_common(source, str(Path(target).with_suffix(".ours")), target)
        else:
            (child_sdk if kind == "sdk" else child_floor)(source, target)
        return 0

    tmp = Path(tempfile.mkdtemp(prefix="capi-bench-normalize-process-"))
    corpus = tmp / "events.jsonl"
    # in a child: a forked child starts with its parent's peak memory (ru_maxrss), so this
    # process stays small
    me = str(Path(__file__).resolve())
    subprocess.run(
        [sys.executable, me, "--child", "corpus", str(args.events), str(corpus)], check=True
    )
    python = sys.executable
    if args.common:  # ours once over the whole corpus, then keep what both write
        common = tmp / "common.jsonl"
        with common.with_suffix(".ours").open("wb") as out:
            subprocess.run(
                [python, "-m", "capi", "normalize", str(corpus)],
                stdout=out,
                stderr=subprocess.DEVNULL,
                check=False,  # exit 1: some events were skipped, as expected
            )
        subprocess.run([python, me, "--child", "common", str(corpus), str(common)], check=True)
        with common.open("rb") as lines:
            kept = sum(1 for _ in lines)
        print(f"# --common: {kept} of the {args.events} events are written by both")
        corpus, args.events = common, kept
    contestants: dict[str, tuple[list[str], dict[str, str]]] = {
        "ours": ([python, "-m", "capi", "normalize", str(corpus)], {}),
        "ours --jobs 1": ([python, "-m", "capi", "normalize", "--jobs", "1", str(corpus)], {}),
    }
    if args.baseline:
        tree = baseline_tree(args.baseline)
        contestants[f"ours at {args.baseline}"] = (
            [python, "-m", "capi", "normalize", str(corpus)],
            {"PYTHONPATH": str(tree)},
        )
    contestants["SDK"] = ([python, me, "--child", "sdk", str(corpus), str(tmp / "sdk.out")], {})
    contestants["floor"] = (
        [python, me, "--child", "floor", str(corpus), str(tmp / "floor.out")],
        {},
    )
    print(
        f"# {args.events} events, {corpus.stat().st_size / 2**20:.1f} MiB of JSON Lines, "
        f"fastest of {args.runs} runs per contestant (alternating); files in {tmp}"
    )
    best: dict[str, dict[str, float]] = {}
    for _ in range(args.runs):
        for name, (command, env) in contestants.items():
            figures = measure(command, tmp / f"{name.split()[0]}.stdout", env)
            if name not in best or figures["wall_s"] < best[name]["wall_s"]:
                best[name] = figures
    print(f"{'':24s}{'wall s':>9s}{'events/s':>11s}{'CPU s':>8s}{'peak MiB':>10s}{'x SDK':>8s}")
    sdk_rate = args.events / best["SDK"]["wall_s"]
    for name, figures in best.items():
        rate = args.events / figures["wall_s"]
        print(
            f"{name:24s}{figures['wall_s']:9.2f}{rate:11.0f}{figures['cpu_s']:8.2f}"
            f"{figures['peak_mib']:10.1f}{rate / sdk_rate:8.2f}"
        )
    for name in ("ours", "ours --jobs 1"):
        ratio = best[name]["wall_s"] / best["floor"]["wall_s"]
        print(f"{name} / floor (time): {ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
