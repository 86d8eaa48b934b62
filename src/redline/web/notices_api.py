"""The operator API for notices, translations and glossaries (docs/notices.md).

Thin over :class:`~redline.service.notices.NoticeService` and
:class:`~redline.service.translation.TranslationService`. An act made with an
operator's named API key names the operator (and the office given) in its
signed body (``by``); one made with the node's shared token names no one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from redline.core.errors import InvalidInput
from redline.core.fields import Ident, Lang
from redline.service.notices import NoticeService
from redline.service.operators import Operator, OperatorService
from redline.service.paging import DEFAULT_LIMIT, MAX_CURSOR, MAX_LIMIT
from redline.service.translation import TranslationService
from redline.web.acting import acted_for, acting_operator

__all__ = ["create_notices_router"]

#: A party id, as statements carry it.
PARTY_PATTERN = r"^[a-z][a-z0-9-]{0,31}$"
#: A statement: its id, or its first 8 or more hex characters.
REF_PATTERN = r"^[0-9a-fA-F]{8,64}$"

Party = Annotated[str, Field(pattern=PARTY_PATTERN, description="a pinned peer's party id")]
Ref = Path(alias="id", pattern=REF_PATTERN, description="id, or its first 8+ hex characters")
LangQuery = Query("en", min_length=2, max_length=35, description="en or zh")
Limit = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
Cursor = Query(None, min_length=1, max_length=MAX_CURSOR, pattern=r"^[A-Za-z0-9_-]+$")


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NoticeIn(_In):
    to: Party
    #: The notice's coded body, with its ``type`` (docs/notices.md); checked by the service.
    notice: dict[str, Any]
    office: Ident | None = None


class TranslationIn(_In):
    original: Annotated[str, Field(pattern=REF_PATTERN)]
    lang: Lang
    text: str | None = Field(default=None, max_length=32_000)
    machine: bool = False
    office: Ident | None = None


class GlossaryIn(_In):
    to: Party
    entries: list[dict[str, Any]] = Field(min_length=1, max_length=200)
    office: Ident | None = None


class AcceptIn(_In):
    office: Ident | None = None


class NoticesPage(BaseModel):
    """A page of notices, oldest first by signed time."""

    notices: list[dict[str, Any]]
    next: str | None = Field(description="the cursor of the page after, or null at the end")


def _as_notice_field(exc: InvalidInput) -> InvalidInput:
    # The service names a body field (``body.position.lat``); the request holds
    # it under ``notice`` (or ``entries``).
    field = exc.field or ""
    if field == "body" or field.startswith("body."):
        return InvalidInput(exc.message, field="notice" + field[4:])
    return exc


def _as_entries_field(exc: InvalidInput) -> InvalidInput:
    field = exc.field or ""
    if field.startswith("body.entries"):
        return InvalidInput(exc.message, field=field[5:])
    return exc


def create_notices_router(
    get_notices: Callable[[], NoticeService],
    get_translations: Callable[[], TranslationService],
    *,
    operators: Callable[[], OperatorService],
    dependencies: Sequence[Any] = (),
) -> APIRouter:
    """The notice, translation and glossary routes. Raises nothing."""
    router = APIRouter(dependencies=list(dependencies))

    # Who acts: the operator whose named API key made the request (web/acting.py).
    actor = Depends(acting_operator(operators))

    @router.post("/api/v1/notices", status_code=201)
    async def post_notice(given: NoticeIn, operator: Operator | None = actor) -> dict[str, Any]:
        def act() -> Any:
            by = acted_for(operator, given.office)
            try:
                return get_notices().send_notice(to=given.to, notice=given.notice, by=by)
            except InvalidInput as exc:
                raise _as_notice_field(exc) from None

        st = await run_in_threadpool(act)
        return {"id": st.id, "seq": st.seq, "to": st.to, "type": st.body["type"], "state": "queued"}

    @router.get("/api/v1/notices")
    async def get_notices_page(
        lang: str = LangQuery, limit: int = Limit, cursor: str | None = Cursor
    ) -> NoticesPage:
        page = await run_in_threadpool(
            get_notices().notices_page, lang=lang, limit=limit, cursor=cursor
        )
        return NoticesPage(**page)

    @router.get("/api/v1/notices/{id}")
    async def get_notice(notice_id: str = Ref, lang: str = LangQuery) -> dict[str, Any]:
        return await run_in_threadpool(get_notices().notice, notice_id, lang=lang)

    @router.post("/api/v1/translations", status_code=201)
    async def post_translation(
        given: TranslationIn, operator: Operator | None = actor
    ) -> dict[str, Any]:
        def act() -> Any:
            by = acted_for(operator, given.office)
            return get_translations().translate(
                given.original, lang=given.lang, text=given.text, machine=given.machine, by=by
            )

        st = await run_in_threadpool(act)
        return {
            "id": st.id,
            "seq": st.seq,
            "to": st.to,
            "original": st.body["original"],
            "lang": st.body["lang"],
            "method": st.body["method"],
            "engine": st.body.get("engine"),
            "text": st.body["text"],
            "advisory": True,
            "state": "queued",
        }

    @router.get("/api/v1/translations/{id}")
    async def get_translations_of(
        original_id: str = Ref,
        lang: str | None = Query(None, min_length=2, max_length=35),
    ) -> dict[str, Any]:
        return await run_in_threadpool(get_translations().translations, original_id, lang=lang)

    @router.post("/api/v1/glossaries", status_code=201)
    async def post_glossary(given: GlossaryIn, operator: Operator | None = actor) -> dict[str, Any]:
        def act() -> Any:
            by = acted_for(operator, given.office)
            try:
                return get_translations().propose_glossary(
                    to=given.to, entries=given.entries, by=by
                )
            except InvalidInput as exc:
                raise _as_entries_field(exc) from None

        st = await run_in_threadpool(act)
        return {"id": st.id, "seq": st.seq, "to": st.to, "state": "queued"}

    @router.post("/api/v1/glossaries/{id}/accept", status_code=201)
    async def post_glossary_accept(
        glossary_id: str = Ref,
        given: AcceptIn | None = None,
        operator: Operator | None = actor,
    ) -> dict[str, Any]:
        office = given.office if given is not None else None

        def act() -> Any:
            by = acted_for(operator, office)
            return get_translations().accept_glossary(glossary_id, by=by)

        st = await run_in_threadpool(act)
        return {"id": st.id, "seq": st.seq, "to": st.to, "glossary": st.body["glossary"]}

    @router.get("/api/v1/glossaries")
    async def get_glossaries(
        peer: str | None = Query(None, pattern=PARTY_PATTERN),
    ) -> dict[str, Any]:
        rows = await run_in_threadpool(get_translations().glossary, peer)
        return {"glossaries": rows}

    return router
