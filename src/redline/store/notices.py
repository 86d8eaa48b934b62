"""Queries on notices, translations and glossaries (docs/notices.md).

The statements are in ``statements``; these tables index them by what the
notice and translation views ask: notices by signed time, translations by the
statement they translate, glossaries per link with their acceptance.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, and_, insert, select, tuple_, update

from redline.core.statement import Statement
from redline.store.schema import glossaries, notices, statements, translations

__all__ = [
    "accept_glossary",
    "add_glossary",
    "add_notice",
    "add_translation",
    "agreed_glossary_wires",
    "glossary_row",
    "glossary_rows",
    "notice_ids",
    "notice_rows",
    "statement_ids",
    "statement_row",
    "translation_rows",
]

_NOTICE_COLUMNS = (
    statements.c.id,
    statements.c.direction,
    statements.c.peer,
    statements.c.sender,
    statements.c.time,
    statements.c.state,
    statements.c.wire,
)


def add_notice(conn: Connection, statement: Statement, *, peer: str, direction: str) -> None:
    """Index the notice ``statement`` (stored in the same transaction)."""
    conn.execute(
        insert(notices).values(
            statement_id=statement.id,
            peer=peer,
            direction=direction,
            type=str(statement.body["type"]),
            time=statement.time,
        )
    )


def notice_rows(
    conn: Connection,
    *,
    after: tuple[str, str] | None = None,
    limit: int | None = None,
    ids: Sequence[str] | None = None,
) -> list[Any]:
    """Notices (either way), oldest first by signed time then id, with their wire bytes.

    ``after`` (a row's ``(time, id)``) and ``limit`` read one page; ``ids``
    keeps only those.
    """
    condition = notices.c.statement_id == statements.c.id
    if after is not None:
        condition = and_(condition, tuple_(notices.c.time, notices.c.statement_id) > tuple_(*after))
    if ids is not None:
        condition = and_(condition, notices.c.statement_id.in_(list(ids)))
    query = (
        select(*_NOTICE_COLUMNS, notices.c.type)
        .select_from(notices.join(statements, condition))
        .order_by(notices.c.time, notices.c.statement_id)
    )
    if limit is not None:
        query = query.limit(limit)
    return list(conn.execute(query))


def notice_ids(conn: Connection, *, prefix: str, limit: int) -> list[str]:
    """Notice ids starting with ``prefix`` (at most ``limit``)."""
    query = (
        select(notices.c.statement_id)
        .where(notices.c.statement_id.startswith(prefix, autoescape=True))
        .order_by(notices.c.statement_id)
        .limit(limit)
    )
    return [str(row[0]) for row in conn.execute(query)]


def statement_ids(conn: Connection, *, prefix: str, limit: int) -> list[str]:
    """Ids of stored statements (either way) starting with ``prefix`` (at most ``limit``)."""
    query = (
        select(statements.c.id)
        .where(statements.c.id.startswith(prefix, autoescape=True))
        .order_by(statements.c.id)
        .limit(limit)
    )
    return [str(row[0]) for row in conn.execute(query)]


def statement_row(conn: Connection, statement_id: str) -> Any | None:
    """One stored statement (either way): id, direction, peer, sender, kind, time, wire."""
    query = select(*_NOTICE_COLUMNS, statements.c.kind).where(statements.c.id == statement_id)
    return conn.execute(query).first()


def add_translation(conn: Connection, statement: Statement) -> None:
    """Index the translation ``statement`` by the statement it translates."""
    conn.execute(
        insert(translations).values(
            statement_id=statement.id,
            original_id=str(statement.body["original"]),
            lang=str(statement.body["lang"]),
            method=str(statement.body["method"]),
            time=statement.time,
        )
    )


def translation_rows(conn: Connection, original_id: str) -> list[Any]:
    """The translations of ``original_id``, oldest first, with their wire bytes."""
    query = (
        select(*_NOTICE_COLUMNS)
        .select_from(translations.join(statements, translations.c.statement_id == statements.c.id))
        .where(translations.c.original_id == original_id)
        .order_by(translations.c.time, translations.c.statement_id)
    )
    return list(conn.execute(query))


def add_glossary(conn: Connection, statement: Statement, *, peer: str) -> None:
    """Index the glossary proposal ``statement`` on the link to ``peer``."""
    conn.execute(
        insert(glossaries).values(
            statement_id=statement.id,
            peer=peer,
            proposer=statement.sender,
            time=statement.time,
        )
    )


def glossary_row(conn: Connection, glossary_id: str) -> Any | None:
    """The glossary proposal ``glossary_id``: peer, proposer, acceptance."""
    query = select(glossaries).where(glossaries.c.statement_id == glossary_id)
    return conn.execute(query).first()


def accept_glossary(conn: Connection, glossary_id: str, accept: Statement) -> None:
    """Record that ``accept`` accepted the glossary ``glossary_id``."""
    conn.execute(
        update(glossaries)
        .where(glossaries.c.statement_id == glossary_id)
        .values(accept_id=accept.id, accepted_at=accept.time)
    )


def glossary_rows(conn: Connection, peer: str | None = None) -> list[Any]:
    """Glossary proposals (of one link, or all), oldest first, with their wire bytes."""
    query = (
        select(
            glossaries.c.statement_id,
            glossaries.c.peer,
            glossaries.c.proposer,
            glossaries.c.time,
            glossaries.c.accept_id,
            glossaries.c.accepted_at,
            statements.c.wire,
        )
        .select_from(glossaries.join(statements, glossaries.c.statement_id == statements.c.id))
        .order_by(glossaries.c.time, glossaries.c.statement_id)
    )
    if peer is not None:
        query = query.where(glossaries.c.peer == peer)
    return list(conn.execute(query))


def agreed_glossary_wires(conn: Connection, peer: str) -> list[bytes]:
    """The wire bytes of every accepted glossary proposal on the link to ``peer``."""
    query = (
        select(statements.c.wire)
        .select_from(glossaries.join(statements, glossaries.c.statement_id == statements.c.id))
        .where(glossaries.c.peer == peer, glossaries.c.accept_id.is_not(None))
        .order_by(glossaries.c.time, glossaries.c.statement_id)
    )
    return [bytes(row[0]) for row in conn.execute(query)]
