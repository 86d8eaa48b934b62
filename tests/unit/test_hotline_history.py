"""The packaged public history: it loads, every item is cited public record, and its board."""

from __future__ import annotations

import ast
import copy
import json
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

import redline.core.hotline as hotline
from redline.core.errors import InvalidInput
from redline.core.hotline.directory import Level, Precision
from redline.core.hotline.history import (
    PUBLIC_RECORD,
    Citation,
    PublicHistory,
    load_history,
    parse_history,
    parse_partial_date,
    period_end,
)
from redline.core.hotline.lifecycle import CallState, RequestState
from redline.core.hotline.mechanism import MechanismStatus

NOW = datetime(2024, 2, 1, tzinfo=UTC)
SEEDS = {
    "000_aadcc676e2fb0531.txt",
    "001_c2d313378d47ce4e.txt",
    "002_7d22b2a5a71f9bf6.txt",
    "003_81c24027c4117d39.txt",
    "004_0e5d540831718920.txt",
}


@pytest.fixture(scope="module")
def history() -> PublicHistory:
    return load_history()


def raw() -> dict[str, Any]:
    text = resources.files("redline").joinpath("data").joinpath("history.json").read_text("utf-8")
    doc: dict[str, Any] = json.loads(text)
    return doc


def test_history_loads_and_every_item_is_cited_public_record(history: PublicHistory) -> None:
    assert history.source == PUBLIC_RECORD
    assert len(history.records) > 50
    for key, record in history.records.items():
        assert record.source == PUBLIC_RECORD, key
        assert record.citations or record.note, key
        for c in record.citations:
            assert c.seed in SEEDS and c.source == PUBLIC_RECORD
    for event in history.events:
        assert event.citations and event.source == PUBLIC_RECORD
    assert {c.seed for r in history.records.values() for c in r.citations} == SEEDS


def test_the_timeline_covers_the_brief(history: PublicHistory) -> None:
    by_id = {e.id: e for e in history.events}
    assert by_id["alaska-meeting"].on == date(2021, 3, 1)
    assert by_id["alaska-meeting"].precision is Precision.MONTH
    assert by_id["blinken-wang-call"].on == date(2021, 8, 16)
    assert by_id["blinken-wang-call"].precision is Precision.DAY
    assert by_id["pelosi-suspensions"].precision is Precision.YEAR
    assert by_id["dong-appointed"].on == date(2023, 12, 1)
    assert len(history.events) == 14
    assert [e.on for e in history.events] == sorted(e.on for e in history.events)


def test_holders_li_shangfu_then_vacancy_then_dong_jun(history: PublicHistory) -> None:
    d = history.directory

    def name(day: date) -> str | None:
        h = d.holder_on("prc-mnd", day)
        return None if h is None else h.person_en

    assert name(date(2021, 6, 1)) == "Wei Fenghe"
    assert name(date(2023, 7, 1)) == "Li Shangfu"
    assert name(date(2023, 11, 1)) is None
    assert name(date(2024, 1, 9)) == "Dong Jun"
    assert d.holder_on("prc-cmc-vc", date(2021, 5, 1)).person_en == "Xu Qiliang"  # type: ignore[union-attr]
    assert d.holder_on("us-secdef", date(2021, 5, 1)).person_zh == "劳埃德·奥斯汀"  # type: ignore[union-attr]
    assert d.holder_on("prc-cfac", date(2023, 7, 1)).person_en == "Wang Yi"  # type: ignore[union-attr]
    li = history.record("holding:prc-mnd:Li Shangfu")
    assert {c.seed for c in li.citations} == {
        "002_7d22b2a5a71f9bf6.txt",
        "003_81c24027c4117d39.txt",
    }


def test_board_on_2024_02_01(history: PublicHistory) -> None:
    board = history.board(NOW)
    dpct = board.mechanism("dpct")
    assert dpct.status is MechanismStatus.RESUMED
    assert dpct.since == datetime(2024, 1, 1, tzinfo=UTC)
    assert [e.status for e in dpct.history] == [
        MechanismStatus.ACTIVE,
        MechanismStatus.SUSPENDED,
        MechanismStatus.RESUMED,
    ]
    assert dpct.history[1].at.year == 2022 and dpct.history[1].by_party == "prc"
    assert board.mechanism("attache").status is MechanismStatus.ACTIVE
    assert board.mechanism("theatre-talks").status is None

    (call,) = board.calls
    assert call.state is CallState.DECLINED and call.placed_at == datetime(2023, 2, 1, tzinfo=UTC)
    assert (call.from_office, call.to_office) == ("us-secdef", "prc-mnd")

    outcomes = {o.request_id: o for o in board.requests}
    for rid in ("austin-xu-1", "austin-xu-2", "austin-xu-3"):
        assert outcomes[rid].state is RequestState.LAPSED
        assert outcomes[rid].reason == "no response"
    assert outcomes["shangri-la-2023"].state is RequestState.DECLINED
    assert board.open_requests == ()

    prc = board.tally("prc")
    assert (prc.lapsed, prc.declined, prc.answered) == (3, 2, 0)

    assert board.level(Level.POLICY).last_contact == date(2024, 1, 1)
    assert board.level(Level.POLICY).days_since == 31
    assert board.level(Level.CHIEF_OF_DEFENCE).contact_id == "brown-liu-2023-12"
    assert board.level(Level.HEAD_OF_STATE).contact_id == "biden-xi-2023-11"
    # No formal defence ministers' meeting or call in the record: a handshake is not one.
    assert board.level(Level.DEFENCE_MINISTER).last_contact is None


def test_secdef_counterpart_is_disputed(history: PublicHistory) -> None:
    view = history.directory.counterpart_view("us-secdef")
    assert view.disputed
    assert view.view_of("us") == "prc-cmc-vc" and view.view_of("prc") == "prc-mnd"
    assert not history.directory.counterpart_view("us-cjcs").disputed


def test_board_earlier_shows_the_suspension_and_open_request(history: PublicHistory) -> None:
    board = history.board(datetime(2023, 3, 1, tzinfo=UTC))
    assert board.mechanism("dpct").status is MechanismStatus.SUSPENDED
    assert board.mechanism("mmca").status is MechanismStatus.SUSPENDED
    early = history.board(datetime(2021, 6, 1, tzinfo=UTC))
    assert {o.request_id for o in early.open_requests} == {
        "austin-xu-1",
        "austin-xu-2",
        "austin-xu-3",
    }


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d["holdings"][0].update(office="us-nowhere"), "holdings[0].office_id"),
        (lambda d: d["offices"][0].update(level="emperor"), "offices[0].level"),
        (lambda d: d["events"][0].update(cite=[]), "events[0].cite"),
        (lambda d: d["events"][0]["cite"][0].update(seed="cnn.txt"), "events[0].cite[0].seed"),
        (lambda d: d["contacts"][0].update(date="March 2021"), "contacts[0].date"),
        (lambda d: d["requests"][0].update(colour="red"), "requests[0]"),
        (lambda d: d["requests"][0].update(to_office="prc-navy"), "requests[0].to_office"),
        (lambda d: d["events"][0].update(refs=["contact:nowhere"]), "events.alaska-meeting.refs"),
        (lambda d: d.update(source="signed"), "source"),
        (lambda d: d["holdings"][0].update(end="2020"), "holdings[0].end"),
    ],
)
def test_bad_entries_are_refused_by_name(mutate: Any, field: str) -> None:
    doc = copy.deepcopy(raw())
    mutate(doc)
    with pytest.raises(InvalidInput) as info:
        parse_history(doc)
    assert info.value.field == field


def test_partial_dates() -> None:
    assert parse_partial_date("2022", "d") == (date(2022, 1, 1), Precision.YEAR)
    assert parse_partial_date("2023-12", "d") == (date(2023, 12, 1), Precision.MONTH)
    assert parse_partial_date("2021-08-16", "d") == (date(2021, 8, 16), Precision.DAY)
    assert period_end(date(2023, 12, 1), Precision.MONTH) == date(2024, 1, 1)
    assert period_end(date(2021, 1, 1), Precision.YEAR) == date(2022, 1, 1)
    for bad in ("2021-02-30", "21-08", "", 2021):
        with pytest.raises(InvalidInput):
            parse_partial_date(bad, "d")
    with pytest.raises(InvalidInput) as info:
        Citation(seed="001_c2d313378d47ce4e.txt", quote="x", source="signed")  # type: ignore[arg-type]
    assert info.value.field == "source"


FORBIDDEN = {"asyncio", "httpx", "sqlalchemy", "fastapi", "socket", "time", "random", "starlette"}


def test_hotline_core_is_sans_io() -> None:
    package = Path(hotline.__file__).parent
    for path in package.glob("*.py"):
        tree = ast.parse(path.read_text("utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Attribute):
                assert node.attr not in {"now", "utcnow", "today"}, f"{path.name} reads the clock"
                continue
            else:
                continue
            for name in names:
                assert name.split(".")[0] not in FORBIDDEN, f"{path.name} imports {name}"
