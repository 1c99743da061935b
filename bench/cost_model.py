"""The relay's monthly Google Cloud bill for a number of events, from measured figures and list
prices (a script, not a test; docs/PERFORMANCE.md explains every input).

    .venv/bin/python bench/cost_model.py [--events 1e6 1e7 1e8] [--graph-latency-ms 150]
        [--ingest-cpu-ms 3.0] [--forward-cpu-ms 1.01] ...

Cloud Run (request-based billing, which Cloud Run functions use) bills an instance's vCPU and
memory while it has at least one request in flight, each such period rounded up to 100 ms, plus
a fee per request. So the bill follows how long instances are busy, not the CPU our code burns,
until an instance's CPU fills up:

- busy share of one instance, requests arriving at random at R per second, each keeping the
  instance busy d seconds (at least the 100 ms rounding): 1 - exp(-R x d) (the share of time
  an M/G/infinity queue is not empty);
- instances that the CPU needs: R x CPU-seconds per request / 0.6 (Cloud Run adds instances
  above about 60% CPU);
- billed instance-seconds = a month x the larger of the two.

The forwarder's push lasts the Graph API's answer, plus the batch window when at least 4 other
pushes are in flight (capi/forward/batcher.py: a push with less traffic is sent at once); under
load its CPU per event is the batched one. Pub/Sub bills at least 1,000 bytes per publish and
per push request; our messages are smaller (553 bytes median on the test corpus), so 2,000
bytes per event. Traffic is taken as spread evenly over the month; peaks need more instances
only when they exceed what one instance serves (measured: forward 495 events/s, ingest 365 to
438 requests/s).
"""

from __future__ import annotations

import argparse
import math

MONTH_S = 30 * 86400
PRICES = {  # USD, Tier 1 regions, as published on 2026-11-27 (docs/PERFORMANCE.md, "Prices")
    "vcpu_s": 0.000024,
    "gib_s": 0.0000025,
    "request": 0.40 / 1e6,
    "pubsub_tib": 40.0,
    "logging_gib": 0.50,
}
FREE = {  # per month: Cloud Run per billing account, Pub/Sub and Logging per project
    "vcpu_s": 180_000,
    "gib_s": 360_000,
    "requests": 2_000_000,
    "pubsub_gib": 10,
    "logging_gib": 50,
}
ROUNDING_S = 0.1
CPU_TARGET = 0.6


def busy_instance_seconds(rate: float, duration_s: float, cpu_s: float) -> float:
    """Billed instance-seconds in a month for requests at `rate` per second."""
    busy = 1 - math.exp(-rate * max(duration_s, ROUNDING_S))
    by_cpu = rate * cpu_s / CPU_TARGET
    return MONTH_S * max(busy, by_cpu)


def month(events: float, args: argparse.Namespace) -> dict[str, float]:
    rate = events / MONTH_S
    latency = args.graph_latency_ms / 1000
    window = args.window_ms / 1000
    # a push waits the window only when at least --min-inflight other pushes are in flight
    # (each at Meta for `latency`): a Poisson tail
    inflight = rate * latency
    below = sum(
        math.exp(-inflight) * inflight**k / math.factorial(k) for k in range(args.min_inflight)
    )
    traffic = 1.0 if args.fixed_window else 1 - below
    push_s = latency + window * traffic
    forward_cpu = args.forward_cpu_ms / 1000 if rate * window >= 1 else args.alone_cpu_ms / 1000
    ingest_requests = events / args.events_per_request
    ingest_s = busy_instance_seconds(
        ingest_requests / MONTH_S, args.ingest_ms / 1000, args.ingest_cpu_ms / 1000
    )
    forward_s = busy_instance_seconds(rate, push_s, forward_cpu)
    instance_s = ingest_s + forward_s
    requests = ingest_requests + events  # one push per event
    vcpu_s = instance_s * args.vcpu
    gib_s = instance_s * args.memory_gib
    cloud_run = (
        max(0.0, vcpu_s - FREE["vcpu_s"]) * PRICES["vcpu_s"]
        + max(0.0, gib_s - FREE["gib_s"]) * PRICES["gib_s"]
        + max(0.0, requests - FREE["requests"]) * PRICES["request"]
    )
    pubsub_gib = (ingest_requests + events) * max(1000, args.message_bytes) / 2**30
    pubsub = max(0.0, pubsub_gib - FREE["pubsub_gib"]) / 1024 * PRICES["pubsub_tib"]
    logging_gib = events * args.log_bytes_per_event / 2**30
    logging = max(0.0, logging_gib - FREE["logging_gib"]) * PRICES["logging_gib"]
    # a waiting push gathers the pushes of its window; one that found no traffic goes alone
    graph_per_1000 = 1000 / (1 + rate * window * traffic)
    return {
        "events/s (average)": rate,
        "instance-hours (both functions)": instance_s / 3600,
        "vCPU-seconds": vcpu_s,
        "requests (ingest + pushes)": requests,
        "Graph requests": events * graph_per_1000 / 1000,
        "Cloud Run $": cloud_run,
        "Pub/Sub $": pubsub,
        "Logging $": logging,
        "total $": cloud_run + pubsub + logging,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=float, nargs="+", default=[1e6, 1e7, 1e8])
    parser.add_argument("--graph-latency-ms", type=float, default=150)
    parser.add_argument("--window-ms", type=float, default=100)
    parser.add_argument("--min-inflight", type=int, default=4)
    parser.add_argument("--forward-cpu-ms", type=float, default=1.01, help="batched, per event")
    parser.add_argument("--alone-cpu-ms", type=float, default=2.30, help="one push per request")
    parser.add_argument("--ingest-cpu-ms", type=float, default=1.40, help="per request")
    parser.add_argument("--ingest-ms", type=float, default=13.4, help="request duration (p50)")
    parser.add_argument("--events-per-request", type=float, default=1.0)
    parser.add_argument("--vcpu", type=float, default=1.0)
    parser.add_argument("--memory-gib", type=float, default=0.5)
    parser.add_argument("--message-bytes", type=float, default=553)
    parser.add_argument("--log-bytes-per-event", type=float, default=1100)
    parser.add_argument(
        "--fixed-window", action="store_true", help="every push waits the window (before)"
    )
    args = parser.parse_args()
    results = [month(n, args) for n in args.events]
    print(f"{'events per month':34s}" + "".join(f"{n:>16,.0f}" for n in args.events))
    for key in results[0]:
        cells = "".join(
            f"{r[key]:16,.2f}" if key.endswith("$") or "/s" in key else f"{r[key]:16,.0f}"
            for r in results
        )
        print(f"{key:34s}{cells}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
