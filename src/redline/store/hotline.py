"""Reading the hotline's signed statements back out of the ``statements`` table.

Hotline state has no tables of its own: it is folded from these statements
(:mod:`redline.core.hotline.record`).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, and_, select

from redline.core.statement import MAIN_STREAM
from redline.store.schema import statements

__all__ = ["acknowledged_times", "statement_wires"]


def statement_wires(conn: Connection, kinds: Iterable[str]) -> list[bytes]:
    """The wire bytes of every stored main-stream statement of ``kinds``, both directions,
    oldest signed time first."""
    rows = conn.execute(
        select(statements.c.wire)
        .where(and_(statements.c.kind.in_(list(kinds)), statements.c.stream == MAIN_STREAM))
        .order_by(statements.c.time, statements.c.id)
    )
    return [bytes(row.wire) for row in rows]


def acknowledged_times(conn: Connection, peer: str, kinds: Iterable[str]) -> dict[str, str]:
    """Map the id of each statement of ``kinds`` sent to ``peer`` that ``peer`` has
    receipted to the signed time of that receipt (statement time format)."""
    receipt = statements.alias("receipt")
    rows = conn.execute(
        select(statements.c.id, receipt.c.time)
        .join(receipt, receipt.c.id == statements.c.receipt_id)
        .where(
            and_(
                statements.c.direction == "out",
                statements.c.peer == peer,
                statements.c.kind.in_(list(kinds)),
            )
        )
    )
    return {row.id: row.time for row in rows}
