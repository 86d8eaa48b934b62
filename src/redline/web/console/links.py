"""The console's link pages (docs/console.md): per peer, the deadlines in
force and the terms proposed, the escalation policy, the link-test figures
and schedule; and the acts on them: propose and accept terms, set a policy
(admins), answer a peer's operator test (watch officers and admins).

The data of each page is read off the event loop by the console's ``page``
factory; the acts go through the console's ``actor`` (a live session and its
CSRF token) and ``act`` (audited).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from fastapi import FastAPI, Request
from starlette.responses import RedirectResponse, Response

from redline.core.errors import InvalidInput
from redline.core.kinds import Precedence
from redline.service.handling import HandlingService
from redline.service.linktests import LinkTests
from redline.service.node import NodeService
from redline.service.operators import Forbidden, Operator, Role, Session
from redline.web.acting import acted_by

__all__ = ["PRECEDENCE_ORDER", "add_link_routes", "link_page_data"]

#: The precedences, most urgent first, as the pages list them.
PRECEDENCE_ORDER = tuple(p.value for p in Precedence)
#: The longest deadline a form may propose: a week, in seconds.
MAX_DEADLINE = 7 * 24 * 3600

Data = Callable[[Session, dict[str, str]], dict[str, Any]]
Page = Callable[[str, str, Data], tuple[Any, Any]]
Act = Callable[[Session, Request, str, str, Callable[[], Any]], Awaitable[Any]]
FormText = Callable[..., str]


def link_page_data(service: NodeService, handling: HandlingService, peer: str) -> dict[str, Any]:
    """What a link's page shows. Raises :class:`NotFound` (field ``peer``) for
    an unpinned peer."""
    terms = handling.terms(peer)  # raises NotFound for an unpinned peer
    link = terms["links"][0]
    proposals = [
        {**p, "ours": p["proposer"] == service.party, "pending": p["accept_id"] is None}
        for p in terms["proposals"]
    ]
    tests = LinkTests.of(service).links(peer)
    return {
        "peer": peer,
        "terms": link,
        "proposals": proposals,
        "policy": handling.policy(peer)["policies"],
        "tests": tests[0] if tests else None,
        "precedences": PRECEDENCE_ORDER,
    }


def _admin(operator: Operator, what: str) -> None:
    if operator.role is not Role.ADMIN:
        raise Forbidden(
            f"{operator.name} is a {operator.role.value}; only an admin {what}", field="role"
        )


def _seconds(form: Any, name: str, form_text: FormText) -> int:
    value = form_text(form, name, max_len=12).strip()
    if not value.isdigit() or not 1 <= int(value) <= MAX_DEADLINE:
        raise InvalidInput(f"must be a whole number of seconds, 1 to {MAX_DEADLINE}", field=name)
    return int(value)


def add_link_routes(
    app: FastAPI,
    *,
    service: NodeService,
    handling: HandlingService,
    page: Page,
    data_extra: Callable[[], dict[str, Any]],
    actor: Callable[[Request], Awaitable[Session]],
    act: Act,
    form_text: FormText,
) -> None:
    """Add the link page (and its fragment) and its acts to the console ``app``.
    ``data_extra`` gives what every page's data carries (the nav's counts).
    Raises nothing."""

    def link_data(session: Session, params: dict[str, str]) -> dict[str, Any]:
        return {**link_page_data(service, handling, params["peer"]), **data_extra()}

    full, part = page("link.html", "_link.html", link_data)
    app.add_api_route("/links/{peer}", full, methods=["GET"], name="link")
    app.add_api_route("/fragments/links/{peer}", part, methods=["GET"], name="link-fragment")

    def back(peer: str) -> Response:
        return RedirectResponse(f"/console/links/{peer}", status_code=303)

    @app.post("/links/{peer}/terms")
    async def propose_terms(request: Request, peer: str) -> Response:
        session = await actor(request)
        _admin(session.operator, "proposes the link's terms")
        form = await request.form()
        deadlines = {p: _seconds(form, p, form_text) for p in PRECEDENCE_ORDER}
        note = form_text(form, "note", required=False, max_len=500).strip()
        by = acted_by(session.operator)
        await act(
            session,
            request,
            "propose-terms",
            peer,
            lambda: handling.propose_terms(to=peer, deadlines=deadlines, note=note, by=by),
        )
        return back(peer)

    @app.post("/links/{peer}/terms/{terms_id}/accept")
    async def accept_terms(request: Request, peer: str, terms_id: str) -> Response:
        session = await actor(request)
        _admin(session.operator, "accepts the link's terms")
        by = acted_by(session.operator)
        await act(
            session,
            request,
            "accept-terms",
            terms_id,
            lambda: handling.accept_terms(terms_id, by=by),
        )
        return back(peer)

    @app.post("/links/{peer}/escalation/{precedence}")
    async def set_policy(request: Request, peer: str, precedence: str) -> Response:
        session = await actor(request)
        _admin(session.operator, "sets the escalation policy")
        form = await request.form()
        text = form_text(form, "steps", required=False, max_len=8000).strip()
        steps: Any = None
        if text:
            try:
                steps = orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                raise InvalidInput(f"must be a JSON list of steps: {exc}", field="steps") from exc
        name = session.operator.name
        await act(
            session,
            request,
            "set-escalation",
            f"{peer} {precedence}",
            lambda: handling.set_policy(peer=peer, precedence=precedence, steps=steps, by=name),
        )
        return back(peer)

    @app.post("/link-tests/{test_id}/answer")
    async def answer_test(request: Request, test_id: str) -> Response:
        session = await actor(request)
        if not session.operator.handles_traffic:
            raise Forbidden("a principal does not answer the node's link tests", field="role")
        form = await request.form()
        text = form_text(form, "text", required=False, max_len=500).strip()
        by = acted_by(session.operator)
        wire_by = None if by is None else by.wire()
        await act(
            session,
            request,
            "answer-link-test",
            test_id,
            lambda: LinkTests.of(service).answer(test_id, text=text or None, by=wire_by),
        )
        return RedirectResponse("/console/now", status_code=303)
