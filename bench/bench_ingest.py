"""Ingest throughput, latency, cold import and memory, against a bare Functions Framework handler
measured on the same machine in the same run (a script, not a test).

    .venv/bin/python bench/bench_ingest.py [--requests 2000] [--concurrency 8] [--threads 16]
        [--repeat 4] [--also-ungrouped] [--pin] [--baseline REV] [--cold-only] [--profile PY_SPY]

`--baseline REV` also measures the cold start of the functions as they were at git revision REV
(checked out with `git archive` into a temporary directory), in the same run, and prints the
ratio; `--cold-only` stops after the cold-start table (no emulator needed). The single-event
rounds run `--repeat` times per contestant, in alternating order (the Java emulator gets faster
as it warms up: one round would measure it cold, and whoever goes first pays for it);
`--also-ungrouped` adds an ingest without group commit (CAPI_PUBLISH_MAX_INFLIGHT=0) to the
rounds. For each contestant it prints the CPU per request of the function, of the emulator and
of the load generator: on two cores they compete. `--pin` runs each
function on the last core (a 1-vCPU instance) and the emulator, the stand-in and the load
generator on the others, so that ingest and the bare handler get the same CPU. `--profile PY_SPY`
samples the ingest worker's thread that holds the GIL with py-spy (the path of its binary;
`pip install py-spy` in any environment) during a further round of single-event requests and
prints where its Python time goes, by owner of the innermost frame: the relay's code, Flask and
Werkzeug, gunicorn, the Pub/Sub client (google, grpc), the standard library.

Starts the real Pub/Sub emulator, the ingest target and a bare handler as functions-framework
processes, the forward target wired by a push subscription to the Graph API stand-in, then
prints requests/s and p50/p99 for single-event requests (ours vs bare, and the ratio), events/s
for 100-event batches, cold import times, and peak memory (VmHWM) of each process tree.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from google.cloud import pubsub_v1  # noqa: E402

from bench.bench_forward import pin_tree  # noqa: E402
from bench.load_e2e import tree_cpu_s, tree_peak_mib  # noqa: E402
from capi.tools.emulator import setup  # noqa: E402
from tests.conftest import FunctionProcess, PubSubEmulator, free_port  # noqa: E402
from tests.factories import purchase  # noqa: E402
from tests.standins.meta_graph import MetaGraphStandIn  # noqa: E402

KEY = "bench-key"
# What a deployed function's process imports before it serves: functions-framework loads main.py,
# then its gunicorn server (main.py hooks gunicorn's logging, so `import main` alone now pays
# for part of gunicorn that the served process imports anyway).
SERVED = "import main, functions_framework._http.gunicorn"


def load(url: str, bodies: list, concurrency: int) -> tuple[float, list[float], int]:
    """POST every body with `concurrency` threads; returns (seconds, latencies, non-2xx)."""
    session_per_thread: dict[int, requests.Session] = {}

    def one(body: object) -> tuple[float, int]:
        import threading

        s = session_per_thread.setdefault(threading.get_ident(), requests.Session())
        t = time.perf_counter()
        r = s.post(url, json=body, headers={"X-API-Key": KEY}, timeout=30)
        return time.perf_counter() - t, r.status_code

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(one, bodies))
    elapsed = time.perf_counter() - started
    return elapsed, [r[0] for r in results], sum(1 for r in results if r[1] >= 300)


OWNERS = (  # (label, file prefixes of the innermost frame as py-spy names them), first match wins
    ("relay (capi/, main.py)", ("(capi/", "(main.py")),
    ("Flask, Werkzeug", ("(flask/", "(werkzeug/")),
    ("gunicorn, functions-framework", ("(gunicorn/", "(functions_framework/")),
    ("Pub/Sub client (google, grpc, proto)", ("(google/", "(grpc/", "(proto/")),
    ("JSON (json, orjson)", ("(json/", "(orjson")),
    ("logging", ("(logging/",)),
    ("threads, sockets, selectors", ("(threading.py", "(socket.py", "(selectors.py", "(ssl.py")),
)


def profile_worker(py_spy: str, pid: int, seconds: float, out: Path) -> subprocess.Popen:
    """py-spy sampling, for `seconds`, the thread of `pid` that holds the GIL: where its Python
    CPU time goes (time in C with the GIL released, such as gRPC's own work, is not seen)."""
    return subprocess.Popen(
        [py_spy, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "250",
         "--format", "raw", "--gil", "--nonblocking", "--output", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


def print_profile(raw: Path) -> None:
    """Share of the samples by owner of the innermost frame, and the relay's top functions."""
    owners: dict[str, int] = {}
    ours: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        inner = frames[-1]
        label = next(
            (name for name, parts in OWNERS if any(p in inner for p in parts)), "other (stdlib)"
        )
        owners[label] = owners.get(label, 0) + int(count)
        total += int(count)
        mine = [f for f in frames if "(capi/" in f]
        if mine:
            ours[mine[0]] = ours.get(mine[0], 0) + int(count)
    print(f"\n# ingest worker under load, py-spy: {total} samples of the thread holding the GIL")
    for label, count in sorted(owners.items(), key=lambda kv: -kv[1]):
        print(f"{label:44s} {100 * count / total:5.1f}%")
    print("samples under the relay's outermost frames (inclusive):")
    for frame, count in sorted(ours.items(), key=lambda kv: -kv[1])[:6]:
        print(f"  {100 * count / total:5.1f}%  {frame}")


def single_round(
    proc: FunctionProcess, url: str, bodies: list, concurrency: int, emulator: PubSubEmulator
) -> dict[str, Any]:
    """One round of single-event requests: seconds, latencies, non-2xx answers, and the CPU
    seconds of the function's process tree, of the emulator and of this load generator."""
    cpu, emulator_cpu, load_cpu = (
        tree_cpu_s(proc.proc.pid),
        tree_cpu_s(emulator.proc.pid),
        time.process_time(),
    )
    elapsed, latencies, errors = load(url, bodies, concurrency)
    return {
        "n": len(bodies),
        "seconds": elapsed,
        "latencies": latencies,
        "errors": errors,
        "cpu": tree_cpu_s(proc.proc.pid) - cpu,
        "emulator_cpu": tree_cpu_s(emulator.proc.pid) - emulator_cpu,
        "load_cpu": time.process_time() - load_cpu,
    }


def merged(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Several rounds of one contestant as one: req/s over all, p50/p99 (ms) of all latencies,
    CPU ms per request."""
    n = sum(r["n"] for r in rounds)
    latencies = [x for r in rounds for x in r["latencies"]]
    return {
        "rps": n / sum(r["seconds"] for r in rounds),
        "p50": pct(latencies, 50),
        "p99": pct(latencies, 99),
        "errors": sum(r["errors"] for r in rounds),
        **{k: 1000 * sum(r[k] for r in rounds) / n for k in ("cpu", "emulator_cpu", "load_cpu")},
    }


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000


def import_time(code: str, env: dict[str, str], runs: int = 5, cwd: Path = ROOT) -> float:
    """Median wall time, in ms, of a fresh interpreter running `code` in `cwd` (minus a bare
    start). The working directory comes first on sys.path, so `cwd`'s main.py and capi/ are the
    ones imported (the editable install's finder comes after it)."""

    def timed(snippet: str) -> float:
        samples = []
        for _ in range(runs):
            t = time.perf_counter()
            subprocess.run(
                [sys.executable, "-c", snippet], cwd=cwd, env={**os.environ, **env}, check=True
            )
            samples.append(time.perf_counter() - t)
        return statistics.median(samples)

    return (timed(code) - timed("pass")) * 1000


def paired_import_times(
    code: str, env: dict[str, str], runs: int, now: Path, before: Path
) -> tuple[float, float]:
    """Fastest ms of `code` in `now` and in `before`, the two run alternately so that machine
    noise (other processes, CPU frequency) falls on both alike, and the fastest run kept because
    noise only ever adds time (as timeit does); the fastest bare start is subtracted."""
    samples: dict[Path, list[float]] = {now: [], before: []}
    bare: list[float] = []
    for _ in range(runs):
        for cwd in (now, before):
            t = time.perf_counter()
            subprocess.run(
                [sys.executable, "-c", code], cwd=cwd, env={**os.environ, **env}, check=True
            )
            samples[cwd].append(time.perf_counter() - t)
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], cwd=now, check=True)
        bare.append(time.perf_counter() - t)
    start = min(bare)
    return tuple(  # type: ignore[return-value]
        (min(samples[cwd]) - start) * 1000 for cwd in (now, before)
    )


def checkout(revision: str, tmp: Path) -> Path:
    """The tree of `revision` in a temporary directory (for the cold-start baseline)."""
    target = tmp / "baseline"
    target.mkdir()
    archive = subprocess.run(
        ["git", "archive", revision], cwd=ROOT, check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    where = subprocess.run(
        [sys.executable, "-c", "import capi, main; print(capi.__file__)"],
        cwd=target,
        env={**os.environ, "CAPI_PIXEL_ID": "1"},
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    if not where.startswith(str(target)):
        raise SystemExit(f"the baseline imports capi from {where}, not from {target}")
    return target


def start_serve(graph: MetaGraphStandIn, tmp: Path, *args: str) -> tuple[subprocess.Popen, str]:
    from tests.conftest import wait_for_http

    port = free_port()
    env = {
        **os.environ,
        "CAPI_ACCESS_TOKEN": "EAAbench",
        "CAPI_PIXEL_ID": "1234567890",
        "CAPI_GRAPH_URL": graph.url,
        "CAPI_API_KEYS": KEY,
    }
    log = (tmp / f"serve-{port}.log").open("wb")
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "capi"), "serve", "--port", str(port), *args],
        env=env,
        stdout=log,
        stderr=log,
        cwd=tmp,
    )
    wait_for_http(f"http://127.0.0.1:{port}/healthz", proc=proc)
    return proc, f"http://127.0.0.1:{port}"


def serve_queues(args: argparse.Namespace, graph: MetaGraphStandIn, tmp: Path, singles, warm):
    """capi serve with its durable journal (SQLite WAL, synchronous FULL) next to the in-memory
    queue it had before: what journaling each accepted request on disk costs."""
    print(
        f"\n# capi serve: single-event requests, {args.concurrency} concurrent clients "
        "(alternating, 2 rounds each)"
    )
    results: dict[str, list[float]] = {"in-memory queue": [], "durable journal": []}
    for _ in range(2):
        for label, extra in (
            ("in-memory queue", ("--in-memory",)),
            ("durable journal", ("--queue-file", str(tmp / "bench-queue.db"))),
        ):
            proc, url = start_serve(graph, tmp, *extra)
            try:
                load(url + "/events", warm, args.concurrency)
                t, lat, err = load(url + "/events", singles, args.concurrency)
            finally:
                proc.terminate()
                proc.wait(30)
            results[label].append(len(singles) / t)
            print(
                f"{label:28s} {len(singles) / t:8.1f} req/s  p50 {pct(lat, 50):6.1f} ms  "
                f"p99 {pct(lat, 99):6.1f} ms  errors {err}"
            )
    memory, durable = (statistics.mean(results[k]) for k in results)
    print(f"ratio durable/in-memory (means): {durable / memory:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--threads",
        type=int,
        default=16,
        help="gunicorn threads of ingest and the bare handler (Terraform: ingest.concurrency)",
    )
    parser.add_argument("--baseline", default="", help="git revision to compare cold starts with")
    parser.add_argument("--cold-only", action="store_true", help="only the cold-start table")
    parser.add_argument("--runs", type=int, default=5, help="fresh interpreters per cold start")
    parser.add_argument("--profile", default="", help="py-spy binary: profile ingest under load")
    parser.add_argument("--no-serve", action="store_true", help="skip the capi serve rounds")
    parser.add_argument("--forward-window-ms", type=int, default=0, help="forward's batch window")
    parser.add_argument(
        "--repeat",
        type=int,
        default=4,
        help="rounds of single-event requests per contestant (the emulator warms up: a single "
        "round measures it cold)",
    )
    parser.add_argument(
        "--also-ungrouped",
        action="store_true",
        help="also measure an ingest without group commit (CAPI_PUBLISH_MAX_INFLIGHT=0)",
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="the functions on the last core, the emulator and the load on the others",
    )
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="capi-bench-"))

    print("# cold start: import + handler build, ms of a fresh interpreter minus a bare start")
    print("# (median of --runs; with --baseline, the fastest of --runs alternating runs)")
    ingest_env = {
        "FUNCTION_TARGET": "ingest",
        "CAPI_TOPIC": "projects/p/topics/capi-events",
        "CAPI_PIXEL_ID": "1",
        "CAPI_API_KEYS": "k",
    }
    forward_env = {"FUNCTION_TARGET": "forward", "CAPI_PIXEL_ID": "1", "CAPI_ACCESS_TOKEN": "EAAx"}
    rows = [
        (
            "bare: functions_framework + pubsub_v1",
            "import functions_framework; from google.cloud import pubsub_v1",
            {},
        ),
        ("ours: main.py, target ingest", "import main", ingest_env),
        (
            "ours: ingest + first-request client import",
            "import main; from google.cloud import pubsub_v1",
            ingest_env,
        ),
        (
            "bare: functions_framework + requests + secretmanager",
            "import functions_framework, requests; from google.cloud import secretmanager",
            {},
        ),
        (
            "ours: ingest as served (+ gunicorn server, first request)",
            SERVED + "; from google.cloud import pubsub_v1",
            ingest_env,
        ),
        ("ours: main.py, target forward", "import main", forward_env),
        (
            "ours: forward + first-request imports",
            "import main, requests; from google.cloud import secretmanager, pubsub_v1",
            forward_env,
        ),
        (
            "ours: forward as served (+ gunicorn server, first request)",
            SERVED + ", requests; from google.cloud import secretmanager, pubsub_v1",
            forward_env,
        ),
    ]
    baseline = checkout(args.baseline, tmp) if args.baseline else None
    for label, code, env in rows:
        ours = import_time(code, env, args.runs)
        line = f"{label:58s} {ours:8.1f} ms"
        if baseline is not None and label.startswith("ours"):
            before = import_time(code, env, args.runs, cwd=baseline)
            line += (
                f"   at {args.baseline[:10]}: {before:8.1f} ms   now/before {ours / before:5.2f}"
            )
        print(line)
    if args.cold_only:
        return

    emulator = PubSubEmulator(os.environ.get("GCLOUD", "gcloud"), free_port(), tmp / "emu.log")
    emulator.start()
    os.environ["PUBSUB_EMULATOR_HOST"] = emulator.host
    graph = MetaGraphStandIn(tokens=["EAAbench"], pixels=["1234567890"])
    graph.start()
    procs: list[FunctionProcess] = []
    try:
        forward = FunctionProcess(
            "forward",
            {
                "CAPI_PIXEL_ID": "1234567890",
                "CAPI_ACCESS_TOKEN": "EAAbench",
                "CAPI_GRAPH_URL": graph.url,
                "CAPI_DLQ_TOPIC": "projects/capi-bench/topics/capi-events-dlq",
                # the emulator pushes a few messages at a time: a batch window would only add
                # waiting here (bench_forward.py measures batching under push load)
                "CAPI_BATCH_WINDOW_MS": str(args.forward_window_ms),
            },
            tmp / "fwd.log",
        )
        names = setup("capi-bench", push_endpoint=forward.url + "/")
        # Pause pushing while ingest is measured, so the forwarder does not compete for the two
        # cores; messages wait in the subscription and are pushed when pushing resumes.
        subscriber = pubsub_v1.SubscriberClient()
        subscriber.modify_push_config(subscription=names["push_subscription"], push_config={})
        # gunicorn threads as Terraform sets them for ingest (THREADS = ingest.concurrency), for
        # the bare handler too, so both serve the same number of requests at once
        threads = {"THREADS": str(args.threads)}
        ingest = FunctionProcess(
            "ingest",
            {
                "CAPI_PIXEL_ID": "1234567890",
                "CAPI_API_KEYS": KEY,
                "CAPI_TOPIC": names["topic"],
                **threads,
            },
            tmp / "ingest.log",
        )
        bare = FunctionProcess(
            "bare", threads, tmp / "bare.log", ROOT / "bench" / "bare_function.py"
        )
        procs = [forward, ingest, bare]
        ungrouped = None
        if args.also_ungrouped:
            ungrouped = FunctionProcess(
                "ingest",
                {**ingest.env, "CAPI_PUBLISH_MAX_INFLIGHT": "0"},
                tmp / "ingest-ungrouped.log",
            )
            procs.append(ungrouped)
        for proc in procs:
            proc.start()
        if args.pin:
            # each function on one core of its own, as a 1-vCPU instance has; the emulator (which
            # is remote in production), the stand-in and the load generator on the others
            cores = sorted(os.sched_getaffinity(0))
            function_core, others = {cores[-1]}, set(cores[:-1])
            for proc in procs:
                pin_tree(proc.proc.pid, function_core)
            pin_tree(emulator.proc.pid, others)
            os.sched_setaffinity(0, others)

        singles = [purchase(event_id=f"b-{i}") for i in range(args.requests)]
        warm = [purchase(event_id=f"w-{i}") for i in range(50)]
        sent = 0  # events ingest accepted: each has an event_id of its own, delivered once
        load(bare.url + "/", warm, args.concurrency)
        for proc in procs[1:]:
            if proc is not bare:
                load(proc.url + "/events", warm, args.concurrency)
                sent += len(warm)
                warm = [purchase(event_id=f"w{sent}-{i}") for i in range(50)]

        print(
            f"\n# single-event requests: {args.requests} per round, {args.repeat} round(s) each "
            f"in alternating order, {args.concurrency} concurrent clients"
        )
        rounds = [("bare handler (202)", bare, "/"), ("ingest -> emulator", ingest, "/events")]
        if ungrouped is not None:
            rounds.append(("ingest, no group commit", ungrouped, "/events"))
        measured: dict[str, list[dict[str, Any]]] = {label: [] for label, _, _ in rounds}
        for repeat in range(args.repeat):  # alternate the order: warm-up and drift hit all alike
            for label, proc, path in rounds if repeat % 2 == 0 else rounds[::-1]:
                bodies = [purchase(event_id=f"r{sent}-{i}") for i in range(args.requests)]
                measured[label].append(
                    single_round(proc, proc.url + path, bodies, args.concurrency, emulator)
                )
                sent += len(bodies) if proc is not bare else 0
        results = {label: merged(runs) for label, runs in measured.items()}
        bare_rps = results["bare handler (202)"]["rps"]
        for label, r in results.items():
            print(
                f"{label:28s} {r['rps']:8.1f} req/s  p50 {r['p50']:6.1f} ms  "
                f"p99 {r['p99']:6.1f} ms  errors {r['errors']}  ({r['rps'] / bare_rps:.2f} x bare)"
            )
        ratio = results["ingest -> emulator"]["rps"] / bare_rps
        print(f"ratio ingest/bare: {ratio:.2f} (goal >= 0.50)")
        print("CPU per request, ms: the function's process tree, the emulator, the load generator")
        for label, r in results.items():
            print(f"  {label:28s} {r['cpu']:5.2f} {r['emulator_cpu']:5.2f} {r['load_cpu']:5.2f}")
        if args.profile:
            worker = max(
                int(c)
                for c in (
                    Path(f"/proc/{ingest.proc.pid}/task/{ingest.proc.pid}/children")
                    .read_text()
                    .split()
                    or [ingest.proc.pid]
                )
            )
            raw = tmp / "ingest-profile.txt"
            spy = profile_worker(
                args.profile,
                worker,
                max(5.0, args.requests / results["ingest -> emulator"]["rps"]),
                raw,
            )
            load(
                ingest.url + "/events",
                [purchase(event_id=f"p-{i}") for i in range(args.requests)],
                args.concurrency,
            )
            spy.wait(120)
            print_profile(raw)

        batch_bodies = [
            {"data": [purchase(event_id=f"batch-{j}-{i}") for i in range(100)]}
            for j in range(args.batches)
        ]
        cpu = tree_cpu_s(ingest.proc.pid)
        t, lat, err = load(ingest.url + "/events", batch_bodies, min(args.concurrency, 4))
        cpu = tree_cpu_s(ingest.proc.pid) - cpu
        print(f"\n# 100-event batches: {args.batches} requests")
        print(
            f"{'ingest -> emulator':28s} {100 * args.batches / t:8.1f} events/s  "
            f"p50 {pct(lat, 50):6.1f} ms  p99 {pct(lat, 99):6.1f} ms  errors {err}"
        )
        print(f"CPU per event (process tree): {1000 * cpu / (100 * args.batches):.3f} ms")

        subscriber.modify_push_config(
            subscription=names["push_subscription"],
            push_config={"push_endpoint": forward.url + "/"},
        )
        total = sent + (len(singles) if args.profile else 0) + 100 * args.batches
        forward_cpu = tree_cpu_s(forward.proc.pid)
        started = time.perf_counter()
        deadline = time.monotonic() + 300
        while len(graph.events) < total and time.monotonic() < deadline:
            time.sleep(0.5)
        spent = time.perf_counter() - started
        forward_cpu = tree_cpu_s(forward.proc.pid) - forward_cpu
        print(
            f"\n# forward: delivered to the Graph stand-in {len(graph.events)} of {total} "
            f"in {spent:.1f} s ({len(graph.events) / spent:.1f} events/s, one push each, "
            f"batch window {args.forward_window_ms} ms); CPU per event "
            f"{1000 * forward_cpu / max(1, len(graph.events)):.2f} ms"
        )
        print("\n# peak memory (VmHWM, process tree)")
        for proc in procs:
            print(f"{proc.target:10s} {tree_peak_mib(proc.proc.pid):8.1f} MiB")
        for proc in procs:
            proc.stop()
        if not args.no_serve:
            serve_queues(args, graph, tmp, singles, warm)
    finally:
        for proc in procs:
            proc.stop()
        graph.stop()
        emulator.stop()


if __name__ == "__main__":
    main()
