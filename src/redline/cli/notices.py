"""Commands for notices, translations and glossaries (docs/notices.md).

``redline send DIR --to P --notice TYPE --field KEY=VALUE ...`` (in
:mod:`redline.cli.main`) files a notice through :func:`send_notice`;
``redline notices``, ``translate``, ``translations`` and ``glossary`` are
registered on the ``redline`` app by :func:`register`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

from redline.cli.common import DirArg, JsonOpt, echo_json, echo_safe, echo_table, fail, guard
from redline.cli.common import open_service as open_node
from redline.core.errors import InvalidInput
from redline.core.fields import ActedBy
from redline.core.statement import Statement
from redline.service.node import NodeService
from redline.service.notices import NoticeService
from redline.service.operators import OperatorService
from redline.service.translation import TranslationService

__all__ = ["parse_fields", "register", "send_notice"]

#: Most bytes of a ``--notice-file``.
MAX_NOTICE_FILE = 256 * 1024


def _fail(message: str) -> NoReturn:
    fail(message)
    raise typer.Exit(2)  # unreachable: fail exits


class _ListByDefault(TyperGroup):
    """``redline notices DIR`` means ``redline notices list DIR`` (as ``messages``)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["list", *args]
        return super().parse_args(ctx, args)


notices_app = typer.Typer(
    cls=_ListByDefault,
    help="List notices (`redline notices DIR` is `redline notices list DIR`) or show one.",
    no_args_is_help=True,
)
glossary_app = typer.Typer(
    help="The glossary of agreed terms on each link: list, propose, accept.",
    no_args_is_help=True,
)

IdArg = Annotated[
    str, typer.Argument(metavar="ID", help="The statement's id, or its first 8+ hex characters.")
]
LangOpt = Annotated[str, typer.Option("--lang", metavar="LANG", help="en or zh.")]
OperatorOpt = Annotated[
    str | None,
    typer.Option("--operator", metavar="NAME", help="The operator acting (named in it)."),
]
OfficeOpt = Annotated[
    str | None,
    typer.Option("--office", metavar="OFFICE", help="The office the operator acts for."),
]

_TOKEN = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*)|\[(\d{1,3})\]|\[\]|\.")


def _path(key: str) -> list[str | int | None]:
    """``area[0].lat`` -> ``["area", 0, "lat"]``; ``behaviours[]`` -> ``["behaviours", None]``."""
    out: list[str | int | None] = []
    at = 0
    while at < len(key):
        match = _TOKEN.match(key, at)
        after_dot = at > 0 and key[at - 1] == "."
        if (
            match is None
            or (match.group(0) == "." and (not out or at == len(key) - 1 or after_dot))
            or (after_dot and match.group(1) is None)
        ):
            raise InvalidInput(f"{key!r} is not a field path such as position.lat", field="field")
        if match.group(1) is not None:
            out.append(match.group(1))
        elif match.group(2) is not None:
            out.append(int(match.group(2)))
        elif match.group(0) == "[]":
            out.append(None)
        at = match.end()
    if not out or not isinstance(out[0], str):
        raise InvalidInput(f"{key!r} is not a field path such as position.lat", field="field")
    return out


def _set(target: dict[str, Any], path: list[str | int | None], value: Any, key: str) -> None:
    node: Any = target
    for step, following in zip(path, [*path[1:], "."], strict=True):
        last = following == "."
        fresh: Any = value if last else ([] if not isinstance(following, str) else {})
        if isinstance(step, str):
            if not isinstance(node, dict):
                raise InvalidInput(f"{key!r}: {step} is not in an object", field="field")
            if last:
                node[step] = value
                return
            node = node.setdefault(step, fresh)
        else:
            if not isinstance(node, list):
                raise InvalidInput(f"{key!r}: [{step}] is not in a list", field="field")
            index = len(node) if step is None else step
            if index > len(node):
                raise InvalidInput(f"{key!r}: give [{len(node)}] before [{index}]", field="field")
            if index == len(node):
                node.append(fresh)
            elif last:
                node[index] = value
            if last:
                return
            node = node[index]


def parse_fields(notice_type: str, fields: list[str]) -> dict[str, Any]:
    """A notice body from ``--field`` options.

    ``KEY=VALUE`` sets a string, ``KEY:=JSON`` a JSON value (a number, a list);
    a key is a path (``position.lat``, ``area[0].lon``), ``[]`` appends to a
    list (``behaviours[]=laser-illumination``). Raises :class:`InvalidInput`
    (field ``field``) for a malformed one.
    """
    body: dict[str, Any] = {"type": notice_type}
    for given in fields:
        key, raw, value = given.partition(":=")
        if raw:
            try:
                parsed: Any = json.loads(value)
            except ValueError:
                raise InvalidInput(
                    f"{given!r}: the value after := is not JSON", field="field"
                ) from None
        else:
            key, eq, parsed = given.partition("=")
            if not eq:
                raise InvalidInput(f"{given!r} is not KEY=VALUE or KEY:=JSON", field="field")
        _set(body, _path(key.strip()), parsed, key)
    return body


def _acting(service: NodeService, operator: str | None, office: str | None) -> ActedBy | None:
    if operator is None:
        if office is not None:
            _fail("--office needs --operator: an office is acted for by an operator")
        return None
    known = guard(lambda: OperatorService(service.store, clock=service.clock).get(operator))
    return guard(lambda: ActedBy(operator=known.name, office=office))


def send_notice(
    *,
    service: NodeService,
    to: str,
    notice: str | None,
    fields: list[str],
    notice_file: Path | None,
    operator: str | None = None,
    office: str | None = None,
) -> Statement:
    """File a notice from ``redline send``'s options (``--notice TYPE --field ...``
    or ``--notice-file F``); exits with the field named on bad input."""
    if notice_file is not None:
        if notice is not None or fields:
            _fail("give --notice-file, or --notice with --field, not both")
        try:
            raw = notice_file.read_bytes()[: MAX_NOTICE_FILE + 1]
        except OSError as exc:
            _fail(f"cannot read {notice_file}: {exc.strerror}")
        if len(raw) > MAX_NOTICE_FILE:
            _fail(f"{notice_file} is larger than {MAX_NOTICE_FILE} bytes")
        try:
            body = json.loads(raw)
        except ValueError as exc:
            _fail(f"{notice_file} is not JSON: {exc}")
        if not isinstance(body, dict):
            _fail(f"{notice_file} must hold one JSON object, the notice")
    else:
        assert notice is not None
        body = guard(lambda: parse_fields(notice, fields))
    by = _acting(service, operator, office)
    return guard(lambda: NoticeService(service).send_notice(to=to, notice=body, by=by))


@notices_app.command("list")
def notices_list(path: DirArg, lang: LangOpt = "en", as_json: JsonOpt = False) -> None:
    """Notices either way, oldest first, each summarised in LANG."""
    with open_node(path) as (_node, service):
        rows = guard(lambda: NoticeService(service).notices(lang=lang))
    if as_json:
        echo_json(rows)
        return
    echo_table(
        ["ID", "", "PEER", "TYPE", "TIME", "SUMMARY"],
        [
            [
                row["id"][:16],
                "->" if row["direction"] == "out" else "<-",
                row["peer"],
                row["type"],
                row["time"],
                row["summary"],
            ]
            for row in rows
        ],
        empty="no notices",
        wrap={5},
    )


@notices_app.command("show")
def notices_show(
    path: DirArg, notice: IdArg, lang: LangOpt = "en", as_json: JsonOpt = False
) -> None:
    """One notice rendered in LANG from its coded body, and any advisory translations."""
    with open_node(path) as (_node, service):
        row = guard(lambda: NoticeService(service).notice(notice, lang=lang))
    if as_json:
        echo_json(row)
        return
    arrow = f"-> sent to {row['peer']}" if row["direction"] == "out" else f"<- from {row['peer']}"
    echo_safe(f"{row['id']}  {arrow}  {row['time']}  ({row['state']})")
    typer.echo("")
    for line in row["text"].rstrip("\n").split("\n"):
        echo_safe(line)
    for t in row["translations"]:
        typer.echo("")
        echo_safe(f"ADVISORY translation ({t['lang']}, {t['method']}) {t['id'][:16]}:")
        for line in t["text"].split("\n"):
            echo_safe(f"  {line.expandtabs(4)}")


def translate(
    path: DirArg,
    statement: IdArg,
    lang: Annotated[str, typer.Option("--lang", metavar="LANG", help="The target language.")],
    text: Annotated[
        str | None, typer.Option("--text", metavar="TEXT", help="The translation (by hand).")
    ] = None,
    machine: Annotated[
        bool,
        typer.Option("--machine", metavar="", help="Translate with the configured model."),
    ] = False,
    operator: OperatorOpt = None,
    office: OfficeOpt = None,
) -> None:
    """Sign an advisory translation of a stored statement; prints its id.

    The original stays authoritative. `--machine` needs `translation_model_dir`
    (docs/configuration.md); without it the node says so and signs nothing.
    """
    with open_node(path) as (node, service):
        by = _acting(service, operator, office)
        translations = TranslationService(service, model_dir=node.config.translation_model_dir)
        st = guard(
            lambda: translations.translate(statement, lang=lang, text=text, machine=machine, by=by)
        )
    typer.echo(st.id)
    if machine:
        echo_safe(f"advisory machine translation ({st.body['engine']}):")
        echo_safe(f"  {st.body['text']}")


def translations(
    path: DirArg,
    statement: IdArg,
    lang: Annotated[
        str | None,
        typer.Option("--lang", metavar="LANG", help="Also suggest the glossary's terms for LANG."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """A statement's original (authoritative) and its advisory translations."""
    with open_node(path) as (_node, service):
        view = guard(lambda: TranslationService(service).translations(statement, lang=lang))
    if as_json:
        echo_json(view)
        return
    original = view["original"]
    echo_safe(
        f"ORIGINAL (authoritative) {original['kind']} {original['id']} from {original['from']}"
    )
    text = original["body"].get("text")
    if isinstance(text, str):
        echo_safe(f"  [{original['body'].get('lang', '?')}]")
        for line in text.split("\n"):
            echo_safe(f"  {line.expandtabs(4)}")
    else:
        echo_safe("  (no text: a coded body; `redline notices show` renders a notice)")
    for t in view["translations"]:
        engine = f", {t['engine']}" if t["engine"] else ""
        by = f" by {t['by']['operator']}" if t.get("by") else ""
        echo_safe(f"ADVISORY translation ({t['lang']}, {t['method']}{engine}){by} {t['id'][:16]}:")
        for line in t["text"].split("\n"):
            echo_safe(f"  {line.expandtabs(4)}")
    if not view["translations"]:
        typer.echo("no translations")
    for s in view.get("suggestions", []):
        echo_safe(f"glossary: {s['source']} -> {s['target']} ({s['category']})")


@glossary_app.command("list")
def glossary_list(
    path: DirArg,
    peer: Annotated[
        str | None, typer.Option("--peer", metavar="PARTY", help="Only this link's.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Glossary proposals and their entries; only agreed ones apply."""
    with open_node(path) as (_node, service):
        rows = guard(lambda: TranslationService(service).glossary(peer))
    if as_json:
        echo_json(rows)
        return
    table: list[list[str]] = []
    for row in rows:
        state = "agreed" if row["agreed"] else "proposed"
        for entry in row["entries"]:
            terms = " = ".join(f"{lang}: {term}" for lang, term in entry["terms"].items())
            table.append(
                [row["id"][:16], row["peer"], row["proposer"], state, entry["category"], terms]
            )
    echo_table(
        ["ID", "PEER", "BY", "STATE", "CATEGORY", "TERMS"],
        table,
        empty="no glossary entries",
        wrap={5},
    )


@glossary_app.command("propose")
def glossary_propose(
    path: DirArg,
    to: Annotated[str, typer.Option("--to", metavar="PARTY", help="The peer.")],
    term: Annotated[
        list[str],
        typer.Option(
            "--term",
            metavar="CATEGORY:LANG=TERM:LANG=TERM",
            help="One entry, e.g. place:en=Taiwan Strait:zh=台湾海峡 (repeatable).",
        ),
    ],
    operator: OperatorOpt = None,
    office: OfficeOpt = None,
) -> None:
    """Propose terms for the link's glossary; they apply once the peer accepts."""
    entries = [_entry(t) for t in term]
    with open_node(path) as (_node, service):
        by = _acting(service, operator, office)
        st = guard(
            lambda: TranslationService(service).propose_glossary(to=to, entries=entries, by=by)
        )
    typer.echo(st.id)


def _entry(given: str) -> dict[str, Any]:
    category, *pairs = given.split(":")
    terms = {}
    for pair in pairs:
        lang, eq, word = pair.partition("=")
        if not eq:
            _fail(f"--term {given!r}: give CATEGORY:LANG=TERM:LANG=TERM")
        terms[lang] = word
    return {"category": category, "terms": terms}


@glossary_app.command("accept")
def glossary_accept(
    path: DirArg, glossary: IdArg, operator: OperatorOpt = None, office: OfficeOpt = None
) -> None:
    """Accept the glossary a peer proposed; its entries then apply on the link."""
    with open_node(path) as (_node, service):
        by = _acting(service, operator, office)
        st = guard(lambda: TranslationService(service).accept_glossary(glossary, by=by))
    typer.echo(st.id)


def register(app: typer.Typer) -> None:
    """Add ``notices``, ``translate`` and ``glossary`` to the ``redline`` app."""
    app.add_typer(notices_app, name="notices")
    app.command()(translate)
    app.command()(translations)
    app.add_typer(glossary_app, name="glossary")
