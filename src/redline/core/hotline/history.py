"""The public history of the US-PRC hotline, loaded from ``redline/data/history.json``.

The file is built from the five news reports in ``seeds/``: every item cites
the seed file and a verbatim quote, and every item is marked
``source="public-record"``. These are reports about the parties, never
statements the parties signed; nothing here goes into a node's log.

Dates in the file carry the precision the seed gives ("2021", "2021-08",
"2021-08-16") and stand for the first day of that period. A request the
seeds date only to a period gets that period as its window and the period's
end as its deadline, and its note says so.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from importlib import resources
from typing import Any, Final, Literal, TypeVar

from redline.core.errors import InvalidInput
from redline.core.hotline._checks import check_date, check_enum, check_id, check_text
from redline.core.hotline.board import Board, Contact, ContactKind, build_board
from redline.core.hotline.calls import Call, CallEvent
from redline.core.hotline.directory import (
    CounterpartDeclaration,
    Directory,
    Holding,
    Office,
    Party,
    Precision,
)
from redline.core.hotline.mechanism import Mechanism, MechanismEvent
from redline.core.hotline.requests import EngagementRequest, Response, Window

__all__ = [
    "FORMAT",
    "PUBLIC_RECORD",
    "Citation",
    "EventKind",
    "HistoryEvent",
    "PublicHistory",
    "PublicRecord",
    "load_history",
    "parse_history",
    "parse_partial_date",
    "period_end",
]

FORMAT: Final = "redline-public-history/v1"
PUBLIC_RECORD: Final = "public-record"
_SEED_NAME = re.compile(r"^\d{3}_[0-9a-f]{16}\.txt$")
T = TypeVar("T")


class EventKind(StrEnum):
    """What sort of thing a timeline event records."""

    MEETING = "meeting"
    CALL = "call"
    VIDEO = "video"
    TALKS = "talks"
    NO_RESPONSE = "no_response"
    COUNTERPART_DISPUTE = "counterpart_dispute"
    DECLINE = "decline"
    SUSPENSION = "suspension"
    AGREEMENT = "agreement"
    APPOINTMENT = "appointment"
    REMOVAL = "removal"


def _check_public(value: object) -> None:
    if value != PUBLIC_RECORD:
        raise InvalidInput(f"must be {PUBLIC_RECORD!r}, got {value!r}", field="source")


@dataclass(frozen=True, slots=True, kw_only=True)
class Citation:
    """A verbatim ``quote`` from seed file ``seed`` (e.g. ``001_c2d313378d47ce4e.txt``).

    Raises:
        InvalidInput: a malformed seed file name, a blank or over-long quote,
            or a source other than ``public-record``.
    """

    seed: str
    quote: str
    source: Literal["public-record"] = PUBLIC_RECORD

    def __post_init__(self) -> None:
        if not isinstance(self.seed, str) or not _SEED_NAME.fullmatch(self.seed):
            raise InvalidInput(f"not a seed file name: {self.seed!r}", field="seed")
        check_text(self.quote, "quote", limit=400)
        _check_public(self.source)


@dataclass(frozen=True, slots=True, kw_only=True)
class PublicRecord:
    """Where an item of the history comes from: ``key`` is ``<kind>:<id>``.

    ``citations`` is empty only for catalogue entries whose ``note`` says why.

    Raises:
        InvalidInput: a blank key, no citation and no note, or a source other
            than ``public-record``.
    """

    key: str
    citations: tuple[Citation, ...]
    note: str = ""
    source: Literal["public-record"] = PUBLIC_RECORD

    def __post_init__(self) -> None:
        check_text(self.key, "key", limit=200)
        check_text(self.note, "note", empty=True)
        if not self.citations and not self.note:
            raise InvalidInput("needs a citation, or a note saying why none", field="cite")
        _check_public(self.source)


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryEvent:
    """One line of the public timeline.

    ``refs`` are keys of the structured items it concerns (``contact:...``).

    Raises:
        InvalidInput: a bad id, date, kind or title, no citation, or a source
            other than ``public-record``.
    """

    id: str
    on: date
    precision: Precision
    kind: EventKind
    title: str
    refs: tuple[str, ...]
    citations: tuple[Citation, ...]
    note: str = ""
    source: Literal["public-record"] = PUBLIC_RECORD

    def __post_init__(self) -> None:
        check_id(self.id, "id")
        check_date(self.on, "on")
        object.__setattr__(self, "precision", check_enum(self.precision, Precision, "precision"))
        object.__setattr__(self, "kind", check_enum(self.kind, EventKind, "kind"))
        check_text(self.title, "title", limit=300)
        for i, ref in enumerate(self.refs):
            check_text(ref, f"refs[{i}]", limit=200)
        if not self.citations:
            raise InvalidInput("every event cites a seed", field="cite")
        check_text(self.note, "note", empty=True)
        _check_public(self.source)


@dataclass(frozen=True, slots=True, kw_only=True)
class PublicHistory:
    """The whole public history as domain objects, with a record per item.

    Raises nothing itself; :func:`parse_history` validates.
    """

    about: str
    directory: Directory
    mechanisms: tuple[Mechanism, ...]
    mechanism_events: tuple[MechanismEvent, ...]
    requests: tuple[EngagementRequest, ...]
    responses: tuple[Response, ...]
    calls: tuple[Call, ...]
    call_events: tuple[CallEvent, ...]
    contacts: tuple[Contact, ...]
    events: tuple[HistoryEvent, ...]
    records: Mapping[str, PublicRecord]
    source: Literal["public-record"] = PUBLIC_RECORD

    def board(self, now: datetime) -> Board:
        """The board as of ``now``.

        Raises:
            InvalidInput: ``now`` is not an aware UTC datetime.
        """
        return build_board(
            directory=self.directory,
            mechanisms=self.mechanisms,
            mechanism_events=self.mechanism_events,
            requests=self.requests,
            responses=self.responses,
            calls=self.calls,
            call_events=self.call_events,
            contacts=self.contacts,
            now=now,
        )

    def record(self, key: str) -> PublicRecord:
        """The provenance of item ``key`` (e.g. ``"request:austin-xu-1"``).

        Raises:
            InvalidInput: no such item.
        """
        try:
            return self.records[key]
        except KeyError:
            raise InvalidInput(f"no item {key!r} in the history", field="key") from None


def parse_partial_date(text: object, field: str) -> tuple[date, Precision]:
    """Parse ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD`` into the period's first day and precision.

    Raises:
        InvalidInput: any other form, or no such day.
    """
    if not isinstance(text, str) or not re.fullmatch(r"\d{4}(-\d{2}(-\d{2})?)?", text):
        raise InvalidInput(f"must be YYYY, YYYY-MM or YYYY-MM-DD, got {text!r}", field=field)
    parts = [int(p) for p in text.split("-")]
    precision = (Precision.YEAR, Precision.MONTH, Precision.DAY)[len(parts) - 1]
    try:
        return date(parts[0], *(parts[1:] + [1, 1])[:2]), precision
    except ValueError as exc:
        raise InvalidInput(f"no such date {text!r}", field=field) from exc


def period_end(start: date, precision: Precision) -> date:
    """The first day after the period that starts on ``start``. Raises nothing."""
    if precision is Precision.DAY:
        return start + timedelta(days=1)
    if precision is Precision.MONTH:
        return date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return date(start.year + 1, 1, 1)


def _at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


class _Reader:
    """Reads one JSON entry, refusing unknown keys; errors name the entry."""

    def __init__(self, obj: object, where: str, allowed: set[str]) -> None:
        if not isinstance(obj, dict):
            raise InvalidInput("must be an object", field=where)
        extra = set(obj) - allowed - {"cite", "note"}
        if extra:
            raise InvalidInput(f"unknown keys {sorted(extra)}", field=where)
        self.obj: dict[str, Any] = obj
        self.where = where

    def get(self, key: str, default: object = ...) -> Any:
        if key in self.obj:
            return self.obj[key]
        if default is ...:
            raise InvalidInput(f"missing {key!r}", field=f"{self.where}.{key}")
        return default

    def day(self, key: str) -> tuple[date, Precision]:
        return parse_partial_date(self.get(key), f"{self.where}.{key}")

    def build(self, make: Callable[..., T], **kwargs: Any) -> T:
        try:
            return make(**kwargs)
        except InvalidInput as exc:
            raise InvalidInput(exc.message, field=f"{self.where}.{exc.field}") from exc
        except TypeError as exc:
            raise InvalidInput(str(exc), field=self.where) from exc

    def record(self, key: str) -> PublicRecord:
        raw = self.get("cite")
        if not isinstance(raw, list):
            raise InvalidInput("must be a list", field=f"{self.where}.cite")
        cites = []
        for i, c in enumerate(raw):
            r = _Reader(c, f"{self.where}.cite[{i}]", {"seed", "quote"})
            cites.append(r.build(Citation, seed=r.get("seed"), quote=r.get("quote")))
        return self.build(PublicRecord, key=key, citations=tuple(cites), note=self.get("note", ""))


def _section(doc: dict[str, Any], name: str) -> list[Any]:
    value = doc.get(name)
    if not isinstance(value, list):
        raise InvalidInput("must be a list", field=name)
    return value


def _events(
    doc: dict[str, Any],
    section: str,
    make: Callable[..., T],
    parent: str,
    parent_ids: set[str],
    remember: Callable[[_Reader, str], None],
) -> list[T]:
    """Read a section of events on earlier items (responses to ``request``s,
    call events of ``call``s): each names its ``parent`` by id, which must be
    one of ``parent_ids``, and is remembered as ``<section, singular>:<id>``."""
    events = []
    for i, raw in enumerate(_section(doc, section)):
        r = _Reader(raw, f"{section}[{i}]", {"id", parent, "action", "by_party", "date", "reason"})
        parent_id = r.get(parent)
        event = r.build(
            make,
            **{f"{parent}_id": parent_id},
            action=r.get("action"),
            by_party=r.get("by_party"),
            at=_at(r.day("date")[0]),
            reason=r.get("reason", ""),
        )
        if parent_id not in parent_ids:
            raise InvalidInput(f"unknown {parent} {parent_id!r}", field=f"{r.where}.{parent}")
        remember(r, f"{section.removesuffix('s')}:{check_id(r.get('id'), f'{r.where}.id')}")
        events.append(event)
    return events


def parse_history(doc: object) -> PublicHistory:
    """Validate a decoded history document into a :class:`PublicHistory`.

    Raises:
        InvalidInput: wrong format or source, an unknown key, a malformed or
            inconsistent entry (the field names the entry, e.g.
            ``holdings[3].end``), a repeated key, or a ref to no item.
    """
    if not isinstance(doc, dict):
        raise InvalidInput("must be a JSON object", field="history")
    if doc.get("format") != FORMAT:
        raise InvalidInput(f"must be {FORMAT!r}", field="format")
    _check_public(doc.get("source"))
    records: dict[str, PublicRecord] = {}

    def remember(r: _Reader, key: str) -> None:
        if key in records:
            raise InvalidInput(f"repeated item {key!r}", field=r.where)
        records[key] = r.record(key)

    parties = []
    for i, raw in enumerate(_section(doc, "parties")):
        r = _Reader(raw, f"parties[{i}]", {"id", "name_en", "name_zh", "time_zone"})
        p = r.build(Party, **{k: r.get(k) for k in ("id", "name_en", "name_zh", "time_zone")})
        remember(r, f"party:{p.id}")
        parties.append(p)
    offices = []
    for i, raw in enumerate(_section(doc, "offices")):
        keys = {"id", "party", "level", "title_en", "title_zh"}
        r = _Reader(raw, f"offices[{i}]", keys | {"seats"})
        o = r.build(Office, seats=r.get("seats", 1), **{k: r.get(k) for k in keys})
        remember(r, f"office:{o.id}")
        offices.append(o)
    holdings = []
    for i, raw in enumerate(_section(doc, "holdings")):
        r = _Reader(raw, f"holdings[{i}]", {"office", "person_en", "person_zh", "start", "end"})
        start, start_p = r.day("start")
        end, end_p = r.day("end") if r.get("end", None) is not None else (None, Precision.DAY)
        h = r.build(
            Holding,
            office_id=r.get("office"),
            person_en=r.get("person_en"),
            person_zh=r.get("person_zh"),
            start=start,
            end=end,
            start_precision=start_p,
            end_precision=end_p,
            note=r.get("note", ""),
        )
        remember(r, f"holding:{h.office_id}:{h.person_en}")
        holdings.append(h)
    declarations = []
    for i, raw in enumerate(_section(doc, "declarations")):
        keys = {"declaring_party", "own_office", "counterpart_office"}
        r = _Reader(raw, f"declarations[{i}]", keys | {"id"})
        d = r.build(CounterpartDeclaration, note=r.get("note", ""), **{k: r.get(k) for k in keys})
        remember(r, f"declaration:{check_id(r.get('id'), f'{r.where}.id')}")
        declarations.append(d)
    directory = Directory(
        parties=tuple(parties),
        offices=tuple(offices),
        holdings=tuple(holdings),
        declarations=tuple(declarations),
    )
    office_ids = {o.id for o in offices}

    def known_office(r: _Reader, key: str, office_id: object) -> None:
        if office_id not in office_ids:
            raise InvalidInput(f"unknown office {office_id!r}", field=f"{r.where}.{key}")

    mechanisms = []
    for i, raw in enumerate(_section(doc, "mechanisms")):
        keys = {"id", "name_en", "name_zh", "kind", "offices"}
        r = _Reader(raw, f"mechanisms[{i}]", keys | {"response_window_hours", "cadence"})
        hours = r.get("response_window_hours", None)
        if hours is not None and (isinstance(hours, bool) or not isinstance(hours, int)):
            raise InvalidInput("must be whole hours", field=f"{r.where}.response_window_hours")
        m = r.build(
            Mechanism,
            response_window=None if hours is None else timedelta(hours=hours),
            cadence=r.get("cadence", None),
            **{k: r.get(k) for k in keys},
        )
        for office_id in m.offices:
            known_office(r, "offices", office_id)
        remember(r, f"mechanism:{m.id}")
        mechanisms.append(m)
    mechanism_ids = {m.id for m in mechanisms}

    mechanism_events = []
    for i, raw in enumerate(_section(doc, "mechanism_events")):
        r = _Reader(
            raw,
            f"mechanism_events[{i}]",
            {"id", "mechanism", "status", "by_party", "reason", "date"},
        )
        if r.get("mechanism") not in mechanism_ids:
            raise InvalidInput(f"unknown mechanism {r.get('mechanism')!r}", field=r.where)
        on, _ = r.day("date")
        e = r.build(
            MechanismEvent,
            mechanism_id=r.get("mechanism"),
            status=r.get("status"),
            by_party=r.get("by_party"),
            reason=r.get("reason"),
            at=_at(on),
        )
        remember(r, f"mechanism_event:{check_id(r.get('id'), f'{r.where}.id')}")
        mechanism_events.append(e)

    requests = []
    for i, raw in enumerate(_section(doc, "requests")):
        keys = {"id", "from_office", "to_office", "mechanism", "mode", "proposed", "deadline"}
        r = _Reader(raw, f"requests[{i}]", keys | {"agenda", "notes"})
        for key in ("from_office", "to_office"):
            known_office(r, key, r.get(key))
        if r.get("mechanism") not in mechanism_ids:
            raise InvalidInput(f"unknown mechanism {r.get('mechanism')!r}", field=r.where)
        start, precision = r.day("proposed")
        end = _at(period_end(start, precision))
        deadline = _at(r.day("deadline")[0]) if r.get("deadline", None) is not None else end
        req = r.build(
            EngagementRequest,
            id=r.get("id"),
            from_office=r.get("from_office"),
            to_office=r.get("to_office"),
            from_party=directory.office(r.get("from_office")).party,
            to_party=directory.office(r.get("to_office")).party,
            mechanism=r.get("mechanism"),
            mode=r.get("mode"),
            windows=(Window(start=_at(start), end=end),),
            proposed_at=_at(start),
            deadline=deadline,
            agenda=tuple(r.get("agenda", ())),
            notes=tuple(r.get("notes", ())),
        )
        remember(r, f"request:{req.id}")
        requests.append(req)

    responses = _events(doc, "responses", Response, "request", {q.id for q in requests}, remember)

    calls = []
    for i, raw in enumerate(_section(doc, "calls")):
        keys = {"id", "from_office", "to_office", "mechanism", "mode", "placed", "purpose"}
        r = _Reader(raw, f"calls[{i}]", keys)
        for key in ("from_office", "to_office"):
            known_office(r, key, r.get(key))
        call = r.build(
            Call,
            id=r.get("id"),
            from_office=r.get("from_office"),
            to_office=r.get("to_office"),
            from_party=directory.office(r.get("from_office")).party,
            to_party=directory.office(r.get("to_office")).party,
            mechanism=r.get("mechanism"),
            mode=r.get("mode"),
            placed_at=_at(r.day("placed")[0]),
            purpose=r.get("purpose", ""),
        )
        remember(r, f"call:{call.id}")
        calls.append(call)

    call_events = _events(doc, "call_events", CallEvent, "call", {c.id for c in calls}, remember)

    contacts = []
    for i, raw in enumerate(_section(doc, "contacts")):
        r = _Reader(
            raw, f"contacts[{i}]", {"id", "date", "offices", "kind", "mechanism", "summary"}
        )
        k = r.build(
            Contact,
            id=r.get("id"),
            on=r.day("date")[0],
            office_ids=r.get("offices"),
            kind=check_enum(r.get("kind"), ContactKind, f"{r.where}.kind"),
            mechanism=r.get("mechanism", None),
            summary=r.get("summary", ""),
        )
        for office_id in k.office_ids:
            known_office(r, "offices", office_id)
        remember(r, f"contact:{k.id}")
        contacts.append(k)

    events = []
    for i, raw in enumerate(_section(doc, "events")):
        r = _Reader(raw, f"events[{i}]", {"id", "date", "kind", "title", "refs"})
        on, precision = r.day("date")
        rec = r.record(f"event:{r.get('id')}")
        ev = r.build(
            HistoryEvent,
            id=r.get("id"),
            on=on,
            precision=precision,
            kind=r.get("kind"),
            title=r.get("title"),
            refs=tuple(r.get("refs", ())),
            citations=rec.citations,
            note=rec.note,
        )
        remember(r, f"event:{ev.id}")
        events.append(ev)
    for ev in events:
        for ref in ev.refs:
            if ref not in records:
                raise InvalidInput(f"refers to no item: {ref!r}", field=f"events.{ev.id}.refs")

    return PublicHistory(
        about=check_text(doc.get("about"), "about", limit=4000),
        directory=directory,
        mechanisms=tuple(mechanisms),
        mechanism_events=tuple(mechanism_events),
        requests=tuple(requests),
        responses=tuple(responses),
        calls=tuple(calls),
        call_events=tuple(call_events),
        contacts=tuple(contacts),
        events=tuple(sorted(events, key=lambda e: e.on)),
        records=records,
    )


def load_history() -> PublicHistory:
    """Load and validate the packaged ``redline/data/history.json``.

    Raises:
        InvalidInput: the file is not valid JSON or fails :func:`parse_history`.
    """
    text = resources.files("redline").joinpath("data").joinpath("history.json").read_text("utf-8")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"not valid JSON: {exc}", field="history.json") from exc
    return parse_history(doc)
