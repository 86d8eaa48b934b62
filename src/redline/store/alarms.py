"""Alarms raised for the operator: equivocation, statements never delivered.

One open alarm per condition: ``kind``, ``peer`` and ``condition`` (what names
the condition within them, say the checkpoint size at which a log showed two
roots, or the id of a statement it left out). A condition seen again bumps the
open alarm's ``count`` and ``last_seen``; its first message and evidence are
kept, and nothing else is stored, so a peer that repeats a fault, or a fault
rechecked on every retry, costs one row. The write is one ``INSERT ... ON
CONFLICT`` against the unique index on open alarms, so two writers cannot
both add a row for one condition.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from redline.store.schema import alarms

__all__ = [
    "alarm_is_open",
    "clear_alarms",
    "open_alarm_count",
    "open_alarms",
    "raise_alarm",
]

# The longest condition stored; longer ones are cut (they are names, not evidence).
MAX_CONDITION = 200


def raise_alarm(
    conn: Connection,
    *,
    kind: str,
    peer: str,
    message: str,
    now: str,
    evidence: str | None = None,
    condition: str = "",
) -> int:
    """Record that ``condition`` of ``kind`` was seen for ``peer`` at ``now``.

    A new condition opens an alarm with ``message`` and ``evidence``; one
    already open has its count and ``last_seen`` bumped, and keeps its first
    message and evidence. An empty ``condition`` (the default) makes the kind
    itself the condition: one open alarm of that kind per peer. Returns how
    many times the open alarm has now been seen (1: it is new).

    Raises :class:`ValueError` on a database other than SQLite or PostgreSQL,
    and SQLAlchemy's errors if the write fails.
    """
    values = {
        "kind": kind,
        "peer": peer,
        "condition": condition[:MAX_CONDITION],
        "message": message,
        "evidence": evidence,
        "raised_at": now,
        "last_seen": now,
        "count": 1,
    }
    open_ = alarms.c.cleared_at.is_(None)
    bump = {"count": alarms.c["count"] + 1, "last_seen": now}
    target = [alarms.c.kind, alarms.c.peer, alarms.c.condition]
    returning = alarms.c["count"]
    dialect = conn.dialect.name
    if dialect == "sqlite":
        lite = sqlite.insert(alarms).values(values)
        lite = lite.on_conflict_do_update(index_elements=target, index_where=open_, set_=bump)
        seen = conn.execute(lite.returning(returning)).scalar_one()
    elif dialect == "postgresql":
        pg = postgresql.insert(alarms).values(values)
        pg = pg.on_conflict_do_update(index_elements=target, index_where=open_, set_=bump)
        seen = conn.execute(pg.returning(returning)).scalar_one()
    else:
        raise ValueError(f"alarms are not supported on {dialect!r}")
    return int(seen)


def open_alarms(
    conn: Connection,
    *,
    kind: str | None = None,
    before: int | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Alarms not yet cleared (of ``kind`` if given), newest first, each with
    ``count`` (times seen), ``raised_at`` (first seen) and ``last_seen``.

    ``before`` (an alarm's id) and ``limit`` read one page of that order, a
    range of the primary key. Raises nothing."""
    query = select(alarms).where(alarms.c.cleared_at.is_(None)).order_by(alarms.c.id.desc())
    if kind is not None:
        query = query.where(alarms.c.kind == kind)
    if before is not None:
        query = query.where(alarms.c.id < before)
    if limit is not None:
        query = query.limit(limit)
    return [dict(row._mapping) for row in conn.execute(query)]


def open_alarm_count(conn: Connection) -> int:
    """How many alarms are open. Raises nothing."""
    query = select(func.count()).select_from(alarms).where(alarms.c.cleared_at.is_(None))
    return int(conn.execute(query).scalar_one())


def alarm_is_open(conn: Connection, *, kind: str, peer: str) -> bool:
    """Whether an alarm of ``kind`` for ``peer`` is open (any condition). Raises nothing."""
    query = select(alarms.c.id).where(
        alarms.c.kind == kind, alarms.c.peer == peer, alarms.c.cleared_at.is_(None)
    )
    return conn.execute(query.limit(1)).first() is not None


def clear_alarms(
    conn: Connection, *, kind: str, peer: str, now: str, condition: str | None = None
) -> int:
    """Clear, at ``now``, every open alarm of ``kind`` for ``peer`` (only the
    one of ``condition`` if given): the condition is over. Returns how many
    were open. Raises nothing."""
    query = update(alarms).where(
        alarms.c.kind == kind, alarms.c.peer == peer, alarms.c.cleared_at.is_(None)
    )
    if condition is not None:
        query = query.where(alarms.c.condition == condition[:MAX_CONDITION])
    return int(conn.execute(query.values(cleared_at=now)).rowcount)
