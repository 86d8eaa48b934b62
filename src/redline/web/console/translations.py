"""The console's translations and glossaries (docs/notices.md, docs/console.md).

Beside a received message or a notice: the original first, marked
authoritative, then its translations, each marked advisory with its method
(and engine); a *Translate* form (by hand, with the agreed glossary's
suggestions) and a *Machine translate* button, which says plainly that no
model is configured when none is. Per link, the *Glossary* page: the entries
proposed either way, agreed or not, *Accept* for the peer's (admins), and a
form to propose one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import RedirectResponse, Response

from redline.core.errors import NotFound
from redline.core.notices import label
from redline.core.translation import TermCategory
from redline.service.node import NodeService
from redline.service.operators import LANGUAGES, Forbidden, Role, Session
from redline.service.translation import TranslationService
from redline.web.acting import acted_by

__all__ = ["add_translation_routes", "translation_view"]

Data = Callable[[Session, dict[str, str]], dict[str, Any]]
Page = Callable[[str, str, Data], tuple[Any, Any]]
Act = Callable[[Session, Request, str, str, Callable[[], Any]], Awaitable[Any]]
FormText = Callable[..., str]

#: Where a translation form may send the operator back to.
_BACK_PREFIXES = ("/console/messages/", "/console/notices/")


def translation_view(
    translations: TranslationService, statement_id: str, *, original_lang: str, reader: str
) -> dict[str, Any]:
    """What the panel beside a statement shows: its translations and, for the
    target language (the reader's, or the other one when the original is in
    it), the agreed glossary's suggestions. Raises as
    :meth:`TranslationService.translations`."""
    base = original_lang.split("-", 1)[0]
    target = reader if reader != base else next(lang for lang in LANGUAGES if lang != base)
    view = translations.translations(statement_id, lang=target)
    return {
        "translations": view["translations"],
        "suggestions": view.get("suggestions", []),
        "target": target,
        "languages": LANGUAGES,
    }


def add_translation_routes(
    app: FastAPI,
    *,
    service: NodeService,
    translations: Callable[[], TranslationService],
    page: Page,
    data_extra: Callable[[Session], dict[str, Any]],
    actor: Callable[[Request], Awaitable[Session]],
    act: Act,
    form_text: FormText,
) -> None:
    """Add the translate acts and the glossary page to the console ``app``. Raises nothing."""

    @app.post("/translations/{statement_id}")
    async def translate(request: Request, statement_id: str) -> Response:
        session = await actor(request)
        if not session.operator.handles_traffic:
            raise Forbidden("a principal does not sign the node's translations", field="role")
        form = await request.form()
        lang = form_text(form, "lang", max_len=8)
        machine = form_text(form, "method", required=False, max_len=8) == "machine"
        text = None if machine else form_text(form, "text", max_len=32_000).strip()
        back = form_text(form, "back", required=False, max_len=200)
        by = acted_by(session.operator)
        await act(
            session,
            request,
            "translate-machine" if machine else "translate",
            statement_id,
            lambda: translations().translate(
                statement_id, lang=lang, text=text, machine=machine, by=by
            ),
        )
        target = back if back.startswith(_BACK_PREFIXES) and "//" not in back else "/console/now"
        return RedirectResponse(target, status_code=303)

    def glossary_data(session: Session, params: dict[str, str]) -> dict[str, Any]:
        peer = params["peer"]
        if peer not in {p.party for p in service.peers()}:
            raise NotFound(f"no pinned peer {peer!r}", field="peer")
        lang = session.operator.lang
        return {
            "peer": peer,
            "glossaries": translations().glossary(peer)[::-1],  # newest first
            "categories": [(c.value, label(c, lang)) for c in TermCategory],
            "category_label": {c.value: label(c, lang) for c in TermCategory},
            **data_extra(session),
        }

    full, part = page("glossary.html", "_glossary.html", glossary_data)
    app.add_api_route("/links/{peer}/glossary", full, methods=["GET"], name="glossary")
    app.add_api_route(
        "/fragments/links/{peer}/glossary", part, methods=["GET"], name="glossary-fragment"
    )

    @app.post("/links/{peer}/glossary")
    async def propose(request: Request, peer: str) -> Response:
        session = await actor(request)
        if not session.operator.handles_traffic:
            raise Forbidden("a principal does not propose the link's glossary", field="role")
        form = await request.form()
        entry = {
            "category": form_text(form, "category", max_len=16),
            "terms": {
                "en": form_text(form, "en", max_len=200).strip(),
                "zh": form_text(form, "zh", max_len=200).strip(),
            },
        }
        by = acted_by(session.operator)
        await act(
            session,
            request,
            "propose-glossary",
            peer,
            lambda: translations().propose_glossary(to=peer, entries=[entry], by=by),
        )
        return RedirectResponse(f"/console/links/{peer}/glossary", status_code=303)

    @app.post("/links/{peer}/glossary/{glossary_id}/accept")
    async def accept(request: Request, peer: str, glossary_id: str) -> Response:
        session = await actor(request)
        if session.operator.role is not Role.ADMIN:
            raise Forbidden("only an admin accepts the link's glossary", field="role")
        by = acted_by(session.operator)
        await act(
            session,
            request,
            "accept-glossary",
            glossary_id,
            lambda: translations().accept_glossary(glossary_id, by=by),
        )
        return RedirectResponse(f"/console/links/{peer}/glossary", status_code=303)
