"""Standing channels (DTL, DPCT, MMCA, ...) and their status over time.

A mechanism's status is not a field someone edits: it is folded from status
events ("suspended by prc after the Pelosi visit", "resumed"), each naming who
and why. A mechanism is bilateral: each participant declares its own
suspension or resumption, and each participant's events are folded through
:data:`~redline.core.hotline.lifecycle.MECHANISM` on their own. The
mechanism is suspended while any participant has it suspended, and stays so
until that participant resumes it; one party cannot resume what the other
suspended.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from redline.core.errors import InvalidInput
from redline.core.hotline._checks import (
    check_enum,
    check_id,
    check_ids,
    check_positive,
    check_text,
    check_utc,
)
from redline.core.hotline.lifecycle import MECHANISM, MechanismState, transition

__all__ = [
    "Cadence",
    "Mechanism",
    "MechanismEvent",
    "MechanismKind",
    "MechanismStatus",
    "StatusView",
    "mechanism_status",
    "mechanism_statuses",
    "mechanism_view",
    "party_states",
    "pair_hotline_id",
    "with_pair_hotlines",
]


class MechanismKind(StrEnum):
    """How a mechanism's exchanges happen."""

    CALL = "call"
    VIDEO = "video"
    TALKS = "talks"
    WRITTEN = "written"


class Cadence(StrEnum):
    """How often a mechanism is meant to meet, when it has a rhythm."""

    ANNUAL = "annual"
    SEMIANNUAL = "semiannual"
    QUARTERLY = "quarterly"
    MONTHLY = "monthly"


class MechanismStatus(StrEnum):
    """The status a status event sets. (``unrecorded`` is only the fold's start.)"""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    RESUMED = "resumed"


@dataclass(frozen=True, slots=True, kw_only=True)
class Mechanism:
    """A standing channel between offices of the parties, e.g. the DTL.

    ``response_window`` is how long a request over it may wait for an
    answer by default (the DTL's is 48 hours); None when no rule is known.

    Raises:
        InvalidInput: a bad id or name, fewer than two offices, an unknown
            kind or cadence, or a window that is not positive.
    """

    id: str
    name_en: str
    name_zh: str
    kind: MechanismKind
    offices: tuple[str, ...]
    response_window: timedelta | None = None
    cadence: Cadence | None = None

    def __post_init__(self) -> None:
        check_id(self.id, "id")
        check_text(self.name_en, "name_en", limit=200)
        check_text(self.name_zh, "name_zh", limit=200)
        object.__setattr__(self, "kind", check_enum(self.kind, MechanismKind, "kind"))
        object.__setattr__(self, "offices", check_ids(self.offices, "offices", minimum=2))
        if self.response_window is not None:
            check_positive(self.response_window, "response_window")
        if self.cadence is not None:
            object.__setattr__(self, "cadence", check_enum(self.cadence, Cadence, "cadence"))


@dataclass(frozen=True, slots=True, kw_only=True)
class MechanismEvent:
    """At ``at``, ``by_party`` moved ``mechanism_id`` to ``status`` for ``reason``.

    Raises:
        InvalidInput: a bad id, unknown status, blank reason, or a time that is
            not an aware UTC datetime.
    """

    mechanism_id: str
    status: MechanismStatus
    by_party: str
    reason: str
    at: datetime

    def __post_init__(self) -> None:
        check_id(self.mechanism_id, "mechanism_id")
        object.__setattr__(self, "status", check_enum(self.status, MechanismStatus, "status"))
        check_id(self.by_party, "by_party")
        check_text(self.reason, "reason")
        check_utc(self.at, "at")


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusView:
    """A mechanism's status at a moment, with the event that set it.

    ``status`` is None (and ``since``/``by_party``/``reason`` empty) when no
    event at or before that moment is recorded. While any participant has the
    mechanism suspended, ``status`` is ``suspended`` and ``since``,
    ``by_party`` and ``reason`` are the earliest standing suspension's;
    ``suspended_by`` lists every standing suspension, one per party.

    Raises:
        InvalidInput: a bad mechanism id.
    """

    mechanism_id: str
    status: MechanismStatus | None
    since: datetime | None = None
    by_party: str | None = None
    reason: str = ""
    history: tuple[MechanismEvent, ...] = ()
    suspended_by: tuple[MechanismEvent, ...] = ()

    def __post_init__(self) -> None:
        check_id(self.mechanism_id, "mechanism_id")


def _ordered(events: Iterable[MechanismEvent], mechanism_id: str | None) -> list[MechanismEvent]:
    evs = list(events)
    ids = {e.mechanism_id for e in evs}
    if mechanism_id is not None:
        evs = [e for e in evs if e.mechanism_id == mechanism_id]
    elif len(ids) > 1:
        raise InvalidInput(f"events for several mechanisms: {sorted(ids)}", field="events")
    # Stable sort: two events at one instant keep the order they were given in.
    return sorted(evs, key=lambda e: e.at)


def party_states(
    events: Iterable[MechanismEvent], mechanism_id: str, at: datetime
) -> dict[str, tuple[MechanismState, MechanismEvent]]:
    """Each party's own state of ``mechanism_id`` after its events up to ``at``,
    with the event that set it.

    Raises:
        Conflict: a party's events make an illegal move (resumed while active).
    """
    states: dict[str, tuple[MechanismState, MechanismEvent]] = {}
    for e in _ordered(events, mechanism_id):
        if e.at > at:
            continue
        before = states.get(e.by_party, (MechanismState.UNRECORDED, e))[0]
        states[e.by_party] = (MechanismState(transition(MECHANISM, before, e.status.value)), e)
    return states


def mechanism_view(
    events: Iterable[MechanismEvent], at: datetime, *, mechanism_id: str | None = None
) -> StatusView:
    """Fold status events up to and including ``at`` into a :class:`StatusView`.

    Without ``mechanism_id`` all events must be for one mechanism; with it,
    events for other mechanisms are ignored.

    Raises:
        InvalidInput: ``at`` is not an aware UTC datetime, or events for
            several mechanisms without ``mechanism_id``, or no mechanism at all.
        Conflict: a party's events make an illegal move (e.g. resumed while
            active, or resuming what only another party suspended).
    """
    check_utc(at, "at")
    evs = _ordered(events, mechanism_id)
    mid = mechanism_id if mechanism_id is not None else (evs[0].mechanism_id if evs else None)
    if mid is None:
        raise InvalidInput("no events and no mechanism_id", field="mechanism_id")
    # Every event is checked, even those after ``at``: a bad timeline is
    # refused whatever moment is asked about.
    party_states(evs, mid, max([at, *(e.at for e in evs)]))
    applied = tuple(e for e in evs if e.at <= at)
    if not applied:
        return StatusView(mechanism_id=mid, status=None)
    standing = tuple(
        sorted(
            (
                e
                for state, e in party_states(applied, mid, at).values()
                if state is MechanismState.SUSPENDED
            ),
            key=lambda e: e.at,
        )
    )
    shown = standing[0] if standing else applied[-1]
    return StatusView(
        mechanism_id=mid,
        status=shown.status,
        since=shown.at,
        by_party=shown.by_party,
        reason=shown.reason,
        history=applied,
        suspended_by=standing,
    )


def mechanism_status(events: Iterable[MechanismEvent], at: datetime) -> MechanismStatus | None:
    """The status of the one mechanism ``events`` describe, as of ``at``.

    None when nothing is recorded at or before ``at``.

    Raises:
        InvalidInput: bad ``at``, no events, or events for several mechanisms.
        Conflict: the events make an illegal move.
    """
    return mechanism_view(events, at).status


def mechanism_statuses(
    mechanisms: Iterable[Mechanism], events: Iterable[MechanismEvent], at: datetime
) -> tuple[StatusView, ...]:
    """A :class:`StatusView` per mechanism, in the order given.

    Raises:
        InvalidInput: bad ``at``, or an event names an unknown mechanism.
        Conflict: some mechanism's events make an illegal move.
    """
    mechs = tuple(mechanisms)
    evs = tuple(events)
    known = {m.id for m in mechs}
    for i, e in enumerate(evs):
        if e.mechanism_id not in known:
            raise InvalidInput(
                f"unknown mechanism {e.mechanism_id!r}", field=f"events[{i}].mechanism_id"
            )
    return tuple(mechanism_view(evs, at, mechanism_id=m.id) for m in mechs)


#: A pair's own hotline answers a request in two days by default, like the DTL.
PAIR_HOTLINE_WINDOW = timedelta(hours=48)


def pair_hotline_id(a: str, b: str) -> str:
    """``hotline-<a>-<b>`` with the two party ids sorted: the link itself between
    two parties, which every pair has from pairing on. Raises nothing."""
    first, second = sorted((a, b))
    return f"hotline-{first}-{second}"


def with_pair_hotlines(
    mechanisms: Iterable[Mechanism],
    parties: Iterable[tuple[str, str, str]],
    offices: Iterable[tuple[str, str]],
) -> tuple[Mechanism, ...]:
    """``mechanisms`` without any pair hotline, then one pair hotline for every two
    ``parties`` (id, English name, Chinese name) that have ``offices`` (office id,
    party id), joining all their offices.

    Raises nothing for valid parties and offices.
    """
    kept = [m for m in mechanisms if not m.id.startswith("hotline-")]
    by_party: dict[str, list[str]] = {}
    for office_id, party in offices:
        by_party.setdefault(party, []).append(office_id)
    named = sorted((p for p in parties if by_party.get(p[0])), key=lambda p: p[0])
    for i, (a, a_en, a_zh) in enumerate(named):
        for b, b_en, b_zh in named[i + 1 :]:
            kept.append(
                Mechanism(
                    id=pair_hotline_id(a, b),
                    name_en=f"{a_en} – {b_en} hotline",
                    name_zh=f"{a_zh}—{b_zh}热线",
                    kind=MechanismKind.CALL,
                    offices=(*by_party[a], *by_party[b]),
                    response_window=PAIR_HOTLINE_WINDOW,
                )
            )
    return tuple(kept)
