"""Regenerate the screenshots in docs/images/ (the audit report and `capi serve`'s live page) from
the test corpus, with Debian's headless chromium:

    .venv/bin/python scripts/screenshots.py
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from capi.config import Settings  # noqa: E402
from capi.tools import audit  # noqa: E402
from capi.tools.serve import LocalRelay  # noqa: E402
from tests.browser import screenshot  # noqa: E402
from tests.corpus import make_corpus  # noqa: E402

IMAGES = ROOT / "docs" / "images"


def sample_events(n: int) -> list[dict]:
    """The corpus, with the kinds of faults audits find: missing event ids, click ids alone."""
    rng = random.Random(7)
    events = make_corpus(n, now=int(time.time()))
    for event in events:
        roll = rng.random()
        if roll < 0.12:
            event.pop("event_id", None)
        elif roll < 0.18:
            event["user_data"] = {
                "fbc": "fb.1.1700000000000.IwAR" + str(rng.randrange(10**6)),
                "client_user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)",
            }
    return events


def main() -> None:
    IMAGES.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="capi-shots-"))
    events = sample_events(600)
    source = tmp / "events.jsonl"
    source.write_text("".join(json.dumps(e) + "\n" for e in events))
    page = tmp / "report.html"
    page.write_text(audit.html_report(audit.audit_files([str(source)]).summary()))
    screenshot(page.as_uri(), IMAGES / "audit-report.png", size="1200,1500")

    settings = Settings.from_env({"CAPI_API_KEYS": "k", "CAPI_PIXEL_ID": "1234567890"})
    relay = LocalRelay(settings, dlq_path=str(tmp / "dlq.jsonl"), journal=None)
    relay.forwarder.dry_run_stream = (tmp / "dry.jsonl").open("w")
    port = relay.start("127.0.0.1", 0)
    base = f"http://127.0.0.1:{port}"
    try:
        for start in range(0, 120, 20):
            requests.post(
                f"{base}/events",
                json={"data": events[start : start + 20]},
                headers={"X-API-Key": "k"},
                timeout=30,
            )
        time.sleep(2)
        screenshot(f"{base}/status", IMAGES / "serve-status.png", size="1200,1100", budget_ms=4000)
    finally:
        relay.stop(2)
    print(f"written: {IMAGES / 'audit-report.png'}, {IMAGES / 'serve-status.png'}")


if __name__ == "__main__":
    main()
