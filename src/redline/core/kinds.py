"""The envelope's statement kinds and their vocabulary.

The bodies of these kinds are typed models in :mod:`redline.core.bodies`;
:mod:`redline.core.registry` lists them beside the hotline's. A receiver
refuses a kind it does not know (fail closed): a statement is only stored if
this node can say what it means.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

__all__ = [
    "ACK",
    "HEARTBEAT",
    "MAX_RECEIPT_ACKS",
    "MESSAGE",
    "PRECEDENCES",
    "RECEIPT",
    "Precedence",
]

MESSAGE: Final = "message"
RECEIPT: Final = "receipt"
ACK: Final = "ack"
HEARTBEAT: Final = "heartbeat"


class Precedence(StrEnum):
    """Message precedence, highest first (the military precedence ladder); the
    values are the wire values."""

    FLASH = "flash"
    IMMEDIATE = "immediate"
    PRIORITY = "priority"
    ROUTINE = "routine"


#: The wire values of a message's precedence.
PRECEDENCES = tuple(p.value for p in Precedence)
MAX_RECEIPT_ACKS: Final = 512  # = link.wire.MAX_BATCH; a receipt must fit in 64 KiB
