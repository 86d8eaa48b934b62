"""Every statement kind this node knows, with its body model: one explicit registry.

The envelope's kinds (message, receipt, ack, heartbeat; :mod:`redline.core.bodies`)
and the hotline's (:mod:`redline.core.hotline.bodies`) are put together here,
once, and nothing adds to the registry afterwards: a kind is known because it
is listed here, not because some module happened to be imported first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from redline.core.bodies import ENVELOPE_BODIES
from redline.core.errors import InvalidStatement
from redline.core.fields import Body
from redline.core.hotline.bodies import HOTLINE_BODIES
from redline.core.linktests import LINK_TEST_BODIES
from redline.core.media import MEDIA_BODIES
from redline.core.messaging import MESSAGING_BODIES
from redline.core.notices import NOTICE_BODIES
from redline.core.translation import TRANSLATION_BODIES

__all__ = ["BODIES", "KINDS", "BodyParser", "validate_body"]

#: Validates a wire body and returns it typed; raises InvalidStatement.
BodyParser = Callable[[Mapping[str, Any]], Body]

#: Each kind's body model.
BODIES: Final[dict[str, type[Body]]] = {
    **ENVELOPE_BODIES,
    **HOTLINE_BODIES,
    **MESSAGING_BODIES,
    **LINK_TEST_BODIES,
    **NOTICE_BODIES,
    **TRANSLATION_BODIES,
    **MEDIA_BODIES,
}
#: Each kind's parser (:meth:`Body.parse` of its model); a test may stand one in.
KINDS: Final[dict[str, BodyParser]] = {kind: model.parse for kind, model in BODIES.items()}


def validate_body(kind: str, body: Mapping[str, Any]) -> Body:
    """Check ``body`` against the model of ``kind`` and return it typed.

    Raises :class:`InvalidStatement` naming the field (``kind`` for an unknown
    kind, ``body.<path>`` for a bad body field).
    """
    parse = KINDS.get(kind)
    if parse is None:
        raise InvalidStatement(f"unknown kind {kind!r}", field="kind")
    return parse(body)
