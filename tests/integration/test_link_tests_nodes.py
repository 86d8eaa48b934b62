"""Two real node processes with short link-test intervals: heartbeats are
answered by the peer's node; an operator test nobody answers at the peer is
"not-answered"; one answered from the CLI is counted; the peer process
stopped is "peer-unreachable"; the two alarms are distinct in `redline
status`, the board and the API."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from support.nodes import NodeProcess, pair, wait_until

pytestmark = pytest.mark.slow


def configure(node: NodeProcess, *, operator_test_timeout: float) -> None:
    config = node.dir.config
    config.link_test_interval_seconds = 1.0
    config.link_test_timeout_seconds = 5.0
    # The day's test is due as soon as the node starts.
    config.operator_test_time = "00:00"
    config.operator_test_timeout_seconds = operator_test_timeout
    node.dir.save_config()


def link_tests(node: NodeProcess, peer: str) -> dict[str, Any]:
    with node.api() as api:
        response = api.get("/api/v1/link-tests", params={"peer": peer})
    assert response.status_code == 200, response.text
    [link] = response.json()["links"]
    return dict(link)


def alarm_kinds(alarms: list[dict[str, Any]], peer: str) -> set[str]:
    return {a["kind"] for a in alarms if a["peer"] == peer}


def board_alarms(node: NodeProcess, peer: str) -> set[str]:
    with node.api() as api:
        response = api.get("/api/v1/hotline/board")
    assert response.status_code == 200, response.text
    [link] = [t for t in response.json()["link_tests"] if t["peer"] == peer]
    return alarm_kinds(link["alarms"], peer)


def cli(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "redline", *args], capture_output=True, text=True, check=True
    )
    return result.stdout


def test_unreachable_and_not_answered_are_told_apart(
    make_node: Callable[..., NodeProcess],
) -> None:
    us = make_node("us", "US Department of Defense")
    prc = make_node("prc", "PRC Ministry of National Defense")
    configure(us, operator_test_timeout=4.0)  # nobody at prc will answer ours
    configure(prc, operator_test_timeout=120.0)  # ours will answer prc's
    pair(us, prc)
    us.start()
    prc.start()

    # Heartbeats answered by the peer's node, both ways.
    wait_until(
        lambda: link_tests(us, "prc")["heartbeat"]["answered"] >= 2, timeout=30, what="replies"
    )
    wait_until(
        lambda: link_tests(prc, "us")["heartbeat"]["answered"] >= 2, timeout=30, what="replies"
    )
    figures = link_tests(us, "prc")["heartbeat"]
    assert figures["latency_p50_ms"] is not None and figures["last_answered_at"] is not None

    # Reachable, nobody answered: prc's node took our operator test, its operator did not.
    wait_until(
        lambda: "not-answered" in alarm_kinds(us.status()["alarms"], "prc"),
        timeout=30,
        what="the not-answered alarm",
    )
    report = us.status()
    assert alarm_kinds(report["alarms"], "prc") == {"not-answered"}
    [alarm] = [a for a in report["alarms"] if a["kind"] == "not-answered"]
    assert alarm["condition"] == "operator-test"
    assert "reachable, nobody answered" in alarm["message"]
    assert board_alarms(us, "prc") == {"not-answered"}
    link = link_tests(us, "prc")
    assert alarm_kinds(link["alarms"], "prc") == {"not-answered"}
    assert link["operator-test"]["missed"] == 1

    # A person at us answers prc's operator test from the CLI.
    listed = json.loads(cli("tests", str(us.dir.path), "--peer", "prc", "--json"))
    [waiting] = listed["links"][0]["awaiting_answer"]
    out = cli("tests", "answer", str(us.dir.path), waiting["id"][:12], "--text", "on watch")
    assert waiting["id"][:16] in out
    wait_until(
        lambda: link_tests(prc, "us")["operator-test"]["answered"] == 1,
        timeout=30,
        what="prc's operator test answered",
    )
    assert alarm_kinds(prc.status()["alarms"], "us") == set()

    # Peer node unreachable: prc's process stopped, our heartbeats get no receipt.
    prc.stop()
    wait_until(
        lambda: "peer-unreachable" in alarm_kinds(us.status()["alarms"], "prc"),
        timeout=30,
        what="the peer-unreachable alarm",
    )
    report = us.status()
    assert alarm_kinds(report["alarms"], "prc") == {"not-answered", "peer-unreachable"}
    [unreachable] = [a for a in report["alarms"] if a["kind"] == "peer-unreachable"]
    assert "peer node unreachable" in unreachable["message"]
    assert board_alarms(us, "prc") == {"not-answered", "peer-unreachable"}
    with us.api() as api:
        listed_alarms = api.get("/api/v1/alarms").json()["alarms"]
    assert alarm_kinds(listed_alarms, "prc") >= {"not-answered", "peer-unreachable"}
    text = cli("status", str(us.dir.path))
    lines = [x for x in text.splitlines() if x.startswith("ALARM ")]
    assert any(x.startswith("ALARM peer-unreachable (prc): peer node unreachable") for x in lines)
    assert any(x.startswith("ALARM not-answered (prc): reachable, nobody answered") for x in lines)
    board = cli("board", str(us.dir.path))
    assert "not-answered, peer-unreachable" in board or "peer-unreachable, not-answered" in board
