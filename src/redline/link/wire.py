"""Batches of statements on the wire: newline-delimited canonical JSON.

Each line is one statement exactly as signed (RFC 8785 bytes); a batch is
parsed once, here, into statements or a single :class:`InvalidStatement`
naming the line.
"""

from __future__ import annotations

from collections.abc import Iterable

from redline.core.errors import InvalidStatement
from redline.core.statement import Statement

__all__ = ["MAX_BATCH", "NDJSON", "decode_batch", "encode_batch"]

NDJSON = "application/x-ndjson"
# A receipt acknowledges a whole batch in one statement: 512 acks (about 89
# bytes each) stay well inside MAX_STATEMENT_BYTES.
MAX_BATCH = 512


def encode_batch(wires: Iterable[bytes]) -> bytes:
    """Join canonical statements into an NDJSON body."""
    return b"".join(wire + b"\n" for wire in wires)


def decode_batch(data: bytes, *, max_count: int = MAX_BATCH) -> list[Statement]:
    """Parse an NDJSON body into statements.

    Raises :class:`InvalidStatement` naming the line that is wrong, or if the
    batch is empty or holds more than ``max_count`` statements.
    """
    # Numbered as sent, blank lines included, so the error names the line a
    # reader finds in the body.
    # A line may end in CRLF; the statement itself is the canonical bytes between.
    lines = [(n, line.strip()) for n, line in enumerate(data.split(b"\n"), start=1) if line.strip()]
    if not lines:
        raise InvalidStatement("batch holds no statements", field="body")
    if len(lines) > max_count:
        raise InvalidStatement(
            f"batch holds {len(lines)} statements; the limit is {max_count}", field="body"
        )
    batch = []
    for number, line in lines:
        try:
            batch.append(Statement.from_wire(line))
        except InvalidStatement as exc:
            where = f"line {number}" + (f": {exc.field}" if exc.field else "")
            raise InvalidStatement(exc.message, field=where) from exc
    return batch
