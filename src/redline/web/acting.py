"""Who acts through the operator API: the operator whose named API key made
the request (docs/console.md, "Operators"), or nobody for the node's shared
token. Every statement an operator causes names them (and the office they
acted for) in its signed body, as ``by``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Header, Request
from starlette.concurrency import run_in_threadpool

from redline.core.errors import InvalidInput
from redline.core.fields import ActedBy
from redline.service.operators import API_KEY_PREFIX, Forbidden, Operator, OperatorService, Role

__all__ = ["acted_by", "acted_for", "acting_operator", "may_act_for"]

Acting = Callable[..., Awaitable[Operator | None]]


def acting_operator(operators: Callable[[], OperatorService] | None) -> Acting:
    """A FastAPI dependency giving the operator whose API key the request
    carries, or None (the shared token; or no ``operators`` at all).

    It runs after the route's token check, so a key here is a known one: the
    look-up counts no new attempt. It reads the store off the event loop.
    """

    async def acting(request: Request, authorization: str = Header(default="")) -> Operator | None:
        _, _, key = authorization.partition(" ")
        if operators is None or not key.startswith(API_KEY_PREFIX):
            return None
        client = request.client.host if request.client else "unknown"
        return await run_in_threadpool(operators().key_operator, key, client=client, count=False)

    return acting


def may_act_for(operator: Operator | None, office: str, field: str) -> None:
    """Refuse a principal acting for an office not theirs.

    Raises:
        Forbidden: naming ``field``.
    """
    if operator is not None and operator.role is Role.PRINCIPAL and office not in operator.offices:
        raise Forbidden(
            f"{operator.name} acts for {', '.join(operator.offices)}, not {office}", field=field
        )


def acted_by(operator: Operator | None, office: str | None = None) -> ActedBy | None:
    """The ``by`` of a statement ``operator`` causes: their name and the office
    acted for (``office``, or the one office they hold). None for nobody."""
    if operator is None:
        return None
    if office is None and len(operator.offices) == 1:
        office = operator.offices[0]
    # Only what is known goes on the wire: no "office": null.
    if office is None:
        return ActedBy(operator=operator.name)
    return ActedBy(operator=operator.name, office=office)


def acted_for(operator: Operator | None, office: str | None) -> ActedBy | None:
    """The ``by`` of a statement ``operator`` causes for the ``office`` given,
    and no other (the notice, translation and glossary routes: no office is
    assumed). None for nobody.

    Raises:
        InvalidInput: naming ``office``, when an office is given by nobody
            (the node's shared token acts for no office).
    """
    if operator is None:
        if office is not None:
            raise InvalidInput(
                "only an operator's named API key acts for an office", field="office"
            )
        return None
    if office:
        return ActedBy(operator=operator.name, office=office)
    return ActedBy(operator=operator.name)
