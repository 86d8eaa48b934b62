"""The record as people read it: the timeline, the directory and the calendar.

Pure functions over a folded :class:`~redline.core.hotline.record.Record`,
like the board (:mod:`redline.service.hotline_views`); every item says
where it comes from.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from icalendar import Calendar, Event

from redline.core.errors import RedlineError
from redline.core.hotline.bodies import (
    CallBody,
    CallEventBody,
    CallMessageBody,
    CallMissedBody,
    CounterpartBody,
    DirectoryBody,
    JointSummarySignBody,
    MechanismStatusBody,
    ReadoutBody,
    RequestBody,
    RequestLapsedBody,
    ResponseBody,
)
from redline.core.hotline.history import PUBLIC_RECORD
from redline.core.hotline.lifecycle import RequestState
from redline.core.hotline.mechanism import Cadence
from redline.core.hotline.record import Record
from redline.core.hotline.requests import EngagementRequest, Window, request_outcome
from redline.core.statement import Statement, format_time
from redline.service.hotline_views import (
    _in_zone,
    _out_of_range,
    _src,
    _zones,
    counterpart_lines,
    jsonable,
)

__all__ = ["calendar_ics", "directory_view", "timeline_for_peer", "timeline_view"]


def timeline_for_peer(
    entries: list[dict[str, Any]], peer: str, *, history_parties: set[str]
) -> list[dict[str, Any]]:
    """Timeline ``entries`` between this node and ``peer``; the public record only when
    ``peer`` is one of its parties. Raises nothing."""
    return [
        e
        for e in entries
        if (e["source"] == PUBLIC_RECORD and peer in history_parties)
        or peer in (e.get("from"), e.get("to"))
    ]


def directory_view(record: Record) -> dict[str, Any]:
    """Parties, offices with today's holders, holders over time, counterpart views.

    Raises nothing.
    """
    d = record.directory
    today = record.as_of.date()
    parties = []
    for p in d.parties:
        offices = []
        for o in d.offices:
            if o.party != p.id:
                continue
            holders = [h for h in d.holdings if h.office_id == o.id]
            offices.append(
                {
                    "id": o.id,
                    "titles": dict(o.titles),
                    "title_en": o.title_en,
                    "title_zh": o.title_zh,
                    "level": o.level.value,
                    "seats": o.seats,
                    "holders_now": [h.person_en for h in holders if h.covers(today)],
                    "holders_now_person": [dict(h.person) for h in holders if h.covers(today)],
                    "holders": [
                        {
                            "person": dict(h.person),
                            "person_en": h.person_en,
                            "person_zh": h.person_zh,
                            "start": h.start.isoformat(),
                            "end": h.end.isoformat() if h.end else None,
                            "note": h.note,
                        }
                        for h in sorted(holders, key=lambda h: h.start)
                    ],
                }
            )
        parties.append(
            {
                "id": p.id,
                "name_en": p.name_en,
                "name_zh": p.name_zh,
                "time_zone": p.time_zone,
                "offices": offices,
                **_src(record, f"party:{p.id}"),
            }
        )
    return {
        "parties": parties,
        "mechanisms": [
            {
                "id": m.id,
                "name_en": m.name_en,
                "name_zh": m.name_zh,
                "kind": m.kind.value,
                "offices": list(m.offices),
                "response_window": jsonable(m.response_window),
                "cadence": m.cadence.value if m.cadence else None,
            }
            for m in record.mechanisms
        ],
        "counterparts": counterpart_lines(record),
    }


def _statement_title(st: Statement, record: Record) -> str:
    b = st.model
    who = st.sender
    if isinstance(b, RequestBody):
        return (
            f"{b.from_office} asks {b.to_office} for a {b.mode} over "
            f"{b.mechanism} (deadline {b.deadline})"
        )
    if isinstance(b, ResponseBody):
        extra = b.reason or (b.window.start if b.window is not None else "")
        return f"{who} {b.action}s request {b.request}" + (f": {extra}" if extra else "")
    if isinstance(b, RequestLapsedBody):
        return f"request {b.request} lapsed: no response by {b.deadline}"
    if isinstance(b, CallBody):
        return f"{b.from_office} calls {b.to_office} over {b.mechanism}"
    if isinstance(b, CallEventBody):
        return f"{who} {b.action}s call {b.call}" + (f": {b.reason}" if b.reason else "")
    if isinstance(b, CallMissedBody):
        return f"call {b.call} missed: no answer"
    if isinstance(b, CallMessageBody):
        return f"{who} on call {b.call}: {b.text}"
    if isinstance(b, MechanismStatusBody):
        return f"{who}: {b.mechanism} {b.status}: {b.reason}"
    if isinstance(b, DirectoryBody):
        return f"{who} publishes its directory ({len(b.offices)} offices)"
    if isinstance(b, CounterpartBody):
        return f"{who} declares {b.counterpart_office} the counterpart of {b.own_office}"
    if isinstance(b, ReadoutBody) and st.kind == "readout":
        return f"{who} readout of {b.engagement}: {b.text}"
    if isinstance(b, ReadoutBody):
        return f"{who} proposes a joint summary of {b.engagement}: {b.text}"
    if isinstance(b, JointSummarySignBody):
        return f"{who} signs joint summary {b.summary}"
    return f"{who}: {st.kind}"


def timeline_view(record: Record) -> list[dict[str, Any]]:
    """Public-record events and signed statements, oldest first. Raises nothing."""
    refused = {r.statement_id: r.reason for r in record.refused}
    entries: list[dict[str, Any]] = []
    if record.history is not None:
        for ev in record.history.events:
            entries.append(
                {
                    "at": ev.on.isoformat(),
                    "precision": ev.precision.value,
                    "kind": ev.kind.value,
                    "title": ev.title,
                    "refs": list(ev.refs),
                    "citations": [{"seed": c.seed, "quote": c.quote} for c in ev.citations],
                    "note": ev.note,
                    "source": PUBLIC_RECORD,
                }
            )
    for st in record.statements:
        entries.append(
            {
                "at": st.time,
                "kind": st.kind,
                "title": _statement_title(st, record),
                "from": st.sender,
                "to": st.to,
                "source": "signed",
                "statement_id": st.id,
                "refused": refused.get(st.id),
            }
        )
    return sorted(entries, key=lambda e: str(e["at"]))


_CADENCE_RULE = {
    Cadence.ANNUAL: ("YEARLY", 1),
    Cadence.SEMIANNUAL: ("MONTHLY", 6),
    Cadence.QUARTERLY: ("MONTHLY", 3),
    Cadence.MONTHLY: ("MONTHLY", 1),
}


def calendar_ics(record: Record, *, party: str) -> bytes:
    """Scheduled engagements as iCalendar: accepted requests at their chosen window,
    and each mechanism with a cadence, recurring from its last meeting.

    Times are UTC; each description gives them in both parties' zones.

    Raises nothing.
    """
    zones = _zones(record.directory)
    cal = Calendar()
    cal.add("prodid", "-//Redline//hotline calendar//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", f"Redline engagements ({party})")
    stamp = record.as_of.astimezone(UTC).replace(microsecond=0)
    for req in record.requests.values():
        try:
            outcome = request_outcome(
                req, record.request_events(req.id), max(record.as_of, req.proposed_at)
            )
        except RedlineError:  # a broken timeline is not a calendar entry
            continue
        if outcome.state is not RequestState.ACCEPTED or outcome.window is None:
            continue
        w = outcome.window
        ev = Event()
        ev.add("uid", f"{req.id}@redline")
        ev.add("dtstamp", stamp)
        ev.add("dtstart", w.start.replace(microsecond=0))
        ev.add("dtend", w.end.replace(microsecond=0))
        ev.add(
            "summary", f"{req.mode.value}: {req.from_office} / {req.to_office} ({req.mechanism})"
        )
        ev.add("description", _both_zones(w, zones) + _agenda(req))
        cal.add_component(ev)
    history = record.history
    contacts = [*(history.contacts if history else ()), *record.contacts]
    for m in record.mechanisms:
        if m.cadence is None:
            continue
        held = sorted(c.on for c in contacts if c.mechanism == m.id)
        if not held:
            continue
        freq, interval = _CADENCE_RULE[m.cadence]
        ev = Event()
        ev.add("uid", f"{m.id}-cadence@redline")
        ev.add("dtstamp", stamp)
        ev.add("dtstart", held[-1])
        ev.add("rrule", {"freq": freq, "interval": interval})
        ev.add("summary", f"{m.name_en} ({m.cadence.value}); {m.name_zh}")
        ev.add(
            "description",
            f"Last held {held[-1].isoformat()}; due again on its {m.cadence.value} cadence.",
        )
        cal.add_component(ev)
    return bytes(cal.to_ical())


def _both_zones(w: Window, zones: dict[str, str]) -> str:
    lines = [f"UTC: {format_time(w.start)} to {format_time(w.end)}"]
    for p, zone in zones.items():
        s, e = (
            _out_of_range(t, zone) if local is None else local.strftime("%Y-%m-%d %H:%M")
            for t in (w.start, w.end)
            for local in [_in_zone(t, zone)]
        )
        lines.append(f"{p} ({zone}): {s} to {e}")
    return "\n".join(lines)


def _agenda(req: EngagementRequest) -> str:
    return "".join(f"\nAgenda: {a}" for a in req.agenda)
