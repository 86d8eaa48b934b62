"""Formatted notices: coded, language-neutral bodies, their labels and units.

A notice is one statement of kind ``notice`` whose body names its ``type``:

- ``encounter``: an air or sea encounter report (time, position, both units,
  closest point of approach, behaviours, requested action);
- ``activity``: a major military activity (exercise, live fire or transit;
  dates, an area as a polygon, forces);
- ``mechanism-change``: a change in a mechanism's status.

Every field a reader must understand is a code (a ``StrEnum`` whose values
are the wire values) with a label in English and Chinese (:data:`LABELS`), so
each side reads the notice in its own language and no translation is needed.
The behaviour codes follow the 2014 US–China memorandum on rules of behaviour
for air and maritime encounters and the Code for Unplanned Encounters at Sea
(CUES, 2014, §2.8): the acts a commander "should avoid".

Numbers that are not counts (degrees, distances) travel as decimal strings:
a signed payload holds no floats (DESIGN.md, "Statements and the record").
Converting a distance is exact (:class:`~decimal.Decimal`; 1 ft = 0.3048 m,
1 yd = 0.9144 m, 1 NM = 1852 m); only what is shown is rounded
(:func:`display_distance`).

Rendering the notices in each language is not here (core is pure): see
:mod:`redline.service.notices`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Annotated, Any, Final, Literal, Self, cast

from pydantic import AfterValidator, Field, ValidationError, model_validator

from redline.core.errors import InvalidStatement
from redline.core.fields import (
    ActedBy,
    Body,
    Day,
    Ident,
    Time,
    TrimmedLine,
    TrimmedOrEmpty,
    field_error,
    invalid_statement,
)
from redline.core.hotline.mechanism import MechanismStatus
from redline.core.times import format_time, parse_time
from redline.core.translation import TermCategory, TranslationMethod

__all__ = [
    "LABELS",
    "LANGUAGES",
    "MAX_BEHAVIOURS",
    "MAX_FORCES",
    "MAX_VERTICES",
    "NOTICE",
    "NOTICE_BODIES",
    "ActivityKind",
    "ActivityNotice",
    "Behaviour",
    "Distance",
    "DistanceUnit",
    "EncounterDomain",
    "EncounterNotice",
    "Force",
    "ForceType",
    "MechanismChangeNotice",
    "NoticeBody",
    "NoticeType",
    "Position",
    "ReasonCode",
    "RequestedAction",
    "RequestedActionCode",
    "Unit",
    "UnitType",
    "convert",
    "display_distance",
    "label",
    "check_reported_time",
    "ring",
]

#: The statement kind of every notice.
NOTICE: Final = "notice"
#: The languages every code has a label in.
LANGUAGES: Final = ("en", "zh")
MAX_BEHAVIOURS: Final = 16
MAX_VERTICES: Final = 64
MAX_FORCES: Final = 32
MAX_FORCE_COUNT: Final = 100_000


class NoticeType(StrEnum):
    """What a notice reports."""

    ENCOUNTER = "encounter"
    ACTIVITY = "activity"
    MECHANISM_CHANGE = "mechanism-change"


class EncounterDomain(StrEnum):
    AIR = "air"
    SEA = "sea"


class UnitType(StrEnum):
    """The type of a unit in an encounter (a ship, an aircraft)."""

    AIRCRAFT_CARRIER = "aircraft-carrier"
    CRUISER = "cruiser"
    DESTROYER = "destroyer"
    FRIGATE = "frigate"
    CORVETTE = "corvette"
    AMPHIBIOUS_SHIP = "amphibious-ship"
    SUBMARINE = "submarine"
    PATROL_VESSEL = "patrol-vessel"
    COAST_GUARD_VESSEL = "coast-guard-vessel"
    AUXILIARY = "auxiliary"
    SURVEY_SHIP = "survey-ship"
    FISHING_VESSEL = "fishing-vessel"
    FIGHTER = "fighter"
    BOMBER = "bomber"
    MARITIME_PATROL_AIRCRAFT = "maritime-patrol-aircraft"
    RECONNAISSANCE_AIRCRAFT = "reconnaissance-aircraft"
    TRANSPORT_AIRCRAFT = "transport-aircraft"
    TANKER_AIRCRAFT = "tanker-aircraft"
    HELICOPTER = "helicopter"
    UAV = "uav"
    OTHER = "other"


class Behaviour(StrEnum):
    """What the other unit did, as the 2014 memorandum and CUES §2.8 name it."""

    UNSAFE_INTERCEPT = "unsafe-intercept"
    UNSAFE_PROXIMITY = "unsafe-proximity"
    FIRE_CONTROL_RADAR = "fire-control-radar"
    SIMULATED_ATTACK = "simulated-attack"
    WEAPON_DISCHARGE = "weapon-discharge"
    CROSSING_AHEAD = "crossing-ahead"
    DANGEROUS_MANOEUVRE = "dangerous-manoeuvre"
    AEROBATICS = "aerobatics"
    LASER_ILLUMINATION = "laser-illumination"
    SEARCHLIGHT_ILLUMINATION = "searchlight-illumination"
    DROPPING_OBJECTS = "dropping-objects"
    NO_RADIO_RESPONSE = "no-radio-response"
    OTHER = "other"


class RequestedActionCode(StrEnum):
    """What the reporting side asks of the other."""

    CEASE = "cease-behaviour"
    SAFE_DISTANCE = "maintain-safe-distance"
    ALTER_COURSE = "alter-course"
    COMMUNICATE = "communicate-on-channel"
    INVESTIGATE = "investigate-and-reply"
    INFORMATION = "for-information"
    OTHER = "other"


class DistanceUnit(StrEnum):
    """A unit of distance: metres, feet, yards, nautical miles."""

    M = "m"
    FT = "ft"
    YD = "yd"
    NM = "NM"


class ActivityKind(StrEnum):
    EXERCISE = "exercise"
    LIVE_FIRE = "live-fire"
    TRANSIT = "transit"


class ForceType(StrEnum):
    """A kind of force taking part in an activity."""

    SURFACE_COMBATANT = "surface-combatant"
    AIRCRAFT_CARRIER = "aircraft-carrier"
    SUBMARINE = "submarine"
    AMPHIBIOUS_SHIP = "amphibious-ship"
    AUXILIARY = "auxiliary"
    FIXED_WING_AIRCRAFT = "fixed-wing-aircraft"
    HELICOPTER = "helicopter"
    UAV = "uav"
    GROUND_FORCES = "ground-forces"
    MISSILE_UNIT = "missile-unit"
    OTHER = "other"


class ReasonCode(StrEnum):
    """Why a mechanism's status changes."""

    POLITICAL_DECISION = "political-decision"
    AGREEMENT = "agreement"
    INCIDENT = "incident"
    TECHNICAL_FAILURE = "technical-failure"
    MAINTENANCE = "maintenance"
    RESTORED = "restored"
    OTHER = "other"


# -- labels ------------------------------------------------------------------

_L = dict[str, tuple[str, str]]  # code -> (en, zh)

_LABEL_TABLE: Final[dict[type[StrEnum], _L]] = {
    NoticeType: {
        "encounter": ("Encounter report", "相遇报告"),
        "activity": ("Notification of major military activity", "重大军事行动通报"),
        "mechanism-change": ("Notice of a change in mechanism status", "机制状态变更通知"),
    },
    EncounterDomain: {"air": ("air", "空中"), "sea": ("sea", "海上")},
    UnitType: {
        "aircraft-carrier": ("aircraft carrier", "航空母舰"),
        "cruiser": ("cruiser", "巡洋舰"),
        "destroyer": ("destroyer", "驱逐舰"),
        "frigate": ("frigate", "护卫舰"),
        "corvette": ("corvette", "轻型护卫舰"),
        "amphibious-ship": ("amphibious ship", "两栖舰"),
        "submarine": ("submarine", "潜艇"),
        "patrol-vessel": ("patrol vessel", "巡逻舰艇"),
        "coast-guard-vessel": ("coast guard vessel", "海警船"),
        "auxiliary": ("auxiliary ship", "辅助船"),
        "survey-ship": ("survey ship", "测量船"),
        "fishing-vessel": ("fishing vessel", "渔船"),
        "fighter": ("fighter aircraft", "战斗机"),
        "bomber": ("bomber", "轰炸机"),
        "maritime-patrol-aircraft": ("maritime patrol aircraft", "海上巡逻机"),
        "reconnaissance-aircraft": ("reconnaissance aircraft", "侦察机"),
        "transport-aircraft": ("transport aircraft", "运输机"),
        "tanker-aircraft": ("tanker aircraft", "加油机"),
        "helicopter": ("helicopter", "直升机"),
        "uav": ("unmanned aerial vehicle", "无人机"),
        "other": ("other unit", "其他单位"),
    },
    Behaviour: {
        "unsafe-intercept": ("unsafe intercept", "不安全拦截"),
        "unsafe-proximity": ("approach closer than a safe distance", "抵近至安全距离以内"),
        "fire-control-radar": ("illumination with fire-control radar", "火控雷达照射"),
        "simulated-attack": (
            "simulated attack (guns, missiles, torpedo tubes aimed)",
            "模拟攻击（炮、导弹、鱼雷发射管瞄准）",
        ),
        "weapon-discharge": (
            "discharge of weapons or signal rockets towards the unit",
            "朝本单位方向发射武器或信号弹",
        ),
        "crossing-ahead": ("unsafe crossing ahead", "不安全的前方横越"),
        "dangerous-manoeuvre": ("dangerous manoeuvre", "危险机动"),
        "aerobatics": ("aerobatics near the unit", "在本单位附近做特技飞行"),
        "laser-illumination": ("laser illumination", "激光照射"),
        "searchlight-illumination": (
            "searchlight illumination of the bridge or cockpit",
            "探照灯照射舰桥或驾驶舱",
        ),
        "dropping-objects": ("dropping objects", "投掷物体"),
        "no-radio-response": (
            "no answer on the agreed radio channel",
            "未在约定的无线电频道应答",
        ),
        "other": ("other behaviour", "其他行为"),
    },
    RequestedActionCode: {
        "cease-behaviour": ("cease the behaviour", "停止该行为"),
        "maintain-safe-distance": ("maintain a safe distance", "保持安全距离"),
        "alter-course": ("alter course", "改变航向"),
        "communicate-on-channel": (
            "establish communication on the agreed channel",
            "在约定频道建立通信",
        ),
        "investigate-and-reply": ("investigate and reply", "调查并答复"),
        "for-information": ("for information; no action requested", "仅供参考，无需采取行动"),
        "other": ("other action", "其他行动"),
    },
    DistanceUnit: {
        "m": ("m", "米"),
        "ft": ("ft", "英尺"),
        "yd": ("yd", "码"),
        "NM": ("NM", "海里"),
    },
    ActivityKind: {
        "exercise": ("exercise", "演习"),
        "live-fire": ("live-fire exercise", "实弹演习"),
        "transit": ("transit", "过航"),
    },
    ForceType: {
        "surface-combatant": ("surface combatant", "水面作战舰艇"),
        "aircraft-carrier": ("aircraft carrier", "航空母舰"),
        "submarine": ("submarine", "潜艇"),
        "amphibious-ship": ("amphibious ship", "两栖舰"),
        "auxiliary": ("auxiliary ship", "辅助船"),
        "fixed-wing-aircraft": ("fixed-wing aircraft", "固定翼飞机"),
        "helicopter": ("helicopter", "直升机"),
        "uav": ("unmanned aerial vehicle", "无人机"),
        "ground-forces": ("ground forces (battalions)", "地面部队（营）"),
        "missile-unit": ("missile unit", "导弹部队"),
        "other": ("other forces", "其他部队"),
    },
    MechanismStatus: {
        "active": ("active", "运行"),
        "suspended": ("suspended", "暂停"),
        "resumed": ("resumed", "恢复"),
    },
    ReasonCode: {
        "political-decision": ("political decision", "政治决定"),
        "agreement": ("agreement between the parties", "双方协议"),
        "incident": ("incident", "事件"),
        "technical-failure": ("technical failure", "技术故障"),
        "maintenance": ("maintenance", "维护"),
        "restored": ("service restored", "恢复服务"),
        "other": ("other reason", "其他原因"),
    },
    TermCategory: {
        "office": ("office", "机构"),
        "place": ("place", "地点"),
        "unit": ("unit", "单位"),
        "other": ("other", "其他"),
    },
    TranslationMethod: {
        "human": ("human translation", "人工翻译"),
        "machine": ("machine translation", "机器翻译"),
    },
}

#: Every coded vocabulary a notice or translation uses: code -> language -> label.
LABELS: Final[Mapping[type[StrEnum], Mapping[str, Mapping[str, str]]]] = {
    vocabulary: {code: dict(zip(LANGUAGES, pair, strict=True)) for code, pair in table.items()}
    for vocabulary, table in _LABEL_TABLE.items()
}


def label(code: StrEnum, lang: str) -> str:
    """The label of ``code`` in ``lang`` (``zh-Hans`` reads as ``zh``; a
    language without labels reads English).

    Raises KeyError for a code of a vocabulary without labels (a test keeps
    every vocabulary here complete).
    """
    base = lang.split("-", 1)[0]
    labels = LABELS[type(code)][code.value]
    return labels.get(base, labels["en"])


# -- distances ---------------------------------------------------------------

#: Metres in one of each unit (exact: the international foot and yard, 1929 NM).
METRES: Final[Mapping[DistanceUnit, Decimal]] = {
    DistanceUnit.M: Decimal(1),
    DistanceUnit.FT: Decimal("0.3048"),
    DistanceUnit.YD: Decimal("0.9144"),
    DistanceUnit.NM: Decimal(1852),
}
#: Decimal places a distance is shown with, per unit.
SHOWN_PLACES: Final[Mapping[DistanceUnit, int]] = {
    DistanceUnit.M: 0,
    DistanceUnit.FT: 0,
    DistanceUnit.YD: 0,
    DistanceUnit.NM: 2,
}


def convert(value: Decimal, unit: DistanceUnit, to: DistanceUnit) -> Decimal:
    """``value`` in ``unit`` expressed in ``to``, unrounded. Raises nothing."""
    return value * METRES[unit] / METRES[to]


def display_distance(value: Decimal, unit: DistanceUnit, to: DistanceUnit) -> str:
    """``value`` in ``unit`` shown in ``to``: whole metres, feet and yards,
    nautical miles to two places, half away from zero. Raises nothing."""
    quantum = Decimal(1).scaleb(-SHOWN_PLACES[to])
    return str(convert(value, unit, to).quantize(quantum, rounding=ROUND_HALF_UP))


_DEGREES: Final = re.compile(r"-?[0-9]{1,3}(\.[0-9]{1,7})?")
_DISTANCE: Final = re.compile(r"-?[0-9]{1,7}(\.[0-9]{1,3})?")


def _degrees(limit: int, name: str) -> Any:
    def check(value: str) -> str:
        if _DEGREES.fullmatch(value) is None:
            raise field_error(
                f'{name} must be decimal degrees as a string, such as "24.5" '
                "(at most 7 decimal places)"
            )
        if abs(Decimal(value)) > limit:
            raise field_error(f"{name} must be between -{limit} and {limit} degrees")
        return value

    return AfterValidator(check)


def _distance(value: str) -> str:
    if _DISTANCE.fullmatch(value) is None:
        raise field_error(
            'must be a decimal number as a string, such as "500" or "0.5" '
            "(at most 3 decimal places)"
        )
    if Decimal(value) < 0:
        raise field_error("must not be negative")
    return value


#: Degrees as a decimal string: at most 7 places (about a centimetre).
Latitude = Annotated[str, _degrees(90, "latitude")]
Longitude = Annotated[str, _degrees(180, "longitude")]
#: A distance as a decimal string, 0 or more.
DistanceValue = Annotated[str, AfterValidator(_distance)]
Code = Field(strict=False)  # enumerations are read from their wire values


class Position(Body):
    """A point, in decimal degrees (WGS 84): north and east positive."""

    lat: Latitude
    lon: Longitude

    def key(self) -> tuple[Decimal, Decimal]:
        """The point as numbers (``"24.50"`` and ``"24.5"`` are one point)."""
        return Decimal(self.lat), Decimal(self.lon)


class Unit(Body):
    """A unit in an encounter: its coded type and, where known, its hull or tail number."""

    type: Annotated[UnitType, Code]
    id: Annotated[TrimmedLine, Field(max_length=40)] | None = None


class Distance(Body):
    """A distance and its unit."""

    value: DistanceValue
    unit: Annotated[DistanceUnit, Code]

    def number(self) -> Decimal:
        return Decimal(self.value)


class RequestedAction(Body):
    code: Annotated[RequestedActionCode, Code]
    text: Annotated[TrimmedOrEmpty, Field(max_length=2000)] = ""


class Force(Body):
    type: Annotated[ForceType, Code]
    count: Annotated[int, Field(ge=1, le=MAX_FORCE_COUNT)]


class NoticeBody(Body):
    """The body of a ``notice``: one of :class:`EncounterNotice`,
    :class:`ActivityNotice`, :class:`MechanismChangeNotice`, chosen by ``type``."""

    type: str
    #: The operator who filed it, and the office, when an operator did.
    by: ActedBy | None = None

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> Self:
        """Validate a notice as the model its ``type`` names.

        Raises:
            InvalidStatement: ``body.type`` missing or unknown, or naming the
            first bad field of that type (``body.position.lat``).
        """
        if cls is not NoticeBody:
            return super().parse(body)
        kind = body.get("type") if isinstance(body, Mapping) else None
        if kind is None:
            raise InvalidStatement("required field is missing", field="body.type")
        model = _TYPES.get(kind) if isinstance(kind, str) else None
        if model is None:
            raise InvalidStatement(
                f"must be one of {', '.join(t.value for t in NoticeType)}", field="body.type"
            )
        try:
            return cast(Self, model.model_validate(body))
        except ValidationError as exc:
            raise invalid_statement(exc) from None

    @property
    def notice_type(self) -> NoticeType:
        return NoticeType(self.type)


class EncounterNotice(NoticeBody):
    """An air or sea encounter, as one side's unit saw it."""

    type: Literal["encounter"]
    domain: Annotated[EncounterDomain, Code]
    time: Time
    position: Position
    own_unit: Unit
    other_unit: Unit
    cpa: Distance
    behaviours: Annotated[
        list[Annotated[Behaviour, Code]], Field(min_length=1, max_length=MAX_BEHAVIOURS)
    ]
    requested_action: RequestedAction
    remarks: Annotated[TrimmedOrEmpty, Field(max_length=4000)] = ""

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        if len(set(self.behaviours)) != len(self.behaviours):
            raise field_error("lists a behaviour twice", "behaviours")
        return self


class ActivityNotice(NoticeBody):
    """A major military activity: what, when, where (a polygon) and with what."""

    type: Literal["activity"]
    activity: Annotated[ActivityKind, Code]
    start: Day
    end: Day
    #: The area's vertices in order; the last may repeat the first (closed),
    #: or not (it is closed for it).
    area: Annotated[list[Position], Field(min_length=3, max_length=MAX_VERTICES + 1)]
    forces: Annotated[list[Force], Field(min_length=1, max_length=MAX_FORCES)]
    remarks: Annotated[TrimmedOrEmpty, Field(max_length=4000)] = ""

    @model_validator(mode="after")
    def _shape(self) -> Self:
        if self.end < self.start:
            raise field_error("end must not be before start", "end")
        vertices = [p.key() for p in self.area]
        if vertices[0] == vertices[-1]:
            vertices.pop()
        if len(set(vertices)) < 3:
            raise field_error("a polygon needs at least 3 distinct points", "area")
        if len(vertices) > MAX_VERTICES:
            raise field_error(f"a polygon has at most {MAX_VERTICES} points", "area")
        if len(set(f.type for f in self.forces)) != len(self.forces):
            raise field_error("lists a force type twice; give its total count once", "forces")
        return self


class MechanismChangeNotice(NoticeBody):
    """A change in a mechanism's status, from when, and why."""

    type: Literal["mechanism-change"]
    mechanism: Ident
    status: Annotated[MechanismStatus, Code]
    effective: Time
    reason: Annotated[ReasonCode, Code]
    remarks: Annotated[TrimmedOrEmpty, Field(max_length=4000)] = ""


_TYPES: Final[dict[str, type[NoticeBody]]] = {
    NoticeType.ENCOUNTER.value: EncounterNotice,
    NoticeType.ACTIVITY.value: ActivityNotice,
    NoticeType.MECHANISM_CHANGE.value: MechanismChangeNotice,
}


#: How far an encounter's time may lie after the report's signed time (the
#: reporting node's clock may run a little behind the unit's).
ENCOUNTER_SKEW: Final = timedelta(minutes=5)


def check_reported_time(notice: NoticeBody, signed_at: datetime) -> None:
    """Refuse an encounter reported before it happened: its ``time`` later than
    the statement's signed time by more than :data:`ENCOUNTER_SKEW`.

    Raises:
        InvalidStatement: field ``body.time``.
    """
    if isinstance(notice, EncounterNotice):
        happened = parse_time(notice.time)
        if happened > signed_at + ENCOUNTER_SKEW:
            raise InvalidStatement(
                f"the encounter's time {notice.time} is after the report itself "
                f"({format_time(signed_at)})",
                field="body.time",
            )


def ring(area: list[Position]) -> list[Position]:
    """The polygon's vertices, closed (the first point repeated last). Raises nothing."""
    if area and area[0].key() != area[-1].key():
        return [*area, area[0]]
    return list(area)


#: The notice kind, for :mod:`redline.core.registry`.
NOTICE_BODIES: Final[dict[str, type[Body]]] = {NOTICE: NoticeBody}
