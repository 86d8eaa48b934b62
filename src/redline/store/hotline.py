"""The hotline's tables: its signed statements, and the projection kept per thread.

Every hotline statement stays in ``statements`` (the record). The projection
(:mod:`redline.core.hotline.threads`) adds which thread each statement
belongs to, which thread each item name belongs to, and each item's state as
of its thread's last statement, so the service folds only the threads an act
concerns. None of these functions commits: they run inside the caller's
transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, and_, delete, func, insert, or_, select, update

from redline.core.hotline.threads import ItemState
from redline.core.statement import MAIN_STREAM, format_time
from redline.store.schema import (
    hotline_items,
    hotline_names,
    hotline_statements,
    hotline_threads,
    statements,
)

__all__ = [
    "Tally",
    "acknowledged_times",
    "closed_tallies",
    "global_wires",
    "index_statement",
    "latest_contact_threads",
    "open_threads",
    "recent_refused",
    "save_global_refusals",
    "recent_threads",
    "save_thread",
    "stale_threads",
    "statement_wires",
    "thread_wires",
    "threads_after",
    "threads_of",
]


def statement_wires(conn: Connection, kinds: Iterable[str]) -> list[bytes]:
    """The wire bytes of every stored main-stream statement of ``kinds``, both directions,
    oldest signed time first (the whole record: the reference fold and the timeline)."""
    rows = conn.execute(
        select(statements.c.wire)
        .where(and_(statements.c.kind.in_(list(kinds)), statements.c.stream == MAIN_STREAM))
        .order_by(statements.c.time, statements.c.id)
    )
    return [bytes(row.wire) for row in rows]


def acknowledged_times(conn: Connection, peer: str, ids: Collection[str]) -> dict[str, str]:
    """Map each of the statements ``ids`` sent to ``peer`` that ``peer`` has receipted
    to the signed time of that receipt (statement time format)."""
    if not ids:
        return {}
    receipt = statements.alias("receipt")
    rows = conn.execute(
        select(statements.c.id, receipt.c.time)
        .join(receipt, receipt.c.id == statements.c.receipt_id)
        .where(
            and_(
                statements.c.id.in_(list(ids)),
                statements.c.direction == "out",
                statements.c.peer == peer,
            )
        )
    )
    return {row.id: row.time for row in rows}


# -- the thread index ---------------------------------------------------------------


def threads_of(conn: Connection, names: Collection[str]) -> dict[str, str]:
    """Map each of ``names`` already known to its thread."""
    if not names:
        return {}
    rows = conn.execute(
        select(hotline_names.c.name, hotline_names.c.thread).where(
            hotline_names.c.name.in_(list(names))
        )
    )
    return {row.name: row.thread for row in rows}


def index_statement(
    conn: Connection, *, statement_id: str, thread: str | None, time: str, names: Iterable[str]
) -> None:
    """Record that ``statement_id`` belongs to ``thread`` (None: global) and that each
    of ``names`` not yet known belongs to it too."""
    conn.execute(
        insert(hotline_statements).values(statement_id=statement_id, thread=thread, time=time)
    )
    names = list(names)
    if thread is None or not names:
        return
    known = threads_of(conn, names)
    fresh = [{"name": n, "thread": thread} for n in names if n not in known]
    if fresh:
        conn.execute(insert(hotline_names), fresh)


def _wires(conn: Connection, condition: object) -> list[bytes]:
    rows = conn.execute(
        select(statements.c.wire)
        .join(hotline_statements, hotline_statements.c.statement_id == statements.c.id)
        .where(condition)  # type: ignore[arg-type]
        .order_by(hotline_statements.c.time, statements.c.id)
    )
    return [bytes(row.wire) for row in rows]


def thread_wires(conn: Connection, threads: Collection[str]) -> list[bytes]:
    """The wire bytes of every statement of ``threads``, oldest first."""
    if not threads:
        return []
    return _wires(conn, hotline_statements.c.thread.in_(list(threads)))


def global_wires(conn: Connection) -> list[bytes]:
    """The wire bytes of every global statement (directory, counterpart, mechanism)."""
    return _wires(conn, hotline_statements.c.thread.is_(None))


def threads_after(conn: Connection, time: str) -> list[str]:
    """Threads whose last statement is signed after ``time``."""
    rows = conn.execute(select(hotline_threads.c.thread).where(hotline_threads.c.last_time > time))
    return [row.thread for row in rows]


def stale_threads(conn: Connection) -> list[str]:
    """Threads indexed by a migration and not yet folded."""
    rows = conn.execute(select(hotline_threads.c.thread).where(hotline_threads.c.stale))
    return [row.thread for row in rows]


def save_thread(
    conn: Connection,
    thread: str,
    *,
    last_time: str,
    items: Sequence[ItemState],
    refused: Mapping[str, str],
    statement_ids: Collection[str],
) -> None:
    """Replace what is kept of ``thread``: its last time, its items, and which of its
    statements (``statement_ids``) the fold refused (``refused``: id to reason)."""
    done = conn.execute(
        update(hotline_threads)
        .where(hotline_threads.c.thread == thread)
        .values(last_time=last_time, stale=False)
    )
    if done.rowcount == 0:
        conn.execute(
            insert(hotline_threads).values(thread=thread, last_time=last_time, stale=False)
        )
    conn.execute(delete(hotline_items).where(hotline_items.c.thread == thread))
    if items:
        conn.execute(
            insert(hotline_items),
            [
                {
                    "name": i.name,
                    "thread": thread,
                    "kind": i.kind.value,
                    "from_party": i.from_party,
                    "to_party": i.to_party,
                    "from_office": i.from_office,
                    "to_office": i.to_office,
                    "state": i.state,
                    "open": i.open,
                    "due_at": format_time(i.due_at) if i.due_at else None,
                    "contact_at": format_time(i.contact_at) if i.contact_at else None,
                    "at": format_time(i.at),
                }
                for i in items
            ],
        )
    was = conn.execute(
        select(hotline_statements.c.statement_id, hotline_statements.c.refused).where(
            hotline_statements.c.statement_id.in_(list(statement_ids))
        )
    )
    for row in was:
        reason = refused.get(row.statement_id)
        if reason != row.refused:
            conn.execute(
                update(hotline_statements)
                .where(hotline_statements.c.statement_id == row.statement_id)
                .values(refused=reason)
            )


def save_global_refusals(conn: Connection, refused: Mapping[str, str | None]) -> None:
    """Set or clear the refusal of global statements (id to reason, or None)."""
    for sid, reason in refused.items():
        conn.execute(
            update(hotline_statements)
            .where(hotline_statements.c.statement_id == sid)
            .values(refused=reason)
        )


# -- what the board and the ticker read ---------------------------------------------------


def open_threads(
    conn: Connection, *, due_by: str | None = None, from_party: str | None = None
) -> list[str]:
    """Threads with an open item: all, or those of ``from_party`` due by ``due_by``."""
    query = select(hotline_items.c.thread).distinct().where(hotline_items.c.open)
    if due_by is not None:
        query = query.where(
            and_(hotline_items.c.due_at.is_not(None), hotline_items.c.due_at <= due_by)
        )
    if from_party is not None:
        query = query.where(hotline_items.c.from_party == from_party)
    return [row.thread for row in conn.execute(query)]


def recent_threads(conn: Connection, kinds: Collection[str], limit: int) -> list[str]:
    """The ``limit`` threads with items of ``kinds`` acted on last, newest first."""
    rows = conn.execute(
        select(hotline_threads.c.thread)
        .where(
            hotline_threads.c.thread.in_(
                select(hotline_items.c.thread).where(hotline_items.c.kind.in_(list(kinds)))
            )
        )
        .order_by(hotline_threads.c.last_time.desc(), hotline_threads.c.thread.desc())
        .limit(limit)
    )
    return [row.thread for row in rows]


def latest_contact_threads(conn: Connection, office_ids: Collection[str], now: str) -> set[str]:
    """The threads of every contact involving one of ``office_ids`` on the latest day
    with one, by or before ``now`` (the board breaks ties within a day)."""
    if not office_ids:
        return set()
    offices = list(office_ids)
    involved = and_(
        hotline_items.c.contact_at.is_not(None),
        hotline_items.c.contact_at <= now,
        or_(hotline_items.c.from_office.in_(offices), hotline_items.c.to_office.in_(offices)),
    )
    latest = conn.execute(select(func.max(hotline_items.c.contact_at)).where(involved)).scalar()
    if latest is None:
        return set()
    day = str(latest)[:10]  # the statement time format starts YYYY-MM-DD
    rows = conn.execute(
        select(hotline_items.c.thread).where(and_(involved, hotline_items.c.contact_at >= day))
    )
    return {row.thread for row in rows}


@dataclass(frozen=True, slots=True)
class Tally:
    """How many closed items of ``kind`` to ``to_party`` ended in ``state``."""

    to_party: str
    kind: str
    state: str
    count: int


def closed_tallies(conn: Connection, *, exclude: Collection[str] = ()) -> list[Tally]:
    """Closed requests and calls outside the threads ``exclude``, counted by addressee,
    kind and state."""
    condition = and_(~hotline_items.c.open, hotline_items.c.kind.in_(["request", "call"]))
    if exclude:
        condition = and_(condition, hotline_items.c.thread.not_in(list(exclude)))
    rows = conn.execute(
        select(
            hotline_items.c.to_party,
            hotline_items.c.kind,
            hotline_items.c.state,
            func.count().label("n"),
        )
        .where(condition)
        .group_by(hotline_items.c.to_party, hotline_items.c.kind, hotline_items.c.state)
    )
    return [Tally(row.to_party, row.kind, row.state, int(row.n)) for row in rows]


def recent_refused(conn: Connection, limit: int) -> list[tuple[bytes, str]]:
    """The wire bytes of the ``limit`` latest statements the fold refused, with why,
    newest first."""
    rows = conn.execute(
        select(statements.c.wire, hotline_statements.c.refused)
        .join(hotline_statements, hotline_statements.c.statement_id == statements.c.id)
        .where(hotline_statements.c.refused.is_not(None))
        .order_by(hotline_statements.c.time.desc())
        .limit(limit)
    )
    return [(bytes(row.wire), str(row.refused)) for row in rows]
