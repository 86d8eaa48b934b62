"""The operator API: what the console and scripts use on the watch floor.

Every route but ``/healthz`` needs the node's bearer token (``DIR/api.token``).
Errors are problem+json (RFC 9457) naming the field.
"""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import Depends, FastAPI, Header, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Scope

from redline.core.errors import Unauthorized
from redline.core.identity import Identity
from redline.core.kinds import Precedence
from redline.http_problems import BodyLimit, install_problem_handlers, problem, problem_responses
from redline.service.handling import HandlingService
from redline.service.hotline import HotlineService
from redline.service.linktests import LinkTests
from redline.service.node import STATUS_LATEST, NodeService
from redline.service.notices import NoticeService
from redline.service.operators import Operator, Throttled
from redline.service.paging import MAX_LIMIT
from redline.service.translation import TranslationService
from redline.web.acting import acted_by, acting_operator
from redline.web.console import Console
from redline.web.handling_api import create_handling_router
from redline.web.hotline_api import create_hotline_router
from redline.web.idempotency import Idempotency
from redline.web.linktests_api import create_link_tests_router
from redline.web.notices_api import create_notices_router
from redline.web.params import Cursor, Limit

__all__ = ["MAX_API_BODY", "create_api_app"]

MAX_API_BODY = 256 * 1024

#: What a hotline route may answer besides its own success (its acts name
#: unknown requests and calls, and refuse illegal transitions).
HOTLINE_PROBLEMS = problem_responses(400, 401, 404, 409, 413, 422)

#: A party id, as statements carry it (core.statement).
PARTY_PATTERN = r"^[a-z][a-z0-9-]{0,31}$"
#: A message: its id (64 hex) or, for one received, its first 8 or more hex characters.
MESSAGE_REF_PATTERN = r"^[0-9a-fA-F]{8,64}$"
#: A statement id: the SHA-256 of its canonical bytes, in lowercase hex.
STATEMENT_ID_PATTERN = r"^[0-9a-f]{64}$"


class StatementsPage(BaseModel):
    """A page of stored statements, in the order stored."""

    statements: list[dict[str, Any]]
    next: str | None = Field(description="the cursor of the page after, or null at the end")


class MessagesPage(BaseModel):
    """A page of messages, oldest first by signed time."""

    messages: list[dict[str, Any]]
    next: str | None = Field(description="the cursor of the page after, or null at the end")


class OutboxPage(BaseModel):
    """A page of the statements waiting for a peer's receipt, by peer then seq."""

    outbox: list[dict[str, Any]]
    next: str | None = Field(description="the cursor of the page after, or null at the end")


class AlarmsPage(BaseModel):
    """A page of open alarms, newest first."""

    alarms: list[dict[str, Any]]
    next: str | None = Field(description="the cursor of the page after, or null at the end")


class MessageIn(BaseModel):
    """A message an operator sends."""

    model_config = ConfigDict(extra="forbid")

    to: str = Field(pattern=PARTY_PATTERN, description="the addressee party's id")
    precedence: Precedence
    subject: str = Field(min_length=1, max_length=500)
    text: str = Field(default="", max_length=32_000)
    lang: str = Field(default="en", min_length=2, max_length=16)


def create_api_app(
    service: NodeService,
    *,
    token: str,
    identity: Identity,
    hotline: HotlineService | None = None,
    handling: HandlingService | None = None,
    link_tests: LinkTests | None = None,
    translation_model_dir: str = "",
) -> ASGIApp:
    """The operator API application (``hotline`` is built here if not given).

    Its POSTs honour ``Idempotency-Key`` (:mod:`redline.web.idempotency`).
    Raises nothing.
    """
    # FastAPI's /docs and /redoc pages load their scripts from a CDN, which a
    # node off the internet cannot reach (and should not trust): they are off.
    # The schema they render is served at /openapi.json.
    # Every route may answer these problems (the token, the body cap, the
    # checks that name a field); routes add their own (404, 409).
    app = FastAPI(
        title="Redline operator API",
        version="1",
        docs_url=None,
        redoc_url=None,
        responses=problem_responses(400, 401, 413, 422, 429),
    )
    install_problem_handlers(app)

    @app.exception_handler(Throttled)
    async def on_throttled(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Throttled)
        answer = problem(exc)
        answer.headers["retry-after"] = str(exc.retry_after)  # RFC 9110 §10.2.3
        return answer

    console = Console(service, translation_model_dir=translation_model_dir)
    # Who acts: the operator whose named API key made the request (web/acting.py).
    acting = Depends(acting_operator(lambda: console.operators))

    def token_ok(authorization: str, *, client: str, count: bool) -> bool:
        """Whether ``authorization`` carries the shared token or a named key; reads
        the store, so it runs off the event loop. Raises :class:`Throttled`."""
        scheme, _, value = authorization.partition(" ")
        # As bytes: compare_digest raises TypeError on a non-ASCII str.
        given = value.encode("latin-1", "replace")
        # The node's shared token, or an operator's named API key (`redline user key`).
        return scheme.lower() == "bearer" and (
            secrets.compare_digest(given, token.encode())
            or console.key_ok(value, client=client, count=count)
        )

    def scope_authorised(scope: Scope) -> bool:
        # The idempotency middleware asks first; the route's dependency then asks
        # again and is the one that counts a failure and answers 401 or 429.
        client = scope.get("client")
        try:
            return token_ok(
                Headers(scope=scope).get("authorization", ""),
                client=client[0] if client else "unknown",
                count=False,
            )
        except Throttled:
            return False

    app.add_middleware(Idempotency, node=service, authorised=scope_authorised)

    # A plain ``def``: FastAPI runs it in its threadpool, so the key's lookup
    # (and the rare write recording its use) never blocks the event loop.
    def authorised(request: Request, authorization: str = Header(default="")) -> None:
        client = request.client.host if request.client else "unknown"
        if not token_ok(authorization, client=client, count=True):
            raise Unauthorized(
                "a valid operator token is required (Authorization: Bearer ...)",
                field="authorization",
            )

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "party": service.party}

    @app.get("/api/v1/identity", dependencies=[Depends(authorised)])
    async def get_identity() -> dict[str, Any]:
        return identity.to_json()

    @app.post(
        "/api/v1/messages",
        dependencies=[Depends(authorised)],
        status_code=201,
        responses=problem_responses(404),
    )
    async def post_message(
        message: MessageIn, operator: Operator | None = acting
    ) -> dict[str, Any]:
        statement = await run_in_threadpool(
            service.send_message,
            to=message.to,
            precedence=message.precedence,
            subject=message.subject,
            text=message.text,
            lang=message.lang,
            by=acted_by(operator),
        )
        return {"id": statement.id, "seq": statement.seq, "to": statement.to, "state": "queued"}

    @app.get("/api/v1/messages", dependencies=[Depends(authorised)])
    async def get_messages(
        pending: bool = False, limit: int = Limit, cursor: str | None = Cursor
    ) -> MessagesPage:
        page = await run_in_threadpool(
            service.messages_page, pending=pending, limit=limit, cursor=cursor
        )
        return MessagesPage(**page)

    message_ref = Path(
        alias="id", pattern=MESSAGE_REF_PATTERN, description="id, or 8+ hex of one received"
    )

    @app.get(
        "/api/v1/messages/{id}",
        dependencies=[Depends(authorised)],
        responses=problem_responses(404),
    )
    async def get_message(message_id: str = message_ref) -> dict[str, Any]:
        # Malformed -> 422 and unknown -> 404, both naming the field ``id``.
        return await run_in_threadpool(service.message, message_id)

    # POST /api/v1/messages/{id}/ack and /seen: web/handling_api.py.

    @app.get("/api/v1/statements", dependencies=[Depends(authorised)])
    async def get_statements(limit: int = Limit, cursor: str | None = Cursor) -> StatementsPage:
        page = await run_in_threadpool(service.statements_page, limit=limit, cursor=cursor)
        return StatementsPage(**page)

    @app.get(
        "/api/v1/statements/{id}",
        dependencies=[Depends(authorised)],
        responses=problem_responses(404),
    )
    async def get_statement_state(
        statement_id: str = Path(alias="id", pattern=STATEMENT_ID_PATTERN),
    ) -> dict[str, Any]:
        return await run_in_threadpool(service.statement_state, statement_id)

    @app.get("/api/v1/outbox", dependencies=[Depends(authorised)])
    async def get_outbox(limit: int = Limit, cursor: str | None = Cursor) -> OutboxPage:
        page = await run_in_threadpool(service.outbox_page, limit=limit, cursor=cursor)
        return OutboxPage(**page)

    @app.get("/api/v1/alarms", dependencies=[Depends(authorised)])
    async def get_alarms(limit: int = Limit, cursor: str | None = Cursor) -> AlarmsPage:
        page = await run_in_threadpool(service.alarms_page, limit=limit, cursor=cursor)
        return AlarmsPage(**page)

    @app.get("/api/v1/status", dependencies=[Depends(authorised)])
    async def status(
        latest: int = Query(
            STATUS_LATEST, ge=1, le=MAX_LIMIT, description="statements and alarms shown"
        ),
    ) -> dict[str, Any]:
        return await run_in_threadpool(service.status, latest=latest)

    # Built now, not on the first hotline call: building it registers the
    # projection's upkeep, which must see every statement stored from here on.
    hotlines = [hotline if hotline is not None else HotlineService(service)]

    def get_hotline() -> HotlineService:
        return hotlines[0]

    # Added route by route (not include_router) so the app lists them, as docs tests expect.
    hotline_routes = create_hotline_router(
        get_hotline, dependencies=[Depends(authorised)], operators=lambda: console.operators
    )
    for route in hotline_routes.routes:
        # The router's routes miss the app's ``responses``: their problems too.
        if isinstance(route, APIRoute):
            route.responses = {**HOTLINE_PROBLEMS, **route.responses}
            if route.path.endswith(".ics"):
                route.responses[200] = {
                    "content": {"text/calendar": {"schema": {"type": "string"}}}
                }
    app.router.routes.extend(hotline_routes.routes)
    handlings = [handling if handling is not None else HandlingService(service)]
    handling_routes = create_handling_router(
        service,
        lambda: handlings[0],
        operators=lambda: console.operators,
        dependencies=[Depends(authorised)],
    )
    for route in handling_routes.routes:
        if isinstance(route, APIRoute):  # acks, seen, terms, escalation (docs/messages.md)
            problems = problem_responses(400, 401, 403, 404, 409, 413, 422, 429)
            route.responses = {**problems, **route.responses}
    app.router.routes.extend(handling_routes.routes)
    # The node passes its own (whose upkeep sees every statement stored); an
    # app built without one builds one at its first link-test call.
    tests: list[LinkTests | None] = [link_tests]

    def get_link_tests() -> LinkTests:
        built = tests[0]
        if built is None:
            built = tests[0] = LinkTests(service)
        return built

    link_test_routes = create_link_tests_router(
        get_link_tests, dependencies=[Depends(authorised)], operators=lambda: console.operators
    )
    for route in link_test_routes.routes:
        if isinstance(route, APIRoute):  # as the hotline's: the app's problems too
            route.responses = {**HOTLINE_PROBLEMS, **route.responses}
    app.router.routes.extend(link_test_routes.routes)  # docs/link-tests.md
    # Built on first use (listing the routes touches no service); the running
    # node installs their upkeep at start (runtime.Node).
    notice_services: list[NoticeService] = []

    def get_notices() -> NoticeService:
        if not notice_services:
            notice_services.append(NoticeService(service))
        return notice_services[0]

    def get_translations() -> TranslationService:
        return console.translations  # one for the API and the console

    notice_routes = create_notices_router(
        get_notices,
        get_translations,
        operators=lambda: console.operators,
        dependencies=[Depends(authorised)],
    )
    for route in notice_routes.routes:
        if isinstance(route, APIRoute):
            route.responses = {**HOTLINE_PROBLEMS, **route.responses}
    app.router.routes.extend(notice_routes.routes)  # docs/notices.md
    console.mount(app, hotline=hotlines[0])  # docs/console.md
    return BodyLimit(app, max_bytes=MAX_API_BODY)
