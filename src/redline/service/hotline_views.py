"""The hotline as data for people: board, timeline, directory, calendar.

Pure functions over a folded :class:`~redline.core.hotline.record.Record`;
the web and CLI layers only lay out what these return. Every item says where
it comes from: ``"source": "public-record"`` for the loaded public history,
``"source": "signed"`` with the ``statement_id`` for what a node signed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

from redline.core.hotline.board import CALL_TALLY, REQUEST_TALLY, build_board
from redline.core.hotline.calls import DEFAULT_RING_TIMEOUT, call_view
from redline.core.hotline.directory import Directory
from redline.core.hotline.history import PUBLIC_RECORD
from redline.core.hotline.lifecycle import CallState, RequestState
from redline.core.hotline.mechanism import pair_hotline_id
from redline.core.hotline.record import Record
from redline.core.hotline.requests import EngagementRequest, Window
from redline.core.statement import format_time
from redline.store.hotline import Tally

__all__ = [
    "add_tallies",
    "board_for_peer",
    "board_view",
    "counterpart_lines",
    "jsonable",
]


def jsonable(value: Any) -> Any:
    """Turn dates, durations, enums and tuples into JSON values (no floats). Raises nothing."""
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return int(value.total_seconds())
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def _src(record: Record, key: str) -> dict[str, Any]:
    sid = record.source(key)
    if sid == PUBLIC_RECORD:
        return {"source": PUBLIC_RECORD}
    return {"source": "signed", "statement_id": sid}


def _zones(directory: Directory) -> dict[str, str]:
    return {p.id: p.time_zone for p in directory.parties}


def _in_zone(moment: datetime, zone: str) -> datetime | None:
    """``moment`` read in ``zone``, or None where that date is past year 9999 (or
    before year 1), which Python's dates cannot hold. A peer's statement stored
    before body times were bounded (``kinds.check_horizon``) may name such a
    time; a view shows it, it does not fail on it."""
    try:
        return moment.astimezone(ZoneInfo(zone))
    except OverflowError:
        return None


def _out_of_range(moment: datetime, zone: str) -> str:
    """What a view shows for a time it cannot read in ``zone``: the UTC time, and why."""
    beyond = "beyond 9999" if moment.year > 1 else "before year 1"
    return f"{format_time(moment)} ({beyond} in {zone})"


def _local(moment: datetime, zones: dict[str, str]) -> dict[str, str]:
    out = {}
    for party, zone in zones.items():
        local = _in_zone(moment, zone)
        out[party] = (
            _out_of_range(moment, zone) if local is None else local.isoformat(timespec="minutes")
        )
    return out


def _window(w: Window | None, zones: dict[str, str]) -> dict[str, Any] | None:
    if w is None:
        return None
    return {
        "start": format_time(w.start),
        "end": format_time(w.end),
        "local": {
            p: {"start": s, "end": _local(w.end, zones)[p]}
            for p, s in _local(w.start, zones).items()
        },
    }


def _pair(zones: dict[str, str], req: EngagementRequest) -> dict[str, str]:
    """The zones of the two parties to ``req``: a window is read in theirs."""
    return {p: z for p, z in zones.items() if p in (req.from_party, req.to_party)}


def _all_requests(record: Record) -> list[EngagementRequest]:
    history = record.history
    return [*(history.requests if history else ()), *record.requests.values()]


def board_view(record: Record, *, party: str) -> dict[str, Any]:
    """The board as of ``record.as_of``: levels, mechanisms, requests, calls, tallies,
    counterparts (with disputes), readouts and refused statements.

    Raises:
        InvalidInput: the record names an office the directory does not know.
        Conflict: a timeline makes an illegal move (the fold prevents this).
    """
    now = record.as_of
    history = record.history
    events_at = [r.at for r in record.responses] + [e.at for e in record.call_events]
    board_now = max([now, *events_at])
    board = build_board(
        directory=record.directory,
        mechanisms=record.mechanisms,
        mechanism_events=record.mechanism_events,
        requests=_all_requests(record),
        responses=[*(history.responses if history else ()), *record.responses],
        calls=[*(history.calls if history else ()), *record.calls.values()],
        call_events=[*(history.call_events if history else ()), *record.call_events],
        contacts=[*(history.contacts if history else ()), *record.contacts],
        now=board_now,
        ring_timeouts=record.ring_timeouts,
    )
    zones = _zones(record.directory)
    own_hotlines = {pair_hotline_id(party, p.id) for p in record.directory.parties}
    live_contacts = {c.id for c in record.contacts} | set(record.calls)
    event_index = {id(e): i for i, e in enumerate(record.mechanism_events)}
    mechs = {m.id: m for m in record.mechanisms}
    requests = {r.id: r for r in _all_requests(record)}

    def mechanism_line(line: Any) -> dict[str, Any]:
        m = mechs[line.mechanism_id]
        last = (
            line.suspended_by[0]
            if line.suspended_by
            else (line.history[-1] if line.history else None)
        )
        return {
            "id": m.id,
            "name_en": m.name_en,
            "name_zh": m.name_zh,
            "kind": m.kind.value,
            "offices": list(m.offices),
            "cadence": m.cadence.value if m.cadence else None,
            "response_window": jsonable(m.response_window),
            "status": line.status.value if line.status else "unrecorded",
            "since": jsonable(line.since),
            "by_party": line.by_party,
            "reason": line.reason,
            # Suspended while any participant has it suspended, until that one resumes.
            "suspended_by": [
                {"party": e.by_party, "since": format_time(e.at), "reason": e.reason}
                for e in line.suspended_by
            ],
            **(_src(record, f"mechanism_event:{event_index[id(last)]}") if last else {}),
            "history": [
                {
                    "status": e.status.value,
                    "at": format_time(e.at),
                    "by_party": e.by_party,
                    "reason": e.reason,
                    **_src(record, f"mechanism_event:{event_index[id(e)]}"),
                }
                for e in line.history
            ],
        }

    def request_line(o: Any) -> dict[str, Any]:
        r = requests[o.request_id]
        return {
            "id": r.id,
            "from_office": r.from_office,
            "to_office": r.to_office,
            "from_party": r.from_party,
            "to_party": r.to_party,
            "mechanism": r.mechanism,
            "mode": r.mode.value,
            "windows": [_window(w, _pair(zones, r)) for w in r.windows],
            "proposed_at": format_time(r.proposed_at),
            "deadline": format_time(r.deadline),
            "agenda": list(r.agenda),
            "notes": list(r.notes),
            "in_reply_to": r.in_reply_to,
            "state": o.state.value,
            "decided_at": jsonable(o.at),
            "by_party": o.by_party,
            "reason": o.reason,
            "window": _window(o.window, _pair(zones, r)),
            "counter_request": o.counter.new_request_id if o.counter else None,
            "lapse_recorded_by": record.lapse_records.get(r.id),
            **_src(record, f"request:{r.id}"),
        }

    messages: dict[str, list[dict[str, Any]]] = {}
    for msg in record.messages:
        messages.setdefault(msg.call_id, []).append(
            {
                "from": msg.sender,
                "at": format_time(msg.at),
                "text": msg.text,
                "lang": msg.lang,
                "statement_id": msg.statement_id,
            }
        )
    all_calls = {c.id: c for c in (history.calls if history else ())} | record.calls
    all_events = [*(history.call_events if history else ()), *record.call_events]
    calls = []
    for line in board.calls:
        call = all_calls[line.call_id]
        timeout = record.ring_timeouts.get(call.id, DEFAULT_RING_TIMEOUT)
        view = call_view(
            call,
            [e for e in all_events if e.call_id == call.id],
            board_now,
            ring_timeout=timeout,
        )
        ringing = line.state is CallState.RINGING
        calls.append(
            {
                "id": line.call_id,
                "from_office": line.from_office,
                "to_office": line.to_office,
                "from_party": call.from_party,
                "to_party": call.to_party,
                "mechanism": call.mechanism,
                "mode": call.mode.value,
                "purpose": call.purpose,
                "placed_at": format_time(line.placed_at),
                "state": line.state.value,
                "reason": line.reason,
                "missed_at": format_time(call.placed_at + timeout) if ringing else None,
                "seconds_left": max(0, int((call.placed_at + timeout - now).total_seconds()))
                if ringing
                else None,
                "answered_at": jsonable(view.answered_at),
                "duration_seconds": jsonable(view.duration),
                "messages": messages.get(line.call_id, []),
                "missed_recorded_by": record.missed_records.get(line.call_id),
                **_src(record, f"call:{line.call_id}"),
            }
        )
    return {
        "party": party,
        "now": format_time(now),
        "history_loaded": history is not None,
        "levels": [
            {
                "level": line.level.value,
                "last_contact": jsonable(line.last_contact),
                "days_since": line.days_since,
                "contact_id": line.contact_id,
                "source": None
                if line.contact_id is None
                else ("signed" if line.contact_id in live_contacts else PUBLIC_RECORD),
            }
            for line in board.levels
        ],
        "mechanisms": [
            mechanism_line(line)
            for line in board.mechanisms
            # Another pair's own hotline is not this party's business.
            if not line.mechanism_id.startswith("hotline-") or line.mechanism_id in own_hotlines
        ],
        "open_requests": [
            {
                "id": o.request_id,
                "from_office": o.from_office,
                "to_office": o.to_office,
                "from_party": requests[o.request_id].from_party,
                "to_party": requests[o.request_id].to_party,
                "mechanism": requests[o.request_id].mechanism,
                "mode": requests[o.request_id].mode.value,
                "agenda": list(requests[o.request_id].agenda),
                "deadline": format_time(o.deadline),
                "seconds_left": max(0, int((o.deadline - now).total_seconds())),
                "windows": [
                    _window(w, _pair(zones, requests[o.request_id]))
                    for w in requests[o.request_id].windows
                ],
            }
            for o in board.open_requests
        ],
        "requests": [request_line(o) for o in board.requests],
        "calls": calls,
        "tallies": [
            {
                "party": t.party,
                "answered": t.answered,
                "declined": t.declined,
                "lapsed": t.lapsed,
                "countered": t.countered,
            }
            for t in board.tallies
        ],
        "counterparts": counterpart_lines(record),
        "engagements": _engagements(record),
        "refused": [
            {
                "statement_id": r.statement_id,
                "kind": r.kind,
                "from": r.sender,
                "at": format_time(r.at),
                "reason": r.reason,
            }
            for r in record.refused
        ],
    }


def board_for_peer(view: dict[str, Any], peer: str, peer_offices: set[str]) -> dict[str, Any]:
    """``view`` (a board) narrowed to what concerns ``peer``: its requests, calls,
    messages, tally, mechanisms, counterparts, readouts and refused statements.
    The last contact per level stays across all peers. Raises nothing."""

    def between(item: dict[str, Any]) -> bool:
        return peer in (item.get("from_party"), item.get("to_party"))

    out = dict(view)
    out["peer"] = peer
    out["open_requests"] = [r for r in view["open_requests"] if between(r)]
    out["requests"] = [r for r in view["requests"] if between(r)]
    out["calls"] = [c for c in view["calls"] if between(c)]
    out["unacknowledged_messages"] = [
        m for m in view["unacknowledged_messages"] if m["peer"] == peer
    ]
    out["tallies"] = [t for t in view["tallies"] if t["party"] == peer]
    out["mechanisms"] = [m for m in view["mechanisms"] if peer_offices & set(m["offices"])]
    out["counterparts"] = [
        c
        for c in view["counterparts"]
        if c["party"] == peer or any(v["party"] == peer for v in c["views"])
    ]
    out["engagements"] = [
        e
        for e in view["engagements"]
        if any(r["party"] == peer for r in e["readouts"])
        or any(j["proposer"] == peer for j in e["joint"])
    ]
    out["refused"] = [r for r in view["refused"] if peer in (r["from"], r.get("to"))]
    return out


def add_tallies(lines: list[dict[str, Any]], more: Iterable[Tally]) -> list[dict[str, Any]]:
    """The board's tally ``lines`` with the counts ``more`` added (closed items the
    board did not fold). Raises nothing."""
    by_party = {line["party"]: dict(line) for line in lines}
    for t in more:
        if t.kind == "request":
            column = REQUEST_TALLY.get(RequestState(t.state))
        else:
            column = CALL_TALLY.get(CallState(t.state))
        if column is None:
            continue
        line = by_party.setdefault(
            t.to_party,
            {"party": t.to_party, "answered": 0, "declined": 0, "lapsed": 0, "countered": 0},
        )
        line[column] += t.count
    return list(by_party.values())


def counterpart_lines(record: Record) -> list[dict[str, Any]]:
    """Each office named in a counterpart declaration, with every party's view and
    whether they disagree. Raises nothing."""
    directory = record.directory
    offices: list[str] = []
    for d in directory.declarations:
        for office_id in (d.own_office, d.counterpart_office):
            if office_id not in offices:
                offices.append(office_id)
    lines = []
    for office_id in offices:
        views = []
        for d in directory.declarations:
            if office_id not in (d.own_office, d.counterpart_office):
                continue
            other = d.counterpart_office if d.own_office == office_id else d.own_office
            views.append(
                {
                    "party": d.declaring_party,
                    "counterpart_office": other,
                    "note": d.note,
                    **_src(record, f"declaration:{d.declaring_party}:{d.own_office}"),
                }
            )
        office = directory.office(office_id)
        lines.append(
            {
                "office": office_id,
                "party": office.party,
                "titles": dict(office.titles),
                "title_en": office.title_en,
                "title_zh": office.title_zh,
                "views": views,
                "disputed": len({v["counterpart_office"] for v in views}) > 1,
            }
        )
    return lines


def _engagements(record: Record) -> list[dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for r in record.readouts:
        e = found.setdefault(
            r.engagement, {"engagement": r.engagement, "readouts": [], "joint": []}
        )
        e["readouts"].append(
            {
                "id": r.id,
                "party": r.party,
                "at": format_time(r.at),
                "text": r.text,
                "lang": r.lang,
                "statement_id": r.statement_id,
            }
        )
    for s in record.summaries.values():
        e = found.setdefault(
            s.engagement, {"engagement": s.engagement, "readouts": [], "joint": []}
        )
        e["joint"].append(
            {
                "id": s.id,
                "proposer": s.proposer,
                "text": s.text,
                "lang": s.lang,
                "signed_by": list(s.signed_by),
                "counts": s.counts,
                "statement_id": s.statement_id,
            }
        )
    return list(found.values())
