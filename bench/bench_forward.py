"""The forwarder alone under Pub/Sub push load, batching off and on in the same run (a script, not
a test).

    .venv/bin/python bench/bench_forward.py [--events 4000] [--concurrency 80]
        [--graph-latency-ms 150] [--window-ms 50]

Starts the forward target as a functions-framework process (gunicorn THREADS = --concurrency, as
Terraform sets it) against the Graph API stand-in answering after --graph-latency-ms, and POSTs
Pub/Sub push envelopes from --concurrency clients, as Pub/Sub does for a push subscription at that
concurrency. Once with CAPI_BATCH_WINDOW_MS=0 (one Graph request per push), once with
--window-ms. Prints events/s, the forward process tree's CPU per event, Graph requests per 1,000
events, and checks every event was delivered exactly once. The Pub/Sub emulator is not used
here: it pushes about two messages at a time, so batches would hardly form (bench/load_e2e.py).
"""

from __future__ import annotations

import argparse
import base64
import json
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

from bench.load_e2e import tree_cpu_s  # noqa: E402
from capi.queueing.messages import event_message  # noqa: E402
from tests.conftest import FunctionProcess  # noqa: E402
from tests.factories import purchase  # noqa: E402
from tests.standins.meta_graph import MetaGraphStandIn  # noqa: E402

PIXEL = "1234567890"
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


def run(window_ms: int, args: argparse.Namespace, tmp: Path) -> dict[str, float]:
    graph = MetaGraphStandIn(tokens=[TOKEN], pixels=[PIXEL], latency_s=args.graph_latency_ms / 1000)
    graph.start()
    forward = FunctionProcess(
        "forward",
        {
            "CAPI_PIXEL_ID": PIXEL,
            "CAPI_ACCESS_TOKEN": TOKEN,
            "CAPI_GRAPH_URL": graph.url,
            "CAPI_BATCH_WINDOW_MS": str(window_ms),
            "THREADS": str(args.concurrency),
        },
        tmp / f"forward-{window_ms}.log",
    )
    forward.start()
    try:
        bodies = [envelope(f"w{window_ms}-{i}") for i in range(args.events)]
        local = threading.local()
        statuses: Counter = Counter()

        def push(body: bytes) -> None:
            session = getattr(local, "session", None) or requests.Session()
            local.session = session
            for _ in range(5):  # a nack is redelivered, as Pub/Sub would
                status = session.post(
                    forward.url + "/", data=body, headers={"Content-Type": "application/json"}
                ).status_code
                statuses[status] += 1
                if status < 300:
                    return

        cpu_before = tree_cpu_s(forward.proc.pid)
        started = time.perf_counter()
        with ThreadPoolExecutor(args.concurrency) as pool:
            list(pool.map(push, bodies))
        elapsed = time.perf_counter() - started
        cpu = tree_cpu_s(forward.proc.pid) - cpu_before
        delivered = Counter(graph.event_ids())
        duplicated = sum(c - 1 for c in delivered.values() if c > 1)
        lost = args.events - len(delivered)
        return {
            "events/s": args.events / elapsed,
            "cpu_ms_per_event": 1000 * cpu / args.events,
            "graph_requests_per_1000": 1000 * len(graph.requests) / args.events,
            "lost": lost,
            "duplicated": duplicated,
            "nacks": sum(n for s, n in statuses.items() if s >= 300),
        }
    finally:
        forward.stop()
        graph.stop()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=80)
    parser.add_argument("--graph-latency-ms", type=float, default=150)
    parser.add_argument("--window-ms", type=int, default=50)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="capi-bench-forward-"))
    print(
        f"# forward under push load: {args.events} events, {args.concurrency} concurrent pushes, "
        f"Graph answers after {args.graph_latency_ms:g} ms; logs in {tmp}"
    )
    off = run(0, args, tmp)
    on = run(args.window_ms, args, tmp)
    print(
        f"{'':28s}{'batching off':>16s}{'window ' + str(args.window_ms) + ' ms':>16s}{'on/off':>9s}"
    )
    for key in ("events/s", "cpu_ms_per_event", "graph_requests_per_1000"):
        ratio = on[key] / off[key] if off[key] else float("nan")
        print(f"{key:28s}{off[key]:16.2f}{on[key]:16.2f}{ratio:9.2f}")
    for key in ("lost", "duplicated", "nacks"):
        print(f"{key:28s}{off[key]:16.0f}{on[key]:16.0f}")
    return 0 if not (off["lost"] or on["lost"] or off["duplicated"] or on["duplicated"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
