"""The console's notices (docs/notices.md, docs/console.md): the list, newest
first and paged; one notice rendered in the operator's language with its coded
body one click away; and a form for each of the three notice types whose coded
lists are selects labelled in the operator's language.

A notice's fields arrive as form fields; the body is built here and checked
by the service, which names the bad field (``body.position.lat``) and stores
nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from redline.core.errors import InvalidInput
from redline.core.hotline.mechanism import MechanismStatus
from redline.core.notices import (
    ActivityKind,
    Behaviour,
    DistanceUnit,
    EncounterDomain,
    ForceType,
    NoticeType,
    ReasonCode,
    RequestedActionCode,
    UnitType,
    label,
)
from redline.core.times import format_time
from redline.service.node import NodeService
from redline.service.notices import NoticeService
from redline.service.operators import Forbidden, Operator, Session
from redline.web.acting import acted_by
from redline.web.console.views import local_input

__all__ = ["NOTICES_PAGE", "add_notice_routes", "notice_body", "vocabularies"]

#: Notices a page of the list shows.
NOTICES_PAGE = 50
#: Rows of forces an activity form offers.
FORCE_ROWS = 4

Data = Callable[[Session, dict[str, str]], dict[str, Any]]
Page = Callable[[str, str, Data], tuple[Any, Any]]
Act = Callable[[Session, Request, str, str, Callable[[], Any]], Awaitable[Any]]
FormText = Callable[..., str]


def _choices(vocabulary: type[StrEnum], lang: str) -> list[tuple[str, str]]:
    return [(code.value, label(code, lang)) for code in vocabulary]


def vocabularies(lang: str) -> dict[str, list[tuple[str, str]]]:
    """Each coded list of the forms: ``[(code, label in lang)]``. Raises nothing."""
    return {
        "types": _choices(NoticeType, lang),
        "domains": _choices(EncounterDomain, lang),
        "units": _choices(UnitType, lang),
        "behaviours": _choices(Behaviour, lang),
        "actions": _choices(RequestedActionCode, lang),
        "distance_units": _choices(DistanceUnit, lang),
        "activities": _choices(ActivityKind, lang),
        "forces": _choices(ForceType, lang),
        "statuses": _choices(MechanismStatus, lang),
        "reasons": _choices(ReasonCode, lang),
    }


def _unit(form: Any, prefix: str, form_text: FormText) -> dict[str, Any]:
    unit: dict[str, Any] = {"type": form_text(form, f"{prefix}_type", max_len=40)}
    given = form_text(form, f"{prefix}_id", required=False, max_len=40).strip()
    if given:
        unit["id"] = given
    return unit


def _area(text: str) -> list[dict[str, str]]:
    points = []
    for n, line in enumerate(t for t in text.splitlines() if t.strip()):
        parts = line.replace(",", " ").split()
        if len(parts) != 2:
            raise InvalidInput(
                f"line {n + 1}: give a point as 'latitude longitude' (decimal degrees)",
                field="area",
            )
        points.append({"lat": parts[0], "lon": parts[1]})
    return points


def notice_body(form: Any, kind: str, *, zone: str, form_text: FormText) -> dict[str, Any]:
    """The wire body of a notice of ``kind`` from the console's form (times in
    the operator's ``zone``). Raises :class:`InvalidInput` naming the form's
    field for what is missing or unreadable here; the service checks the rest."""
    remarks = form_text(form, "remarks", required=False, max_len=4000).strip()
    body: dict[str, Any] = {"type": kind}
    if kind == NoticeType.ENCOUNTER:
        action: dict[str, Any] = {"code": form_text(form, "requested_action", max_len=40)}
        action_text = form_text(form, "requested_text", required=False, max_len=2000).strip()
        if action_text:
            action["text"] = action_text
        body |= {
            "domain": form_text(form, "domain", max_len=16),
            "time": format_time(local_input(form_text(form, "time", max_len=40), zone, "time")),
            "position": {
                "lat": form_text(form, "lat", max_len=20).strip(),
                "lon": form_text(form, "lon", max_len=20).strip(),
            },
            "own_unit": _unit(form, "own_unit", form_text),
            "other_unit": _unit(form, "other_unit", form_text),
            "cpa": {
                "value": form_text(form, "cpa_value", max_len=20).strip(),
                "unit": form_text(form, "cpa_unit", max_len=8),
            },
            "behaviours": [b for b in form.getlist("behaviours") if isinstance(b, str)][:32],
            "requested_action": action,
        }
    elif kind == NoticeType.ACTIVITY:
        forces = []
        for n in range(1, FORCE_ROWS + 1):
            force = form_text(form, f"force_type_{n}", required=False, max_len=40)
            count = form_text(form, f"force_count_{n}", required=False, max_len=8).strip()
            if not force and not count:
                continue
            if not count.isdigit():
                raise InvalidInput("must be a whole number", field=f"force_count_{n}")
            forces.append({"type": force, "count": int(count)})
        body |= {
            "activity": form_text(form, "activity", max_len=16),
            "start": form_text(form, "start", max_len=10),
            "end": form_text(form, "end", max_len=10),
            "area": _area(form_text(form, "area", max_len=4000)),
            "forces": forces,
        }
    elif kind == NoticeType.MECHANISM_CHANGE:
        effective = local_input(form_text(form, "effective", max_len=40), zone, "effective")
        body |= {
            "mechanism": form_text(form, "mechanism", max_len=64).strip(),
            "status": form_text(form, "status", max_len=16),
            "effective": format_time(effective),
            "reason": form_text(form, "reason", max_len=32),
        }
    else:
        raise InvalidInput("must be encounter, activity or mechanism-change", field="type")
    if remarks:
        body["remarks"] = remarks
    return body


def add_notice_routes(
    app: FastAPI,
    *,
    service: NodeService,
    page: Page,
    data_extra: Callable[[Session], dict[str, Any]],
    zone_of: Callable[[Operator], str],
    mechanisms: Callable[[], list[str]],
    panel: Callable[[Session, str], dict[str, Any]],
    actor: Callable[[Request], Awaitable[Session]],
    act: Act,
    form_text: FormText,
) -> None:
    """Add the notice pages (and their fragments) and the filing of a notice to
    the console ``app``. ``panel`` gives the translations shown beside a
    notice. Raises nothing."""
    built: list[NoticeService] = []

    def notices() -> NoticeService:
        # Built on first use: its hooks index every notice stored from then on.
        if not built:
            built.append(NoticeService(service))
        return built[0]

    def list_data(session: Session, params: dict[str, str]) -> dict[str, Any]:
        raw = params.get("page", "1")
        if not raw.isdigit() or int(raw) < 1:
            raise InvalidInput("must be a page number, 1 or more", field="page")
        number = int(raw)
        rows = notices().notices(lang=session.operator.lang)[::-1]  # newest first
        pages = max(1, -(-len(rows) // NOTICES_PAGE))
        start = (number - 1) * NOTICES_PAGE
        return {
            "rows": rows[start : start + NOTICES_PAGE],
            "page_number": number,
            "pages": pages,
            **data_extra(session),
        }

    def notice_data(session: Session, params: dict[str, str]) -> dict[str, Any]:
        found = notices().notice(params["notice_id"], lang=session.operator.lang)
        return {
            "notice": found,
            "coded": orjson.dumps(found["body"], option=orjson.OPT_INDENT_2).decode(),
            "tr": panel(session, found["id"]),
            **data_extra(session),
        }

    def new_data(session: Session, params: dict[str, str]) -> dict[str, Any]:
        kind = params.get("type", NoticeType.ENCOUNTER.value)
        if kind not in {t.value for t in NoticeType}:
            raise InvalidInput("must be encounter, activity or mechanism-change", field="type")
        return {
            "kind": kind,
            "codes": vocabularies(session.operator.lang),
            "peers": [p.party for p in service.peers()],
            "mechanisms": mechanisms(),
            "force_rows": range(1, FORCE_ROWS + 1),
            **data_extra(session),
        }

    for path, name, data in (
        ("notices", "notices", list_data),
        ("notices/new", "notice_new", new_data),
        ("notices/{notice_id}", "notice", notice_data),
    ):
        full, part = page(f"{name}.html", f"_{name}.html", data)
        app.add_api_route(f"/{path}", full, methods=["GET"], name=name)
        app.add_api_route(f"/fragments/{path}", part, methods=["GET"], name=f"{name}-fragment")

    @app.post("/notices")
    async def file_notice(request: Request) -> Response:
        session = await actor(request)
        if not session.operator.handles_traffic:
            raise Forbidden("a principal does not file the node's notices", field="role")
        form = await request.form()
        to = form_text(form, "to", max_len=32)
        kind = form_text(form, "type", max_len=20)
        zone = await run_in_threadpool(zone_of, session.operator)
        body = notice_body(form, kind, zone=zone, form_text=form_text)
        by = acted_by(session.operator)
        statement = await act(
            session,
            request,
            "file-notice",
            f"{kind} to {to}",
            lambda: notices().send_notice(to=to, notice=body, by=by),
        )
        return RedirectResponse(f"/console/notices/{statement.id}", status_code=303)
