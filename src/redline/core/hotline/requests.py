"""Engagement requests: asked, then accepted, declined, countered, withdrawn, or left to lapse.

"The Chinese military did not respond" is a state here, not an absence: a
request that reaches its deadline with no response is ``lapsed``, reason
"no response". :func:`request_outcome` folds the response events through
:data:`~redline.core.hotline.lifecycle.ENGAGEMENT_REQUEST` given ``now``;
:func:`due` lists what lapses.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from redline.core.errors import InvalidInput, NotFound
from redline.core.hotline._checks import check_enum, check_id, check_text, check_utc
from redline.core.hotline.directory import Directory
from redline.core.hotline.lifecycle import (
    ENGAGEMENT_REQUEST,
    RequestAction,
    RequestState,
    transition,
)
from redline.core.hotline.mechanism import Mechanism

__all__ = [
    "NO_RESPONSE",
    "Counter",
    "DueItem",
    "EngagementRequest",
    "Mode",
    "RequestOutcome",
    "Response",
    "Window",
    "counter_request",
    "due",
    "propose",
    "request_outcome",
    "request_state",
]

#: The reason recorded when a request lapses.
NO_RESPONSE = "no response"


class Mode(StrEnum):
    """How the requested engagement would happen."""

    CALL = "call"
    VIDEO = "video"
    MEETING = "meeting"


@dataclass(frozen=True, slots=True, kw_only=True)
class Window:
    """A proposed time slot, ``start`` inclusive to ``end`` exclusive, in UTC.

    Raises:
        InvalidInput: a time is not aware UTC, or ``end`` is not after ``start``.
    """

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        check_utc(self.start, "start")
        check_utc(self.end, "end")
        if self.end <= self.start:
            raise InvalidInput(f"{self.end} is not after start {self.start}", field="end")


def _check_windows(windows: object, field: str, *, not_before: datetime) -> tuple[Window, ...]:
    if not isinstance(windows, tuple | list) or not windows:
        raise InvalidInput("needs at least one proposed window", field=field)
    for i, w in enumerate(windows):
        if not isinstance(w, Window):
            raise InvalidInput("must be a Window", field=f"{field}[{i}]")
        if w.start < not_before:
            raise InvalidInput(
                f"starts at {w.start}, in the past (now is {not_before})", field=f"{field}[{i}]"
            )
    return tuple(windows)


def _check_texts(values: object, field: str) -> tuple[str, ...]:
    if not isinstance(values, tuple | list):
        raise InvalidInput("must be a list of text", field=field)
    return tuple(check_text(v, f"{field}[{i}]") for i, v in enumerate(values))


@dataclass(frozen=True, slots=True, kw_only=True)
class EngagementRequest:
    """``from_office`` asks ``to_office`` for a call, video conference or meeting.

    ``proposed_at`` is the "now" the request was made at: no window may start
    before it and the deadline must be after it. ``notes`` hold the
    preconditions and obstacles the requester knows of (a sanction, a
    protocol objection). ``in_reply_to`` names the request this counters.
    Build one with :func:`propose` to have the offices checked against a
    directory.

    Raises:
        InvalidInput: a bad id, both offices or parties the same, no window, a
            window in the past, a deadline not after ``proposed_at``.
    """

    id: str
    from_office: str
    to_office: str
    from_party: str
    to_party: str
    mechanism: str
    mode: Mode
    windows: tuple[Window, ...]
    proposed_at: datetime
    deadline: datetime
    agenda: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    in_reply_to: str | None = None

    def __post_init__(self) -> None:
        check_id(self.id, "id")
        for name in ("from_office", "to_office", "from_party", "to_party", "mechanism"):
            check_id(getattr(self, name), name)
        if self.from_office == self.to_office:
            raise InvalidInput("an office cannot ask itself", field="to_office")
        if self.from_party == self.to_party:
            raise InvalidInput(
                f"both offices belong to {self.to_party!r}; a request crosses parties",
                field="to_office",
            )
        object.__setattr__(self, "mode", check_enum(self.mode, Mode, "mode"))
        now = check_utc(self.proposed_at, "proposed_at")
        object.__setattr__(self, "windows", _check_windows(self.windows, "windows", not_before=now))
        if check_utc(self.deadline, "deadline") <= now:
            raise InvalidInput(f"{self.deadline} is not after now ({now})", field="deadline")
        object.__setattr__(self, "agenda", _check_texts(self.agenda, "agenda"))
        object.__setattr__(self, "notes", _check_texts(self.notes, "notes"))
        if self.in_reply_to is not None:
            check_id(self.in_reply_to, "in_reply_to")


def propose(
    *,
    id: str,
    from_office: str,
    to_office: str,
    mechanism: str,
    mode: Mode | str,
    windows: Sequence[Window],
    now: datetime,
    directory: Directory,
    mechanisms: Iterable[Mechanism],
    deadline: datetime | None = None,
    agenda: Sequence[str] = (),
    notes: Sequence[str] = (),
) -> EngagementRequest:
    """Make a new request, checking offices and mechanism against the directory.

    Without ``deadline``, the mechanism's response window from ``now`` is used.

    Raises:
        InvalidInput: an unknown office or mechanism (field names which), no
            deadline and none from the mechanism, or anything
            :class:`EngagementRequest` refuses.
    """
    check_utc(now, "now")
    offices = {}
    for name, office_id in (("from_office", from_office), ("to_office", to_office)):
        try:
            offices[name] = directory.office(check_id(office_id, name))
        except NotFound as exc:
            raise InvalidInput(f"unknown office {office_id!r}", field=name) from exc
    mech = {m.id: m for m in mechanisms}.get(mechanism)
    if mech is None:
        raise InvalidInput(f"unknown mechanism {mechanism!r}", field="mechanism")
    if deadline is None:
        if mech.response_window is None:
            raise InvalidInput(f"{mechanism} has no default response window", field="deadline")
        deadline = now + mech.response_window
    return EngagementRequest(
        id=id,
        from_office=from_office,
        to_office=to_office,
        from_party=offices["from_office"].party,
        to_party=offices["to_office"].party,
        mechanism=mechanism,
        mode=check_enum(mode, Mode, "mode"),
        windows=tuple(windows),
        proposed_at=now,
        deadline=deadline,
        agenda=tuple(agenda),
        notes=tuple(notes),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Counter:
    """A counter-proposal: talk to ``offered_office`` instead, at ``windows``.

    ``to_office`` is whom the counter is addressed to (None: the original
    requester). The counter becomes request ``new_request_id``.

    Raises:
        InvalidInput: bad ids, no windows, or a time that is not aware UTC.
    """

    new_request_id: str
    offered_office: str
    windows: tuple[Window, ...]
    deadline: datetime
    to_office: str | None = None
    note: str = ""

    def __post_init__(self) -> None:
        check_id(self.new_request_id, "new_request_id")
        check_id(self.offered_office, "offered_office")
        if self.to_office is not None:
            check_id(self.to_office, "to_office")
        if not isinstance(self.windows, tuple | list) or not self.windows:
            raise InvalidInput("needs at least one proposed window", field="windows")
        object.__setattr__(self, "windows", tuple(self.windows))
        check_utc(self.deadline, "deadline")
        check_text(self.note, "note", empty=True)


_RESPONSES = (RequestAction.ACCEPT, RequestAction.DECLINE, RequestAction.COUNTER)


@dataclass(frozen=True, slots=True, kw_only=True)
class Response:
    """What ``by_party`` did about request ``request_id`` at ``at``.

    ``accept`` needs the chosen ``window``; ``decline`` needs a ``reason``;
    ``counter`` needs a :class:`Counter`; ``withdraw`` is the requester's.
    Lapsing is not an event: it follows from the deadline and the clock.

    Raises:
        InvalidInput: a bad id or time, ``lapse`` given as an action, or the
            action's required field missing.
    """

    request_id: str
    action: RequestAction
    by_party: str
    at: datetime
    window: Window | None = None
    reason: str = ""
    counter: Counter | None = None

    def __post_init__(self) -> None:
        check_id(self.request_id, "request_id")
        action = check_enum(self.action, RequestAction, "action")
        object.__setattr__(self, "action", action)
        if action is RequestAction.LAPSE:
            raise InvalidInput("a request lapses by its deadline, not by an event", field="action")
        check_id(self.by_party, "by_party")
        check_utc(self.at, "at")
        check_text(self.reason, "reason", empty=action is not RequestAction.DECLINE)
        if action is RequestAction.ACCEPT and not isinstance(self.window, Window):
            raise InvalidInput("an acceptance names the chosen window", field="window")
        if action is RequestAction.COUNTER and not isinstance(self.counter, Counter):
            raise InvalidInput("a counter carries the counter-proposal", field="counter")


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestOutcome:
    """Where a request stands: its state and, once decided, when, by whom and why.

    Raises:
        InvalidInput: a bad id or state.
    """

    request_id: str
    state: RequestState
    at: datetime | None = None
    by_party: str | None = None
    reason: str = ""
    window: Window | None = None
    counter: Counter | None = None

    def __post_init__(self) -> None:
        check_id(self.request_id, "request_id")
        object.__setattr__(self, "state", check_enum(self.state, RequestState, "state"))


def _lapsed(request: EngagementRequest) -> RequestOutcome:
    return RequestOutcome(
        request_id=request.id, state=RequestState.LAPSED, at=request.deadline, reason=NO_RESPONSE
    )


def request_outcome(
    request: EngagementRequest, events: Iterable[Response], now: datetime
) -> RequestOutcome:
    """Fold ``events`` for ``request`` (others are ignored) as of ``now``.

    A request with no response by its deadline is ``lapsed`` ("no response"),
    and any response at or after the deadline is refused.

    Raises:
        InvalidInput: ``now`` is not aware UTC; an event is after ``now`` or
            before the request; a party responds that was not asked, or
            someone other than the requester withdraws; an acceptance picks
            a window that was not proposed.
        Conflict: a response to a request that is already decided, lapsed
            or withdrawn.
    """
    check_utc(now, "now")
    evs = sorted((e for e in events if e.request_id == request.id), key=lambda e: e.at)
    state: str = RequestState.PROPOSED
    outcome = RequestOutcome(request_id=request.id, state=RequestState.PROPOSED)
    for e in evs:
        if e.at > now:
            raise InvalidInput(f"event at {e.at} is after now ({now})", field="events")
        if e.at < request.proposed_at:
            raise InvalidInput(f"event at {e.at} is before the request", field="events")
        if e.action is RequestAction.WITHDRAW and e.by_party != request.from_party:
            raise InvalidInput(
                f"only the requester ({request.from_party}) can withdraw {request.id}; "
                f"{e.by_party} cannot",
                field="by_party",
            )
        if e.action in _RESPONSES and e.by_party != request.to_party:
            raise InvalidInput(
                f"{e.by_party} was not asked: only {request.to_party} can respond to {request.id}",
                field="by_party",
            )
        if state == RequestState.PROPOSED and e.at >= request.deadline:
            state = transition(ENGAGEMENT_REQUEST, state, RequestAction.LAPSE)
            outcome = _lapsed(request)
        if e.action is RequestAction.ACCEPT and e.window not in request.windows:
            raise InvalidInput(f"{e.window} is not one of the proposed windows", field="window")
        state = transition(ENGAGEMENT_REQUEST, state, e.action)
        outcome = RequestOutcome(
            request_id=request.id,
            state=RequestState(state),
            at=e.at,
            by_party=e.by_party,
            reason=e.reason,
            window=e.window,
            counter=e.counter,
        )
    if state == RequestState.PROPOSED and now >= request.deadline:
        outcome = _lapsed(request)
    return outcome


def request_state(
    request: EngagementRequest, events: Iterable[Response], now: datetime
) -> RequestState:
    """The state of ``request`` as of ``now``; see :func:`request_outcome`.

    Raises:
        InvalidInput: as :func:`request_outcome`.
        Conflict: as :func:`request_outcome`.
    """
    return request_outcome(request, events, now).state


def counter_request(
    request: EngagementRequest, response: Response, *, directory: Directory
) -> EngagementRequest:
    """The new request a counter creates, from the other side back to the requester.

    Raises:
        InvalidInput: ``response`` is not a counter to ``request``; the offered
            office is unknown or not the addressed party's; the counter's
            windows or deadline are not valid from the counter's time.
    """
    if response.request_id != request.id or response.counter is None:
        raise InvalidInput(f"not a counter to {request.id}", field="response")
    c = response.counter
    try:
        offered = directory.office(c.offered_office)
    except NotFound as exc:
        raise InvalidInput(f"unknown office {c.offered_office!r}", field="offered_office") from exc
    if offered.party != request.to_party:
        raise InvalidInput(
            f"{c.offered_office} is not an office of {request.to_party}", field="offered_office"
        )
    to_office = c.to_office or request.from_office
    try:
        addressee = directory.office(to_office)
    except NotFound as exc:
        raise InvalidInput(f"unknown office {to_office!r}", field="to_office") from exc
    return EngagementRequest(
        id=c.new_request_id,
        from_office=offered.id,
        to_office=addressee.id,
        from_party=offered.party,
        to_party=addressee.party,
        mechanism=request.mechanism,
        mode=request.mode,
        windows=c.windows,
        proposed_at=response.at,
        deadline=c.deadline,
        agenda=request.agenda,
        notes=(c.note,) if c.note else (),
        in_reply_to=request.id,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class DueItem:
    """A request still waiting for an answer (``proposed``) or lapsed unanswered.

    ``time_left`` is zero once lapsed.

    Raises:
        InvalidInput: a bad id or state, or a negative ``time_left``.
    """

    request_id: str
    deadline: datetime
    state: RequestState
    time_left: timedelta

    def __post_init__(self) -> None:
        check_id(self.request_id, "request_id")
        object.__setattr__(self, "state", check_enum(self.state, RequestState, "state"))
        if self.time_left < timedelta(0):
            raise InvalidInput("must not be negative", field="time_left")


def due(
    requests: Iterable[EngagementRequest], events: Iterable[Response], now: datetime
) -> tuple[DueItem, ...]:
    """Every request with no response: lapsed ones and those still open, by deadline.

    A service calls this on a timer to record lapses and show what is next.

    Raises:
        InvalidInput: as :func:`request_outcome`.
        Conflict: as :func:`request_outcome`.
    """
    evs = tuple(events)
    items = []
    for r in requests:
        o = request_outcome(r, evs, now)
        if o.state is RequestState.PROPOSED or (
            o.state is RequestState.LAPSED and o.reason == NO_RESPONSE
        ):
            left = max(r.deadline - now, timedelta(0))
            items.append(
                DueItem(request_id=r.id, deadline=r.deadline, state=o.state, time_left=left)
            )
    return tuple(sorted(items, key=lambda i: (i.deadline, i.request_id)))
