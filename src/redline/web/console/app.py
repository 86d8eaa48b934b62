"""The watch-floor console: server-rendered pages (Jinja2 + htmx), kept live by
server-sent events, in English and Chinese (docs/console.md).

Every route but the sign-in page and the static files needs a live session
(:mod:`redline.web.console.auth`); a page load without one is sent to the
sign-in page, an htmx or SSE request gets 401. Each page is a frame and one
fragment that htmx re-reads when the node announces that something was
stored, so a console that reconnects simply re-reads and misses nothing.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import orjson
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from redline.core.errors import InvalidInput, NotFound, RedlineError
from redline.core.hotline.requests import Window
from redline.core.statement import parse_time
from redline.http_problems import problem
from redline.service.handling import HandlingService
from redline.service.hotline import HotlineService
from redline.service.live import Broadcaster
from redline.service.media import media_of
from redline.service.node import NodeService
from redline.service.operators import (
    LANGUAGES,
    Forbidden,
    Operator,
    OperatorService,
    Role,
    Session,
    Throttled,
    Unauthenticated,
)
from redline.service.translation import TranslationService
from redline.web.acting import acted_by
from redline.web.console.auth import (
    COOKIE,
    CrossSite,
    NeedsSignIn,
    clear_cookie,
    client_of,
    is_htmx,
    require_session,
    same_origin,
    set_cookie,
)
from redline.web.console.export import export_archive
from redline.web.console.i18n import environment
from redline.web.console.links import add_link_routes
from redline.web.console.media import add_media_routes
from redline.web.console.notices import add_notice_routes
from redline.web.console.translations import add_translation_routes, translation_view
from redline.web.console.views import (
    REQUEST_FIELDS,
    TIMELINE_PAGE,
    TimelineQuery,
    Zones,
    calendar_days,
    counterpart_mismatch,
    directory_lines,
    local_input,
    log_lines,
    may_act_for,
    office_titles,
    party_zones,
    ringing_for,
    search_timeline,
    statement_facts,
)

__all__ = ["PUBLIC_PATHS", "create_console"]

STATIC_DIR = Path(__file__).parent / "static"
#: The only console paths open without a session (the sign-in page and its files).
PUBLIC_PATHS = frozenset({"/login", "/static"})
PRECEDENCES = ("flash", "immediate", "priority", "routine")
#: A call's modes; voice and video media are a later issue, the conversation is text.
CALL_MODES = ("call", "video")
MAX_FORM = 64 * 1024
#: Statements no page shows (link tests): announcing them would only re-read pages.
QUIET_KINDS = frozenset({"heartbeat"})
_NEXT_RE = re.compile(r"^/console/[A-Za-z0-9/_-]*$")
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self'; "
        "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; "
        "base-uri 'none'"
    ),
    "x-frame-options": "DENY",
    # Not no-referrer: with it Chromium sends "Origin: null" on a form POST.
    "referrer-policy": "same-origin",
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
}


def _form_text(form: Any, name: str, *, required: bool = True, max_len: int = 500) -> str:
    value = form.get(name)
    # Browsers send a textarea's line breaks as CRLF (HTML's form encoding); a
    # statement's text holds LF only.
    text = value.replace("\r\n", "\n") if isinstance(value, str) else ""
    if required and not text.strip():
        raise InvalidInput("is required", field=name)
    if len(text) > max_len:
        raise InvalidInput(f"at most {max_len} characters", field=name)
    return text


class Parts(Protocol):
    """What the console is built over (:class:`redline.web.console.Console`)."""

    service: NodeService

    @property
    def operators(self) -> OperatorService: ...

    @property
    def live(self) -> Broadcaster: ...

    @property
    def translations(self) -> TranslationService: ...


def create_console(parts: Parts, *, hotline: HotlineService) -> FastAPI:
    """The console application, to be mounted at ``/console``. Raises nothing."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    service = parts.service
    # Seen receipts, terms and escalation (docs/messages.md): it holds no state
    # of its own but the notifier, which the console does not use.
    handling = HandlingService(service)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    def render(
        request: Request,
        template: str,
        operator: Operator | None,
        status: int = 200,
        session: Session | None = None,
        **context: Any,
    ) -> HTMLResponse:
        lang = operator.lang if operator else _browser_lang(request)
        html = (
            environment(lang)
            .get_template(template)
            .render(
                operator=operator,
                csrf=session.csrf if session else "",
                path=request.url.path,
                party=service.party,
                **context,
            )
        )
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)

    @app.exception_handler(RedlineError)
    async def on_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RedlineError)
        if isinstance(exc, NeedsSignIn) and request.method == "GET" and not is_htmx(request):
            return RedirectResponse(exc.login_url, status_code=303, headers=SECURITY_HEADERS)
        if is_htmx(request) or isinstance(exc, Unauthenticated):
            return problem(exc)
        session = await _maybe_session(request)
        return render(
            request,
            "error.html",
            session.operator if session else None,
            status=exc.status,
            session=session,
            error=exc,
        )

    async def _maybe_session(request: Request) -> Session | None:
        token = request.cookies.get(COOKIE, "")
        return await run_in_threadpool(parts.operators.session, token) if token else None

    async def viewer(request: Request) -> Session:
        return await require_session(request, parts.operators, change=False)

    async def actor(request: Request) -> Session:
        if int(request.headers.get("content-length") or 0) > MAX_FORM:
            raise InvalidInput(f"a form is at most {MAX_FORM} bytes", field="body")
        return await require_session(request, parts.operators, change=True)

    async def act(
        session: Session, request: Request, action: str, target: str, fn: Callable[[], Any]
    ) -> Any:
        result = await run_in_threadpool(fn)
        await run_in_threadpool(
            parts.operators.audit, session.operator.name, action, target, client=client_of(request)
        )
        return result

    # Voice and video: the signed offer and answer, the fingerprint check (docs/calls.md).
    add_media_routes(
        app,
        hotline=hotline,
        media_of=lambda: media_of(hotline),
        viewer=viewer,
        actor=actor,
        act=act,
        require_change=lambda request: require_session(request, parts.operators, change=True),
    )

    # -- signing in and out -----------------------------------------------------------

    @app.get("/login")
    async def login_page(request: Request, next: str = "") -> Response:
        return render(request, "login.html", None, next=_safe_next(next))

    @app.post("/login")
    async def login(request: Request) -> Response:
        if not same_origin(request):
            raise CrossSite("refused: the sign-in comes from another site", field="origin")
        form = await request.form()
        name = _form_text(form, "name", max_len=64)
        password = _form_text(form, "password", max_len=1024)
        code = _form_text(form, "code", required=False, max_len=16)
        target = _safe_next(_form_text(form, "next", required=False, max_len=300))
        try:
            signed = await run_in_threadpool(
                parts.operators.sign_in,
                name,
                password,
                code=code,
                client=client_of(request),
                previous=request.cookies.get(COOKIE) or None,
            )
        except (Unauthenticated, Throttled) as exc:
            page = render(
                request, "login.html", None, status=exc.status, error=exc, next=target, name=name
            )
            if isinstance(exc, Throttled):
                page.headers["retry-after"] = str(exc.retry_after)
            return page
        response = RedirectResponse(target or "/console/now", status_code=303)
        set_cookie(response, signed.token)
        return response

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        session = await actor(request)
        await run_in_threadpool(parts.operators.sign_out, session, client=client_of(request))
        response = RedirectResponse("/console/login", status_code=303)
        clear_cookie(response)
        return response

    @app.post("/lang")
    async def set_lang(request: Request) -> Response:
        session = await actor(request)
        form = await request.form()
        lang = _form_text(form, "lang", max_len=8)
        name = session.operator.name
        await act(session, request, "set-lang", lang, lambda: parts.operators.set_lang(name, lang))
        back = _safe_next(_form_text(form, "next", required=False, max_len=300))
        return RedirectResponse(back or "/console/now", status_code=303)

    # -- pages and their live fragments ----------------------------------------------------

    def with_zones(
        data: Callable[[Session, dict[str, str]], dict[str, Any]],
        session: Session,
        params: dict[str, str],
    ) -> dict[str, Any]:
        """A page's data, with the zones its times are shown in."""
        context = data(session, params)
        if "zones" not in context:
            context["zones"] = zones_for(session.operator)
        return context

    def page(
        name: str, fragment: str, data: Callable[[Session, dict[str, str]], dict[str, Any]]
    ) -> tuple[Callable[[Request], Awaitable[Response]], Callable[[Request], Awaitable[Response]]]:
        async def full(request: Request) -> Response:
            session = await viewer(request)
            # "_page" tells a page's data it is opened, not re-read (a message is seen).
            params = {**request.query_params, **request.path_params, "_page": "full"}
            context = await run_in_threadpool(with_zones, data, session, params)
            query = f"?{request.url.query}" if request.url.query else ""
            return render(
                request,
                name,
                session.operator,
                session=session,
                fragment=fragment,
                fragment_url=request.url.path.replace("/console/", "/console/fragments/", 1)
                + query,
                **context,
            )

        async def part(request: Request) -> Response:
            session = await viewer(request)
            params = {**request.query_params, **request.path_params, "_page": "fragment"}
            context = await run_in_threadpool(with_zones, data, session, params)
            return render(request, fragment, session.operator, session=session, **context)

        return full, part

    def counts() -> dict[str, int]:
        rows = service.messages(pending=True)
        return {"unread": sum(1 for r in rows if r["direction"] == "in")}

    def now_data(session: Session, _params: dict[str, str]) -> dict[str, Any]:
        board = hotline.board()
        items: list[dict[str, Any]] = []
        for m in service.messages(pending=True):
            if m["direction"] == "in":
                items.append({"what": "message", "deadline": m["ack_deadline"], "row": m})
            elif m["ack_state"] == "overdue":
                items.append({"what": "overdue", "deadline": m["ack_deadline"], "row": m})
        for r in board["open_requests"]:
            if r["to_party"] == service.party:
                items.append({"what": "request", "deadline": r["deadline"], "row": r})
        for c in board["calls"]:
            if c["state"] == "ringing" and c["to_party"] == service.party:
                items.append({"what": "call", "deadline": c["missed_at"], "row": c})
        for link in board.get("link_tests", []):
            # A peer's operator test: a person here must answer it in time.
            for t in link["awaiting_answer"]:
                row = {**t, "peer": link["peer"]}
                items.append({"what": "link-test", "deadline": t["answer_by"], "row": row})
        items.sort(key=lambda i: i["deadline"] or "")
        return {"items": items, "counts": counts()}

    def inbox_data(session: Session, _params: dict[str, str]) -> dict[str, Any]:
        rows = sorted(service.messages(), key=lambda r: r["time"], reverse=True)
        return {"messages": rows, "counts": counts()}

    def message_data(session: Session, params: dict[str, str]) -> dict[str, Any]:
        message = service.message(params["message_id"])
        operator = session.operator
        if (
            params.get("_page") == "full"
            and message["direction"] == "in"
            and message["seen_id"] is None
            and operator.handles_traffic
        ):
            # Opening a received message is seeing it: signed once (the
            # service refuses a second); a re-read of the fragment signs nothing.
            handling.seen(message["id"], by=acted_by(operator))
            message = service.message(message["id"])
        link = handling.terms(message["peer"])["links"][0]
        translated = translation_view(
            parts.translations, message["id"], original_lang=message["lang"], reader=operator.lang
        )
        return {"message": message, "terms": link, "tr": translated, "counts": counts()}

    def board_data(session: Session, _params: dict[str, str]) -> dict[str, Any]:
        status = service.status()
        return {"board": hotline.board(), "alarms": status.get("alarms", []), "counts": counts()}

    def requests_data(session: Session, _params: dict[str, str]) -> dict[str, Any]:
        board = hotline.board()
        lines = directory_lines(hotline.directory(), session.operator.lang)
        ours = [o for p in lines if p["id"] == service.party for o in p["offices"]]
        return {"board": board, "ours": ours, "counts": counts()}

    def audit_data(session: Session, _params: dict[str, str]) -> dict[str, Any]:
        if session.operator.role is not Role.ADMIN:
            raise Forbidden("only an admin reads the audit trail", field="role")
        return {"rows": parts.operators.audit_log(), "counts": counts()}

    # -- the later pages: calls, timeline, directory, calendar, record -----------------------

    def zones_for(operator: Operator) -> Zones:
        parties = party_zones(hotline.directory())
        mine = operator.zone or parties.get(service.party, "UTC")
        return Zones(mine=mine, parties=parties)

    def call_lines(session: Session) -> dict[str, Any]:
        board = hotline.board()
        directory = hotline.directory()
        lang = session.operator.lang
        return {
            "board": board,
            "calls": board["calls"],
            "titles": office_titles(directory, lang),
            "zones": zones_for(session.operator),
            "counts": counts(),
        }

    def calls_data(session: Session, _params: dict[str, str]) -> dict[str, Any]:
        context = call_lines(session)
        calls = context["calls"]
        context["ringing"] = ringing_for(context["board"], service.party, session.operator)
        context["open_calls"] = [c for c in calls if c["state"] in ("answered", "ringing")]
        context["ended"] = [c for c in calls if c["state"] not in ("answered", "ringing")]
        context["form"] = call_form(session, hotline.directory(), context["board"])
        return context

    def call_form(
        session: Session, directory: dict[str, Any], board: dict[str, Any]
    ) -> dict[str, Any]:
        lines = directory_lines(directory, session.operator.lang)
        ours = [o for p in lines if p["id"] == service.party for o in p["offices"]]
        theirs = [(p, o) for p in lines if p["id"] != service.party for o in p["offices"]]
        return {
            "ours": [o for o in ours if may_act_for(session.operator, o["id"])],
            "theirs": theirs,
            "mechanisms": board["mechanisms"],
        }

    def call_data(session: Session, params: dict[str, str]) -> dict[str, Any]:
        context = call_lines(session)
        call = next((c for c in context["calls"] if c["id"] == params["call_id"]), None)
        if call is None:
            raise NotFound(f"no call {params['call_id']!r}", field="call_id")
        ours = call["to_office"] if call["to_party"] == service.party else call["from_office"]
        context["this_call"] = call
        context["incoming"] = call["to_party"] == service.party
        context["may_act"] = may_act_for(session.operator, ours)
        return context

    def timeline_data(session: Session, params: dict[str, str]) -> dict[str, Any]:
        query = TimelineQuery.of(params)
        directory = hotline.directory()
        record = hotline.record()
        entries = hotline.timeline()
        levels = {o["id"]: o["level"] for p in directory["parties"] for o in p["offices"]}
        facts = statement_facts(record.statements, levels)
        for m in service.messages():
            entries.append(
                {
                    "at": m["time"],
                    "kind": "message",
                    "title": m["subject"],
                    "from": service.party if m["direction"] == "out" else m["peer"],
                    "to": m["peer"] if m["direction"] == "out" else service.party,
                    "source": "signed",
                    "statement_id": m["id"],
                    "precedence": m["precedence"],
                }
            )
            if query.q:
                facts.texts[m["id"]] = service.message(m["id"])["text"]
        entries.sort(key=lambda e: str(e["at"]))
        rows, total = search_timeline(
            entries, facts.texts, query, mechanisms_of=facts.mechanisms, levels_of=facts.levels
        )
        pages = max(1, -(-total // TIMELINE_PAGE))
        return {
            "rows": rows,
            "total": total,
            "query": query,
            "pages": pages,
            "peers": [p.party for p in service.peers()],
            "mechanisms": sorted({m["id"] for m in directory["mechanisms"]}),
            "levels": sorted(set(levels.values())),
            "zones": zones_for(session.operator),
            "counts": counts(),
        }

    def directory_data(session: Session, _params: dict[str, str]) -> dict[str, Any]:
        directory = hotline.directory()
        lang = session.operator.lang
        return {
            "parties": directory_lines(directory, lang),
            "counterparts": directory["counterparts"],
            "titles": office_titles(directory, lang),
            "counts": counts(),
        }

    def calendar_data(session: Session, _params: dict[str, str]) -> dict[str, Any]:
        zones = zones_for(session.operator)
        return {
            "days": calendar_days(hotline.calendar(), zones, service.party),
            "zones": zones,
            "counts": counts(),
        }

    def record_data(session: Session, _params: dict[str, str]) -> dict[str, Any]:
        peers = [p.party for p in service.peers()]
        return {
            "logs": log_lines(service, peers),
            "alarms": service.status().get("alarms", []),
            "zones": zones_for(session.operator),
            "counts": counts(),
        }

    def request_new_data(session: Session, params: dict[str, str]) -> dict[str, Any]:
        directory = hotline.directory()
        board = hotline.board()
        form = call_form(session, directory, board)
        return {
            "form": form,
            "mismatch": counterpart_mismatch(
                directory, params.get("from_office", ""), params.get("to_office", ""), service.party
            ),
            "values": {k: params.get(k, "") for k in REQUEST_FIELDS},
            "zones": zones_for(session.operator),
            "counts": counts(),
        }

    for path, name, data in (
        ("now", "now", now_data),
        ("inbox", "inbox", inbox_data),
        ("messages/{message_id}", "message", message_data),
        ("board", "board", board_data),
        ("requests", "requests", requests_data),
        ("audit", "audit", audit_data),
        ("calls", "calls", calls_data),
        ("calls/{call_id}", "call", call_data),
        ("timeline", "timeline", timeline_data),
        ("directory", "directory", directory_data),
        ("calendar", "calendar", calendar_data),
        ("record", "record", record_data),
        ("requests/new", "request_new", request_new_data),
    ):
        full, part = page(f"{name}.html", f"_{name}.html", data)
        app.add_api_route(f"/{path}", full, methods=["GET"], name=name)
        app.add_api_route(f"/fragments/{path}", part, methods=["GET"], name=f"{name}-fragment")

    # Link pages: terms, escalation policy, link tests (docs/console.md).
    add_link_routes(
        app,
        service=service,
        handling=handling,
        page=page,
        data_extra=lambda: {"counts": counts()},
        actor=actor,
        act=act,
        form_text=_form_text,
    )

    # Notices: the list, one notice in the operator's language, filing one.
    add_notice_routes(
        app,
        service=service,
        page=page,
        data_extra=lambda _session: {"counts": counts()},
        zone_of=lambda operator: zones_for(operator).mine,
        mechanisms=lambda: sorted(m["id"] for m in hotline.directory()["mechanisms"]),
        # A notice is codes; only its remarks are prose, in no stated language.
        panel=lambda session, notice_id: translation_view(
            parts.translations, notice_id, original_lang="", reader=session.operator.lang
        ),
        actor=actor,
        act=act,
        form_text=_form_text,
    )

    # Translations beside a statement, and each link's glossary.
    add_translation_routes(
        app,
        service=service,
        translations=lambda: parts.translations,
        page=page,
        data_extra=lambda _session: {"counts": counts()},
        actor=actor,
        act=act,
        form_text=_form_text,
    )

    @app.get("/")
    async def home(request: Request) -> Response:
        await viewer(request)
        return RedirectResponse("/console/now", status_code=303)

    @app.get("/fragments/nav")
    async def nav(request: Request) -> Response:
        session = await viewer(request)
        data = await run_in_threadpool(counts)
        return render(request, "_nav.html", session.operator, session=session, counts=data)

    # -- acts ------------------------------------------------------------------------------------

    @app.get("/compose")
    async def compose_page(request: Request) -> Response:
        session = await viewer(request)
        peers = await run_in_threadpool(service.peers)
        return render(
            request,
            "compose.html",
            session.operator,
            session=session,
            peers=[p.party for p in peers],
            precedences=PRECEDENCES,
            counts=await run_in_threadpool(counts),
        )

    @app.post("/compose")
    async def compose(request: Request) -> Response:
        session = await actor(request)
        if not session.operator.handles_traffic:
            raise Forbidden("a principal does not send the node's messages", field="role")
        form = await request.form()
        to = _form_text(form, "to", max_len=32)
        precedence = _form_text(form, "precedence", max_len=16)
        subject = _form_text(form, "subject", max_len=500)
        text = _form_text(form, "text", required=False, max_len=32_000)
        lang = session.operator.lang
        statement = await act(
            session,
            request,
            "send-message",
            f"{precedence} to {to}: {subject}",
            lambda: service.send_message(
                to=to,
                precedence=precedence,
                subject=subject,
                text=text,
                lang=lang,
                by=acted_by(session.operator),
            ),
        )
        return RedirectResponse(f"/console/messages/{statement.id}", status_code=303)

    @app.post("/messages/{message_id}/ack")
    async def acknowledge(request: Request, message_id: str) -> Response:
        session = await actor(request)
        if not session.operator.handles_traffic:
            raise Forbidden("a principal does not acknowledge the node's messages", field="role")
        form = await request.form()
        reply = _form_text(form, "reply", required=False, max_len=2000).strip()
        await act(
            session,
            request,
            "acknowledge",
            message_id,
            lambda: service.acknowledge(message_id, reply=reply or None, operator=session.operator),
        )
        return RedirectResponse(f"/console/messages/{message_id}", status_code=303)

    @app.post("/requests/{request_id}/respond")
    async def respond(request: Request, request_id: str) -> Response:
        session = await actor(request)
        form = await request.form()
        action = _form_text(form, "action", max_len=16)
        board = await run_in_threadpool(hotline.board)
        found = next((r for r in board["open_requests"] if r["id"] == request_id), None)
        if found is None:
            raise NotFound(f"no open request {request_id!r} awaits an answer", field="request_id")
        if not session.operator.may_answer_for(found["to_office"]):
            raise Forbidden(
                f"{session.operator.name} does not act for {found['to_office']}", field="office"
            )
        by = acted_by(session.operator, found["to_office"])
        if action == "decline":
            reason = _form_text(form, "reason", max_len=2000)
            call = lambda: hotline.respond(request_id, decline=reason, by=by)  # noqa: E731
        elif action == "accept":
            start = _form_text(form, "start", max_len=40)
            end = _form_text(form, "end", max_len=40)
            window = _window(start, end)
            call = lambda: hotline.respond(request_id, accept=window, by=by)  # noqa: E731
        elif action == "counter":
            office = _form_text(form, "offered_office", max_len=64)
            note = _form_text(form, "note", required=False, max_len=2000)
            zone = (await run_in_threadpool(zones_for, session.operator)).mine
            offered = _window_at(
                _form_text(form, "start_1", max_len=40),
                _form_text(form, "end_1", max_len=40),
                zone,
                1,
            )
            call = lambda: hotline.respond(  # noqa: E731
                request_id, counter_office=office, counter_windows=[offered], note=note, by=by
            )
        else:
            raise InvalidInput("must be accept, decline or counter", field="action")
        await act(session, request, f"respond-{action}", request_id, call)
        return RedirectResponse("/console/requests", status_code=303)

    # -- calls ----------------------------------------------------------------------------------

    async def find_call(call_id: str) -> dict[str, Any]:
        board = await run_in_threadpool(hotline.board)
        found = next((c for c in board["calls"] if c["id"] == call_id), None)
        if found is None:
            raise NotFound(f"no call {call_id!r}", field="call_id")
        return dict(found)

    @app.get("/fragments/ringing")
    async def ringing(request: Request) -> Response:
        session = await viewer(request)

        def data() -> dict[str, Any]:
            board = hotline.board()
            return {
                "ringing": ringing_for(board, service.party, session.operator),
                "titles": office_titles(hotline.directory(), session.operator.lang),
            }

        context = await run_in_threadpool(data)
        return render(request, "_ringing.html", session.operator, session=session, **context)

    @app.post("/calls")
    async def place_call(request: Request) -> Response:
        session = await actor(request)
        form = await request.form()
        from_office = _form_text(form, "from_office", max_len=64)
        to_office = _form_text(form, "to_office", max_len=64)
        mechanism = _form_text(form, "mechanism", max_len=64)
        mode = _form_text(form, "mode", max_len=16)
        purpose = _form_text(form, "purpose", required=False, max_len=500)
        if mode not in CALL_MODES:
            raise InvalidInput(f"must be one of {', '.join(CALL_MODES)}", field="mode")
        if not may_act_for(session.operator, from_office):
            raise Forbidden(
                f"{session.operator.name} does not act for {from_office}", field="from_office"
            )
        statement = await act(
            session,
            request,
            "place-call",
            f"{from_office} to {to_office}",
            lambda: hotline.place_call(
                from_office=from_office,
                to_office=to_office,
                mechanism=mechanism,
                mode=mode,
                purpose=purpose,
                by=acted_by(session.operator, from_office),
            ),
        )
        return RedirectResponse(f"/console/calls/{statement.model.id}", status_code=303)

    @app.post("/calls/{call_id}/event")
    async def call_event(request: Request, call_id: str) -> Response:
        session = await actor(request)
        form = await request.form()
        action = _form_text(form, "action", max_len=16)
        if action not in ("answer", "decline", "end"):
            raise InvalidInput("must be answer, decline or end", field="action")
        reason = _form_text(form, "reason", required=False, max_len=2000)
        call = await find_call(call_id)
        ours = call["to_office"] if call["to_party"] == service.party else call["from_office"]
        if not may_act_for(session.operator, ours):
            raise Forbidden(f"{session.operator.name} does not act for {ours}", field="office")
        await act(
            session,
            request,
            f"call-{action}",
            call_id,
            lambda: hotline.call_event(
                call_id, action, reason=reason, by=acted_by(session.operator, ours)
            ),
        )
        return RedirectResponse(f"/console/calls/{call_id}", status_code=303)

    @app.post("/calls/{call_id}/say")
    async def say(request: Request, call_id: str) -> Response:
        session = await actor(request)
        form = await request.form()
        text = _form_text(form, "text", max_len=4000)
        call = await find_call(call_id)
        ours = call["to_office"] if call["to_party"] == service.party else call["from_office"]
        if not may_act_for(session.operator, ours):
            raise Forbidden(f"{session.operator.name} does not act for {ours}", field="office")
        lang = session.operator.lang
        await act(
            session,
            request,
            "call-say",
            call_id,
            lambda: hotline.say(call_id, text, lang=lang, by=acted_by(session.operator, ours)),
        )
        return RedirectResponse(f"/console/calls/{call_id}", status_code=303)

    # -- a new request, the calendar file, the export ------------------------------------------

    @app.post("/requests/new")
    async def new_request(request: Request) -> Response:
        session = await actor(request)
        form = await request.form()
        values = {
            name: _form_text(form, name, required=False, max_len=4000) for name in REQUEST_FIELDS
        }
        for name in ("from_office", "to_office", "mechanism", "mode", "start_1", "end_1"):
            if not values[name].strip():
                raise InvalidInput("is required", field=name)
        if not may_act_for(session.operator, values["from_office"]):
            raise Forbidden(
                f"{session.operator.name} does not act for {values['from_office']}",
                field="from_office",
            )

        def check() -> dict[str, Any] | None:
            return counterpart_mismatch(
                hotline.directory(), values["from_office"], values["to_office"], service.party
            )

        mismatch = await run_in_threadpool(check)
        if mismatch is not None and form.get("confirm") != "yes":
            context = await run_in_threadpool(request_new_data, session, values)
            return render(
                request,
                "request_new.html",
                session.operator,
                status=409,
                session=session,
                fragment="_request_new.html",
                fragment_url="/console/fragments/requests/new",
                confirm_needed=True,
                **context,
            )
        zone = (await run_in_threadpool(zones_for, session.operator)).mine
        windows = [
            _window_at(values[f"start_{i}"], values[f"end_{i}"], zone, i)
            for i in (1, 2)
            if values[f"start_{i}"] or values[f"end_{i}"]
        ]
        deadline = local_input(values["deadline"], zone, "deadline") if values["deadline"] else None
        agenda = [line.strip() for line in values["agenda"].split("\n") if line.strip()]
        statement = await act(
            session,
            request,
            "request",
            f"{values['from_office']} to {values['to_office']}",
            lambda: hotline.request(
                from_office=values["from_office"],
                to_office=values["to_office"],
                mechanism=values["mechanism"],
                mode=values["mode"],
                windows=windows,
                deadline=deadline,
                agenda=agenda,
                by=acted_by(session.operator, values["from_office"]),
            ),
        )
        return RedirectResponse(f"/console/requests#r-{statement.model.id}", status_code=303)

    @app.get("/calendar.ics")
    async def calendar_file(request: Request) -> Response:
        await viewer(request)
        data = await run_in_threadpool(hotline.calendar)
        return Response(
            data,
            media_type="text/calendar",
            headers={
                "content-disposition": f'attachment; filename="redline-{service.party}.ics"',
                "cache-control": "no-store",
            },
        )

    @app.get("/record/export.zip")
    async def export_zip(request: Request) -> Response:
        session = await viewer(request)
        data = await run_in_threadpool(export_archive, service)
        await run_in_threadpool(
            parts.operators.audit,
            session.operator.name,
            "export",
            "record",
            client=client_of(request),
        )
        return Response(
            data,
            media_type="application/zip",
            headers={
                "content-disposition": f'attachment; filename="redline-{service.party}-export.zip"',
                "cache-control": "no-store",
            },
        )

    # -- live updates ------------------------------------------------------------------------------

    @app.get("/events")
    async def events(request: Request) -> Response:
        await viewer(request)
        sub = parts.live.subscribe()

        async def stream() -> AsyncIterator[ServerSentEvent]:
            try:
                # First, always: a console that (re)connects re-reads what it shows.
                yield ServerSentEvent(data="{}", event="changed")
                while True:
                    event = await sub.next()
                    if event is None:
                        return  # too slow: dropped; the browser reconnects and re-reads
                    if event.kind in QUIET_KINDS:
                        continue  # nothing a page shows: no page re-reads for it
                    yield ServerSentEvent(
                        data=orjson.dumps(event.to_json()).decode(),
                        event="changed",
                        id=str(event.id),
                    )
            finally:
                parts.live.unsubscribe(sub)

        return EventSourceResponse(stream(), ping=15, headers={"cache-control": "no-store"})

    return app


def _browser_lang(request: Request) -> str:
    accept = request.headers.get("accept-language", "").lower()
    return "zh" if accept.startswith("zh") else LANGUAGES[0]


def _safe_next(value: str) -> str:
    """A redirect target only inside the console (no open redirect). Raises nothing."""
    return value if _NEXT_RE.match(value) else ""


def _window_at(start: str, end: str, zone: str, n: int) -> Window:
    """Window ``n`` of the new-request form, its times read in the operator's ``zone``."""
    if not start:
        raise InvalidInput("is required with its end", field=f"start_{n}")
    if not end:
        raise InvalidInput("is required with its start", field=f"end_{n}")
    begin = local_input(start, zone, f"start_{n}")
    finish = local_input(end, zone, f"end_{n}")
    try:
        return Window(start=begin, end=finish)
    except ValueError as exc:
        raise InvalidInput(str(exc), field=f"end_{n}") from exc


def _window(start: str, end: str) -> Window:
    try:
        return Window(start=_when(start, "start"), end=_when(end, "end"))
    except InvalidInput:
        raise
    except ValueError as exc:
        raise InvalidInput(str(exc), field="start") from exc


def _when(value: str, field: str) -> datetime:
    try:
        return parse_time(value)
    except (ValueError, RedlineError) as exc:
        raise InvalidInput("must be an RFC 3339 UTC time", field=field) from exc
