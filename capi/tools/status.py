"""`capi serve`'s live page: `GET /status` (and `GET /`), with `GET /status.json` behind it.

The same counters as `capi audit`, kept while the local relay runs: events received and their
status, delivered and dead-lettered, the match grades, coverage per identifier, and the last
events as Meta will receive them: customer information normalized and hashed, and the fields
Meta takes unhashed as they are (the client IP address, user agent, page URL, fbp and fbc). So
the page does show raw values, and it is local only: `capi serve` answers it to loopback
clients that name a loopback host (`localhost`, `127.0.0.1`, `[::1]`) alone, so a page of
another site rebound to 127.0.0.1 by DNS cannot read it; the cloud functions do not have it.

The counters come from the relay's own structured log lines (a logging handler on the `capi`
logger: the same lines the Cloud deployment's log-based metrics count), and the last events from
the queue (each queued event prepared, as the forwarder will, to its hashed form).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from capi.forward.delivery_log import DELIVERED_MESSAGE
from capi.forward.forwarder import DRY_RUN_MESSAGE
from capi.meta.contract import CONTRACT_VERSION, Contract
from capi.queueing.messages import Message, Publisher
from capi.tools.audit import Audit, record_from_log

LAST_EVENTS = 20
_OUTCOMES = {
    DELIVERED_MESSAGE: "delivered",  # one line per Graph request, with its events' ids
    "event dead-lettered": "dead_lettered",
    DRY_RUN_MESSAGE: "printed",  # a dry run (no token): the payload was printed, not sent
}


class LiveStatus(logging.Handler):
    """Counts the relay's event log lines as they are written; thread-safe."""

    def __init__(self, *, clock: Any = time.time, contract: Contract | None = None) -> None:
        """`contract`: the relay's checks with its settings, so the page shows the hashes the
        forwarder sends."""
        super().__init__(level=logging.INFO)
        self.clock = clock
        self.contract = contract or Contract()
        self.started = clock()
        self.received = Audit()  # ingest lines: status, grade, coverage
        self.outcomes: dict[str, int] = dict.fromkeys(_OUTCOMES.values(), 0)
        self.last: deque[dict[str, Any]] = deque(maxlen=LAST_EVENTS)
        self._lock = threading.Lock()

    # -- inputs ------------------------------------------------------------------------------

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message != "ingest event" and message not in _OUTCOMES:
            return
        fields = dict(getattr(record, "capi_fields", None) or {})
        fields["message"] = message
        with self._lock:
            if message == "ingest event":
                self.received.add(record_from_log(fields))
                return
            outcome = _OUTCOMES[message]
            if message == DELIVERED_MESSAGE:
                ids = _ids_of(fields.get("event_ids"))
                count = fields.get("events")
                self.outcomes[outcome] += count if isinstance(count, int) else len(ids)
            else:
                ids = [str(fields.get("event_id", ""))]
                self.outcomes[outcome] += 1
            waiting = set(ids)
            for event in self.last:
                if event["event_id"] in waiting and event["status"] == "queued":
                    event["status"] = outcome
                    event["updated"] = self.clock()
                    waiting.discard(event["event_id"])
                    if not waiting:
                        break

    def queued(self, messages: Sequence[Message]) -> None:
        """Keep the hashed form of each event just queued (what the forwarder will send)."""
        for message in messages:
            try:
                event = json.loads(message.data)
            except ValueError:
                continue
            shaped = message.attributes.get("contract") == CONTRACT_VERSION
            prepared, _, _ = self.contract.recheck(event, now=self.clock(), shaped=shaped)
            if prepared is None:
                continue
            with self._lock:
                self.last.appendleft(
                    {
                        "event_id": str(prepared.get("event_id") or ""),
                        "event_name": str(prepared.get("event_name") or ""),
                        "pixel_id": message.attributes.get("pixel_id", ""),
                        "status": "queued",
                        "queued": self.clock(),
                        "updated": self.clock(),
                        "payload": prepared,
                    }
                )

    # -- output ------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            summary = self.received.summary(top=5)
            return {
                "since": self.started,
                "now": self.clock(),
                "received": summary["events"],
                "by_status": summary["by_status"],
                "delivered": self.outcomes["delivered"],
                "dead_lettered": self.outcomes["dead_lettered"],
                "printed": self.outcomes["printed"],
                "grades": summary["grades"],
                "coverage": summary["coverage"],
                "failures": {k: v["events"] for k, v in summary["failures"].items()},
                "top_rejection_reasons": summary["top_rejection_reasons"],
                "last_events": [dict(e) for e in self.last],
            }


def _ids_of(by_name: Any) -> list[str]:
    """The event ids of an `events delivered` line (ids by event name)."""
    if not isinstance(by_name, dict):
        return []
    return [str(i) for ids in by_name.values() if isinstance(ids, list) for i in ids]


class StatusPublisher:
    """The local queue, telling the live status what was queued once the queue took it."""

    def __init__(self, queue: Publisher, status: LiveStatus) -> None:
        self.queue = queue
        self.status = status

    def publish_all(self, messages: Sequence[Message]) -> list[str]:
        ids = self.queue.publish_all(messages)
        self.status.queued(messages)
        return ids


def install(status: LiveStatus) -> None:
    logging.getLogger("capi").addHandler(status)


def uninstall(status: LiveStatus) -> None:
    logging.getLogger("capi").removeHandler(status)


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>capi serve: live status</title>
<style>
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1f2328;
  background:#f6f8fa}
header{background:#0d1117;color:#fff;padding:16px 28px;display:flex;align-items:baseline;gap:16px}
header h1{margin:0;font-size:20px} header span{color:#9da7b3;font-size:13px}
main{max-width:1150px;margin:0 auto;padding:20px 28px}
.kpis{display:grid;grid-template-columns:repeat(5,1fr);gap:14px;margin-bottom:18px}
.kpi{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:12px 14px}
.kpi b{display:block;font-size:26px} .kpi span{color:#57606a;font-size:13px}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:18px}
section{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:14px 18px;
  margin-bottom:18px}
h2{font-size:16px;margin:0 0 10px}
.row{display:grid;grid-template-columns:130px 1fr 90px;gap:8px;align-items:center;margin:5px 0;
  font-size:13px}
.track{background:#eaeef2;border-radius:3px;height:16px;overflow:hidden}
.fill{height:16px;border-radius:3px}
table{border-collapse:collapse;width:100%;font-size:13px}
td,th{padding:6px 8px;border-bottom:1px solid #eaeef2;text-align:left;vertical-align:top}
pre{margin:0;max-height:130px;overflow:auto;font-size:11px;background:#f6f8fa;padding:6px;
  border-radius:4px;white-space:pre-wrap;word-break:break-all}
.status-delivered{color:#1a7f37;font-weight:600}
.status-dead_lettered{color:#cf222e;font-weight:600}
.status-queued{color:#9a6700;font-weight:600} .status-printed{color:#8250df;font-weight:600}
.note{color:#57606a;font-size:12px}
</style></head>
<body>
<header><h1>capi serve</h1><span id="since">live status</span></header>
<main>
<div class="kpis">
<div class="kpi"><b id="received">0</b><span>events received</span></div>
<div class="kpi"><b id="accepted">0</b><span>accepted</span></div>
<div class="kpi"><b id="rejected">0</b><span>rejected</span></div>
<div class="kpi"><b id="delivered">0</b><span id="delivered-label">delivered to Meta</span></div>
<div class="kpi"><b id="dead">0</b><span>dead-lettered</span></div>
</div>
<div class="grid">
<section><h2>Match grade</h2><div id="grades"></div>
<p class="note">The relay's estimate from the keys that survive normalization, not Meta's Event
Match Quality.</p></section>
<section><h2>Coverage per identifier</h2><div id="coverage"></div></section>
</div>
<section><h2>Last events, as Meta receives them (hashed)</h2>
<table><thead><tr><th>event</th><th>status</th><th>payload</th></tr></thead>
<tbody id="last"><tr><td colspan="3">No event yet: POST one to /events.</td></tr></tbody></table>
</section>
</main>
<script>
const colours = {strong: "#1a7f37", good: "#4c9be8", weak: "#d4a72c", none: "#cf222e"};
function bars(target, rows) {
  const box = document.getElementById(target);
  box.replaceChildren();
  for (const [label, fraction, text, colour] of rows) {
    const row = document.createElement("div"); row.className = "row";
    const name = document.createElement("span"); name.textContent = label;
    const track = document.createElement("div"); track.className = "track";
    const fill = document.createElement("div"); fill.className = "fill";
    fill.style.width = (100 * Math.min(1, fraction)).toFixed(1) + "%";
    fill.style.background = colour; track.appendChild(fill);
    const value = document.createElement("span"); value.textContent = text;
    row.append(name, track, value); box.appendChild(row);
  }
}
function set(id, value) { document.getElementById(id).textContent = value.toLocaleString(); }
async function refresh() {
  try {
    const s = await (await fetch("/status.json", {cache: "no-store"})).json();
    set("received", s.received); set("accepted", s.by_status.accepted || 0);
    set("rejected", s.by_status.rejected || 0); set("delivered", s.delivered);
    set("dead", s.dead_lettered);
    if (s.printed) {
      set("delivered", s.printed);
      document.getElementById("delivered-label").textContent = "printed (dry run: no token)";
    }
    document.getElementById("since").textContent =
      "since " + new Date(s.since * 1000).toLocaleTimeString() + ", refreshed every 2 s";
    const total = Math.max(1, s.received);
    bars("grades", Object.entries(s.grades).map(([g, n]) =>
      [g, n / total, n + " (" + (100 * n / total).toFixed(0) + "%)", colours[g]]));
    bars("coverage", Object.entries(s.coverage).map(([k, c]) =>
      [k, c.percent / 100, c.percent.toFixed(0) + "%", "#4c9be8"]));
    const body = document.getElementById("last");
    if (s.last_events.length) {
      body.replaceChildren();
      for (const e of s.last_events) {
        const tr = document.createElement("tr");
        const what = document.createElement("td");
        what.textContent = e.event_name + " " + e.event_id + " (pixel " + e.pixel_id + ")";
        const status = document.createElement("td");
        status.textContent = e.status; status.className = "status-" + e.status;
        const payload = document.createElement("td"); const pre = document.createElement("pre");
        pre.textContent = JSON.stringify(e.payload, null, 1); payload.appendChild(pre);
        tr.append(what, status, payload); body.appendChild(tr);
      }
    }
  } catch (err) { document.getElementById("since").textContent = "not reachable: " + err; }
}
refresh(); setInterval(refresh, 2000);
</script>
</body></html>
"""
