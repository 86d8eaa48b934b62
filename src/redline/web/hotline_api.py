"""The hotline's operator API routes, under ``/api/v1/hotline``.

Thin over :class:`~redline.service.hotline.HotlineService`: each route parses
its JSON (pydantic, unknown fields refused) and calls one service method.
Every act answers ``201`` with the signed statement's id, kind and body;
errors are problem+json naming the field (docs/api.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from redline.core.errors import InvalidInput
from redline.core.fields import Ident, Lang
from redline.core.hotline import kinds as k
from redline.core.hotline.bodies import LongText, Name, Names, OptionalText, Text, Title, Titles
from redline.core.hotline.calls import CallMode
from redline.core.hotline.directory import Level
from redline.core.hotline.lifecycle import CallAction, RequestAction
from redline.core.hotline.mechanism import MechanismStatus
from redline.core.hotline.requests import Mode, Window
from redline.core.statement import Statement
from redline.service.hotline import HotlineService, parse_day, parse_when
from redline.service.operators import Operator, OperatorService
from redline.web.acting import acted_by, acting_operator, may_act_for
from redline.web.params import Cursor, Limit

__all__ = ["create_hotline_router"]

PREFIX = "/api/v1/hotline"
PeerQuery = Annotated[
    str | None, Query(min_length=1, max_length=32, description="Only what concerns this peer.")
]

# The inputs are written in the statement bodies' own field types (core.fields,
# core.hotline.bodies): an office id here carries the pattern it carries on the
# wire, a title the same limits, so the OpenAPI schema says what will be signed.
Item = Text
#: A time as the operator gives it (RFC 3339 with any offset; see docs/api.md).
When = Annotated[str, Field(min_length=1, max_length=64)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WindowIn(_In):
    start: When
    end: When


class CounterpartIn(_In):
    own_office: Ident
    counterpart_office: Ident
    note: OptionalText = ""


class RequestIn(_In):
    from_office: Ident
    to_office: Ident
    mechanism: Ident
    mode: Mode
    windows: list[WindowIn] = Field(min_length=1, max_length=k.MAX_WINDOWS)
    deadline: When | None = None
    agenda: list[Item] = Field(default_factory=list, max_length=k.MAX_ITEMS)
    notes: list[Item] = Field(default_factory=list, max_length=k.MAX_ITEMS)


class ResponseIn(_In):
    action: Literal[RequestAction.ACCEPT, RequestAction.DECLINE, RequestAction.COUNTER]
    window: WindowIn | None = None
    reason: OptionalText | None = None
    counter_office: Ident | None = None
    counter_windows: list[WindowIn] = Field(default_factory=list, max_length=k.MAX_WINDOWS)
    counter_deadline: When | None = None
    note: OptionalText = ""


class WithdrawIn(_In):
    reason: OptionalText = ""


class CallIn(_In):
    from_office: Ident
    to_office: Ident
    mechanism: Ident
    mode: CallMode = CallMode.CALL
    purpose: OptionalText = ""
    ring_timeout: int = Field(default=120, ge=1, le=k.MAX_RING_TIMEOUT)


class CallEventIn(_In):
    action: Literal[CallAction.ANSWER, CallAction.DECLINE, CallAction.END]
    reason: OptionalText = ""


class SayIn(_In):
    text: LongText
    lang: Lang = "en"


class MechanismStatusIn(_In):
    status: MechanismStatus
    reason: Text
    to: str | None = Field(default=None, min_length=1, max_length=32)


class OfficeIn(_In):
    """An office: ``titles`` maps a language tag to the title (``{"en": ..., "zh":
    ...}``); ``title_en``/``title_zh`` are still taken for the same two entries."""

    id: Ident
    level: Level
    titles: Titles | None = None
    title_en: Title | None = None
    title_zh: Title | None = None
    seats: int = Field(default=1, ge=1, le=100)
    time_zone: str | None = Field(default=None, min_length=1, max_length=100)


class HolderIn(_In):
    """A holder: ``person`` maps a language tag to the name; ``person_en`` and
    ``person_zh`` are still taken for the same two entries."""

    person: Names | None = None
    person_en: Name | None = None
    person_zh: Name | None = None
    since: str = Field(min_length=10, max_length=10)
    note: OptionalText = ""


class ReadoutIn(_In):
    engagement: Ident
    text: LongText
    lang: Lang = "en"


def _window(w: WindowIn, field: str) -> Window:
    try:
        return Window(
            start=parse_when(w.start, f"{field}.start"), end=parse_when(w.end, f"{field}.end")
        )
    except InvalidInput as exc:
        raise InvalidInput(
            exc.message, field=exc.field if exc.field and exc.field.startswith(field) else field
        ) from exc


def _out(st: Statement) -> dict[str, Any]:
    return {
        "statement_id": st.id,
        "kind": st.kind,
        "seq": st.seq,
        "time": st.time,
        "body": dict(st.body),
    }


def create_hotline_router(
    get: Callable[[], HotlineService],
    *,
    dependencies: Sequence[Any] = (),
    operators: Callable[[], OperatorService] | None = None,
) -> APIRouter:
    """The hotline routes; ``get`` returns the node's HotlineService (built lazily).

    ``dependencies`` (the operator token check) apply to every route;
    ``operators`` names the operator whose API key acts (``by`` in the body).
    """
    router = APIRouter(prefix=PREFIX, dependencies=list(dependencies))
    # A plain default, not an Annotated alias: this module's annotations are
    # strings, and FastAPI resolves them in the module's globals only.
    actor = Depends(acting_operator(operators))

    async def act(fn: Callable[..., Statement], *args: Any, **kwargs: Any) -> dict[str, Any]:
        return _out(await run_in_threadpool(fn, *args, **kwargs))

    @router.get("/directory")
    async def directory() -> dict[str, Any]:
        return await run_in_threadpool(lambda: get().directory())

    @router.post("/directory/publish", status_code=201)
    async def publish() -> list[dict[str, Any]]:
        return await acts(get().publish_directory)

    async def acts(fn: Callable[..., list[Statement]], *args: Any, **kw: Any) -> list[Any]:
        return [_out(st) for st in await run_in_threadpool(fn, *args, **kw)]

    @router.post("/offices", status_code=201)
    async def office(body: OfficeIn) -> list[dict[str, Any]]:
        return await acts(
            get().add_office,
            body.id,
            level=body.level,
            titles=body.titles,
            title_en=body.title_en or "",
            title_zh=body.title_zh or "",
            seats=body.seats,
            time_zone=body.time_zone,
        )

    @router.post("/offices/{office_id}/holder", status_code=201)
    async def holder(office_id: str, body: HolderIn) -> list[dict[str, Any]]:
        return await acts(
            get().set_holder,
            office_id,
            person=body.person,
            person_en=body.person_en or "",
            person_zh=body.person_zh or "",
            since=parse_day(body.since, "since"),
            note=body.note,
        )

    @router.post("/counterparts", status_code=201)
    async def counterpart(body: CounterpartIn, operator: Operator | None = actor) -> dict[str, Any]:
        may_act_for(operator, body.own_office, "own_office")
        return await act(
            get().declare_counterpart,
            own_office=body.own_office,
            counterpart_office=body.counterpart_office,
            note=body.note,
            by=acted_by(operator, body.own_office),
        )

    @router.post("/requests", status_code=201)
    async def request(body: RequestIn, operator: Operator | None = actor) -> dict[str, Any]:
        may_act_for(operator, body.from_office, "from_office")
        windows = [_window(w, f"windows[{i}]") for i, w in enumerate(body.windows)]
        deadline = parse_when(body.deadline, "deadline") if body.deadline else None
        return await act(
            get().request,
            from_office=body.from_office,
            to_office=body.to_office,
            mechanism=body.mechanism,
            mode=body.mode,
            windows=windows,
            deadline=deadline,
            agenda=body.agenda,
            notes=body.notes,
            by=acted_by(operator, body.from_office),
        )

    @router.post("/requests/{request_id}/responses", status_code=201)
    async def respond(
        request_id: str, body: ResponseIn, operator: Operator | None = actor
    ) -> dict[str, Any]:
        by = acted_by(operator)
        if body.action is RequestAction.ACCEPT:
            if body.window is None:
                raise InvalidInput("an acceptance names the chosen window", field="window")
            window = _window(body.window, "window")
            return await act(get().respond, request_id, accept=window, by=by)
        if body.action is RequestAction.DECLINE:
            return await act(get().respond, request_id, decline=body.reason or "", by=by)
        if body.counter_office is None:
            raise InvalidInput("a counter names the office offered", field="counter_office")
        return await act(
            get().respond,
            request_id,
            counter_office=body.counter_office,
            counter_windows=[
                _window(w, f"counter_windows[{i}]") for i, w in enumerate(body.counter_windows)
            ],
            counter_deadline=parse_when(body.counter_deadline, "counter_deadline")
            if body.counter_deadline
            else None,
            note=body.note,
            by=by,
        )

    @router.post("/requests/{request_id}/withdraw", status_code=201)
    async def withdraw(
        request_id: str, body: WithdrawIn, operator: Operator | None = actor
    ) -> dict[str, Any]:
        return await act(get().withdraw, request_id, reason=body.reason, by=acted_by(operator))

    @router.post("/calls", status_code=201)
    async def call(body: CallIn, operator: Operator | None = actor) -> dict[str, Any]:
        may_act_for(operator, body.from_office, "from_office")
        return await act(
            get().place_call,
            from_office=body.from_office,
            to_office=body.to_office,
            mechanism=body.mechanism,
            mode=body.mode,
            purpose=body.purpose,
            ring_timeout=body.ring_timeout,
            by=acted_by(operator, body.from_office),
        )

    @router.post("/calls/{call_id}/events", status_code=201)
    async def call_event(
        call_id: str, body: CallEventIn, operator: Operator | None = actor
    ) -> dict[str, Any]:
        by = acted_by(operator)
        return await act(get().call_event, call_id, body.action, reason=body.reason, by=by)

    @router.post("/calls/{call_id}/messages", status_code=201)
    async def say(call_id: str, body: SayIn, operator: Operator | None = actor) -> dict[str, Any]:
        return await act(get().say, call_id, body.text, lang=body.lang, by=acted_by(operator))

    @router.post("/mechanisms/{mechanism_id}/status", status_code=201)
    async def mechanism(
        mechanism_id: str, body: MechanismStatusIn, operator: Operator | None = actor
    ) -> dict[str, Any]:
        return await act(
            get().set_mechanism,
            mechanism=mechanism_id,
            status=body.status,
            reason=body.reason,
            to=body.to,
            by=acted_by(operator),
        )

    @router.post("/readouts", status_code=201)
    async def readout(body: ReadoutIn, operator: Operator | None = actor) -> dict[str, Any]:
        by = acted_by(operator)
        return await act(get().file_readout, body.engagement, body.text, lang=body.lang, by=by)

    @router.post("/joint-summaries", status_code=201)
    async def joint(body: ReadoutIn, operator: Operator | None = actor) -> dict[str, Any]:
        return await act(
            get().propose_joint_summary,
            body.engagement,
            body.text,
            lang=body.lang,
            by=acted_by(operator),
        )

    @router.post("/joint-summaries/{summary_id}/sign", status_code=201)
    async def sign(summary_id: str, operator: Operator | None = actor) -> dict[str, Any]:
        return await act(get().sign_joint_summary, summary_id, by=acted_by(operator))

    @router.get("/board")
    async def board(peer: PeerQuery = None) -> dict[str, Any]:
        return await run_in_threadpool(lambda: get().board(peer))

    @router.get("/timeline")
    async def timeline(
        peer: PeerQuery = None, limit: int = Limit, cursor: str | None = Cursor
    ) -> dict[str, Any]:
        return await run_in_threadpool(
            lambda: get().timeline_page(peer, limit=limit, cursor=cursor)
        )

    @router.get("/calendar.ics")
    async def calendar() -> Response:
        data = await run_in_threadpool(lambda: get().calendar())
        return Response(data, media_type="text/calendar")

    return router
