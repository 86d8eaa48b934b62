"""Threads: the independent parts of the hotline's state, so each act folds only its own.

A request, its responses, the counter-proposals it spawned and their
responses, and its ``request-lapsed`` form one *thread*; so do a call and its
events, messages and ``call-missed``; a joint summary and its signatures; a
readout. What one thread holds never changes what another thread means. The
rest — directories, counterpart declarations, mechanism status events — is
*global*: few statements, and every thread folds over them (an office must
exist before a request names it).

So the state of a thread is the reference fold (:func:`~.fold.fold`) of
that thread's statements together with the global ones, and the node keeps
that state per thread (docs/design.md, "State: applied once, read many times"):
storing a statement re-folds the one thread it belongs to, whatever else the
node holds. Because each thread is folded from its own statements in signed
time order, the order in which statements arrive does not change the result.

Each thread is named by its first item (``request:<id>``, ``call:<id>``,
``summary:<id>``, ``readout:<id>``). A statement names items of one thread (a
counter names the request it answers and the new request it makes); one that
would join two threads (a counter reusing another request's id) is refused by
the fold before it is stored, since the check folds every thread it names.

Nothing here raises for a bad statement: the body rules have run before.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from redline.core.hotline import kinds as k
from redline.core.hotline.bodies import (
    CallBody,
    CallEventBody,
    CallMessageBody,
    CallMissedBody,
    JointSummarySignBody,
    ReadoutBody,
    RequestBody,
    RequestLapsedBody,
    ResponseBody,
)
from redline.core.hotline.calls import call_view
from redline.core.hotline.lifecycle import CallState, RequestState
from redline.core.hotline.record import Record
from redline.core.hotline.requests import request_outcome
from redline.core.statement import Statement

__all__ = [
    "GLOBAL_KINDS",
    "MAX_THREAD_STATEMENTS",
    "ItemKind",
    "ItemState",
    "engagement_names",
    "item_name",
    "item_states",
    "thread_names",
]


class ItemKind(StrEnum):
    """What a thread item is; the prefix of its name."""

    REQUEST = "request"
    CALL = "call"
    SUMMARY = "summary"
    READOUT = "readout"


#: The most statements one thread holds. Each statement stored into a thread
#: folds the whole thread again, so a thread without a bound is a cost a peer
#: could raise at will (messages on a call it never lets end).
MAX_THREAD_STATEMENTS: Final = 5_000

#: Kinds every thread folds over: the directory, counterparts, mechanisms.
GLOBAL_KINDS: Final = frozenset({k.DIRECTORY, k.COUNTERPART, k.MECHANISM_STATUS})


def item_name(kind: ItemKind, ident: str) -> str:
    """``kind:ident``, the name of a thread item. Raises nothing."""
    return f"{kind.value}:{ident}"


def thread_names(st: Statement) -> tuple[str, ...]:
    """The items ``st`` names, the one it acts on first; ``()`` for a global statement
    or a statement that is not the hotline's. Raises nothing."""
    b = st.model
    if isinstance(b, RequestBody):
        return (item_name(ItemKind.REQUEST, b.id),)
    if isinstance(b, ResponseBody):
        names: tuple[str, ...] = (item_name(ItemKind.REQUEST, b.request),)
        if b.counter is not None:
            names += (item_name(ItemKind.REQUEST, b.counter.id),)
        return names
    if isinstance(b, RequestLapsedBody):
        return (item_name(ItemKind.REQUEST, b.request),)
    if isinstance(b, CallBody):
        return (item_name(ItemKind.CALL, b.id),)
    if isinstance(b, CallEventBody | CallMissedBody | CallMessageBody):
        return (item_name(ItemKind.CALL, b.call),)
    if isinstance(b, ReadoutBody):
        # A joint summary's text is a readout's; the kind tells the two apart.
        kind = ItemKind.SUMMARY if st.kind == k.JOINT_SUMMARY else ItemKind.READOUT
        return (item_name(kind, b.id),)
    if isinstance(b, JointSummarySignBody):
        return (item_name(ItemKind.SUMMARY, b.summary),)
    return ()


def engagement_names(st: Statement) -> tuple[str, ...]:
    """The items a readout or joint summary is about (a request or a call with the
    engagement's id), which a check of it must see; ``()`` for other kinds.
    Raises nothing."""
    if isinstance(b := st.model, ReadoutBody):
        ident = b.engagement
        return (item_name(ItemKind.REQUEST, ident), item_name(ItemKind.CALL, ident))
    return ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ItemState:
    """What the node keeps of one item between acts, as of its thread's last statement.

    ``open`` is true while time alone can still change the item, or while it
    waits for a statement: a request neither answered nor recorded as lapsed,
    a call ringing or answered. ``due_at`` is when an open request lapses or a
    ringing call is missed. ``contact_at`` is when an accepted request's
    window starts, or when a call was answered: the contact the board counts.
    ``state`` is the request or call state, ``""`` for summaries and readouts.

    Raises nothing.
    """

    name: str
    kind: ItemKind
    from_party: str
    to_party: str
    from_office: str
    to_office: str
    state: str
    open: bool
    due_at: datetime | None
    contact_at: datetime | None
    at: datetime


def item_states(record: Record) -> list[ItemState]:
    """The state of every item in ``record`` (a fold of whole threads), as of
    ``record.as_of``. Raises nothing: the fold has refused what was illegal."""
    out: list[ItemState] = []
    now = record.as_of
    for req in record.requests.values():
        outcome = request_outcome(req, record.request_events(req.id), max(now, req.proposed_at))
        pending = outcome.state is RequestState.PROPOSED
        # Lapsed by the clock but not yet recorded: the requester still has to sign it.
        unrecorded = outcome.state is RequestState.LAPSED and req.id not in record.lapse_records
        accepted = outcome.state is RequestState.ACCEPTED and outcome.window is not None
        out.append(
            ItemState(
                name=item_name(ItemKind.REQUEST, req.id),
                kind=ItemKind.REQUEST,
                from_party=req.from_party,
                to_party=req.to_party,
                from_office=req.from_office,
                to_office=req.to_office,
                state=outcome.state.value,
                open=pending or unrecorded,
                due_at=req.deadline if pending or unrecorded else None,
                contact_at=outcome.window.start if accepted and outcome.window else None,
                at=req.proposed_at,
            )
        )
    for call in record.calls.values():
        timeout = record.ring_timeouts[call.id]
        view = call_view(
            call, record.call_events_of(call.id), max(now, call.placed_at), ring_timeout=timeout
        )
        ringing = view.state is CallState.RINGING
        unrecorded = view.state is CallState.MISSED and call.id not in record.missed_records
        out.append(
            ItemState(
                name=item_name(ItemKind.CALL, call.id),
                kind=ItemKind.CALL,
                from_party=call.from_party,
                to_party=call.to_party,
                from_office=call.from_office,
                to_office=call.to_office,
                state=view.state.value,
                open=ringing or unrecorded or view.state is CallState.ANSWERED,
                due_at=call.placed_at + timeout if ringing or unrecorded else None,
                contact_at=view.answered_at,
                at=call.placed_at,
            )
        )
    for summary in record.summaries.values():
        out.append(_plain(ItemKind.SUMMARY, summary.id, summary.proposer, summary.at))
    for readout in record.readouts:
        out.append(_plain(ItemKind.READOUT, readout.id, readout.party, readout.at))
    return out


def _plain(kind: ItemKind, ident: str, party: str, at: datetime) -> ItemState:
    return ItemState(
        name=item_name(kind, ident),
        kind=kind,
        from_party=party,
        to_party="",
        from_office="",
        to_office="",
        state="",
        open=False,
        due_at=None,
        contact_at=None,
        at=at,
    )
