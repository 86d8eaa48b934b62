"""The console's media routes of a call (docs/calls.md): what ``static/call.js``
reads (the signed offer and answer, the ICE servers) and posts (this side's
offer or answer, "media established"), and the fingerprint check it asks for
before it uses the peer's SDP. Every answer is JSON; an error is problem+json.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from redline.core.errors import InvalidInput
from redline.core.media import CALL_ANSWER, CALL_OFFER, MAX_SDP
from redline.service.hotline import HotlineService
from redline.service.media import MediaService
from redline.service.operators import Forbidden, Session
from redline.web.acting import acted_by
from redline.web.console.views import may_act_for

__all__ = ["add_media_routes"]

Guard = Callable[[Request], Awaitable[Session]]
Act = Callable[[Session, Request, str, str, Callable[[], Any]], Awaitable[Any]]
_NO_STORE = {"cache-control": "no-store"}


def _field(form: Any, name: str, max_len: int) -> str:
    value = form.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidInput("is required", field=name)
    if len(value) > max_len:
        raise InvalidInput(f"at most {max_len} characters", field=name)
    return value


def add_media_routes(
    app: FastAPI,
    *,
    hotline: HotlineService,
    media_of: Callable[[], MediaService],
    viewer: Guard,
    actor: Guard,
    act: Act,
) -> None:
    """Add the media routes of calls to the console ``app``; ``media_of`` gives the
    node's media service when a route is first used. Raises nothing."""

    async def our_office(session: Session, call_id: str) -> str:
        party = hotline.party
        view = await run_in_threadpool(media_of().signals, call_id)
        board = await run_in_threadpool(hotline.board)
        call = next((c for c in board["calls"] if c["id"] == call_id), None)
        ours = str((call or {}).get("to_office" if view["callee"] == party else "from_office", ""))
        if not may_act_for(session.operator, ours):
            raise Forbidden(f"{session.operator.name} does not act for {ours}", field="office")
        return ours

    @app.get("/calls/{call_id}/media")
    async def media_state(request: Request, call_id: str) -> Response:
        session = await viewer(request)
        media = media_of()
        view = await run_in_threadpool(media.signals, call_id)
        view["ice"] = media.ice_servers(session.operator.name)
        view["party"] = hotline.party
        return JSONResponse(view, headers=_NO_STORE)

    @app.post("/calls/{call_id}/join")
    async def join(request: Request, call_id: str) -> Response:
        session = await actor(request)
        form = await request.form()
        participant = _field(form, "participant", 80)
        by = acted_by(session.operator, await our_office(session, call_id))
        statement = await act(
            session,
            request,
            "call-join",
            call_id,
            lambda: media_of().join(call_id, participant, by=by),
        )
        return JSONResponse({"statement": statement.id}, headers=_NO_STORE)

    @app.post("/calls/{call_id}/signal")
    async def signal(request: Request, call_id: str) -> Response:
        session = await actor(request)
        form = await request.form()
        kind = _field(form, "kind", 16)
        if kind not in (CALL_OFFER, CALL_ANSWER):
            raise InvalidInput("must be call-offer or call-answer", field="kind")
        sdp = _field(form, "sdp", MAX_SDP)
        ends = {name: _field(form, name, 80) for name in ("from_participant", "to_participant")}
        by = acted_by(session.operator, await our_office(session, call_id))
        statement = await act(
            session,
            request,
            kind,
            call_id,
            lambda: media_of().signal(call_id, kind, sdp, by=by, **ends),
        )
        return JSONResponse(
            {"statement": statement.id, "fingerprints": statement.body["fingerprints"]},
            headers=_NO_STORE,
        )

    @app.post("/calls/{call_id}/check")
    async def check(request: Request, call_id: str) -> Response:
        await actor(request)
        form = await request.form()
        statement = _field(form, "statement", 64)
        sdp = _field(form, "sdp", MAX_SDP)
        checked = await run_in_threadpool(media_of().check_sdp, call_id, statement, sdp)
        return JSONResponse({"checked": True, "fingerprints": checked}, headers=_NO_STORE)

    @app.post("/calls/{call_id}/established")
    async def established(request: Request, call_id: str) -> Response:
        session = await actor(request)
        form = await request.form()
        participant = _field(form, "participant", 80)
        by = acted_by(session.operator, await our_office(session, call_id))
        statement = await act(
            session,
            request,
            "call-media",
            call_id,
            lambda: media_of().established(call_id, participant, by=by),
        )
        return JSONResponse(
            {"statement": None if statement is None else statement.id}, headers=_NO_STORE
        )
