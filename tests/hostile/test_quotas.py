"""Per-peer quotas: the buckets, the 429 they answer, and a sender that honours it.

One pinned peer pushed 24 MB/s of valid statements (87 GB an hour) and nothing
stopped it. Each pinned peer now has a statements bucket and a bytes bucket
(link/quota.py); over either, a request is refused whole with 429 and
``Retry-After``, and the delivery worker waits that long and sends the same
batch again. Here in memory with a test clock (no sockets, nothing sleeps);
tests/hostile/test_quota_floods.py does the same against real node processes.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import select

from redline.core.errors import ConfigError
from redline.core.statement import Statement
from redline.link.checkpointer import CheckpointWorker
from redline.link.quota import REQUEST_BYTES, PeerQuotas, QuotaExceeded, QuotaLimits, quota_response
from redline.link.transport import PeerClient, PeerThrottled, _rejected
from redline.link.wire import encode_batch
from redline.link.worker import MAX_THROTTLE_SECONDS, DeliveryWorker
from redline.node import NodeConfig, load_node
from redline.service.node import UNREACHABLE
from redline.store.schema import alarms, statements
from support.pair import MemoryPair


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def quotas(
    *, rate: float = 10, burst: int = 20, per_day: int = 2**30
) -> tuple[PeerQuotas, FakeMonotonic]:
    clock = FakeMonotonic()
    limits = QuotaLimits(statements_per_second=rate, burst_statements=burst, bytes_per_day=per_day)
    return PeerQuotas(limits, clock=clock), clock


# -- the buckets ---------------------------------------------------------------------


def test_a_burst_passes_then_the_next_push_waits_for_its_tokens() -> None:
    quota, clock = quotas(rate=10, burst=20)
    quota.admit_push("jp", statements=20, body_bytes=1000)
    with pytest.raises(QuotaExceeded) as refused:
        quota.admit_push("jp", statements=15, body_bytes=1000)
    assert refused.value.status == 429
    assert refused.value.field == "peer_statements_per_second"
    assert refused.value.retry_after == 2  # 15 tokens at 10 a second: 1.5 s, rounded up
    assert (refused.value.max_statements, refused.value.max_bytes) == (20, 2**30 - REQUEST_BYTES)
    # The refusal took nothing: after 1.4 s, 14 tokens are held, not enough...
    clock.now += 1.4
    with pytest.raises(QuotaExceeded) as again:
        quota.admit_push("jp", statements=15, body_bytes=1000)
    assert again.value.retry_after == 1
    # ...and after the Retry-After first given, the same push passes.
    clock.now += 0.6
    quota.admit_push("jp", statements=15, body_bytes=1000)


def test_a_push_over_the_burst_is_told_the_most_one_push_may_carry() -> None:
    quota, _clock = quotas(rate=10, burst=20)
    with pytest.raises(QuotaExceeded) as refused:
        quota.admit_push("jp", statements=21, body_bytes=1000)
    assert refused.value.field == "peer_statements_per_second"
    assert refused.value.max_statements == 20
    assert refused.value.retry_after == 1  # a full burst is held: a push of 20 fits at once
    quota.admit_push("jp", statements=20, body_bytes=1000)


def test_a_peer_over_its_bytes_is_refused_naming_the_bytes_quota() -> None:
    day = 4 * 1024 * 1024
    quota, clock = quotas(rate=1000, burst=500, per_day=day)
    body = 1024 * 1024 - REQUEST_BYTES  # each push costs exactly 1 MiB
    for _ in range(4):
        quota.admit_push("jp", statements=10, body_bytes=body)
    with pytest.raises(QuotaExceeded) as refused:
        quota.admit_push("jp", statements=10, body_bytes=body)
    assert refused.value.field == "peer_bytes_per_day"
    # 1 MiB at 4 MiB a day: a quarter of a day.
    assert refused.value.retry_after == 86400 // 4
    clock.now += 86400 // 4
    quota.admit_push("jp", statements=10, body_bytes=body)
    # A push larger than a whole day's budget is never admitted; it is told the most.
    with pytest.raises(QuotaExceeded) as too_big:
        quota.admit_push("jp", statements=1, body_bytes=day)
    assert too_big.value.field == "peer_bytes_per_day"
    assert too_big.value.max_bytes == day - REQUEST_BYTES


def test_answers_put_a_peer_in_debt_and_a_peer_in_debt_is_refused() -> None:
    day = 2 * 1024 * 1024
    quota, clock = quotas(per_day=day)
    quota.admit_request("jp")
    quota.charge_answer("jp", day)  # one huge pull answer: the budget is overdrawn
    with pytest.raises(QuotaExceeded) as refused:
        quota.admit_request("jp")
    assert refused.value.field == "peer_bytes_per_day"
    with pytest.raises(QuotaExceeded):
        quota.admit_push("jp", statements=1, body_bytes=100)
    clock.now += refused.value.retry_after
    quota.admit_request("jp")


def test_each_peer_has_its_own_buckets() -> None:
    quota, _clock = quotas(rate=1, burst=5)
    quota.admit_push("jp", statements=5, body_bytes=10)
    for _ in range(100):
        with pytest.raises(QuotaExceeded):
            quota.admit_push("jp", statements=1, body_bytes=10)
    quota.admit_push("us", statements=5, body_bytes=10)  # the flood cost the honest peer nothing
    # One small state per peer seen, nothing per request.
    assert sorted(quota._peers) == ["jp", "us"]


def test_limits_that_are_not_positive_and_finite_are_refused() -> None:
    for bad in (0, -1, math.inf, math.nan):
        with pytest.raises(ValueError, match="statements_per_second"):
            QuotaLimits(statements_per_second=bad, burst_statements=1, bytes_per_day=1)


# -- the answer on the wire, read by the sender ----------------------------------------


def test_the_429_carries_retry_after_and_the_sender_reads_it() -> None:
    quota, _clock = quotas(rate=10, burst=20)
    quota.admit_push("jp", statements=20, body_bytes=10)
    with pytest.raises(QuotaExceeded) as refused:
        quota.admit_push("jp", statements=20, body_bytes=10)
    response = quota_response(refused.value)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "2"
    assert response.media_type == "application/problem+json"
    read = _rejected(429, bytes(response.body), retry_after=response.headers["retry-after"])
    assert isinstance(read, PeerThrottled)
    assert (read.peer_status, read.peer_code) == (429, "quota-exceeded")
    assert (read.retry_after, read.max_statements) == (2, 20)
    assert "peer_statements_per_second" in str(read)


@pytest.mark.parametrize(
    ("header", "expected"), [(None, 1), ("", 1), ("0", 1), ("abc", 1), ("-5", 1), ("7", 7)]
)
def test_a_retry_after_that_cannot_be_read_counts_as_one_second(
    header: str | None, expected: int
) -> None:
    read = _rejected(429, b"not json", retry_after=header)
    assert isinstance(read, PeerThrottled)
    assert read.retry_after == expected
    assert read.max_statements is None


# -- the worker honours it -----------------------------------------------------------------


class QuotaLink:
    """A PeerClient stand-in carrying pushes to ``pair``'s PRC node through
    the PRC node's quotas, answering over quota as the link does (the 429's
    body and Retry-After, read by the transport's own code)."""

    def __init__(self, pair: MemoryPair, quota: PeerQuotas) -> None:
        self.pair = pair
        self.quota = quota
        self.admitted: list[int] = []
        self.refused = 0

    def push(self, wires: list[bytes]) -> list[Statement]:
        try:
            self.quota.admit_push("us", statements=len(wires), body_bytes=len(encode_batch(wires)))
        except QuotaExceeded as exc:
            self.refused += 1
            answer = quota_response(exc)
            raise _rejected(
                429, bytes(answer.body), retry_after=answer.headers["retry-after"]
            ) from exc
        self.admitted.append(len(wires))
        result = self.pair.prc.service.receive("us", [Statement.from_wire(w) for w in wires])
        return [Statement.from_wire(w) for w in result.receipts]

    def pull(self, after: int, limit: int) -> list[Statement]:
        wires = self.pair.prc.service.since("us", after, limit)
        return [Statement.from_wire(w) for w in wires]

    def close(self) -> None:
        pass


class Refusing:
    """A peer that answers every exchange 429 with the given Retry-After."""

    def __init__(self, retry_after: str) -> None:
        self.retry_after = retry_after

    def push(self, wires: list[bytes]) -> list[Statement]:
        raise _rejected(429, b"{}", retry_after=self.retry_after)

    def pull(self, after: int, limit: int) -> list[Statement]:
        raise _rejected(429, b"{}", retry_after=self.retry_after)

    def close(self) -> None:
        pass


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[MemoryPair]:
    made = MemoryPair(tmp_path)
    # Alarm at the first failure: a throttle that counted as one would show at once.
    made.us.service.unreachable_after = timedelta(0)
    try:
        yield made
    finally:
        made.close()


def worker(pair: MemoryPair, link: Any, *, base: float = 0.05, cap: float = 0.5) -> DeliveryWorker:
    return DeliveryWorker(
        service=pair.us.service,
        peer="prc",
        client=cast(PeerClient, link),
        retry_base=base,
        retry_cap=cap,
        pull_interval=3600,
    )


def test_an_honest_sender_over_a_tiny_quota_delivers_everything_exactly_once(
    pair: MemoryPair,
) -> None:
    count = 300
    sent = [pair.us.service.link_test(to="prc").id for _ in range(count)]
    # The PRC node's quota for US: 50 a second, 20 at once, on the pair's clock.
    quota = PeerQuotas(
        QuotaLimits(statements_per_second=50, burst_statements=20, bytes_per_day=2**30),
        clock=lambda: pair.clock().timestamp(),
    )
    link = QuotaLink(pair, quota)
    w = worker(pair, link)
    seen_throttled = []
    for _ in range(1000):
        if not pair.us.service.due("prc", 1):
            break
        wait = w.step()
        [health] = pair.us.service.link_health("prc")
        if w.throttled_until is not None:
            seen_throttled.append(health)
            # Not a failure: no attempt counted, no error recorded in the store.
            assert health["state"] == "throttled"
            assert health["attempts"] == 0 and health["failing_since"] is None
            assert "peer_statements_per_second" in health["last_error"]
            # The worker waits the peer's Retry-After (whole seconds), not its 0.5 s cap.
            assert wait >= 1
        pair.clock.advance(seconds=wait + 0.001)
    assert not pair.us.service.due("prc", 1), "the outbox did not drain"
    assert link.refused > 0 and seen_throttled
    # The first batch (all 300) was refused; every later push fitted the burst.
    assert w.push_limit == 20 and max(link.admitted) == 20 and sum(link.admitted) == count
    with pair.prc.store.read() as conn:
        rows = conn.execute(
            select(statements.c.id, statements.c.seq).where(
                statements.c.direction == "in", statements.c.kind == "heartbeat"
            )
        ).all()
    assert Counter(r.id for r in rows) == Counter(sent)  # none lost, none twice
    assert sorted(r.seq for r in rows) == list(range(1, count + 1))
    with pair.us.store.read() as conn:
        assert list(conn.execute(select(alarms).where(alarms.c.kind == UNREACHABLE))) == []
    [health] = pair.us.service.link_health("prc")
    assert health["state"] == "up" and health["queued"] == 0


def test_the_wait_is_never_less_than_the_backoff_nor_more_than_the_cap(
    pair: MemoryPair,
) -> None:
    pair.us.service.link_test(to="prc")
    # A peer saying "1 s" to a worker whose own backoff starts at 4 s: the backoff holds.
    slow = worker(pair, Refusing("1"), base=4, cap=8)
    assert 2 <= slow.step() <= 4  # the first backoff, jittered between half and all of 4 s
    # A peer saying "come back in a year" is asked again after MAX_THROTTLE_SECONDS.
    parked = worker(pair, Refusing(str(365 * 86400)))
    assert parked.step() == MAX_THROTTLE_SECONDS
    [health] = pair.us.service.link_health("prc")
    assert health["state"] == "throttled" and health["attempts"] == 0
    with pair.us.store.read() as conn:
        assert list(conn.execute(select(alarms).where(alarms.c.kind == UNREACHABLE))) == []


# -- the settings ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("peer_statements_per_second", 0),
        ("peer_statements_per_second", -3.5),
        ("peer_statements_per_second", math.nan),
        ("peer_statements_per_second", math.inf),
        ("peer_burst_statements", 0),
        ("peer_burst_statements", -1),
        ("peer_bytes_per_day", 0),
        ("peer_bytes_per_day", 1000),  # under the 1 MiB floor
        ("peer_burst_statements", 2.5),  # not an integer
    ],
)
def test_a_bad_quota_setting_is_refused_naming_it(name: str, value: object) -> None:
    with pytest.raises(ConfigError) as refused:
        NodeConfig.from_toml({"party": "p", "name": "n", name: value})
    assert refused.value.field == name


def test_a_node_directory_with_a_bad_quota_does_not_load(tmp_path: Path) -> None:
    (tmp_path / "redline.toml").write_text('party = "p"\nname = "n"\npeer_burst_statements = 0\n')
    with pytest.raises(ConfigError) as refused:
        load_node(tmp_path)
    assert refused.value.field == "peer_burst_statements"
    assert "peer_burst_statements: must be at least 1" in str(refused.value)


class ThrottlingWitness:
    """A witness that answers every add-checkpoint 429, Retry-After 60."""

    def __init__(self) -> None:
        self.asked = 0

    def add_checkpoint(self, body: bytes) -> bytes:
        self.asked += 1
        raise _rejected(429, b"{}", retry_after="60")


def test_the_checkpoint_worker_does_not_ask_a_throttling_witness_before_retry_after(
    pair: MemoryPair,
) -> None:
    pair.us.service.link_test(to="prc")  # a leaf, so a checkpoint is due
    witness = ThrottlingWitness()
    checkpoints = CheckpointWorker(
        record=pair.us.record,
        clients=cast(dict[str, PeerClient], {"prc": witness}),
        every=1,
        interval=0,
    )
    checkpoints.run_once()
    assert witness.asked == 1
    assert "429" in checkpoints.errors["prc"]
    for _ in range(5):  # ticks within the minute it asked for
        checkpoints.run_once()
    assert witness.asked == 1
