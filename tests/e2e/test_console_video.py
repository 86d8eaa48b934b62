"""Voice and video between consoles (docs/calls.md), in Debian's chromium
with fake media devices, over two real nodes on loopback: A calls B with
video, B answers, the media flows both ways (bytes and decoded frames grow on
both sides, read from getStats through ``window.redlineCall``), a third
browser (B's principal, as interpreter) joins and has media with A too, A
hangs up, both records hold the call, its duration and the signed offers and
answers, and the exported bundle verifies. The same relay-only through each
node's coturn. An SDP whose DTLS fingerprint is not the one the peer signed
stops the call.

Every wait is bounded; nothing is timed.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Route, expect, sync_playwright

from redline.core.media import (
    CALL_ANSWER,
    CALL_JOIN,
    CALL_MEDIA,
    CALL_OFFER,
    CALL_RECORDING_FILE,
    sdp_fingerprints,
)
from redline.service.node import system_clock
from redline.service.operators import OperatorService
from support.console import CHROMIUM, PASSWORD, WAIT_MS, sign_in
from support.nodes import NodeProcess, free_port, pair, wait_until

MEDIA_MS = 20_000  # ICE, DTLS and the first decoded frames on a busy machine: well under this
FAKE_MEDIA = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
]


@pytest.fixture
def media_browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), "the browser tests need Debian's chromium (scripts/test installs it)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=FAKE_MEDIA
        )
        yield launched
        launched.close()


def _page(browser: Browser, node: NodeProcess, name: str) -> Page:
    page = browser.new_context(base_url=node.api_url).new_page()
    page.set_default_timeout(WAIT_MS)
    sign_in(page, node, name)
    return page


def _place_video_call(page_a: Page, a: NodeProcess) -> str:
    page_a.goto(f"{a.api_url}/console/calls")
    page_a.get_by_label("From office").select_option("us-secdef")
    page_a.get_by_label("To office").select_option("prc-mnd")
    page_a.get_by_label("Mechanism").select_option("dtl")
    page_a.get_by_label("Mode").select_option("video")
    page_a.get_by_role("button", name="Call", exact=True).click()
    expect(page_a).to_have_url(re.compile(r"/console/calls/[A-Za-z0-9-]+$"), timeout=WAIT_MS)
    return page_a.url.rsplit("/", 1)[1]


def _answer(page_b: Page, call_id: str) -> None:
    takeover = page_b.locator(f'.ringing-takeover[data-call="{call_id}"]')
    takeover.get_by_role("button", name="Answer").click()
    expect(page_b.locator(f'article.call[data-call="{call_id}"]')).to_have_attribute(
        "data-state", "answered", timeout=WAIT_MS
    )


def _stats(page: Page) -> dict[str, Any]:
    return dict(page.evaluate("() => window.redlineCall.stats"))


def _media_grows(page: Page) -> None:
    """Audio and video bytes and decoded frames grow between two reads of getStats."""
    page.wait_for_function(
        "() => (window.redlineCall.stats.framesDecoded || 0) > 0"
        " && (window.redlineCall.stats.audioBytesReceived || 0) > 0",
        timeout=MEDIA_MS,
    )
    first = _stats(page)
    page.wait_for_function(
        f"() => window.redlineCall.stats.framesDecoded > {first['framesDecoded']}"
        f" && window.redlineCall.stats.audioBytesReceived > {first['audioBytesReceived']}"
        f" && window.redlineCall.stats.videoBytesReceived > {first['videoBytesReceived']}",
        timeout=MEDIA_MS,
    )


def _kinds(node: NodeProcess, call_id: str) -> list[tuple[str, str]]:
    return [
        (row.kind, json.loads(row.wire)["from"])
        for row in node.rows()
        if json.loads(row.wire)["body"].get("call") == call_id
        or json.loads(row.wire)["body"].get("id") == call_id
    ]


def test_a_video_call_carries_media_both_ways_a_third_browser_joins_and_the_record_holds_it(
    nodes: tuple[NodeProcess, NodeProcess], media_browser: Browser, tmp_path: Path
) -> None:
    a, b = nodes
    page_a = _page(media_browser, a, "alice")
    page_b = _page(media_browser, b, "bo")
    call_id = _place_video_call(page_a, a)
    _answer(page_b, call_id)

    for page in (page_a, page_b):
        expect(page.locator("#media")).to_have_attribute(
            "data-media-state", "connected", timeout=MEDIA_MS
        )
        # Each side checked the peer's SDP against the signed statement, and says so.
        expect(page.locator(".fingerprints")).to_be_visible()
        expect(page.locator(".fingerprint-values")).to_have_text(
            re.compile(r"^sha-256 [0-9A-F:]+$")
        )
    for page in (page_a, page_b):
        _media_grows(page)
        expect(page.locator(".q-bitrate")).to_have_text(re.compile(r"kbit/s$"), timeout=MEDIA_MS)
    # Each side shows the fingerprint the other side's browser signed through its node.
    offer_fp = page_b.locator(".fingerprint-values").inner_text()
    answer_fp = page_a.locator(".fingerprint-values").inner_text()
    assert offer_fp != answer_fp

    # A third browser: B's principal opens the call as interpreter; A's browser
    # offers to it as well, and media flows between them (a mesh of pairs).
    page_m = _page(media_browser, b, "mia")
    page_m.goto(f"{b.api_url}/console/calls/{call_id}")
    expect(page_m.locator("#media")).to_have_attribute(
        "data-media-state", "connected", timeout=MEDIA_MS
    )
    _media_grows(page_m)
    page_a.wait_for_function(
        "() => Object.keys(window.redlineCall.legStats).length === 2"
        " && Object.values(window.redlineCall.legStats).every(s => s.framesDecoded > 0)",
        timeout=MEDIA_MS,
    )
    expect(page_a.locator("#media figure.remote")).to_have_count(2)

    page_a.get_by_role("button", name="End call").click()
    for page in (page_a, page_b, page_m):
        call = page.locator(f'article.call[data-call="{call_id}"]')
        expect(call).to_have_attribute("data-state", "ended", timeout=WAIT_MS)
        expect(call.locator(".call-state .duration")).to_have_text(re.compile(r"^\d+:\d\d:\d\d$"))
        expect(page.locator("#media")).to_have_attribute(
            "data-media-state", "ended", timeout=WAIT_MS
        )
    # Both records hold the call, who joined, the signed offers and answers and the
    # media reports of all three browsers.
    for node in (a, b):
        held = _kinds(node, call_id)
        assert ("call", "us") in held and ("call-event", "prc") in held
        assert held.count((CALL_JOIN, "us")) == 1 and held.count((CALL_JOIN, "prc")) == 2
        assert held.count((CALL_OFFER, "us")) == 2 and held.count((CALL_ANSWER, "prc")) == 2
        assert held.count((CALL_MEDIA, "us")) == 1 and held.count((CALL_MEDIA, "prc")) == 2
        assert ("call-event", "us") in held  # the end
    offers = [r for r in b.rows() if r.kind == CALL_OFFER]
    assert offer_fp in {sdp_fingerprints(json.loads(o.wire)["body"]["sdp"])[0] for o in offers}

    # The exported bundle, with the media statements in it, verifies.
    bundle = tmp_path / "bundle"
    trust: list[str] = []
    for node in (a, b):
        path = tmp_path / f"{node.party}.json"
        path.write_text(json.dumps(node.dir.identity().to_json()))
        trust += ["--trust", str(path)]
    redline = [sys.executable, "-m", "redline"]
    subprocess.run([*redline, "export", str(a.dir.path), "--out", str(bundle)], check=True)
    result = subprocess.run(
        [*redline, "verify", str(bundle), *trust, "--json"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def _tamper(route: Route) -> None:
    """A party in the middle of the signalling: the peer's SDP gets another fingerprint."""
    answer = route.fetch()
    view = answer.json()
    for signal in view["offers"] if view["role"] == "callee" else view["answers"]:
        signal["sdp"] = re.sub(
            r"a=fingerprint:sha-256 ([0-9A-F]{2})",
            lambda m: "a=fingerprint:sha-256 " + ("00" if m.group(1) != "00" else "11"),
            signal["sdp"],
        )
    route.fulfill(response=answer, json=view)


def test_an_sdp_with_another_fingerprint_than_the_signed_one_stops_the_call(
    nodes: tuple[NodeProcess, NodeProcess], media_browser: Browser
) -> None:
    a, b = nodes
    page_a = _page(media_browser, a, "alice")
    page_b = _page(media_browser, b, "bo")
    call_id = _place_video_call(page_a, a)
    page_b.route(re.compile(r"/console/calls/[^/]+/media$"), _tamper)
    _answer(page_b, call_id)

    media = page_b.locator("#media")
    expect(media).to_have_attribute("data-media-state", "refused", timeout=MEDIA_MS)
    expect(media.locator(".media-error")).to_contain_text("but the peer signed")
    assert page_b.evaluate("() => window.redlineCall.stats.framesDecoded") is None
    # B's browser ended the call, naming why; A sees it end and never connects.
    for page in (page_a, page_b):
        call = page.locator(f'article.call[data-call="{call_id}"]')
        expect(call).to_have_attribute("data-state", "ended", timeout=MEDIA_MS)
    expect(page_a.locator("#media")).to_have_attribute("data-media-state", "ended", timeout=WAIT_MS)
    assert all(kind != CALL_ANSWER for kind, _ in _kinds(a, call_id))
    assert all(kind != CALL_MEDIA for kind, _ in _kinds(b, call_id))


TURNSERVER = Path("/usr/bin/turnserver")


@pytest.fixture
def relayed_nodes(tmp_path: Path) -> Iterator[tuple[NodeProcess, NodeProcess]]:
    """Two nodes whose ``redline serve`` each runs its own coturn on loopback, and
    whose browsers may use relayed candidates only."""
    assert TURNSERVER.exists(), "the relay test needs coturn (scripts/test installs it)"
    a = NodeProcess(tmp_path / "us", party="us", name="US Department of Defense")
    b = NodeProcess(tmp_path / "prc", party="prc", name="PRC Ministry of National Defense")
    try:
        for node in (a, b):
            config = node.dir.config
            config.turn_enabled = True
            config.turn_port = free_port()
            config.turn_secret = f"{node.party}-turn-secret-for-the-test"
            config.turn_relay_only = True
            node.dir.save_config()
        pair(a, b)
        OperatorService(a.store, clock=system_clock).add("alice", role="watch", password=PASSWORD)
        OperatorService(b.store, clock=system_clock).add("bo", role="watch", password=PASSWORD)
        a.start()
        b.start()
        yield a, b
    finally:
        a.close()
        b.close()


def test_a_relay_only_video_call_goes_through_each_nodes_coturn(
    relayed_nodes: tuple[NodeProcess, NodeProcess], media_browser: Browser
) -> None:
    a, b = relayed_nodes
    page_a = _page(media_browser, a, "alice")
    page_b = _page(media_browser, b, "bo")
    call_id = _place_video_call(page_a, a)
    _answer(page_b, call_id)
    for page in (page_a, page_b):
        expect(page.locator("#media")).to_have_attribute(
            "data-media-state", "connected", timeout=MEDIA_MS
        )
        _media_grows(page)
        # Relay-only: the pair in use starts at this side's relayed candidate.
        assert _stats(page)["localCandidateType"] == "relay"
    # Only relayed candidates were signed: no host address of either side left the node.
    for node in (a, b):
        for row in node.rows():
            if row.kind in (CALL_OFFER, CALL_ANSWER):
                candidates = re.findall(r"a=candidate:.*", json.loads(row.wire)["body"]["sdp"])
                assert candidates and all(" typ relay" in c for c in candidates)
    page_a.get_by_role("button", name="End call").click()
    for page in (page_a, page_b):
        expect(page.locator("#media")).to_have_attribute(
            "data-media-state", "ended", timeout=WAIT_MS
        )
    # coturn stops with the node.
    pid_file = a.dir.path / "turn" / "turnserver.pid"
    pid = int(pid_file.read_text().strip())
    a.stop()
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()


def _connected(*pages: Page) -> None:
    for page in pages:
        expect(page.locator("#media")).to_have_attribute(
            "data-media-state", "connected", timeout=MEDIA_MS
        )


def _end(page_a: Page, pages: tuple[Page, ...], call_id: str) -> None:
    page_a.get_by_role("button", name="End call").click()
    for page in pages:
        expect(page.locator(f'article.call[data-call="{call_id}"]')).to_have_attribute(
            "data-state", "ended", timeout=WAIT_MS
        )


def _recording_files(node: NodeProcess, call_id: str) -> list[dict[str, Any]]:
    return [
        json.loads(row.wire)
        for row in node.rows()
        if row.kind == CALL_RECORDING_FILE and json.loads(row.wire)["body"]["call"] == call_id
    ]


def test_a_call_is_recorded_only_with_both_sides_consent_and_each_record_holds_its_hash(
    nodes: tuple[NodeProcess, NodeProcess], media_browser: Browser
) -> None:
    a, b = nodes
    page_a = _page(media_browser, a, "alice")
    page_b = _page(media_browser, b, "bo")
    record = "Record (needs both sides)"

    # Only A consents: nothing is recorded, on either side.
    lone = _place_video_call(page_a, a)
    _answer(page_b, lone)
    _connected(page_a, page_b)
    page_a.get_by_role("button", name=record).click()
    expect(page_b.locator('.rec-side[data-side="theirs"]')).to_have_attribute(
        "data-on", "true", timeout=WAIT_MS
    )
    expect(page_a.locator('.rec-side[data-side="ours"]')).to_have_attribute("data-on", "true")
    _media_grows(page_b)
    for page in (page_a, page_b):
        expect(page.locator(".recording-now")).to_be_hidden()
        assert not page.evaluate("() => window.redlineCall.recording.started")
    _end(page_a, (page_a, page_b), lone)
    for node in (a, b):
        assert _recording_files(node, lone) == []
        assert not list((node.dir.path / "recordings").glob(f"{lone}-*"))

    # Both consent: each browser records what it receives and its node signs the hash.
    page_a.goto(f"{a.api_url}/console/calls")
    call_id = _place_video_call(page_a, a)
    _answer(page_b, call_id)
    _connected(page_a, page_b)
    page_a.get_by_role("button", name=record).click()
    page_b.get_by_role("button", name=record).click()
    for page in (page_a, page_b):
        expect(page.locator(".recording-now")).to_be_visible(timeout=WAIT_MS)
        page.wait_for_function("() => window.redlineCall.recording.chunks >= 3", timeout=MEDIA_MS)
    _end(page_a, (page_a, page_b), call_id)
    # A's page reloads when it ends the call (its end is posted as it leaves);
    # B's page posts its end when it sees the call over.
    page_b.wait_for_function("() => window.redlineCall.recording.done === true", timeout=WAIT_MS)
    for node in (a, b):
        wait_until(
            lambda node=node: any(w["from"] == node.party for w in _recording_files(node, call_id)),
            timeout=WAIT_MS / 1000,
            what=f"{node.party} to sign its recording's hash",
        )
    for node, peer in ((a, b), (b, a)):
        folder = node.dir.path / "recordings"
        (path,) = folder.glob(f"{call_id}-*.webm")
        data = path.read_bytes()
        assert data, "an empty recording"
        assert path.stat().st_mode & 0o777 == 0o600
        assert folder.stat().st_mode & 0o777 == 0o700
        ours = [w for w in _recording_files(node, call_id) if w["from"] == node.party]
        (signed,) = ours
        assert signed["body"]["sha256"] == hashlib.sha256(data).hexdigest()
        assert signed["body"]["bytes"] == len(data)
        assert path.name == f"{call_id}-{signed['body']['participant']}.webm"
        # The peer's record holds this side's hash too.
        wait_until(
            lambda peer=peer, party=node.party, sha=signed["body"]["sha256"]: any(
                w["from"] == party and w["body"]["sha256"] == sha
                for w in _recording_files(peer, call_id)
            ),
            timeout=WAIT_MS / 1000,
            what=f"{peer.party} to hold {node.party}'s recording hash",
        )
