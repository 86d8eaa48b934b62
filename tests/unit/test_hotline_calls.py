"""Calls and mechanism status timelines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from redline.core.errors import Conflict, InvalidInput
from redline.core.hotline.calls import (
    DEFAULT_RING_TIMEOUT,
    Call,
    CallEvent,
    CallMode,
    call_state,
    call_view,
    place_call,
)
from redline.core.hotline.directory import Directory, Level, Office, Party
from redline.core.hotline.lifecycle import CallAction, CallState
from redline.core.hotline.mechanism import (
    Cadence,
    Mechanism,
    MechanismEvent,
    MechanismKind,
    MechanismStatus,
    mechanism_status,
    mechanism_statuses,
    mechanism_view,
)

T0 = datetime(2023, 2, 5, 15, 0, tzinfo=UTC)
S = timedelta(seconds=1)
DIR = Directory(
    parties=(
        Party(id="us", name_en="United States", name_zh="美国", time_zone="America/New_York"),
        Party(id="prc", name_en="China", name_zh="中国", time_zone="Asia/Shanghai"),
    ),
    offices=(
        Office(
            id="us-secdef",
            party="us",
            title_en="SecDef",
            title_zh="国防部长",
            level=Level.DEFENCE_MINISTER,
        ),
        Office(
            id="prc-mnd",
            party="prc",
            title_en="MND",
            title_zh="国防部长",
            level=Level.DEFENCE_MINISTER,
        ),
    ),
)
CALL = place_call(
    id="balloon",
    from_office="us-secdef",
    to_office="prc-mnd",
    mechanism="dtl",
    mode=CallMode.CALL,
    now=T0,
    directory=DIR,
)


def ev(action: CallAction, at: datetime, by: str = "prc", reason: str = "") -> CallEvent:
    return CallEvent(call_id="balloon", action=action, by_party=by, at=at, reason=reason)


def test_place_call_refuses_unknown_office() -> None:
    with pytest.raises(InvalidInput) as info:
        place_call(
            id="c",
            from_office="us-secdef",
            to_office="prc-navy",
            mechanism="dtl",
            mode="call",
            now=T0,
            directory=DIR,
        )
    assert info.value.field == "to_office"
    assert (CALL.from_party, CALL.to_party) == ("us", "prc")


def test_ringing_then_missed_after_the_timeout() -> None:
    timeout = timedelta(seconds=90)
    assert call_state(CALL, (), T0 + timeout - S, ring_timeout=timeout) is CallState.RINGING
    view = call_view(CALL, (), T0 + timeout, ring_timeout=timeout)
    assert view.state is CallState.MISSED and view.closed_at == T0 + timeout
    assert call_state(CALL, (), T0 + DEFAULT_RING_TIMEOUT) is CallState.MISSED


@given(st.timedeltas(min_value=timedelta(0), max_value=timedelta(minutes=10)))
def test_missed_exactly_at_the_ring_timeout(offset: timedelta) -> None:
    expected = CallState.MISSED if offset >= DEFAULT_RING_TIMEOUT else CallState.RINGING
    assert call_state(CALL, (), T0 + offset) is expected


def test_answered_then_ended_with_duration() -> None:
    events = [ev(CallAction.ANSWER, T0 + 10 * S), ev(CallAction.END, T0 + 610 * S, by="us")]
    assert call_state(CALL, events[:1], T0 + 20 * S) is CallState.ANSWERED
    view = call_view(CALL, events, T0 + 700 * S)
    assert view.state is CallState.ENDED and view.duration == timedelta(minutes=10)
    # Still answered long after the ring timeout: the timeout only ends ringing.
    assert call_state(CALL, events[:1], T0 + timedelta(hours=1)) is CallState.ANSWERED


def test_declined_keeps_its_reason() -> None:
    view = call_view(CALL, [ev(CallAction.DECLINE, T0 + S, reason="tense")], T0 + 2 * S)
    assert view.state is CallState.DECLINED and view.reason == "tense"


def test_caller_cannot_answer_or_decline_its_own_call() -> None:
    with pytest.raises(InvalidInput) as info:
        call_state(CALL, [ev(CallAction.ANSWER, T0 + S, by="us")], T0 + 2 * S)
    assert info.value.field == "by_party"
    with pytest.raises(InvalidInput, match="not on call"):
        call_state(CALL, [ev(CallAction.END, T0 + S, by="uk")], T0 + 2 * S)


@pytest.mark.parametrize(
    "events",
    [
        [ev(CallAction.END, T0 + S)],
        [ev(CallAction.DECLINE, T0 + S), ev(CallAction.ANSWER, T0 + 2 * S)],
        [ev(CallAction.ANSWER, T0 + DEFAULT_RING_TIMEOUT)],
        [ev(CallAction.ANSWER, T0 + S), ev(CallAction.ANSWER, T0 + 2 * S)],
    ],
    ids=["hang-up-while-ringing", "answer-after-decline", "answer-after-missed", "answer-twice"],
)
def test_illegal_call_steps_are_conflicts(events: list[CallEvent]) -> None:
    with pytest.raises(Conflict):
        call_state(CALL, events, T0 + timedelta(hours=1))


def test_call_validation() -> None:
    with pytest.raises(InvalidInput) as info:
        CallEvent(call_id="balloon", action=CallAction.TIMEOUT, by_party="prc", at=T0)
    assert info.value.field == "action"
    with pytest.raises(InvalidInput) as info:
        Call(
            id="c",
            from_office="a",
            to_office="b",
            from_party="us",
            to_party="us",
            mechanism="dtl",
            mode=CallMode.CALL,
            placed_at=T0,
        )
    assert info.value.field == "to_office"
    with pytest.raises(InvalidInput, match="after now"):
        call_state(CALL, [ev(CallAction.ANSWER, T0 + 5 * S)], T0 + S)
    with pytest.raises(InvalidInput) as info:
        call_state(CALL, (), T0, ring_timeout=timedelta(0))
    assert info.value.field == "ring_timeout"


DPCT = Mechanism(
    id="dpct",
    name_en="Defense Policy Coordination Talks",
    name_zh="中美国防政策协调会谈",
    kind=MechanismKind.TALKS,
    offices=("us-dasd-china", "prc-oimc-deputy"),
    cadence=Cadence.ANNUAL,
)
Y21, Y22, Y24 = (datetime(y, 1, 1, tzinfo=UTC) for y in (2021, 2022, 2024))


def mev(status: MechanismStatus, at: datetime, by: str = "prc") -> MechanismEvent:
    return MechanismEvent(mechanism_id="dpct", status=status, by_party=by, reason="r", at=at)


def test_mechanism_status_timeline() -> None:
    events = [
        mev(MechanismStatus.ACTIVE, Y21, by="us"),
        mev(MechanismStatus.SUSPENDED, Y22),
        mev(MechanismStatus.RESUMED, Y24),
    ]
    assert mechanism_view(events, Y21 - S, mechanism_id="dpct").status is None
    assert mechanism_status(events, Y21) is MechanismStatus.ACTIVE
    assert mechanism_status(events, Y22 + S) is MechanismStatus.SUSPENDED
    view = mechanism_view(events, Y24)
    assert view.status is MechanismStatus.RESUMED and view.since == Y24 and view.by_party == "prc"
    assert len(view.history) == 3
    assert (
        mechanism_status([*events, mev(MechanismStatus.SUSPENDED, Y24 + S)], Y24 + S)
        is MechanismStatus.SUSPENDED
    )


@pytest.mark.parametrize(
    "statuses",
    [
        [MechanismStatus.RESUMED],
        [MechanismStatus.ACTIVE, MechanismStatus.RESUMED],
        [MechanismStatus.ACTIVE, MechanismStatus.ACTIVE],
        [MechanismStatus.SUSPENDED, MechanismStatus.SUSPENDED],
        [MechanismStatus.SUSPENDED, MechanismStatus.RESUMED, MechanismStatus.RESUMED],
    ],
)
def test_illegal_mechanism_moves_are_conflicts(statuses: list[MechanismStatus]) -> None:
    events = [mev(s, Y21 + i * S) for i, s in enumerate(statuses)]
    with pytest.raises(Conflict):
        mechanism_status(events, Y24)


def test_mechanism_validation() -> None:
    with pytest.raises(InvalidInput) as info:
        Mechanism(id="x", name_en="X", name_zh="X", kind=MechanismKind.CALL, offices=("a",))
    assert info.value.field == "offices"
    with pytest.raises(InvalidInput) as info:
        Mechanism(
            id="x",
            name_en="X",
            name_zh="X",
            kind=MechanismKind.CALL,
            offices=("a", "b"),
            response_window=timedelta(0),
        )
    assert info.value.field == "response_window"
    with pytest.raises(InvalidInput) as info:
        MechanismEvent(mechanism_id="dpct", status="paused", by_party="us", reason="r", at=Y21)  # type: ignore[arg-type]
    assert info.value.field == "status"
    with pytest.raises(InvalidInput, match="several mechanisms"):
        other = MechanismEvent(
            mechanism_id="mmca", status=MechanismStatus.ACTIVE, by_party="us", reason="r", at=Y21
        )
        mechanism_status([mev(MechanismStatus.ACTIVE, Y21), other], Y24)
    with pytest.raises(InvalidInput, match="unknown mechanism"):
        mechanism_statuses([DPCT], [other], Y24)
    views = mechanism_statuses([DPCT], [mev(MechanismStatus.ACTIVE, Y21)], Y24)
    assert views[0].status is MechanismStatus.ACTIVE
