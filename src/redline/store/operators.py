"""Operators, their console sessions, named API keys, the audit trail and
failed sign-ins: the SQL behind :mod:`redline.service.operators`.

Secrets never reach these tables in the clear: passwords are argon2id hashes
(made by the service), session tokens and API keys are stored as SHA-256.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from redline.core.errors import Conflict
from redline.store import db
from redline.store.schema import api_keys, audit, login_failures, operator_sessions, operators

__all__ = [
    "ApiKeyRow",
    "OperatorRow",
    "SessionRow",
    "add_api_key",
    "add_audit",
    "add_operator",
    "add_session",
    "after_commit",
    "api_key",
    "api_key_labels",
    "audit_rows",
    "claim_totp_step",
    "delete_session",
    "failures",
    "get_operator",
    "get_session",
    "list_operators",
    "clear_failures",
    "set_failures",
    "touch_api_key_once",
    "touch_session",
    "update_operator",
]


@dataclass(frozen=True, slots=True)
class OperatorRow:
    name: str
    role: str
    offices: tuple[str, ...]
    password_hash: str
    totp_secret: str | None
    totp_required: bool
    lang: str
    created_at: str
    totp_last_step: int | None = None
    zone: str | None = None


@dataclass(frozen=True, slots=True)
class SessionRow:
    token_hash: str
    operator: str
    csrf: str
    created_at: str
    last_seen_at: str


@dataclass(frozen=True, slots=True)
class ApiKeyRow:
    key_hash: str
    operator: str
    label: str
    last_used_at: str | None = None


def _operator(row: Any) -> OperatorRow:
    return OperatorRow(
        name=row.name,
        role=row.role,
        offices=tuple(orjson.loads(row.offices)),
        password_hash=row.password_hash,
        totp_secret=row.totp_secret,
        totp_required=bool(row.totp_required),
        lang=row.lang,
        created_at=row.created_at,
        totp_last_step=None if row.totp_last_step is None else int(row.totp_last_step),
        zone=row.zone,
    )


def add_operator(
    conn: Connection,
    *,
    name: str,
    role: str,
    offices: list[str],
    password_hash: str,
    lang: str,
    now: str,
    zone: str | None = None,
) -> None:
    """Add an operator. Raises :class:`Conflict` (field ``name``) if one has the name."""
    try:
        conn.execute(
            insert(operators).values(
                name=name,
                role=role,
                offices=orjson.dumps(offices).decode(),
                password_hash=password_hash,
                totp_secret=None,
                totp_required=False,
                lang=lang,
                created_at=now,
                zone=zone,
            )
        )
    except IntegrityError as exc:
        raise Conflict(f"operator {name!r} exists already", field="name") from exc


def update_operator(conn: Connection, name: str, **values: Any) -> int:
    """Change columns of operator ``name``; returns how many rows changed (0 or 1)."""
    if "offices" in values:
        values["offices"] = orjson.dumps(list(values["offices"])).decode()
    return int(
        conn.execute(update(operators).where(operators.c.name == name).values(**values)).rowcount
    )


def get_operator(conn: Connection, name: str) -> OperatorRow | None:
    row = conn.execute(select(operators).where(operators.c.name == name)).first()
    return None if row is None else _operator(row)


def list_operators(conn: Connection) -> list[OperatorRow]:
    return [_operator(r) for r in conn.execute(select(operators).order_by(operators.c.name))]


def add_session(conn: Connection, *, token_hash: str, operator: str, csrf: str, now: str) -> None:
    conn.execute(
        insert(operator_sessions).values(
            token_hash=token_hash, operator=operator, csrf=csrf, created_at=now, last_seen_at=now
        )
    )


def get_session(conn: Connection, token_hash: str) -> SessionRow | None:
    row = conn.execute(
        select(operator_sessions).where(operator_sessions.c.token_hash == token_hash)
    ).first()
    if row is None:
        return None
    return SessionRow(
        token_hash=row.token_hash,
        operator=row.operator,
        csrf=row.csrf,
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
    )


def touch_session(conn: Connection, token_hash: str, now: str) -> None:
    conn.execute(
        update(operator_sessions)
        .where(operator_sessions.c.token_hash == token_hash)
        .values(last_seen_at=now)
    )


def delete_session(conn: Connection, token_hash: str) -> None:
    conn.execute(delete(operator_sessions).where(operator_sessions.c.token_hash == token_hash))


def add_api_key(conn: Connection, *, key_hash: str, operator: str, label: str, now: str) -> None:
    """Add an API key. Raises :class:`Conflict` (field ``label``) if the operator
    has a key with that label."""
    try:
        conn.execute(
            insert(api_keys).values(
                key_hash=key_hash, operator=operator, label=label, created_at=now
            )
        )
    except IntegrityError as exc:
        raise Conflict(f"{operator!r} has a key labelled {label!r} already", field="label") from exc


def api_key(conn: Connection, key_hash: str) -> ApiKeyRow | None:
    row = conn.execute(select(api_keys).where(api_keys.c.key_hash == key_hash)).first()
    if row is None:
        return None
    return ApiKeyRow(row.key_hash, row.operator, row.label, row.last_used_at)


def api_key_labels(conn: Connection, operator: str) -> list[str]:
    query = select(api_keys.c.label).where(api_keys.c.operator == operator)
    return [str(label) for label in conn.scalars(query.order_by(api_keys.c.label))]


def touch_api_key_once(conn: Connection, key_hash: str, *, now: str, before: str) -> bool:
    """Set the key's ``last_used_at`` to ``now`` unless it is ``before`` or later
    already; returns whether it was set (so at most one request per period
    writes, however many race). Times are RFC 3339 UTC of one width, so they
    compare as text."""
    done = conn.execute(
        update(api_keys)
        .where(
            api_keys.c.key_hash == key_hash,
            or_(api_keys.c.last_used_at.is_(None), api_keys.c.last_used_at < before),
        )
        .values(last_used_at=now)
    ).rowcount
    return bool(done)


def claim_totp_step(conn: Connection, name: str, step: int) -> bool:
    """Record that operator ``name`` used the TOTP code of time ``step``, unless a
    sign-in used that step or a later one already; returns whether it was
    recorded (a conditional update: of two sign-ins racing with one code, one
    wins)."""
    done = conn.execute(
        update(operators)
        .where(
            operators.c.name == name,
            or_(operators.c.totp_last_step.is_(None), operators.c.totp_last_step < step),
        )
        .values(totp_last_step=step)
    ).rowcount
    return bool(done)


def add_audit(
    conn: Connection, *, at: str, operator: str | None, action: str, target: str, client: str
) -> None:
    conn.execute(
        insert(audit).values(
            at=at, operator=operator, action=action, target=target[:1000], client=client[:64]
        )
    )


def audit_rows(conn: Connection, limit: int) -> list[dict[str, Any]]:
    """The latest ``limit`` audit rows, newest first."""
    query = select(audit).order_by(audit.c.id.desc()).limit(limit)
    return [dict(r._mapping) for r in conn.execute(query)]


def failures(conn: Connection, key: str) -> tuple[int, str | None]:
    """How many sign-ins under ``key`` failed in a row, and until when the next waits."""
    row = conn.execute(select(login_failures).where(login_failures.c.key == key)).first()
    return (0, None) if row is None else (int(row.failures), str(row.blocked_until))


def set_failures(conn: Connection, key: str, *, failures: int, blocked_until: str) -> None:
    """Record ``failures`` failed sign-ins in a row under ``key``, the next not before
    ``blocked_until``."""
    done = conn.execute(
        update(login_failures)
        .where(login_failures.c.key == key)
        .values(failures=failures, blocked_until=blocked_until)
    ).rowcount
    if not done:
        conn.execute(
            insert(login_failures).values(key=key, failures=failures, blocked_until=blocked_until)
        )


def clear_failures(conn: Connection, key: str) -> None:
    conn.execute(delete(login_failures).where(login_failures.c.key == key))


def after_commit(conn: Connection, callback: Callable[[], None]) -> None:
    """Call ``callback`` once the transaction of ``conn`` has committed (never if
    it rolls back): what is announced is then already readable
    (:func:`redline.store.db.after_commit`). Raises nothing; ``callback`` must
    not raise."""
    db.after_commit(conn, callback)
