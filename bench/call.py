"""Call benchmark: dial-to-media time of a video call between two consoles, direct
and relayed, and the floor of two browsers' peer connections without Redline.

Measures, in one run on one machine, in Debian's chromium (headless, fake
camera and microphone):

1. Redline, direct: two nodes (``redline serve``, real processes on loopback,
   paired); A's operator places a video call from the *Calls* page, B's
   operator answers from the ringing takeover as soon as it shows; each call
   page joins, offers or answers through its node as signed statements,
   checks the peer's fingerprint and connects. Dial-to-media is from just
   before A presses *Call* to the later of the two pages' ICE connection
   (``window.redlineCall.connectedAt``; both pages are in one browser, so
   their ``Date.now()`` share a clock). Then A ends the call. N calls
   (default 20).
2. Redline, relayed: the same with a second pair of nodes, each running its
   own coturn on loopback with ``turn_relay_only``.
3. The floor: one page served on loopback by this script that makes two
   RTCPeerConnections with the same media and hands the offer and answer
   from one to the other in JavaScript (no node, no statement, no page
   load), gathering candidates first as Redline's pages do; from
   getUserMedia to both connected. Direct, and relayed through the second
   pair's coturn (relay only) with credentials made here.

Nothing here asserts a time; the figures go into docs/benchmarks.md.

Run:  .venv/bin/python bench/call.py [--calls 20]
"""

from __future__ import annotations

import argparse
import http.server
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from redline.core.statement import parse_time  # noqa: E402
from redline.service.media import turn_rest_credentials  # noqa: E402
from redline.service.node import system_clock  # noqa: E402
from redline.service.operators import OperatorService  # noqa: E402
from support.console import CHROMIUM, PASSWORD, sign_in  # noqa: E402
from support.nodes import NodeProcess, free_port, pair  # noqa: E402

WAIT_MS = 30_000
ARGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
]

FLOOR_PAGE = b"""<!doctype html><meta charset="utf-8"><title>floor</title>
<script>
function gathered(pc) {
  return new Promise(function (resolve) {
    if (pc.iceGatheringState === "complete") { resolve(); return; }
    var done = setTimeout(resolve, 5000);
    pc.addEventListener("icegatheringstatechange", function () {
      if (pc.iceGatheringState === "complete") { clearTimeout(done); resolve(); }
    });
  });
}
function connected(pc) {
  return new Promise(function (resolve) {
    if (pc.connectionState === "connected") { resolve(); return; }
    pc.addEventListener("connectionstatechange", function () {
      if (pc.connectionState === "connected") { resolve(); }
    });
  });
}
async function floor(config) {
  var start = Date.now();
  var a = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
  var b = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
  var pa = new RTCPeerConnection(config), pb = new RTCPeerConnection(config);
  a.getTracks().forEach(function (t) { pa.addTrack(t, a); });
  b.getTracks().forEach(function (t) { pb.addTrack(t, b); });
  await pa.setLocalDescription(await pa.createOffer());
  await gathered(pa);
  await pb.setRemoteDescription(pa.localDescription);
  await pb.setLocalDescription(await pb.createAnswer());
  await gathered(pb);
  await pa.setRemoteDescription(pb.localDescription);
  await Promise.all([connected(pa), connected(pb)]);
  var took = Date.now() - start;
  pa.close(); pb.close();
  a.getTracks().concat(b.getTracks()).forEach(function (t) { t.stop(); });
  return took;
}
</script>"""


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _nodes(root: Path, *, relayed: bool) -> tuple[NodeProcess, NodeProcess]:
    a = NodeProcess(root / "us", party="us", name="US Department of Defense")
    b = NodeProcess(root / "prc", party="prc", name="PRC Ministry of National Defense")
    if relayed:
        for node in (a, b):
            config = node.dir.config
            config.turn_enabled = True
            config.turn_port = free_port()
            config.turn_secret = f"{node.party}-turn-secret-for-the-bench"
            config.turn_relay_only = True
            node.dir.save_config()
    pair(a, b)
    OperatorService(a.store, clock=system_clock).add("alice", role="watch", password=PASSWORD)
    OperatorService(b.store, clock=system_clock).add("bo", role="watch", password=PASSWORD)
    a.start()
    b.start()
    return a, b


def _page(browser: Browser, node: NodeProcess, name: str) -> Page:
    page = browser.new_context(base_url=node.api_url).new_page()
    page.set_default_timeout(WAIT_MS)
    sign_in(page, node, name)
    return page


def redline_calls(
    browser: Browser, a: NodeProcess, b: NodeProcess, calls: int, *, verbose: bool = False
) -> tuple[list[float], list[float]]:
    """Dial-to-media of ``calls`` video calls from A to B, and answer-to-media (from
    B's operator pressing *Answer*), in ms."""
    page_a = _page(browser, a, "alice")
    page_b = _page(browser, b, "bo")
    took: list[float] = []
    after_answer: list[float] = []
    for _ in range(calls):
        page_a.goto(f"{a.api_url}/console/calls")
        page_a.get_by_label("From office").select_option("us-secdef")
        page_a.get_by_label("To office").select_option("prc-mnd")
        page_a.get_by_label("Mechanism").select_option("dtl")
        page_a.get_by_label("Mode").select_option("video")
        page_b.goto(f"{b.api_url}/console/now")
        dialled = float(page_a.evaluate("Date.now()"))
        page_a.get_by_role("button", name="Call", exact=True).click()
        takeover = page_b.locator(".ringing-takeover")
        takeover.wait_for()
        answered = float(page_b.evaluate("Date.now()"))
        takeover.get_by_role("button", name="Answer").click()
        ends = []
        for page in (page_a, page_b):
            page.wait_for_function(
                "() => window.redlineCall && window.redlineCall.connectedAt", timeout=WAIT_MS
            )
            ends.append(float(page.evaluate("window.redlineCall.connectedAt")))
        took.append(max(ends) - dialled)
        after_answer.append(max(ends) - answered)
        if verbose:
            for side, page in (("A", page_a), ("B", page_b)):
                marks = page.evaluate("window.redlineCall.marks")
                print(side, [(what, int(at - dialled)) for what, at in marks])
            for node in (a, b):
                for row in node.rows():
                    if row.direction == "in" and row.kind.startswith("call"):
                        lag = parse_time(row.stored_at) - parse_time(row.time)
                        print(
                            f"  {node.party} took {row.kind} after "
                            f"{lag.total_seconds() * 1000:.0f} ms"
                        )
        page_a.get_by_role("button", name="End call").click()
        page_b.wait_for_function("() => window.redlineCall.phase === 'ended'", timeout=WAIT_MS)
    page_a.context.close()
    page_b.context.close()
    return took, after_answer


class _Floor(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (the http.server interface)
        self.send_response(200)
        self.send_header("content-type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(FLOOR_PAGE)

    def log_message(self, *_args: Any) -> None:
        pass


def floor_calls(browser: Browser, url: str, config: dict[str, Any], calls: int) -> list[float]:
    """The floor's connect time of ``calls`` pairs of peer connections, in ms."""
    page = browser.new_context().new_page()
    page.goto(url)
    took = [float(page.evaluate("c => floor(c)", config)) for _ in range(calls)]
    page.context.close()
    return took


def _line(name: str, values: list[float]) -> str:
    return (
        f"| {name} | {len(values)} | {_pct(values, 0.5):.0f} ms | {_pct(values, 0.99):.0f} ms "
        f"| {max(values):.0f} ms |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument(
        "--steps", action="store_true", help="print each call's steps (ms after dialling)"
    )
    args = parser.parse_args()
    assert CHROMIUM.exists(), "needs Debian's chromium"
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Floor)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    floor_url = f"http://127.0.0.1:{server.server_address[1]}/"
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=ARGS
        )
        made: list[NodeProcess] = []
        try:
            direct = _nodes(Path(tmp) / "direct", relayed=False)
            made += direct
            relayed = _nodes(Path(tmp) / "relayed", relayed=True)
            made += relayed
            results["floor, direct"] = floor_calls(browser, floor_url, {}, args.calls)
            dial, answer = redline_calls(browser, *direct, args.calls, verbose=args.steps)
            results["Redline, direct"] = dial
            results["Redline, direct: from Answer"] = answer
            turn = relayed[0].dir.config
            username, credential = turn_rest_credentials(
                turn.turn_secret, "bench", datetime.now(UTC) + timedelta(hours=1)
            )
            relay = {
                "iceServers": [
                    {
                        "urls": [f"turn:{turn.turn_host}:{turn.turn_port}?transport=udp"],
                        "username": username,
                        "credential": credential,
                    }
                ],
                "iceTransportPolicy": "relay",
            }
            results["floor, relayed"] = floor_calls(browser, floor_url, relay, args.calls)
            dial, answer = redline_calls(browser, *relayed, args.calls, verbose=args.steps)
            results["Redline, relayed"] = dial
            results["Redline, relayed: from Answer"] = answer
        finally:
            for node in made:
                node.close()
            browser.close()
            server.shutdown()
    print("| Run | Calls | Dial to media, p50 | p99 | max |")
    print("|---|---|---|---|---|")
    for name, values in results.items():
        print(_line(name, values))


if __name__ == "__main__":
    started = time.monotonic()
    main()
    print(f"\n(run took {time.monotonic() - started:.0f} s)")
