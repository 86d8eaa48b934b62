"""Stored statements, both ways: sequence numbers, rows, receipts, messages."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, insert, select, tuple_, update

from redline.core.statement import MAIN_STREAM, Statement
from redline.store.schema import sequences, statements

__all__ = [
    "existing_ids",
    "in_statement_at",
    "insert_statement",
    "insert_statements",
    "latest_statements",
    "last_in_seq",
    "list_statements",
    "message_to_acknowledge",
    "messages",
    "next_seq",
    "out_since",
    "out_statements_by_id",
    "received_message_ids",
    "set_ack",
    "set_receipt",
    "statement_count",
    "statement_summary",
    "statements_page",
    "wires_by_id",
]

# Statements on the hot path are built once; SQLAlchemy caches their compiled form.
_NEXT_SEQ = (
    update(sequences)
    .where(
        and_(sequences.c.peer == bindparam("b_peer"), sequences.c.stream == bindparam("b_stream"))
    )
    .values(last_seq=sequences.c.last_seq + 1)
    .returning(sequences.c.last_seq)
)
_IDS: Any = bindparam("b_ids", expanding=True)
_OUT_BY_ID = select(statements.c.id, statements.c.seq).where(
    and_(
        statements.c.id.in_(_IDS),
        statements.c.direction == "out",
        statements.c.peer == bindparam("b_peer"),
    )
)
_EXISTING = select(statements.c.id, statements.c.receipt_id).where(statements.c.id.in_(_IDS))
_LAST_IN = select(func.max(statements.c.seq)).where(
    and_(
        statements.c.direction == "in",
        statements.c.peer == bindparam("b_peer"),
        statements.c.stream == bindparam("b_stream"),
    )
)
_SET_RECEIPT = (
    update(statements).where(statements.c.id.in_(_IDS)).values(receipt_id=bindparam("b_receipt"))
)
_WIRES = select(statements.c.wire).where(statements.c.id.in_(_IDS)).order_by(statements.c.id)


def next_seq(conn: Connection, peer: str, stream: str) -> int:
    """Allocate the next sequence number for statements to ``peer`` in ``stream``.

    The row update takes the lock, so concurrent writers on PostgreSQL serialise.
    """
    result = conn.execute(_NEXT_SEQ, {"b_peer": peer, "b_stream": stream}).first()
    if result is not None:
        return int(result[0])
    conn.execute(insert(sequences).values(peer=peer, stream=stream, last_seq=1))
    return 1


def insert_statement(
    conn: Connection,
    statement: Statement,
    *,
    direction: str,
    state: str,
    now: str,
    receipt_id: str | None = None,
    leaf_index: int | None = None,
) -> None:
    """Store one statement row."""
    insert_statements(
        conn,
        [statement],
        direction=direction,
        state=state,
        now=now,
        receipt_id=receipt_id,
        leaf_indexes=None if leaf_index is None else [leaf_index],
    )


def insert_statements(
    conn: Connection,
    batch: Sequence[Statement],
    *,
    direction: str,
    state: str,
    now: str,
    receipt_id: str | None = None,
    leaf_indexes: Sequence[int] | None = None,
) -> None:
    """Store statement rows in one round trip.

    ``leaf_indexes`` gives each statement's index in this node's log, for the
    statements this node signed (see :func:`redline.store.log.append_to_log`).
    """
    if not batch:
        return
    indexes: Sequence[int | None] = leaf_indexes or [None] * len(batch)
    conn.execute(
        insert(statements),
        [
            {
                "id": st.id,
                "direction": direction,
                "peer": st.to if direction == "out" else st.sender,
                "sender": st.sender,
                "recipient": st.to,
                "kind": st.kind,
                "stream": st.stream,
                "seq": st.seq,
                "time": st.time,
                "wire": st.canonical,
                "state": state,
                "receipt_id": receipt_id,
                "stored_at": now,
                "delivered_at": None,
                "leaf_index": index,
            }
            for st, index in zip(batch, indexes, strict=True)
        ],
    )


def out_statements_by_id(conn: Connection, peer: str, ids: Iterable[str]) -> dict[str, int]:
    """Map id -> seq for this node's statements to ``peer`` among ``ids``."""
    id_list = list(ids)
    if not id_list:
        return {}
    rows = conn.execute(_OUT_BY_ID, {"b_ids": id_list, "b_peer": peer})
    return {row.id: int(row.seq) for row in rows}


def existing_ids(conn: Connection, ids: Iterable[str]) -> dict[str, str | None]:
    """Map id -> receipt id for the statements among ``ids`` that are stored."""
    id_list = list(ids)
    if not id_list:
        return {}
    rows = conn.execute(_EXISTING, {"b_ids": id_list})
    return {row.id: row.receipt_id for row in rows}


def last_in_seq(conn: Connection, peer: str, stream: str = MAIN_STREAM) -> int:
    """The highest sequence number received from ``peer`` in ``stream`` (0 if none)."""
    value = conn.execute(_LAST_IN, {"b_peer": peer, "b_stream": stream}).scalar_one()
    return int(value or 0)


def in_statement_at(conn: Connection, peer: str, seq: int) -> Any | None:
    """The main-stream statement received from ``peer`` at ``seq`` (its ``id`` and
    signed ``time``), or None."""
    return conn.execute(
        select(statements.c.id, statements.c.time).where(
            and_(
                statements.c.direction == "in",
                statements.c.peer == peer,
                statements.c.stream == MAIN_STREAM,
                statements.c.seq == seq,
            )
        )
    ).first()


def set_receipt(conn: Connection, ids: Sequence[str], receipt_id: str) -> None:
    """Record which of this node's receipts acknowledged the given inbound statements."""
    if ids:
        conn.execute(_SET_RECEIPT, {"b_ids": list(ids), "b_receipt": receipt_id})


def wires_by_id(conn: Connection, ids: Iterable[str]) -> list[bytes]:
    """The wire bytes of the given statements, in id order."""
    id_list = sorted(set(ids))
    if not id_list:
        return []
    rows = conn.execute(_WIRES, {"b_ids": id_list})
    return [bytes(row.wire) for row in rows]


def out_since(conn: Connection, peer: str, after: int, limit: int) -> list[bytes]:
    """This node's main-stream statements to ``peer`` with seq > ``after``, in order."""
    rows = conn.execute(
        select(statements.c.wire)
        .where(
            and_(
                statements.c.direction == "out",
                statements.c.peer == peer,
                statements.c.stream == MAIN_STREAM,
                statements.c.seq > after,
            )
        )
        .order_by(statements.c.seq)
        .limit(limit)
    )
    return [bytes(row.wire) for row in rows]


_SUMMARY = (
    statements.c.id,
    statements.c.direction,
    statements.c.peer,
    statements.c.kind,
    statements.c.seq,
    statements.c.state,
    statements.c.time,
    statements.c.receipt_id,
    statements.c.delivered_at,
    statements.c.leaf_index,
    statements.c.ack_id,
)


def message_to_acknowledge(conn: Connection, message_id: str) -> Any:
    """The row of a stored statement as an acknowledgement needs it (direction,
    peer, kind, recipient, time, ack_id), or None."""
    return conn.execute(
        select(
            statements.c.id,
            statements.c.direction,
            statements.c.peer,
            statements.c.kind,
            statements.c.recipient,
            statements.c.time,
            statements.c.ack_id,
        ).where(statements.c.id == message_id)
    ).first()


def messages(
    conn: Connection,
    *,
    pending: bool = False,
    after: tuple[str, str] | None = None,
    limit: int | None = None,
    ids: Sequence[str] | None = None,
) -> list[Any]:
    """Every message (either way), or with ``pending`` those not acknowledged, oldest
    first by signed time then id, with its wire bytes, delivery and the time of its
    acknowledgement (``ack_time``, None until there is one).

    ``after`` (a row's ``(time, id)``) and ``limit`` read one page of that order
    from the ``ix_statements_kind_time`` index; ``ids`` keeps only those messages.
    """
    acks = statements.alias("acks")
    condition = statements.c.kind == "message"
    if pending:
        condition = and_(condition, statements.c.ack_id.is_(None))
    if after is not None:
        condition = and_(condition, tuple_(statements.c.time, statements.c.id) > tuple_(*after))
    if ids is not None:
        condition = and_(condition, statements.c.id.in_(list(ids)))
    query = (
        select(
            statements.c.id,
            statements.c.direction,
            statements.c.peer,
            statements.c.time,
            statements.c.wire,
            statements.c.state,
            statements.c.delivered_at,
            statements.c.ack_id,
            acks.c.time.label("ack_time"),
        )
        .select_from(statements.outerjoin(acks, acks.c.id == statements.c.ack_id))
        .where(condition)
        .order_by(statements.c.time, statements.c.id)
    )
    if limit is not None:
        query = query.limit(limit)
    return list(conn.execute(query))


def received_message_ids(conn: Connection, *, prefix: str, limit: int) -> list[str]:
    """Ids of messages received from peers that start with ``prefix`` (hex)."""
    rows = conn.execute(
        select(statements.c.id)
        .where(
            and_(
                statements.c.id.startswith(prefix, autoescape=True),
                statements.c.kind == "message",
                statements.c.direction == "in",
            )
        )
        .order_by(statements.c.id)
        .limit(limit)
    )
    return [str(row.id) for row in rows]


def set_ack(conn: Connection, message_id: str, ack_id: str) -> None:
    """Record ``ack_id`` as the acknowledgement of message ``message_id``."""
    conn.execute(update(statements).where(statements.c.id == message_id).values(ack_id=ack_id))


def list_statements(conn: Connection) -> list[dict[str, Any]]:
    """Every stored statement's summary, oldest first (tests and exports; the API pages)."""
    rows = conn.execute(
        select(*_SUMMARY).order_by(statements.c.stored_at, statements.c.direction, statements.c.seq)
    )
    return [dict(row._mapping) for row in rows]


def statements_page(
    conn: Connection, *, after: tuple[str, str] | None, limit: int
) -> list[dict[str, Any]]:
    """Up to ``limit`` statement summaries in the order stored (``stored_at``, then
    id), after the row whose ``(stored_at, id)`` is ``after``: a range of the
    ``ix_statements_stored`` index, never an OFFSET. Raises nothing."""
    query = select(*_SUMMARY, statements.c.stored_at).order_by(
        statements.c.stored_at, statements.c.id
    )
    if after is not None:
        query = query.where(tuple_(statements.c.stored_at, statements.c.id) > tuple_(*after))
    return [dict(row._mapping) for row in conn.execute(query.limit(limit))]


def latest_statements(conn: Connection, limit: int) -> list[dict[str, Any]]:
    """The ``limit`` statements stored last, newest first. Raises nothing."""
    query = select(*_SUMMARY, statements.c.stored_at).order_by(
        statements.c.stored_at.desc(), statements.c.id.desc()
    )
    return [dict(row._mapping) for row in conn.execute(query.limit(limit))]


def statement_count(conn: Connection) -> int:
    """How many statements the node holds, both ways. Raises nothing."""
    return int(conn.execute(select(func.count()).select_from(statements)).scalar_one())


def statement_summary(conn: Connection, statement_id: str) -> dict[str, Any] | None:
    """One statement's summary, or None."""
    row = conn.execute(select(*_SUMMARY).where(statements.c.id == statement_id)).first()
    return dict(row._mapping) if row is not None else None
