"""Three real node processes: us paired with prc and with jp; prc and jp not paired.

jp, a party outside the packaged catalogue, publishes its own offices; us and
jp exchange a request (accepted) and a call (answered, then ended) over their
pair's own hotline mechanism while us–prc traffic goes on. Each node holds
exactly what was addressed to it or signed by it, each board shows its own
peers, and an export of each pair verifies offline with both parties' keys.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from support.nodes import NodeProcess, pair, wait_until

pytestmark = pytest.mark.slow
H = "/api/v1/hotline"


def _post(node: NodeProcess, path: str, body: dict[str, Any]) -> Any:
    with node.api() as api:
        response = api.post(H + path, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def _get(node: NodeProcess, path: str) -> Any:
    with node.api() as api:
        response = api.get(H + path)
    assert response.status_code == 200, response.text
    return response.json()


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _signed(node: NodeProcess) -> list[dict[str, Any]]:
    page = _get(node, "/timeline?limit=1000")
    assert page["next"] is None  # one page holds this test's whole timeline
    return [e for e in page["entries"] if e["source"] == "signed"]


def test_three_parties_each_see_what_is_theirs(
    make_node: Callable[..., NodeProcess], tmp_path: Path
) -> None:
    us = make_node("us", "US Department of Defense")
    prc = make_node("prc", "PRC Ministry of National Defense")
    jp = make_node("jp", "Japan Ministry of Defense")
    pair(us, prc)
    pair(us, jp)
    for node in (us, prc, jp):
        node.start()

    offices = _post(
        jp,
        "/offices",
        {
            "id": "jp-mod",
            "level": "defence_minister",
            "title_en": "Minister of Defense",
            "title_zh": "防卫大臣",
            "time_zone": "Asia/Tokyo",
        },
    )
    assert [st["body"]["party"] for st in offices] == ["jp"]  # one peer: us
    _post(us, "/directory/publish", {})  # the US directory to both peers
    wait_until(
        lambda: any(p["id"] == "jp" for p in _get(us, "/directory")["parties"]),
        timeout=30,
        what="us to hold jp's directory",
    )
    wait_until(
        lambda: any(p["id"] == "us" for p in _get(jp, "/directory")["parties"]),
        timeout=30,
        what="jp to hold the US directory",
    )

    start = datetime.now(UTC) + timedelta(days=1)
    window = {"start": _iso(start), "end": _iso(start + timedelta(hours=1))}
    hotline = "hotline-jp-us"
    to_jp = _post(
        us,
        "/requests",
        {
            "from_office": "us-secdef",
            "to_office": "jp-mod",
            "mechanism": hotline,
            "mode": "video",
            "windows": [window],
            "agenda": ["Transit notifications"],
        },
    )
    assert to_jp["body"]["to_office"] == "jp-mod"
    to_prc = _post(
        us,
        "/requests",
        {
            "from_office": "us-secdef",
            "to_office": "prc-mnd",
            "mechanism": "dtl",
            "mode": "call",
            "windows": [window],
        },
    )
    call = _post(
        jp,
        "/calls",
        {
            "from_office": "jp-mod",
            "to_office": "us-secdef",
            "mechanism": hotline,
            "purpose": "Missile launch notice",
            "ring_timeout": 600,
        },
    )
    request_id, prc_request, call_id = (
        to_jp["body"]["id"],
        to_prc["body"]["id"],
        call["body"]["id"],
    )

    def open_on(node: NodeProcess, rid: str) -> bool:
        return any(r["id"] == rid for r in _get(node, "/board")["open_requests"])

    wait_until(lambda: open_on(jp, request_id), timeout=30, what="jp to hold the request")
    [asked] = [r for r in _get(jp, "/board")["open_requests"] if r["id"] == request_id]
    assert set(asked["windows"][0]["local"]) == {"us", "jp"}  # the two parties' zones
    wait_until(lambda: open_on(prc, prc_request), timeout=30, what="prc to hold its request")
    _post(jp, f"/requests/{request_id}/responses", {"action": "accept", "window": window})
    _post(prc, f"/requests/{prc_request}/responses", {"action": "decline", "reason": "Not now"})
    wait_until(
        lambda: any(c["id"] == call_id for c in _get(us, "/board")["calls"]),
        timeout=30,
        what="us to hear the call ring",
    )
    ringing = next(c for c in _get(us, "/board")["calls"] if c["id"] == call_id)
    assert (ringing["state"], ringing["from_party"], ringing["purpose"]) == (
        "ringing",
        "jp",
        "Missile launch notice",
    )
    assert 0 < ringing["seconds_left"] <= 600
    _post(us, f"/calls/{call_id}/events", {"action": "answer"})
    _post(us, f"/calls/{call_id}/events", {"action": "end"})

    def settled() -> bool:
        on_us = {r["id"]: r["state"] for r in _get(us, "/board")["requests"]}
        on_jp = {r["id"]: r["state"] for r in _get(jp, "/board")["requests"]}
        calls_jp = {c["id"]: c["state"] for c in _get(jp, "/board")["calls"]}
        drained = all(n.status()["outbox"] == 0 for n in (us, prc, jp))
        return (
            on_us.get(request_id) == "accepted"
            and on_us.get(prc_request) == "declined"
            and on_jp.get(request_id) == "accepted"
            and calls_jp.get(call_id) == "ended"
            and drained
        )

    wait_until(settled, timeout=60, interval=0.5, what="the three nodes to settle")

    # Each node holds exactly what was addressed to it or signed by it.
    on = {node.party: _signed(node) for node in (us, prc, jp)}
    assert all({e["from"], e["to"]} <= {"us", "jp"} for e in on["jp"])
    assert all({e["from"], e["to"]} <= {"us", "prc"} for e in on["prc"])
    us_ids = {e["statement_id"] for e in on["us"]}
    assert {e["statement_id"] for e in on["jp"]} | {e["statement_id"] for e in on["prc"]} == us_ids
    assert {e["statement_id"] for e in on["jp"]} == {
        e["statement_id"] for e in on["us"] if "jp" in (e["from"], e["to"])
    }
    # The boards: us sees both peers and narrows to one; jp knows nothing of prc.
    with_jp = _get(us, "/board?peer=jp")
    assert {r["id"] for r in with_jp["requests"]} == {request_id}
    assert {c["id"] for c in with_jp["calls"]} == {call_id}
    assert next(c for c in with_jp["calls"] if c["id"] == call_id)["duration_seconds"] >= 0
    assert {m["id"] for m in with_jp["mechanisms"]} == {hotline}
    assert {r["id"] for r in _get(us, "/board?peer=prc")["requests"]} >= {prc_request}
    assert prc_request not in {r["id"] for r in _get(jp, "/board")["requests"]}
    with jp.api() as api:
        unknown = api.get(H + "/board?peer=prc")
    assert unknown.status_code == 404 and unknown.json()["field"] == "peer", unknown.text

    # Each pair's evidence verifies offline once its checkpoints are cosigned.
    trust: list[str] = []
    for node in (us, prc, jp):
        path = tmp_path / f"{node.party}.json"
        path.write_text(json.dumps(node.dir.identity().to_json()))
        trust += ["--trust", str(path)]
    for peer in ("prc", "jp"):
        report = _cosigned_export(us, peer, tmp_path, trust)
        signed_with_peer = [e for e in on["us"] if peer in (e["from"], e["to"])]
        assert report["statements"] >= len(signed_with_peer)


def _cosigned_export(
    node: NodeProcess, peer: str, tmp_path: Path, trust: list[str]
) -> dict[str, Any]:
    """Export ``node``'s exchanges with ``peer`` until nothing is pending a cosigned
    checkpoint; each export must verify."""
    redline = [sys.executable, "-m", "redline"]
    reports: list[dict[str, Any]] = []

    def verified_and_complete() -> bool:
        bundle = tmp_path / f"bundle-{peer}-{len(reports)}"
        made = subprocess.run(
            [*redline, "export", str(node.dir.path), "--out", str(bundle), "--peer", peer],
            check=True,
            capture_output=True,
            text=True,
        )
        result = subprocess.run(
            [*redline, "verify", str(bundle), *trust, "--json"], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
        reports.append(json.loads(result.stdout))
        # "us: checkpoint 12, 9 statements, 0 pending (...)", one line per log
        logs = [line for line in made.stdout.splitlines() if " pending " in line]
        return len(logs) == 2 and all(", 0 pending " in line for line in logs)

    wait_until(verified_and_complete, timeout=60, interval=1.0, what=f"us-{peer} cosigned")
    return reports[-1]
