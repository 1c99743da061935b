"""End-to-end load: events through ingest -> Pub/Sub emulator -> forward -> Graph stand-in, with
concurrent clients, and an account of every event at the end (a script, not a test).

    .venv/bin/python bench/load_e2e.py [--events 10000] [--batch 1] [--clients 8]
        [--faults 0] [--graph-latency-ms 0] [--batch-window-ms 100] [--threads 250]

Starts the real Pub/Sub emulator, the ingest and forward targets as functions-framework
processes (the relay as Cloud Run runs it) and the Graph API stand-in, then POSTs the events
(`--batch` per request) from `--clients` threads while the forwarder delivers them: nothing is
paused, everything shares the machine. A client retries a request that got 503 or no answer,
with the same body, as the API asks. `--faults N` makes the stand-in answer N requests, spread
over the run, with a transient 503 (the forwarder must retry them).

`--graph-latency-ms` makes every Graph answer take that long (Meta answers in a few hundred ms);
`--batch-window-ms 0` turns the forwarder's batching off, to compare. Also prints Graph requests
per 1,000 events and the forward process tree's CPU per event.

Prints accepted events/s, p50/p99 ingest latency, end-to-end delivery time (POST sent -> the
event at Meta), peak memory (VmHWM) of each process tree, and the final account: delivered,
lost (answered 202 but neither delivered nor dead-lettered) and duplicated (delivered more than
once). Exits 1 unless lost and duplicated are 0.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from capi.tools.emulator import setup  # noqa: E402
from tests.conftest import FunctionProcess, PubSubEmulator, free_port, pull_until_quiet  # noqa: E402
from tests.factories import purchase  # noqa: E402
from tests.standins.meta_graph import MetaGraphStandIn  # noqa: E402

KEY = "load-key"
TOKEN = "EAAloadtoken0123456789"
PIXEL = "1234567890"
PROJECT = "capi-load"


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def peak_kib(pid: int) -> int:
    """VmHWM (peak resident memory) of one process."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(x for x in status.splitlines() if x.startswith("VmHWM")).split()[1])


def tree_pids(pid: int) -> list[int]:
    """A process and its descendants (gunicorn master + worker, gcloud + Java), from /proc."""
    pids, frontier = [], [pid]
    while frontier:
        current = frontier.pop()
        pids.append(current)
        try:
            for task in Path(f"/proc/{current}/task").iterdir():
                frontier.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, ValueError):
            continue  # it ended
    return pids


def tree_peak_mib(pid: int) -> float:
    """Sum of VmHWM over a process and its descendants."""
    total = 0
    for p in tree_pids(pid):
        with contextlib.suppress(OSError, StopIteration, ValueError):
            total += peak_kib(p)
    return total / 1024


class Clients:
    """POSTs bodies from a thread pool, retrying 503 / connection errors with the same body."""

    def __init__(self, url: str, clients: int) -> None:
        self.url = url
        self.clients = clients
        self.local = threading.local()
        self.lock = threading.Lock()
        self.latencies: list[float] = []  # seconds, one per 202 answer
        self.sent_at: dict[str, float] = {}  # event_id -> wall time of the POST that got 202
        self.accepted: list[str] = []
        self.rejected = 0
        self.retries = 0
        self.statuses: Counter[int] = Counter()

    def _session(self) -> requests.Session:
        session = getattr(self.local, "session", None)
        if session is None:
            session = self.local.session = requests.Session()
        return session

    def post(self, body: dict) -> None:
        for attempt in range(20):
            wall, started = time.time(), time.perf_counter()
            try:
                answer = self._session().post(
                    self.url, json=body, headers={"X-API-Key": KEY}, timeout=30
                )
            except requests.RequestException:
                status = 0
            else:
                status = answer.status_code
            elapsed = time.perf_counter() - started
            with self.lock:
                self.statuses[status] += 1
                if status == 202:
                    self.latencies.append(elapsed)
                    for result in answer.json()["results"]:
                        if result["status"] == "accepted":
                            self.accepted.append(result["event_id"])
                            self.sent_at[result["event_id"]] = wall
                        else:
                            self.rejected += 1
                    return
                if status not in (0, 503):
                    self.rejected += len(body["data"])
                    return
                self.retries += 1
            time.sleep(min(2.0, 0.1 * 2**attempt))
        raise RuntimeError("a request got no 202 after 20 attempts")

    def run(self, bodies: list[dict]) -> float:
        started = time.perf_counter()
        with ThreadPoolExecutor(self.clients) as pool:
            list(pool.map(self.post, bodies))
        return time.perf_counter() - started


def inject_faults(graph: MetaGraphStandIn, n: int, every_s: float, stop: threading.Event) -> None:
    for _ in range(n):
        if stop.wait(every_s):
            return
        graph.fail_next(1, status=503)


def tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and its descendants (/proc), so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for p in tree_pids(pid):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=1, help="events per request")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument("--faults", type=int, default=0, help="transient 503s from Meta")
    parser.add_argument("--timeout", type=float, default=600, help="give up delivery after (s)")
    parser.add_argument(
        "--graph-latency-ms", type=float, default=0, help="how long each Graph answer takes"
    )
    parser.add_argument(
        "--batch-window-ms", type=int, default=100, help="the forwarder's (0: no batching)"
    )
    parser.add_argument("--threads", type=int, default=250, help="the forwarder's concurrency")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="capi-load-"))
    print(f"# capi-relay end-to-end load, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(
        f"# {args.events} events, {args.batch} per request, {args.clients} concurrent clients, "
        f"{args.faults} injected Meta 503s, {os.cpu_count()} CPUs; logs in {tmp}"
    )

    emulator = PubSubEmulator(os.environ.get("GCLOUD", "gcloud"), free_port(), tmp / "emu.log")
    emulator.start()
    os.environ["PUBSUB_EMULATOR_HOST"] = emulator.host
    graph = MetaGraphStandIn(tokens=[TOKEN], pixels=[PIXEL], latency_s=args.graph_latency_ms / 1000)
    graph.start()
    procs: list[FunctionProcess] = []
    stop_faults = threading.Event()
    try:
        forward = FunctionProcess(
            "forward",
            {
                "CAPI_PIXEL_ID": PIXEL,
                "CAPI_ACCESS_TOKEN": TOKEN,
                "CAPI_GRAPH_URL": graph.url,
                "CAPI_DLQ_TOPIC": f"projects/{PROJECT}/topics/capi-events-dlq",
                "CAPI_BATCH_WINDOW_MS": str(args.batch_window_ms),
                "THREADS": str(args.threads),  # as Terraform sets it (forward.concurrency)
            },
            tmp / "forward.log",
        )
        names = setup(PROJECT, push_endpoint=forward.url + "/", min_backoff_s=1, max_backoff_s=10)
        ingest = FunctionProcess(
            "ingest",
            {"CAPI_PIXEL_ID": PIXEL, "CAPI_API_KEYS": KEY, "CAPI_TOPIC": names["topic"]},
            tmp / "ingest.log",
        )
        procs = [forward, ingest]
        forward.start()
        ingest.start()

        ids = [f"load-{i}" for i in range(args.events)]
        bodies = [
            {"data": [purchase(event_id=i) for i in ids[start : start + args.batch]]}
            for start in range(0, len(ids), args.batch)
        ]
        clients = Clients(ingest.url + "/events", args.clients)
        faults = threading.Thread(
            target=inject_faults,
            args=(graph, args.faults, 20.0 / max(args.faults, 1), stop_faults),
            daemon=True,
        )
        faults.start()
        started_wall = time.time()
        posting = clients.run(bodies)
        accepted = len(clients.accepted)

        # Delivery: wait until every accepted event reached Meta or the DLQ, or progress stops.
        dlq: list = []
        last, last_change = -1, time.monotonic()
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline and time.monotonic() - last_change < 60:
            dlq += pull_until_quiet(names["dlq_subscription"], 0, quiet=0)
            done = len(set(graph.event_ids())) + len(dlq)
            if done >= accepted:
                break
            if done != last:
                last, last_change = done, time.monotonic()
            time.sleep(0.5)
        first_arrival: dict[str, float] = {}
        for request in graph.accepted_requests():
            for event in request.events:
                first_arrival.setdefault(event["event_id"], request.arrival)
        drained_wall = max(first_arrival.values(), default=started_wall)
        # Settle: anything extra (a redelivery, a duplicate) would show up now.
        dlq += pull_until_quiet(names["dlq_subscription"], 0, quiet=5.0)
        stop_faults.set()

        delivered = Counter(graph.event_ids())
        dead = Counter(m.attributes["event_id"] for m in dlq)
        lost = [i for i in clients.accepted if i not in delivered and i not in dead]
        duplicated = sum(c - 1 for c in delivered.values() if c > 1)
        unknown = [i for i in delivered if i not in clients.sent_at]
        e2e = [first_arrival[i] - clients.sent_at[i] for i in first_arrival if i in clients.sent_at]
        faulted = sum(1 for r in graph.requests if r.fault)

        print("\n# ingest (clients -> ingest -> Pub/Sub ack)")
        print(f"requests              {sum(clients.statuses.values())} {dict(clients.statuses)}")
        print(f"client retries        {clients.retries} (503 or no answer; same body)")
        print(
            f"accepted events       {accepted} in {posting:.1f} s: "
            f"{accepted / posting:.0f} events/s"
        )
        print(
            f"ingest latency        p50 {pct(clients.latencies, 50) * 1000:.1f} ms, "
            f"p99 {pct(clients.latencies, 99) * 1000:.1f} ms (per 202 request)"
        )
        print("\n# delivery (POST sent -> event at the Graph stand-in)")
        print(
            f"end-to-end            p50 {pct(e2e, 50):.2f} s, p99 {pct(e2e, 99):.2f} s, "
            f"max {max(e2e):.2f} s"
        )
        print(
            f"all delivered after   {drained_wall - started_wall:.1f} s from the first POST "
            f"({len(first_arrival) / max(drained_wall - started_wall, 1e-9):.0f} events/s)"
        )
        print(f"Graph requests        {len(graph.requests)} ({faulted} answered 503 by injection)")
        per_thousand = 1000 * len(graph.requests) / max(len(first_arrival), 1)
        print(f"Graph requests / 1000 {per_thousand:.1f} events delivered")
        cpu = tree_cpu_s(forward.proc.pid)
        print(
            f"forward CPU           {cpu:.1f} s, {1000 * cpu / max(len(first_arrival), 1):.2f} ms "
            f"per event (batch window {args.batch_window_ms} ms, Graph answers after "
            f"{args.graph_latency_ms:g} ms)"
        )
        print("\n# peak memory (VmHWM, process tree)")
        print(f"ingest                {tree_peak_mib(ingest.proc.pid):.0f} MiB")
        print(f"forward               {tree_peak_mib(forward.proc.pid):.0f} MiB")
        print(f"Pub/Sub emulator      {tree_peak_mib(emulator.proc.pid):.0f} MiB (gcloud + Java)")
        print(f"load + stand-in       {peak_kib(os.getpid()) / 1024:.0f} MiB (this process)")
        print("\n# account")
        print(f"accepted              {accepted}")
        print(f"delivered             {len(delivered)}")
        print(f"dead-lettered         {len(dead)}")
        print(f"lost                  {len(lost)}")
        print(f"duplicated            {duplicated}")
        if unknown:
            print(f"unknown at Meta       {len(unknown)}")
        ok = not lost and not duplicated and not unknown
        print("\nOK: nothing lost, nothing duplicated" if ok else "\nFAILED")
        return 0 if ok else 1
    finally:
        stop_faults.set()
        for proc in procs:
            proc.stop()
        graph.stop()
        emulator.stop()


if __name__ == "__main__":
    sys.exit(main())
