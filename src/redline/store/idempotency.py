"""Idempotency keys of operator POSTs (IETF httpapi ``Idempotency-Key`` draft).

The first request with a key reserves it: a row with the request's
fingerprint and no answer yet. When that request is answered, the answer is
kept on the row, so a retry with the same key and the same request gets the
same answer and nothing is done twice. Rows are kept :data:`RETENTION` and
purged on the next request with a key after that.

The reservation is one ``INSERT ... ON CONFLICT DO NOTHING`` on the key (the
primary key), so of two concurrent requests with one key only one reserves
it, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Connection, Insert, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from redline.store.schema import idempotency_keys

__all__ = ["RETENTION", "Answer", "Held", "claim", "finish", "purge", "release"]

#: How long a key and its answer are kept.
RETENTION = timedelta(hours=24)

_t = idempotency_keys


@dataclass(frozen=True, slots=True, kw_only=True)
class Answer:
    """A stored answer: its status, content type and body bytes."""

    status: int
    content_type: str
    body: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Held:
    """What a key already holds: the fingerprint of the request that reserved it,
    and its answer (None while that request is still being handled)."""

    fingerprint: str
    answer: Answer | None


def purge(conn: Connection, *, before: str) -> int:
    """Delete the keys reserved before ``before`` (a statement-format time); return
    how many. Raises SQLAlchemy's errors if the write fails."""
    return conn.execute(delete(_t).where(_t.c.created_at < before)).rowcount


def claim(conn: Connection, *, key: str, fingerprint: str, now: str) -> Held | None:
    """Reserve ``key`` for a request with ``fingerprint`` received at ``now``.

    Returns None if the key is now reserved for this request (go ahead and
    handle it), or what the key already holds.

    Raises :class:`ValueError` on a database other than SQLite or PostgreSQL,
    and SQLAlchemy's errors if the write fails.
    """
    values = {"key": key, "fingerprint": fingerprint, "created_at": now}
    dialect = conn.dialect.name
    insert: Insert
    if dialect == "sqlite":
        insert = sqlite.insert(_t).values(values).on_conflict_do_nothing()
    elif dialect == "postgresql":
        insert = postgresql.insert(_t).values(values).on_conflict_do_nothing()
    else:
        raise ValueError(f"idempotency keys need SQLite or PostgreSQL, not {dialect}")
    if conn.execute(insert).rowcount == 1:
        return None
    row = conn.execute(
        select(_t.c.fingerprint, _t.c.status, _t.c.content_type, _t.c.body).where(_t.c.key == key)
    ).one()
    answer = None
    if row.status is not None:
        answer = Answer(status=row.status, content_type=row.content_type or "", body=row.body)
    return Held(fingerprint=row.fingerprint, answer=answer)


def finish(conn: Connection, *, key: str, answer: Answer) -> None:
    """Keep ``answer`` as the answer of the request that reserved ``key``.
    Raises SQLAlchemy's errors if the write fails."""
    conn.execute(
        update(_t)
        .where(_t.c.key == key)
        .values(status=answer.status, content_type=answer.content_type, body=answer.body)
    )


def release(conn: Connection, *, key: str) -> None:
    """Forget a reservation that was not answered (the request failed), so a retry
    is handled anew. Raises SQLAlchemy's errors if the write fails."""
    conn.execute(delete(_t).where(_t.c.key == key, _t.c.status.is_(None)))
