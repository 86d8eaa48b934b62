"""Directory: parties, offices, holders over time, counterpart declarations."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from redline.core.errors import Conflict, InvalidInput, NotFound
from redline.core.hotline.directory import (
    CounterpartDeclaration,
    Directory,
    Holding,
    Level,
    Office,
    Party,
    counterpart_view,
    holder_on,
    holders_on,
)

US = Party(id="us", name_en="United States", name_zh="美国", time_zone="America/New_York")
PRC = Party(id="prc", name_en="China", name_zh="中国", time_zone="Asia/Shanghai")
SECDEF = Office(
    id="us-secdef",
    party="us",
    title_en="Secretary of Defense",
    title_zh="国防部长",
    level=Level.DEFENCE_MINISTER,
)
MND = Office(
    id="prc-mnd",
    party="prc",
    title_en="Minister of National Defense",
    title_zh="国防部长",
    level=Level.DEFENCE_MINISTER,
)
CMC_VC = Office(
    id="prc-cmc-vc",
    party="prc",
    title_en="Vice Chairman, CMC",
    title_zh="中央军委副主席",
    level=Level.CMC_VICE_CHAIRMAN,
)
LI = Holding(
    office_id="prc-mnd",
    person_en="Li Shangfu",
    person_zh="李尚福",
    start=date(2023, 3, 12),
    end=date(2023, 10, 24),
)
DONG = Holding(
    office_id="prc-mnd", person_en="Dong Jun", person_zh="董军", start=date(2023, 12, 29)
)
US_VIEW = CounterpartDeclaration(
    declaring_party="us", own_office="us-secdef", counterpart_office="prc-cmc-vc"
)
PRC_VIEW = CounterpartDeclaration(
    declaring_party="prc", own_office="prc-mnd", counterpart_office="us-secdef"
)


def directory(**kw: object) -> Directory:
    args: dict[str, object] = {
        "parties": (US, PRC),
        "offices": (SECDEF, MND, CMC_VC),
        "holdings": (LI, DONG),
        "declarations": (US_VIEW, PRC_VIEW),
    }
    args.update(kw)
    return Directory(**args)  # type: ignore[arg-type]


def test_level_rank_follows_the_declared_order() -> None:
    assert Level.HEAD_OF_STATE.rank == 0
    assert Level.WORKING_LEVEL.rank == len(Level) - 1
    assert [lv.rank for lv in Level] == sorted(lv.rank for lv in Level)
    assert Level.FOREIGN_MINISTER.rank < Level.DEFENCE_MINISTER.rank < Level.POLICY.rank


def test_party_refuses_unknown_time_zone_and_bad_id() -> None:
    with pytest.raises(InvalidInput) as info:
        Party(id="us", name_en="US", name_zh="美国", time_zone="Mars/Olympus_Mons")
    assert info.value.field == "time_zone"
    with pytest.raises(InvalidInput) as info:
        Party(id="US!", name_en="US", name_zh="美国", time_zone="UTC")
    assert info.value.field == "id"


def test_office_refuses_unknown_level_and_bad_seats() -> None:
    with pytest.raises(InvalidInput) as info:
        Office(id="x", party="us", title_en="X", title_zh="X", level="admiral")  # type: ignore[arg-type]
    assert info.value.field == "level"
    with pytest.raises(InvalidInput) as info:
        Office(id="x", party="us", title_en="X", title_zh="X", level=Level.POLICY, seats=0)
    assert info.value.field == "seats"
    assert Office(id="x", party="us", title_en="X", title_zh="X", level="policy").level is (  # type: ignore[arg-type]
        Level.POLICY
    )


def test_holding_end_must_follow_start() -> None:
    with pytest.raises(InvalidInput) as info:
        Holding(
            office_id="prc-mnd",
            person_en="A",
            person_zh="甲",
            start=date(2023, 1, 2),
            end=date(2023, 1, 2),
        )
    assert info.value.field == "end"


def test_holder_changes_over_time_li_then_vacancy_then_dong() -> None:
    holdings = (LI, DONG)
    assert holder_on("prc-mnd", date(2023, 3, 11), holdings) is None
    assert holder_on("prc-mnd", date(2023, 3, 12), holdings) is LI
    assert holder_on("prc-mnd", date(2023, 10, 23), holdings) is LI
    assert holder_on("prc-mnd", date(2023, 10, 24), holdings) is None  # the post stood open
    assert holder_on("prc-mnd", date(2023, 12, 29), holdings) is DONG
    assert holder_on("prc-mnd", date(2030, 1, 1), holdings) is DONG
    assert holder_on("us-secdef", date(2023, 6, 1), holdings) is None
    assert directory().holder_on("prc-mnd", date(2024, 1, 9)) is DONG


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 1, 1)))
def test_at_most_one_holder_of_a_single_seat_office(day: date) -> None:
    found = holders_on("prc-mnd", day, (LI, DONG))
    assert len(found) <= 1
    assert (holder_on("prc-mnd", day, (LI, DONG)) is not None) == bool(found)


def test_overlapping_holders_refused_for_single_seat_office() -> None:
    overlap = Holding(office_id="prc-mnd", person_en="X", person_zh="某", start=date(2023, 5, 1))
    with pytest.raises(InvalidInput, match="1 seat"):
        directory(holdings=(LI, overlap))
    with pytest.raises(Conflict, match="2 holders"):
        holder_on("prc-mnd", date(2023, 6, 1), (LI, overlap))
    seats = Office(
        id="prc-mnd",
        party="prc",
        title_en="Minister",
        title_zh="部长",
        level=Level.DEFENCE_MINISTER,
        seats=2,
    )
    d = directory(offices=(SECDEF, seats, CMC_VC), holdings=(LI, overlap))
    assert len(holders_on("prc-mnd", date(2023, 6, 1), d.holdings)) == 2


def test_counterpart_mismatch_is_flagged_not_resolved() -> None:
    view = counterpart_view("us-secdef", (US_VIEW, PRC_VIEW))
    assert view.disputed
    assert view.view_of("us") == "prc-cmc-vc"
    assert view.view_of("prc") == "prc-mnd"
    # The CMC Vice Chairman's counterpart: only the US has a view.
    one_sided = counterpart_view("prc-cmc-vc", (US_VIEW, PRC_VIEW))
    assert one_sided.views == (("us", "us-secdef"),) and not one_sided.disputed


def test_counterpart_agreement_is_not_disputed() -> None:
    prc_agrees = CounterpartDeclaration(
        declaring_party="prc", own_office="prc-cmc-vc", counterpart_office="us-secdef"
    )
    view = counterpart_view("us-secdef", (US_VIEW, prc_agrees))
    assert not view.disputed
    assert dict(view.views) == {"us": "prc-cmc-vc", "prc": "prc-cmc-vc"}


def test_a_party_cannot_declare_two_counterparts_for_one_office() -> None:
    other = CounterpartDeclaration(
        declaring_party="us", own_office="us-secdef", counterpart_office="prc-mnd"
    )
    with pytest.raises(InvalidInput, match="two counterparts"):
        counterpart_view("us-secdef", (US_VIEW, other))


def test_directory_checks_declarations_against_offices() -> None:
    wrong_side = CounterpartDeclaration(
        declaring_party="us", own_office="prc-mnd", counterpart_office="us-secdef"
    )
    with pytest.raises(InvalidInput) as info:
        directory(declarations=(wrong_side,))
    assert info.value.field == "declarations[0].own_office"
    same_side = CounterpartDeclaration(
        declaring_party="prc", own_office="prc-mnd", counterpart_office="prc-cmc-vc"
    )
    with pytest.raises(InvalidInput) as info:
        directory(declarations=(same_side,))
    assert info.value.field == "declarations[0].counterpart_office"
    with pytest.raises(InvalidInput):
        CounterpartDeclaration(declaring_party="us", own_office="a", counterpart_office="a")


def test_directory_refuses_unknown_references() -> None:
    with pytest.raises(InvalidInput) as info:
        directory(
            holdings=(
                Holding(office_id="nope", person_en="A", person_zh="甲", start=date(2021, 1, 1)),
            )
        )
    assert info.value.field == "holdings[0].office_id"
    stray = Office(id="x", party="uk", title_en="X", title_zh="X", level=Level.POLICY)
    with pytest.raises(InvalidInput) as info:
        directory(offices=(SECDEF, stray))
    assert info.value.field == "offices[1].party"
    with pytest.raises(InvalidInput, match="repeated office"):
        directory(offices=(SECDEF, SECDEF))
    with pytest.raises(NotFound):
        directory().office("prc-navy")
    with pytest.raises(NotFound):
        directory().party("uk")
    assert directory().counterpart_view("us-secdef").disputed


def test_holdings_are_half_open() -> None:
    assert LI.covers(LI.start) and not LI.covers(LI.end or LI.start)
    assert not LI.covers(LI.start - timedelta(days=1))
