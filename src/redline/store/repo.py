"""Queries on a node's tables. Every function takes an open connection, so the
caller (the service layer) decides what one transaction holds."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, func, insert, select, update

from redline.core import merkle
from redline.core.errors import NotFound
from redline.core.identity import Identity
from redline.core.leaf import leaf_record
from redline.core.statement import MAIN_STREAM, Statement
from redline.store.schema import (
    alarms,
    log_hashes,
    log_leaves,
    log_state,
    outbox,
    peers,
    sequences,
    statements,
)

__all__ = [
    "DbHashReader",
    "Peer",
    "add_peer",
    "append_to_log",
    "enqueue",
    "get_peer",
    "insert_statement",
    "list_peers",
    "log_size",
    "next_seq",
]


@dataclass(frozen=True, slots=True)
class Peer:
    """A pinned peer, as stored."""

    identity: Identity
    url: str

    @property
    def party(self) -> str:
        return self.identity.party


# -- peers -----------------------------------------------------------------


def add_peer(conn: Connection, identity: Identity, url: str, now: str) -> None:
    """Pin a peer, replacing an earlier pin of the same party."""
    conn.execute(delete(peers).where(peers.c.party == identity.party))
    conn.execute(
        insert(peers).values(
            party=identity.party,
            name=identity.name,
            signing_key=identity.signing_key,
            log_vkey=identity.log_vkey,
            witness_vkey=identity.witness_vkey,
            cert_pem=identity.tls_cert_pem,
            cert_sha256=identity.tls_cert_sha256,
            url=url,
            added_at=now,
        )
    )


def _peer_from_row(row: Any) -> Peer:
    identity = Identity(
        party=row.party,
        name=row.name,
        signing_key=row.signing_key,
        log_vkey=row.log_vkey,
        witness_vkey=row.witness_vkey,
        tls_cert_pem=row.cert_pem,
        tls_cert_sha256=row.cert_sha256,
    )
    return Peer(identity=identity, url=row.url)


def list_peers(conn: Connection) -> list[Peer]:
    """Every pinned peer, by party id."""
    rows = conn.execute(select(peers).order_by(peers.c.party))
    return [_peer_from_row(row) for row in rows]


def get_peer(conn: Connection, party: str) -> Peer:
    """The pinned peer ``party``. Raises :class:`NotFound` if it is not pinned."""
    row = conn.execute(select(peers).where(peers.c.party == party)).first()
    if row is None:
        raise NotFound(f"no pinned peer {party!r}; pin it with `redline peer add`", field="to")
    return _peer_from_row(row)


# -- statements --------------------------------------------------------------


def next_seq(conn: Connection, peer: str, stream: str) -> int:
    """Allocate the next sequence number for statements to ``peer`` in ``stream``.

    The row update takes the lock, so concurrent writers on PostgreSQL serialise.
    """
    result = conn.execute(
        update(sequences)
        .where(and_(sequences.c.peer == peer, sequences.c.stream == stream))
        .values(last_seq=sequences.c.last_seq + 1)
        .returning(sequences.c.last_seq)
    ).first()
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
) -> None:
    """Store one statement row."""
    insert_statements(conn, [statement], direction=direction, state=state, now=now,
                      receipt_id=receipt_id)


def insert_statements(
    conn: Connection,
    batch: Sequence[Statement],
    *,
    direction: str,
    state: str,
    now: str,
    receipt_id: str | None = None,
) -> None:
    """Store statement rows in one round trip."""
    if not batch:
        return
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
                "leaf_index": None,
            }
            for st in batch
        ],
    )


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
    rows = conn.execute(
        select(statements.c.wire)
        .select_from(outbox.join(statements, outbox.c.statement_id == statements.c.id))
        .where(outbox.c.peer == peer)
        .order_by(outbox.c.seq)
        .limit(limit)
    )
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


def out_statements_by_id(conn: Connection, peer: str, ids: Iterable[str]) -> dict[str, int]:
    """Map id -> seq for this node's statements to ``peer`` among ``ids``."""
    id_list = list(ids)
    if not id_list:
        return {}
    rows = conn.execute(
        select(statements.c.id, statements.c.seq).where(
            and_(
                statements.c.id.in_(id_list),
                statements.c.direction == "out",
                statements.c.peer == peer,
            )
        )
    )
    return {row.id: int(row.seq) for row in rows}


def mark_delivered(conn: Connection, ids: Sequence[str], receipt_id: str, now: str) -> None:
    """Mark statements delivered under ``receipt_id`` and drop them from the outbox."""
    if not ids:
        return
    conn.execute(
        update(statements)
        .where(and_(statements.c.id.in_(ids), statements.c.state == "queued"))
        .values(state="delivered", receipt_id=receipt_id, delivered_at=now)
    )
    conn.execute(delete(outbox).where(outbox.c.statement_id.in_(ids)))


def existing_ids(conn: Connection, ids: Iterable[str]) -> dict[str, str | None]:
    """Map id -> receipt id for the statements among ``ids`` that are stored."""
    id_list = list(ids)
    if not id_list:
        return {}
    rows = conn.execute(
        select(statements.c.id, statements.c.receipt_id).where(statements.c.id.in_(id_list))
    )
    return {row.id: row.receipt_id for row in rows}


def last_in_seq(conn: Connection, peer: str, stream: str = MAIN_STREAM) -> int:
    """The highest sequence number received from ``peer`` in ``stream`` (0 if none)."""
    value = conn.execute(
        select(func.max(statements.c.seq)).where(
            and_(
                statements.c.direction == "in",
                statements.c.peer == peer,
                statements.c.stream == stream,
            )
        )
    ).scalar_one()
    return int(value or 0)


def in_statement_at(conn: Connection, peer: str, seq: int) -> str | None:
    """The id of the main-stream statement received from ``peer`` at ``seq``."""
    return conn.execute(
        select(statements.c.id).where(
            and_(
                statements.c.direction == "in",
                statements.c.peer == peer,
                statements.c.stream == MAIN_STREAM,
                statements.c.seq == seq,
            )
        )
    ).scalar_one_or_none()


def set_receipt(conn: Connection, ids: Sequence[str], receipt_id: str) -> None:
    """Record which of this node's receipts acknowledged the given inbound statements."""
    if ids:
        conn.execute(
            update(statements).where(statements.c.id.in_(ids)).values(receipt_id=receipt_id)
        )


def wires_by_id(conn: Connection, ids: Iterable[str]) -> list[bytes]:
    """The wire bytes of the given statements, in id order."""
    id_list = sorted(set(ids))
    if not id_list:
        return []
    rows = conn.execute(
        select(statements.c.wire).where(statements.c.id.in_(id_list)).order_by(statements.c.id)
    )
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
)


def list_statements(conn: Connection) -> list[dict[str, Any]]:
    """Every stored statement's summary, oldest first."""
    rows = conn.execute(
        select(*_SUMMARY).order_by(statements.c.stored_at, statements.c.direction, statements.c.seq)
    )
    return [dict(row._mapping) for row in rows]


def statement_summary(conn: Connection, statement_id: str) -> dict[str, Any] | None:
    """One statement's summary, or None."""
    row = conn.execute(select(*_SUMMARY).where(statements.c.id == statement_id)).first()
    return dict(row._mapping) if row is not None else None


# -- the Merkle log -----------------------------------------------------------


class DbHashReader:
    """Reads stored tree hashes (Go tlog numbering) through a connection."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        if not indexes:
            return []
        rows = self._conn.execute(
            select(log_hashes.c.idx, log_hashes.c.hash).where(log_hashes.c.idx.in_(set(indexes)))
        )
        found = {int(row.idx): bytes(row.hash) for row in rows}
        try:
            return [found[i] for i in indexes]
        except KeyError as exc:
            raise NotFound(f"stored hash {exc.args[0]} is missing from the log") from exc


def log_size(conn: Connection) -> int:
    """The number of leaves in this node's log."""
    value = conn.execute(select(log_state.c.size).where(log_state.c.id == 1)).scalar_one_or_none()
    return int(value or 0)


def append_to_log(conn: Connection, batch: Sequence[Statement]) -> list[int]:
    """Append each statement's leaf to this node's log; return their indexes.

    Takes the log's row lock first, so appends serialise across processes.
    """
    if not batch:
        return []
    locked = conn.execute(
        update(log_state)
        .where(log_state.c.id == 1)
        .values(size=log_state.c.size + len(batch))
        .returning(log_state.c.size)
    ).first()
    if locked is None:
        conn.execute(insert(log_state).values(id=1, size=len(batch)))
        start = 0
    else:
        start = int(locked[0]) - len(batch)
    reader = _AppendReader(conn)
    leaves = []
    indexes = []
    for offset, st in enumerate(batch):
        n = start + offset
        record = leaf_record(st)
        hashes = merkle.stored_hashes_for_leaf_hash(n, merkle.leaf_hash(record), reader)
        base = merkle.stored_hash_index(0, n)
        reader.add(base, hashes)
        leaves.append({"idx": n, "statement_id": st.id, "record": record})
        indexes.append(n)
    conn.execute(insert(log_leaves), leaves)
    conn.execute(insert(log_hashes), [{"idx": i, "hash": h} for i, h in reader.pending.items()])
    conn.execute(
        update(statements)
        .where(statements.c.id == bindparam("b_id"))
        .values(leaf_index=bindparam("b_idx")),
        [{"b_id": st.id, "b_idx": n} for st, n in zip(batch, indexes, strict=True)],
    )
    return indexes


class _AppendReader(DbHashReader):
    """A hash reader that also sees hashes computed earlier in the same batch."""

    def __init__(self, conn: Connection) -> None:
        super().__init__(conn)
        self.pending: dict[int, bytes] = {}

    def add(self, base: int, hashes: Sequence[bytes]) -> None:
        for i, h in enumerate(hashes):
            self.pending[base + i] = h

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        missing = [i for i in indexes if i not in self.pending]
        fetched = dict(zip(missing, super().read_hashes(missing), strict=True))
        return [self.pending[i] if i in self.pending else fetched[i] for i in indexes]


def raise_alarm(
    conn: Connection, *, kind: str, peer: str, message: str, now: str, evidence: str | None = None
) -> None:
    """Record an alarm for the operator."""
    conn.execute(
        insert(alarms).values(
            kind=kind, peer=peer, message=message, evidence=evidence, raised_at=now
        )
    )


def open_alarms(conn: Connection) -> list[dict[str, Any]]:
    """Alarms not yet cleared, newest first."""
    rows = conn.execute(
        select(alarms).where(alarms.c.cleared_at.is_(None)).order_by(alarms.c.id.desc())
    )
    return [dict(row._mapping) for row in rows]
