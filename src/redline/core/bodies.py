"""The bodies of the envelope's own kinds (message, receipt, ack, heartbeat), one model each.

Subjects and texts are printed to the other party's operator: nothing in them
may steer a terminal or reorder what is read (:mod:`redline.core.text`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Final, Self

from pydantic import Field, ValidationError

from redline.core.errors import InvalidStatement
from redline.core.fields import (
    ActedBy,
    Body,
    Hex64,
    Lang,
    Line,
    SafeText,
    Trimmed,
    invalid_statement,
)
from redline.core.kinds import ACK, HEARTBEAT, MAX_RECEIPT_ACKS, MESSAGE, RECEIPT, Precedence

__all__ = [
    "ENVELOPE_BODIES",
    "AckBody",
    "Acknowledged",
    "HeartbeatBody",
    "MessageBody",
    "ReceiptBody",
]


class MessageBody(Body):
    """A message: precedence, a one-line subject, a text, its language."""

    # Enumerations are read from their wire values (lax), everything else strictly.
    precedence: Annotated[Precedence, Field(strict=False)]
    subject: Annotated[Line, Field(max_length=500)]
    text: Annotated[SafeText, Field(max_length=32_000)]
    lang: Lang
    #: The operator (and office) who sent it; absent when the node's token did.
    by: ActedBy | None = None


class Acknowledged(Body):
    """One statement a receipt acknowledges: its id and sequence number."""

    id: Hex64
    seq: Annotated[int, Field(ge=1)]


_NOT_AN_ENTRY: Final = frozenset({"missing", "extra_forbidden", "model_type"})


class ReceiptBody(Body):
    """A signed receipt for up to :data:`MAX_RECEIPT_ACKS` statements."""

    ack: Annotated[list[Acknowledged], Field(min_length=1, max_length=MAX_RECEIPT_ACKS)]

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> Self:
        """As :meth:`Body.parse`; an entry that is not exactly ``{id, seq}`` is
        named as a whole (``body.ack[3]``), as a receipt's entries always were.

        Raises:
            InvalidStatement: naming the first bad field.
        """
        try:
            return cls.model_validate(body)
        except ValidationError as exc:
            first = exc.errors(include_url=False, include_input=False)[0]
            loc = first["loc"]
            if len(loc) >= 2 and loc[0] == "ack" and first["type"] in _NOT_AN_ENTRY:
                raise InvalidStatement(
                    "must be an object with id and seq", field=f"body.ack[{loc[1]}]"
                ) from None
            raise invalid_statement(exc) from None


class AckBody(Body):
    """An operator's acknowledgement of one message, by its id, perhaps with
    a reply, naming the operator (and office) who gave it."""

    message: Hex64
    reply: Annotated[Trimmed, Field(max_length=32_000)] | None = None
    by: ActedBy | None = None


class HeartbeatBody(Body):
    """A link test."""

    nonce: Annotated[str, Field(max_length=64)]


#: The envelope's own kinds; :mod:`redline.core.registry` adds the hotline's.
ENVELOPE_BODIES: Final[dict[str, type[Body]]] = {
    MESSAGE: MessageBody,
    RECEIPT: ReceiptBody,
    ACK: AckBody,
    HEARTBEAT: HeartbeatBody,
}
