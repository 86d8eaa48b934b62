"""Advisory translations (human or machine) and each link's agreed glossary.

A translation is its own signed statement naming the original; the original
stays authoritative and every view shows it first (docs/notices.md). An
operator translates by hand (:meth:`TranslationService.translate` with
``text``) or asks the node's machine translator (``machine=True``), which
works only where a model is installed: :class:`CTranslate2Translator` loads
an OPUS-MT model converted for CTranslate2 from
``<translation_model_dir>/<source>-<target>/`` and never downloads anything.

The glossary: one side proposes terms (``glossary``), the other signs
``glossary-accept``; only accepted proposals apply. Machine translation
applies them before (the source terms become the agreed target terms) and
after (any source term left becomes its target term); a human translator is
offered them as suggestions.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import orjson
from sqlalchemy import Connection

from redline.core.errors import Conflict, InvalidInput, InvalidStatement, NotFound
from redline.core.fields import ActedBy
from redline.core.notices import NOTICE, NoticeBody, check_reported_time
from redline.core.statement import Statement
from redline.core.translation import (
    GLOSSARY,
    GLOSSARY_ACCEPT,
    TRANSLATION,
    Applied,
    GlossaryBody,
    GlossaryEntry,
    TranslationMethod,
    apply_glossary,
)
from redline.service.node import NodeService
from redline.store import notices as store

__all__ = [
    "MODEL_SETTING",
    "CTranslate2Translator",
    "TranslationService",
    "Translator",
    "install_hooks",
    "model_translators",
    "resolve_statement",
]

#: The setting that names where machine translation models are (docs/configuration.md).
MODEL_SETTING = "translation_model_dir"


class Translator(Protocol):
    """A machine translator for one language pair."""

    #: Engine and model, as a translation statement names them (``ctranslate2:opus-mt-zh-en``).
    name: str

    def translate(self, texts: Sequence[str]) -> list[str]:
        """Each text translated. Raises :class:`Conflict` if the engine fails."""
        ...


class CTranslate2Translator:
    """An OPUS-MT model converted for CTranslate2, read from a local directory.

    The directory holds the converted model (``model.bin``) and the Marian
    SentencePiece models ``source.spm`` and ``target.spm`` (as
    ``ct2-transformers-converter --copy_files source.spm target.spm`` leaves
    them). Nothing is ever downloaded: a missing file is a :class:`Conflict`
    naming :data:`MODEL_SETTING`.
    """

    def __init__(self, directory: Path) -> None:
        try:
            import ctranslate2  # type: ignore[import-not-found, unused-ignore]
            import sentencepiece  # type: ignore[import-not-found, unused-ignore]
        except ImportError as exc:
            raise Conflict(
                "machine translation needs the optional packages ctranslate2 and "
                "sentencepiece (pip install 'redline[mt]')",
                field=MODEL_SETTING,
            ) from exc
        for needed in ("model.bin", "source.spm", "target.spm"):
            if not (directory / needed).is_file():
                raise Conflict(
                    f"{directory} has no {needed}: not a CTranslate2 OPUS-MT model",
                    field=MODEL_SETTING,
                )
        try:
            self._model = ctranslate2.Translator(str(directory), device="cpu")
            self._source = sentencepiece.SentencePieceProcessor(
                model_file=str(directory / "source.spm")
            )
            self._target = sentencepiece.SentencePieceProcessor(
                model_file=str(directory / "target.spm")
            )
        except (RuntimeError, OSError, ValueError) as exc:
            raise Conflict(
                f"cannot load the model in {directory}: {exc}", field=MODEL_SETTING
            ) from exc
        self.name = f"ctranslate2:{directory.name}"

    def translate(self, texts: Sequence[str]) -> list[str]:
        """Each text translated (one batch). Raises :class:`Conflict` if the engine fails."""
        pieces = [self._source.encode(text, out_type=str) for text in texts]
        try:
            results = self._model.translate_batch(pieces)
        except (RuntimeError, ValueError) as exc:
            raise Conflict(f"machine translation failed: {exc}", field=MODEL_SETTING) from exc
        return [str(self._target.decode(result.hypotheses[0])) for result in results]


#: Builds the translator for a language pair, or raises Conflict naming the setting.
TranslatorFactory = Callable[[str, str], Translator]


def model_translators(model_dir: str) -> TranslatorFactory:
    """The factory that loads ``<model_dir>/<source>-<target>/`` (each model once).

    The returned factory raises :class:`Conflict` (field
    :data:`MODEL_SETTING`) when no directory is configured, when the pair has
    no model, or when ctranslate2 is not installed.
    """
    loaded: dict[tuple[str, str], Translator] = {}

    def factory(source: str, target: str) -> Translator:
        if not model_dir:
            raise Conflict(
                f"machine translation is not configured on this node: set {MODEL_SETTING} "
                "in redline.toml to a directory of CTranslate2 OPUS-MT models "
                "(docs/notices.md); a human translation needs none",
                field=MODEL_SETTING,
            )
        pair = (source, target)
        if pair not in loaded:
            directory = Path(model_dir) / f"{source}-{target}"
            if not directory.is_dir():
                raise Conflict(
                    f"no machine translation model from {source} to {target}: "
                    f"{directory} does not exist ({MODEL_SETTING})",
                    field=MODEL_SETTING,
                )
            loaded[pair] = CTranslate2Translator(directory)
        return loaded[pair]

    return factory


def _base(lang: str) -> str:
    return lang.split("-", 1)[0].lower()


def resolve_statement(conn: Connection, ref: str) -> Any:
    """The stored statement ``ref`` names (its id, or 8+ hex of it).

    Raises :class:`InvalidInput` (field ``id``) for a malformed or ambiguous
    reference, :class:`NotFound` (field ``id``) for none.
    """
    ref = ref.lower()
    if not 8 <= len(ref) <= 64 or any(c not in "0123456789abcdef" for c in ref):
        raise InvalidInput(
            "give the statement's id, or at least its first 8 hex characters", field="id"
        )
    if len(ref) < 64:
        found = store.statement_ids(conn, prefix=ref, limit=2)
        if len(found) > 1:
            raise InvalidInput(
                f"{ref!r} starts more than one statement; give more of it", field="id"
            )
        ref = found[0] if found else ref
    row = store.statement_row(conn, ref)
    if row is None:
        raise NotFound(f"no statement {ref!r} is stored on this node", field="id")
    return row


# -- hooks: in the transaction that stores each statement ---------------------

_INSTALLED: weakref.WeakSet[NodeService] = weakref.WeakSet()


def install_hooks(node: NodeService) -> None:
    """Index notices, translations and glossaries as ``node`` stores them, and
    refuse on receipt a translation of a statement this node did not exchange
    with its signer or an acceptance of a glossary it did not propose to it. Once per
    node; raises nothing."""
    if node in _INSTALLED:
        return
    _INSTALLED.add(node)
    party = node.party

    def check(conn: Connection, fresh: Sequence[Statement]) -> None:
        batch = {s.id for s in fresh}
        accepted: set[str] = set()
        for st in fresh:
            if st.kind == NOTICE:
                check_reported_time(st.typed(NoticeBody), st.sent_at)
            elif st.kind == TRANSLATION:
                original = str(st.body["original"])
                row = None if original in batch else store.statement_row(conn, original)
                # Only a statement of this link: a peer does not annotate what
                # this node exchanged with a third party.
                if original not in batch and (row is None or row.peer != st.sender):
                    raise InvalidStatement(
                        f"translation {st.id[:16]} names {original[:16]}, which is no "
                        f"statement this node exchanged with {st.sender!r}",
                        field="body.original",
                    )
            elif st.kind == GLOSSARY_ACCEPT:
                glossary = str(st.body["glossary"])
                row = store.glossary_row(conn, glossary)
                if (
                    row is None
                    or row.proposer != party
                    or row.peer != st.sender
                    or row.accept_id is not None
                    or glossary in accepted
                ):
                    raise InvalidStatement(
                        f"glossary-accept {st.id[:16]} names {glossary[:16]}, which is no "
                        f"glossary this node proposed to {st.sender!r} awaiting acceptance",
                        field="body.glossary",
                    )
                accepted.add(glossary)

    def stored(conn: Connection, statements: Sequence[Statement]) -> None:
        for st in statements:
            peer = st.to if st.sender == party else st.sender
            if st.kind == NOTICE:
                direction = "out" if st.sender == party else "in"
                store.add_notice(conn, st, peer=peer, direction=direction)
            elif st.kind == TRANSLATION:
                store.add_translation(conn, st)
            elif st.kind == GLOSSARY:
                store.add_glossary(conn, st, peer=peer)
            elif st.kind == GLOSSARY_ACCEPT:
                store.accept_glossary(conn, str(st.body["glossary"]), st)

    node.receive_checks.append(check)
    node.on_stored.append(stored)


def _by(by: ActedBy | None) -> dict[str, Any]:
    return {} if by is None else {"by": by.wire()}


def _applied(found: Iterable[Applied]) -> list[dict[str, Any]]:
    return [
        {"source": a.source, "target": a.target, "category": a.category.value, "at": a.start}
        for a in found
    ]


class TranslationService:
    """Translations and glossaries of one node (see the module's docstring)."""

    def __init__(
        self,
        node: NodeService,
        *,
        model_dir: str = "",
        translators: TranslatorFactory | None = None,
    ) -> None:
        install_hooks(node)
        self.node = node
        self._translators = translators if translators is not None else model_translators(model_dir)

    # -- glossary -------------------------------------------------------------

    def propose_glossary(
        self, *, to: str, entries: Sequence[Mapping[str, Any]], by: ActedBy | None = None
    ) -> Statement:
        """Propose ``entries`` for the glossary of the link to ``to``.

        Raises :class:`InvalidInput` naming the bad field (``body.entries[0].terms``),
        :class:`NotFound` for an unpinned ``to``.
        """
        body = {"entries": [dict(e) for e in entries], **_by(by)}
        return self.node.send(to=to, kind=GLOSSARY, body=body)

    def accept_glossary(self, ref: str, *, by: ActedBy | None = None) -> Statement:
        """Accept the glossary a peer proposed (``ref``: its id or 8+ hex).

        Raises :class:`NotFound` / :class:`InvalidInput` (field ``id``) as
        :func:`resolve_statement` does or for a statement that is no glossary
        a peer proposed, and :class:`Conflict` if it is accepted already.
        """
        with self.node.store.read() as conn:
            row = resolve_statement(conn, ref)
        glossary_id = str(row.id)

        def awaiting(conn: Connection, _at: object) -> None:
            found = store.glossary_row(conn, glossary_id)
            if found is None or found.proposer == self.node.party:
                raise InvalidInput(
                    f"statement {glossary_id[:16]} is no glossary a peer proposed", field="id"
                )
            if found.accept_id is not None:
                raise Conflict(f"glossary {glossary_id[:16]} is accepted already", field="id")

        return self.node.send(
            to=str(row.peer),
            kind=GLOSSARY_ACCEPT,
            body={"glossary": glossary_id, **_by(by)},
            check=awaiting,
        )

    def glossary(self, peer: str | None = None) -> list[dict[str, Any]]:
        """Every glossary proposal (of the link to ``peer``, or all) with whether it
        applies (``agreed``: the other party signed its acceptance). Raises nothing."""
        with self.node.store.read() as conn:
            rows = store.glossary_rows(conn, peer)
        return [
            {
                "id": row.statement_id,
                "peer": row.peer,
                "proposer": row.proposer,
                "time": row.time,
                "agreed": row.accept_id is not None,
                "accept_id": row.accept_id,
                "accepted_at": row.accepted_at,
                "entries": orjson.loads(row.wire)["body"]["entries"],
            }
            for row in rows
        ]

    def agreed_entries(self, peer: str) -> list[GlossaryEntry]:
        """The entries of every accepted glossary on the link to ``peer``. Raises nothing."""
        with self.node.store.read() as conn:
            wires = store.agreed_glossary_wires(conn, peer)
        out: list[GlossaryEntry] = []
        for wire in wires:
            out.extend(GlossaryBody.parse(orjson.loads(wire)["body"]).entries)
        return out

    # -- translations -----------------------------------------------------------

    def translate(
        self,
        ref: str,
        *,
        lang: str,
        text: str | None = None,
        machine: bool = False,
        by: ActedBy | None = None,
    ) -> Statement:
        """Sign an advisory translation of the stored statement ``ref`` into ``lang``,
        addressed to the peer of the link the original is on.

        By hand: ``text`` is the translation. With ``machine``: the original's
        ``text`` is translated from its ``lang`` by the configured model, the
        link's agreed glossary applied before and after.

        Raises :class:`InvalidInput` naming the field (``text`` missing or
        given with ``machine``, ``lang``, an original with no text to
        translate), :class:`NotFound` (field ``id``), and :class:`Conflict`
        (field ``translation_model_dir``) when no model is configured for the pair.
        """
        if machine == (text is not None):
            raise InvalidInput(
                "give the translation's text, or ask for a machine translation, not both",
                field="text",
            )
        with self.node.store.read() as conn:
            row = resolve_statement(conn, ref)
        body: dict[str, Any] = {"original": str(row.id), "lang": lang}
        if text is not None:
            body |= {"text": text, "method": TranslationMethod.HUMAN.value}
        else:
            original = orjson.loads(row.wire)["body"]
            source_text, source = original.get("text"), original.get("lang")
            if not isinstance(source_text, str) or not isinstance(source, str) or not source_text:
                raise InvalidInput(
                    f"statement {str(row.id)[:16]} ({row.kind}) has no text in a language to "
                    "translate; translate it by hand",
                    field="id",
                )
            body |= {
                "method": TranslationMethod.MACHINE.value,
                **self._machine(source_text, source=source, target=lang, peer=str(row.peer)),
            }
        return self.node.send(to=str(row.peer), kind=TRANSLATION, body={**body, **_by(by)})

    def _machine(self, text: str, *, source: str, target: str, peer: str) -> dict[str, str]:
        src, tgt = _base(source), _base(target)
        if src == tgt:
            raise InvalidInput(f"the original is in {source} already", field="lang")
        translator = self._translators(src, tgt)
        entries = self.agreed_entries(peer)
        before = apply_glossary(text, source=src, target=tgt, entries=entries)
        (translated,) = translator.translate([before.text])
        after = apply_glossary(translated, source=src, target=tgt, entries=entries)
        if not after.text.strip():
            raise Conflict("machine translation returned nothing", field=MODEL_SETTING)
        return {"text": after.text.strip(), "engine": translator.name}

    def translations(self, ref: str, *, lang: str | None = None) -> dict[str, Any]:
        """The original (authoritative) and its advisory translations; with ``lang``,
        the agreed glossary's suggestions for translating it into ``lang``.

        Raises :class:`InvalidInput` / :class:`NotFound` (field ``id``).
        """
        with self.node.store.read() as conn:
            row = resolve_statement(conn, ref)
            rows = store.translation_rows(conn, str(row.id))
        original = orjson.loads(row.wire)["body"]
        out: dict[str, Any] = {
            "original": {
                "id": row.id,
                "kind": row.kind,
                "from": row.sender,
                "time": row.time,
                "body": original,
                "authoritative": True,
            },
            "translations": [self._translation_row(t) for t in rows],
        }
        if lang is not None:
            source = original.get("lang")
            text = original.get("text")
            out["suggestions"] = (
                _applied(
                    apply_glossary(
                        text,
                        source=source,
                        target=lang,
                        entries=self.agreed_entries(str(row.peer)),
                    ).applied
                )
                if isinstance(text, str) and isinstance(source, str)
                else []
            )
        return out

    def translations_of(self, statement_id: str) -> list[dict[str, Any]]:
        """The advisory translations of ``statement_id``, oldest first. Raises nothing."""
        with self.node.store.read() as conn:
            rows = store.translation_rows(conn, statement_id)
        return [self._translation_row(t) for t in rows]

    @staticmethod
    def _translation_row(row: Any) -> dict[str, Any]:
        body = orjson.loads(row.wire)["body"]
        return {
            "id": row.id,
            "from": row.sender,
            "time": row.time,
            "lang": body["lang"],
            "method": body["method"],
            "engine": body.get("engine"),
            "by": body.get("by"),
            "text": body["text"],
            "advisory": True,
        }
