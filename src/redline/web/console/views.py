"""What the console's later pages show, read from the hotline's and the node's
views: calls, the timeline with its filters and search, the directory with
titles in the operator's language, the calendar by day, and times in two
zones (the operator's and the counterpart's).

Read-only and free of the web: each function takes the service views' dicts
and returns dicts for a template. Raises nothing unless said.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from icalendar import Calendar

from redline.core.errors import InvalidInput
from redline.core.statement import parse_time
from redline.service.operators import Operator, Role
from redline.store import record as record_store
from redline.store.logs import log_size

__all__ = [
    "TIMELINE_PAGE",
    "Zones",
    "calendar_days",
    "directory_lines",
    "may_act_for",
    "ringing_for",
    "search_timeline",
    "title_in",
]

#: Timeline entries on one page.
TIMELINE_PAGE = 50


def may_act_for(operator: Operator, office: str) -> bool:
    """Whether ``operator`` may act for our ``office`` on a call: a watch officer
    or an admin for any, a principal for their named offices only."""
    return operator.role in (Role.WATCH, Role.ADMIN) or operator.may_answer_for(office)


def ringing_for(board: Mapping[str, Any], party: str, operator: Operator) -> list[dict[str, Any]]:
    """The calls ringing for us that ``operator`` may answer, soonest missed first."""
    calls = [
        c
        for c in board.get("calls", [])
        if c["state"] == "ringing"
        and c["to_party"] == party
        and may_act_for(operator, c["to_office"])
    ]
    return sorted(calls, key=lambda c: c["missed_at"] or "")


def title_in(titles: Mapping[str, str], lang: str, fallback: str = "") -> str:
    """The title in ``lang``, else in the other language, else ``fallback``."""
    for key in (lang, "zh" if lang == "en" else "en", *titles):
        if titles.get(key):
            return titles[key]
    return fallback


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


@dataclass(frozen=True)
class Zones:
    """Times as the operator reads them (their zone) and as the counterpart does
    (the peer's declared zone)."""

    mine: str
    parties: Mapping[str, str] = field(default_factory=dict)

    def local(self, moment: str | datetime | None, zone: str) -> str:
        """``moment`` in ``zone`` as ``YYYY-MM-DD HH:MM TZ``; "" for nothing."""
        if not moment:
            return ""
        try:
            at = moment if isinstance(moment, datetime) else _parse(moment)
        except ValueError:
            return str(moment)
        try:
            here = at.astimezone(_zone(zone))
        except OverflowError:
            return str(moment)
        return here.strftime("%Y-%m-%d %H:%M ") + (here.tzname() or zone)

    def two(self, moment: str | datetime | None, peer: str | None = None) -> dict[str, str]:
        """``moment`` in the operator's zone and, when ``peer`` has a zone other
        than the operator's, in the peer's."""
        out = {"mine": self.local(moment, self.mine), "peer": "", "peer_party": peer or ""}
        zone = self.parties.get(peer or "")
        if zone and zone != self.mine:
            out["peer"] = self.local(moment, zone)
        return out


def _parse(text: str) -> datetime:
    if len(text) == 10:  # a date of the public record
        day = date.fromisoformat(text)
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    try:
        return parse_time(text)
    except Exception:
        moment = datetime.fromisoformat(text)
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def party_zones(directory: Mapping[str, Any]) -> dict[str, str]:
    """Each party's declared zone, from the directory view."""
    return {p["id"]: p["time_zone"] for p in directory.get("parties", [])}


# -- the timeline -----------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineQuery:
    """The timeline's filters; empty strings filter nothing."""

    peer: str = ""
    mechanism: str = ""
    level: str = ""
    since: str = ""
    until: str = ""
    q: str = ""
    page: int = 1

    @classmethod
    def of(cls, params: Mapping[str, str]) -> TimelineQuery:
        """The query in ``params``.

        Raises:
            InvalidInput: a bad time (``since``, ``until``), page or an overlong field.
        """
        values = {}
        for name in ("peer", "mechanism", "level", "since", "until", "q"):
            value = params.get(name, "").strip()
            if len(value) > 200:
                raise InvalidInput("at most 200 characters", field=name)
            values[name] = value
        for name in ("since", "until"):
            if values[name]:
                try:
                    date.fromisoformat(values[name][:10])
                except ValueError as exc:
                    raise InvalidInput("must be a date (YYYY-MM-DD)", field=name) from exc
                if len(values[name]) != 10:
                    raise InvalidInput("must be a date (YYYY-MM-DD)", field=name)
        raw = params.get("page", "1") or "1"
        if not raw.isdigit() or not 1 <= int(raw) <= 100_000:
            raise InvalidInput("must be a page number from 1", field="page")
        return cls(page=int(raw), **values)


def search_timeline(
    entries: Iterable[Mapping[str, Any]],
    texts: Mapping[str, str],
    query: TimelineQuery,
    *,
    mechanisms_of: Mapping[str, str],
    levels_of: Mapping[str, frozenset[str]],
) -> tuple[list[dict[str, Any]], int]:
    """The timeline ``entries`` that match ``query``, newest first, one page of
    them, and how many matched. ``texts`` gives each signed statement's
    searchable text (subject, text, agenda) beside its title; ``mechanisms_of``
    and ``levels_of`` the mechanism and office level a statement concerns."""
    needle = query.q.casefold()
    found = []
    for e in entries:
        sid = e.get("statement_id") or ""
        if query.peer and query.peer not in (e.get("from"), e.get("to")):
            continue
        if (
            query.mechanism
            and mechanisms_of.get(sid) != query.mechanism
            and (e.get("source") != "public-record" or query.mechanism not in e.get("refs", []))
        ):
            continue
        if query.level and query.level not in levels_of.get(sid, frozenset()):
            continue
        day = str(e["at"])[:10]
        if query.since and day < query.since:
            continue
        if query.until and day > query.until:
            continue
        if needle:
            haystack = " ".join(
                [str(e.get("title", "")), str(e.get("note", "") or ""), texts.get(sid, "")]
            ).casefold()
            if needle not in haystack:
                continue
        found.append(dict(e))
    found.reverse()
    start = (query.page - 1) * TIMELINE_PAGE
    return found[start : start + TIMELINE_PAGE], len(found)


@dataclass
class StatementFacts:
    """What the timeline filters and searches on, per signed statement id."""

    texts: dict[str, str] = field(default_factory=dict)
    mechanisms: dict[str, str] = field(default_factory=dict)
    levels: dict[str, frozenset[str]] = field(default_factory=dict)


def statement_facts(statements: Iterable[Any], office_levels: Mapping[str, str]) -> StatementFacts:
    """For each hotline statement (a :class:`~redline.core.statement.Statement`
    with its typed ``model``): its searchable text (agenda, text, reason,
    purpose, notes), the mechanism it concerns and the levels of its offices,
    a call's or request's acts inheriting them from the call or request."""
    facts = StatementFacts()
    items: dict[str, tuple[str, frozenset[str]]] = {}
    for st in statements:
        b = st.model
        parts: list[str] = []
        for name in ("agenda", "notes"):
            parts.extend(str(x) for x in getattr(b, name, None) or ())
        for name in ("text", "reason", "purpose"):
            value = getattr(b, name, None)
            if isinstance(value, str):
                parts.append(value)
        facts.texts[st.id] = " ".join(parts)
        offices = [str(getattr(b, n, "")) for n in ("from_office", "to_office", "own_office")]
        levels = frozenset(office_levels[o] for o in offices if o in office_levels)
        mechanism = getattr(b, "mechanism", None)
        own_id = getattr(b, "id", None)
        if isinstance(mechanism, str):
            if isinstance(own_id, str):
                items[own_id] = (mechanism, levels)
        else:
            ref = getattr(b, "call", None) or getattr(b, "request", None)
            mechanism, levels = (
                items.get(ref, ("", levels)) if isinstance(ref, str) else ("", levels)
            )
        if mechanism:
            facts.mechanisms[st.id] = mechanism
        facts.levels[st.id] = levels
    return facts


# -- directory and calendar --------------------------------------------------------------


def directory_lines(directory: Mapping[str, Any], lang: str) -> list[dict[str, Any]]:
    """Each party with its offices, titles in ``lang`` (falling back to the other
    language), holders now and over time."""
    parties = []
    for p in directory.get("parties", []):
        name = p.get("name_zh") if lang == "zh" and p.get("name_zh") else p.get("name_en")
        offices = []
        for o in p.get("offices", []):
            titles = o.get("titles") or {"en": o.get("title_en", ""), "zh": o.get("title_zh", "")}
            holders = []
            for h in o.get("holders", []):
                person = h.get("person") or {
                    "en": h.get("person_en", ""),
                    "zh": h.get("person_zh", ""),
                }
                holders.append({**h, "name": title_in(person, lang, h.get("person_en", ""))})
            offices.append({**o, "title": title_in(titles, lang, o["id"]), "holders": holders})
        parties.append({**p, "name": name or p["id"], "offices": offices})
    return parties


def office_titles(directory: Mapping[str, Any], lang: str) -> dict[str, str]:
    """Each office's title in ``lang`` (with the fallback), by office id."""
    return {o["id"]: o["title"] for p in directory_lines(directory, lang) for o in p["offices"]}


def calendar_days(ics: bytes, zones: Zones, party: str) -> list[dict[str, Any]]:
    """The engagements of the node's iCalendar file (``HotlineService.calendar``,
    the same file the download serves) by day in the operator's zone, soonest
    first, each also in the other parties' zones."""
    items: list[dict[str, Any]] = []
    others = [p for p in zones.parties if p != party]
    for ev in Calendar.from_ical(ics).walk("VEVENT"):
        start = ev.decoded("dtstart")
        end = ev.decoded("dtend") if "dtend" in ev else None
        item: dict[str, Any] = {
            "uid": str(ev.get("uid", "")),
            "summary": str(ev.get("summary", "")),
            "description": str(ev.get("description", "")),
            "recurs": "rrule" in ev,
        }
        if isinstance(start, datetime):
            item |= {
                "at": start,
                "day": zones.local(start, zones.mine)[:10],
                "when": zones.local(start, zones.mine),
                "others": [t for t in (zones.two(start, p) for p in others) if t["peer"]],
                "until": zones.local(end, zones.mine) if isinstance(end, datetime) else "",
            }
        else:  # a day, not a moment (a cadence from the day a meeting was held)
            item |= {
                "at": datetime(start.year, start.month, start.day, tzinfo=UTC),
                "day": start.isoformat(),
                "when": "",
                "others": [],
                "until": "",
            }
        items.append(item)
    days: dict[str, list[dict[str, Any]]] = {}
    for item in sorted(items, key=lambda i: (i["day"], i["at"])):
        days.setdefault(item["day"], []).append(item)
    return [{"day": day, "engagements": its} for day, its in days.items()]


# -- the record ----------------------------------------------------------------------------


def log_lines(node: Any, peers: Iterable[str]) -> list[dict[str, Any]]:
    """Our log and each peer's as witnessed here: the latest checkpoint (size,
    when), who cosigned it and when, and the latest one each witness cosigned."""
    lines = []
    with node.store.read() as conn:
        size = log_size(conn)
        for party in [node.party, *peers]:
            latest = record_store.latest_checkpoint(conn, party)
            cosigned = record_store.cosigners(conn, latest.id) if latest is not None else {}
            witnesses = list(peers) if party == node.party else [node.party]
            by_witness = {}
            for w in witnesses:
                cp = record_store.latest_checkpoint(conn, party, cosigned_by=w)
                by_witness[w] = cp.size if cp is not None else None
            lines.append(
                {
                    "party": party,
                    "own": party == node.party,
                    "log_size": size if party == node.party else None,
                    "checkpoint": latest,
                    "cosigners": {
                        w: datetime.fromtimestamp(t, UTC) for w, t in sorted(cosigned.items())
                    },
                    "cosigned_size": by_witness,
                }
            )
    return lines


# -- a new request -----------------------------------------------------------------------

REQUEST_FIELDS = (
    "from_office",
    "to_office",
    "mechanism",
    "mode",
    "start_1",
    "end_1",
    "start_2",
    "end_2",
    "deadline",
    "agenda",
)


def counterpart_mismatch(
    directory: Mapping[str, Any], from_office: str, to_office: str, party: str
) -> dict[str, Any] | None:
    """How the office addressed differs from the counterpart the peer declared
    for ``from_office`` (ours), or None when it does not (or nothing is declared).
    """
    if not from_office or not to_office:
        return None
    peer = next(
        (
            p["id"]
            for p in directory.get("parties", [])
            for o in p["offices"]
            if o["id"] == to_office
        ),
        None,
    )
    if peer is None or peer == party:
        return None
    declared: list[str] = []
    for line in directory.get("counterparts", []):
        if line["office"] != from_office:
            continue
        declared += [v["counterpart_office"] for v in line["views"] if v["party"] == peer]
    if not declared or to_office in declared:
        return None
    return {"peer": peer, "declared": sorted(set(declared)), "to_office": to_office}


def local_input(value: str, zone: str, field_name: str) -> datetime:
    """A ``datetime-local`` form value (``YYYY-MM-DDTHH:MM``) read in ``zone``, as UTC.

    Raises:
        InvalidInput: not such a value.
    """
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput("must be a date and time (YYYY-MM-DDTHH:MM)", field=field_name) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_zone(zone))
    return moment.astimezone(UTC)
