"""Queries for message handling: link terms, seen receipts, escalation, notifications.

Every function takes an open connection; the service decides what one
transaction holds. Times are stored in the statement time format.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import Connection, and_, delete, insert, select, update

from redline.store.schema import (
    escalation_policies,
    escalation_steps,
    link_terms,
    message_seen,
    notifications,
    notify_attempts,
    notify_recipients,
)

__all__ = [
    "accept_terms",
    "add_notification",
    "add_recipient",
    "agreed_terms",
    "due_notifications",
    "escalation_policy",
    "escalation_policy_rows",
    "insert_terms",
    "notification_attempts",
    "notification_rows",
    "note_attempt",
    "recipients",
    "remove_recipient",
    "record_seen",
    "record_step",
    "seen_of",
    "set_escalation_policy",
    "steps_taken",
    "terms_row",
    "terms_rows",
]


# -- link terms -------------------------------------------------------------------


def insert_terms(
    conn: Connection,
    *,
    terms_id: str,
    peer: str,
    proposer: str,
    deadlines: dict[str, int],
    time: str,
) -> None:
    """Record a ``link-terms`` proposal (either way). Raises SQLAlchemy's errors."""
    conn.execute(
        insert(link_terms).values(
            id=terms_id,
            peer=peer,
            proposer=proposer,
            deadlines=orjson.dumps(deadlines).decode(),
            time=time,
        )
    )


def terms_row(conn: Connection, terms_id: str) -> Any:
    """The proposal ``terms_id``, or None."""
    return conn.execute(select(link_terms).where(link_terms.c.id == terms_id)).first()


def accept_terms(conn: Connection, terms_id: str, *, accept_id: str, accepted_at: str) -> None:
    """Record the acceptance of proposal ``terms_id``."""
    conn.execute(
        update(link_terms)
        .where(link_terms.c.id == terms_id)
        .values(accept_id=accept_id, accepted_at=accepted_at)
    )


def agreed_terms(
    conn: Connection, peer: str | None = None
) -> dict[str, list[tuple[str, str, dict[str, int]]]]:
    """Accepted terms by peer: ``(terms id, accepted at, {precedence: seconds})``,
    oldest acceptance first; only ``peer``'s when given."""
    query = select(link_terms).where(link_terms.c.accepted_at.is_not(None))
    if peer is not None:
        query = query.where(link_terms.c.peer == peer)
    out: dict[str, list[tuple[str, str, dict[str, int]]]] = {}
    for row in conn.execute(query.order_by(link_terms.c.accepted_at)):
        out.setdefault(str(row.peer), []).append(
            (str(row.id), str(row.accepted_at), orjson.loads(row.deadlines))
        )
    return out


def terms_rows(conn: Connection, peer: str | None = None) -> list[dict[str, Any]]:
    """Every proposal (accepted or not), newest first; only ``peer``'s when given."""
    query = select(link_terms).order_by(link_terms.c.time.desc(), link_terms.c.id)
    if peer is not None:
        query = query.where(link_terms.c.peer == peer)
    return [
        {**dict(row._mapping), "deadlines": orjson.loads(row.deadlines)}
        for row in conn.execute(query)
    ]


# -- seen -------------------------------------------------------------------------


def record_seen(conn: Connection, message_id: str, *, seen_id: str, time: str) -> None:
    """Record the ``seen`` statement of a message."""
    conn.execute(insert(message_seen).values(message_id=message_id, seen_id=seen_id, time=time))


def seen_of(conn: Connection, message_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
    """``{message id: (seen statement id, its time)}`` for those seen."""
    if not message_ids:
        return {}
    rows = conn.execute(
        select(message_seen).where(message_seen.c.message_id.in_(list(message_ids)))
    )
    return {str(r.message_id): (str(r.seen_id), str(r.time)) for r in rows}


# -- escalation -------------------------------------------------------------------


def escalation_policy(conn: Connection, peer: str, precedence: str) -> list[Any] | None:
    """The steps (JSON) set for ``peer`` and ``precedence``, or None (the default)."""
    row = conn.execute(
        select(escalation_policies.c.steps).where(
            and_(escalation_policies.c.peer == peer, escalation_policies.c.precedence == precedence)
        )
    ).first()
    return None if row is None else list(orjson.loads(row.steps))


def escalation_policy_rows(conn: Connection, peer: str) -> dict[str, dict[str, Any]]:
    """``{precedence: {steps, updated_at, updated_by}}`` set for ``peer``."""
    rows = conn.execute(select(escalation_policies).where(escalation_policies.c.peer == peer))
    return {
        str(r.precedence): {
            "steps": orjson.loads(r.steps),
            "updated_at": r.updated_at,
            "updated_by": r.updated_by,
        }
        for r in rows
    }


def set_escalation_policy(
    conn: Connection,
    *,
    peer: str,
    precedence: str,
    steps: list[dict[str, Any]] | None,
    now: str,
    by: str | None,
) -> None:
    """Set (or with ``steps`` None, remove: back to the default) a policy."""
    conn.execute(
        delete(escalation_policies).where(
            and_(escalation_policies.c.peer == peer, escalation_policies.c.precedence == precedence)
        )
    )
    if steps is not None:
        conn.execute(
            insert(escalation_policies).values(
                peer=peer,
                precedence=precedence,
                steps=orjson.dumps(steps).decode(),
                updated_at=now,
                updated_by=by,
            )
        )


def steps_taken(
    conn: Connection, message_ids: Sequence[str] | None = None
) -> dict[str, list[dict[str, Any]]]:
    """``{message id: [step rows, in order]}``; only those messages when given."""
    query = select(escalation_steps).order_by(escalation_steps.c.at, escalation_steps.c.step)
    if message_ids is not None:
        if not message_ids:
            return {}
        query = query.where(escalation_steps.c.message_id.in_(list(message_ids)))
    out: dict[str, list[dict[str, Any]]] = {}
    for row in conn.execute(query):
        out.setdefault(str(row.message_id), []).append(dict(row._mapping))
    return out


def record_step(
    conn: Connection,
    *,
    message_id: str,
    step: int,
    action: str,
    at: str,
    detail: str,
    statement_id: str | None = None,
) -> None:
    """Record that step ``step`` of a message's policy was taken."""
    conn.execute(
        insert(escalation_steps).values(
            message_id=message_id,
            step=step,
            action=action,
            at=at,
            detail=detail,
            statement_id=statement_id,
        )
    )


# -- notifications ----------------------------------------------------------------


def add_recipient(
    conn: Connection, *, name: str, channel: str, address: str, duty: bool, now: str
) -> None:
    """Add (or replace) a notification recipient."""
    conn.execute(delete(notify_recipients).where(notify_recipients.c.name == name))
    conn.execute(
        insert(notify_recipients).values(
            name=name, channel=channel, address=address, duty=duty, created_at=now
        )
    )


def remove_recipient(conn: Connection, name: str) -> bool:
    """Remove a recipient; whether there was one."""
    return bool(
        conn.execute(delete(notify_recipients).where(notify_recipients.c.name == name)).rowcount
    )


def recipients(conn: Connection) -> list[dict[str, Any]]:
    """Every recipient, by name."""
    rows = conn.execute(select(notify_recipients).order_by(notify_recipients.c.name))
    return [dict(r._mapping) for r in rows]


def add_notification(
    conn: Connection,
    *,
    recipient: str,
    channel: str,
    address: str,
    subject: str,
    payload: dict[str, Any],
    now: str,
) -> int:
    """Queue a notification, due at once; returns its id."""
    result = conn.execute(
        insert(notifications).values(
            created_at=now,
            recipient=recipient,
            channel=channel,
            address=address,
            subject=subject,
            payload=orjson.dumps(payload).decode(),
            state="pending",
            attempts=0,
            next_at=now,
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def due_notifications(conn: Connection, now: str, limit: int) -> list[Any]:
    """Pending notifications whose next attempt is due, oldest first."""
    return list(
        conn.execute(
            select(notifications)
            .where(and_(notifications.c.state == "pending", notifications.c.next_at <= now))
            .order_by(notifications.c.next_at, notifications.c.id)
            .limit(limit)
        )
    )


def note_attempt(
    conn: Connection,
    *,
    notification_id: int,
    at: str,
    channel: str,
    recipient: str,
    error: str | None,
    next_at: str | None,
) -> None:
    """Record one attempt. ``error`` None: sent. Otherwise pending again at
    ``next_at``, or failed for good when ``next_at`` is None."""
    outcome = "sent" if error is None else ("retry" if next_at is not None else "failed")
    conn.execute(
        insert(notify_attempts).values(
            notification_id=notification_id,
            at=at,
            channel=channel,
            recipient=recipient,
            outcome=outcome,
            error=error,
        )
    )
    row = conn.execute(
        select(notifications.c.attempts).where(notifications.c.id == notification_id)
    ).first()
    attempts = (0 if row is None else int(row.attempts)) + 1
    values: dict[str, Any] = {"attempts": attempts, "last_error": error}
    if error is None:
        values.update(state="sent", sent_at=at)
    elif next_at is None:
        values.update(state="failed")
    else:
        values.update(next_at=next_at)
    conn.execute(
        update(notifications).where(notifications.c.id == notification_id).values(**values)
    )


def notification_rows(conn: Connection, limit: int) -> list[dict[str, Any]]:
    """The latest notifications, newest first (without their payloads)."""
    rows = conn.execute(
        select(
            notifications.c.id,
            notifications.c.created_at,
            notifications.c.recipient,
            notifications.c.channel,
            notifications.c.subject,
            notifications.c.state,
            notifications.c.attempts,
            notifications.c.next_at,
            notifications.c.last_error,
            notifications.c.sent_at,
        )
        .order_by(notifications.c.id.desc())
        .limit(limit)
    )
    return [dict(r._mapping) for r in rows]


def notification_attempts(conn: Connection, limit: int) -> list[dict[str, Any]]:
    """The latest attempts, newest first."""
    rows = conn.execute(select(notify_attempts).order_by(notify_attempts.c.id.desc()).limit(limit))
    return [dict(r._mapping) for r in rows]
