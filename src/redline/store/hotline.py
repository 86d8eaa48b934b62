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
    hotline_tallies,
    hotline_threads,
    statements,
)

__all__ = [
    "Tally",
    "acknowledged_times",
    "closed_tallies",
    "global_wires",
    "Indexed",
    "ThreadState",
    "index_statements",
    "latest_contact_threads",
    "lock_projection",
    "mark_all_stale",
    "open_threads",
    "recent_refused",
    "save_refusals",
    "recent_threads",
    "save_threads",
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


#: PostgreSQL advisory lock key for the hotline projection (any fixed number).
_PROJECTION_LOCK = 0x7265646C  # "redl"


def lock_projection(conn: Connection) -> None:
    """Serialise the transactions that read and rewrite the projection, until
    this one ends: PostgreSQL's writers run concurrently (a send and a receive
    touching one thread would each miss the other's statement); SQLite already
    has one writer."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(_PROJECTION_LOCK)))


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


@dataclass(frozen=True, slots=True)
class Indexed:
    """A hotline statement's place in the projection: its thread (None: global) and
    the item names it brings into that thread."""

    statement_id: str
    thread: str | None
    time: str
    names: tuple[str, ...] = ()


def index_statements(conn: Connection, indexed: Sequence[Indexed]) -> None:
    """Record which thread each statement belongs to, and each new item name's thread."""
    if not indexed:
        return
    conn.execute(
        insert(hotline_statements),
        [{"statement_id": i.statement_id, "thread": i.thread, "time": i.time} for i in indexed],
    )
    fresh: dict[str, str] = {}
    for i in indexed:
        if i.thread is not None:
            for name in i.names:
                fresh.setdefault(name, i.thread)
    known = threads_of(conn, fresh)
    rows = [{"name": n, "thread": t} for n, t in fresh.items() if n not in known]
    if rows:
        conn.execute(insert(hotline_names), rows)


def _wires(conn: Connection, condition: object) -> list[bytes]:
    rows = conn.execute(
        select(statements.c.wire)
        .join(hotline_statements, hotline_statements.c.statement_id == statements.c.id)
        .where(condition)  # type: ignore[arg-type]
        .order_by(hotline_statements.c.time, statements.c.id)
    )
    return [bytes(row.wire) for row in rows]


def thread_wires(conn: Connection, threads: Collection[str]) -> dict[str, list[bytes]]:
    """The wire bytes of every statement of each of ``threads``, oldest first."""
    out: dict[str, list[bytes]] = {t: [] for t in threads}
    if not threads:
        return out
    rows = conn.execute(
        select(hotline_statements.c.thread, statements.c.wire)
        .join(hotline_statements, hotline_statements.c.statement_id == statements.c.id)
        .where(hotline_statements.c.thread.in_(list(threads)))
        .order_by(hotline_statements.c.time, statements.c.id)
    )
    for row in rows:
        out[row.thread].append(bytes(row.wire))
    return out


def global_wires(conn: Connection) -> list[bytes]:
    """The wire bytes of every global statement (directory, counterpart, mechanism)."""
    return _wires(conn, hotline_statements.c.thread.is_(None))


def threads_after(conn: Connection, time: str) -> list[str]:
    """Threads whose last statement is signed at or after ``time`` (the fold orders
    statements of one time by sender, so one at the same time may come after)."""
    rows = conn.execute(select(hotline_threads.c.thread).where(hotline_threads.c.last_time >= time))
    return [row.thread for row in rows]


def mark_all_stale(conn: Connection) -> None:
    """Mark every thread to be folded again (what every fold reads has changed)."""
    conn.execute(update(hotline_threads).values(stale=True))


def stale_threads(conn: Connection) -> list[str]:
    """Threads indexed by a migration and not yet folded."""
    rows = conn.execute(select(hotline_threads.c.thread).where(hotline_threads.c.stale))
    return [row.thread for row in rows]


@dataclass(frozen=True, slots=True)
class ThreadState:
    """What is kept of one thread: its last time, its items, and which of its
    statements the fold refused (id to reason)."""

    thread: str
    last_time: str
    items: Sequence[ItemState]
    refused: Mapping[str, str]
    statement_ids: Collection[str]


def save_threads(conn: Connection, states: Sequence[ThreadState]) -> None:
    """Replace what is kept of each thread in ``states``."""
    if not states:
        return
    names = [t.thread for t in states]
    existing = {
        row.thread
        for row in conn.execute(
            select(hotline_threads.c.thread).where(hotline_threads.c.thread.in_(names))
        )
    }
    new = [t for t in states if t.thread not in existing]
    if new:
        conn.execute(
            insert(hotline_threads),
            [
                {
                    "thread": t.thread,
                    "kind": t.thread.partition(":")[0],
                    "last_time": t.last_time,
                    "stale": False,
                }
                for t in new
            ],
        )
    for t in states:
        if t.thread in existing:
            conn.execute(
                update(hotline_threads)
                .where(hotline_threads.c.thread == t.thread)
                .values(last_time=t.last_time, stale=False)
            )
    counts: dict[tuple[str, str, str], int] = {}
    for row in conn.execute(
        select(hotline_items.c.to_party, hotline_items.c.kind, hotline_items.c.state).where(
            and_(hotline_items.c.thread.in_(names), _CLOSED)
        )
    ):
        key = (row.to_party, row.kind, row.state)
        counts[key] = counts.get(key, 0) - 1
    for t in states:
        for i in t.items:
            if not i.open and i.kind.value in _TALLIED:
                key = (i.to_party, i.kind.value, i.state)
                counts[key] = counts.get(key, 0) + 1
    _add_tallies(conn, {key: n for key, n in counts.items() if n})
    conn.execute(delete(hotline_items).where(hotline_items.c.thread.in_(names)))
    items = [
        {
            "name": i.name,
            "thread": t.thread,
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
        for t in states
        for i in t.items
    ]
    if items:
        conn.execute(insert(hotline_items), items)
    refused: dict[str, str | None] = {}
    for t in states:
        refused.update({sid: t.refused.get(sid) for sid in t.statement_ids})
    save_refusals(conn, refused)


def save_refusals(conn: Connection, refused: Mapping[str, str | None]) -> None:
    """Set or clear the refusal of statements (id to reason, or None); only the rows
    whose refusal changes are written."""
    if not refused:
        return
    was = conn.execute(
        select(hotline_statements.c.statement_id, hotline_statements.c.refused).where(
            hotline_statements.c.statement_id.in_(list(refused))
        )
    )
    for row in was:
        reason = refused[row.statement_id]
        if reason != row.refused:
            conn.execute(
                update(hotline_statements)
                .where(hotline_statements.c.statement_id == row.statement_id)
                .values(refused=reason)
            )


_TALLIED = ("request", "call")
_CLOSED = and_(~hotline_items.c.open, hotline_items.c.kind.in_(_TALLIED))


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
    """The ``limit`` threads of ``kinds`` acted on last, newest first."""
    found: list[tuple[str, str]] = []
    for kind in kinds:
        rows = conn.execute(
            select(hotline_threads.c.thread, hotline_threads.c.last_time)
            .where(hotline_threads.c.kind == kind)
            .order_by(hotline_threads.c.last_time.desc())
            .limit(limit)
        )
        found.extend((row.last_time, row.thread) for row in rows)
    return [thread for _t, thread in sorted(found, reverse=True)[:limit]]


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


def _add_tallies(conn: Connection, counts: Mapping[tuple[str, str, str], int]) -> None:
    if not counts:
        return
    existing = {
        (row.to_party, row.kind, row.state)
        for row in conn.execute(
            select(hotline_tallies.c.to_party, hotline_tallies.c.kind, hotline_tallies.c.state)
        )
    }
    for (to_party, kind, state), n in counts.items():
        if (to_party, kind, state) in existing:
            conn.execute(
                update(hotline_tallies)
                .where(
                    and_(
                        hotline_tallies.c.to_party == to_party,
                        hotline_tallies.c.kind == kind,
                        hotline_tallies.c.state == state,
                    )
                )
                .values(count=hotline_tallies.c.count + n)
            )
        else:
            conn.execute(
                insert(hotline_tallies).values(to_party=to_party, kind=kind, state=state, count=n)
            )


def closed_tallies(conn: Connection, *, exclude: Collection[str] = ()) -> list[Tally]:
    """Closed requests and calls outside the threads ``exclude``, counted by addressee,
    kind and state: the running counts, less the closed items of ``exclude``."""
    counts = {
        (row.to_party, row.kind, row.state): int(row.n)
        for row in conn.execute(
            select(
                hotline_tallies.c.to_party,
                hotline_tallies.c.kind,
                hotline_tallies.c.state,
                hotline_tallies.c.count.label("n"),
            )
        )
    }
    if exclude:
        for row in conn.execute(
            select(hotline_items.c.to_party, hotline_items.c.kind, hotline_items.c.state).where(
                and_(hotline_items.c.thread.in_(list(exclude)), _CLOSED)
            )
        ):
            counts[(row.to_party, row.kind, row.state)] -= 1
    return [Tally(p, kind, state, n) for (p, kind, state), n in sorted(counts.items()) if n]


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
