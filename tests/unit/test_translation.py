"""Translation statements and the glossary, in core: bodies checked, the agreed
terms applied in both directions, longest first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from redline.core.errors import Conflict, InvalidStatement
from redline.core.registry import validate_body
from redline.core.translation import (
    GlossaryEntry,
    TermCategory,
    TranslationBody,
    apply_glossary,
    glossary_suggestions,
)
from redline.service.translation import model_translators

ORIGINAL = "ab" * 32


def _entries(*rows: tuple[str, str, str]) -> list[GlossaryEntry]:
    return [
        GlossaryEntry.parse({"category": category, "terms": {"en": en, "zh": zh}})
        for category, en, zh in rows
    ]


GLOSSARY = _entries(
    ("place", "South China Sea", "南海"),
    ("place", "China", "中国"),
    ("office", "Defense Telephone Link", "国防部直通电话"),
    ("unit", "nautical mile", "海里"),
)


def test_the_glossary_applies_from_english_to_chinese() -> None:
    text = "The Defense Telephone Link reported ships in the south china sea, 2 nautical mile off."
    out = apply_glossary(text, source="en", target="zh", entries=GLOSSARY)
    assert out.text == "The 国防部直通电话 reported ships in the 南海, 2 海里 off."
    assert [(a.source, a.target, a.category) for a in out.applied] == [
        ("Defense Telephone Link", "国防部直通电话", TermCategory.OFFICE),
        ("south china sea", "南海", TermCategory.PLACE),  # longest first: not "china" alone
        ("nautical mile", "海里", TermCategory.UNIT),
    ]


def test_the_glossary_applies_from_chinese_to_english() -> None:
    out = apply_glossary(
        "中国船只在南海航行，距离2海里。", source="zh", target="en", entries=GLOSSARY
    )
    assert out.text == "China船只在South China Sea航行，距离2nautical mile。"
    assert [a.target for a in out.applied] == ["China", "South China Sea", "nautical mile"]
    assert out.applied[1].start == 5


def test_latin_terms_match_whole_words_only_and_other_pairs_do_not_apply() -> None:
    out = apply_glossary("Chinaware from Indochina", source="en", target="zh", entries=GLOSSARY)
    assert out.text == "Chinaware from Indochina" and out.applied == ()
    assert apply_glossary("China", source="en", target="fr", entries=GLOSSARY).applied == ()
    assert (
        apply_glossary("China", source="en-GB", target="zh-Hans", entries=GLOSSARY).text == "中国"
    )


def test_suggestions_are_what_would_be_substituted() -> None:
    found = glossary_suggestions("South China Sea", source="en", target="zh", entries=GLOSSARY)
    assert [(a.source, a.target) for a in found] == [("South China Sea", "南海")]


def _translation(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"original": ORIGINAL, "lang": "zh", "text": "译文", "method": "human"}
    return {k: v for k, v in {**body, **changes}.items() if v is not None}


def test_a_translation_is_typed_and_names_its_method() -> None:
    human = validate_body("translation", _translation(by={"operator": "li", "office": "prc-dtl"}))
    assert isinstance(human, TranslationBody) and human.by is not None
    machine = validate_body(
        "translation", _translation(method="machine", engine="ctranslate2:opus-mt-en-zh")
    )
    assert isinstance(machine, TranslationBody) and machine.engine


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_translation(method="machine"), "body.engine"),
        (_translation(engine="someone"), "body.engine"),
        (_translation(method="oracle"), "body.method"),
        (_translation(text=" "), "body.text"),
        (_translation(original="xyz"), "body.original"),
        (_translation(lang="chinese!"), "body.lang"),
    ],
)
def test_a_bad_translation_is_refused_naming_the_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidStatement) as exc:
        validate_body("translation", body)
    assert exc.value.field == field


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"category": "place", "terms": {"en": "Strait"}}, "body.entries[0].terms"),
        ({"category": "ship", "terms": {"en": "a", "zh": "b"}}, "body.entries[0].category"),
        ({"category": "place", "terms": {"en": "", "zh": "b"}}, "body.entries[0].terms.en"),
    ],
)
def test_a_bad_glossary_entry_is_refused_naming_the_field(
    entry: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidStatement) as exc:
        validate_body("glossary", {"entries": [entry]})
    assert exc.value.field == field


def test_a_model_directory_without_a_model_or_packages_is_a_conflict_naming_the_setting(
    tmp_path: Path,
) -> None:
    (tmp_path / "zh-en").mkdir()
    (tmp_path / "zh-en" / "model.bin").write_bytes(b"not a model")
    factory = model_translators(str(tmp_path))
    for source, target in (("zh", "en"), ("en", "zh")):  # a model, and no model for the pair
        with pytest.raises(Conflict) as exc:
            factory(source, target)
        assert exc.value.field == "translation_model_dir"
    with pytest.raises(Conflict) as exc:
        model_translators("")("zh", "en")
    assert "not configured" in exc.value.message
