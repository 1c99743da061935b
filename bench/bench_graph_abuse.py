"""What an abusive body costs the Graph-compatible route before its answer, against the same
body on `/events`, now and at a git revision (a script, not a test).

    .venv/bin/python bench/bench_graph_abuse.py [--repeat 5] [--baseline REV]

Bodies, each about 1 MB: a form of 500,000 empty fields (`a&a&...`), a multipart body of
18,000 empty parts, and the same form with a wrong key in the query. Each is handed to
`Ingest.handle` in this process (no server: the cost of reading and refusing it), and the best
CPU time of `--repeat` is printed with its answer's status, and its ratio to the same bytes
posted to `/events` (which refuses them unread: the wrong media type, or no key). With
--baseline the same runs are made, in alternation, in a child process that imports capi from
REV (extracted with `git archive`).
"""

from __future__ import annotations

import argparse
import json
import time

FORM = "application/x-www-form-urlencoded"
PART = b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\n\r\n'
CASES = {
    "form, no key": (b"a&" * 500_000, FORM, {}),
    "multipart, no key": (PART * 18_000 + b"--b--\r\n", "multipart/form-data; boundary=b", {}),
    "form, wrong key in query": (b"a&" * 500_000, FORM, {"access_token": "wrong"}),
}


def measure(repeat: int) -> dict[str, dict[str, float]]:
    """Best CPU ms per request, per case, on the Graph route and on /events."""
    from capi.ingest.auth import ApiKeyAuth
    from capi.ingest.handler import Ingest
    from capi.web import IncomingRequest

    class Nowhere:
        def publish_all(self, messages):
            raise AssertionError("nothing of these bodies may be queued")

    ingest = Ingest(publisher=Nowhere(), auth=ApiKeyAuth(lambda: ("k",)), pixel_id="111")
    figures: dict[str, dict[str, float]] = {}
    for name, (body, content_type, query) in CASES.items():
        row: dict[str, float] = {}
        for route, path in (("graph", "/v26.0/111/events"), ("events", "/events")):
            best, status = float("inf"), 0
            for _ in range(repeat):
                request = IncomingRequest("POST", path, {}, body, content_type, query=query)
                started = time.process_time()
                status = ingest.handle(request).status
                best = min(best, time.process_time() - started)
            row[f"{route}_ms"], row[f"{route}_status"] = best * 1000, status
        figures[name] = row
    return figures


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--baseline", default="", help="git revision to compare with")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.repeat)))
        return 0
    from revisions import run_child, trees

    quiet = {"CAPI_LOG_LEVEL": "ERROR"}
    results = {
        name: run_child(__file__, tree, ["--repeat", str(args.repeat)], quiet)
        for name, tree in trees(args.baseline).items()
    }
    print(f"# best CPU ms of {args.repeat} per request; ratio to the same body on /events")
    print(f"{'':10s}{'case':28s}{'graph ms':>10s}{'status':>8s}{'/events ms':>12s}{'ratio':>8s}")
    for name, figures in results.items():
        for case, row in figures.items():
            ratio = row["graph_ms"] / max(row["events_ms"], 1e-3)
            print(
                f"{name:10s}{case:28s}{row['graph_ms']:10.2f}{int(row['graph_status']):8d}"
                f"{row['events_ms']:12.2f}{ratio:8.1f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
