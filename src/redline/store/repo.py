"""Queries on a node's tables. Every function takes an open connection, so the
caller (the service layer) decides what one transaction holds."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, func, insert, select, update

from redline.core import merkle
from redline.core.errors import NotFound
from redline.core.identity import Identity
from redline.core.leaf import leaf_record
from redline.core.statement import MAIN_STREAM, RECEIPT_STREAM, Statement, parse_time
from redline.store.schema import (
    alarms,
    log_hashes,
    log_leaves,
    log_state,
    outbox,
    peer_hashes,
    peer_leaves,
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
    # Sequence rows exist before the first send, so concurrent first sends on
    # PostgreSQL serialise on the row instead of racing to insert it.
    for stream in (MAIN_STREAM, RECEIPT_STREAM):
        if (
            conn.execute(
                select(sequences.c.last_seq).where(
                    and_(sequences.c.peer == identity.party, sequences.c.stream == stream)
                )
            ).first()
            is None
        ):
            conn.execute(insert(sequences).values(peer=identity.party, stream=stream, last_seq=0))
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


# Statements on the hot path are built once; SQLAlchemy caches their compiled form.
_NEXT_SEQ = (
    update(sequences)
    .where(
        and_(sequences.c.peer == bindparam("b_peer"), sequences.c.stream == bindparam("b_stream"))
    )
    .values(last_seq=sequences.c.last_seq + 1)
    .returning(sequences.c.last_seq)
)
_GROW_LOG = (
    update(log_state)
    .where(log_state.c.id == 1)
    .values(size=log_state.c.size + bindparam("b_count"))
    .returning(log_state.c.size)
)
_READ_HASHES = select(log_hashes.c.idx, log_hashes.c.hash).where(
    log_hashes.c.idx.in_(bindparam("b_indexes", expanding=True))
)
_PEER_EXISTS = select(peers.c.party).where(peers.c.party == bindparam("b_party"))
_IN_CHUNK = 500  # ids per IN (...) list: well under SQLite's and PostgreSQL's limits
_PEER_LEAVES_OF = select(peer_leaves.c.statement_id, peer_leaves.c.idx, peer_leaves.c.record).where(
    and_(
        peer_leaves.c.party == bindparam("b_party"),
        peer_leaves.c.statement_id.in_(bindparam("b_ids", expanding=True)),
    )
)
_MARK_FOUND = (
    update(statements)
    .where(statements.c.id == bindparam("b_id"))
    .values(
        leaf_index=bindparam("b_index"),
        leaf_record=bindparam("b_record"),
        proof_checkpoint_id=bindparam("b_cp"),
    )
)
_IDS: Any = bindparam("b_ids", expanding=True)
_DUE = (
    select(statements.c.wire)
    .select_from(outbox.join(statements, outbox.c.statement_id == statements.c.id))
    .where(outbox.c.peer == bindparam("b_peer"))
    .order_by(outbox.c.seq)
    .limit(bindparam("b_limit"))
)
_OUT_BY_ID = select(statements.c.id, statements.c.seq).where(
    and_(
        statements.c.id.in_(_IDS),
        statements.c.direction == "out",
        statements.c.peer == bindparam("b_peer"),
    )
)
_MARK_DELIVERED = (
    update(statements)
    .where(and_(statements.c.id.in_(_IDS), statements.c.state == "queued"))
    .values(state="delivered", receipt_id=bindparam("b_receipt"), delivered_at=bindparam("b_now"))
)
_UNQUEUE = delete(outbox).where(outbox.c.statement_id.in_(_IDS))
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


def lock_peer(conn: Connection, party: str) -> None:
    """Serialise writers that act for one peer (row lock on PostgreSQL; SQLite
    already has a single writer)."""
    conn.execute(select(peers.c.party).where(peers.c.party == party).with_for_update())


def undelivered_checked(conn: Connection, party: str) -> int:
    """How far (exclusive) the witness has looked for undelivered statements in
    ``party``'s log."""
    value = conn.execute(
        select(peers.c.undelivered_checked).where(peers.c.party == party)
    ).scalar_one_or_none()
    return int(value or 0)


def set_undelivered_checked(conn: Connection, party: str, upto: int) -> None:
    """Record that the leaves of ``party``'s log before ``upto`` were looked at."""
    conn.execute(update(peers).where(peers.c.party == party).values(undelivered_checked=upto))


def peer_exists(conn: Connection, party: str) -> bool:
    """Whether ``party`` is pinned."""
    return conn.execute(_PEER_EXISTS, {"b_party": party}).first() is not None


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
    statements this node signed (see :func:`append_to_log`).
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


def out_statements_by_id(conn: Connection, peer: str, ids: Iterable[str]) -> dict[str, int]:
    """Map id -> seq for this node's statements to ``peer`` among ``ids``."""
    id_list = list(ids)
    if not id_list:
        return {}
    rows = conn.execute(_OUT_BY_ID, {"b_ids": id_list, "b_peer": peer})
    return {row.id: int(row.seq) for row in rows}


def mark_delivered(conn: Connection, ids: Sequence[str], receipt_id: str, now: str) -> None:
    """Mark statements delivered under ``receipt_id`` and drop them from the outbox."""
    if not ids:
        return
    conn.execute(_MARK_DELIVERED, {"b_ids": list(ids), "b_receipt": receipt_id, "b_now": now})
    conn.execute(_UNQUEUE, {"b_ids": list(ids)})


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


def messages(conn: Connection) -> list[Any]:
    """Every message (either way), oldest first, with its wire bytes, delivery
    and the time of its acknowledgement (``ack_time``, None until there is one)."""
    acks = statements.alias("acks")
    return list(
        conn.execute(
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
            .where(statements.c.kind == "message")
            .order_by(statements.c.time, statements.c.id)
        )
    )


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
        rows = self._conn.execute(_READ_HASHES, {"b_indexes": sorted(set(indexes))})
        found = {int(row.idx): bytes(row.hash) for row in rows}
        try:
            return [found[i] for i in indexes]
        except KeyError as exc:
            raise NotFound(f"stored hash {exc.args[0]} is missing from the log") from exc


class CachingHashReader:
    """Wraps a hash reader; each stored hash is read at most once (stored hashes
    never change, so the cache cannot go stale within a transaction)."""

    def __init__(self, inner: DbHashReader) -> None:
        self._inner = inner
        self._cache: dict[int, bytes] = {}

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        missing = [i for i in indexes if i not in self._cache]
        if missing:
            self._cache.update(zip(missing, self._inner.read_hashes(missing), strict=True))
        return [self._cache[i] for i in indexes]


def not_before_last_leaf(conn: Connection, now: datetime) -> datetime:
    """``now``, or the time of the log's last leaf if that is later.

    A log appends in signing order and its witnesses refuse a leaf dated well
    before the one ahead of it, so a clock stepped back must not date one.
    """
    # Take the log's row lock first (PostgreSQL): then no other writer can append
    # between this read and our append, and times follow the log's order.
    locked = conn.execute(_GROW_LOG, {"b_count": 0}).first()
    size = int(locked[0]) if locked is not None else 0
    if size == 0:
        return now
    last = conn.execute(
        select(statements.c.time)
        .join(log_leaves, log_leaves.c.statement_id == statements.c.id)
        .where(log_leaves.c.idx == size - 1)
    ).scalar_one_or_none()
    return max(now, parse_time(last)) if last is not None else now


def log_size(conn: Connection) -> int:
    """The number of leaves in this node's log."""
    value = conn.execute(select(log_state.c.size).where(log_state.c.id == 1)).scalar_one_or_none()
    return int(value or 0)


def append_to_log(conn: Connection, batch: Sequence[Statement]) -> list[int]:
    """Append each statement's leaf to this node's log; return their indexes.

    Call it in the transaction that stores the statements, and pass the
    indexes to :func:`insert_statements`. Takes the log's row lock first, so
    appends serialise across processes.
    """
    if not batch:
        return []
    locked = conn.execute(_GROW_LOG, {"b_count": len(batch)}).first()
    if locked is None:
        conn.execute(insert(log_state).values(id=1, size=len(batch)))
        start = 0
    else:
        start = int(locked[0]) - len(batch)
    reader = PendingHashReader(DbHashReader(conn))
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
    return indexes


class PendingHashReader:
    """A hash reader that also sees hashes computed earlier in the same batch."""

    def __init__(self, inner: DbHashReader) -> None:
        self._inner = inner
        self.pending: dict[int, bytes] = {}

    def add(self, base: int, hashes: Sequence[bytes]) -> None:
        for i, h in enumerate(hashes):
            self.pending[base + i] = h

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        missing = [i for i in indexes if i not in self.pending]
        fetched = dict(zip(missing, self._inner.read_hashes(missing), strict=True))
        return [self.pending[i] if i in self.pending else fetched[i] for i in indexes]


class PeerHashReader(DbHashReader):
    """Reads the stored hashes of this node's copy of a peer's log."""

    def __init__(self, conn: Connection, party: str) -> None:
        super().__init__(conn)
        self._party = party

    def read_hashes(self, indexes: Sequence[int]) -> list[bytes]:
        if not indexes:
            return []
        rows = self._conn.execute(
            select(peer_hashes.c.idx, peer_hashes.c.hash).where(
                and_(peer_hashes.c.party == self._party, peer_hashes.c.idx.in_(set(indexes)))
            )
        )
        found = {int(row.idx): bytes(row.hash) for row in rows}
        try:
            return [found[i] for i in indexes]
        except KeyError as exc:
            raise NotFound(f"hash {exc.args[0]} of {self._party}'s log is not held") from exc


def leaves_between(conn: Connection, start: int, end: int) -> list[bytes]:
    """This node's own leaf records with index in [start, end)."""
    rows = conn.execute(
        select(log_leaves.c.record)
        .where(and_(log_leaves.c.idx >= start, log_leaves.c.idx < end))
        .order_by(log_leaves.c.idx)
    )
    return [bytes(row.record) for row in rows]


def peer_log_size(conn: Connection, party: str) -> int:
    """How many leaves of ``party``'s log this node holds."""
    value = conn.execute(
        select(func.max(peer_leaves.c.idx)).where(peer_leaves.c.party == party)
    ).scalar_one()
    return 0 if value is None else int(value) + 1


def peer_leaves_between(conn: Connection, party: str, start: int, end: int) -> list[bytes]:
    """The held leaf records of ``party``'s log with index in [start, end)."""
    rows = conn.execute(
        select(peer_leaves.c.record)
        .where(
            and_(peer_leaves.c.party == party, peer_leaves.c.idx >= start, peer_leaves.c.idx < end)
        )
        .order_by(peer_leaves.c.idx)
    )
    return [bytes(row.record) for row in rows]


def peer_leaves_of(
    conn: Connection, party: str, statement_ids: Sequence[str]
) -> dict[str, tuple[int, bytes]]:
    """Where each of ``statement_ids`` sits in the held copy of ``party``'s log,
    with its record; ids not (yet) in the copy are left out."""
    found: dict[str, tuple[int, bytes]] = {}
    for start in range(0, len(statement_ids), _IN_CHUNK):
        rows = conn.execute(
            _PEER_LEAVES_OF,
            {"b_party": party, "b_ids": list(statement_ids[start : start + _IN_CHUNK])},
        )
        for row in rows:
            found[row.statement_id] = (int(row.idx), bytes(row.record))
    return found


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
