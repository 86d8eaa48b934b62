"""Pinned peers: who this node talks to, and per-peer witness state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, insert, select, update

from redline.core.errors import NotFound
from redline.core.identity import Identity
from redline.core.statement import MAIN_STREAM, RECEIPT_STREAM
from redline.store.schema import peers, sequences

__all__ = [
    "Peer",
    "add_peer",
    "get_peer",
    "list_peers",
    "lock_peer",
    "peer_exists",
    "set_undelivered_checked",
    "undelivered_checked",
]


@dataclass(frozen=True, slots=True)
class Peer:
    """A pinned peer, as stored."""

    identity: Identity
    url: str

    @property
    def party(self) -> str:
        return self.identity.party


_PEER_EXISTS = select(peers.c.party).where(peers.c.party == bindparam("b_party"))


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


def lock_peer(conn: Connection, party: str) -> None:
    """Serialise writers that act for one peer (row lock on PostgreSQL; SQLite
    already has a single writer)."""
    conn.execute(select(peers.c.party).where(peers.c.party == party).with_for_update())


def peer_exists(conn: Connection, party: str) -> bool:
    """Whether ``party`` is pinned."""
    return conn.execute(_PEER_EXISTS, {"b_party": party}).first() is not None


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
