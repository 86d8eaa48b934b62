"""Two real node processes on loopback: delivery survives SIGKILL, exactly once."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

import pytest

from redline.core.statement import Statement, verify_statement
from support.nodes import NodeProcess, pair, wait_until

pytestmark = pytest.mark.slow

PER_DIRECTION = 500


def _send(node: NodeProcess, to: str, count: int, start: int, sent: list[str]) -> None:
    with node.api() as api:
        for i in range(start, start + count):
            response = api.post(
                "/api/v1/messages",
                json={"to": to, "precedence": "routine", "subject": f"msg {i}", "text": f"#{i}"},
            )
            assert response.status_code == 201, response.text
            sent.append(response.json()["id"])


def _delivered_exactly_once(sender: NodeProcess, receiver: NodeProcess, ids: list[str]) -> None:
    out = {row.id: row for row in sender.rows() if row.direction == "out"}
    received = [row for row in receiver.rows() if row.direction == "in" and row.kind == "message"]
    counts = Counter(row.id for row in received)
    assert set(counts) == set(ids), "the receiver holds other statements than were sent"
    assert max(counts.values()) == 1
    seqs = sorted(row.seq for row in received)
    assert seqs == list(range(1, len(ids) + 1)), "sequence numbers have a gap or a duplicate"
    receiver_key = receiver.dir.identity().public_key()
    receipts = {
        row.id: Statement.from_wire(bytes(row.wire))
        for row in sender.rows()
        if row.direction == "in" and row.kind == "receipt"
    }
    acked: Counter[str] = Counter()
    for receipt in receipts.values():
        verify_statement(receipt, keys={receiver.party: receiver_key})
        acked.update(ack["id"] for ack in receipt.body["ack"])
    for statement_id in ids:
        row = out[statement_id]
        assert row.state == "delivered", f"{statement_id} is {row.state}"
        assert row.receipt_id in receipts, "delivered without a stored receipt"
        assert acked[statement_id] >= 1
    # The receiver acknowledged each statement in exactly one receipt of its own.
    own_receipts = [r for r in receiver.rows() if r.direction == "out" and r.kind == "receipt"]
    own_acked: Counter[str] = Counter()
    for row in own_receipts:
        own_acked.update(a["id"] for a in Statement.from_wire(bytes(row.wire)).body["ack"])
    assert all(own_acked[i] == 1 for i in ids)


def test_thousand_statements_survive_sigkill(make_node: Callable[..., NodeProcess]) -> None:
    us = make_node("us", "US Department of Defense")
    prc = make_node("prc", "PRC Ministry of National Defense")
    pair(us, prc)
    us.start()
    prc.start()

    to_prc: list[str] = []
    to_us: list[str] = []
    half = PER_DIRECTION // 2
    sender = threading.Thread(target=_send, args=(us, "prc", PER_DIRECTION, 0, to_prc))
    sender.start()
    _send(prc, "us", half, 0, to_us)
    # Kill the receiver while the US node is still pushing to it.
    wait_until(lambda: len(to_prc) >= half, timeout=120, what="half the US messages")
    prc.kill()
    sender.join(timeout=300)
    assert not sender.is_alive()
    assert len(to_prc) == PER_DIRECTION
    prc.start()
    _send(prc, "us", PER_DIRECTION - half, half, to_us)

    def drained() -> bool:
        return us.status()["outbox"] == 0 and prc.status()["outbox"] == 0

    wait_until(drained, timeout=180, interval=0.5, what="both outboxes to drain")
    _delivered_exactly_once(us, prc, to_prc)
    _delivered_exactly_once(prc, us, to_us)
