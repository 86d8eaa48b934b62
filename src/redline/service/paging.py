"""Paged listings: limits, opaque cursors, and the listings of a node.

Every listing the operator API serves is read a page at a time by keyset:
the cursor is the last row's sort key, so the next page is a range of an
index from there, never an OFFSET over a big table. A cursor is opaque to
the caller (URL-safe base64 of a small JSON array) and checked on the way
back in: a cursor that is not one of ours is :class:`InvalidInput` naming
the field ``cursor``.

:class:`Listings` is part of :class:`~redline.service.node.NodeService`,
which provides the store.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any

import orjson

from redline.core.errors import InvalidInput
from redline.store import alarms as alarm_store
from redline.store import outbox as outbox_store
from redline.store import statements as statement_store
from redline.store.db import Store

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_CURSOR",
    "MAX_LIMIT",
    "Listings",
    "check_limit",
    "decode_cursor",
    "encode_cursor",
]

#: Rows in a page when the caller does not say.
DEFAULT_LIMIT = 100
#: The most rows one page holds.
MAX_LIMIT = 1000
#: The longest cursor accepted (ours are far shorter).
MAX_CURSOR = 400

Key = tuple[str | int, ...]


def check_limit(limit: int) -> int:
    """``limit`` if it is 1..:data:`MAX_LIMIT`.

    Raises :class:`InvalidInput` (field ``limit``) otherwise."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"must be a whole number from 1 to {MAX_LIMIT}", field="limit")
    return limit


def encode_cursor(key: Sequence[str | int]) -> str:
    """The opaque cursor for a row's sort key. Raises nothing."""
    return base64.urlsafe_b64encode(orjson.dumps(list(key))).decode("ascii").rstrip("=")


def decode_cursor(cursor: str, shape: Sequence[type]) -> Key:
    """The sort key in ``cursor``, whose items have the types in ``shape``.

    Raises :class:`InvalidInput` (field ``cursor``) for anything
    :func:`encode_cursor` did not make with that shape."""
    bad = InvalidInput("is not a cursor this listing gave out (use its 'next')", field="cursor")
    if not 1 <= len(cursor) <= MAX_CURSOR or not cursor.isascii():
        raise bad
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = orjson.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise bad from exc
    if not isinstance(key, list) or len(key) != len(shape):
        raise bad
    for item, kind in zip(key, shape, strict=True):
        # bool is an int to Python; a cursor never holds one.
        if type(item) is not kind or (isinstance(item, str) and len(item) > 100):
            raise bad
    return tuple(key)


def _page(rows: list[dict[str, Any]], limit: int, key: Sequence[str]) -> str | None:
    """The cursor after a full page's last row, or None when the listing is done."""
    if len(rows) < limit:
        return None
    return encode_cursor([rows[-1][name] for name in key])


class Listings:
    """The paged listings of a node (see :class:`NodeService`)."""

    store: Store

    def statements_page(
        self, *, limit: int = DEFAULT_LIMIT, cursor: str | None = None
    ) -> dict[str, Any]:
        """One page of every statement held, both ways, in the order stored.

        Returns ``{"statements": [...], "next": cursor or None}``; each row is a
        summary (id, direction, peer, kind, seq, state, time, receipt_id,
        delivered_at, leaf_index, ack_id, stored_at). Raises
        :class:`InvalidInput` (field ``limit`` or ``cursor``).
        """
        check_limit(limit)
        after = None
        if cursor is not None:
            stored_at, statement_id = decode_cursor(cursor, (str, str))
            after = (str(stored_at), str(statement_id))
        with self.store.read() as conn:
            rows = statement_store.statements_page(conn, after=after, limit=limit)
        return {"statements": rows, "next": _page(rows, limit, ("stored_at", "id"))}

    def outbox_page(
        self, *, limit: int = DEFAULT_LIMIT, cursor: str | None = None
    ) -> dict[str, Any]:
        """One page of the statements waiting for a peer's receipt, by peer then seq.

        Returns ``{"outbox": [...], "next": cursor or None}`` (rows as
        :func:`redline.store.outbox.outbox_page`). Raises :class:`InvalidInput`
        (field ``limit`` or ``cursor``).
        """
        check_limit(limit)
        after = None
        if cursor is not None:
            peer, seq = decode_cursor(cursor, (str, int))
            after = (str(peer), int(seq))
        with self.store.read() as conn:
            rows = outbox_store.outbox_page(conn, after=after, limit=limit)
        return {"outbox": rows, "next": _page(rows, limit, ("peer", "seq"))}

    def alarms_page(
        self, *, limit: int = DEFAULT_LIMIT, cursor: str | None = None
    ) -> dict[str, Any]:
        """One page of the open alarms, newest first.

        Returns ``{"alarms": [...], "next": cursor or None}``. Raises
        :class:`InvalidInput` (field ``limit`` or ``cursor``).
        """
        check_limit(limit)
        before = int(decode_cursor(cursor, (int,))[0]) if cursor is not None else None
        with self.store.read() as conn:
            rows = alarm_store.open_alarms(conn, before=before, limit=limit)
        return {"alarms": rows, "next": _page(rows, limit, ("id",))}
