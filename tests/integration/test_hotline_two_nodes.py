"""The hotline between two real node processes, driven through the operator API.

A request declined with a reason, one accepted, one left to lapse; a call
answered with messages exchanged, one declined, one missed; a mechanism
suspended and resumed. Then both nodes' boards and timelines agree on every
outcome. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from support.nodes import NodeProcess, pair, wait_until

pytestmark = pytest.mark.slow
H = "/api/v1/hotline"


def _post(api: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post(H + path, json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def _get(node: NodeProcess, path: str) -> Any:
    with node.api() as api:
        response = api.get(H + path)
        assert response.status_code == 200, response.text
        return response.json()


def _timeline(node: NodeProcess) -> list[dict[str, Any]]:
    page = _get(node, "/timeline?limit=1000")
    assert page["next"] is None  # one page holds this test's whole timeline
    return list(page["entries"])


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _outcomes(node: NodeProcess) -> dict[str, Any]:
    board = _get(node, "/board")
    return {
        "requests": {r["id"]: (r["state"], r["reason"], r["window"]) for r in board["requests"]},
        "calls": {
            c["id"]: (c["state"], c["reason"], [(m["from"], m["text"]) for m in c["messages"]])
            for c in board["calls"]
        },
        "mechanisms": {
            m["id"]: (m["status"], [(h["status"], h["by_party"]) for h in m["history"]])
            for m in board["mechanisms"]
        },
        "tallies": board["tallies"],
        "refused": board["refused"],
    }


def test_two_nodes_agree_on_every_outcome(make_node: Callable[..., NodeProcess]) -> None:
    us = make_node("us", "US Department of Defense")
    prc = make_node("prc", "PRC Ministry of National Defense")
    pair(us, prc)
    us.start()
    prc.start()
    now = datetime.now(UTC)
    start = now + timedelta(days=1)
    windows = [{"start": _iso(start), "end": _iso(start + timedelta(hours=1))}]
    ask = {"from_office": "us-secdef", "to_office": "prc-mnd", "mechanism": "dtl", "mode": "call"}
    ring = {"from_office": "us-secdef", "to_office": "prc-mnd", "mechanism": "dtl"}

    with us.api() as api:
        declined = _post(api, "/requests", {**ask, "windows": windows})["body"]["id"]
        accepted = _post(api, "/requests", {**ask, "windows": windows})["body"]["id"]
        lapsing = _post(
            api,
            "/requests",
            {**ask, "windows": windows, "deadline": _iso(datetime.now(UTC) + timedelta(seconds=2))},
        )["body"]["id"]
        answered = _post(api, "/calls", {**ring, "purpose": "Incident at sea"})["body"]["id"]
        refused_call = _post(api, "/calls", ring)["body"]["id"]
        missed = _post(api, "/calls", {**ring, "ring_timeout": 2})["body"]["id"]

    def prc_holds_everything() -> bool:
        board = _get(prc, "/board")
        return {declined, accepted}.issubset({r["id"] for r in board["requests"]}) and {
            answered,
            refused_call,
        }.issubset({c["id"] for c in board["calls"]})

    wait_until(prc_holds_everything, timeout=30, what="the PRC node to receive the acts")
    with prc.api() as api:
        _post(api, f"/requests/{declined}/responses", {"action": "decline", "reason": "Sanctions"})
        _post(api, f"/requests/{accepted}/responses", {"action": "accept", "window": windows[0]})
        _post(api, f"/calls/{answered}/events", {"action": "answer"})
        _post(api, f"/calls/{refused_call}/events", {"action": "decline", "reason": "Tense"})
        _post(api, f"/calls/{answered}/messages", {"text": "我方收到。", "lang": "zh"})
        _post(api, "/mechanisms/mmca/status", {"status": "suspended", "reason": "Protest"})
        _post(api, "/mechanisms/mmca/status", {"status": "resumed", "reason": "Summit"})
        # Responding to the request that lapsed is refused, naming the field.
        wait_until(
            lambda: any(
                r["id"] == lapsing and r["state"] == "lapsed"
                for r in _get(prc, "/board")["requests"]
            ),
            timeout=30,
            what="the lapse",
        )
        late = api.post(
            H + f"/requests/{lapsing}/responses", json={"action": "decline", "reason": "x"}
        )
        assert late.status_code == 409 and late.json()["field"] == "request_id", late.text

    def us_sees_answer() -> bool:
        return any(
            c["id"] == answered and c["state"] == "answered" for c in _get(us, "/board")["calls"]
        )

    wait_until(us_sees_answer, timeout=30, what="the US node to see the answer")
    with us.api() as api:
        _post(api, f"/calls/{answered}/messages", {"text": "Received. Let us keep talking."})
        _post(api, f"/calls/{answered}/events", {"action": "end"})

    expected_requests = {
        declined: ("declined", "Sanctions"),
        accepted: ("accepted", ""),
        lapsing: ("lapsed", "no response"),
    }
    expected_calls = {
        answered: "ended",
        refused_call: "declined",
        missed: "missed",
    }

    def settled(node: NodeProcess) -> bool:
        o = _outcomes(node)
        return (
            all(o["requests"].get(k, ("",))[:2] == v for k, v in expected_requests.items())
            and all(o["calls"].get(k, ("",))[0] == v for k, v in expected_calls.items())
            and len(o["calls"][answered][2]) == 2
            and o["mechanisms"]["mmca"][0] == "resumed"
        )

    def both_settled_and_drained() -> bool:
        return (
            settled(us)
            and settled(prc)
            and us.status()["outbox"] == 0
            and prc.status()["outbox"] == 0
        )

    wait_until(both_settled_and_drained, timeout=45, interval=0.5, what="both nodes to agree")
    on_us, on_prc = _outcomes(us), _outcomes(prc)
    assert on_us == on_prc
    assert on_us["calls"][refused_call][1] == "Tense"
    assert on_us["calls"][answered][2] == [
        ("prc", "我方收到。"),
        ("us", "Received. Let us keep talking."),
    ]
    assert on_us["requests"][accepted][2]["start"][:19] == windows[0]["start"][:19]
    assert on_us["mechanisms"]["mmca"][1] == [("suspended", "prc"), ("resumed", "prc")]
    prc_tally = next(t for t in on_us["tallies"] if t["party"] == "prc")
    assert (prc_tally["answered"], prc_tally["declined"], prc_tally["lapsed"]) == (2, 2, 2)
    assert on_us["refused"] == []

    # The lapse and the missed call were recorded once, by the US node, as signed statements.
    for node in (us, prc):
        kinds = [e["kind"] for e in _timeline(node) if e["source"] == "signed"]
        assert kinds.count("request-lapsed") == 1 and kinds.count("call-missed") == 1
    us_timeline = {e["statement_id"]: e for e in _timeline(us)}
    prc_timeline = {e["statement_id"]: e for e in _timeline(prc)}
    assert us_timeline.keys() == prc_timeline.keys()
    lapse = next(e for e in us_timeline.values() if e["kind"] == "request-lapsed")
    assert lapse["from"] == "us"
