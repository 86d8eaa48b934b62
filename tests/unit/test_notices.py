"""Notices in core: every code labelled in both languages, distances converted,
bad notices refused with the field named; rendering in en and zh."""

from __future__ import annotations

import copy
from decimal import Decimal
from enum import StrEnum
from typing import Any

import pytest

from redline.core import notices as n
from redline.core.errors import InvalidInput, InvalidStatement
from redline.core.hotline.mechanism import MechanismStatus
from redline.core.notices import DistanceUnit as U
from redline.core.notices import NoticeBody, convert, display_distance
from redline.core.registry import validate_body
from redline.core.translation import TermCategory, TranslationMethod
from redline.service.notices import render_notice
from support.notices import ACTIVITY, ENCOUNTER, GOOD, MECHANISM

#: Every vocabulary a notice or a translation is written in.
VOCABULARIES: list[type[StrEnum]] = [
    n.NoticeType,
    n.EncounterDomain,
    n.UnitType,
    n.Behaviour,
    n.RequestedActionCode,
    n.DistanceUnit,
    n.ActivityKind,
    n.ForceType,
    n.ReasonCode,
    MechanismStatus,
    TermCategory,
    TranslationMethod,
]


def test_every_code_has_a_label_in_english_and_chinese() -> None:
    missing = [
        f"{vocabulary.__name__}.{code.value}:{lang}"
        for vocabulary in VOCABULARIES
        for code in vocabulary
        for lang in n.LANGUAGES
        if not n.LABELS.get(vocabulary, {}).get(code.value, {}).get(lang, "").strip()
    ]
    assert missing == []
    # And no label for a code that does not exist.
    for vocabulary, table in n.LABELS.items():
        assert set(table) == {code.value for code in vocabulary}, vocabulary.__name__


def test_the_labels_check_can_fail() -> None:
    class Extra(StrEnum):
        NEW = "new"

    assert Extra not in n.LABELS
    with pytest.raises(KeyError):
        n.label(Extra.NEW, "zh")


@pytest.mark.parametrize(
    ("value", "unit", "to", "shown"),
    [
        ("500", U.FT, U.M, "152"),  # 152.4
        ("152.4", U.M, U.FT, "500"),
        ("1", U.NM, U.M, "1852"),
        ("1852", U.M, U.NM, "1.00"),
        ("1", U.NM, U.FT, "6076"),  # 6076.115...
        ("6076", U.FT, U.NM, "1.00"),
        ("1", U.NM, U.YD, "2025"),  # 2025.37...
        ("2025", U.YD, U.NM, "1.00"),
        ("100", U.YD, U.FT, "300"),
        ("300", U.FT, U.YD, "100"),
        ("0.5", U.M, U.M, "1"),  # half away from zero
        ("0", U.NM, U.M, "0"),
        ("0.005", U.NM, U.NM, "0.01"),
    ],
)
def test_distances_convert_both_ways_and_round_as_documented(
    value: str, unit: U, to: U, shown: str
) -> None:
    assert display_distance(Decimal(value), unit, to) == shown


def test_conversion_is_exact_and_round_trips() -> None:
    for unit in U:
        for to in U:
            there = convert(Decimal("123.456"), unit, to)
            assert convert(there, to, unit).quantize(Decimal("0.000001")) == Decimal("123.456")
    assert convert(Decimal(1), U.FT, U.M) == Decimal("0.3048")
    assert convert(Decimal(1), U.NM, U.M) == Decimal(1852)


@pytest.mark.parametrize("body", GOOD, ids=lambda b: b["type"])
def test_each_notice_type_is_a_typed_body_that_keeps_its_wire(body: dict[str, Any]) -> None:
    model = validate_body("notice", copy.deepcopy(body))
    assert isinstance(model, NoticeBody)
    assert type(model).__name__ != "NoticeBody"
    assert model.wire() == body


@pytest.mark.parametrize("body", GOOD, ids=lambda b: b["type"])
def test_each_notice_renders_in_english_and_chinese(body: dict[str, Any]) -> None:
    model = NoticeBody.parse(body)
    en, zh = render_notice(model, "en"), render_notice(model, "zh-Hans")
    assert en != zh
    title = n.NoticeType(body["type"])
    assert en.startswith(n.label(title, "en")) and zh.startswith(n.label(title, "zh"))
    with pytest.raises(InvalidInput) as exc:
        render_notice(model, "fr")
    assert exc.value.field == "lang"


def test_an_encounter_is_rendered_with_its_codes_labels_and_converted_distance() -> None:
    model = NoticeBody.parse(ENCOUNTER)
    en = render_notice(model, "en")
    assert "Position: 24.5°N 121.75°E" in en
    assert "Closest point of approach: 150 yd (about 137 m; 450 ft; 0.07 NM)" in en
    assert "  - unsafe crossing ahead\n" in en
    assert "Requested action: maintain a safe distance (Keep 2 NM clear.)" in en
    zh = render_notice(model, "zh")
    assert "位置：北纬24.5°，东经121.75°" in zh
    assert "最近会遇距离：150 码（约 137 米；450 英尺；0.07 海里）" in zh
    assert "  - 不安全的前方横越\n" in zh
    south_west = NoticeBody.parse({**ENCOUNTER, "position": {"lat": "-33.9", "lon": "-18.4"}})
    assert "33.9°S 18.4°W" in render_notice(south_west, "en")
    assert "南纬33.9°，西经18.4°" in render_notice(south_west, "zh")


def test_an_open_polygon_is_closed_and_a_closed_one_kept() -> None:
    open_area = NoticeBody.parse(ACTIVITY)
    assert isinstance(open_area, n.ActivityNotice)
    closed = n.ring(open_area.area)
    assert len(closed) == 4 and closed[0] == closed[-1]
    given_closed = NoticeBody.parse({**ACTIVITY, "area": [*ACTIVITY["area"], ACTIVITY["area"][0]]})
    assert isinstance(given_closed, n.ActivityNotice)
    assert n.ring(given_closed.area) == closed
    assert "Area (3 points, closed):" in render_notice(given_closed, "en")


def _with(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(body)
    node: Any = out
    keys: list[Any] = [int(k) if k.isdigit() else k for k in path.split(".")]
    for key in keys[:-1]:
        node = node[key]
    if value is _DROP:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value
    return out


_DROP = object()

BAD = [
    (ENCOUNTER, "position", _DROP, "body.position", "missing"),
    (ENCOUNTER, "behaviours.0", "buzzing", "body.behaviours[0]", "must be one of"),
    (ENCOUNTER, "other_unit.type", "battleship", "body.other_unit.type", "must be one of"),
    (ENCOUNTER, "position.lat", "91", "body.position.lat", "between -90 and 90"),
    (ENCOUNTER, "position.lon", "-180.5", "body.position.lon", "between -180 and 180"),
    (ENCOUNTER, "position.lat", 24.5, "body.position.lat", "string"),
    (ENCOUNTER, "position.lat", "\u0663", "body.position.lat", "decimal degrees"),
    (ENCOUNTER, "position.lon", "1e2", "body.position.lon", "decimal degrees"),
    (ENCOUNTER, "cpa.value", "1e3", "body.cpa.value", "decimal number"),
    (ENCOUNTER, "cpa.value", 500, "body.cpa.value", "string"),
    (ENCOUNTER, "cpa.value", "-100", "body.cpa.value", "must not be negative"),
    (ENCOUNTER, "cpa.unit", "km", "body.cpa.unit", "must be one of"),
    (ENCOUNTER, "behaviours", [], "body.behaviours", "at least 1"),
    (ENCOUNTER, "behaviours", ["aerobatics", "aerobatics"], "body.behaviours", "twice"),
    (ENCOUNTER, "requested_action.code", "surrender", "body.requested_action.code", "one of"),
    (ACTIVITY, "area", [{"lat": "1", "lon": "1"}, {"lat": "2", "lon": "2"}], "body.area", "3"),
    (
        ACTIVITY,
        "area",
        [{"lat": "1", "lon": "1"}, {"lat": "2", "lon": "2"}, {"lat": "1.0", "lon": "1"}],
        "body.area",
        "3 distinct",
    ),
    (ACTIVITY, "end", "2026-11-30", "body.end", "before start"),
    (ACTIVITY, "forces.0.count", 0, "body.forces[0].count", "at least 1"),
    (ACTIVITY, "forces.0.type", "tank", "body.forces[0].type", "must be one of"),
    (MECHANISM, "status", "closed", "body.status", "must be one of"),
    (MECHANISM, "reason", _DROP, "body.reason", "missing"),
    (MECHANISM, "type", "gossip", "body.type", "must be one of"),
    (MECHANISM, "type", _DROP, "body.type", "missing"),
]


@pytest.mark.parametrize(("body", "path", "value", "field", "words"), BAD)
def test_a_bad_notice_is_refused_naming_the_field(
    body: dict[str, Any], path: str, value: Any, field: str, words: str
) -> None:
    with pytest.raises(InvalidStatement) as exc:
        validate_body("notice", _with(body, path, value))
    assert exc.value.field == field
    assert words in exc.value.message
