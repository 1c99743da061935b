"""Benchmark: where `capi normalize` spends its CPU per event, stage by stage, against Meta's
Python SDK on the same lines (a script, not a test).

    .venv/bin/python bench/bench_normalize_stages.py [--events 40000] [--runs 3]

The corpus is bench_normalize_process.py's (a new customer on every event). One process reads
it line by line, as `capi normalize --jobs 1` does, once per pipeline, each pipeline one stage
longer than the one before, with the normalizers' caches emptied before each pass:

1. read: the lines only;
2. parse: + ingest's strict JSON parser (capi.meta.body.parse_json);
3. hash only: + prepare_user_data (normalize and SHA-256 the customer information: what the
   SDK does, and nothing else);
4. every check: + the whole contract ingest runs instead of 3 (enrichment, validation of every
   field, customer information, consent, the match grade);
5. write: + the output line and the warnings (capi.tools.parallel.normalized).

The SDK pipeline: json.loads and `UserData(...).normalize()` of each line, as in
bench_normalize_process.py (it raises on most of the corpus and then does nothing more).

Prints CPU microseconds per event of each pipeline (fastest of --runs), what each stage adds,
and the arithmetic of the goal: to be as fast as the SDK with both cores of this machine, a
worker may spend at most about twice the SDK's time per event.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_normalize_process import sdk_normalizer, write_corpus  # noqa: E402

from capi.meta import normalize as normalizers  # noqa: E402
from capi.meta.body import parse_json  # noqa: E402
from capi.meta.user_data import prepare_user_data  # noqa: E402
from capi.tools.cli import _contract  # noqa: E402
from capi.tools.eventfile import FileEvent  # noqa: E402
from capi.tools.parallel import checked, normalized  # noqa: E402


def pipelines(now: float) -> dict[str, Callable[[str], object]]:
    contract = _contract()

    def parse(line: str) -> object:
        return parse_json(line.encode("utf-8", "surrogatepass"))

    def hash_only(line: str) -> object:
        event = parse(line)
        user = event.get("user_data") if isinstance(event, dict) else None
        return prepare_user_data(user)

    def check(line: str) -> object:
        return contract.check(parse(line), 0, now=now)

    def write(line: str) -> object:
        item = FileEvent(0, parse(line), line=1)
        return normalized(item, checked(item, now, contract))

    return {
        "1 read": lambda line: None,
        "2 parse": parse,
        "3 hash only": hash_only,
        "4 every check": check,
        "5 write": write,
    }


def sdk_pipeline() -> Callable[[str], object]:
    normalize = sdk_normalizer()
    return lambda line: normalize(json.loads(line))


def cpu_per_event(path: Path, one: Callable[[str], object], runs: int, events: int) -> float:
    best = float("inf")
    for _ in range(runs):
        normalizers.clear_caches()
        started = time.process_time()
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                one(line)
        best = min(best, time.process_time() - started)
    return best / events * 1e6


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    path = Path(tempfile.mkdtemp(prefix="capi-bench-stages-")) / "events.jsonl"
    write_corpus(path, args.events)
    now = time.time()
    figures = {
        name: cpu_per_event(path, one, args.runs, args.events)
        for name, one in pipelines(now).items()
    }
    sdk = cpu_per_event(path, sdk_pipeline(), args.runs, args.events)
    print(f"# {args.events} events, CPU µs per event, fastest of {args.runs} runs; file {path}")
    print(f"{'pipeline':18s}{'µs/event':>10s}{'stage adds':>12s}{'x SDK time':>12s}")
    previous = 0.0
    for name, value in figures.items():
        print(f"{name:18s}{value:10.1f}{value - previous:12.1f}{value / sdk:12.2f}")
        previous = value
    print(f"{'SDK':18s}{sdk:10.1f}{'':12s}{1:12.2f}")
    print(
        f"budget with both cores: about 2 x {sdk:.1f} = {2 * sdk:.1f} µs per event and worker "
        f"(before the main process's share and the last block's wait); ours: "
        f"{figures['5 write']:.1f} ({figures['5 write'] / (2 * sdk):.2f}x the budget); the "
        f"customer information alone (3 - 2): {figures['3 hash only'] - figures['2 parse']:.1f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
