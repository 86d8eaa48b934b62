"""The leaf record that binds a statement into its signer's log.

A leaf is a short text record, one field a line, that names the statement
and binds it by hash rather than carrying it, so that one statement can be
disclosed without the rest and every leaf stays far below tlog-tiles' 64 KiB
limit (DESIGN.md, "Statements and the record")::

    redline-statement/v1
    kind message
    from us
    to prc
    id 3f2a...
    time 2026-11-22T08:40:00.123456Z
    sha256 PyqL...=

Its Merkle leaf hash is SHA-256(0x00 || record), as RFC 6962 §2.1 and Go's
``tlog.RecordHash``.
"""

from __future__ import annotations

import base64

from redline.core.errors import VerificationError
from redline.core.statement import Statement

__all__ = ["LEAF_HEADER", "check_leaf", "leaf_record"]

LEAF_HEADER = "redline-statement/v1"


def leaf_record(statement: Statement) -> bytes:
    """The exact leaf record for ``statement``."""
    digest = base64.b64encode(statement.digest).decode("ascii")
    return (
        f"{LEAF_HEADER}\n"
        f"kind {statement.kind}\n"
        f"from {statement.sender}\n"
        f"to {statement.to}\n"
        f"id {statement.id}\n"
        f"time {statement.time}\n"
        f"sha256 {digest}\n"
    ).encode()


def check_leaf(record: bytes, statement: Statement) -> None:
    """Check that ``record`` is the leaf of ``statement``.

    Raises :class:`VerificationError` naming the first line that differs.
    """
    expected = leaf_record(statement).decode().splitlines()
    try:
        got = record.decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise VerificationError("leaf record is not UTF-8", field="leaf") from exc
    for i, line in enumerate(expected):
        if i >= len(got) or got[i] != line:
            name = line.split(" ", 1)[0]
            raise VerificationError(
                f"leaf line {i + 1} ({name}) does not match statement {statement.id[:16]}",
                field="leaf",
            )
    if len(got) != len(expected) or not record.endswith(b"\n"):
        raise VerificationError("leaf record has extra content", field="leaf")
