"""Parties, offices, who holds them when, and who each side says is whose counterpart.

The seeds' central quarrel lives here: the US says the Secretary of Defense's
counterpart is the CMC Vice Chairman, the PRC offers the Minister of National
Defense. Each party files its own :class:`CounterpartDeclaration`;
:func:`counterpart_view` puts the two side by side and flags the mismatch
instead of picking a winner.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from redline.core.errors import Conflict, InvalidInput, NotFound
from redline.core.hotline._checks import check_date, check_enum, check_id, check_text

__all__ = [
    "CounterpartDeclaration",
    "CounterpartView",
    "Directory",
    "Holding",
    "Level",
    "Office",
    "Party",
    "Precision",
    "counterpart_view",
    "holder_on",
    "holders_on",
    "in_language",
]

_LANG = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")  # a language tag, with fullmatch


def in_language(texts: Mapping[str, str], lang: str) -> str:
    """The text of ``texts`` (language tag → text) for a reader of ``lang``: that
    language, else its primary subtag (``zh`` for ``zh-Hans``), else English,
    else the first given; "" if there is none. Raises nothing."""
    if not texts:
        return ""
    return (
        texts.get(lang)
        or texts.get(lang.split("-")[0])
        or texts.get("en")
        or next(iter(texts.values()))
    )


def _language_map(
    texts: Mapping[str, str], en: str, zh: str, name: str, limit: int
) -> dict[str, str]:
    """``texts`` checked, or built from the two-language fields when it is empty.
    Errors name ``<name>s`` (``titles.ja``) or ``<name>_en`` (``person_en``)."""
    field = "titles" if name == "title" else name
    if not texts:
        check_text(en, f"{name}_en", limit=limit)
        check_text(zh, f"{name}_zh", limit=limit)
        return {"en": en, "zh": zh}
    if not isinstance(texts, Mapping):
        raise InvalidInput("must be a map of language tag to text", field=field)
    for lang, value in texts.items():
        if not isinstance(lang, str) or not _LANG.fullmatch(lang):
            raise InvalidInput(f"{lang!r} is not a language tag such as en or zh", field=field)
        check_text(value, f"{field}.{lang}", limit=limit)
    return dict(texts)


class Level(StrEnum):
    """The level an office sits at; :attr:`rank` orders them, 0 the most senior.

    The order is the board's, not a claim that two offices at one level are
    protocol equals: that is exactly what counterpart declarations dispute.
    """

    HEAD_OF_STATE = "head_of_state"
    FOREIGN_MINISTER = "foreign_minister"
    DEFENCE_MINISTER = "defence_minister"
    CHIEF_OF_DEFENCE = "chief_of_defence"
    CMC_VICE_CHAIRMAN = "cmc_vice_chairman"
    THEATRE_COMMANDER = "theatre_commander"
    POLICY = "policy"
    DEFENCE_ATTACHE = "defence_attache"
    WORKING_LEVEL = "working_level"

    @property
    def rank(self) -> int:
        """Position in the order above, 0 first. Raises nothing."""
        return list(Level).index(self)


class Precision(StrEnum):
    """How much of a date a source gives; the date is then the period's first day."""

    DAY = "day"
    MONTH = "month"
    YEAR = "year"


@dataclass(frozen=True, slots=True, kw_only=True)
class Party:
    """A side of the link, e.g. ``us`` or ``prc``, with its home time zone.

    Raises:
        InvalidInput: a bad id, blank name, or a time zone IANA does not know.
    """

    id: str
    name_en: str
    name_zh: str
    time_zone: str

    def __post_init__(self) -> None:
        check_id(self.id, "id")
        check_text(self.name_en, "name_en", limit=200)
        check_text(self.name_zh, "name_zh", limit=200)
        check_text(self.time_zone, "time_zone", limit=100)
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise InvalidInput(
                f"unknown IANA time zone {self.time_zone!r}", field="time_zone"
            ) from exc


@dataclass(frozen=True, slots=True, kw_only=True)
class Office:
    """A post that speaks for a party, e.g. the Secretary of Defense.

    ``seats`` is how many people hold it at once (several deputy directors).
    ``titles`` maps a language tag to the title in that language; an office
    may instead be given ``title_en`` and ``title_zh`` (the public history and
    directories signed before titles were a map), which become ``titles``.
    ``title_en`` and ``title_zh`` are always set: the title in that language,
    or the fallback :meth:`title` gives.

    Raises:
        InvalidInput: a bad id or party, no title or a blank one, a bad language
            tag, unknown level, seats < 1.
    """

    id: str
    party: str
    level: Level
    seats: int = 1
    titles: Mapping[str, str] = field(default_factory=dict, hash=False)
    title_en: str = ""
    title_zh: str = ""

    def __post_init__(self) -> None:
        check_id(self.id, "id")
        check_id(self.party, "party")
        titles = _language_map(self.titles, self.title_en, self.title_zh, "title", 300)
        object.__setattr__(self, "titles", titles)
        object.__setattr__(self, "title_en", in_language(titles, "en"))
        object.__setattr__(self, "title_zh", in_language(titles, "zh"))
        object.__setattr__(self, "level", check_enum(self.level, Level, "level"))
        if isinstance(self.seats, bool) or not isinstance(self.seats, int) or self.seats < 1:
            raise InvalidInput(f"must be a whole number >= 1, got {self.seats!r}", field="seats")

    def title(self, lang: str) -> str:
        """The title for a reader of ``lang``, with fallback (:func:`in_language`).
        Raises nothing."""
        return in_language(self.titles, lang)


@dataclass(frozen=True, slots=True, kw_only=True)
class Holding:
    """``person`` held ``office_id`` from ``start`` until the day before ``end``.

    ``person`` maps a language tag to the holder's name (or give ``person_en``
    and ``person_zh``, as :class:`Office` takes its titles). ``end`` is None
    while the person holds it (or when no source says when they left). The
    precisions say how much of each date a source gave.

    Raises:
        InvalidInput: a bad id or name, ``end`` not after ``start``.
    """

    office_id: str
    person: Mapping[str, str] = field(default_factory=dict, hash=False)
    person_en: str = ""
    person_zh: str = ""
    start: date
    end: date | None = None
    start_precision: Precision = Precision.DAY
    end_precision: Precision = Precision.DAY
    note: str = ""

    def __post_init__(self) -> None:
        check_id(self.office_id, "office_id")
        person = _language_map(self.person, self.person_en, self.person_zh, "person", 200)
        object.__setattr__(self, "person", person)
        object.__setattr__(self, "person_en", in_language(person, "en"))
        object.__setattr__(self, "person_zh", in_language(person, "zh"))
        check_date(self.start, "start")
        if self.end is not None and check_date(self.end, "end") <= self.start:
            raise InvalidInput(f"{self.end} is not after start {self.start}", field="end")
        object.__setattr__(
            self, "start_precision", check_enum(self.start_precision, Precision, "start_precision")
        )
        object.__setattr__(
            self, "end_precision", check_enum(self.end_precision, Precision, "end_precision")
        )
        check_text(self.note, "note", empty=True)

    def name(self, lang: str) -> str:
        """The holder's name for a reader of ``lang``, with fallback
        (:func:`in_language`). Raises nothing."""
        return in_language(self.person, lang)

    def covers(self, day: date) -> bool:
        """Whether the holding includes ``day`` (start inclusive, end exclusive).

        Raises:
            InvalidInput: ``day`` is not a date.
        """
        check_date(day, "day")
        return self.start <= day and (self.end is None or day < self.end)


def holders_on(office_id: str, day: date, holdings: Iterable[Holding]) -> tuple[Holding, ...]:
    """Everyone holding ``office_id`` on ``day``, earliest start first.

    Raises:
        InvalidInput: ``office_id`` or ``day`` is malformed.
    """
    check_id(office_id, "office_id")
    check_date(day, "day")
    found = [h for h in holdings if h.office_id == office_id and h.covers(day)]
    return tuple(sorted(found, key=lambda h: h.start))


def holder_on(office_id: str, day: date, holdings: Iterable[Holding]) -> Holding | None:
    """The one person holding ``office_id`` on ``day``, or None if it was vacant.

    Raises:
        InvalidInput: ``office_id`` or ``day`` is malformed.
        Conflict: several people held it that day (use :func:`holders_on`).
    """
    found = holders_on(office_id, day, holdings)
    if len(found) > 1:
        names = ", ".join(h.person_en for h in found)
        raise Conflict(f"{office_id} had {len(found)} holders on {day}: {names}", field="office_id")
    return found[0] if found else None


@dataclass(frozen=True, slots=True, kw_only=True)
class CounterpartDeclaration:
    """``declaring_party`` says ``own_office``'s counterpart is ``counterpart_office``.

    Both office ids are on opposite sides; :class:`Directory` checks that.

    Raises:
        InvalidInput: a bad id, or the two offices are the same.
    """

    declaring_party: str
    own_office: str
    counterpart_office: str
    note: str = ""

    def __post_init__(self) -> None:
        check_id(self.declaring_party, "declaring_party")
        check_id(self.own_office, "own_office")
        check_id(self.counterpart_office, "counterpart_office")
        if self.own_office == self.counterpart_office:
            raise InvalidInput("an office is not its own counterpart", field="counterpart_office")
        check_text(self.note, "note", empty=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class CounterpartView:
    """Each party's view of who ``office_id``'s counterpart is.

    ``views`` holds (party, counterpart office id) pairs, sorted by party.
    ``disputed`` is true when two parties name different counterparts.

    Raises:
        InvalidInput: a bad id, or a party appears twice in ``views``.
    """

    office_id: str
    views: tuple[tuple[str, str], ...]
    disputed: bool

    def __post_init__(self) -> None:
        check_id(self.office_id, "office_id")
        parties = [p for p, _ in self.views]
        if len(set(parties)) != len(parties):
            raise InvalidInput(f"party listed twice: {parties}", field="views")

    def view_of(self, party: str) -> str | None:
        """The counterpart ``party`` declares, or None if it declared none. Raises nothing."""
        return dict(self.views).get(party)


def counterpart_view(
    office_id: str, declarations: Iterable[CounterpartDeclaration]
) -> CounterpartView:
    """Put both parties' declared counterparts of ``office_id`` side by side.

    A declaration counts if it names ``office_id`` on either side: the US
    saying "SecDef's counterpart is the CMC Vice Chairman" and the PRC saying
    "the Minister of National Defense's counterpart is SecDef" are both views
    of SecDef's counterpart, and they disagree.

    Raises:
        InvalidInput: ``office_id`` is malformed, or one party declared two
            different counterparts for it.
    """
    check_id(office_id, "office_id")
    views: dict[str, str] = {}
    for d in declarations:
        if d.own_office == office_id:
            other = d.counterpart_office
        elif d.counterpart_office == office_id:
            other = d.own_office
        else:
            continue
        if views.get(d.declaring_party, other) != other:
            raise InvalidInput(
                f"{d.declaring_party} declares two counterparts for {office_id}: "
                f"{views[d.declaring_party]} and {other}",
                field="declarations",
            )
        views[d.declaring_party] = other
    return CounterpartView(
        office_id=office_id,
        views=tuple(sorted(views.items())),
        disputed=len(set(views.values())) > 1,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Directory:
    """Parties, their offices, the holders over time and the counterpart declarations.

    Construction checks the whole: ids are unique, every office's party
    exists, holdings name known offices and never put more people in an
    office than it has seats, and each declaration pairs an office of the
    declaring party with an office of another party.

    Raises:
        InvalidInput: any of the above fails; the field names the bad entry.
    """

    parties: tuple[Party, ...]
    offices: tuple[Office, ...]
    holdings: tuple[Holding, ...] = ()
    declarations: tuple[CounterpartDeclaration, ...] = ()

    def __post_init__(self) -> None:
        for name in ("parties", "offices", "holdings", "declarations"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        party_ids = [p.id for p in self.parties]
        if len(set(party_ids)) != len(party_ids):
            raise InvalidInput(f"repeated party ids: {party_ids}", field="parties")
        office_ids: set[str] = set()
        for i, o in enumerate(self.offices):
            if o.id in office_ids:
                raise InvalidInput(f"repeated office id {o.id!r}", field=f"offices[{i}].id")
            if o.party not in party_ids:
                raise InvalidInput(f"unknown party {o.party!r}", field=f"offices[{i}].party")
            office_ids.add(o.id)
        for i, h in enumerate(self.holdings):
            if h.office_id not in office_ids:
                raise InvalidInput(
                    f"unknown office {h.office_id!r}", field=f"holdings[{i}].office_id"
                )
            self._check_seats(i, h)
        for i, d in enumerate(self.declarations):
            self._check_declaration(i, d)

    def _check_seats(self, i: int, h: Holding) -> None:
        # Seat counts only change at holding starts, so checking each start suffices.
        at_start = holders_on(h.office_id, h.start, self.holdings)
        seats = self.office(h.office_id).seats
        if len(at_start) > seats:
            names = ", ".join(x.person_en for x in at_start)
            raise InvalidInput(
                f"{h.office_id} has {seats} seat(s) but {len(at_start)} holders on "
                f"{h.start}: {names}",
                field=f"holdings[{i}]",
            )

    def _check_declaration(self, i: int, d: CounterpartDeclaration) -> None:
        where = f"declarations[{i}]"
        if d.declaring_party not in {p.id for p in self.parties}:
            raise InvalidInput(f"unknown party {d.declaring_party!r}", field=where)
        for name in ("own_office", "counterpart_office"):
            if getattr(d, name) not in {o.id for o in self.offices}:
                raise InvalidInput(f"unknown office {getattr(d, name)!r}", field=f"{where}.{name}")
        if self.office(d.own_office).party != d.declaring_party:
            raise InvalidInput(
                f"{d.own_office} is not an office of {d.declaring_party}",
                field=f"{where}.own_office",
            )
        if self.office(d.counterpart_office).party == d.declaring_party:
            raise InvalidInput(
                f"{d.counterpart_office} is on the declaring party's own side",
                field=f"{where}.counterpart_office",
            )

    def party(self, party_id: str) -> Party:
        """The party with ``party_id``.

        Raises:
            NotFound: no such party.
        """
        for p in self.parties:
            if p.id == party_id:
                return p
        raise NotFound(f"no party {party_id!r}", field="party")

    def office(self, office_id: str) -> Office:
        """The office with ``office_id``.

        Raises:
            NotFound: no such office.
        """
        for o in self.offices:
            if o.id == office_id:
                return o
        raise NotFound(f"no office {office_id!r}", field="office")

    def holder_on(self, office_id: str, day: date) -> Holding | None:
        """Who held ``office_id`` on ``day`` (None if vacant).

        Raises:
            NotFound: no such office.
            Conflict: several holders that day.
        """
        self.office(office_id)
        return holder_on(office_id, day, self.holdings)

    def counterpart_view(self, office_id: str) -> CounterpartView:
        """Both parties' declared counterparts of ``office_id``.

        Raises:
            NotFound: no such office.
            InvalidInput: a party declared two counterparts for it.
        """
        self.office(office_id)
        return counterpart_view(office_id, self.declarations)
