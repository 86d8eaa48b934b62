"""Two real node processes: with the peer down the operator sees the link fail
(`redline status`, text and JSON, and the API), one ``unreachable`` alarm, and
all of it cleared once the peer is back."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from redline.core.statement import parse_time
from redline.store.schema import alarms
from support.nodes import NodeProcess, pair, wait_until

pytestmark = pytest.mark.slow


def link_of(node: NodeProcess, peer: str) -> dict[str, Any]:
    with node.api() as api:
        response = api.get("/api/v1/status")
    assert response.status_code == 200, response.text
    [link] = [row for row in response.json()["links"] if row["peer"] == peer]
    return dict(link)


def unreachable(node: NodeProcess) -> list[Any]:
    with node.store.read() as conn:
        return list(conn.execute(select(alarms).where(alarms.c.kind == "unreachable")))


def test_a_down_peer_is_shown_then_cleared_when_it_is_back(
    make_node: Callable[..., NodeProcess],
) -> None:
    us = make_node("us", "US Department of Defense")
    prc = make_node("prc", "PRC Ministry of National Defense")
    us.dir.config.unreachable_alarm_seconds = 1.0
    us.dir.save_config()
    pair(us, prc)
    us.start()  # prc stays down
    with us.api() as api:
        sent = api.post(
            "/api/v1/messages",
            json={"to": "prc", "precedence": "flash", "subject": "Link test", "text": "Hi"},
        )
    assert sent.status_code == 201, sent.text

    wait_until(lambda: link_of(us, "prc")["attempts"] >= 2, timeout=60, what="attempts")
    link = link_of(us, "prc")
    assert link["queued"] == 1
    assert link["last_exchange_at"] is None
    assert "unreachable" in link["last_error"]
    assert link["failing_since"] is not None
    assert parse_time(link["next_attempt_at"]) > parse_time(link["failing_since"])
    assert link["oldest_queued_at"] is not None

    wait_until(lambda: unreachable(us), timeout=60, what="the unreachable alarm")
    seen = link_of(us, "prc")["attempts"]
    wait_until(lambda: link_of(us, "prc")["attempts"] >= seen + 3, timeout=60, what="retries")
    report = us.status()  # `redline status --json`
    [link] = report["links"]
    assert (link["peer"], link["state"], link["queued"]) == ("prc", "unreachable", 1)
    [alarm] = [a for a in report["alarms"] if a["kind"] == "unreachable"]
    assert alarm["peer"] == "prc"
    assert f"unreachable since {link['failing_since']}" in alarm["message"]
    # Raised once, not once per attempt.
    [row] = unreachable(us)
    assert row.cleared_at is None
    assert getattr(row, "count", 1) == 1
    text = subprocess.run(
        [sys.executable, "-m", "redline", "status", str(us.dir.path)],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    [line] = [x for x in text.splitlines() if x.startswith("link prc: ")]
    assert "unreachable since" in line and "1 queued since" in line
    assert "last exchange never" in line and "last error: " in line

    prc.start()
    wait_until(lambda: link_of(us, "prc")["queued"] == 0, timeout=60, what="delivery")
    link = link_of(us, "prc")
    assert link["state"] == "up"
    assert link["last_exchange_at"] is not None
    assert (link["failing_since"], link["last_error"], link["next_attempt_at"]) == (
        None,
        None,
        None,
    )
    assert [a for a in us.status()["alarms"] if a["kind"] == "unreachable"] == []
    [row] = unreachable(us)
    assert row.cleared_at is not None
    delivered = [r for r in us.rows() if r.id == sent.json()["id"]]
    assert [r.state for r in delivered] == ["delivered"]
