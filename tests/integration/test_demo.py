"""`redline demo` end to end: the public history on the US node's board and timeline."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.nodes import free_port, wait_until

pytestmark = pytest.mark.slow


def _redline(*args: str) -> Any:
    result = subprocess.run(
        [sys.executable, "-m", "redline", *args], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _up(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def test_demo_shows_the_public_history(tmp_path: Path) -> None:
    ports = [free_port() for _ in range(4)]
    env = dict(os.environ, REDLINE_DEMO_PORTS=",".join(map(str, ports)))
    log = (tmp_path / "demo.log").open("wb")
    demo = subprocess.Popen(
        [sys.executable, "-m", "redline", "demo", "--dir", str(tmp_path / "d")],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        wait_until(lambda: _up(ports[1]) and _up(ports[3]), timeout=60, what="both demo nodes")
        us = str(tmp_path / "d" / "us")
        board = _redline("board", us, "--json")
        timeline = _redline("timeline", us, "--json")
    finally:
        demo.send_signal(signal.SIGTERM)
        demo.wait(60)
        log.close()
    assert demo.returncode == 0, (tmp_path / "demo.log").read_text()

    # The DPCT resumed in January 2024 after its 2022 suspension, the first since 2021.
    dpct = next(m for m in board["mechanisms"] if m["id"] == "dpct")
    assert (dpct["status"], dpct["since"][:7], dpct["source"]) == (
        "resumed",
        "2024-01",
        "public-record",
    )
    assert [(h["status"], h["at"][:4]) for h in dpct["history"]] == [
        ("active", "2021"),
        ("suspended", "2022"),
        ("resumed", "2024"),
    ]
    assert "since 2021" in dpct["reason"]
    held = next(e for e in timeline if e["title"].startswith("First DPCT since 2021"))
    assert (held["at"][:7], held["source"]) == ("2024-01", "public-record")

    # The February 2023 declined call.
    balloon = next(c for c in board["calls"] if c["id"] == "balloon-call-2023-02")
    assert (balloon["state"], balloon["placed_at"][:7], balloon["source"]) == (
        "declined",
        "2023-02",
        "public-record",
    )
    assert any(e["kind"] == "decline" and e["at"].startswith("2023-02") for e in timeline)

    # The three unanswered requests.
    unanswered = [
        r for r in board["requests"] if r["state"] == "lapsed" and r["reason"] == "no response"
    ]
    assert {r["id"] for r in unanswered} == {"austin-xu-1", "austin-xu-2", "austin-xu-3"}
    assert all(r["source"] == "public-record" for r in unanswered)
    assert next(t for t in board["tallies"] if t["party"] == "prc")["lapsed"] == 3
    assert any(e["kind"] == "no_response" for e in timeline)

    # The Secretary of Defense's counterpart is marked as disputed.
    secdef = next(c for c in board["counterparts"] if c["office"] == "us-secdef")
    assert secdef["disputed"] is True
    assert {v["party"]: v["counterpart_office"] for v in secdef["views"]} == {
        "us": "prc-cmc-vc",
        "prc": "prc-mnd",
    }
    assert any(e["kind"] == "counterpart_dispute" for e in timeline)

    # History is public record, never a signed statement.
    for e in timeline:
        assert e["source"] in ("public-record", "signed")
        assert ("statement_id" in e) == (e["source"] == "signed")


def test_a_third_party_is_paired_with_the_first_and_publishes_its_offices(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from redline.demo import prepare_demo
    from redline.service.hotline import HotlineService
    from redline.service.node import NodeService
    from redline.store.db import open_store

    monkeypatch.setenv("REDLINE_DEMO_PORTS", ",".join(str(free_port()) for _ in range(6)))
    nodes = {n.config.party: n for n in prepare_demo(tmp_path, ["us", "prc", "jp"])}
    prepare_demo(tmp_path, ["us", "prc", "jp"])  # a second start adds nothing
    pinned = {}
    for party, node in nodes.items():
        store = open_store(node.database_url)
        service = NodeService(party=party, signing_key=node.signing_key(), store=store)
        pinned[party] = {p.party for p in service.peers()}
        if party == "jp":
            directory = HotlineService(service, node_path=node.path).directory()
            [jp] = [p for p in directory["parties"] if p["id"] == "jp"]
            assert {o["id"] for o in jp["offices"]} == {"jp-mod", "jp-jso"}
            assert jp["time_zone"] == "Asia/Tokyo"
            queued = [row for row in service.status()["statements"] if row["state"] == "queued"]
            assert [(r["kind"], r["peer"]) for r in queued].count(("directory", "us")) == 2
        store.dispose()
    assert pinned == {"us": {"prc", "jp"}, "prc": {"us"}, "jp": {"us"}}
    assert not (nodes["jp"].path / "public-history.json").exists()


def test_demo_parties_are_checked(tmp_path: Path) -> None:
    from redline.core.errors import InvalidInput
    from redline.demo import prepare_demo

    for parties in (["us"], ["us", "xx"], ["us", "us"]):
        with pytest.raises(InvalidInput) as info:
            prepare_demo(tmp_path, parties)
        assert info.value.field == "parties"
