"""Every hotline lifecycle as a transition table, in one place.

The tables are data: a docs script draws them with :func:`render_markdown`
or :func:`render_mermaid`, and the folds in ``requests``, ``calls`` and
``mechanism`` step through them with :func:`transition`. An illegal step
raises :class:`~redline.core.errors.Conflict` and leaves the state as it was
(the caller's state variable is simply not reassigned), as h11's connection
state machine does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from redline.core.errors import Conflict, InvalidInput
from redline.core.hotline._checks import check_enum, check_id, check_text, check_utc
from redline.core.kinds import Precedence

__all__ = [
    "ACK_DEADLINES",
    "CALL",
    "ENGAGEMENT_REQUEST",
    "FLASH_ACK",
    "IMMEDIATE_ACK",
    "LINK_TEST",
    "MECHANISM",
    "MESSAGE_ACK",
    "PRIORITY_ACK",
    "ROUTINE_ACK",
    "TABLES",
    "AckState",
    "CallAction",
    "CallState",
    "Edge",
    "LinkTestAction",
    "LinkTestState",
    "MechanismAction",
    "MechanismState",
    "MessageAction",
    "Precedence",
    "RequestAction",
    "RequestState",
    "TransitionTable",
    "ack_deadline",
    "ack_state",
    "render_markdown",
    "render_mermaid",
    "transition",
]


class RequestState(StrEnum):
    """Where an engagement request stands."""

    PROPOSED = "proposed"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    COUNTERED = "countered"
    LAPSED = "lapsed"
    WITHDRAWN = "withdrawn"


class RequestAction(StrEnum):
    """What can happen to an engagement request."""

    ACCEPT = "accept"
    DECLINE = "decline"
    COUNTER = "counter"
    LAPSE = "lapse"
    WITHDRAW = "withdraw"


class CallState(StrEnum):
    """Where a call stands."""

    RINGING = "ringing"
    ANSWERED = "answered"
    DECLINED = "declined"
    MISSED = "missed"
    ENDED = "ended"


class CallAction(StrEnum):
    """What can happen to a call. ``timeout`` is not sent: it follows from the clock."""

    ANSWER = "answer"
    DECLINE = "decline"
    TIMEOUT = "timeout"
    END = "end"


class AckState(StrEnum):
    """Where the acknowledgement of a message stands."""

    SENT = "sent"
    ACKNOWLEDGED = "acknowledged"
    OVERDUE = "overdue"
    ESCALATED = "escalated"


class MessageAction(StrEnum):
    """What can happen to a sent message's acknowledgement."""

    ACKNOWLEDGE = "acknowledge"
    DEADLINE_PASSED = "deadline_passed"
    ESCALATE = "escalate"


class LinkTestState(StrEnum):
    """Where a link test (heartbeat) stands."""

    SENT = "sent"
    ANSWERED = "answered"
    UNANSWERED = "unanswered"


class LinkTestAction(StrEnum):
    """What can happen to a link test."""

    ANSWER = "answer"
    TIMEOUT = "timeout"


class MechanismState(StrEnum):
    """Status of a standing mechanism. ``unrecorded`` is before its first status event."""

    UNRECORDED = "unrecorded"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    RESUMED = "resumed"


class MechanismAction(StrEnum):
    """A status event names the status it moves the mechanism to."""

    ACTIVATE = "active"
    SUSPEND = "suspended"
    RESUME = "resumed"


@dataclass(frozen=True, slots=True, kw_only=True)
class Edge:
    """One legal step: in ``source``, ``event`` leads to ``target``.

    Raises:
        InvalidInput: a state or event is blank.
    """

    source: str
    event: str
    target: str

    def __post_init__(self) -> None:
        check_text(self.source, "source")
        check_text(self.event, "event")
        check_text(self.target, "target")


@dataclass(frozen=True, slots=True, kw_only=True)
class TransitionTable:
    """A named lifecycle: its states, initial state, terminal states and edges.

    Raises:
        InvalidInput: an edge names an unknown state, a terminal state has an
            outgoing edge, or one (state, event) pair has two targets.
    """

    name: str
    states: tuple[str, ...]
    initial: str
    terminal: frozenset[str]
    edges: tuple[Edge, ...]
    description: str = field(default="")

    def __post_init__(self) -> None:
        check_id(self.name, "name")
        known = set(self.states)
        if self.initial not in known:
            raise InvalidInput(f"initial state {self.initial!r} is not a state", field="initial")
        if not self.terminal <= known:
            raise InvalidInput(f"unknown terminal states {self.terminal - known}", field="terminal")
        seen: set[tuple[str, str]] = set()
        for edge in self.edges:
            if edge.source not in known or edge.target not in known:
                raise InvalidInput(f"edge {edge} names an unknown state", field="edges")
            if edge.source in self.terminal:
                raise InvalidInput(f"terminal state {edge.source!r} has an edge", field="edges")
            if (edge.source, edge.event) in seen:
                raise InvalidInput(
                    f"two edges for {edge.source!r} on {edge.event!r}", field="edges"
                )
            seen.add((edge.source, edge.event))

    @property
    def events(self) -> tuple[str, ...]:
        """Every event the table knows, in first-use order. Raises nothing."""
        return tuple(dict.fromkeys(e.event for e in self.edges))

    def target(self, state: str, event: str) -> str | None:
        """The state ``event`` leads to from ``state``, or None if illegal. Raises nothing."""
        for edge in self.edges:
            if edge.source == state and edge.event == event:
                return edge.target
        return None


def _table(
    name: str,
    states: type[StrEnum],
    initial: StrEnum,
    terminal: set[StrEnum],
    edges: list[tuple[StrEnum, StrEnum, StrEnum]],
    description: str,
) -> TransitionTable:
    return TransitionTable(
        name=name,
        states=tuple(s.value for s in states),
        initial=initial.value,
        terminal=frozenset(s.value for s in terminal),
        edges=tuple(Edge(source=a.value, event=e.value, target=b.value) for a, e, b in edges),
        description=description,
    )


_R, _RA = RequestState, RequestAction
ENGAGEMENT_REQUEST = _table(
    "engagement-request",
    RequestState,
    _R.PROPOSED,
    {_R.ACCEPTED, _R.DECLINED, _R.COUNTERED, _R.LAPSED, _R.WITHDRAWN},
    [
        (_R.PROPOSED, _RA.ACCEPT, _R.ACCEPTED),
        (_R.PROPOSED, _RA.DECLINE, _R.DECLINED),
        # A counter closes this request; the counter-proposal is a new request
        # from the other side (requests.counter_request).
        (_R.PROPOSED, _RA.COUNTER, _R.COUNTERED),
        (_R.PROPOSED, _RA.LAPSE, _R.LAPSED),
        (_R.PROPOSED, _RA.WITHDRAW, _R.WITHDRAWN),
    ],
    "A request for talks, a call or a meeting, answered or left to lapse at its deadline.",
)

_C, _CA = CallState, CallAction
CALL = _table(
    "call",
    CallState,
    _C.RINGING,
    {_C.DECLINED, _C.MISSED, _C.ENDED},
    [
        (_C.RINGING, _CA.ANSWER, _C.ANSWERED),
        (_C.RINGING, _CA.DECLINE, _C.DECLINED),
        (_C.RINGING, _CA.TIMEOUT, _C.MISSED),
        (_C.ANSWERED, _CA.END, _C.ENDED),
    ],
    "A call or video conference between two offices.",
)

_A, _MA = AckState, MessageAction
MESSAGE_ACK = _table(
    "message-ack",
    AckState,
    _A.SENT,
    {_A.ACKNOWLEDGED},
    [
        (_A.SENT, _MA.ACKNOWLEDGE, _A.ACKNOWLEDGED),
        (_A.SENT, _MA.DEADLINE_PASSED, _A.OVERDUE),
        (_A.OVERDUE, _MA.ACKNOWLEDGE, _A.ACKNOWLEDGED),
        (_A.OVERDUE, _MA.ESCALATE, _A.ESCALATED),
        (_A.ESCALATED, _MA.ACKNOWLEDGE, _A.ACKNOWLEDGED),
    ],
    "Acknowledgement of a message, overdue after its precedence's deadline, then escalated.",
)

_L, _LA = LinkTestState, LinkTestAction
LINK_TEST = _table(
    "link-test",
    LinkTestState,
    _L.SENT,
    {_L.ANSWERED, _L.UNANSWERED},
    [
        (_L.SENT, _LA.ANSWER, _L.ANSWERED),
        # An unanswered test is an alarm, not a log line (DESIGN.md, Delivery).
        (_L.SENT, _LA.TIMEOUT, _L.UNANSWERED),
    ],
    "A scheduled test of the link, answered or unanswered.",
)

_M, _MS = MechanismState, MechanismAction
MECHANISM = _table(
    "mechanism",
    MechanismState,
    _M.UNRECORDED,
    set(),
    [
        (_M.UNRECORDED, _MS.ACTIVATE, _M.ACTIVE),
        # The public record often begins mid-history: a mechanism first seen
        # suspended is recorded as such rather than given an invented start.
        (_M.UNRECORDED, _MS.SUSPEND, _M.SUSPENDED),
        (_M.ACTIVE, _MS.SUSPEND, _M.SUSPENDED),
        (_M.SUSPENDED, _MS.RESUME, _M.RESUMED),
        (_M.RESUMED, _MS.SUSPEND, _M.SUSPENDED),
    ],
    "Status of a standing dialogue mechanism (DTL, DPCT, MMCA, ...).",
)

#: Every lifecycle, by name, for docs and tests.
TABLES: dict[str, TransitionTable] = {
    t.name: t for t in (ENGAGEMENT_REQUEST, CALL, MESSAGE_ACK, LINK_TEST, MECHANISM)
}


def transition(table: TransitionTable, state: str, event: str) -> str:
    """Return the state that ``event`` leads to from ``state`` in ``table``.

    Pure: the caller keeps its old state when this raises.

    Raises:
        Conflict: ``state`` is not a state of ``table``, or ``event`` is not
            legal in ``state``; the message names both.
    """
    if state not in table.states:
        raise Conflict(f"{table.name}: {state!r} is not a state of this lifecycle", field="state")
    target = table.target(state, event)
    if target is None:
        allowed = [e.event for e in table.edges if e.source == state]
        hint = f"allowed: {', '.join(allowed)}" if allowed else f"{state!r} is terminal"
        raise Conflict(
            f"{table.name}: cannot {event!r} when {state!r} ({hint})",
            field="event",
        )
    return target


def render_markdown(table: TransitionTable) -> str:
    """Render ``table`` as a Markdown section with one row per edge. Raises nothing."""
    lines = [f"### {table.name}", ""]
    if table.description:
        lines += [table.description, ""]
    lines += [
        f"Initial state: `{table.initial}`. Terminal: "
        + (", ".join(f"`{s}`" for s in sorted(table.terminal)) or "none")
        + ".",
        "",
        "| From | Event | To |",
        "|---|---|---|",
    ]
    lines += [f"| `{e.source}` | `{e.event}` | `{e.target}` |" for e in table.edges]
    return "\n".join(lines) + "\n"


def render_mermaid(table: TransitionTable) -> str:
    """Render ``table`` as a Mermaid ``stateDiagram-v2``. Raises nothing."""
    lines = ["stateDiagram-v2", f"    [*] --> {table.initial}"]
    lines += [f"    {e.source} --> {e.target}: {e.event}" for e in table.edges]
    lines += [f"    {s} --> [*]" for s in table.states if s in table.terminal]
    return "\n".join(lines) + "\n"


#: Time allowed for an acknowledgement before the message is overdue, until a
#: link agrees its own (ACP 121's handling times; core.messaging.handling_time).
FLASH_ACK = timedelta(minutes=10)
IMMEDIATE_ACK = timedelta(minutes=30)
PRIORITY_ACK = timedelta(hours=3)
ROUTINE_ACK = timedelta(hours=6)
ACK_DEADLINES: dict[Precedence, timedelta] = {
    Precedence.FLASH: FLASH_ACK,
    Precedence.IMMEDIATE: IMMEDIATE_ACK,
    Precedence.PRIORITY: PRIORITY_ACK,
    Precedence.ROUTINE: ROUTINE_ACK,
}


def ack_deadline(precedence: Precedence | str, sent_at: datetime) -> datetime:
    """When a message of ``precedence`` sent at ``sent_at`` becomes overdue.

    Raises:
        InvalidInput: unknown precedence, or ``sent_at`` not an aware UTC datetime.
    """
    p = check_enum(precedence, Precedence, "precedence")
    return check_utc(sent_at, "sent_at") + ACK_DEADLINES[p]


def ack_state(
    *,
    precedence: Precedence | str,
    sent_at: datetime,
    acknowledged_at: datetime | None,
    escalated_at: datetime | None,
    now: datetime,
    deadline: datetime | None = None,
) -> AckState:
    """Fold a message's acknowledgement through :data:`MESSAGE_ACK` as of ``now``.

    ``deadline`` is the link's agreed one (core.messaging.deadline_for); by
    default, :func:`ack_deadline`'s.

    Times after ``now`` have not happened yet and are ignored.

    Raises:
        InvalidInput: a bad precedence or time, or a time before ``sent_at``.
        Conflict: the times describe an illegal order (escalated before overdue).
    """
    check_utc(now, "now")
    if deadline is None:
        deadline = ack_deadline(precedence, sent_at)
    steps: list[tuple[datetime, MessageAction]] = [(deadline, MessageAction.DEADLINE_PASSED)]
    for name, when, kind in (
        ("acknowledged_at", acknowledged_at, MessageAction.ACKNOWLEDGE),
        ("escalated_at", escalated_at, MessageAction.ESCALATE),
    ):
        if when is not None:
            if check_utc(when, name) < sent_at:
                raise InvalidInput("is before the message was sent", field=name)
            steps.append((when, kind))
    # An acknowledgement exactly at the deadline is in time; sort it first.
    order = {MessageAction.ACKNOWLEDGE: 0, MessageAction.DEADLINE_PASSED: 1}
    state: str = AckState.SENT
    for at, action in sorted(steps, key=lambda s: (s[0], order.get(s[1], 2))):
        if at > now:
            break
        if state == AckState.ACKNOWLEDGED and action == MessageAction.DEADLINE_PASSED:
            continue
        state = transition(MESSAGE_ACK, state, action)
    return AckState(state)
