"""The forwarder's CPU per event and Graph requests per 1,000 events, draining a pull subscription
of the real Pub/Sub emulator (issue 25) against push mode as deployed today, on the same CPU, in
the same run (a script, not a test).

    .venv/bin/python bench/bench_drain.py [--events 5000] [--graph-latency-ms 150] [--cpus 1]
        [--push-concurrency 250]

- drain: the forward target (functions-framework) with CAPI_DRAIN_SUBSCRIPTION; the events are
  published to the emulator first, then one POST /drain (what Cloud Scheduler sends) empties the
  subscription. CPU is the forward process tree's, from before the POST to its answer: pulls,
  checks, hashing, Graph requests, acks.
- push: bench/bench_forward.py's "now" (Terraform's defaults: concurrency and THREADS 250, a 100
  ms batch window), pushes POSTed directly (the emulator pushes about two at a time, which would
  flatter the drain).

Both check that every event reached the Graph stand-in exactly once. Needs gcloud's Pub/Sub
emulator (as the integration tests do).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_forward import MACHINE_CPUS, PIXEL, TOKEN, pin_tree  # noqa: E402
from bench.bench_forward import run as run_push  # noqa: E402
from bench.load_e2e import tree_cpu_s, tree_peak_mib  # noqa: E402
from capi.queueing.messages import event_message  # noqa: E402
from capi.queueing.pubsub import PubSubPublisher  # noqa: E402
from tests.conftest import FunctionProcess, PubSubEmulator, free_port  # noqa: E402
from tests.factories import purchase  # noqa: E402
from tests.standins.meta_graph import MetaGraphStandIn  # noqa: E402


def run_drain(events: int, args: argparse.Namespace, tmp: Path) -> dict[str, float]:
    from capi.tools.emulator import setup

    names = setup(f"bench-{os.getpid()}", push_endpoint=None, ack_deadline_s=60)
    graph = MetaGraphStandIn(tokens=[TOKEN], pixels=[PIXEL], latency_s=args.graph_latency_ms / 1000)
    graph.start()
    forward = FunctionProcess(
        "forward",
        {
            "CAPI_PIXEL_ID": PIXEL,
            "CAPI_ACCESS_TOKEN": TOKEN,
            "CAPI_GRAPH_URL": graph.url,
            "CAPI_DLQ_TOPIC": names["dlq_topic"],
            "CAPI_DRAIN_SUBSCRIPTION": names["drain_subscription"],
            "CAPI_DRAIN_BUDGET": "600",
        },
        tmp / "forward-drain.log",
    )
    forward.start()
    pin_tree(forward.proc.pid, set(MACHINE_CPUS[-args.cpus :]))
    try:
        # Warm (imports, clients, an empty pull), then publish every event, then one drain.
        requests.post(forward.url + "/drain", timeout=120)
        publisher = PubSubPublisher(names["topic"], max_inflight=0)
        for start in range(0, events, 500):
            ids = range(start, min(events, start + 500))
            batch = [purchase(event_id=f"drain-{i}") for i in ids]
            publisher.publish_all([event_message(e, pixel_id=PIXEL, source="bench") for e in batch])
        cpu_before = tree_cpu_s(forward.proc.pid)
        started = time.perf_counter()
        answer = requests.post(forward.url + "/drain", timeout=600)
        elapsed = time.perf_counter() - started
        cpu = tree_cpu_s(forward.proc.pid) - cpu_before
        delivered = Counter(graph.event_ids())
        report = answer.json()
        return {
            "events/s": events / elapsed,
            "cpu_ms_per_event": 1000 * cpu / events,
            "graph_requests_per_1000": 1000 * len(graph.requests) / events,
            "peak_mib": tree_peak_mib(forward.proc.pid),
            "lost": events - len(delivered),
            "duplicated": sum(c - 1 for c in delivered.values() if c > 1),
            "acked": float(report.get("acked", 0)),
        }
    finally:
        forward.stop()
        graph.stop()


KEYS = ("events/s", "cpu_ms_per_event", "graph_requests_per_1000", "peak_mib", "lost", "duplicated")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--graph-latency-ms", type=float, default=150)
    parser.add_argument("--cpus", type=int, default=1)
    parser.add_argument("--push-concurrency", type=int, default=250)
    args = parser.parse_args()
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        parser.error("gcloud's Pub/Sub emulator is needed")
    all_cpus = sorted(os.sched_getaffinity(0))
    if len(all_cpus) <= args.cpus:
        parser.error("--cpus must leave at least one core for the publisher and the stand-in")
    os.sched_setaffinity(0, set(all_cpus[: -args.cpus]))
    tmp = Path(tempfile.mkdtemp(prefix="capi-bench-drain-"))
    emulator = PubSubEmulator(gcloud, free_port(), tmp / "emulator.log")
    emulator.start()
    os.environ["PUBSUB_EMULATOR_HOST"] = emulator.host
    print(
        f"# {args.events} events, Graph answers after {args.graph_latency_ms:g} ms, forward on "
        f"{args.cpus} core(s); logs in {tmp}"
    )
    try:
        push_args = SimpleNamespace(graph_latency_ms=args.graph_latency_ms, cpus=args.cpus)
        results = {
            "push": run_push(
                "push",
                threads=args.push_concurrency,
                pushes=args.push_concurrency,
                window_ms=100,
                events=args.events,
                args=push_args,
                tmp=tmp,
            )
        }
        results["drain"] = run_drain(args.events, args, tmp)
    finally:
        emulator.stop()
    print(f"{'':26s}{'push':>14s}{'drain':>14s}{'drain/push':>12s}")
    for key in KEYS:
        push, drain = results["push"][key], results["drain"][key]
        ratio = f"{drain / push:12.2f}" if push else ""
        print(f"{key:26s}{push:14.2f}{drain:14.2f}{ratio}")
    bad = any(r["lost"] or r["duplicated"] for r in results.values())
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
