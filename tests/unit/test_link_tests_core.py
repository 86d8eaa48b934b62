"""The link tests' pure core: bodies, the daily time, the schedule, why a test
was missed, and the figures."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from redline.core.errors import ConfigError, InvalidInput, InvalidStatement
from redline.core.hotline.lifecycle import LinkTestAction, LinkTestState
from redline.core.linktests import (
    LinkTestAlarm,
    LinkTestRow,
    Missed,
    figures,
    heartbeat_due,
    missed_because,
    next_state,
    operator_test_day,
    parse_test_time,
)
from redline.core.registry import validate_body
from redline.node import NodeConfig

T0 = datetime(2026, 11, 22, 0, 0, tzinfo=UTC)
HEX = "ab" * 32


def test_missed_tells_no_transport_from_nobody_answering() -> None:
    assert missed_because(delivered=False) is Missed.UNREACHABLE
    assert missed_because(delivered=True) is Missed.NOT_ANSWERED
    assert {a.value for a in LinkTestAlarm} == {"peer-unreachable", "not-answered"}


def test_a_settled_test_cannot_move_again() -> None:
    assert next_state("sent", LinkTestAction.ANSWER) is LinkTestState.ANSWERED
    assert next_state("sent", LinkTestAction.TIMEOUT) is LinkTestState.UNANSWERED
    with pytest.raises(InvalidInput):
        next_state("unanswered", LinkTestAction.ANSWER)


def test_heartbeat_due_after_the_interval() -> None:
    hour = timedelta(hours=1)
    assert heartbeat_due(last_sent=None, interval=hour, now=T0)
    assert not heartbeat_due(last_sent=T0, interval=hour, now=T0 + hour - timedelta(seconds=1))
    assert heartbeat_due(last_sent=T0, interval=hour, now=T0 + hour)


def test_the_operator_test_day_is_local() -> None:
    seoul = ZoneInfo("Asia/Seoul")
    nine = time(9, 0)
    # 23:30 UTC on the 21st is 08:30 on the 22nd in Seoul: not yet.
    early = datetime(2026, 11, 21, 23, 30, tzinfo=UTC).astimezone(seoul)
    assert operator_test_day(local_now=early, at=nine, last_day=None) is None
    on_time = (early + timedelta(minutes=30)).astimezone(seoul)
    assert operator_test_day(local_now=on_time, at=nine, last_day=None) == date(2026, 11, 22)
    assert operator_test_day(local_now=on_time, at=nine, last_day=date(2026, 11, 22)) is None
    assert operator_test_day(local_now=on_time, at=None, last_day=None) is None


@pytest.mark.parametrize("bad", ["9:00", "24:00", "12:60", "noon", " 09:00"])
def test_a_bad_daily_time_is_refused_naming_the_field(bad: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        parse_test_time(bad)
    assert raised.value.field == "operator_test_time"
    assert parse_test_time("23:59") == time(23, 59)
    assert parse_test_time("") is None


def test_figures() -> None:
    rows = [
        LinkTestRow(
            state=LinkTestState.ANSWERED, sent_at=T0, answered_at=T0 + timedelta(seconds=1)
        ),
        LinkTestRow(
            state=LinkTestState.ANSWERED,
            sent_at=T0 + timedelta(hours=1),
            answered_at=T0 + timedelta(hours=1, seconds=3),
        ),
        LinkTestRow(
            state=LinkTestState.ANSWERED,
            sent_at=T0 + timedelta(hours=2),
            answered_at=T0 + timedelta(hours=2, seconds=2),
        ),
        LinkTestRow(state=LinkTestState.UNANSWERED, sent_at=T0 + timedelta(hours=3)),
        LinkTestRow(state=LinkTestState.SENT, sent_at=T0 + timedelta(hours=4)),
    ]
    f = figures(rows)
    assert (f.sent, f.answered, f.missed, f.pending) == (5, 3, 1, 1)
    assert f.answer_rate == 0.75
    assert f.latency_p50_ms == 2000
    assert f.latency_last_ms == 2000
    assert f.last_answered_at == T0 + timedelta(hours=2, seconds=2)
    empty = figures([])
    assert (empty.answer_rate, empty.latency_p50_ms, empty.last_answered_at) == (None, None, None)


def test_bodies_are_checked_and_name_the_field() -> None:
    reply = validate_body("heartbeat-reply", {"heartbeat": HEX, "nonce": "00ff"})
    assert reply.wire() == {"heartbeat": HEX, "nonce": "00ff"}
    answer = validate_body("operator-test-answer", {"test": HEX, "by": {"operator": "kim"}})
    assert answer.wire() == {"test": HEX, "by": {"operator": "kim"}}
    bad = [
        ("heartbeat-reply", {"heartbeat": "x", "nonce": "1"}, "body.heartbeat"),
        ("operator-test", {"nonce": "00", "answer_by": "tomorrow"}, "body.answer_by"),
        (
            "operator-test",
            {"nonce": "NOT HEX", "answer_by": "2026-11-22T00:00:00.000000Z"},
            "body.nonce",
        ),
        ("operator-test-answer", {"test": HEX, "text": "a\u202eb"}, "body.text"),
        ("operator-test-answer", {"test": HEX, "extra": 1}, "body.extra"),
    ]
    for kind, body, field in bad:
        with pytest.raises(InvalidStatement) as raised:
            validate_body(kind, body)
        assert raised.value.field == field, (kind, body)


def test_an_interval_of_zero_schedules_no_heartbeat() -> None:
    assert not heartbeat_due(last_sent=None, interval=timedelta(0), now=T0)


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("link_test_interval_seconds", 0.5),
        ("link_test_timeout_seconds", 0),
        ("operator_test_timeout_seconds", float("nan")),
        ("operator_test_time", "9am"),
        ("operator_test_zone", "Moon/Base"),
    ],
)
def test_a_bad_link_test_setting_is_named(setting: str, value: object) -> None:
    with pytest.raises(ConfigError) as raised:
        NodeConfig.from_toml({"party": "us", "name": "US", setting: value})
    assert raised.value.field == setting
    config = NodeConfig.from_toml(
        {"party": "us", "name": "US", "link_test_interval_seconds": 0, "operator_test_time": ""}
    )
    assert (config.link_test_interval_seconds, config.operator_test_time) == (0, "")
