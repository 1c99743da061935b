"""Benchmark: `capi send` on a large file, its memory and time, first run and resumed run (a
script, not a test).

    .venv/bin/python bench/bench_send.py [--events 1000000] [--baseline REV]

Writes the corpus of bench_normalize_process.py (a new customer on every event), starts the
Graph API stand-in in a process of its own, then runs `capi send FILE` twice: the first run
delivers everything (1,000 events per request), the second finds every event handled in the
state file and sends nothing (what a resumed run pays to skip). Prints wall time, CPU seconds
and peak memory (ru_maxrss) of each run. With --baseline REV the first run is also timed with
the relay's code at git revision REV (extracted with `git archive`), on a fresh state.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_normalize_process import baseline_tree  # noqa: E402

PIXEL = "1234567890"
TOKEN = "EAAbenchsend"
STANDIN = f"""
import sys, time
sys.path.insert(0, {str(ROOT)!r})
from tests.standins.meta_graph import MetaGraphStandIn
standin = MetaGraphStandIn(tokens=[{TOKEN!r}], pixels=[{PIXEL!r}])
standin.start()
print(standin.url, flush=True)
while True:
    time.sleep(3600)
"""


def run(command: list[str], env: dict[str, str], cwd: Path) -> dict[str, float]:
    started = time.perf_counter()
    proc = subprocess.Popen(
        command,
        cwd=cwd,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    return {
        "wall_s": time.perf_counter() - started,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_mib": usage.ru_maxrss / 1024,
        "exit": os.waitstatus_to_exitcode(status),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--baseline", default="")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="capi-bench-send-"))
    corpus = tmp / "events.jsonl"
    me = ROOT / "bench" / "bench_normalize_process.py"
    subprocess.run(
        [sys.executable, str(me), "--child", "corpus", str(args.events), str(corpus)], check=True
    )
    standin = subprocess.Popen(
        [sys.executable, "-c", STANDIN], stdout=subprocess.PIPE, text=True, cwd=tmp
    )
    try:
        url = standin.stdout.readline().strip()
        env = {
            "CAPI_GRAPH_URL": url,
            "CAPI_ACCESS_TOKEN": TOKEN,
            "CAPI_PIXEL_ID": PIXEL,
            "CAPI_ACCESS_TOKEN_SECRET": "",
        }
        send = [sys.executable, "-m", "capi", "send", str(corpus)]
        print(f"# {args.events} events, {corpus.stat().st_size / 2**20:.1f} MiB; files in {tmp}")
        results = {"first run": run(send, env, tmp), "resumed (all handled)": run(send, env, tmp)}
        if args.baseline:
            tree = baseline_tree(args.baseline)
            state = Path(f"{corpus}.send-state.json")
            state.unlink()
            results[f"first run at {args.baseline}"] = run(
                send, {**env, "PYTHONPATH": str(tree)}, tmp
            )
    finally:
        standin.kill()
    print(f"{'':30s}{'wall s':>9s}{'CPU s':>8s}{'peak MiB':>10s}{'exit':>6s}")
    for name, r in results.items():
        print(f"{name:30s}{r['wall_s']:9.1f}{r['cpu_s']:8.1f}{r['peak_mib']:10.1f}{r['exit']:6.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
