"""The statement kinds of the hotline, their limits, and how far ahead a body may look.

Every hotline act travels as a signed statement (DESIGN.md, "Statements and
the record"). Each kind's body is one typed model in
:mod:`redline.core.hotline.bodies`; :mod:`redline.core.registry` lists them
beside the envelope's. The acting party is never in the body: it is the
statement's signed ``from``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from redline.core.errors import InvalidStatement
from redline.core.hotline.calls import CallMode
from redline.core.hotline.lifecycle import CallAction, RequestAction
from redline.core.hotline.mechanism import MechanismStatus
from redline.core.hotline.requests import Mode
from redline.core.times import format_time, parse_time

__all__ = [
    "CALL",
    "CALL_EVENT",
    "CALL_EVENT_ACTIONS",
    "CALL_MESSAGE",
    "CALL_MISSED",
    "COUNTERPART",
    "DEFAULT_HORIZON",
    "DIRECTORY",
    "HOTLINE_KINDS",
    "JOINT_SUMMARY",
    "JOINT_SUMMARY_SIGN",
    "LATEST_TIME",
    "MAX_RING_TIMEOUT",
    "MECHANISM_STATUS",
    "READOUT",
    "REQUEST",
    "REQUEST_LAPSED",
    "RESPONSE",
    "RESPONSE_ACTIONS",
    "check_horizon",
]

DIRECTORY: Final = "directory"
COUNTERPART: Final = "counterpart"
MECHANISM_STATUS: Final = "mechanism-status"
REQUEST: Final = "request"
RESPONSE: Final = "response"
REQUEST_LAPSED: Final = "request-lapsed"
CALL: Final = "call"
CALL_EVENT: Final = "call-event"
CALL_MISSED: Final = "call-missed"
CALL_MESSAGE: Final = "call-message"
READOUT: Final = "readout"
JOINT_SUMMARY: Final = "joint-summary"
JOINT_SUMMARY_SIGN: Final = "joint-summary-sign"

#: What a response may do: every request action but a lapse (the requester's
#: ``request-lapsed`` records that).
RESPONSE_ACTIONS: Final = tuple(a.value for a in RequestAction if a is not RequestAction.LAPSE)
#: What a call event may do: every call action but a timeout (``call-missed``).
CALL_EVENT_ACTIONS: Final = tuple(a.value for a in CallAction if a is not CallAction.TIMEOUT)
MECHANISM_STATUSES: Final = tuple(s.value for s in MechanismStatus)
REQUEST_MODES: Final = tuple(m.value for m in Mode)
CALL_MODES: Final = tuple(m.value for m in CallMode)
#: A call rings at most a day; longer is a request, not a call.
MAX_RING_TIMEOUT: Final = 86_400
MAX_WINDOWS: Final = 20
#: How far past a statement's own signed time its body may name a time (a
#: window, a deadline) unless the node is configured otherwise: ten years.
DEFAULT_HORIZON: Final = timedelta(days=3653)
#: No body time may be later, whatever the horizon: two days before the end of
#: year 9999, so that the time read in any zone is still a date Python has.
LATEST_TIME: Final = datetime(9999, 12, 30, tzinfo=UTC)
MAX_ITEMS: Final = 50

# -- times bounded: how far ahead a body may look ---------------------------------------


def _window_times(value: Any, where: str) -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping):
        for end in ("start", "end"):
            yield f"{where}.{end}", value.get(end)


def _body_times(kind: str, body: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """Each time a body of ``kind`` names, with its field. Tolerates a body the
    shape rules have not seen yet (what is malformed is theirs to name)."""
    proposals: list[tuple[str, Any]] = []
    if kind == REQUEST:
        proposals.append(("body", body))
    elif kind == RESPONSE:
        yield from _window_times(body.get("window"), "body.window")
        if isinstance(counter := body.get("counter"), Mapping):
            proposals.append(("body.counter", counter))
    elif kind == REQUEST_LAPSED:
        yield "body.deadline", body.get("deadline")
    for where, proposal in proposals:
        windows = proposal.get("windows")
        for i, window in enumerate(windows if isinstance(windows, list) else ()):
            yield from _window_times(window, f"{where}.windows[{i}]")
        yield f"{where}.deadline", proposal.get("deadline")


def check_horizon(
    kind: str,
    body: Mapping[str, Any],
    *,
    signed_at: datetime,
    horizon: timedelta = DEFAULT_HORIZON,
) -> None:
    """Refuse a body that names a time more than ``horizon`` after ``signed_at``
    (the statement's own signed time), or at or after :data:`LATEST_TIME`.

    The shape rules cannot check this: they see the body only, not the
    envelope's time. A window or deadline in year 9999 made every view of
    the board overflow when it read the time in a party's zone.

    Raises:
        InvalidStatement: naming the field (``body.windows[0].start``,
            ``body.deadline``, ``body.counter.deadline``, ...).
    """
    try:
        limit = min(signed_at + horizon, LATEST_TIME)
    except OverflowError:  # a horizon of millennia: the fixed ceiling holds
        limit = LATEST_TIME
    for field, value in _body_times(kind, body):
        if not isinstance(value, str):
            continue
        try:
            moment = parse_time(value)
        except InvalidStatement:
            continue  # malformed: the shape rule names it
        if moment > limit:
            raise InvalidStatement(
                f"{value} is too far ahead: a statement signed at {format_time(signed_at)} "
                f"may name times up to {format_time(limit)}",
                field=field,
            )


#: Every hotline statement kind, in the order the record folds them.
HOTLINE_KINDS: Final = (
    DIRECTORY,
    COUNTERPART,
    MECHANISM_STATUS,
    REQUEST,
    RESPONSE,
    REQUEST_LAPSED,
    CALL,
    CALL_EVENT,
    CALL_MISSED,
    CALL_MESSAGE,
    READOUT,
    JOINT_SUMMARY,
    JOINT_SUMMARY_SIGN,
)
