"""Link tests sent and received, and each link's own schedule (core.linktests).

One row per test statement, keyed by its id, written in the transaction that
stores the statement; its answer and, past its deadline, its being missed are
updates of that row. Reads are ranges of the two indexes: the open tests by
deadline, and one link's tests of one kind by time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, update

from redline.core.hotline.lifecycle import LinkTestState
from redline.store.schema import link_test_schedules, link_tests, statements

__all__ = [
    "Overdue",
    "Schedule",
    "add_test",
    "answer_test",
    "find_tests",
    "get_test",
    "last_day",
    "last_sent",
    "mark_missed",
    "overdue",
    "owed_replies",
    "page",
    "recent",
    "schedule",
    "schedules",
    "set_day",
    "set_schedule",
]

_SENT = LinkTestState.SENT.value


@dataclass(frozen=True, slots=True)
class Overdue:
    """An unanswered test past its deadline, and whether the peer gave a receipt for it."""

    id: str
    peer: str
    kind: str
    direction: str
    sent_at: str
    due_at: str
    delivered: bool


@dataclass(frozen=True, slots=True)
class Schedule:
    """A link's own schedule; None where the node's setting applies."""

    peer: str
    operator_test_time: str | None
    zone: str | None
    heartbeat_interval_seconds: int | None


def add_test(
    conn: Connection,
    *,
    id: str,
    peer: str,
    kind: str,
    direction: str,
    sent_at: str,
    due_at: str,
) -> None:
    """Record a test statement just stored, as sent. Raises SQLAlchemy's errors."""
    conn.execute(
        link_tests.insert().values(
            id=id,
            peer=peer,
            kind=kind,
            direction=direction,
            sent_at=sent_at,
            due_at=due_at,
            state=_SENT,
        )
    )


def set_day(conn: Connection, test_id: str, day: str) -> None:
    """Note the local day an operator test was sent for. Raises nothing."""
    conn.execute(update(link_tests).where(link_tests.c.id == test_id).values(day=day))


def answer_test(
    conn: Connection,
    *,
    test_id: str,
    peer: str,
    direction: str,
    kind: str,
    answered_at: str,
    answer_id: str,
) -> str | None:
    """Mark the test ``test_id`` (of ``kind``, with ``peer``, sent ``direction``)
    answered, if it is still waiting. Returns the state it was in (``sent``:
    it is answered now), or None if there is no such test. Raises nothing."""
    where = and_(
        link_tests.c.id == test_id,
        link_tests.c.peer == peer,
        link_tests.c.direction == direction,
        link_tests.c.kind == kind,
    )
    state = conn.execute(select(link_tests.c.state).where(where)).scalar_one_or_none()
    if state == _SENT:
        conn.execute(
            update(link_tests)
            .where(where, link_tests.c.state == _SENT)
            .values(
                state=LinkTestState.ANSWERED.value, answered_at=answered_at, answer_id=answer_id
            )
        )
    return None if state is None else str(state)


def overdue(conn: Connection, now: str, limit: int) -> list[Overdue]:
    """Up to ``limit`` tests still waiting at ``now`` past their deadline,
    earliest deadline first. Raises nothing."""
    query = (
        select(
            link_tests.c.id,
            link_tests.c.peer,
            link_tests.c.kind,
            link_tests.c.direction,
            link_tests.c.sent_at,
            link_tests.c.due_at,
            statements.c.delivered_at,
        )
        .join(statements, statements.c.id == link_tests.c.id)
        .where(link_tests.c.state == _SENT, link_tests.c.due_at <= now)
        .order_by(link_tests.c.due_at)
        .limit(limit)
    )
    return [
        Overdue(
            row.id,
            row.peer,
            row.kind,
            row.direction,
            row.sent_at,
            row.due_at,
            row.delivered_at is not None,
        )
        for row in conn.execute(query)
    ]


def mark_missed(conn: Connection, test_id: str, missed: str | None) -> None:
    """Settle a waiting test as unanswered, ``missed`` saying why. Raises nothing."""
    conn.execute(
        update(link_tests)
        .where(link_tests.c.id == test_id, link_tests.c.state == _SENT)
        .values(state=LinkTestState.UNANSWERED.value, missed=missed)
    )


def owed_replies(conn: Connection, kind: str, limit: int) -> list[tuple[str, bytes]]:
    """Tests of ``kind`` received and not answered yet, oldest first: (peer,
    the test's wire bytes). Raises nothing."""
    query = (
        select(link_tests.c.peer, statements.c.wire)
        .join(statements, statements.c.id == link_tests.c.id)
        .where(
            link_tests.c.direction == "in",
            link_tests.c.kind == kind,
            link_tests.c.state == _SENT,
        )
        .order_by(link_tests.c.sent_at)
        .limit(limit)
    )
    return [(row.peer, bytes(row.wire)) for row in conn.execute(query)]


def last_sent(conn: Connection, peer: str, kind: str) -> str | None:
    """When this node last sent ``peer`` a test of ``kind``. Raises nothing."""
    query = select(func.max(link_tests.c.sent_at)).where(
        link_tests.c.peer == peer, link_tests.c.kind == kind, link_tests.c.direction == "out"
    )
    value = conn.execute(query).scalar_one_or_none()
    return None if value is None else str(value)


def last_day(conn: Connection, peer: str, kind: str) -> str | None:
    """The latest local day a test of ``kind`` was sent to ``peer`` for. Raises nothing."""
    query = select(func.max(link_tests.c.day)).where(
        link_tests.c.peer == peer, link_tests.c.kind == kind, link_tests.c.direction == "out"
    )
    value = conn.execute(query).scalar_one_or_none()
    return None if value is None else str(value)


def recent(
    conn: Connection, *, peer: str, kind: str, direction: str, limit: int
) -> list[dict[str, Any]]:
    """The latest ``limit`` tests of ``kind`` with ``peer`` sent ``direction``,
    newest first. Raises nothing."""
    query = (
        select(link_tests)
        .where(
            link_tests.c.peer == peer,
            link_tests.c.kind == kind,
            link_tests.c.direction == direction,
        )
        .order_by(link_tests.c.sent_at.desc(), link_tests.c.id.desc())
        .limit(limit)
    )
    return [dict(row._mapping) for row in conn.execute(query)]


def page(
    conn: Connection,
    *,
    peer: str | None,
    kind: str | None,
    direction: str | None,
    pending: bool,
    after: tuple[str, str] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """One page of tests, newest first by (sent_at, id), after the key
    ``after`` (the last row of the page before). Raises nothing."""
    query = select(link_tests).order_by(link_tests.c.sent_at.desc(), link_tests.c.id.desc())
    if peer is not None:
        query = query.where(link_tests.c.peer == peer)
    if kind is not None:
        query = query.where(link_tests.c.kind == kind)
    if direction is not None:
        query = query.where(link_tests.c.direction == direction)
    if pending:
        query = query.where(link_tests.c.state == _SENT)
    if after is not None:
        at, last_id = after
        query = query.where(
            or_(
                link_tests.c.sent_at < at,
                and_(link_tests.c.sent_at == at, link_tests.c.id < last_id),
            )
        )
    return [dict(row._mapping) for row in conn.execute(query.limit(limit))]


def find_tests(conn: Connection, *, prefix: str, kind: str, direction: str) -> list[str]:
    """The ids of tests of ``kind`` sent ``direction`` that start with ``prefix``
    (at most two: enough to tell one from many). Raises nothing."""
    query = (
        select(link_tests.c.id)
        .where(
            link_tests.c.id >= prefix,
            link_tests.c.id < prefix + "g",
            link_tests.c.kind == kind,
            link_tests.c.direction == direction,
        )
        .limit(2)
    )
    return [str(v) for v in conn.execute(query).scalars()]


def get_test(conn: Connection, test_id: str) -> dict[str, Any] | None:
    """The test ``test_id`` as stored, or None if there is none. Raises nothing."""
    row = conn.execute(select(link_tests).where(link_tests.c.id == test_id)).first()
    return None if row is None else dict(row._mapping)


def schedule(conn: Connection, peer: str) -> Schedule | None:
    """``peer``'s own schedule, if one was set. Raises nothing."""
    row = conn.execute(
        select(link_test_schedules).where(link_test_schedules.c.peer == peer)
    ).first()
    return None if row is None else _schedule(row._mapping)


def schedules(conn: Connection) -> dict[str, Schedule]:
    """Every link's own schedule, by peer. Raises nothing."""
    return {row.peer: _schedule(row._mapping) for row in conn.execute(select(link_test_schedules))}


def _schedule(row: Any) -> Schedule:
    return Schedule(
        peer=row["peer"],
        operator_test_time=row["operator_test_time"],
        zone=row["zone"],
        heartbeat_interval_seconds=row["heartbeat_interval_seconds"],
    )


def set_schedule(conn: Connection, new: Schedule, now: str) -> None:
    """Replace ``new.peer``'s own schedule. Raises SQLAlchemy's errors."""
    values = {
        "operator_test_time": new.operator_test_time,
        "zone": new.zone,
        "heartbeat_interval_seconds": new.heartbeat_interval_seconds,
        "updated_at": now,
    }
    done = conn.execute(
        update(link_test_schedules).where(link_test_schedules.c.peer == new.peer).values(values)
    )
    if not done.rowcount:
        conn.execute(link_test_schedules.insert().values(peer=new.peer, **values))
