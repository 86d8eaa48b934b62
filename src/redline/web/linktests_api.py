"""The link tests' operator API routes, under ``/api/v1/link-tests``.

Thin over :class:`~redline.service.linktests.LinkTests`: per-link figures,
a paged listing of tests, an operator's answer to a peer's operator test, and
a link's own schedule (docs/link-tests.md, docs/api.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from redline.core.fields import Ident, TrimmedLine
from redline.http_problems import problem_responses
from redline.service.linktests import LinkTests
from redline.service.operators import Operator, OperatorService
from redline.service.paging import DEFAULT_LIMIT, MAX_CURSOR, MAX_LIMIT
from redline.web.acting import acted_by, acting_operator, may_act_for

__all__ = ["PREFIX", "create_link_tests_router"]

PREFIX = "/api/v1/link-tests"


class AnswerIn(BaseModel):
    """An operator's answer to a peer's operator test."""

    model_config = ConfigDict(extra="forbid")

    text: Annotated[TrimmedLine, Field(max_length=500)] | None = Field(
        default=None, description='one line, e.g. "duty officer present"'
    )
    office: Ident | None = Field(default=None, description="the office answered for")


class ScheduleIn(BaseModel):
    """A link's own schedule; a field left out (or null) is the node's setting."""

    model_config = ConfigDict(extra="forbid")

    operator_test_time: str | None = Field(
        default=None, max_length=5, description='"HH:MM" in the zone, or "" for none'
    )
    zone: str | None = Field(default=None, max_length=64, description="an IANA time zone")
    heartbeat_interval_seconds: int | None = Field(default=None, ge=1, le=604_800)


class TestsPage(BaseModel):
    """A page of link tests, newest first."""

    tests: list[dict[str, Any]]
    next: str | None = Field(description="the cursor of the page after, or null at the end")


def create_link_tests_router(
    get: Callable[[], LinkTests],
    *,
    dependencies: Sequence[Any] = (),
    operators: Callable[[], OperatorService] | None = None,
) -> APIRouter:
    """The link-test routes over ``get()``, the node's :class:`LinkTests`;
    ``dependencies`` (the operator token check) apply to every route; an
    answer made with an operator's named key names them (``operators``: the
    node's operators, :mod:`redline.web.acting`). Raises nothing."""
    router = APIRouter(prefix=PREFIX, dependencies=list(dependencies))
    actor = Depends(acting_operator(operators))

    @router.get("", responses=problem_responses(404))
    async def links(
        peer: str | None = Query(None, min_length=1, max_length=32, description="only this link"),
    ) -> dict[str, Any]:
        return {"links": await run_in_threadpool(lambda: get().links(peer))}

    @router.get("/tests")
    async def page(
        peer: str | None = Query(None, min_length=1, max_length=32),
        kind: Literal["heartbeat", "operator-test"] | None = None,
        direction: Literal["in", "out"] | None = None,
        pending: bool = False,
        limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
        cursor: str | None = Query(
            None, min_length=1, max_length=MAX_CURSOR, pattern=r"^[A-Za-z0-9_-]+$"
        ),
    ) -> TestsPage:
        found = await run_in_threadpool(
            get().tests_page,
            peer=peer,
            kind=kind,
            direction=direction,
            pending=pending,
            limit=limit,
            cursor=cursor,
        )
        return TestsPage(**found)

    @router.post("/{id}/answer", status_code=201, responses=problem_responses(403, 404, 409))
    async def answer(
        body: AnswerIn,
        test_id: str = Path(alias="id", pattern=r"^[0-9a-fA-F]{8,64}$"),
        operator: Operator | None = actor,
    ) -> dict[str, Any]:
        def act() -> dict[str, Any]:
            if body.office is not None:
                may_act_for(operator, body.office, "office")
            by = acted_by(operator, body.office)
            st = get().answer(test_id, text=body.text, by=None if by is None else by.wire())
            return {
                "statement_id": st.id,
                "kind": st.kind,
                "seq": st.seq,
                "time": st.time,
                "body": dict(st.body),
            }

        return await run_in_threadpool(act)

    @router.put("/schedules/{peer}", responses=problem_responses(404))
    async def schedule(
        body: ScheduleIn, peer: str = Path(min_length=1, max_length=32)
    ) -> dict[str, Any]:
        return await run_in_threadpool(
            lambda: get().set_schedule(
                peer,
                operator_test_time=body.operator_test_time,
                zone=body.zone,
                heartbeat_interval_seconds=body.heartbeat_interval_seconds,
            )
        )

    return router
