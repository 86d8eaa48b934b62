"""The console's media routes of a call (docs/calls.md): what ``static/call.js``
reads (the signed offer and answer, the ICE servers) and posts (this side's
offer or answer, "media established"), and the fingerprint check it asks for
before it uses the peer's SDP; this side's consent to record and the recorded
chunks (``POST /calls/ID/recording``, raw bytes, at most 256 KB a chunk).
Every answer is JSON; an error is problem+json.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from redline.core.errors import InvalidInput, PayloadTooLarge
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
#: A recorded chunk is at most the API's body cap.
MAX_CHUNK = 256 * 1024


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
    require_change: Guard,
) -> None:
    """Add the media routes of calls to the console ``app``; ``media_of`` gives the
        node's media service when a route is first used; ``require_change`` checks the
    session and CSRF of a request whose body is not a form. Raises nothing."""

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

    @app.post("/calls/{call_id}/recording-consent")
    async def recording_consent(request: Request, call_id: str) -> Response:
        session = await actor(request)
        form = await request.form()
        on = _field(form, "on", 5)
        if on not in ("true", "false"):
            raise InvalidInput("must be true or false", field="on")
        by = acted_by(session.operator, await our_office(session, call_id))
        statement = await act(
            session,
            request,
            "call-recording",
            call_id,
            lambda: media_of().consent(call_id, on == "true", by=by),
        )
        return JSONResponse({"statement": statement.id}, headers=_NO_STORE)

    @app.post("/calls/{call_id}/recording")
    async def recording(
        request: Request, call_id: str, participant: str = "", chunk: str = "", final: str = ""
    ) -> Response:
        """A chunk of this browser's recording (the body, raw bytes; query
        ``participant`` and ``chunk``, its number), or with ``final=1`` and no
        body the end of it: the node signs the file's SHA-256."""
        declared = int(request.headers.get("content-length") or 0)
        if declared > MAX_CHUNK:
            raise PayloadTooLarge(f"a chunk is at most {MAX_CHUNK} bytes", field="body")
        session = await require_change(request)
        if not participant or len(participant) > 80:
            raise InvalidInput("is required, at most 80 characters", field="participant")
        if final != "1" and (not chunk.isdigit() or len(chunk) > 9):
            raise InvalidInput("a chunk number, 0, 1, 2, ...", field="chunk")
        by = acted_by(session.operator, await our_office(session, call_id))
        if final == "1":
            done = await act(
                session,
                request,
                "call-recording-file",
                call_id,
                lambda: media_of().finish_recording(call_id, participant, by=by),
            )
            return JSONResponse(
                {
                    "statement": None if done is None else done.id,
                    "sha256": None if done is None else done.body["sha256"],
                },
                headers=_NO_STORE,
            )
        data = b""
        async for part in request.stream():
            data += part
            if len(data) > MAX_CHUNK:
                raise PayloadTooLarge(f"a chunk is at most {MAX_CHUNK} bytes", field="body")
        number = int(chunk)
        written = await run_in_threadpool(
            media_of().append_chunk, call_id, participant, number, data
        )
        return JSONResponse(written, headers=_NO_STORE)
