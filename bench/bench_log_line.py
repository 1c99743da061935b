"""The cost of one log line as ingest writes it per event, now and at a git revision (a script,
not a test).

    .venv/bin/python bench/bench_log_line.py [--lines 20000] [--repeat 5] [--baseline REV]

Writes `--lines` "ingest event" lines (the fields capi.ingest.handler._log_events passes) through
capi.logs to an in-memory stream, `--repeat` times, and prints the best CPU time per line; the
redaction filter alone is measured the same way. With --baseline the same runs are made, in
alternation, in a child process that imports capi from REV (extracted with `git archive`), and
the ratios are printed.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import time

FIELDS = {
    "pixel_id": "123456789012345",
    "status": "accepted",
    "source": "events",
    "event_name": "Purchase",
    "action_source": "website",
    "event_id": "order-1234567-3f9a2c",
    "match_keys": ["em", "ph", "client_ip_address", "client_user_agent", "fbp"],
    "grade": "good",
    "warning_codes": ["weak_match"],
}


def measure(lines: int, repeat: int) -> dict[str, float]:
    """Best CPU µs per log line and per redaction filter pass, in this process."""
    from capi import logs

    logs.install()
    logs.set_stream(io.StringIO())
    redaction = logs.RedactionFilter()
    record = logging.LogRecord("capi", logging.INFO, "", 0, "ingest event", None, None)
    best_line = best_filter = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        for _ in range(lines):
            logs.info("ingest event", **FIELDS)
        best_line = min(best_line, time.process_time() - started)
        logs.set_stream(io.StringIO())  # do not let the stream grow over the runs
        started = time.process_time()
        for _ in range(lines):
            record.msg, record.capi_fields = "ingest event", dict(FIELDS)
            redaction.filter(record)
        best_filter = min(best_filter, time.process_time() - started)
    return {"line_us": best_line / lines * 1e6, "filter_us": best_filter / lines * 1e6}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--baseline", default="", help="git revision to compare with")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.lines, args.repeat)))
        return 0
    from revisions import best_of_rounds

    best = best_of_rounds(
        __file__, ["--lines", str(args.lines), "--repeat", str(args.repeat)], args.baseline
    )
    print(f"# {args.lines} lines x {args.repeat}, best CPU time per line, two alternating rounds")
    print(f"{'':16s}{'log line µs':>13s}{'redaction µs':>14s}")
    for name, figures in best.items():
        print(f"{name:16s}{figures['line_us']:13.2f}{figures['filter_us']:14.2f}")
    if args.baseline:
        now, before = best["now"], best[args.baseline]
        print(
            f"now / {args.baseline}: log line {now['line_us'] / before['line_us']:.2f}, "
            f"redaction {now['filter_us'] / before['filter_us']:.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
