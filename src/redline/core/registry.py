"""Every statement kind this node knows, with its body rule: one explicit registry.

The envelope's kinds (message, receipt, ack, heartbeat; :mod:`redline.core.kinds`)
and the hotline's (:mod:`redline.core.hotline.kinds`) are put together here,
once, and nothing adds to the registry afterwards: a kind is known because it
is listed here, not because some module happened to be imported first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from redline.core.errors import InvalidStatement
from redline.core.hotline.kinds import RULES as HOTLINE_RULES
from redline.core.kinds import RULES as ENVELOPE_RULES
from redline.core.kinds import BodyRule

__all__ = ["KINDS", "validate_body"]

KINDS: Final[dict[str, BodyRule]] = {**ENVELOPE_RULES, **HOTLINE_RULES}


def validate_body(kind: str, body: Mapping[str, Any]) -> None:
    """Check ``body`` against the rules of ``kind``.

    Raises :class:`InvalidStatement` naming the field (``kind`` for an unknown
    kind, ``body.<name>`` for a bad body field).
    """
    rule = KINDS.get(kind)
    if rule is None:
        raise InvalidStatement(f"unknown kind {kind!r}", field="kind")
    rule(body)
