"""A peer that repeats a fault costs one alarm row, not one per repeat.

A hostile peer sent 300 equivocating checkpoints and made 300 alarm rows; a
log that left out a statement was re-alarmed on every retry of its checkpoint
(every 0.5 s, without end). Now a condition has one open alarm, whose count
and last-seen time are bumped, with the first evidence kept.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from redline.core import merkle
from redline.core.checkpoint import Checkpoint, sign_checkpoint
from redline.core.errors import InvalidProof, PeerRejected
from redline.core.statement import format_time
from redline.core.witness_wire import format_add_checkpoint
from redline.link.transport import PeerClient
from redline.store.alarms import open_alarms, raise_alarm
from redline.store.repo import leaves_between, log_size
from redline.store.schema import alarms, checkpoints
from support.nodes import NodeProcess, wait_until
from support.pair import MemoryPair

FLOOD = 300


@pytest.fixture
def memory_pair(tmp_path: Path) -> Iterator[MemoryPair]:
    joined = MemoryPair(tmp_path)
    yield joined
    joined.close()


def _alarm_rows(store_owner: NodeProcess | MemoryPair) -> list[dict[str, object]]:
    store = store_owner.store if isinstance(store_owner, NodeProcess) else store_owner.prc.store
    with store.read() as conn:
        return [dict(row._mapping) for row in conn.execute(select(alarms))]


def _kept_checkpoints(store_owner: NodeProcess | MemoryPair, party: str) -> list[str]:
    store = store_owner.store if isinstance(store_owner, NodeProcess) else store_owner.prc.store
    with store.read() as conn:
        rows = conn.execute(
            select(checkpoints.c.note)
            .where(checkpoints.c.party == party)
            .order_by(checkpoints.c.id)
        )
        return [row.note for row in rows]


def test_a_flood_of_equivocating_checkpoints_is_one_alarm_and_honest_traffic_flows(
    make_node: Callable[..., NodeProcess],
) -> None:
    us = make_node("us")
    prc = make_node("prc")
    jp = make_node("jp")  # hostile: pinned by the PRC node, never started; the test speaks for it
    us.pin(prc)
    prc.pin(us)
    prc.pin(jp)
    prc.start()
    us.start()
    hostile = PeerClient(
        url=prc.link_url,
        cert_file=jp.dir.tls_cert_file,
        key_file=jp.dir.tls_key_file,
        peer_cert_pem=prc.dir.identity().tls_cert_pem,
        deadline=30,
    )
    signer = jp.dir.log_signer()

    def view(root: bytes) -> bytes:
        note = sign_checkpoint(Checkpoint(signer.name, 0, root), signer)
        return format_add_checkpoint(0, [], note)

    try:
        # The PRC witnesses the (empty) JP log once...
        hostile.add_checkpoint(view(merkle.EMPTY_ROOT))
        # ...and is then shown FLOOD other roots for the same size, each signed by the JP log key.
        shown = [view(index.to_bytes(32, "big")) for index in range(1, FLOOD + 1)]
        for body in shown:
            with pytest.raises(PeerRejected) as refused:
                hostile.add_checkpoint(body)
            assert refused.value.peer_status == 409
    finally:
        hostile.close()

    rows = _alarm_rows(prc)
    assert len(rows) == 1
    alarm = rows[0]
    assert (alarm["kind"], alarm["peer"], alarm["count"]) == ("equivocation", "jp", FLOOD)
    assert alarm["condition"] == "two-roots size=0"
    assert str(alarm["raised_at"]) <= str(alarm["last_seen"])
    # The first contradicting view is the evidence, kept once: in the alarm and
    # among the stored checkpoints (beside the one the PRC cosigned).
    first_shown = shown[0].split(b"\n", 1)[1].lstrip(b"\n").decode()
    assert json.loads(str(alarm["evidence"]))["shown"] == first_shown
    assert len(_kept_checkpoints(prc, "jp")) == 2

    # The operator sees one alarm with its count, in the API and the CLI.
    with prc.api() as api:
        status = api.get("/api/v1/status").json()
    [seen] = status["alarms"]
    assert seen["count"] == FLOOD and seen["last_seen"] and seen["raised_at"]
    printed = subprocess.run(
        [sys.executable, "-m", "redline", "status", str(prc.dir.path)],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    alarm_lines = [line for line in printed.splitlines() if line.startswith("ALARM")]
    assert len(alarm_lines) == 1 and f"seen {FLOOD}x" in alarm_lines[0]

    # The honest peer is still served: its message arrives at the PRC node.
    with us.api() as api:
        sent = api.post(
            "/api/v1/messages",
            json={"to": "prc", "precedence": "flash", "subject": "still there?", "text": "x"},
        )
    assert sent.status_code == 201, sent.text
    wait_until(
        lambda: any(row.id == sent.json()["id"] for row in prc.rows()),
        timeout=30,
        what="the honest peer's message at the PRC node",
    )


def _left_out(pair: MemoryPair) -> tuple[list[bytes], bytes]:
    """A US log that lacks a message it sent the PRC, though it runs past it."""
    pair.us.service.send_message(to="prc", precedence="routine", subject="before", text="x")
    pair.us.service.send_message(to="prc", precedence="flash", subject="later denied", text="x")
    pair.deliver()
    with pair.prc.store.read() as conn:
        from redline.store.schema import statements

        denied = (
            conn.execute(
                select(statements.c.id)
                .where(statements.c.direction == "in")
                .order_by(statements.c.seq)
            )
            .all()[-1]
            .id
        )
    pair.clock.advance(minutes=5)
    pair.us.service.send_message(to="prc", precedence="routine", subject="after", text="y")
    pair.deliver()
    with pair.us.store.read() as conn:
        honest = leaves_between(conn, 0, log_size(conn))
    forged = [record for record in honest if denied.encode() not in record]
    assert len(forged) == len(honest) - 1
    return forged, denied.encode()


def _forged_request(pair: MemoryPair, records: list[bytes]) -> bytes:
    store = merkle.MemoryHashStore()
    for record in records:
        store.append(record)
    note = sign_checkpoint(
        Checkpoint("redline.us/log", len(records), store.tree_hash()), pair.us.dir.log_signer()
    )
    return format_add_checkpoint(0, [], note)


def test_a_left_out_statement_rechecked_on_every_retry_bumps_one_alarm(
    memory_pair: MemoryPair,
) -> None:
    pair = memory_pair
    forged, denied = _left_out(pair)
    served = list(forged)
    pair.prc.record.fetch_leaves = lambda peer, start, end: served[start:end]
    first = format_time(pair.clock())
    request = _forged_request(pair, forged)
    # The US node retries the same checkpoint, then a larger one that still
    # leaves the statement out, as a log that keeps growing would.
    retries = 20
    for attempt in range(retries):
        body = request
        if attempt == retries - 1:
            served.append(forged[-1])
            body = _forged_request(pair, served)
        with pytest.raises(InvalidProof, match="missing from us's log"):
            pair.prc.record.add_checkpoint("us", body)
        pair.clock.advance(seconds=0.5)
    rows = _alarm_rows(pair)
    assert len(rows) == 1
    alarm = rows[0]
    assert alarm["kind"] == "equivocation" and alarm["count"] == retries
    assert alarm["condition"] == f"left-out statement={denied.decode()}"
    assert alarm["raised_at"] == first
    # Seen last at the final retry (the clock moved 0.5 s after it).
    assert alarm["last_seen"] == format_time(pair.clock() - timedelta(seconds=0.5))
    # One forged checkpoint is kept as evidence, not one per retry.
    assert len(_kept_checkpoints(pair, "us")) == 1
    assert pair.prc.service.status()["alarms"][0]["count"] == retries


def test_conditions_are_told_apart_and_a_cleared_alarm_opens_anew(
    memory_pair: MemoryPair,
) -> None:
    store = memory_pair.prc.store
    with store.write() as conn:
        seen = [
            raise_alarm(
                conn,
                kind="equivocation",
                peer="us",
                condition=condition,
                message=f"message {index}",
                now=f"2026-11-22T08:00:0{index}.000000Z",
                evidence=f"evidence {index}",
            )
            for index, condition in enumerate(["size=1", "size=2", "size=1", "size=1"])
        ]
        # Another peer, or another kind, with the same condition is another alarm.
        raise_alarm(conn, kind="equivocation", peer="jp", condition="size=1", message="m", now="t")
        raise_alarm(conn, kind="undelivered", peer="us", condition="size=1", message="m", now="t")
    assert seen == [1, 1, 2, 3]
    with store.read() as conn:
        rows = {(a["kind"], a["peer"], a["condition"]): a for a in open_alarms(conn)}
    assert len(rows) == 4
    first = rows[("equivocation", "us", "size=1")]
    assert (first["count"], first["message"], first["evidence"]) == (3, "message 0", "evidence 0")
    assert (first["raised_at"], first["last_seen"]) == (
        "2026-11-22T08:00:00.000000Z",
        "2026-11-22T08:00:03.000000Z",
    )
    with store.write() as conn:
        conn.execute(alarms.update().where(alarms.c.id == first["id"]).values(cleared_at="t"))
        again = raise_alarm(
            conn, kind="equivocation", peer="us", condition="size=1", message="new", now="t2"
        )
    assert again == 1
