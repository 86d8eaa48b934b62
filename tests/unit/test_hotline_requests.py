"""Engagement requests: validation, responses, lapse at the deadline with an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from redline.core.errors import Conflict, InvalidInput
from redline.core.hotline.directory import Directory, Level, Office, Party
from redline.core.hotline.lifecycle import RequestAction, RequestState
from redline.core.hotline.mechanism import Mechanism, MechanismKind
from redline.core.hotline.requests import (
    NO_RESPONSE,
    Counter,
    EngagementRequest,
    Mode,
    Response,
    Window,
    counter_request,
    due,
    propose,
    request_outcome,
    request_state,
)

NOW = datetime(2021, 4, 1, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
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
            id="us-cjcs",
            party="us",
            title_en="CJCS",
            title_zh="参联会主席",
            level=Level.CHIEF_OF_DEFENCE,
        ),
        Office(
            id="prc-mnd",
            party="prc",
            title_en="MND",
            title_zh="国防部长",
            level=Level.DEFENCE_MINISTER,
        ),
        Office(
            id="prc-cmc-vc",
            party="prc",
            title_en="CMC VC",
            title_zh="军委副主席",
            level=Level.CMC_VICE_CHAIRMAN,
        ),
    ),
)
DTL = Mechanism(
    id="dtl",
    name_en="Defense Telephone Link",
    name_zh="国防部直通电话",
    kind=MechanismKind.CALL,
    offices=("us-secdef", "prc-mnd"),
    response_window=timedelta(hours=48),
)
W1 = Window(start=NOW + 24 * H, end=NOW + 25 * H)
W2 = Window(start=NOW + 30 * H, end=NOW + 31 * H)


def ask(**kw: object) -> EngagementRequest:
    args: dict[str, object] = {
        "id": "austin-xu-1",
        "from_office": "us-secdef",
        "to_office": "prc-cmc-vc",
        "mechanism": "dtl",
        "mode": Mode.CALL,
        "windows": (W1, W2),
        "now": NOW,
        "directory": DIR,
        "mechanisms": (DTL,),
        "agenda": ("Risk reduction",),
        "notes": ("PRC protocol offers the Minister of National Defense instead",),
    }
    args.update(kw)
    return propose(**args)  # type: ignore[arg-type]


def reply(action: RequestAction, at: datetime, by: str = "prc", **kw: object) -> Response:
    return Response(request_id="austin-xu-1", action=action, by_party=by, at=at, **kw)  # type: ignore[arg-type]


def test_propose_takes_parties_from_the_directory_and_deadline_from_the_mechanism() -> None:
    r = ask()
    assert (r.from_party, r.to_party) == ("us", "prc")
    assert r.deadline == NOW + timedelta(hours=48)
    assert r.proposed_at == NOW
    assert request_state(r, (), NOW) is RequestState.PROPOSED


@pytest.mark.parametrize("field", ["from_office", "to_office"])
def test_unknown_office_is_refused(field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        ask(**{field: "prc-navy"})
    assert info.value.field == field
    assert "unknown office" in info.value.message


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"windows": ()}, "windows"),
        ({"windows": (Window(start=NOW - H, end=NOW + H),)}, "windows[0]"),
        ({"deadline": NOW}, "deadline"),
        ({"deadline": NOW - H}, "deadline"),
        ({"mechanism": "hotline-9"}, "mechanism"),
        ({"to_office": "us-cjcs"}, "to_office"),
        ({"to_office": "us-secdef"}, "to_office"),
        ({"mode": "telegram"}, "mode"),
        ({"now": datetime(2021, 4, 1, 12, 0)}, "now"),
        ({"agenda": ("",)}, "agenda[0]"),
    ],
)
def test_request_validation_names_the_field(kw: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        ask(**kw)
    assert info.value.field == field


def test_window_end_must_follow_start() -> None:
    with pytest.raises(InvalidInput) as info:
        Window(start=NOW, end=NOW)
    assert info.value.field == "end"


def test_lapse_at_deadline_with_an_injected_clock() -> None:
    r = ask(deadline=NOW + 10 * H)
    assert request_state(r, (), NOW + 10 * H - timedelta(microseconds=1)) is RequestState.PROPOSED
    out = request_outcome(r, (), NOW + 10 * H)
    assert out.state is RequestState.LAPSED
    assert out.reason == NO_RESPONSE and out.at == r.deadline and out.by_party is None


@given(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=10)))
def test_lapsed_exactly_when_now_reaches_the_deadline(offset: timedelta) -> None:
    r = ask()
    now = NOW + offset
    expected = RequestState.LAPSED if now >= r.deadline else RequestState.PROPOSED
    assert request_state(r, (), now) is expected


def test_accept_decline_withdraw() -> None:
    r = ask()
    at = NOW + H
    accepted = request_outcome(r, [reply(RequestAction.ACCEPT, at, window=W2)], NOW + 2 * H)
    assert accepted.state is RequestState.ACCEPTED and accepted.window == W2
    declined = request_outcome(
        r, [reply(RequestAction.DECLINE, at, reason="not the appropriate counterpart")], NOW + 2 * H
    )
    assert declined.state is RequestState.DECLINED and declined.by_party == "prc"
    withdrawn = request_state(r, [reply(RequestAction.WITHDRAW, at, by="us")], NOW + 2 * H)
    assert withdrawn is RequestState.WITHDRAWN
    # A decided request does not lapse later.
    assert request_state(r, [reply(RequestAction.ACCEPT, at, window=W1)], NOW + 99 * H) is (
        RequestState.ACCEPTED
    )


def test_response_events_for_other_requests_are_ignored() -> None:
    other = Response(
        request_id="other", action=RequestAction.DECLINE, by_party="prc", at=NOW + H, reason="no"
    )
    assert request_state(ask(), [other], NOW + 2 * H) is RequestState.PROPOSED


def test_response_validation() -> None:
    with pytest.raises(InvalidInput) as info:
        reply(RequestAction.DECLINE, NOW + H)
    assert info.value.field == "reason"
    with pytest.raises(InvalidInput) as info:
        reply(RequestAction.ACCEPT, NOW + H)
    assert info.value.field == "window"
    with pytest.raises(InvalidInput) as info:
        reply(RequestAction.COUNTER, NOW + H)
    assert info.value.field == "counter"
    with pytest.raises(InvalidInput) as info:
        reply(RequestAction.LAPSE, NOW + H)
    assert info.value.field == "action"


def test_accepting_a_window_that_was_not_proposed_is_refused() -> None:
    other = Window(start=NOW + 40 * H, end=NOW + 41 * H)
    with pytest.raises(InvalidInput) as info:
        request_state(ask(), [reply(RequestAction.ACCEPT, NOW + H, window=other)], NOW + 2 * H)
    assert info.value.field == "window"


@pytest.mark.parametrize(
    ("action", "kw"),
    [
        (RequestAction.ACCEPT, {"window": W1}),
        (RequestAction.DECLINE, {"reason": "no"}),
    ],
)
def test_response_from_a_party_that_was_not_asked(
    action: RequestAction, kw: dict[str, object]
) -> None:
    with pytest.raises(InvalidInput) as info:
        request_state(ask(), [reply(action, NOW + H, by="us", **kw)], NOW + 2 * H)
    assert info.value.field == "by_party"
    assert "us was not asked: only prc can respond" in info.value.message


def test_only_the_requester_can_withdraw() -> None:
    with pytest.raises(InvalidInput, match="only the requester"):
        request_state(ask(), [reply(RequestAction.WITHDRAW, NOW + H, by="prc")], NOW + 2 * H)


@pytest.mark.parametrize(
    ("action", "by", "kw"),
    [
        (RequestAction.ACCEPT, "prc", {"window": W1}),
        (RequestAction.DECLINE, "prc", {"reason": "too late"}),
        (RequestAction.WITHDRAW, "us", {}),
    ],
)
def test_response_to_a_lapsed_request_is_a_conflict(
    action: RequestAction, by: str, kw: dict[str, object]
) -> None:
    r = ask(deadline=NOW + 10 * H)
    late = reply(action, NOW + 10 * H, by=by, **kw)
    with pytest.raises(Conflict) as info:
        request_state(r, [late], NOW + 11 * H)
    assert "'lapsed'" in info.value.message


def test_second_response_to_a_decided_request_is_a_conflict() -> None:
    events = [
        reply(RequestAction.DECLINE, NOW + H, reason="no"),
        reply(RequestAction.ACCEPT, NOW + 2 * H, window=W1),
    ]
    with pytest.raises(Conflict, match="'declined'"):
        request_state(ask(), events, NOW + 3 * H)


def test_events_after_now_or_before_the_request_are_refused() -> None:
    with pytest.raises(InvalidInput, match="after now"):
        request_state(ask(), [reply(RequestAction.DECLINE, NOW + 5 * H, reason="no")], NOW + H)
    with pytest.raises(InvalidInput, match="before the request"):
        request_state(ask(), [reply(RequestAction.DECLINE, NOW - H, reason="no")], NOW + H)


def test_counter_creates_a_new_proposal_from_the_other_side() -> None:
    r = ask()
    w = Window(start=NOW + 50 * H, end=NOW + 51 * H)
    c = Counter(
        new_request_id="wei-austin-1",
        offered_office="prc-mnd",
        windows=(w,),
        deadline=NOW + 40 * H,
        note="The Minister of National Defense is the counterpart by protocol",
    )
    resp = reply(RequestAction.COUNTER, NOW + H, counter=c)
    assert request_state(r, [resp], NOW + 2 * H) is RequestState.COUNTERED
    new = counter_request(r, resp, directory=DIR)
    assert (new.from_office, new.to_office) == ("prc-mnd", "us-secdef")
    assert (new.from_party, new.to_party) == ("prc", "us")
    assert new.in_reply_to == r.id and new.proposed_at == NOW + H and new.windows == (w,)
    # The US answers the counter: its own responses are now the addressed party's.
    ok = Response(
        request_id="wei-austin-1",
        action=RequestAction.ACCEPT,
        by_party="us",
        at=NOW + 3 * H,
        window=w,
    )
    assert request_state(new, [ok], NOW + 4 * H) is RequestState.ACCEPTED


def test_counter_must_offer_an_office_of_the_addressed_party() -> None:
    r = ask()
    c = Counter(new_request_id="x", offered_office="us-cjcs", windows=(W1,), deadline=NOW + 40 * H)
    with pytest.raises(InvalidInput) as info:
        counter_request(r, reply(RequestAction.COUNTER, NOW + H, counter=c), directory=DIR)
    assert info.value.field == "offered_office"
    past = Counter(
        new_request_id="x",
        offered_office="prc-mnd",
        windows=(Window(start=NOW, end=NOW + H),),
        deadline=NOW + 40 * H,
    )
    with pytest.raises(InvalidInput) as info:
        counter_request(r, reply(RequestAction.COUNTER, NOW + H, counter=past), directory=DIR)
    assert info.value.field == "windows[0]"


def test_due_lists_lapsed_and_open_requests_by_deadline() -> None:
    early = ask(id="a", deadline=NOW + 5 * H)
    late = ask(id="b", deadline=NOW + 20 * H)
    answered = ask(id="c", deadline=NOW + 30 * H)
    events = [
        Response(
            request_id="c", action=RequestAction.DECLINE, by_party="prc", at=NOW + H, reason="no"
        )
    ]
    items = due([late, answered, early], events, NOW + 6 * H)
    assert [(i.request_id, i.state) for i in items] == [
        ("a", RequestState.LAPSED),
        ("b", RequestState.PROPOSED),
    ]
    assert items[0].time_left == timedelta(0)
    assert items[1].time_left == 14 * H
