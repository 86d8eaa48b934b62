"""Link tests: node heartbeats answered by the peer's node, and a daily
operator test answered by a person at the peer.

Two kinds of test, one lifecycle (:data:`~redline.core.hotline.lifecycle.LINK_TEST`:
sent, then answered or unanswered). A node sends a ``heartbeat`` on a schedule
and the peer's node answers it at once with a signed ``heartbeat-reply``; once
a day, at a local time, it sends an ``operator-test`` that only a person can
answer (``operator-test-answer``), as the inter-Korean liaison line is called
at 09:00 every day.

A test left unanswered past its deadline is missed, and why matters: the
peer's node never gave a receipt for it (the transport failed: the peer is
unreachable) or it did and still nobody answered ("reachable, nobody
answered"). :func:`missed_because` says which; the two raise different
alarms (:class:`LinkTestAlarm`).

Everything here is pure: times are passed in, the zone conversion of the
daily time is the caller's (:func:`operator_test_day` takes the local now).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from statistics import median_low
from typing import Annotated, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field

from redline.core.errors import InvalidInput
from redline.core.fields import ActedBy, Body, Hex64, Time, TrimmedLine
from redline.core.hotline.lifecycle import LINK_TEST, LinkTestAction, LinkTestState
from redline.core.kinds import HEARTBEAT

__all__ = [
    "HEARTBEAT_REPLY",
    "LINK_TEST_BODIES",
    "LINK_TEST_KINDS",
    "OPERATOR_TEST",
    "OPERATOR_TEST_ANSWER",
    "Figures",
    "HeartbeatReplyBody",
    "LinkTestAlarm",
    "LinkTestKind",
    "Missed",
    "OperatorTestAnswerBody",
    "OperatorTestBody",
    "LinkTestRow",
    "check_zone",
    "figures",
    "heartbeat_due",
    "missed_because",
    "next_state",
    "operator_test_day",
    "parse_test_time",
]

HEARTBEAT_REPLY: Final = "heartbeat-reply"
OPERATOR_TEST: Final = "operator-test"
OPERATOR_TEST_ANSWER: Final = "operator-test-answer"


class LinkTestKind(StrEnum):
    """The two kinds of link test; the values are the statement kinds that start them."""

    HEARTBEAT = HEARTBEAT
    OPERATOR_TEST = OPERATOR_TEST


#: The statement kind that answers each kind of test.
ANSWER_KIND: Final = {
    LinkTestKind.HEARTBEAT: HEARTBEAT_REPLY,
    LinkTestKind.OPERATOR_TEST: OPERATOR_TEST_ANSWER,
}


class LinkTestAlarm(StrEnum):
    """The alarm a missed test raises; the values are the alarm kinds."""

    #: No receipt for the test: the peer's node could not be reached.
    PEER_UNREACHABLE = "peer-unreachable"
    #: The peer's node took the test (its receipt came back) and nobody answered.
    NOT_ANSWERED = "not-answered"


class Missed(StrEnum):
    """Why a test went unanswered; the values are stored and shown."""

    UNREACHABLE = "unreachable"
    NOT_ANSWERED = "not-answered"


#: The alarm each reason raises.
ALARM_FOR: Final = {
    Missed.UNREACHABLE: LinkTestAlarm.PEER_UNREACHABLE,
    Missed.NOT_ANSWERED: LinkTestAlarm.NOT_ANSWERED,
}

Nonce = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[0-9a-f]+$")]


class HeartbeatReplyBody(Body):
    """A node's automatic answer to a heartbeat: the heartbeat's id and nonce."""

    heartbeat: Hex64
    nonce: Annotated[str, Field(max_length=64)]


class OperatorTestBody(Body):
    """The daily test a person must answer, by ``answer_by``."""

    nonce: Nonce
    answer_by: Time


class OperatorTestAnswerBody(Body):
    """A person's answer to an operator test: the test's id, an optional line
    ("duty officer present"), and who answered."""

    test: Hex64
    text: Annotated[TrimmedLine, Field(max_length=500)] | None = None
    by: ActedBy | None = None


#: The link tests' own kinds (the heartbeat is the envelope's).
LINK_TEST_BODIES: Final[dict[str, type[Body]]] = {
    HEARTBEAT_REPLY: HeartbeatReplyBody,
    OPERATOR_TEST: OperatorTestBody,
    OPERATOR_TEST_ANSWER: OperatorTestAnswerBody,
}
#: Every kind a link test involves.
LINK_TEST_KINDS: Final = frozenset({HEARTBEAT, *LINK_TEST_BODIES})

_HHMM: Final = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def parse_test_time(value: str, field: str = "operator_test_time") -> time | None:
    """The daily time ``"HH:MM"`` (24-hour), or None for ``""`` (no operator test).

    Raises:
        InvalidInput: naming ``field`` if it is neither.
    """
    if value == "":
        return None
    match = _HHMM.match(value)
    if match is None:
        raise InvalidInput('must be a time "HH:MM" (00:00 to 23:59), or "" for none', field=field)
    return time(int(match[1]), int(match[2]))


def check_zone(zone: str, field: str = "zone") -> ZoneInfo:
    """The IANA time zone ``zone`` (``Asia/Seoul``).

    Raises:
        InvalidInput: naming ``field`` if this system does not know it.
    """
    try:
        if not zone or len(zone) > 64 or zone.startswith(("/", ".")) or ".." in zone:
            raise ValueError(zone)
        return ZoneInfo(zone)
    except (ValueError, ZoneInfoNotFoundError) as exc:
        raise InvalidInput("must be an IANA time zone such as Asia/Seoul", field=field) from exc


def next_state(state: str, action: LinkTestAction) -> LinkTestState:
    """The state ``action`` leads a test in ``state`` to.

    Raises:
        InvalidInput: the move is illegal (a test answered or missed is settled).
    """
    target = LINK_TEST.target(state, action.value)
    if target is None:
        raise InvalidInput(f"a link test that is {state} cannot {action.value}", field="state")
    return LinkTestState(target)


def missed_because(*, delivered: bool) -> Missed:
    """Why a test past its deadline was missed: no receipt came back for it
    (``delivered`` false: the transport failed) or one did and nobody answered.
    Raises nothing."""
    return Missed.NOT_ANSWERED if delivered else Missed.UNREACHABLE


def heartbeat_due(*, last_sent: datetime | None, interval: timedelta, now: datetime) -> bool:
    """Whether the next heartbeat is due: none sent yet, or ``interval`` since the
    last one. An interval of zero means no scheduled heartbeats. Raises nothing."""
    if interval <= timedelta(0):
        return False
    return last_sent is None or now - last_sent >= interval


def operator_test_day(
    *, local_now: datetime, at: time | None, last_day: date | None
) -> date | None:
    """The local day whose operator test is due now, or None.

    ``local_now`` is now in the party's zone; ``at`` the daily time there
    (None: no operator test on this link); ``last_day`` the local day of the
    last test sent. One test a day, sent at the first look at or after ``at``
    (a node started at 11:00 sends that day's 09:00 test at once). Raises nothing.
    """
    if at is None:
        return None
    today = local_now.date()
    if last_day is not None and last_day >= today:
        return None
    if local_now.time().replace(tzinfo=None) < at:
        return None
    return today


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkTestRow:
    """One test as the figures read it."""

    state: LinkTestState
    sent_at: datetime
    answered_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Figures:
    """One kind of test on one link: how many were sent, answered, missed and
    pending; the answer rate over the settled ones (None before any settled);
    the median and the last latency in milliseconds; when the last was answered."""

    sent: int
    answered: int
    missed: int
    pending: int
    answer_rate: float | None
    latency_p50_ms: int | None
    latency_last_ms: int | None
    last_answered_at: datetime | None


def _ms(delta: timedelta) -> int:
    return max(0, int(delta / timedelta(milliseconds=1)))


def figures(tests: Sequence[LinkTestRow]) -> Figures:
    """The figures of ``tests`` (any order). Raises nothing."""
    answered = [t for t in tests if t.state is LinkTestState.ANSWERED and t.answered_at]
    missed = sum(1 for t in tests if t.state is LinkTestState.UNANSWERED)
    pending = sum(1 for t in tests if t.state is LinkTestState.SENT)
    settled = len(answered) + missed
    latencies = [_ms(t.answered_at - t.sent_at) for t in answered if t.answered_at]
    last = max(answered, key=lambda t: (t.answered_at, t.sent_at), default=None)
    return Figures(
        sent=len(tests),
        answered=len(answered),
        missed=missed,
        pending=pending,
        answer_rate=round(len(answered) / settled, 4) if settled else None,
        latency_p50_ms=median_low(latencies) if latencies else None,
        latency_last_ms=(
            _ms(last.answered_at - last.sent_at) if last and last.answered_at else None
        ),
        last_answered_at=last.answered_at if last else None,
    )
