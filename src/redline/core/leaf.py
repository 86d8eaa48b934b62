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
from dataclasses import dataclass

from redline.core.errors import VerificationError
from redline.core.statement import Statement

__all__ = ["LEAF_HEADER", "LeafFields", "check_leaf", "leaf_record", "parse_leaf", "split_leaves"]

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


_LEAF_FIELDS = ("kind", "from", "to", "id", "time", "sha256")


@dataclass(frozen=True, slots=True)
class LeafFields:
    """What a leaf record says about its statement, without the statement."""

    kind: str
    sender: str
    to: str
    id: str
    time: str


def parse_leaf(record: bytes) -> LeafFields:
    """Read a ``redline-statement/v1`` leaf record.

    Raises :class:`VerificationError` (field ``leaf``) if it is not one.
    """
    try:
        lines = record.decode("utf-8").split("\n")
    except UnicodeDecodeError as exc:
        raise VerificationError("leaf record is not UTF-8", field="leaf") from exc
    if len(lines) != 8 or lines[0] != LEAF_HEADER or lines[-1] != "":
        raise VerificationError(f"not a {LEAF_HEADER} record", field="leaf")
    values = {}
    for name, line in zip(_LEAF_FIELDS, lines[1:7], strict=True):
        key, _, value = line.partition(" ")
        if key != name or not value:
            raise VerificationError(f"leaf line {name!r} is missing or malformed", field="leaf")
        values[name] = value
    return LeafFields(
        kind=values["kind"],
        sender=values["from"],
        to=values["to"],
        id=values["id"],
        time=values["time"],
    )


def split_leaves(data: bytes) -> list[bytes]:
    """Split a concatenation of leaf records (a bundle's ``log`` file) into records.

    Raises :class:`VerificationError` if it is not such a concatenation.
    """
    header = LEAF_HEADER.encode() + b"\n"
    if not data:
        return []
    if not data.startswith(header):
        raise VerificationError("log does not start with a leaf record", field="log")
    return [header + part for part in data.split(header)[1:]]


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
