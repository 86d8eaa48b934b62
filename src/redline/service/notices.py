"""Formatted notices: filing one, listing them, and rendering each in en or zh.

A notice's body is coded (:mod:`redline.core.notices`); each language's text
comes from a template here, filled with the codes' labels, positions written
with their hemispheres and the closest approach shown in every unit
(:func:`~redline.core.notices.display_distance`). The signed body stays the
record; the rendering is a view of it, the same on both nodes.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final

import orjson
from jinja2 import DictLoader, Environment, StrictUndefined
from sqlalchemy import Connection

from redline.core.errors import InvalidInput, InvalidStatement, NotFound
from redline.core.fields import ActedBy
from redline.core.notices import (
    LANGUAGES,
    NOTICE,
    ActivityNotice,
    DistanceUnit,
    EncounterNotice,
    MechanismChangeNotice,
    NoticeBody,
    NoticeType,
    Position,
    check_reported_time,
    display_distance,
    label,
    ring,
)
from redline.core.statement import Statement
from redline.service.node import NodeService
from redline.service.paging import DEFAULT_LIMIT, check_limit, decode_cursor, encode_cursor
from redline.service.translation import install_hooks
from redline.store import notices as store

__all__ = ["NoticeService", "render_notice"]

# One template per type and language: plain text, one fact a line, the codes'
# labels in the reader's language. Fields missing from a body fail loudly
# (StrictUndefined) rather than print nothing.
_TEMPLATES: Final[dict[str, str]] = {
    "encounter.en": """\
{{ title }} ({{ label(n.domain) }})
Time: {{ when(n.time) }}
Position: {{ position(n.position) }}
Own unit: {{ unit(n.own_unit) }}
Other unit: {{ unit(n.other_unit) }}
Closest point of approach: {{ cpa }}
Behaviours:
{% for b in n.behaviours %}  - {{ label(b) }}
{% endfor %}Requested action: {{ label(n.requested_action.code) }}\
{% if n.requested_action.text %} ({{ n.requested_action.text }}){% endif %}
{% if n.remarks %}Remarks: {{ n.remarks }}
{% endif %}""",
    "encounter.zh": """\
{{ title }}（{{ label(n.domain) }}）
时间：{{ when(n.time) }}
位置：{{ position(n.position) }}
本方单位：{{ unit(n.own_unit) }}
对方单位：{{ unit(n.other_unit) }}
最近会遇距离：{{ cpa }}
行为：
{% for b in n.behaviours %}  - {{ label(b) }}
{% endfor %}要求采取的行动：{{ label(n.requested_action.code) }}\
{% if n.requested_action.text %}（{{ n.requested_action.text }}）{% endif %}
{% if n.remarks %}备注：{{ n.remarks }}
{% endif %}""",
    "activity.en": """\
{{ title }}: {{ label(n.activity) }}
Dates: {{ n.start }} to {{ n.end }}
Area ({{ area | length - 1 }} points, closed):
{% for p in area %}  {{ position(p) }}
{% endfor %}Forces:
{% for f in n.forces %}  - {{ label(f.type) }}: {{ f.count }}
{% endfor %}{% if n.remarks %}Remarks: {{ n.remarks }}
{% endif %}""",
    "activity.zh": """\
{{ title }}：{{ label(n.activity) }}
日期：{{ n.start }} 至 {{ n.end }}
区域（{{ area | length - 1 }} 个点，闭合）：
{% for p in area %}  {{ position(p) }}
{% endfor %}兵力：
{% for f in n.forces %}  - {{ label(f.type) }}：{{ f.count }}
{% endfor %}{% if n.remarks %}备注：{{ n.remarks }}
{% endif %}""",
    "mechanism-change.en": """\
{{ title }}
Mechanism: {{ n.mechanism }}
New status: {{ label(n.status) }}
Effective: {{ when(n.effective) }}
Reason: {{ label(n.reason) }}
{% if n.remarks %}Remarks: {{ n.remarks }}
{% endif %}""",
    "mechanism-change.zh": """\
{{ title }}
机制：{{ n.mechanism }}
新状态：{{ label(n.status) }}
生效时间：{{ when(n.effective) }}
原因：{{ label(n.reason) }}
{% if n.remarks %}备注：{{ n.remarks }}
{% endif %}""",
}

# Autoescape off: this is plain text for a terminal or a JSON string, not HTML
# (the console escapes what it shows); every field was checked safe to print.
_ENV: Final = Environment(
    loader=DictLoader(_TEMPLATES),
    undefined=StrictUndefined,
    autoescape=False,
    keep_trailing_newline=True,
)

_HEMISPHERES: Final = {
    "en": (("N", "S"), ("E", "W")),
    "zh": (("北纬", "南纬"), ("东经", "西经")),
}


def _position(p: Position, lang: str) -> str:
    lat, lon = Decimal(p.lat), Decimal(p.lon)
    (north, south), (east, west) = _HEMISPHERES[lang]
    ns = north if lat >= 0 else south
    ew = east if lon >= 0 else west
    if lang == "zh":
        return f"{ns}{abs(lat)}°，{ew}{abs(lon)}°"
    return f"{abs(lat)}°{ns} {abs(lon)}°{ew}"


def _cpa(n: EncounterNotice, lang: str) -> str:
    value, unit = n.cpa.number(), n.cpa.unit
    given = f"{n.cpa.value} {label(unit, lang)}"
    others = [
        f"{display_distance(value, unit, to)} {label(to, lang)}"
        for to in DistanceUnit
        if to != unit
    ]
    sep, (open_, close) = ("；", ("（约 ", "）")) if lang == "zh" else ("; ", (" (about ", ")"))
    return f"{given}{open_}{sep.join(others)}{close}"


def _language(lang: str) -> str:
    base = lang.split("-", 1)[0]
    if base not in LANGUAGES:
        raise InvalidInput(
            f"notices are rendered in {' and '.join(LANGUAGES)}, not {lang!r}", field="lang"
        )
    return base


def render_notice(notice: NoticeBody, lang: str) -> str:
    """The notice as text in ``lang`` (``en`` or ``zh``; ``zh-Hans`` reads ``zh``).

    Raises :class:`InvalidInput` (field ``lang``) for another language.
    """
    lang = _language(lang)

    def label_of(code: StrEnum) -> str:
        return label(code, lang)

    def unit(u: Any) -> str:
        return label(u.type, lang) + (f" {u.id}" if u.id else "")

    values: dict[str, Any] = {
        "n": notice,
        "title": label(notice.notice_type, lang),
        "label": label_of,
        "position": lambda p: _position(p, lang),
        "when": lambda t: f"{t[:10]} {t[11:16]} UTC",
        "unit": unit,
    }
    if isinstance(notice, EncounterNotice):
        values["cpa"] = _cpa(notice, lang)
    elif isinstance(notice, ActivityNotice):
        values["area"] = ring(notice.area)
    else:
        assert isinstance(notice, MechanismChangeNotice)
    text = _ENV.get_template(f"{notice.type}.{lang}").render(values)
    if notice.by is not None:
        office = f" ({notice.by.office})" if notice.by.office else ""
        text += ("签发：" if lang == "zh" else "Filed by: ") + notice.by.operator + office + "\n"
    return text


def _summary(notice: NoticeBody, lang: str) -> str:
    """One line for a listing."""
    if isinstance(notice, EncounterNotice):
        return (
            f"{label(notice.domain, lang)}: {label(notice.other_unit.type, lang)}, "
            f"{label(notice.behaviours[0], lang)}"
            + (f" +{len(notice.behaviours) - 1}" if len(notice.behaviours) > 1 else "")
        )
    if isinstance(notice, ActivityNotice):
        return f"{label(notice.activity, lang)} {notice.start}..{notice.end}"
    assert isinstance(notice, MechanismChangeNotice)
    return f"{notice.mechanism}: {label(notice.status, lang)} ({label(notice.reason, lang)})"


class NoticeService:
    """Notices of one node: file, list, show (rendered)."""

    def __init__(self, node: NodeService) -> None:
        install_hooks(node)  # indexes each notice as it is stored
        self.node = node

    def send_notice(
        self, *, to: str, notice: Mapping[str, Any], by: ActedBy | None = None
    ) -> Statement:
        """Sign and queue ``notice`` (a wire body with its ``type``) to ``to``.

        ``by`` names the operator who files it (it replaces any ``by`` given).
        Raises :class:`InvalidInput` naming the bad field (``body.position.lat``;
        nothing is stored or sent) and :class:`NotFound` for an unpinned ``to``.
        """
        body = {k: v for k, v in notice.items() if k != "by"}
        if by is not None:
            body["by"] = by.wire()
        try:
            model = NoticeBody.parse(body)
        except InvalidStatement as exc:
            raise InvalidInput(exc.message, field=exc.field) from None

        def reported_after(_conn: Connection, at: datetime) -> None:
            try:
                check_reported_time(model, at)  # with the time the statement will carry
            except InvalidStatement as exc:
                raise InvalidInput(exc.message, field=exc.field) from None

        return self.node.send(to=to, kind=NOTICE, body=model, check=reported_after)

    def notices_page(
        self, *, lang: str = "en", limit: int = DEFAULT_LIMIT, cursor: str | None = None
    ) -> dict[str, Any]:
        """One page of notices (either way), oldest first by signed time, each
        with a one-line summary in ``lang``.

        Returns ``{"notices": [...], "next": cursor or None}``. Raises
        :class:`InvalidInput` (field ``limit``, ``cursor`` or ``lang``).
        """
        check_limit(limit)
        lang = _language(lang)
        after = None
        if cursor is not None:
            time, notice_id = decode_cursor(cursor, (str, str))
            after = (str(time), str(notice_id))
        with self.node.store.read() as conn:
            rows = store.notice_rows(conn, after=after, limit=limit)
        out = [self._row(row, lang) for row in rows]
        more = len(out) == limit
        return {
            "notices": out,
            "next": encode_cursor([out[-1]["time"], out[-1]["id"]]) if more else None,
        }

    def notices(self, *, lang: str = "en") -> list[dict[str, Any]]:
        """Every notice, as :meth:`notices_page` lists them. Raises :class:`InvalidInput`."""
        lang = _language(lang)
        with self.node.store.read() as conn:
            rows = store.notice_rows(conn)
        return [self._row(row, lang) for row in rows]

    def notice(self, ref: str, *, lang: str = "en") -> dict[str, Any]:
        """One notice: its row, its coded ``body`` (the signed record), its
        ``text`` rendered in ``lang``, and any advisory translations.

        Raises :class:`InvalidInput` (field ``id`` or ``lang``) and
        :class:`NotFound` (field ``id``).
        """
        lang = _language(lang)
        ref = ref.lower()
        if not 8 <= len(ref) <= 64 or any(c not in "0123456789abcdef" for c in ref):
            raise InvalidInput(
                "give the notice's id, or at least its first 8 hex characters", field="id"
            )
        with self.node.store.read() as conn:
            found = store.notice_ids(conn, prefix=ref, limit=2)
            if len(found) > 1:
                raise InvalidInput(f"{ref!r} starts more than one notice", field="id")
            rows = store.notice_rows(conn, ids=found) if found else []
            translations = store.translation_rows(conn, found[0]) if found else []
        if not rows:
            raise NotFound(f"no notice {ref!r}", field="id")
        row = rows[0]
        notice = NoticeBody.parse(orjson.loads(row.wire)["body"])
        return {
            **self._row(row, lang),
            "body": notice.wire(),
            "text": render_notice(notice, lang),
            "translations": [{**_translation(t), "advisory": True} for t in translations],
        }

    @staticmethod
    def _row(row: Any, lang: str) -> dict[str, Any]:
        notice = NoticeBody.parse(orjson.loads(row.wire)["body"])
        return {
            "id": row.id,
            "direction": row.direction,
            "peer": row.peer,
            "from": row.sender,
            "type": notice.type,
            "title": label(NoticeType(notice.type), lang),
            "summary": _summary(notice, lang),
            "time": row.time,
            "state": row.state,
            "lang": lang,
        }


def _translation(row: Any) -> dict[str, Any]:
    body = orjson.loads(row.wire)["body"]
    return {
        "id": row.id,
        "from": row.sender,
        "time": row.time,
        "lang": body["lang"],
        "method": body["method"],
        "engine": body.get("engine"),
        "text": body["text"],
    }
