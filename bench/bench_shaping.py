"""CPU per event of the two functions' own work, now and at a git revision (a script, not a
test): how much shaping an event costs in ingest (the door, the checks, the queue message) and in
forward (decode, re-check, normalize and hash, the Graph payload).

    .venv/bin/python bench/bench_shaping.py [--events 4000] [--repeat 3] [--baseline REV]

The events are tests/corpus.py's (a new customer on every event: messy names, phones in every
national form, dates, states). Each is POSTed to `/events` alone through `Ingest.handle`, with an
in-memory queue, and each message it queued goes through `Forwarder.process` in dry-run mode
(the Graph payload is built and written to an in-memory stream). No server, no Pub/Sub, no Meta:
only the functions' code. The best CPU time of `--repeat` is printed per event, for each
function. With --baseline the same runs are made, in alternation, in a child process that imports
capi from REV (extracted with `git archive`), and the ratios are printed.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def measure(events: int, repeat: int) -> dict[str, float]:
    sys.path.insert(0, str(ROOT))  # tests.corpus, from the current tree
    from capi import logs
    from capi.config import Settings
    from capi.forward.forwarder import Delivery
    from capi.meta import normalize
    from capi.web import IncomingRequest
    from capi.wiring import build_forwarder, build_ingest
    from tests.corpus import make_corpus

    class Queue:  # the same in-memory queue for both revisions
        def __init__(self) -> None:
            self.messages: list = []

        def publish_all(self, messages):
            self.messages.extend(messages)
            return [str(i) for i in range(len(messages))]

    logs.set_stream(io.StringIO())
    corpus = make_corpus(events, seed=7, now=int(time.time()) - 120)
    bodies = []
    for index, event in enumerate(corpus):
        event["event_id"] = f"evt-{index}"
        bodies.append(json.dumps(event).encode())
    settings = Settings(api_keys=("k",), pixel_id="111", default_country="US")
    best = {"ingest_us": float("inf"), "forward_us": float("inf")}
    for _ in range(repeat):
        queue = Queue()
        normalize.clear_caches()  # each customer is new: no warm cache from the last round
        ingest = build_ingest(settings, publisher=queue)
        started = time.process_time()
        for body in bodies:
            ingest.handle(
                IncomingRequest("POST", "/events", {"X-API-Key": "k"}, body, "application/json")
            )
        best["ingest_us"] = min(best["ingest_us"], time.process_time() - started)
        normalize.clear_caches()  # forward runs in its own process: nothing ingest normalized
        forwarder = build_forwarder(settings, dry_run=True, dry_run_stream=io.StringIO())
        deliveries = [Delivery(m, message_id=str(i)) for i, m in enumerate(queue.messages)]
        started = time.process_time()
        for delivery in deliveries:
            forwarder.process(delivery)
        best["forward_us"] = min(best["forward_us"], time.process_time() - started)
        logs.set_stream(io.StringIO())
    return {k: v / events * 1e6 for k, v in best.items()} | {"queued": len(queue.messages)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=4000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline", default="", help="git revision to compare with")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.events, args.repeat)))
        return 0
    from revisions import best_of_rounds

    best = best_of_rounds(
        __file__, ["--events", str(args.events), "--repeat", str(args.repeat)], args.baseline
    )
    print(f"# {args.events} corpus events, one per request; best CPU of {args.repeat} x 2 rounds")
    print(f"{'':12s}{'ingest µs/event':>17s}{'forward µs/event':>18s}{'queued':>8s}")
    for name, f in best.items():
        print(f"{name:12s}{f['ingest_us']:17.1f}{f['forward_us']:18.1f}{int(f['queued']):8d}")
    if args.baseline:
        now, before = best["now"], best[args.baseline]
        print(
            f"now / {args.baseline}: ingest {now['ingest_us'] / before['ingest_us']:.2f}, "
            f"forward {now['forward_us'] / before['forward_us']:.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
