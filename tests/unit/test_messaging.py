"""Handling times under defaults and agreed terms; escalation steps in order, stopped by an ack."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from redline.core.errors import InvalidInput, InvalidStatement
from redline.core.kinds import Precedence
from redline.core.messaging import (
    DEFAULT_POLICIES,
    AgreedTerms,
    LinkTermsBody,
    StepAction,
    deadline_for,
    due_steps,
    handling_time,
    is_late,
    parse_policy,
)

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)

DEFAULTS = {
    Precedence.FLASH: timedelta(minutes=10),
    Precedence.IMMEDIATE: timedelta(minutes=30),
    Precedence.PRIORITY: timedelta(hours=3),
    Precedence.ROUTINE: timedelta(hours=6),
}
AGREED = {
    Precedence.FLASH: timedelta(minutes=5),
    Precedence.IMMEDIATE: timedelta(minutes=15),
    Precedence.PRIORITY: timedelta(hours=1),
    Precedence.ROUTINE: timedelta(hours=12),
}


def terms(at: datetime, deadlines: dict[Precedence, timedelta]) -> AgreedTerms:
    return AgreedTerms(terms="a" * 64, accepted_at=at, deadlines=deadlines)


@pytest.mark.parametrize("precedence", list(Precedence))
def test_each_precedence_has_acp_121_deadline_until_terms_are_agreed(
    precedence: Precedence,
) -> None:
    assert handling_time([], precedence, T0) == DEFAULTS[precedence]
    assert deadline_for([], precedence.value, T0) == T0 + DEFAULTS[precedence]


@pytest.mark.parametrize("precedence", list(Precedence))
def test_agreed_terms_apply_to_messages_signed_after_the_acceptance(
    precedence: Precedence,
) -> None:
    history = [terms(T0, AGREED)]
    # Signed at the acceptance's own microsecond, or before: the defaults.
    assert handling_time(history, precedence, T0) == DEFAULTS[precedence]
    assert handling_time(history, precedence, T0 - timedelta(hours=1)) == DEFAULTS[precedence]
    after = T0 + timedelta(microseconds=1)
    assert deadline_for(history, precedence, after) == after + AGREED[precedence]


def test_the_latest_terms_accepted_before_the_message_win() -> None:
    later = {p: d * 2 for p, d in AGREED.items()}
    history = [terms(T0 + timedelta(hours=1), later), terms(T0, AGREED)]
    assert handling_time(history, "flash", T0 + timedelta(minutes=30)) == AGREED[Precedence.FLASH]
    assert handling_time(history, "flash", T0 + timedelta(hours=2)) == later[Precedence.FLASH]


def test_unknown_precedence_and_naive_times_are_refused_naming_the_field() -> None:
    with pytest.raises(InvalidInput) as info:
        handling_time([], "urgent", T0)
    assert info.value.field == "precedence"
    with pytest.raises(InvalidInput) as info:
        handling_time([], "flash", datetime(2026, 1, 1))  # noqa: DTZ001 (naive on purpose)
    assert info.value.field == "at"


def test_late_is_after_the_deadline_not_at_it() -> None:
    assert not is_late(T0, T0)
    assert is_late(T0, T0 + timedelta(microseconds=1))
    assert not is_late(T0, None)


def test_terms_that_put_a_higher_precedence_after_a_lower_one_are_refused() -> None:
    body = {"deadlines": {"flash": 600, "immediate": 300, "priority": 900, "routine": 1000}}
    with pytest.raises(InvalidStatement) as info:
        LinkTermsBody.parse(body)
    assert info.value.field == "body.deadlines.immediate"
    with pytest.raises(InvalidStatement) as info:
        LinkTermsBody.parse({"deadlines": {**body["deadlines"], "immediate": 0}})
    assert info.value.field == "body.deadlines.immediate"
    with pytest.raises(InvalidStatement) as info:
        LinkTermsBody.parse({"deadlines": {"flash": 600, "immediate": 900, "priority": 900}})
    assert info.value.field == "body.deadlines.routine"


POLICY = parse_policy(
    [
        {"after_seconds": 1800, "action": "propose-fallback", "mechanism": "attache-channel"},
        {"after_seconds": 600, "action": "realert"},
        {"after_seconds": 1200, "action": "alert", "recipients": ["chief"]},
    ]
)


def test_steps_fall_due_in_order_each_once() -> None:
    assert [s.action for s in POLICY.steps] == [
        StepAction.REALERT,
        StepAction.ALERT,
        StepAction.PROPOSE_FALLBACK,
    ]
    taken: list[int] = []
    seen: list[StepAction] = []
    for minutes in (5, 10, 15, 20, 25, 30, 35):
        due = due_steps(
            policy=POLICY,
            sent_at=T0,
            outgoing=True,
            acknowledged_at=None,
            taken=taken,
            now=T0 + timedelta(minutes=minutes),
        )
        taken += [i for i, _ in due]
        seen += [s.action for _, s in due]
    assert seen == [StepAction.REALERT, StepAction.ALERT, StepAction.PROPOSE_FALLBACK]


def test_an_acknowledgement_stops_the_rest() -> None:
    args = {"policy": POLICY, "sent_at": T0, "outgoing": True, "taken": [0]}
    ack = T0 + timedelta(minutes=12)
    now = T0 + timedelta(hours=1)
    assert due_steps(**args, acknowledged_at=ack, now=now) == []  # type: ignore[arg-type]
    # An ack not yet signed as of ``now`` stops nothing.
    before = due_steps(**args, acknowledged_at=ack, now=T0 + timedelta(minutes=11))  # type: ignore[arg-type]
    assert before == []  # step 0 taken, step 1 not due before 20 minutes
    due = due_steps(**args, acknowledged_at=None, now=now)  # type: ignore[arg-type]
    assert [i for i, _ in due] == [1, 2]


def test_a_received_message_is_never_escalated_to_the_peer() -> None:
    due = due_steps(
        policy=POLICY,
        sent_at=T0,
        outgoing=False,
        acknowledged_at=None,
        taken=[],
        now=T0 + timedelta(hours=1),
    )
    assert [s.action for _, s in due] == [StepAction.REALERT, StepAction.ALERT]


def test_default_policies_step_at_one_two_and_three_times_the_deadline() -> None:
    for precedence, policy in DEFAULT_POLICIES.items():
        assert [s.after for s in policy.steps] == [DEFAULTS[precedence] * k for k in (1, 2, 3)]


@pytest.mark.parametrize(
    ("steps", "field"),
    [
        ([{"after_seconds": 5, "action": "alert"}], "steps[0].recipients"),
        ([{"after_seconds": 5, "action": "propose-fallback"}], "steps[0].mechanism"),
        ([{"after_seconds": 5, "action": "realert", "mechanism": "x"}], "steps[0].mechanism"),
        ([{"after_seconds": -1, "action": "realert"}], "steps[0].after_seconds"),
        ([{"after_seconds": 5, "action": "page"}], "steps[0].action"),
        ([{"after_seconds": 5}], "steps[0].action"),
        ("realert", "steps"),
    ],
)
def test_a_bad_policy_is_refused_naming_the_field(steps: object, field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_policy(steps)
    assert info.value.field == field
