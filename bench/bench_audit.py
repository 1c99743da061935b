"""`capi audit` throughput and memory, against baselines measured in the same run (a script, not a
test).

    .venv/bin/python bench/bench_audit.py [--events 200000] [--log-lines 1000000]

Writes a JSON Lines file of realistic events (tests/corpus.py, repeated with fresh ids) and one of
exported delivery log lines, then times, each in a fresh process so peak memory (ru_maxrss) is its
own:
- baseline: `json.loads` of every line (the floor any line reader pays);
- `capi audit` on the events (each goes through ingest's contract: validate, normalize, hash);
- baseline: `capi validate --json` on the same events (the same contract, one result per line);
- `capi audit` on the log lines (no event processing).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.corpus import make_corpus  # noqa: E402

CAPI = str(Path(sys.executable).parent / "capi")


def write_events(path: Path, n: int) -> None:
    base = make_corpus(600, now=int(time.time()))
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            event = dict(base[i % len(base)])
            event["event_id"] = f"bench-{i}"
            f.write(json.dumps(event) + "\n")


def write_log_lines(path: Path, n: int) -> None:
    grades = ("strong", "strong", "good", "weak")
    keys = (["em", "ph", "fbp"], ["em", "client_ip_address"], ["em"], ["fbc"])
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            payload = {
                "message": "event delivered",
                "outcome": "delivered",
                "event_name": ("Purchase", "Lead", "PageView")[i % 3],
                "event_id": f"log-{i}",
                "pixel_id": "123",
                "match_keys": keys[i % 4],
                "grade": grades[i % 4],
                "latency_ms": 812.5,
            }
            f.write(json.dumps({"jsonPayload": payload, "severity": "INFO"}) + "\n")


# Runs a command and prints its own peak memory (KiB): a fresh parent per measurement, so the
# figure is that command's alone.
PEAK = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code)"
)


def timed(argv: list[str]) -> tuple[float, float]:
    """(seconds, peak MiB) of a command run in its own process (exit 0 or 1 expected: validate
    exits 1 when an event is invalid)."""
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", PEAK, *argv], check=True, capture_output=True, text=True
    ).stdout.split()
    elapsed = time.perf_counter() - started
    assert out[1] in ("0", "1"), (argv, out)
    return elapsed, int(out[0]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--log-lines", type=int, default=1_000_000)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="capi-bench-audit-"))
    events, logs = tmp / "events.jsonl", tmp / "logs.jsonl"
    write_events(events, args.events)
    write_log_lines(logs, args.log_lines)
    reader = "import json,sys\nfor line in open(sys.argv[1]): json.loads(line)"
    rows = [
        (
            "baseline: json.loads per line, events",
            [sys.executable, "-c", reader, str(events)],
            args.events,
        ),
        (
            "capi audit, events",
            [CAPI, "audit", "--no-progress", "--json", str(events)],
            args.events,
        ),
        (
            "baseline: capi validate --json, events",
            [CAPI, "validate", "--json", str(events)],
            args.events,
        ),
        (
            "baseline: json.loads per line, log lines",
            [sys.executable, "-c", reader, str(logs)],
            args.log_lines,
        ),
        (
            "capi audit, exported log lines",
            [CAPI, "audit", "--no-progress", "--json", str(logs)],
            args.log_lines,
        ),
    ]
    results = {}
    print(
        f"# {args.events:,} events ({events.stat().st_size / 2**20:.0f} MiB), "
        f"{args.log_lines:,} log lines ({logs.stat().st_size / 2**20:.0f} MiB)"
    )
    for label, argv, n in rows:
        seconds, peak = timed(argv)
        results[label] = n / seconds
        print(f"{label:45s} {n / seconds:12,.0f} per s  {seconds:7.2f} s  peak {peak:6.0f} MiB")
    print(
        f"audit / validate on events: "
        f"{results['capi audit, events'] / results['baseline: capi validate --json, events']:.2f}"
    )


if __name__ == "__main__":
    main()
