"""Messages and their acknowledgement deadlines, as both nodes see them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.pair import MemoryPair


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[MemoryPair]:
    made = MemoryPair(tmp_path)
    yield made
    made.close()


def _by_subject(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["subject"]: row for row in rows}


def test_acknowledgement_deadlines_on_both_sides(pair: MemoryPair) -> None:
    send = pair.us.service.send_message
    flash = send(to="prc", precedence="flash", subject="flash", text="")
    send(to="prc", precedence="routine", subject="routine", text="")
    pair.deliver()
    for node, direction in ((pair.us, "out"), (pair.prc, "in")):
        rows = _by_subject(node.service.messages())
        assert {r["direction"] for r in rows.values()} == {direction}
        assert rows["flash"]["ack_state"] == rows["routine"]["ack_state"] == "sent"
        assert rows["flash"]["ack_deadline"] == "2026-11-22T08:10:00.000000Z"  # 10 minutes
        assert rows["routine"]["ack_deadline"] == "2026-11-22T14:00:00.000000Z"  # 6 hours

    pair.clock.advance(minutes=11)
    for node in (pair.us, pair.prc):
        rows = _by_subject(node.service.messages())
        assert (rows["flash"]["ack_state"], rows["routine"]["ack_state"]) == ("overdue", "sent")

    ack = pair.prc.service.acknowledge(flash.id)
    pair.deliver()
    for node in (pair.us, pair.prc):
        rows = _by_subject(node.service.messages())
        assert rows["flash"]["ack_state"] == "acknowledged"  # late, but acknowledged
        assert rows["flash"]["late"] is True
        assert rows["flash"]["ack_id"] == ack.id
        assert rows["flash"]["acknowledged_at"] == ack.time
        assert [r["subject"] for r in node.service.messages(pending=True)] == ["routine"]


def test_an_ack_dated_before_its_message_by_clock_skew_still_answers_it(
    pair: MemoryPair,
) -> None:
    from datetime import timedelta

    from support.pair import TestClock

    pair.us.service.clock = TestClock(pair.clock.now + timedelta(seconds=60))  # us runs ahead
    flash = pair.us.service.send_message(to="prc", precedence="flash", subject="s", text="")
    pair.deliver()
    pair.clock.advance(seconds=10)
    ack = pair.prc.service.acknowledge(flash.id[:8])
    assert ack.time < flash.time  # the PRC's clock says it read it before it was sent
    pair.deliver()
    for node in (pair.prc, pair.us):
        [row] = node.service.messages()
        assert (row["ack_id"], row["ack_state"]) == (ack.id, "acknowledged")


def test_messages_view_accepts_an_id_in_capitals(pair: MemoryPair) -> None:
    flash = pair.us.service.send_message(to="prc", precedence="flash", subject="s", text="")
    pair.deliver()
    ack = pair.prc.service.acknowledge(flash.id[:12].upper())
    assert ack.body == {"message": flash.id}


def test_the_board_shows_unacknowledged_messages_with_the_time_left(pair: MemoryPair) -> None:
    from redline.service.hotline import HotlineService

    flash = pair.us.service.send_message(to="prc", precedence="flash", subject="s", text="")
    pair.deliver()
    pair.clock.advance(minutes=4)
    boards = {n.party: HotlineService(n.service).board() for n in (pair.us, pair.prc)}
    for party, direction in (("us", "out"), ("prc", "in")):
        [row] = boards[party]["unacknowledged_messages"]
        assert (row["id"], row["direction"], row["seconds_left"]) == (flash.id, direction, 360)
    pair.clock.advance(minutes=10)
    [row] = HotlineService(pair.prc.service).board()["unacknowledged_messages"]
    assert (row["ack_state"], row["seconds_left"]) == ("overdue", -240)
    pair.prc.service.acknowledge(flash.id)
    pair.deliver()
    for node in (pair.us, pair.prc):
        assert HotlineService(node.service).board()["unacknowledged_messages"] == []
