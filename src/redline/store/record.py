"""The cosigned record's tables: what the witness has found of received
statements in their senders' logs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, update

from redline.store.schema import statements

__all__ = ["mark_found_in_peer_log"]

_MARK_FOUND = (
    update(statements)
    .where(statements.c.id == bindparam("b_id"))
    .values(
        leaf_index=bindparam("b_index"),
        leaf_record=bindparam("b_record"),
        proof_checkpoint_id=bindparam("b_cp"),
    )
)


def mark_found_in_peer_log(
    conn: Connection, found: Sequence[Mapping[str, Any]], *, checkpoint_id: int
) -> None:
    """Record received statements as found in their sender's log: each of
    ``found`` gives ``id``, ``index`` and ``record``; ``checkpoint_id`` is the
    sender's checkpoint whose tree holds them."""
    if found:
        conn.execute(
            _MARK_FOUND,
            [
                {
                    "b_id": f["id"],
                    "b_index": f["index"],
                    "b_record": f["record"],
                    "b_cp": checkpoint_id,
                }
                for f in found
            ],
        )
