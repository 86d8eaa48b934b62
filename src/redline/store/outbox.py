"""The outbox: this node's statements waiting for a peer's receipt."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, func, insert, select, update

from redline.core.statement import Statement
from redline.store.schema import outbox, statements

__all__ = [
    "due_outbox",
    "enqueue",
    "mark_delivered",
    "note_delivery_failure",
    "outbox_count",
]

# Statements on the hot path are built once; SQLAlchemy caches their compiled form.
_IDS: Any = bindparam("b_ids", expanding=True)
_DUE = (
    select(statements.c.wire)
    .select_from(outbox.join(statements, outbox.c.statement_id == statements.c.id))
    .where(outbox.c.peer == bindparam("b_peer"))
    .order_by(outbox.c.seq)
    .limit(bindparam("b_limit"))
)
_MARK_DELIVERED = (
    update(statements)
    .where(and_(statements.c.id.in_(_IDS), statements.c.state == "queued"))
    .values(state="delivered", receipt_id=bindparam("b_receipt"), delivered_at=bindparam("b_now"))
)
_UNQUEUE = delete(outbox).where(outbox.c.statement_id.in_(_IDS))


def enqueue(conn: Connection, statement: Statement, now: str) -> None:
    """Put a stored statement in the outbox."""
    conn.execute(
        insert(outbox).values(
            statement_id=statement.id,
            peer=statement.to,
            seq=statement.seq,
            attempts=0,
            next_attempt_at=now,
            last_error=None,
        )
    )


def due_outbox(conn: Connection, peer: str, limit: int) -> list[bytes]:
    """The wire bytes of the oldest queued statements for ``peer``, in seq order."""
    rows = conn.execute(_DUE, {"b_peer": peer, "b_limit": limit})
    return [bytes(row.wire) for row in rows]


def outbox_count(conn: Connection, peer: str | None = None) -> int:
    """How many statements wait for a receipt (for one peer or all)."""
    query = select(func.count()).select_from(outbox)
    if peer is not None:
        query = query.where(outbox.c.peer == peer)
    return int(conn.execute(query).scalar_one())


def note_delivery_failure(conn: Connection, peer: str, error: str, next_at: str) -> None:
    """Record a failed attempt on every queued statement for ``peer``."""
    conn.execute(
        update(outbox)
        .where(outbox.c.peer == peer)
        .values(attempts=outbox.c.attempts + 1, last_error=error[:500], next_attempt_at=next_at)
    )


def mark_delivered(conn: Connection, ids: Sequence[str], receipt_id: str, now: str) -> None:
    """Mark statements delivered under ``receipt_id`` and drop them from the outbox."""
    if not ids:
        return
    conn.execute(_MARK_DELIVERED, {"b_ids": list(ids), "b_receipt": receipt_id, "b_now": now})
    conn.execute(_UNQUEUE, {"b_ids": list(ids)})
