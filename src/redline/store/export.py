"""What an evidence bundle's export reads: the statements of each log with
their leaves, in log order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, and_, select

from redline.store.schema import log_leaves, statements

__all__ = ["LoggedStatement", "own_logged", "peer_logged"]


@dataclass(frozen=True, slots=True)
class LoggedStatement:
    """A stored statement with its place in a log: ``leaf_index`` and the leaf
    ``record`` are None for a received statement not yet found in its
    sender's log."""

    id: str
    wire: bytes
    time: str
    leaf_index: int | None
    record: bytes | None


def own_logged(conn: Connection, peers: Sequence[str]) -> list[LoggedStatement]:
    """This node's statements to any of ``peers``, with their leaves, in log order."""
    rows = conn.execute(
        select(
            statements.c.id,
            statements.c.wire,
            statements.c.time,
            statements.c.leaf_index,
            log_leaves.c.record,
        )
        .join(log_leaves, log_leaves.c.statement_id == statements.c.id)
        .where(and_(statements.c.direction == "out", statements.c.peer.in_(list(peers))))
        .order_by(statements.c.leaf_index)
    )
    return [
        LoggedStatement(row.id, bytes(row.wire), row.time, int(row.leaf_index), bytes(row.record))
        for row in rows
    ]


def peer_logged(conn: Connection, party: str) -> list[LoggedStatement]:
    """The statements received from ``party``, with where they were found in its
    log, by stream and sequence number."""
    rows = conn.execute(
        select(
            statements.c.id,
            statements.c.wire,
            statements.c.time,
            statements.c.leaf_index,
            statements.c.leaf_record,
        )
        .where(and_(statements.c.direction == "in", statements.c.peer == party))
        .order_by(statements.c.stream, statements.c.seq)
    ).all()
    return [
        LoggedStatement(
            row.id,
            bytes(row.wire),
            row.time,
            None if row.leaf_index is None else int(row.leaf_index),
            None if row.leaf_record is None else bytes(row.leaf_record),
        )
        for row in rows
    ]
