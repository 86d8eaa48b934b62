"""Link tests over two in-memory nodes with a test clock: the schedule, the
automatic reply, the operator's answer, timeouts, figures, and the two alarms
that tell "peer node unreachable" from "reachable, nobody answered"."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from redline.core.errors import Conflict, InvalidInput, NotFound
from redline.core.statement import Statement
from redline.service.linktests import LinkTests, LinkTestSettings
from redline.store import alarms as alarm_store
from support.pair import MemoryPair
from support.pair import TestClock as Clock

SETTINGS = LinkTestSettings(
    heartbeat_interval=timedelta(minutes=60),
    heartbeat_timeout=timedelta(minutes=5),
    operator_test_time="09:00",
    operator_test_zone="Asia/Seoul",
    operator_test_timeout=timedelta(minutes=10),
)


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[MemoryPair]:
    # 08:00 UTC is 17:00 in Seoul: the day's 09:00 test is due at once.
    p = MemoryPair(tmp_path, Clock(datetime(2026, 11, 22, 8, 0, tzinfo=UTC)))
    yield p
    p.close()


def services(pair: MemoryPair) -> tuple[LinkTests, LinkTests]:
    return LinkTests(pair.us.service, SETTINGS), LinkTests(pair.prc.service, SETTINGS)


def open_alarms(tests: LinkTests) -> list[tuple[str, str, str]]:
    with tests.node.store.read() as conn:
        return sorted((a["kind"], a["peer"], a["condition"]) for a in alarm_store.open_alarms(conn))


def test_heartbeats_follow_the_interval_and_are_answered_by_the_peer_node(
    pair: MemoryPair,
) -> None:
    us, prc = services(pair)
    first = [st.kind for st in us.send_due()]
    assert first == ["heartbeat", "operator-test"]
    assert us.send_due() == []  # nothing more until the interval passes
    pair.deliver()
    assert prc.reply_to_heartbeats() == 1
    assert prc.reply_to_heartbeats() == 0  # one reply per heartbeat
    pair.clock.advance(seconds=2)
    pair.deliver()
    link = us.links("prc")[0]
    assert link["heartbeat"]["answered"] == 1
    assert link["heartbeat"]["latency_last_ms"] == 2000
    assert link["heartbeat"]["answer_rate"] == 1.0
    pair.clock.advance(minutes=59)
    assert us.send_due() == []
    pair.clock.advance(minutes=1)
    assert [st.kind for st in us.send_due()] == ["heartbeat"]


def test_the_operator_test_is_sent_once_a_day_at_its_local_time(pair: MemoryPair) -> None:
    us, _ = services(pair)

    def tests_sent() -> list[Statement]:
        return [st for st in us.send_due() if st.kind == "operator-test"]

    # A link whose test is at 18:00 in Seoul: not yet at 17:00 there.
    us.set_schedule("prc", operator_test_time="18:00")
    assert tests_sent() == []
    pair.clock.advance(minutes=59)
    assert tests_sent() == []
    pair.clock.advance(minutes=1)  # 18:00 in Seoul
    sent = tests_sent()
    assert len(sent) == 1
    assert sent[0].body["answer_by"] == "2026-11-22T09:10:00.000000Z"
    pair.clock.advance(hours=5)  # 23:00 in Seoul, same day: no second test
    assert tests_sent() == []
    pair.clock.advance(hours=1)  # 00:00 the next day in Seoul, before 18:00
    assert tests_sent() == []
    pair.clock.advance(hours=18)
    assert len(tests_sent()) == 1
    # "" turns the link's operator test off.
    us.set_schedule("prc", operator_test_time="")
    pair.clock.advance(hours=24)
    assert tests_sent() == []


def test_no_receipt_is_peer_unreachable_and_a_receipt_without_answer_is_not_answered(
    pair: MemoryPair,
) -> None:
    us, prc = services(pair)
    us.send_due()  # a heartbeat and an operator test, never delivered
    pair.clock.advance(minutes=5)
    assert us.settle_overdue() == 1  # the heartbeat's deadline; the test's is later
    assert open_alarms(us) == [("peer-unreachable", "prc", "")]
    pair.clock.advance(minutes=5)
    assert us.settle_overdue() == 1
    # One open alarm per condition: seen twice, one row.
    assert open_alarms(us) == [("peer-unreachable", "prc", "")]
    history = us.tests_page(direction="out")["tests"]
    assert {(t["kind"], t["state"], t["missed"]) for t in history} == {
        ("heartbeat", "unanswered", "unreachable"),
        ("operator-test", "unanswered", "unreachable"),
    }
    # The peer comes back: its node answers the next heartbeat, which clears
    # the unreachable alarm; its operator does not answer the next day's test.
    pair.deliver()
    prc.reply_to_heartbeats()
    pair.deliver()
    pair.clock.advance(hours=24)
    us.send_due()
    pair.deliver()
    prc.reply_to_heartbeats()
    pair.deliver()
    assert open_alarms(us) == []
    pair.clock.advance(minutes=10)
    us.settle_overdue()
    assert open_alarms(us) == [("not-answered", "prc", "operator-test")]
    link = us.links("prc")[0]
    assert link["operator-test"]["missed"] == 2
    assert link["operator-test"]["answer_rate"] == 0.0
    assert [a["kind"] for a in link["alarms"]] == ["not-answered"]
    # On the peer's side the two tests wait for (or missed) a human answer.
    assert prc.links("us")[0]["awaiting_answer"] == []  # both past their time


def test_an_operator_answer_settles_the_test_and_clears_the_alarm(pair: MemoryPair) -> None:
    us, prc = services(pair)
    us.send_due()
    pair.deliver()
    prc.reply_to_heartbeats()
    pair.deliver()
    waiting = prc.links("us")[0]["awaiting_answer"]
    assert len(waiting) == 1
    test_id = waiting[0]["id"]
    # A day's test missed first, then the next day's answered.
    pair.clock.advance(minutes=10)
    us.settle_overdue()
    assert ("not-answered", "prc", "operator-test") in open_alarms(us)
    with pytest.raises(Conflict) as missed:
        prc.answer(test_id[:12])
    assert missed.value.field == "id"
    pair.clock.advance(hours=24)
    us.send_due()
    pair.deliver()
    test_id = prc.links("us")[0]["awaiting_answer"][0]["id"]
    pair.clock.advance(minutes=3)
    answer = prc.answer(
        test_id[:10], text="duty officer present", by={"operator": "kim", "office": "mnd-ops"}
    )
    assert answer.body == {
        "test": test_id,
        "text": "duty officer present",
        "by": {"operator": "kim", "office": "mnd-ops"},
    }
    with pytest.raises(Conflict):
        prc.answer(test_id)
    pair.deliver()
    assert [a for a in open_alarms(us) if a[0] == "not-answered"] == []
    link = us.links("prc")[0]
    assert link["operator-test"]["answered"] == 1
    assert link["operator-test"]["missed"] == 1
    assert link["operator-test"]["answer_rate"] == 0.5
    assert link["operator-test"]["latency_last_ms"] == 180_000
    assert link["operator-test"]["last_answered_at"] == "2026-11-23T08:13:00.000000Z"


def test_bad_answers_and_schedules_name_the_field_and_store_nothing(pair: MemoryPair) -> None:
    us, prc = services(pair)
    us.send_due()
    pair.deliver()
    test_id = prc.links("us")[0]["awaiting_answer"][0]["id"]
    before = prc.tests_page()["tests"]
    cases = [
        (lambda: prc.answer("zz"), InvalidInput, "id"),
        (lambda: prc.answer("0" * 64), NotFound, "id"),
        (lambda: prc.answer(test_id, text="two\nlines"), InvalidInput, "body.text"),
        (lambda: prc.answer(test_id, by={"operator": ""}), InvalidInput, "body.by.operator"),
        (lambda: prc.set_schedule("prc", operator_test_time="9:00"), NotFound, "peer"),
        (
            lambda: prc.set_schedule("us", operator_test_time="24:00"),
            InvalidInput,
            "operator_test_time",
        ),
        (lambda: prc.set_schedule("us", zone="Mars/Olympus"), InvalidInput, "zone"),
        (
            lambda: prc.set_schedule("us", heartbeat_interval_seconds=0),
            InvalidInput,
            "heartbeat_interval_seconds",
        ),
        (lambda: prc.tests_page(kind="ping"), InvalidInput, "kind"),
        (lambda: prc.tests_page(cursor="nope"), InvalidInput, "cursor"),
    ]
    for act, error, field in cases:
        with pytest.raises(error) as raised:
            act()
        assert raised.value.field == field, (field, raised.value)
    assert prc.tests_page()["tests"] == before
    assert prc.links("us")[0]["schedule"]["own"] is False


def test_the_listing_pages_newest_first(pair: MemoryPair) -> None:
    us, _ = services(pair)
    sent: list[Statement] = []
    for _ in range(5):
        sent += us.send_due()
        pair.clock.advance(hours=1)
    seen: list[str] = []
    cursor = None
    while True:
        page = us.tests_page(kind="heartbeat", limit=2, cursor=cursor)
        seen += [t["id"] for t in page["tests"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == [st.id for st in reversed(sent) if st.kind == "heartbeat"]


def test_an_answer_to_a_test_never_sent_changes_nothing(pair: MemoryPair) -> None:
    us, _ = services(pair)
    us.send_due()
    pair.deliver()
    heartbeat = us.tests_page(kind="heartbeat")["tests"][0]
    before = us.links("prc")
    # The peer answers a heartbeat we never sent, and "answers" our heartbeat
    # as an operator test: neither counts.
    pair.prc.service.send(
        to="us", kind="heartbeat-reply", body={"heartbeat": "0" * 64, "nonce": "00"}
    )
    pair.prc.service.send(to="us", kind="operator-test-answer", body={"test": heartbeat["id"]})
    pair.deliver()
    assert us.links("prc") == before
    pair.clock.advance(minutes=5)
    us.settle_overdue()
    assert open_alarms(us) == [("not-answered", "prc", "heartbeat")]
