"""pixel.js in a real browser (headless Chromium, issue 27): a local shop page with the Pixel's base
code and a stand-in for Meta's fbevents.js (it records what the Pixel would send), the snippet
from `capi serve`, and `capi serve` delivering to Meta's stand-in. Each fbq('track') reaches the
Pixel with an eventID and the relay with the same event_id, the _fbp cookie and the page URL; a
page of an origin the key does not list is refused; a relay that does not answer leaves the page
unaffected."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
import time
from functools import partial
from hashlib import sha256
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.integration.test_serve import start_serve, stop

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed"),
]
KEY = "pk_test_0123456789abcdef"

# The Pixel's base code, in its documented behaviour: fbq queues calls until fbevents.js sets
# fbq.callMethod, and loads fbevents.js asynchronously (here the stand-in below).
BASE_CODE = """
<script>
(function (w, d) {
  if (w.fbq) return;
  var n = w.fbq = function () {
    n.callMethod ? n.callMethod.apply(n, arguments) : n.queue.push(arguments);
  };
  if (!w._fbq) w._fbq = n;
  n.push = n; n.loaded = true; n.version = "2.0"; n.queue = [];
  var t = d.createElement("script"); t.async = true; t.src = "/fbevents-standin.js?slow=1";
  d.head.appendChild(t);
})(window, document);
document.cookie = "_fbp=fb.1.1700000000000.424242; path=/";
fbq("init", "1234567890", {em: "jane@example.com"});
fbq("track", "PageView");
</script>
"""

# Meta's fbevents.js stand-in: what the Pixel sends, recorded; the queue processed on load.
FBEVENTS = """
(function () {
  var fbq = window.fbq;
  if (window.__pixel) return;  // loaded once already (the page may include it twice)
  window.__pixel = [];
  fbq.callMethod = function () { window.__pixel.push(Array.prototype.slice.call(arguments)); };
  var queued = fbq.queue.splice(0);
  for (var i = 0; i < queued.length; i++) fbq.callMethod.apply(fbq, queued[i]);
})();
"""

PAGE = """<!doctype html><html><head>{base}{before}
<script src="{relay}/pixel.js" data-key="{key}"></script>
</head><body><pre id="out">pending</pre>
<script>
window.__errors = [];
window.addEventListener("error", function (e) {{ window.__errors.push(String(e.message)); }});
window.addEventListener("unhandledrejection", function () {{ window.__errors.push("reject"); }});
var started = performance.now();
capiRelay.setUserData({{ph: "+1 650 555 1212"}});
fbq("track", "Purchase", {{value: 49.9, currency: "USD"}});
fbq("track", "Lead", {{}}, {{eventID: "callers-own-id"}});
fbq("trackCustom", "Quiz", {{answer: "b"}});
var took = performance.now() - started;
setTimeout(function () {{
  document.getElementById("out").textContent = JSON.stringify(
    {{pixel: window.__pixel, errors: window.__errors, took: took, wrapped: !!fbq.capiRelay}});
}}, 1500);
</script></body></html>"""


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        if "slow=1" in self.path:  # fbevents.js arriving after the tag (the usual order)
            time.sleep(1.0)
        super().do_GET()


class _Hanging(_Quiet):
    """A relay that takes the script but never answers an event (a slow or dead relay)."""

    def do_POST(self):
        time.sleep(20)


def _site(
    root: Path, relay: str, *, port: int = 0, handler=_Quiet, fbevents_first: bool = False
) -> tuple[ThreadingHTTPServer, str]:
    """The shop's pages, served on `port` (a free one when 0). `fbevents_first`: Meta's script
    runs before the tag (it had loaded already), else after it (the async load arrives later)."""
    root.mkdir(exist_ok=True)
    before = '<script src="/fbevents-standin.js"></script>' if fbevents_first else ""
    page = PAGE.format(base=BASE_CODE, before=before, relay=relay, key=KEY)
    (root / "index.html").write_text(page)
    (root / "fbevents-standin.js").write_text(FBEVENTS)
    address = ("127.0.0.1", port or free_port())
    server = ThreadingHTTPServer(address, partial(handler, directory=str(root)))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def _browse(url: str) -> dict:
    """What the page saw, and under "console" what Chromium's console logged (errors that no
    page handler sees, such as a failed network request's, land there)."""
    out = subprocess.run(
        ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--enable-logging=stderr", "--v=0", "--virtual-time-budget=4000", "--dump-dom", url],
        capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    match = re.search(r'<pre id="out">(.*?)</pre>', out.stdout, re.S)
    assert match and match.group(1) != "pending", out.stdout[-500:] + out.stderr[-500:]
    seen = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    seen["console"] = [line for line in out.stderr.splitlines() if "CONSOLE" in line]
    return seen


def _serve(tmp_path, graph_standin, origin: str):
    return start_serve(
        tmp_path,
        {
            "CAPI_ACCESS_TOKEN": "EAAtesttoken",
            "CAPI_PIXEL_ID": "1234567890",
            "CAPI_GRAPH_URL": graph_standin.url,
            "CAPI_API_KEYS": "local-key",
            "CAPI_BROWSER_KEYS": json.dumps({KEY: {"origins": [origin]}}),
        },
    )


@pytest.mark.parametrize("fbevents_first", [False, True], ids=["fbevents-after", "fbevents-first"])
def test_every_track_call_reaches_the_pixel_and_the_relay_with_one_event_id(
    tmp_path, graph_standin, fbevents_first
):
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    proc, relay = _serve(tmp_path, graph_standin, origin)
    server, _ = _site(tmp_path / "site", relay, port=port, fbevents_first=fbevents_first)
    try:
        seen = _browse(f"{origin}/index.html")
        assert seen["errors"] == [] and seen["wrapped"]
        tracked = [c for c in seen["pixel"] if c[0] in ("track", "trackCustom")]
        names = [c[1] for c in tracked]
        assert names == ["PageView", "Purchase", "Lead", "Quiz"]
        if fbevents_first:  # the queued PageView was sent before the tag ran: browser only
            assert len(tracked[0]) == 2
            tracked = tracked[1:]
        ids = {c[1]: c[3]["eventID"] for c in tracked}  # queued before the tag too, otherwise
        assert ids["Lead"] == "callers-own-id" and all(ids.values())
        events = graph_standin.wait_for_events(len(ids), timeout=30)
        at_meta = {e["event_name"]: e for e in events}
        assert {name: e["event_id"] for name, e in at_meta.items()} == ids
        purchase = at_meta["Purchase"]
        assert purchase["action_source"] == "website"
        assert purchase["event_source_url"] == f"{origin}/index.html"
        assert purchase["user_data"]["fbp"] == "fb.1.1700000000000.424242"
        assert purchase["user_data"]["client_ip_address"] == "127.0.0.1"
        assert "HeadlessChrome" in purchase["user_data"]["client_user_agent"]
        assert purchase["custom_data"] == {"value": 49.9, "currency": "USD"}
        if not fbevents_first:  # init's advanced matching, hashed; run before the tag, unseen
            assert len(purchase["user_data"]["em"][0]) == 64
        assert purchase["user_data"]["ph"] == [sha256(b"16505551212").hexdigest()]  # setUserData
    finally:
        server.shutdown()
        stop(proc)


def test_a_page_of_another_origin_is_refused(tmp_path, graph_standin):
    proc, relay = _serve(tmp_path, graph_standin, "https://shop.example.com")
    server, page = _site(tmp_path / "site", relay)
    try:
        seen = _browse(f"{page}/index.html")
        assert seen["errors"] == []  # the Pixel is not disturbed
        assert len([c for c in seen["pixel"] if c[0] == "track"]) == 3
        time.sleep(2)
        assert graph_standin.events == []
        log = (tmp_path / "stderr").read_text()
        assert '"origin_not_allowed"' in log or '"status": 403' in log
    finally:
        server.shutdown()
        stop(proc)


def test_a_relay_that_does_not_answer_leaves_the_page_unaffected(tmp_path):
    """pixel.js is served by a relay that then never answers an event: the page's fbq calls
    return at once and nothing reaches the page's error handlers."""
    site = tmp_path / "site"
    site.mkdir()
    script = (Path(__file__).resolve().parents[2] / "capi" / "ingest" / "pixel.js").read_bytes()
    (site / "pixel.js").write_bytes(script)
    port = free_port()
    relay = f"http://127.0.0.1:{port}"  # the page, its pixel.js and the silent /browser
    server, _ = _site(site, relay, port=port, handler=_Hanging)
    try:
        started = time.monotonic()
        seen = _browse(f"{relay}/index.html")
        assert time.monotonic() - started < 60
        assert seen["errors"] == [] and seen["wrapped"]
        assert [line for line in seen["console"] if "Uncaught" in line] == []
        assert seen["took"] < 50  # milliseconds for three fbq calls: nothing waited
        assert len([c for c in seen["pixel"] if c[0] in ("track", "trackCustom")]) == 4
    finally:
        server.shutdown()


def test_a_burst_of_forged_beacons_is_held_by_the_per_ip_limit(tmp_path, graph_standin):
    """A non-browser client can write any Origin: the per-IP limit (60 a minute by default)
    holds it, in count and in time, through `capi serve` on loopback."""
    import requests

    proc, relay = _serve(tmp_path, graph_standin, "https://shop.example.com")
    beacon = {
        "event_name": "Purchase",
        "event_source_url": "https://shop.example.com/thanks",
        "user_data": {"em": "x@example.com"},
        "custom_data": {"value": 10, "currency": "USD"},
    }
    try:
        started = time.monotonic()
        statuses = []
        with requests.Session() as session:
            for i in range(300):
                reply = session.post(
                    f"{relay}/browser?key={KEY}",
                    data=json.dumps({**beacon, "event_id": f"forged-{i}"}),
                    headers={"Origin": "https://shop.example.com", "Content-Type": "text/plain"},
                    timeout=10,
                )
                statuses.append(reply.status_code)
        took = time.monotonic() - started
        print(
            f"\nforged burst: {statuses.count(202)} taken, {statuses.count(429)} held, {took:.1f} s"
        )
        assert 55 <= statuses.count(202) <= 61 and statuses.count(429) >= 239, statuses[:80]
        assert took < 60, took
        time.sleep(2)
        assert len(graph_standin.wait_for_events(statuses.count(202), timeout=30)) <= 61
    finally:
        stop(proc)
