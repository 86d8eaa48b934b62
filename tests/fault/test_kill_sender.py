"""kill -9 the sending node while it drains a backlog; nothing is lost or doubled."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from redline.service.node import NodeService
from support.nodes import NodeProcess, pair, wait_until

pytestmark = pytest.mark.slow

BACKLOG = 2000


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[tuple[NodeProcess, NodeProcess]]:
    us = NodeProcess(tmp_path / "us", party="us", name="US")
    prc = NodeProcess(tmp_path / "prc", party="prc", name="PRC")
    pair(us, prc)
    try:
        yield us, prc
    finally:
        us.close()
        prc.close()


def test_sender_killed_mid_backlog_resumes_exactly_once(
    nodes: tuple[NodeProcess, NodeProcess],
) -> None:
    us, prc = nodes
    service = NodeService(party="us", signing_key=us.dir.signing_key(), store=us.store)
    sent = [
        service.send_message(to="prc", precedence="routine", subject=f"b{i}", text="x").id
        for i in range(BACKLOG)
    ]
    prc.start()
    us.start()

    def some_delivered() -> bool:
        delivered = sum(1 for r in us.rows() if r.direction == "out" and r.state == "delivered")
        return delivered >= 100

    wait_until(some_delivered, timeout=60, interval=0.05, what="part of the backlog delivered")
    us.kill()  # mid-drain: pushes in flight, receipts maybe unstored
    delivered_before = {r.id for r in us.rows() if r.state == "delivered"}
    assert 0 < len(delivered_before & set(sent)) < BACKLOG, "the kill did not land mid-backlog"
    us.start()
    wait_until(lambda: us.status()["outbox"] == 0, timeout=120, interval=0.5, what="drain")

    received = Counter(r.id for r in prc.rows() if r.direction == "in" and r.kind == "message")
    assert set(received) == set(sent)
    assert max(received.values()) == 1
    seqs = sorted(r.seq for r in prc.rows() if r.direction == "in" and r.kind == "message")
    assert seqs == list(range(1, BACKLOG + 1))
    out = {r.id: r for r in us.rows() if r.direction == "out"}
    assert all(out[i].state == "delivered" and out[i].receipt_id for i in sent)
