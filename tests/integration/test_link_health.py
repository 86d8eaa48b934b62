"""The link's health, kept in the store: attempts, errors and the next attempt on
the queued statements, the peer's link state, and one ``unreachable`` alarm.

In memory (tests/support/pair.py) with a test clock: the delivery worker's
``step()`` is driven by hand, so nothing here sleeps or depends on timing.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import select

from redline.core.errors import LinkUnavailable
from redline.core.statement import Statement, parse_time
from redline.link.transport import PeerClient
from redline.link.worker import DeliveryWorker
from redline.service.node import UNREACHABLE
from redline.store.outbox import MAX_ERROR, safe_error
from redline.store.schema import alarms
from support.pair import MemoryPair


class MemoryLink:
    """A PeerClient stand-in carrying pushes and pulls to ``pair``'s PRC node,
    or failing like a peer that is down; it counts what it was asked."""

    def __init__(self, pair: MemoryPair, *, down: bool = False) -> None:
        self.pair = pair
        self.down = down
        self.error = "https://127.0.0.1:1 unreachable: ConnectError('refused')"
        self.pushes = 0
        self.pulls = 0

    def push(self, wires: list[bytes]) -> list[Statement]:
        self.pushes += 1
        if self.down:
            raise LinkUnavailable(self.error)
        batch = [Statement.from_wire(w) for w in wires]
        result = self.pair.prc.service.receive("us", batch)
        return [Statement.from_wire(w) for w in result.receipts]

    def pull(self, after: int, limit: int) -> list[Statement]:
        self.pulls += 1
        if self.down:
            raise LinkUnavailable(self.error)
        wires = self.pair.prc.service.since("us", after, limit)
        return [Statement.from_wire(w) for w in wires]

    def close(self) -> None:
        pass


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[MemoryPair]:
    made = MemoryPair(tmp_path)
    made.us.service.unreachable_after = timedelta(seconds=60)
    try:
        yield made
    finally:
        made.close()


def worker(pair: MemoryPair, link: MemoryLink, *, base: float, cap: float) -> DeliveryWorker:
    """A worker for US -> PRC, not started: the test calls ``step()``."""
    return DeliveryWorker(
        service=pair.us.service,
        peer="prc",
        client=cast(PeerClient, link),
        retry_base=base,
        retry_cap=cap,
        pull_interval=3600,
    )


def wait_out(pair: MemoryPair, seconds: float) -> None:
    """Move the clock past a wait the worker asked for (the clock keeps microseconds)."""
    pair.clock.advance(seconds=seconds + 0.001)


def link(pair: MemoryPair) -> dict[str, Any]:
    [row] = pair.us.service.status()["links"]
    assert row["peer"] == "prc"
    return cast(dict[str, Any], row)


def unreachable_rows(pair: MemoryPair) -> list[Any]:
    with pair.us.store.read() as conn:
        return list(conn.execute(select(alarms).where(alarms.c.kind == UNREACHABLE)))


def send(pair: MemoryPair, subject: str = "Link test") -> Statement:
    return pair.us.service.send_message(to="prc", precedence="flash", subject=subject, text="Hello")


def test_a_down_peer_counts_attempts_then_raises_one_unreachable_alarm(
    pair: MemoryPair,
) -> None:
    sent = send(pair)
    assert link(pair) == {
        "peer": "prc",
        "state": "unknown",
        "last_exchange_at": None,
        "failing_since": None,
        "last_error": None,
        "next_attempt_at": None,
        "queued": 1,
        "oldest_queued_at": sent.time,
        "attempts": 0,
    }
    down = MemoryLink(pair, down=True)
    w = worker(pair, down, base=1, cap=8)
    started = pair.clock()
    attempts = []
    while pair.clock() - started < timedelta(seconds=120):
        wait = w.step()
        assert wait > 0
        now = link(pair)
        attempts.append(now["attempts"])
        assert parse_time(now["next_attempt_at"]) > pair.clock(), "next attempt not ahead"
        assert now["failing_since"] == sent.time
        assert now["last_error"] == down.error
        assert now["oldest_queued_at"] == sent.time
        alarms_now = [a for a in pair.us.service.status()["alarms"] if a["kind"] == UNREACHABLE]
        if pair.clock() - started < timedelta(seconds=60):
            assert now["state"] == "failing"
            assert alarms_now == []
        else:
            assert now["state"] == "unreachable"
            [alarm] = alarms_now
            assert alarm["peer"] == "prc"
            assert f"unreachable since {sent.time}" in alarm["message"]
        wait_out(pair, wait)
    # The failing pull at start counts as an attempt, then each failed push.
    assert attempts == list(range(1, len(attempts) + 1))
    assert len(attempts) > 10
    # Raised once, not once per attempt past the threshold.
    [row] = unreachable_rows(pair)
    assert row.cleared_at is None
    assert getattr(row, "count", 1) == 1
    assert w.last_error == down.error


def test_the_peer_back_delivers_and_clears_the_link_and_the_alarm(pair: MemoryPair) -> None:
    sent = send(pair)
    down = MemoryLink(pair, down=True)
    w = worker(pair, down, base=10, cap=30)
    for _ in range(6):
        wait_out(pair, w.step())
    assert link(pair)["state"] == "unreachable"
    down.down = False
    wait_out(pair, w.step())  # the backoff waited out: pull, then push
    back_at = pair.clock()
    assert w.step() > 0  # nothing left: idle
    health = link(pair)
    assert health["state"] == "up"
    assert parse_time(health["last_exchange_at"]) <= back_at
    assert health["failing_since"] is None
    assert health["last_error"] is None
    assert health["next_attempt_at"] is None
    assert (health["queued"], health["oldest_queued_at"], health["attempts"]) == (0, None, 0)
    [row] = [r for r in pair.us.service.status()["statements"] if r["id"] == sent.id]
    assert row["state"] == "delivered"
    assert [a for a in pair.us.service.status()["alarms"] if a["kind"] == UNREACHABLE] == []
    [alarm] = unreachable_rows(pair)
    assert alarm.cleared_at is not None


def test_a_restarted_sender_waits_for_the_recorded_next_attempt(pair: MemoryPair) -> None:
    send(pair)
    first = worker(pair, MemoryLink(pair, down=True), base=60, cap=600)
    delay = first.step()  # the first failure: 30 to 60 seconds, with jitter
    assert 30 <= delay < 60
    recorded = parse_time(link(pair)["next_attempt_at"])
    assert recorded == pair.clock() + timedelta(seconds=delay)
    # The node restarts with the peer back: a new worker, the same store.
    up = MemoryLink(pair)
    second = worker(pair, up, base=60, cap=600)
    pair.clock.advance(seconds=delay / 2)
    assert second.step() == pytest.approx(delay / 2)
    second.wake()
    second.request_pull()
    assert second.step() == pytest.approx(delay / 2)
    assert (up.pulls, up.pushes) == (0, 0), "the restarted worker contacted the peer early"
    wait_out(pair, delay / 2)
    assert second.step() == 0  # pulled, then pushed: there may be more
    assert (up.pulls, up.pushes) == (1, 1)
    assert link(pair)["state"] == "up"
    assert pair.us.service.retry_at("prc") == (0, None)


def test_the_restarted_backoff_continues_from_the_recorded_attempts(pair: MemoryPair) -> None:
    send(pair)
    first = worker(pair, MemoryLink(pair, down=True), base=1, cap=1000)
    for _ in range(5):
        wait_out(pair, first.step())
    assert link(pair)["attempts"] == 5
    # The node restarts after the fifth backoff; the peer is still down.
    second = worker(pair, MemoryLink(pair, down=True), base=1, cap=1000)
    # The sixth failure: 2**5 seconds, halved at most by the jitter (not 1 second again).
    assert 16 <= second.step() < 32
    assert link(pair)["attempts"] == 6


def test_a_recorded_time_beyond_the_cap_is_waited_for_the_cap_only(pair: MemoryPair) -> None:
    send(pair)
    pair.us.service.delivery_failed("prc", "down", pair.clock() + timedelta(days=1))
    up = MemoryLink(pair)
    w = worker(pair, up, base=1, cap=5)
    assert w.step() == pytest.approx(5)
    pair.clock.advance(seconds=5)
    assert w.step() == 0
    assert (up.pulls, up.pushes) == (1, 1)


def test_a_pull_alone_does_not_end_a_failure_while_pushes_wait(pair: MemoryPair) -> None:
    send(pair)
    pair.us.service.delivery_failed("prc", "refused", pair.clock() + timedelta(seconds=1))
    pair.clock.advance(seconds=61)
    pair.us.service.delivery_failed("prc", "refused", pair.clock() + timedelta(seconds=1))
    assert link(pair)["state"] == "unreachable"
    pair.us.service.exchange_succeeded("prc")  # a pull; the statement still waits
    health = link(pair)
    assert health["state"] == "unreachable"
    assert health["last_exchange_at"] is not None
    pair.deliver()  # the push answered with receipts
    assert link(pair)["state"] == "up"
    assert [a for a in pair.us.service.status()["alarms"] if a["kind"] == UNREACHABLE] == []


def test_a_pull_ends_a_failure_when_nothing_waits(pair: MemoryPair) -> None:
    pair.us.service.delivery_failed("prc", "down", pair.clock() + timedelta(seconds=1))
    assert link(pair)["state"] == "failing"
    pair.us.service.exchange_succeeded("prc")
    assert link(pair)["state"] == "up"


def test_a_new_failure_after_recovery_raises_a_new_alarm(pair: MemoryPair) -> None:
    for _ in range(2):
        send(pair)
        pair.us.service.delivery_failed("prc", "down", pair.clock())
        pair.clock.advance(seconds=61)
        pair.us.service.delivery_failed("prc", "down", pair.clock())
        assert link(pair)["state"] == "unreachable"
        pair.deliver()
        assert link(pair)["state"] == "up"
    assert [r.cleared_at is not None for r in unreachable_rows(pair)] == [True, True]


def test_the_stored_error_is_one_bounded_line() -> None:
    hostile = "refused\r\n\x1b[2JALARM cleared\u202e" + "x" * 2000
    text = safe_error(hostile)
    assert len(text) == MAX_ERROR
    # Each run of controls is one space: ESC goes, the harmless "[2J" after it stays.
    assert text.startswith("refused [2JALARM cleared x")
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in text)
    assert "\u202e" not in text
    assert safe_error("short") == "short"


def test_a_failure_records_the_cleaned_error_on_the_queue_and_the_link(pair: MemoryPair) -> None:
    send(pair)
    hostile = "peer said:\n\x1b[31mOK\x1b[0m " + "y" * 1000
    pair.us.service.delivery_failed("prc", hostile, pair.clock() + timedelta(seconds=3))
    health = link(pair)
    assert health["last_error"] == safe_error(hostile)
    assert "\x1b" not in health["last_error"] and "\n" not in health["last_error"]
    assert len(health["last_error"]) == MAX_ERROR
    assert health["attempts"] == 1
