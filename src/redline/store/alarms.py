"""Alarms raised for the operator: equivocation, statements never delivered."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, insert, select

from redline.store.schema import alarms

__all__ = ["open_alarms", "raise_alarm"]


def raise_alarm(
    conn: Connection, *, kind: str, peer: str, message: str, now: str, evidence: str | None = None
) -> None:
    """Record an alarm for the operator."""
    conn.execute(
        insert(alarms).values(
            kind=kind, peer=peer, message=message, evidence=evidence, raised_at=now
        )
    )


def open_alarms(conn: Connection) -> list[dict[str, Any]]:
    """Alarms not yet cleared, newest first."""
    rows = conn.execute(
        select(alarms).where(alarms.c.cleared_at.is_(None)).order_by(alarms.c.id.desc())
    )
    return [dict(row._mapping) for row in rows]
