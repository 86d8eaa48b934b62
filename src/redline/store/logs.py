"""This node's Merkle log and its copies of the peers' logs: leaves and stored
tree hashes (Go tlog numbering), read through hash readers that ``core.merkle``
uses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import Connection, and_, bindparam, func, insert, select, update

from redline.core import merkle
from redline.core.errors import NotFound
from redline.core.leaf import LeafFields, leaf_record
from redline.core.statement import Statement, parse_time
from redline.store.schema import (
    log_hashes,
    log_leaves,
    log_state,
    peer_hashes,
    peer_leaves,
    statements,
)

__all__ = [
    "CachingHashReader",
    "DbHashReader",
    "PeerHashReader",
    "PendingHashReader",
    "add_peer_leaves",
    "append_to_log",
    "leaves_between",
    "log_size",
    "not_before_last_leaf",
    "peer_leaves_between",
    "peer_leaves_of",
    "peer_log_size",
]

# Statements on the hot path are built once; SQLAlchemy caches their compiled form.
_GROW_LOG = (
    update(log_state)
    .where(log_state.c.id == 1)
    .values(size=log_state.c.size + bindparam("b_count"))
    .returning(log_state.c.size)
)
_READ_HASHES = select(log_hashes.c.idx, log_hashes.c.hash).where(
    log_hashes.c.idx.in_(bindparam("b_indexes", expanding=True))
)
_IN_CHUNK = 500  # ids per IN (...) list: well under SQLite's and PostgreSQL's limits
_PEER_LEAVES_OF = select(peer_leaves.c.statement_id, peer_leaves.c.idx, peer_leaves.c.record).where(
    and_(
        peer_leaves.c.party == bindparam("b_party"),
        peer_leaves.c.statement_id.in_(bindparam("b_ids", expanding=True)),
    )
)


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


def add_peer_leaves(
    conn: Connection,
    party: str,
    *,
    start: int,
    leaves: Sequence[LeafFields],
    records: Sequence[bytes],
    hashes: Mapping[int, bytes],
) -> None:
    """Extend the held copy of ``party``'s log: ``records`` (parsed as ``leaves``)
    from index ``start``, and the stored tree ``hashes`` they add."""
    if not records:
        return
    conn.execute(
        insert(peer_leaves),
        [
            {
                "party": party,
                "idx": start + offset,
                "statement_id": leaf.id,
                "kind": leaf.kind,
                "recipient": leaf.to,
                "time": leaf.time,
                "record": record,
            }
            for offset, (leaf, record) in enumerate(zip(leaves, records, strict=True))
        ],
    )
    conn.execute(
        insert(peer_hashes),
        [{"party": party, "idx": i, "hash": h} for i, h in hashes.items()],
    )
