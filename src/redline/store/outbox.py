"""The outbox: this node's statements waiting for a peer's receipt, and the
state of the link they wait on (the peer's row: last exchange, failures).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, func, insert, select, tuple_, update

from redline.core.statement import Statement
from redline.store.schema import outbox, peers, statements

__all__ = [
    "MAX_ERROR",
    "LinkRow",
    "due_outbox",
    "enqueue",
    "link_rows",
    "mark_delivered",
    "note_delivery_failure",
    "note_exchange",
    "outbox_count",
    "outbox_page",
    "retry_at",
    "safe_error",
]

#: The longest error text stored for a failed attempt (longer ones are cut).
MAX_ERROR = 500
# C0 and C1 controls, DEL, bidirectional overrides and isolates, line separators:
# an error can quote what a peer answered, and operators read it in a terminal.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]+")

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


def safe_error(error: str) -> str:
    """``error`` as stored: each run of control characters (and bidirectional
    overrides, line separators) made one space, trimmed, at most
    :data:`MAX_ERROR` characters. Raises nothing."""
    cleaned = _UNSAFE.sub(" ", error).strip()
    if len(cleaned) > MAX_ERROR:
        cleaned = cleaned[: MAX_ERROR - 1] + "\u2026"
    return cleaned


def note_delivery_failure(
    conn: Connection, peer: str, error: str, *, next_at: str, now: str
) -> str:
    """Record a failed attempt on ``peer``: on every statement queued for it
    (one more attempt, the error, the next attempt time) and on its link (the
    error, the next attempt, failing since ``now`` unless it was already).

    Returns when the link started failing. Raises nothing of its own
    (SQLAlchemy's errors if the write fails).
    """
    text = safe_error(error)
    conn.execute(
        update(outbox)
        .where(outbox.c.peer == peer)
        .values(attempts=outbox.c.attempts + 1, last_error=text, next_attempt_at=next_at)
    )
    conn.execute(
        update(peers)
        .where(peers.c.party == peer)
        .values(
            failing_since=func.coalesce(peers.c.failing_since, now),
            last_error=text,
            next_attempt_at=next_at,
        )
    )
    since = conn.execute(
        select(peers.c.failing_since).where(peers.c.party == peer)
    ).scalar_one_or_none()
    return str(since) if since is not None else now


def note_exchange(conn: Connection, peer: str, now: str, *, clear_failure: bool) -> bool:
    """Record an exchange with ``peer`` that succeeded at ``now``; with
    ``clear_failure``, the link is no longer failing (its error and next
    attempt are cleared too).

    Returns True if that ended a failure (the link was failing). Raises
    nothing of its own.
    """
    was_failing = (
        conn.execute(select(peers.c.failing_since).where(peers.c.party == peer)).scalar()
        is not None
    )
    values: dict[str, Any] = {"last_exchange_at": now}
    if clear_failure:
        values.update(failing_since=None, last_error=None, next_attempt_at=None)
    conn.execute(update(peers).where(peers.c.party == peer).values(**values))
    return clear_failure and was_failing


def retry_at(conn: Connection, peer: str) -> tuple[int, str | None]:
    """When ``peer`` is to be tried again, as a previous run recorded it: the
    attempts of the head of its queue (0 if nothing is queued) and the later of
    its next attempt and the link's (None if neither). Raises nothing."""
    head = conn.execute(
        select(outbox.c.attempts, outbox.c.next_attempt_at)
        .where(outbox.c.peer == peer)
        .order_by(outbox.c.seq)
        .limit(1)
    ).first()
    link = conn.execute(
        select(peers.c.next_attempt_at).where(peers.c.party == peer)
    ).scalar_one_or_none()
    times = [t for t in (head.next_attempt_at if head else None, link) if t is not None]
    return (int(head.attempts) if head else 0), (max(times) if times else None)


@dataclass(frozen=True, slots=True)
class LinkRow:
    """One peer's link and queue, as stored."""

    peer: str
    last_exchange_at: str | None
    failing_since: str | None
    last_error: str | None
    next_attempt_at: str | None
    queued: int
    #: The signed time of the oldest queued statement, and its attempts so far.
    oldest_queued_at: str | None
    attempts: int


def link_rows(conn: Connection, peer: str | None = None) -> list[LinkRow]:
    """Every pinned peer's link and queue (or only ``peer``'s), by party.
    Raises nothing."""
    query = select(
        peers.c.party,
        peers.c.last_exchange_at,
        peers.c.failing_since,
        peers.c.last_error,
        peers.c.next_attempt_at,
    ).order_by(peers.c.party)
    counts_query = select(outbox.c.peer, func.count()).group_by(outbox.c.peer)
    if peer is not None:
        query = query.where(peers.c.party == peer)
        counts_query = counts_query.where(outbox.c.peer == peer)
    counts = {str(p): int(n) for p, n in conn.execute(counts_query)}
    out: list[LinkRow] = []
    for row in conn.execute(query).all():
        queued = counts.get(row.party, 0)
        head = None
        if queued:
            # The head by seq is the oldest: statements to a peer are signed in order.
            head = conn.execute(
                select(outbox.c.attempts, statements.c.time)
                .select_from(outbox.join(statements, outbox.c.statement_id == statements.c.id))
                .where(outbox.c.peer == row.party)
                .order_by(outbox.c.seq)
                .limit(1)
            ).first()
        out.append(
            LinkRow(
                peer=row.party,
                last_exchange_at=row.last_exchange_at,
                failing_since=row.failing_since,
                last_error=row.last_error,
                next_attempt_at=row.next_attempt_at,
                queued=queued,
                oldest_queued_at=head.time if head is not None else None,
                attempts=int(head.attempts) if head is not None else 0,
            )
        )
    return out


def mark_delivered(conn: Connection, ids: Sequence[str], receipt_id: str, now: str) -> None:
    """Mark statements delivered under ``receipt_id`` and drop them from the outbox."""
    if not ids:
        return
    conn.execute(_MARK_DELIVERED, {"b_ids": list(ids), "b_receipt": receipt_id, "b_now": now})
    conn.execute(_UNQUEUE, {"b_ids": list(ids)})


def outbox_page(
    conn: Connection, *, after: tuple[str, int] | None, limit: int
) -> list[dict[str, Any]]:
    """Up to ``limit`` queued statements by peer, then seq (the order each peer's
    queue is delivered in), after the row whose ``(peer, seq)`` is ``after``: a
    range of ``ix_outbox_peer_seq``. Each has ``id``, ``peer``, ``seq``, ``kind``,
    ``time`` (signed), ``attempts``, ``next_attempt_at`` and ``last_error``.
    Raises nothing."""
    query = (
        select(
            outbox.c.statement_id.label("id"),
            outbox.c.peer,
            outbox.c.seq,
            statements.c.kind,
            statements.c.time,
            outbox.c.attempts,
            outbox.c.next_attempt_at,
            outbox.c.last_error,
        )
        .select_from(outbox.join(statements, outbox.c.statement_id == statements.c.id))
        .order_by(outbox.c.peer, outbox.c.seq)
    )
    if after is not None:
        query = query.where(tuple_(outbox.c.peer, outbox.c.seq) > tuple_(*after))
    return [dict(row._mapping) for row in conn.execute(query.limit(limit))]
