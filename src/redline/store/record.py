"""The cosigned record's tables: checkpoints (this node's and its peers'),
cosignatures, and what the witness has found of received statements in their
senders' logs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, insert, select, update

from redline.store.schema import checkpoints, cosignatures, peer_leaves, statements

__all__ = [
    "HeldLeaf",
    "StoredCheckpoint",
    "add_cosignature",
    "checkpoint_by_id",
    "checkpoint_id",
    "cosignature_line",
    "cosignature_lines",
    "cosigners",
    "insert_checkpoint",
    "last_leaf_before",
    "latest_checkpoint",
    "latest_cosigned_by_all",
    "mark_found_in_peer_log",
    "other_root_at_size",
    "undelivered_to",
    "unproven_count",
    "unproven_from",
]


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    """A checkpoint row: a party's signed note, parsed."""

    id: int
    party: str
    size: int
    root_hash: bytes
    note: str
    created_at: str


@dataclass(frozen=True, slots=True)
class HeldLeaf:
    """A leaf of a peer's log as held here: the statement it binds, its kind and time."""

    statement_id: str
    kind: str
    time: str


_MARK_FOUND = (
    update(statements)
    .where(statements.c.id == bindparam("b_id"))
    .values(
        leaf_index=bindparam("b_index"),
        leaf_record=bindparam("b_record"),
        proof_checkpoint_id=bindparam("b_cp"),
    )
)


def _checkpoint(row: Any) -> StoredCheckpoint:
    return StoredCheckpoint(
        id=int(row.id),
        party=row.party,
        size=int(row.size),
        root_hash=bytes(row.root_hash),
        note=row.note,
        created_at=row.created_at,
    )


# -- checkpoints ------------------------------------------------------------------


def latest_checkpoint(
    conn: Connection, party: str, *, cosigned_by: str | None = None
) -> StoredCheckpoint | None:
    """The largest checkpoint of ``party``'s log (that ``cosigned_by`` cosigned), or None."""
    query = select(checkpoints).where(checkpoints.c.party == party)
    if cosigned_by is not None:
        query = query.join(
            cosignatures,
            and_(
                cosignatures.c.checkpoint_id == checkpoints.c.id,
                cosignatures.c.witness == cosigned_by,
            ),
        )
    row = conn.execute(query.order_by(checkpoints.c.size.desc()).limit(1)).first()
    return _checkpoint(row) if row is not None else None


def latest_cosigned_by_all(
    conn: Connection, party: str, witnesses: Sequence[str]
) -> StoredCheckpoint | None:
    """The largest checkpoint of ``party``'s log that every one of ``witnesses`` cosigned."""
    rows = conn.execute(
        select(checkpoints).where(checkpoints.c.party == party).order_by(checkpoints.c.size.desc())
    )
    for row in rows:
        given = set(
            conn.execute(
                select(cosignatures.c.witness).where(cosignatures.c.checkpoint_id == row.id)
            ).scalars()
        )
        if set(witnesses) <= given:
            return _checkpoint(row)
    return None


def checkpoint_by_id(conn: Connection, checkpoint_id: int) -> StoredCheckpoint:
    """The checkpoint stored as ``checkpoint_id``. Raises SQLAlchemy's
    ``NoResultFound`` if there is none (ids come from this store)."""
    return _checkpoint(
        conn.execute(select(checkpoints).where(checkpoints.c.id == checkpoint_id)).one()
    )


def checkpoint_id(conn: Connection, party: str, size: int, root_hash: bytes) -> int | None:
    """The id of the stored checkpoint of ``party``'s log at ``size`` with ``root_hash``."""
    row = conn.execute(
        select(checkpoints.c.id).where(
            and_(
                checkpoints.c.party == party,
                checkpoints.c.size == size,
                checkpoints.c.root_hash == root_hash,
            )
        )
    ).first()
    return int(row.id) if row is not None else None


def other_root_at_size(
    conn: Connection, party: str, size: int, root_hash: bytes
) -> StoredCheckpoint | None:
    """A stored checkpoint of ``party``'s log at ``size`` whose root is not ``root_hash``."""
    row = conn.execute(
        select(checkpoints).where(
            and_(
                checkpoints.c.party == party,
                checkpoints.c.size == size,
                checkpoints.c.root_hash != root_hash,
            )
        )
    ).first()
    return _checkpoint(row) if row is not None else None


def insert_checkpoint(
    conn: Connection, *, party: str, size: int, root_hash: bytes, note: str, created_at: str
) -> int:
    """Store a checkpoint of ``party``'s log; returns its id."""
    result = conn.execute(
        insert(checkpoints).values(
            party=party, size=size, root_hash=root_hash, note=note, created_at=created_at
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


# -- cosignatures -------------------------------------------------------------------


def cosignature_lines(conn: Connection, checkpoint_id: int) -> list[str]:
    """The stored cosignature lines of a checkpoint, by witness."""
    rows = conn.execute(
        select(cosignatures.c.line)
        .where(cosignatures.c.checkpoint_id == checkpoint_id)
        .order_by(cosignatures.c.witness)
    )
    return [row.line for row in rows]


def cosignature_line(conn: Connection, checkpoint_id: int, witness: str) -> str | None:
    """``witness``'s stored cosignature line on a checkpoint, or None."""
    row = conn.execute(
        select(cosignatures.c.line).where(
            and_(
                cosignatures.c.checkpoint_id == checkpoint_id,
                cosignatures.c.witness == witness,
            )
        )
    ).first()
    return str(row.line) if row is not None else None


def add_cosignature(
    conn: Connection, *, checkpoint_id: int, witness: str, line: str, timestamp: int
) -> None:
    """Store ``witness``'s cosignature line on a checkpoint."""
    conn.execute(
        insert(cosignatures).values(
            checkpoint_id=checkpoint_id, witness=witness, line=line, timestamp=timestamp
        )
    )


def cosigners(conn: Connection, checkpoint_id: int) -> dict[str, int]:
    """Who cosigned a checkpoint, with the cosignature's timestamp."""
    rows = conn.execute(
        select(cosignatures.c.witness, cosignatures.c.timestamp).where(
            cosignatures.c.checkpoint_id == checkpoint_id
        )
    )
    return {row.witness: int(row.timestamp) for row in rows}


# -- received statements, found in their senders' logs ----------------------------------


def unproven_from(conn: Connection, peer: str) -> list[tuple[str, bytes]]:
    """(id, wire bytes) of each statement received from ``peer`` not yet found in its log."""
    rows = conn.execute(
        select(statements.c.id, statements.c.wire).where(
            and_(
                statements.c.direction == "in",
                statements.c.peer == peer,
                statements.c.proof_checkpoint_id.is_(None),
            )
        )
    ).all()
    return [(row.id, bytes(row.wire)) for row in rows]


def unproven_count(conn: Connection) -> int:
    """How many statements received from peers are not yet found in their logs."""
    return int(
        conn.execute(
            select(func.count())
            .select_from(statements)
            .where(
                and_(
                    statements.c.direction == "in",
                    statements.c.proof_checkpoint_id.is_(None),
                )
            )
        ).scalar_one()
    )


def mark_found_in_peer_log(
    conn: Connection, found: Sequence[Mapping[str, Any]], *, checkpoint_id: int
) -> None:
    """Record received statements as found in their sender's log: each of
    ``found`` gives ``id``, ``index`` and ``record``; ``checkpoint_id`` is the
    sender's checkpoint whose tree holds them."""
    if found:
        conn.execute(
            _MARK_FOUND,
            [
                {
                    "b_id": f["id"],
                    "b_index": f["index"],
                    "b_record": f["record"],
                    "b_cp": checkpoint_id,
                }
                for f in found
            ],
        )


def last_leaf_before(
    conn: Connection, party: str, *, start: int, end: int, before: str
) -> int | None:
    """The last index in [start, end) of the held copy of ``party``'s log whose
    leaf is dated before ``before``, or None."""
    value = conn.execute(
        select(func.max(peer_leaves.c.idx)).where(
            and_(
                peer_leaves.c.party == party,
                peer_leaves.c.idx >= start,
                peer_leaves.c.idx < end,
                peer_leaves.c.time < before,
            )
        )
    ).scalar_one_or_none()
    return None if value is None else int(value)


def undelivered_to(
    conn: Connection, party: str, *, start: int, upto: int, recipient: str
) -> list[HeldLeaf]:
    """The leaves of ``party``'s log with index in [start, upto] addressed to
    ``recipient`` whose statement this node does not hold, in log order."""
    held = select(statements.c.id).where(statements.c.id == peer_leaves.c.statement_id)
    rows = conn.execute(
        select(peer_leaves.c.statement_id, peer_leaves.c.kind, peer_leaves.c.time)
        .where(
            and_(
                peer_leaves.c.party == party,
                peer_leaves.c.idx >= start,
                peer_leaves.c.idx <= upto,
                peer_leaves.c.recipient == recipient,
                ~held.exists(),
            )
        )
        .order_by(peer_leaves.c.idx)
    ).all()
    return [HeldLeaf(row.statement_id, row.kind, row.time) for row in rows]
