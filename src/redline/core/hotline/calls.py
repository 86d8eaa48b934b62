"""Calls and video conferences between offices: ringing, answered, declined, missed, ended.

"China often did not answer the phone" is an outcome the record keeps: a call
nobody answers within the ring timeout is ``missed``; one the callee refuses
is ``declined``. :func:`call_view` folds the events through
:data:`~redline.core.hotline.lifecycle.CALL` given ``now`` and the timeout.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from redline.core.errors import InvalidInput, NotFound
from redline.core.hotline._checks import (
    check_enum,
    check_id,
    check_positive,
    check_text,
    check_utc,
)
from redline.core.hotline.directory import Directory
from redline.core.hotline.lifecycle import CALL, CallAction, CallState, transition

__all__ = [
    "DEFAULT_RING_TIMEOUT",
    "Call",
    "CallEvent",
    "CallMode",
    "CallView",
    "call_state",
    "call_view",
    "place_call",
]

#: How long a call rings before it counts as missed, unless the caller says otherwise.
DEFAULT_RING_TIMEOUT = timedelta(minutes=2)


class CallMode(StrEnum):
    """Voice or video."""

    CALL = "call"
    VIDEO = "video"


@dataclass(frozen=True, slots=True, kw_only=True)
class Call:
    """A call placed by ``from_office`` to ``to_office`` over ``mechanism`` at ``placed_at``.

    Build one with :func:`place_call` to have the offices checked.

    Raises:
        InvalidInput: a bad id, one office or party on both ends, or a time
            that is not aware UTC.
    """

    id: str
    from_office: str
    to_office: str
    from_party: str
    to_party: str
    mechanism: str
    mode: CallMode
    placed_at: datetime
    purpose: str = ""

    def __post_init__(self) -> None:
        check_id(self.id, "id")
        for name in ("from_office", "to_office", "from_party", "to_party", "mechanism"):
            check_id(getattr(self, name), name)
        if self.from_office == self.to_office:
            raise InvalidInput("an office cannot call itself", field="to_office")
        if self.from_party == self.to_party:
            raise InvalidInput("a call crosses parties", field="to_office")
        object.__setattr__(self, "mode", check_enum(self.mode, CallMode, "mode"))
        check_utc(self.placed_at, "placed_at")
        check_text(self.purpose, "purpose", empty=True)


def place_call(
    *,
    id: str,
    from_office: str,
    to_office: str,
    mechanism: str,
    mode: CallMode | str,
    now: datetime,
    directory: Directory,
    purpose: str = "",
) -> Call:
    """Place a call now, looking up both offices' parties in ``directory``.

    Raises:
        InvalidInput: an unknown office (field names which), or anything
            :class:`Call` refuses.
    """
    parties = {}
    for name, office_id in (("from_office", from_office), ("to_office", to_office)):
        try:
            parties[name] = directory.office(check_id(office_id, name)).party
        except NotFound as exc:
            raise InvalidInput(f"unknown office {office_id!r}", field=name) from exc
    return Call(
        id=id,
        from_office=from_office,
        to_office=to_office,
        from_party=parties["from_office"],
        to_party=parties["to_office"],
        mechanism=mechanism,
        mode=check_enum(mode, CallMode, "mode"),
        placed_at=check_utc(now, "now"),
        purpose=purpose,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class CallEvent:
    """``by_party`` answered, declined or hung up call ``call_id`` at ``at``.

    ``timeout`` is not an event: it follows from the clock.

    Raises:
        InvalidInput: a bad id or time, or ``timeout`` given as an action.
    """

    call_id: str
    action: CallAction
    by_party: str
    at: datetime
    reason: str = ""

    def __post_init__(self) -> None:
        check_id(self.call_id, "call_id")
        action = check_enum(self.action, CallAction, "action")
        object.__setattr__(self, "action", action)
        if action is CallAction.TIMEOUT:
            raise InvalidInput("a call is missed by the clock, not by an event", field="action")
        check_id(self.by_party, "by_party")
        check_utc(self.at, "at")
        check_text(self.reason, "reason", empty=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class CallView:
    """A call's state as of a moment, with when it was answered, refused or ended.

    ``duration`` is set once ended (hang-up minus answer).

    Raises:
        InvalidInput: a bad id or state.
    """

    call_id: str
    state: CallState
    answered_at: datetime | None = None
    closed_at: datetime | None = None
    duration: timedelta | None = None
    reason: str = ""

    def __post_init__(self) -> None:
        check_id(self.call_id, "call_id")
        object.__setattr__(self, "state", check_enum(self.state, CallState, "state"))


def call_view(
    call: Call,
    events: Iterable[CallEvent],
    now: datetime,
    *,
    ring_timeout: timedelta = DEFAULT_RING_TIMEOUT,
) -> CallView:
    """Fold ``events`` for ``call`` (others are ignored) as of ``now``.

    A call still ringing when ``ring_timeout`` has passed is ``missed`` from
    that moment; an answer or decline at or after it is refused.

    Raises:
        InvalidInput: bad ``now`` or timeout; an event after ``now`` or before
            the call was placed; the caller's side answers or declines, or a
            third party acts.
        Conflict: an illegal step (answer after decline, hang-up while ringing,
            anything after the call is over).
    """
    check_utc(now, "now")
    check_positive(ring_timeout, "ring_timeout")
    missed_at = call.placed_at + ring_timeout
    state: str = CallState.RINGING
    answered_at: datetime | None = None
    closed_at: datetime | None = None
    reason = ""
    for e in sorted((e for e in events if e.call_id == call.id), key=lambda e: e.at):
        if e.at > now:
            raise InvalidInput(f"event at {e.at} is after now ({now})", field="events")
        if e.at < call.placed_at:
            raise InvalidInput(f"event at {e.at} is before the call", field="events")
        if e.by_party not in (call.from_party, call.to_party):
            raise InvalidInput(f"{e.by_party} is not on call {call.id}", field="by_party")
        if e.action is not CallAction.END and e.by_party != call.to_party:
            raise InvalidInput(
                f"only the called party ({call.to_party}) can {e.action.value} {call.id}",
                field="by_party",
            )
        if state == CallState.RINGING and e.at >= missed_at:
            state = transition(CALL, state, CallAction.TIMEOUT)
            closed_at = missed_at
        state = transition(CALL, state, e.action)
        if e.action is CallAction.ANSWER:
            answered_at = e.at
        else:
            closed_at, reason = e.at, e.reason
    if state == CallState.RINGING and now >= missed_at:
        state, closed_at = CallState.MISSED, missed_at
    duration = closed_at - answered_at if answered_at and closed_at else None
    return CallView(
        call_id=call.id,
        state=CallState(state),
        answered_at=answered_at,
        closed_at=closed_at,
        duration=duration,
        reason=reason,
    )


def call_state(
    call: Call,
    events: Iterable[CallEvent],
    now: datetime,
    *,
    ring_timeout: timedelta = DEFAULT_RING_TIMEOUT,
) -> CallState:
    """The state of ``call`` as of ``now``; see :func:`call_view`.

    Raises:
        InvalidInput: as :func:`call_view`.
        Conflict: as :func:`call_view`.
    """
    return call_view(call, events, now, ring_timeout=ring_timeout).state
