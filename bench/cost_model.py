"""The relay's monthly Google Cloud bill for a number of events, per delivery design, from measured
figures and list prices (a script, not a test; docs/PERFORMANCE.md, "Cost model", explains every
input and where it comes from).

    .venv/bin/python bench/cost_model.py [--events 1e6 1e7 1e8] [--graph-latency-ms 150 300 500]
        [--json] [--ingest-cpu-ms 1.40] [--push-cpu-ms 0.68] [--drain-cpu-ms 0.13] ...

Designs (forward's side; ingest is the same in all: one HTTPS request per event, as sGTM and
webhooks send them):

- push, before issue 25: Pub/Sub pushes each event; an instance is busy while a push waits for
  Meta (plus the batch window when at least 4 other pushes are in flight, capi/forward/
  batcher.py); Cloud Run's request log of every request stored;
- drain, a delivery line per event: Cloud Scheduler calls POST /drain every minute; one drain
  pulls the minute's events, sends one Graph request per 1,000, acks; the instance is busy for
  the drain alone; request logs of successful requests excluded (exclude_successful_request_logs);
  every delivered event logged on a line of its own (the drain as first built);
- drain (Terraform's default): the same with one `events delivered` line per Graph request (its
  count and its events' ids, capi/forward/delivery_log.py) and a line of their own for a sample
  of delivered events (CAPI_DELIVERED_LOG_SAMPLE, 1%);
- drain, lingering (low latency): the default with each drain polling the empty subscription for
  `--linger-s` (45) seconds (CAPI_DRAIN_LINGER): events reach Meta about a second after they are
  queued while it lingers; forward is busy that long every minute;
- drain, ingest on instance-based billing: the default with ingest billed for its instances'
  whole lives (no request fee, lower unit prices, idle instances billed until Cloud Run stops
  them, up to 15 minutes after their last request). NOT OFFERED by the Terraform module: Cloud
  Run functions (google_cloudfunctions2_function) have no billing setting (docs/PERFORMANCE.md).

Cloud Run request-based billing (what Cloud Run functions use): an instance's vCPU and memory
while at least one request is in flight, each busy period rounded up to 100 ms, plus a fee per
request. Busy share of one instance for requests arriving at random at R per second, each busy d
seconds: 1 - exp(-R x max(d, 0.1)); instances the CPU needs: R x CPU-seconds per request / 0.6;
billed instance-seconds = a month x the larger. Cloud Logging bills every entry's bytes, its
metadata included (about 790 bytes per entry), and Cloud Run writes one request log entry per
request unless excluded. Pub/Sub bills at least 1,000 bytes per publish, push or pull request.
"""

from __future__ import annotations

import argparse
import json
import math

MONTH_S = 30 * 86400
PRICES = {  # USD, Tier 1 regions (docs/PERFORMANCE.md, "Prices")
    "vcpu_s": 0.000024,
    "gib_s": 0.0000025,
    "request": 0.40 / 1e6,
    "pubsub_tib": 40.0,
    "logging_gib": 0.50,
    "scheduler_job": 0.10,  # per job per month beyond 3 free jobs per billing account
    # instance-based billing ("CPU always allocated"), no request fee
    "instance_vcpu_s": 0.000018,
    "instance_gib_s": 0.000002,
}
FREE = {  # per month: Cloud Run per billing account, Pub/Sub and Logging per project
    "vcpu_s": 180_000,
    "gib_s": 360_000,
    "requests": 2_000_000,
    "pubsub_gib": 10,
    "logging_gib": 50,
    "instance_vcpu_s": 240_000,
    "instance_gib_s": 450_000,
}
IDLE_BILLED_S = 900  # instance-based billing: an idle instance may live (and bill) 15 minutes
ROUNDING_S = 0.1
CPU_TARGET = 0.6
DRAINS_PER_MONTH = MONTH_S / 60  # Cloud Scheduler, every minute
DESIGNS = (
    "push, before issue 25",
    "drain, a delivery line per event",
    "drain",
    "drain, lingering (low latency)",
    "drain, ingest on instance-based billing",
)
DEFAULT_DESIGN = "drain"  # what the docs recommend at every volume (and Terraform deploys)


def busy_instance_seconds(rate: float, duration_s: float, cpu_s: float) -> float:
    """Billed instance-seconds in a month for requests at `rate` per second."""
    busy = 1 - math.exp(-rate * max(duration_s, ROUNDING_S, 1e-9))
    by_cpu = rate * cpu_s / CPU_TARGET
    return MONTH_S * max(busy, by_cpu)


def push_forward(events: float, latency: float, args: argparse.Namespace) -> tuple[float, float]:
    """(billed instance-seconds, Graph requests) of forward in push mode."""
    rate = events / MONTH_S
    window = args.window_ms / 1000
    inflight = rate * latency
    below = sum(
        math.exp(-inflight) * inflight**k / math.factorial(k) for k in range(args.min_inflight)
    )
    waits = 1 - below  # a push waits the window only when others are in flight
    push_s = latency + window * waits
    cpu = args.push_cpu_ms / 1000 if rate * window >= 1 else args.alone_cpu_ms / 1000
    graph = events / (1 + rate * window * waits)
    return busy_instance_seconds(rate, push_s, cpu), graph


def drain_forward(
    events: float, latency: float, args: argparse.Namespace, linger_s: float = 0.0
) -> tuple[float, float]:
    """(billed instance-seconds, Graph requests) of forward draining once a minute, each drain
    lasting at least `linger_s`."""
    per_drain = events / DRAINS_PER_MONTH
    graph_per_drain = math.ceil(per_drain / 1000) if per_drain >= 1 else per_drain
    duration = (
        args.drain_base_ms / 1000 + graph_per_drain * latency + per_drain * args.drain_cpu_ms / 1000
    )
    busy = max(duration, linger_s, ROUNDING_S)
    if linger_s:  # events are sent as they arrive: a request per poll that finds some
        polls = max(1.0, linger_s / args.poll_s)
        graph_per_drain = max(graph_per_drain, min(per_drain, polls))
    return DRAINS_PER_MONTH * busy, DRAINS_PER_MONTH * graph_per_drain


def month(design: str, events: float, latency_ms: float, args: argparse.Namespace) -> dict:
    latency = latency_ms / 1000
    rate = events / MONTH_S
    ingest_requests = events / args.events_per_request
    instance_billed = design.endswith("instance-based billing")
    ingest_s = busy_instance_seconds(
        ingest_requests / MONTH_S,
        IDLE_BILLED_S if instance_billed else args.ingest_ms / 1000,
        args.ingest_cpu_ms / 1000,
    )
    push = design.startswith("push")
    request_logs = push  # the drain designs exclude successful requests' logs (Terraform)
    per_batch_lines = design != "drain, a delivery line per event" and not push
    if push:
        forward_s, graph = push_forward(events, latency, args)
        forward_requests = events  # one push per event
        pubsub_requests = ingest_requests + events  # each publish and each push >= 1,000 bytes
        pubsub_bytes = pubsub_requests * max(1000, args.message_bytes)
    else:
        linger = args.linger_s if design.startswith("drain, lingering") else 0.0
        forward_s, graph = drain_forward(events, latency, args, linger)
        forward_requests = DRAINS_PER_MONTH
        pulls = max(DRAINS_PER_MONTH * max(1.0, linger / args.poll_s), graph)
        pubsub_bytes = ingest_requests * max(1000, args.message_bytes) + max(
            events * args.message_bytes, pulls * 1000
        )
    instance_s = ingest_s + forward_s
    by_request_s = forward_s if instance_billed else instance_s
    requests = forward_requests + (0 if instance_billed else ingest_requests)
    cpu_usd = max(0.0, by_request_s * args.vcpu - FREE["vcpu_s"]) * PRICES["vcpu_s"]
    memory_usd = max(0.0, by_request_s * args.memory_gib - FREE["gib_s"]) * PRICES["gib_s"]
    if instance_billed:
        free_cpu, free_gib = FREE["instance_vcpu_s"], FREE["instance_gib_s"]
        cpu_usd += max(0.0, ingest_s * args.vcpu - free_cpu) * PRICES["instance_vcpu_s"]
        memory_usd += max(0.0, ingest_s * args.memory_gib - free_gib) * PRICES["instance_gib_s"]
    request_usd = max(0.0, requests - FREE["requests"]) * PRICES["request"]
    pubsub_usd = max(0.0, pubsub_bytes / 2**30 - FREE["pubsub_gib"]) / 1024 * PRICES["pubsub_tib"]
    meta = args.log_metadata_bytes
    log_bytes = events * (args.ingest_line_bytes + meta)
    if request_logs:
        log_bytes += (ingest_requests + forward_requests) * (args.request_log_bytes + meta)
    if per_batch_lines:
        log_bytes += graph * (args.batch_line_bytes + meta) + events * args.id_bytes
        log_bytes += events * args.delivered_sample * (args.delivered_line_bytes + meta)
    else:
        log_bytes += events * (args.delivered_line_bytes + meta)
    logging_usd = max(0.0, log_bytes / 2**30 - FREE["logging_gib"]) * PRICES["logging_gib"]
    egress_usd = events / 1e6 * args.egress_usd_per_million
    scheduler_usd = 0.0 if push else PRICES["scheduler_job"] * args.scheduler_paid
    items = {
        "graph_latency_ms": latency_ms,
        "events_per_s": rate,
        "instance_hours": instance_s / 3600,
        "graph_requests_per_1000": 1000 * graph / events if events else 0.0,
        "cloud_run_cpu_usd": cpu_usd,
        "cloud_run_memory_usd": memory_usd,
        "cloud_run_requests_usd": request_usd,
        "pubsub_usd": pubsub_usd,
        "logging_usd": logging_usd,
        "egress_usd": egress_usd,
        "scheduler_usd": scheduler_usd,
    }
    total = sum(v for k, v in items.items() if k.endswith("_usd"))
    return {
        "design": design,
        "default": design == DEFAULT_DESIGN,
        "events_per_month": events,
        "total_usd": round(total, 2),
        "items": {k: round(v, 4) for k, v in items.items()},
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=float, nargs="+", default=[1e6, 1e7, 1e8])
    parser.add_argument("--graph-latency-ms", type=float, nargs="+", default=[150, 300, 500])
    parser.add_argument("--json", action="store_true", help="rows as JSON (the first latency)")
    parser.add_argument("--window-ms", type=float, default=100)
    parser.add_argument("--min-inflight", type=int, default=4)
    parser.add_argument("--push-cpu-ms", type=float, default=0.68, help="push, batched, per event")
    parser.add_argument("--alone-cpu-ms", type=float, default=2.30, help="one push per request")
    parser.add_argument("--drain-cpu-ms", type=float, default=0.13, help="drain, per event")
    parser.add_argument("--drain-base-ms", type=float, default=50, help="a drain's pulls and acks")
    parser.add_argument("--ingest-cpu-ms", type=float, default=1.40, help="per request")
    parser.add_argument("--ingest-ms", type=float, default=13.4, help="request duration (p50)")
    parser.add_argument("--events-per-request", type=float, default=1.0)
    parser.add_argument("--vcpu", type=float, default=1.0)
    parser.add_argument("--memory-gib", type=float, default=0.5)
    parser.add_argument("--message-bytes", type=float, default=553)
    parser.add_argument("--ingest-line-bytes", type=float, default=360)
    parser.add_argument("--delivered-line-bytes", type=float, default=381)
    parser.add_argument(
        "--batch-line-bytes", type=float, default=310, help="an events delivered line, less its ids"
    )
    parser.add_argument("--id-bytes", type=float, default=40, help="per event id on that line")
    parser.add_argument("--delivered-sample", type=float, default=0.01)
    parser.add_argument("--linger-s", type=float, default=45, help="the lingering drain's linger")
    parser.add_argument("--poll-s", type=float, default=1, help="its pause between empty pulls")
    parser.add_argument("--request-log-bytes", type=float, default=400)
    parser.add_argument("--log-metadata-bytes", type=float, default=790)
    parser.add_argument("--egress-usd-per-million", type=float, default=0.11)
    parser.add_argument(
        "--scheduler-paid", type=float, default=0, help="1 when the account has 3 jobs already"
    )
    parser.add_argument(
        "--rounding-ms",
        type=float,
        default=100,
        help="each busy period's rounding (100, Cloud Run's; 0: billed time as measured)",
    )
    args = parser.parse_args()
    global ROUNDING_S
    ROUNDING_S = args.rounding_ms / 1000
    if args.json:
        latency = args.graph_latency_ms[0]
        rows = [month(d, n, latency, args) for n in args.events for d in DESIGNS]
        print(json.dumps(rows, indent=1))
        return 0
    for latency in args.graph_latency_ms:
        print(f"\n# Meta answering in {latency:g} ms; total USD a month (USD per 1M events)")
        print(f"{'design':50s}" + "".join(f"{n:>24,.0f}" for n in args.events))
        for design in DESIGNS:
            rows = [month(design, n, latency, args) for n in args.events]
            cells = "".join(
                f"{r['total_usd']:>14,.2f} ({r['total_usd'] / (n / 1e6):5.2f})"
                for r, n in zip(rows, args.events, strict=True)
            )
            print(f"{design + (' *' if design == DEFAULT_DESIGN else ''):50s}{cells}")
    print('\n* the default (Terraform\'s delivery = "drain")')
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
