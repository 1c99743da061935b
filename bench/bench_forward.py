"""The forwarder alone under Pub/Sub push load, as deployed before issue 15 and as deployed now, on
the same CPU, in the same run (a script, not a test).

    .venv/bin/python bench/bench_forward.py [--events 4000] [--concurrency 250] [--window-ms 100]
        [--graph-latency-ms 150] [--cpus 1] [--also-off] [--sweep]

Starts the forward target as a functions-framework process against the Graph API stand-in
answering after --graph-latency-ms, and POSTs Pub/Sub push envelopes from as many clients as the
instance's concurrency, as Pub/Sub does for a push subscription that keeps an instance full. The
forward process tree is pinned to --cpus cores (an instance's vCPUs; the pushers and the stand-in
run on the other cores), so "events/s at the same CPU" is events/s of one 1-vCPU instance.

- before: the deployment before issue 15: Cloud Run concurrency 8, gunicorn THREADS left at
  Functions Framework's default (4 per vCPU), one Graph request per push;
- off (--also-off): today's concurrency and threads, batching off;
- now: Terraform's defaults today: THREADS = concurrency = --concurrency, CAPI_BATCH_WINDOW_MS =
  --window-ms;
- --sweep: now with concurrency 80/160/250/500 and windows 50/100/200 ms.

Prints events/s, the forward process tree's CPU per event, Graph requests per 1,000 events, push
latency p50/p99, the forward tree's peak memory (VmHWM), and checks every event was delivered
exactly once. The Pub/Sub emulator is not used here: it pushes about two messages at a time, so
batches would hardly form (load_e2e.py).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.load_e2e import tree_cpu_s, tree_peak_mib, tree_pids  # noqa: E402
from capi.queueing.messages import event_message  # noqa: E402
from tests.conftest import FunctionProcess  # noqa: E402
from tests.factories import purchase  # noqa: E402
from tests.standins.meta_graph import MetaGraphStandIn  # noqa: E402

PIXEL = "1234567890"
# The cores this script may use, read before main() moves itself (the pushers and the stand-in)
# off the forward's cores: run() pins the forward process tree to the last --cpus of them.
MACHINE_CPUS = sorted(os.sched_getaffinity(0))
TOKEN = "EAAbench"


def envelope(event_id: str) -> bytes:
    message = event_message(purchase(event_id=event_id), pixel_id=PIXEL, source="bench")
    return json.dumps(
        {
            "message": {
                "data": base64.b64encode(message.data).decode(),
                "attributes": message.attributes,
                "messageId": event_id,
            },
            "subscription": "projects/p/subscriptions/bench",
        }
    ).encode()


def pin_tree(pid: int, cpus: set[int]) -> None:
    """Pin a process tree, every thread of it, to `cpus` (threads started later inherit it)."""
    for process in tree_pids(pid):
        with contextlib.suppress(OSError):  # it ended
            for task in Path(f"/proc/{process}/task").iterdir():
                with contextlib.suppress(OSError):  # a thread that just ended
                    os.sched_setaffinity(int(task.name), cpus)


def run(
    name: str, *, threads: int, pushes: int, window_ms: int, events: int, args, tmp: Path
) -> dict[str, float]:
    graph = MetaGraphStandIn(tokens=[TOKEN], pixels=[PIXEL], latency_s=args.graph_latency_ms / 1000)
    graph.start()
    forward = FunctionProcess(
        "forward",
        {
            "CAPI_PIXEL_ID": PIXEL,
            "CAPI_ACCESS_TOKEN": TOKEN,
            "CAPI_GRAPH_URL": graph.url,
            "CAPI_BATCH_WINDOW_MS": str(window_ms),
            "THREADS": str(threads),
        },
        tmp / f"forward-{name.replace('/', '-')}.log",
    )
    forward.start()
    forward_cpus = set(MACHINE_CPUS[-args.cpus :])  # main() moved this process off them
    pin_tree(forward.proc.pid, forward_cpus)
    try:
        bodies = [envelope(f"{name}-{i}") for i in range(events)]
        latencies: list[float] = []
        local = threading.local()
        statuses: Counter = Counter()

        def push(body: bytes) -> None:
            session = getattr(local, "session", None) or requests.Session()
            local.session = session
            for _ in range(5):  # a nack is redelivered, as Pub/Sub would
                began = time.perf_counter()
                status = session.post(
                    forward.url + "/", data=body, headers={"Content-Type": "application/json"}
                ).status_code
                latencies.append(time.perf_counter() - began)
                statuses[status] += 1
                if status < 300:
                    return

        cpu_before = tree_cpu_s(forward.proc.pid)
        started = time.perf_counter()
        with ThreadPoolExecutor(pushes) as pool:
            list(pool.map(push, bodies))
        elapsed = time.perf_counter() - started
        cpu = tree_cpu_s(forward.proc.pid) - cpu_before
        delivered = Counter(graph.event_ids())
        duplicated = sum(c - 1 for c in delivered.values() if c > 1)
        lost = events - len(delivered)
        latencies.sort()
        return {
            "events/s": events / elapsed,
            "cpu_ms_per_event": 1000 * cpu / events,
            "graph_requests_per_1000": 1000 * len(graph.requests) / events,
            "push_p50_ms": 1000 * statistics.median(latencies),
            "push_p99_ms": 1000 * latencies[int(0.99 * (len(latencies) - 1))],
            "peak_mib": tree_peak_mib(forward.proc.pid),
            "lost": lost,
            "duplicated": duplicated,
            "nacks": sum(n for s, n in statuses.items() if s >= 300),
        }
    finally:
        forward.stop()
        graph.stop()


BEFORE_THREADS = 4  # Functions Framework's default: 4 threads per CPU (1 vCPU)
BEFORE_CONCURRENCY = 8  # forward.concurrency in Terraform before issue 15
KEYS = (
    "events/s",
    "cpu_ms_per_event",
    "graph_requests_per_1000",
    "push_p50_ms",
    "push_p99_ms",
    "peak_mib",
    "lost",
    "duplicated",
    "nacks",
)


def table(results: dict[str, dict[str, float]]) -> None:
    names = list(results)
    print(f"{'':26s}" + "".join(f"{n:>20s}" for n in names) + f"{'now/before':>12s}")
    for key in KEYS:
        cells = "".join(f"{results[n][key]:20.2f}" for n in names)
        ratio = ""
        if "before" in results and "now" in results and results["before"][key]:
            ratio = f"{results['now'][key] / results['before'][key]:12.2f}"
        print(f"{key:26s}{cells}{ratio}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=4000)
    parser.add_argument("--before-events", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=250)
    parser.add_argument("--graph-latency-ms", type=float, default=150)
    parser.add_argument("--window-ms", type=int, default=100)
    parser.add_argument("--cpus", type=int, default=1)
    parser.add_argument("--also-off", action="store_true")
    parser.add_argument("--sweep", action="store_true")
    args = parser.parse_args()
    if len(os.sched_getaffinity(0)) <= args.cpus:
        parser.error("--cpus must leave at least one core for the pushers and the stand-in")
    others = set(sorted(os.sched_getaffinity(0))[: -args.cpus])
    os.sched_setaffinity(0, others)  # the pushers and the stand-in stay off the forward cores
    tmp = Path(tempfile.mkdtemp(prefix="capi-bench-forward-"))
    print(
        f"# forward under push load: {args.events} events ({args.before_events} before), "
        f"Graph answers after {args.graph_latency_ms:g} ms; forward on {args.cpus} core(s), "
        f"pushers on {len(others)}; logs in {tmp}"
    )
    results: dict[str, dict[str, float]] = {}
    if args.sweep:
        for concurrency in (80, 160, 250, 500):
            for window in (50, 100, 200):
                name = f"c{concurrency}/w{window}"
                results[name] = run(
                    name, threads=concurrency, pushes=concurrency, window_ms=window,
                    events=args.events, args=args, tmp=tmp,
                )  # fmt: skip
                print(name, {k: round(v, 2) for k, v in results[name].items()}, flush=True)
        table(results)
        return 0
    print(
        f"# before: THREADS {BEFORE_THREADS}, {BEFORE_CONCURRENCY} pushes in flight, no batching; "
        f"now: THREADS and pushes {args.concurrency}, window {args.window_ms} ms"
    )
    results["before"] = run(
        "before", threads=BEFORE_THREADS, pushes=BEFORE_CONCURRENCY, window_ms=0,
        events=args.before_events, args=args, tmp=tmp,
    )  # fmt: skip
    if args.also_off:
        results["off"] = run(
            "off", threads=args.concurrency, pushes=args.concurrency, window_ms=0,
            events=args.events, args=args, tmp=tmp,
        )  # fmt: skip
    results["now"] = run(
        "now", threads=args.concurrency, pushes=args.concurrency, window_ms=args.window_ms,
        events=args.events, args=args, tmp=tmp,
    )  # fmt: skip
    table(results)
    bad = any(r["lost"] or r["duplicated"] for r in results.values())
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
