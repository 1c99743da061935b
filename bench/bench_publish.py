"""The Pub/Sub publisher alone, with and without group commit (a script, not a test).

    .venv/bin/python bench/bench_publish.py [--threads 8] [--calls 300] [--limits 0,1,2]

Starts the real Pub/Sub emulator and publishes single-message calls (an ingest request's size)
through `PubSubPublisher` and the real client, from `--threads` threads, for each value of
`CAPI_PUBLISH_MAX_INFLIGHT` in `--limits` (0: every call its own RPC at once, as before group
commit), alternating the order over two rounds after a warm-up. Prints publishes/s, p50/p99
latency, this process's CPU per publish (the client's cost: gRPC, proto, our code) and calls
per Publish RPC.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from capi.queueing.messages import Message  # noqa: E402
from capi.queueing.pubsub import PubSubPublisher  # noqa: E402
from tests.conftest import PubSubEmulator, free_port  # noqa: E402

MESSAGE = Message(
    b'{"event_name":"Purchase","event_id":"e","user_data":{"em":"' + b"a" * 400 + b'"}}',
    {"pixel_id": "1234567890", "event_name": "Purchase", "event_id": "e", "source": "events"},
)


def run(publisher: PubSubPublisher, threads: int, calls: int) -> dict[str, float]:
    latencies: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        mine = []
        for _ in range(calls):
            started = time.perf_counter()
            publisher.publish_all([MESSAGE])
            mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)

    rpcs, grouped = publisher.group.rpcs, publisher.group.calls
    cpu, wall = time.process_time(), time.perf_counter()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    latencies.sort()
    n = len(latencies)
    return {
        "n": n,
        "wall": wall,
        "cpu": cpu,
        "p50": latencies[n // 2],
        "p99": latencies[min(n - 1, int(0.99 * n))],
        "rpcs": publisher.group.rpcs - rpcs,
        "calls": publisher.group.calls - grouped,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--calls", type=int, default=300, help="calls per thread and round")
    parser.add_argument("--limits", default="0,1,2", help="CAPI_PUBLISH_MAX_INFLIGHT values")
    args = parser.parse_args()
    limits = [int(x) for x in args.limits.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="capi-bench-publish-"))
    emulator = PubSubEmulator(shutil.which("gcloud") or "gcloud", free_port(), tmp / "emu.log")
    emulator.start()
    os.environ["PUBSUB_EMULATOR_HOST"] = emulator.host
    try:
        from google.cloud import pubsub_v1

        topic = "projects/capi-bench/topics/publish-bench"
        pubsub_v1.PublisherClient().create_topic(name=topic)
        publishers = {n: PubSubPublisher(topic, max_inflight=n) for n in limits}
        for publisher in publishers.values():  # connect, and warm the emulator up
            run(publisher, args.threads, args.calls // 2)
        rounds: dict[int, list[dict[str, float]]] = {n: [] for n in limits}
        for repeat in range(2):
            for n in limits if repeat == 0 else limits[::-1]:
                rounds[n].append(run(publishers[n], args.threads, args.calls))
        print(f"# {args.threads} threads, {args.calls} single-message calls each, two rounds")
        base = None
        for n, results in rounds.items():
            total = sum(r["n"] for r in results)
            rate = total / sum(r["wall"] for r in results)
            base = base or rate
            print(
                f"max_inflight {n}: {rate:7.1f} publishes/s ({rate / base:.2f}x the first)  "
                f"p50 {1000 * max(r['p50'] for r in results):5.2f} ms  "
                f"p99 {1000 * max(r['p99'] for r in results):5.2f} ms  "
                f"client CPU {1000 * sum(r['cpu'] for r in results) / total:.3f} ms/publish  "
                f"{sum(r['calls'] for r in results) / sum(r['rpcs'] for r in results):.2f} "
                "calls per RPC"
            )
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
