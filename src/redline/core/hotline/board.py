"""The watch-floor board: last contact per level, channel status, what is pending, who answers.

"The first talks since 2021", "more than two years": the board computes such
phrases' numbers from the record and ``now``, and nothing else. Every row is
a plain frozen dataclass so the web and CLI layers only have to lay it out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Final

from redline.core.errors import InvalidInput
from redline.core.hotline._checks import (
    check_date,
    check_enum,
    check_id,
    check_ids,
    check_text,
    check_utc,
)
from redline.core.hotline.calls import DEFAULT_RING_TIMEOUT, Call, CallEvent, call_view
from redline.core.hotline.directory import Directory, Level
from redline.core.hotline.lifecycle import CallState, RequestState
from redline.core.hotline.mechanism import Mechanism, MechanismEvent, mechanism_statuses
from redline.core.hotline.mechanism import StatusView as MechanismLine
from redline.core.hotline.requests import (
    EngagementRequest,
    RequestOutcome,
    Response,
    request_outcome,
)

__all__ = [
    "CALL_TALLY",
    "REQUEST_TALLY",
    "Board",
    "CallLine",
    "Contact",
    "ContactKind",
    "LevelLine",
    "MechanismLine",
    "OpenRequest",
    "PartyTally",
    "build_board",
]


class ContactKind(StrEnum):
    """How the two sides actually spoke."""

    CALL = "call"
    VIDEO = "video"
    MEETING = "meeting"
    TALKS = "talks"


@dataclass(frozen=True, slots=True, kw_only=True)
class Contact:
    """On ``on``, the offices in ``office_ids`` (of both sides) spoke.

    Raises:
        InvalidInput: a bad id or date, fewer than two offices, unknown kind.
    """

    id: str
    on: date
    office_ids: tuple[str, ...]
    kind: ContactKind
    mechanism: str | None = None
    summary: str = ""

    def __post_init__(self) -> None:
        check_id(self.id, "id")
        check_date(self.on, "on")
        object.__setattr__(self, "office_ids", check_ids(self.office_ids, "office_ids", minimum=2))
        object.__setattr__(self, "kind", check_enum(self.kind, ContactKind, "kind"))
        if self.mechanism is not None:
            check_id(self.mechanism, "mechanism")
        check_text(self.summary, "summary", empty=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class LevelLine:
    """The last contact at ``level`` and the days since; None when there was none.

    Raises nothing.
    """

    level: Level
    last_contact: date | None
    days_since: int | None
    contact_id: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenRequest:
    """A request still waiting for an answer, and how long is left. Raises nothing."""

    request_id: str
    from_office: str
    to_office: str
    deadline: datetime
    time_left: timedelta


@dataclass(frozen=True, slots=True, kw_only=True)
class CallLine:
    """A call and its state as of the board's ``now``. Raises nothing."""

    call_id: str
    from_office: str
    to_office: str
    placed_at: datetime
    state: CallState
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PartyTally:
    """How ``party`` has dealt with what was addressed to it.

    ``answered`` counts answered calls and accepted requests; ``declined``
    declined calls and requests; ``lapsed`` missed calls and requests that
    lapsed unanswered; ``countered`` requests met with a counter-proposal.
    Raises nothing.
    """

    party: str
    answered: int
    declined: int
    lapsed: int
    countered: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Board:
    """Everything the board shows as of ``now``. Raises nothing.

    ``requests`` holds every request's outcome; ``open_requests`` the ones
    still waiting, soonest deadline first.
    """

    now: datetime
    levels: tuple[LevelLine, ...]
    mechanisms: tuple[MechanismLine, ...]
    open_requests: tuple[OpenRequest, ...]
    requests: tuple[RequestOutcome, ...]
    calls: tuple[CallLine, ...]
    tallies: tuple[PartyTally, ...]

    def level(self, level: Level | str) -> LevelLine:
        """The row for ``level``.

        Raises:
            InvalidInput: unknown level.
        """
        want = check_enum(level, Level, "level")
        return next(line for line in self.levels if line.level is want)

    def mechanism(self, mechanism_id: str) -> MechanismLine:
        """The row for ``mechanism_id``.

        Raises:
            InvalidInput: no such mechanism on the board.
        """
        for line in self.mechanisms:
            if line.mechanism_id == mechanism_id:
                return line
        raise InvalidInput(f"no mechanism {mechanism_id!r} on the board", field="mechanism_id")

    def tally(self, party: str) -> PartyTally:
        """The tally for ``party``.

        Raises:
            InvalidInput: no such party on the board.
        """
        for t in self.tallies:
            if t.party == party:
                return t
        raise InvalidInput(f"no party {party!r} on the board", field="party")


def _known_offices(directory: Directory, ids: Iterable[str], field: str) -> None:
    known = {o.id for o in directory.offices}
    for office_id in ids:
        if office_id not in known:
            raise InvalidInput(f"unknown office {office_id!r}", field=field)


def build_board(
    *,
    directory: Directory,
    mechanisms: Iterable[Mechanism],
    mechanism_events: Iterable[MechanismEvent],
    requests: Iterable[EngagementRequest],
    responses: Iterable[Response],
    calls: Iterable[Call],
    call_events: Iterable[CallEvent],
    contacts: Iterable[Contact],
    now: datetime,
    ring_timeout: timedelta = DEFAULT_RING_TIMEOUT,
    ring_timeouts: Mapping[str, timedelta] | None = None,
) -> Board:
    """Compute the board as of ``now``. Contacts and events after ``now`` are left out.

    Answered calls count as contacts on the day they were answered.
    ``ring_timeouts`` overrides ``ring_timeout`` for the calls it names (a
    call placed with its own timeout).

    Raises:
        InvalidInput: ``now`` is not aware UTC; a contact, request or call
            names an unknown office; an event is malformed for its fold.
        Conflict: some timeline makes an illegal move.
    """
    check_utc(now, "now")
    today = now.date()
    reqs, resps = tuple(requests), tuple(responses)
    call_list, call_evs = tuple(calls), tuple(call_events)

    outcomes = []
    open_requests = []
    for i, r in enumerate(reqs):
        _known_offices(directory, (r.from_office, r.to_office), f"requests[{i}]")
        if r.proposed_at > now:
            continue
        o = request_outcome(r, resps, now)
        outcomes.append(o)
        if o.state is RequestState.PROPOSED:
            open_requests.append(
                OpenRequest(
                    request_id=r.id,
                    from_office=r.from_office,
                    to_office=r.to_office,
                    deadline=r.deadline,
                    time_left=r.deadline - now,
                )
            )

    call_lines = []
    seen: list[tuple[date, str, tuple[str, ...]]] = []
    for i, c in enumerate(call_list):
        _known_offices(directory, (c.from_office, c.to_office), f"calls[{i}]")
        if c.placed_at > now:
            continue
        timeout = (ring_timeouts or {}).get(c.id, ring_timeout)
        v = call_view(c, call_evs, now, ring_timeout=timeout)
        call_lines.append(
            CallLine(
                call_id=c.id,
                from_office=c.from_office,
                to_office=c.to_office,
                placed_at=c.placed_at,
                state=v.state,
                reason=v.reason,
            )
        )
        if v.answered_at is not None:
            seen.append((v.answered_at.date(), c.id, (c.from_office, c.to_office)))
    for i, k in enumerate(contacts):
        _known_offices(directory, k.office_ids, f"contacts[{i}].office_ids")
        if k.on <= today:
            seen.append((k.on, k.id, k.office_ids))

    last: dict[Level, tuple[date, str]] = {}
    for on, ident, office_ids in seen:
        for level in {directory.office(o).level for o in office_ids}:
            if level not in last or (on, ident) > last[level]:
                last[level] = (on, ident)
    levels = tuple(
        LevelLine(
            level=level,
            last_contact=last[level][0] if level in last else None,
            days_since=(today - last[level][0]).days if level in last else None,
            contact_id=last[level][1] if level in last else None,
        )
        for level in Level
    )

    tallies = _tallies(directory, reqs, outcomes, call_list, call_lines)
    return Board(
        now=now,
        levels=levels,
        mechanisms=mechanism_statuses(mechanisms, mechanism_events, now),
        open_requests=tuple(sorted(open_requests, key=lambda o: (o.deadline, o.request_id))),
        requests=tuple(outcomes),
        calls=tuple(call_lines),
        tallies=tallies,
    )


#: Which column of a party's tally a request's or call's final state counts in.
REQUEST_TALLY: Final[Mapping[RequestState, str]] = {
    RequestState.ACCEPTED: "answered",
    RequestState.DECLINED: "declined",
    RequestState.LAPSED: "lapsed",
    RequestState.COUNTERED: "countered",
}
CALL_TALLY: Final[Mapping[CallState, str]] = {
    CallState.ANSWERED: "answered",
    CallState.ENDED: "answered",
    CallState.DECLINED: "declined",
    CallState.MISSED: "lapsed",
}


def _tallies(
    directory: Directory,
    reqs: tuple[EngagementRequest, ...],
    outcomes: list[RequestOutcome],
    calls: tuple[Call, ...],
    call_lines: list[CallLine],
) -> tuple[PartyTally, ...]:
    def zero() -> dict[str, int]:
        return {"answered": 0, "declined": 0, "lapsed": 0, "countered": 0}

    counts = {p.id: zero() for p in directory.parties}
    by_id = {r.id: r for r in reqs}
    for o in outcomes:
        bucket = REQUEST_TALLY.get(o.state)
        if bucket is not None:
            counts.setdefault(by_id[o.request_id].to_party, zero())[bucket] += 1
    to_party = {c.id: c.to_party for c in calls}
    for line in call_lines:
        bucket = CALL_TALLY.get(line.state)
        if bucket is not None:
            counts.setdefault(to_party[line.call_id], zero())[bucket] += 1
    return tuple(PartyTally(party=p, **c) for p, c in counts.items())
