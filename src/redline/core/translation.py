"""Translations (advisory) and the glossary of terms agreed per link.

The original statement is authoritative and signed; a ``translation`` is a
separate statement that names it, says into which language, by whom and how
(``human``, or ``machine`` with the engine and model). It never replaces the
original: every view shows the original first, the translation marked
advisory.

A ``glossary`` statement proposes terms, each the same thing in two languages
(an office, a place, a unit); the other party signs a ``glossary-accept``
naming the proposal. Only accepted entries apply: :func:`apply_glossary`
substitutes them in a text (longest match first, in either direction) before
and after machine translation, and :func:`glossary_suggestions` offers them to
a human translator.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Final, Self

from pydantic import Field, model_validator

from redline.core.fields import (
    ActedBy,
    Body,
    Hex64,
    Lang,
    Trimmed,
    TrimmedLine,
    field_error,
)

__all__ = [
    "GLOSSARY",
    "GLOSSARY_ACCEPT",
    "MAX_ENTRIES",
    "TRANSLATION",
    "TRANSLATION_BODIES",
    "Applied",
    "GlossaryAcceptBody",
    "GlossaryBody",
    "GlossaryEntry",
    "Glossed",
    "TermCategory",
    "TranslationBody",
    "TranslationMethod",
    "apply_glossary",
    "glossary_suggestions",
]

TRANSLATION: Final = "translation"
GLOSSARY: Final = "glossary"
GLOSSARY_ACCEPT: Final = "glossary-accept"
#: Entries one glossary statement proposes at most.
MAX_ENTRIES: Final = 200


class TranslationMethod(StrEnum):
    HUMAN = "human"
    MACHINE = "machine"


class TermCategory(StrEnum):
    OFFICE = "office"
    PLACE = "place"
    UNIT = "unit"
    OTHER = "other"


class TranslationBody(Body):
    """An advisory translation of the statement ``original`` into ``lang``."""

    original: Hex64
    lang: Lang
    text: Annotated[Trimmed, Field(max_length=32_000)]
    method: Annotated[TranslationMethod, Field(strict=False)]
    #: For a machine translation: the engine and model (``ctranslate2:opus-mt-zh-en``).
    engine: Annotated[TrimmedLine, Field(max_length=200)] | None = None
    by: ActedBy | None = None

    @model_validator(mode="after")
    def _engine(self) -> Self:
        if self.method is TranslationMethod.MACHINE and self.engine is None:
            raise field_error("a machine translation names its engine and model", "engine")
        if self.method is TranslationMethod.HUMAN and self.engine is not None:
            raise field_error("a human translation names no engine", "engine")
        return self


class GlossaryEntry(Body):
    """One term in two languages: ``{"category": "place", "terms": {"en": ..., "zh": ...}}``."""

    category: Annotated[TermCategory, Field(strict=False)]
    terms: dict[Lang, Annotated[TrimmedLine, Field(max_length=200)]]

    @model_validator(mode="after")
    def _two(self) -> Self:
        if len(self.terms) != 2:
            raise field_error("names the term in exactly two languages", "terms")
        return self


class GlossaryBody(Body):
    """Terms one party proposes for the link's glossary."""

    entries: Annotated[list[GlossaryEntry], Field(min_length=1, max_length=MAX_ENTRIES)]
    by: ActedBy | None = None


class GlossaryAcceptBody(Body):
    """The other party's agreement to the glossary statement ``glossary``."""

    glossary: Hex64
    by: ActedBy | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Applied:
    """One substitution: ``source`` at ``start`` in the source text became ``target``."""

    source: str
    target: str
    category: TermCategory
    start: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Glossed:
    """A text with the glossary applied, and what was substituted."""

    text: str
    applied: tuple[Applied, ...]


def _base(lang: str) -> str:
    return lang.split("-", 1)[0].lower()


def _pairs(
    entries: Iterable[GlossaryEntry], source: str, target: str
) -> dict[str, tuple[str, str, TermCategory]]:
    """source term (case-folded) -> (source term, target term, category), one direction;
    the first entry for a term wins."""
    out: dict[str, tuple[str, str, TermCategory]] = {}
    for entry in entries:
        by_lang = {_base(lang): term for lang, term in entry.terms.items()}
        if source in by_lang and target in by_lang:
            term = by_lang[source]
            out.setdefault(term.casefold(), (term, by_lang[target], entry.category))
    return out


def _pattern(terms: Sequence[str]) -> re.Pattern[str]:
    # Longest first: the regex takes the first alternative that matches at the
    # leftmost position, so "South China Sea" wins over "China". A term that
    # starts or ends with a word character matches only as a whole word there
    # (no "Chinaware"); scripts written without spaces have no such edge.
    parts = []
    for term in sorted(terms, key=lambda t: (-len(t), t)):
        head = r"(?<!\w)" if term[:1].isalnum() and term[:1].isascii() else ""
        tail = r"(?!\w)" if term[-1:].isalnum() and term[-1:].isascii() else ""
        parts.append(f"{head}{re.escape(term)}{tail}")
    return re.compile("|".join(parts), re.IGNORECASE)


def apply_glossary(
    text: str, *, source: str, target: str, entries: Iterable[GlossaryEntry]
) -> Glossed:
    """``text`` (in ``source``) with every agreed term replaced by its ``target`` term.

    The glossary works both ways: an entry ``{en: A, zh: B}`` turns A into B
    from English to Chinese and B into A from Chinese to English. Matching
    ignores case, prefers the longest term at each place, never overlaps, and
    takes Latin-script terms as whole words only. Language tags compare by
    their first subtag (``zh-Hans`` is ``zh``). Raises nothing.
    """
    pairs = _pairs(entries, _base(source), _base(target))
    if not pairs or not text:
        return Glossed(text=text, applied=())
    applied: list[Applied] = []

    def swap(match: re.Match[str]) -> str:
        found = match.group(0)
        pair = pairs.get(found.casefold())
        if pair is None:  # a case the regex folds and casefold() does not: leave it
            return found
        _, term, category = pair
        applied.append(Applied(source=found, target=term, category=category, start=match.start()))
        return term

    pattern = _pattern([term for term, _, _ in pairs.values()])
    return Glossed(text=pattern.sub(swap, text), applied=tuple(applied))


def glossary_suggestions(
    text: str, *, source: str, target: str, entries: Iterable[GlossaryEntry]
) -> list[Applied]:
    """The agreed terms found in ``text``, each with the term to use in ``target``,
    for a human translator (as :func:`apply_glossary` finds them). Raises nothing."""
    return list(apply_glossary(text, source=source, target=target, entries=entries).applied)


#: The translation kinds, for :mod:`redline.core.registry`.
TRANSLATION_BODIES: Final[dict[str, type[Body]]] = {
    TRANSLATION: TranslationBody,
    GLOSSARY: GlossaryBody,
    GLOSSARY_ACCEPT: GlossaryAcceptBody,
}
