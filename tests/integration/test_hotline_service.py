"""The hotline service in process: two nodes on SQLite, statements carried by hand.

Each side is a real NodeService + HotlineService over its own database; the
"network" is :func:`carry`, which hands one side's outbox to the other's
``receive`` and brings the receipts back, as the link would. The clock is
injected, so deadlines and ring timeouts pass without sleeping.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from redline.core.errors import (
    Conflict,
    InvalidInput,
    InvalidStatement,
    NotFound,
    RedlineError,
)
from redline.core.statement import Statement, format_time
from redline.service.hotline import parse_window
from support.hotline import Clock, Side, carry, hotline_sides, sync


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sides(tmp_path: Path, clock: Clock) -> Iterator[tuple[Side, Side]]:
    with hotline_sides(tmp_path, clock) as made:
        yield made["us"], made["prc"]


def window(clock: Clock, hours: int = 24) -> str:
    start = clock.now + timedelta(hours=hours)
    return f"{start.isoformat()}/{(start + timedelta(hours=1)).isoformat()}"


def ask(us: Side, clock: Clock, **kw: object) -> str:
    args: dict[str, object] = {
        "from_office": "us-secdef",
        "to_office": "prc-mnd",
        "mechanism": "dtl",
        "mode": "call",
        "windows": [parse_window(window(clock), "window")],
    }
    args.update(kw)
    st = us.hotline.request(**args)  # type: ignore[arg-type]
    return str(st.body["id"])


def _stamp(moment: datetime) -> str:
    return format_time(moment)


def request_line(side: Side, request_id: str) -> dict[str, object]:
    return next(r for r in side.hotline.board()["requests"] if r["id"] == request_id)


def refuses(side: Side, exc: type[RedlineError], field: str, act: object) -> RedlineError:
    before = side.count()
    with pytest.raises(exc) as info:
        act()  # type: ignore[operator]
    assert info.value.field == field, info.value
    assert side.count() == before, "something was stored on error"
    return info.value


# -- bad input changes nothing -------------------------------------------------------


def test_unknown_office_is_refused(sides: tuple[Side, Side], clock: Clock) -> None:
    us, _prc = sides
    refuses(us, InvalidInput, "to_office", lambda: ask(us, clock, to_office="prc-nobody"))
    refuses(us, InvalidInput, "from_office", lambda: ask(us, clock, from_office="us-nobody"))
    # An office of the wrong side is refused too: the US cannot ask for the PRC.
    refuses(us, InvalidInput, "from_office", lambda: ask(us, clock, from_office="prc-mnd"))


def test_window_in_the_past_is_refused(sides: tuple[Side, Side], clock: Clock) -> None:
    us, _prc = sides
    past = parse_window(window(clock, hours=-2), "window")
    err = refuses(us, InvalidInput, "windows[0]", lambda: ask(us, clock, windows=[past]))
    assert "in the past" in str(err)


def test_response_to_a_lapsed_request_is_refused(sides: tuple[Side, Side], clock: Clock) -> None:
    us, prc = sides
    rid = ask(us, clock, deadline=clock.now + timedelta(hours=1))
    sync(us, prc)
    clock.advance(hours=2)
    w = parse_window(window(clock, hours=-2 + 24), "w")
    err = refuses(prc, Conflict, "request_id", lambda: prc.hotline.respond(rid, accept=w))
    assert "lapsed" in str(err) and "no response" in str(err)


def test_response_from_a_party_that_was_not_asked(sides: tuple[Side, Side], clock: Clock) -> None:
    us, prc = sides
    rid = ask(us, clock)
    sync(us, prc)
    err = refuses(us, Conflict, "request_id", lambda: us.hotline.respond(rid, decline="no"))
    assert "us was not asked" in str(err)


def test_other_bad_responses(sides: tuple[Side, Side], clock: Clock) -> None:
    us, prc = sides
    rid = ask(us, clock)
    sync(us, prc)
    refuses(prc, NotFound, "request_id", lambda: prc.hotline.respond("nope", decline="no"))
    not_proposed = parse_window(window(clock, hours=30), "w")
    refuses(prc, InvalidInput, "window", lambda: prc.hotline.respond(rid, accept=not_proposed))
    refuses(prc, InvalidInput, "action", lambda: prc.hotline.respond(rid))
    prc.hotline.respond(rid, decline="Not the appropriate counterpart")
    refuses(prc, Conflict, "request_id", lambda: prc.hotline.respond(rid, decline="again"))
    refuses(prc, Conflict, "request_id", lambda: prc.hotline.withdraw(rid))


# -- refused on receipt: nothing stored ------------------------------------------------


def test_a_late_response_is_refused_on_receipt(sides: tuple[Side, Side], clock: Clock) -> None:
    us, prc = sides
    rid = ask(us, clock, deadline=clock.now + timedelta(hours=1))
    sync(us, prc)
    clock.advance(hours=2)
    # The PRC node bypasses its own hotline checks and signs a late acceptance.
    late = prc.node.send(
        to="us", kind="response", body={"request": rid, "action": "decline", "reason": "late"}
    )
    before = us.count()
    with pytest.raises(InvalidStatement) as info:
        us.node.receive("prc", [late])
    assert info.value.field == "body.request" and "lapsed" in str(info.value)
    assert us.count() == before


def test_a_response_from_the_requester_is_refused_on_receipt(
    sides: tuple[Side, Side], clock: Clock
) -> None:
    us, prc = sides
    st = prc.hotline.request(
        from_office="prc-mnd",
        to_office="us-secdef",
        mechanism="dtl",
        mode="call",
        windows=[parse_window(window(clock), "w")],
    )
    sync(us, prc)
    own = prc.node.send(
        to="us",
        kind="response",
        body={"request": st.body["id"], "action": "decline", "reason": "x"},
    )
    before = us.count()
    with pytest.raises(InvalidStatement) as info:
        us.node.receive("prc", [own])
    assert info.value.field == "body.request" and "not asked" in str(info.value)
    assert us.count() == before


# -- outcomes, agreed by both sides ------------------------------------------------------


def test_accept_decline_and_lapse_agree_on_both_sides(
    sides: tuple[Side, Side], clock: Clock
) -> None:
    us, prc = sides
    accepted = ask(us, clock)
    declined = ask(us, clock)
    lapsing = ask(us, clock, deadline=clock.now + timedelta(minutes=5))
    sync(us, prc)
    chosen = prc.hotline.record().requests[accepted].windows[0]
    prc.hotline.respond(accepted, accept=chosen)
    prc.hotline.respond(declined, decline="The balloon")
    sync(us, prc)
    clock.advance(minutes=10)
    lapses = us.hotline.record_due()
    assert [s.kind for s in lapses] == ["request-lapsed"]
    assert us.hotline.record_due() == []  # recorded once
    sync(us, prc)
    for side in (us, prc):
        assert request_line(side, accepted)["state"] == "accepted"
        line = request_line(side, declined)
        assert (line["state"], line["reason"]) == ("declined", "The balloon")
        line = request_line(side, lapsing)
        assert (line["state"], line["reason"]) == ("lapsed", "no response")
        assert line["lapse_recorded_by"] == lapses[0].id
        tally = next(t for t in side.hotline.board()["tallies"] if t["party"] == "prc")
        assert (tally["answered"], tally["declined"], tally["lapsed"]) == (1, 1, 1)


def test_a_withdrawal_crossing_an_acceptance_is_folded_not_refused(
    sides: tuple[Side, Side], clock: Clock
) -> None:
    us, prc = sides
    rid = ask(us, clock)
    sync(us, prc)
    withdrawal = us.hotline.withdraw(rid)
    chosen = prc.hotline.record().requests[rid].windows[0]
    acceptance = prc.hotline.respond(rid, accept=chosen)  # PRC has not seen the withdrawal
    sync(us, prc)
    for side in (us, prc):
        board = side.hotline.board()
        assert request_line(side, rid)["state"] == "withdrawn"
        refused = {r["statement_id"]: r["reason"] for r in board["refused"]}
        assert acceptance.id in refused and withdrawal.id not in refused


def test_a_message_crossing_a_hang_up_is_folded_not_refused(
    sides: tuple[Side, Side], clock: Clock
) -> None:
    """The link delivers in order: a message refused on receipt would hold up
    everything its sender queued after it, for good."""
    us, prc = sides
    call = us.hotline.place_call(from_office="us-secdef", to_office="prc-mnd", mechanism="dtl")
    cid = str(call.body["id"])
    sync(us, prc)
    prc.hotline.call_event(cid, "answer")
    sync(us, prc)
    hang_up = us.hotline.call_event(cid, "end")
    said = prc.hotline.say(cid, "One more thing.")  # PRC has not seen the hang-up
    after = prc.node.send_message(to="us", precedence="routine", subject="Later", text="x")
    sync(us, prc)
    for side in (us, prc):
        assert side.node.status()["outbox"] == 0
        refused = {r["statement_id"]: r["reason"] for r in side.hotline.board()["refused"]}
        assert said.id in refused and hang_up.id not in refused
        assert "not open for messages" in refused[said.id]
    assert after.id in {m["id"] for m in us.node.messages()}
    # Once PRC has the hang-up, a message after it is its own mistake: refused at once.
    refuses(prc, Conflict, "call_id", lambda: prc.hotline.say(cid, "Hello?"))


def test_counter_makes_a_new_request_back(sides: tuple[Side, Side], clock: Clock) -> None:
    us, prc = sides
    rid = ask(us, clock, to_office="prc-mnd")
    sync(us, prc)
    w = parse_window(window(clock, hours=48), "w")
    st = prc.hotline.respond(rid, counter_office="prc-mnd", counter_windows=[w])
    sync(us, prc)
    new_id = st.body["counter"]["id"]
    assert request_line(us, rid)["state"] == "countered"
    assert request_line(us, new_id)["in_reply_to"] == rid
    us.hotline.respond(new_id, accept=w)
    sync(us, prc)
    assert request_line(prc, new_id)["state"] == "accepted"


def test_calls_answered_declined_missed(sides: tuple[Side, Side], clock: Clock) -> None:
    us, prc = sides

    def ring(timeout: int = 120) -> str:
        return str(
            us.hotline.place_call(
                from_office="us-secdef", to_office="prc-mnd", mechanism="dtl", ring_timeout=timeout
            ).body["id"]
        )

    answered, declined, missed = ring(), ring(), ring(timeout=5)
    sync(us, prc)
    prc.hotline.call_event(answered, "answer")
    prc.hotline.call_event(declined, "decline", reason="Would acknowledge tension")
    sync(us, prc)
    us.hotline.say(answered, "We propose a call on the incident.")
    sync(us, prc)
    prc.hotline.say(answered, "收到。", lang="zh")
    clock.advance(seconds=30)
    prc.hotline.call_event(answered, "end")
    sync(us, prc)
    refuses(prc, Conflict, "call_id", lambda: prc.hotline.call_event(missed, "answer"))
    refuses(us, Conflict, "call_id", lambda: us.hotline.say(declined, "hello?"))
    refuses(us, Conflict, "call_id", lambda: us.hotline.call_event(answered, "end"))
    assert [s.kind for s in us.hotline.record_due()] == ["call-missed"]
    sync(us, prc)
    for side in (us, prc):
        calls = {c["id"]: c for c in side.hotline.board()["calls"]}
        assert calls[answered]["state"] == "ended"
        assert [m["text"] for m in calls[answered]["messages"]] == [
            "We propose a call on the incident.",
            "收到。",
        ]
        assert (calls[declined]["state"], calls[declined]["reason"]) == (
            "declined",
            "Would acknowledge tension",
        )
        assert calls[missed]["state"] == "missed"


def test_mechanism_suspended_and_resumed(sides: tuple[Side, Side], clock: Clock) -> None:
    us, prc = sides
    prc.hotline.set_mechanism(mechanism="mmca", status="suspended", reason="Pelosi visit")
    refuses(
        prc,
        Conflict,
        "status",
        lambda: prc.hotline.set_mechanism(mechanism="mmca", status="suspended", reason="again"),
    )
    refuses(
        us,
        InvalidInput,
        "mechanism",
        lambda: us.hotline.set_mechanism(mechanism="nope", status="active", reason="x"),
    )
    sync(us, prc)
    prc.hotline.set_mechanism(mechanism="mmca", status="resumed", reason="Summit")
    sync(us, prc)
    for side in (us, prc):
        line = next(m for m in side.hotline.board()["mechanisms"] if m["id"] == "mmca")
        assert [h["status"] for h in line["history"]] == ["suspended", "resumed"]
        assert (line["status"], line["by_party"], line["source"]) == ("resumed", "prc", "signed")


def test_a_mechanism_stays_suspended_until_the_party_that_suspended_it_resumes(
    sides: tuple[Side, Side], clock: Clock
) -> None:
    us, prc = sides
    us.hotline.set_mechanism(mechanism="mmca", status="active", reason="Agreement in force")
    prc.hotline.set_mechanism(mechanism="mmca", status="suspended", reason="Pelosi visit")
    sync(us, prc)
    error = refuses(
        us,
        Conflict,
        "status",
        lambda: us.hotline.set_mechanism(mechanism="mmca", status="resumed", reason="We say so"),
    )
    assert "suspended by prc" in error.message and "until prc resumes it" in error.message
    clock.advance(days=1)
    us.hotline.set_mechanism(mechanism="mmca", status="suspended", reason="Unsafe intercept")
    sync(us, prc)
    prc.hotline.set_mechanism(mechanism="mmca", status="resumed", reason="Summit")
    sync(us, prc)
    for side in (us, prc):
        line = next(m for m in side.hotline.board()["mechanisms"] if m["id"] == "mmca")
        assert (line["status"], line["by_party"]) == ("suspended", "us")
        assert [s["party"] for s in line["suspended_by"]] == ["us"]
    us.hotline.set_mechanism(mechanism="mmca", status="resumed", reason="Talks agreed")
    sync(us, prc)
    for side in (us, prc):
        line = next(m for m in side.hotline.board()["mechanisms"] if m["id"] == "mmca")
        assert (line["status"], line["suspended_by"]) == ("resumed", [])


def test_a_party_outside_a_mechanism_cannot_move_it(tmp_path: Path, clock: Clock) -> None:
    with hotline_sides(tmp_path, clock, ("us", "prc", "jp"), [("us", "prc"), ("us", "jp")]) as s:
        s["jp"].hotline.add_office("jp-mod", level="defence_minister", title_en="M", title_zh="M")
        sync(*s.values())
        refuses(
            s["jp"],
            InvalidInput,
            "to",
            lambda: s["jp"].hotline.set_mechanism(mechanism="dtl", status="active", reason="x"),
        )
        refuses(
            s["jp"],
            InvalidInput,
            "mechanism",
            lambda: s["jp"].hotline.set_mechanism(
                mechanism="dtl", status="active", reason="x", to="us"
            ),
        )
        # The us-jp hotline is the business of us and jp: a prc statement moving it is
        # refused on receipt, naming the field, and nothing is stored.
        assert (
            s["us"]
            .hotline.set_mechanism(mechanism="hotline-jp-us", status="suspended", reason="Drill")
            .to
            == "jp"
        )
        forged = s["prc"].node.send(
            to="us",
            kind="mechanism-status",
            body={"mechanism": "hotline-jp-us", "status": "suspended", "reason": "Meddling"},
        )
        before = s["us"].count()
        with pytest.raises(InvalidStatement) as info:
            s["us"].node.receive("prc", [forged])
        assert info.value.field == "body.mechanism" and "not a party" in info.value.message
        assert s["us"].count() == before


def test_joint_summary_counts_when_both_sign(sides: tuple[Side, Side], clock: Clock) -> None:
    us, prc = sides
    engagement = ask(us, clock)
    sync(us, prc)
    us.hotline.file_readout(engagement, "Short and professional.")
    prc.hotline.file_readout(engagement, "双方进行了坦诚交流。", lang="zh")
    proposal = us.hotline.propose_joint_summary(engagement, "Both sides spoke.")
    sync(us, prc)
    summary_id = str(proposal.body["id"])
    joint = prc.hotline.board()["engagements"][0]["joint"][0]
    assert joint["counts"] is False
    refuses(us, Conflict, "summary_id", lambda: us.hotline.sign_joint_summary(summary_id))
    prc.hotline.sign_joint_summary(summary_id)
    sync(us, prc)
    for side in (us, prc):
        [line] = side.hotline.board()["engagements"]
        assert line["engagement"] == engagement
        assert {r["party"] for r in line["readouts"]} == {"us", "prc"}
        assert line["joint"][0]["counts"] is True


def test_a_readout_of_an_unknown_engagement_is_refused(sides: tuple[Side, Side]) -> None:
    us, _prc = sides
    refuses(us, NotFound, "engagement", lambda: us.hotline.file_readout("no-such-call", "x"))
    refuses(us, NotFound, "engagement", lambda: us.hotline.propose_joint_summary("nope", "x"))


def test_directory_publish_and_counterpart_dispute(sides: tuple[Side, Side]) -> None:
    us, prc = sides
    assert [s.kind for s in us.hotline.publish_directory()] == [
        "directory",
        "counterpart",
        "counterpart",
    ]
    assert us.hotline.publish_directory() == []
    prc.hotline.publish_directory()
    sync(us, prc)
    for side in (us, prc):
        lines = {c["office"]: c for c in side.hotline.directory()["counterparts"]}
        secdef = lines["us-secdef"]
        assert secdef["disputed"] is True
        assert {v["party"]: v["counterpart_office"] for v in secdef["views"]} == {
            "us": "prc-cmc-vc",
            "prc": "prc-mnd",
        }
        assert all(v["source"] == "signed" for v in secdef["views"])


# -- what is due: a lapse or a missed call must be true when signed ------------------------


def _refused_on_receipt(receiver: Side, sender: str, st: Statement, field: str) -> str:
    before = receiver.count()
    with pytest.raises(InvalidStatement) as info:
        receiver.node.receive(sender, [st])
    assert info.value.field == field, info.value
    assert receiver.count() == before, "something was stored on error"
    return str(info.value)


def test_a_lapse_signed_before_the_deadline_is_refused_on_receipt(
    sides: tuple[Side, Side], clock: Clock
) -> None:
    us, prc = sides
    deadline = clock.now + timedelta(hours=1)
    rid = ask(us, clock, deadline=deadline)
    sync(us, prc)
    early = us.node.send(
        to="prc", kind="request-lapsed", body={"request": rid, "deadline": _stamp(deadline)}
    )
    assert "deadline" in _refused_on_receipt(prc, "us", early, "body.deadline")


def test_a_lapse_with_a_wrong_deadline_is_refused_on_receipt(
    sides: tuple[Side, Side], clock: Clock
) -> None:
    us, prc = sides
    rid = ask(us, clock, deadline=clock.now + timedelta(hours=1))
    sync(us, prc)
    clock.advance(hours=2)
    wrong = clock.now - timedelta(minutes=1)
    st = us.node.send(
        to="prc", kind="request-lapsed", body={"request": rid, "deadline": _stamp(wrong)}
    )
    _refused_on_receipt(prc, "us", st, "body.deadline")


def test_a_lapse_after_a_withdrawal_is_refused_on_receipt(
    sides: tuple[Side, Side], clock: Clock
) -> None:
    us, prc = sides
    deadline = clock.now + timedelta(hours=1)
    rid = ask(us, clock, deadline=deadline)
    us.hotline.withdraw(rid)
    sync(us, prc)
    clock.advance(hours=2)
    assert us.hotline.record_due() == []
    st = us.node.send(
        to="prc", kind="request-lapsed", body={"request": rid, "deadline": _stamp(deadline)}
    )
    _refused_on_receipt(prc, "us", st, "body.request")


def test_a_lapse_of_an_answered_request_has_no_effect(
    sides: tuple[Side, Side], clock: Clock
) -> None:
    us, prc = sides
    deadline = clock.now + timedelta(hours=1)
    rid = ask(us, clock, deadline=deadline)
    sync(us, prc)
    prc.hotline.respond(rid, decline="No")
    # The requester signs a lapse before the decline reaches it (they cross):
    # it is stored, so the link does not wedge, but folded as refused.
    clock.advance(hours=2)
    [lapse] = us.hotline.record_due()
    sync(us, prc)
    for side in (us, prc):
        line = request_line(side, rid)
        assert (line["state"], line["lapse_recorded_by"]) == ("declined", None)
        refused = {r["statement_id"] for r in side.hotline.board()["refused"]}
        assert lapse.id in refused
        assert side.hotline.record_due() == []
    # Once the requester has the decline (it signed a receipt for it), a lapse
    # signed anyway is refused on receipt.
    again = us.node.send(
        to="prc", kind="request-lapsed", body={"request": rid, "deadline": _stamp(deadline)}
    )
    assert "declined" in _refused_on_receipt(prc, "us", again, "body.request")


def test_a_missed_call_signed_while_ringing_is_refused_on_receipt(
    sides: tuple[Side, Side], clock: Clock
) -> None:
    us, prc = sides
    call = us.hotline.place_call(
        from_office="us-secdef", to_office="prc-mnd", mechanism="dtl", ring_timeout=120
    )
    sync(us, prc)
    early = us.node.send(to="prc", kind="call-missed", body={"call": call.body["id"]})
    _refused_on_receipt(prc, "us", early, "body.call")


def test_a_missed_record_of_an_answered_call_has_no_effect(
    sides: tuple[Side, Side], clock: Clock
) -> None:
    us, prc = sides
    call_id = str(
        us.hotline.place_call(
            from_office="us-secdef", to_office="prc-mnd", mechanism="dtl", ring_timeout=5
        ).body["id"]
    )
    sync(us, prc)
    prc.hotline.call_event(call_id, "answer")
    clock.advance(seconds=30)
    [missed] = us.hotline.record_due()  # the answer has not reached the caller yet
    sync(us, prc)
    for side in (us, prc):
        line = next(c for c in side.hotline.board()["calls"] if c["id"] == call_id)
        assert (line["state"], line["missed_recorded_by"]) == ("answered", None)
        assert missed.id in {r["statement_id"] for r in side.hotline.board()["refused"]}
    # Once the caller knows, signing it anyway is refused on receipt.
    again = us.node.send(to="prc", kind="call-missed", body={"call": call_id})
    _refused_on_receipt(prc, "us", again, "body.call")


def test_record_due_signs_nothing_before_the_clock_reaches_the_deadline(
    sides: tuple[Side, Side], clock: Clock
) -> None:
    us, prc = sides
    ask(us, clock, deadline=clock.now + timedelta(hours=1))
    sync(us, prc)
    # Asked about a moment the node's clock has not reached: the statement
    # would be dated now, before the deadline, so nothing is signed.
    with pytest.raises(Conflict):
        us.hotline.record_due(clock.now + timedelta(hours=2))
    assert us.hotline.record_due() == []


def test_a_directory_cannot_carry_the_other_partys_offices(
    sides: tuple[Side, Side], clock: Clock
) -> None:
    us, prc = sides
    us.hotline.publish_directory()
    sync(us, prc)
    [published] = [s for s in prc.hotline.record().statements if s.kind == "directory"]
    body = copy.deepcopy(dict(published.body))
    index = len(body["holdings"])
    body["holdings"].append(
        {
            "office": "prc-mnd",
            "person_en": "Nobody",
            "person_zh": "无",
            "start": "2024-01-01",
            "end": None,
        }
    )
    # The body rule: a holding names one of the offices published with it.
    refuses(
        us,
        InvalidInput,
        f"body.holdings[{index}].office",
        lambda: us.node.send(to="prc", kind="directory", body=body),
    )
    # And those offices must be the sender's own: its ids start with its party.
    body = copy.deepcopy(dict(published.body))
    body["offices"][0] = {**body["offices"][0], "id": "prc-mnd"}
    body["holdings"] = [{**body["holdings"][0], "office": "prc-mnd"}]
    refuses(
        us,
        InvalidInput,
        "body.offices[0].id",
        lambda: us.node.send(to="prc", kind="directory", body=body),
    )
    # An office once published is never dropped: requests and calls name it.
    body = copy.deepcopy(dict(published.body))
    dropped = body["offices"].pop()["id"]
    body["holdings"] = [h for h in body["holdings"] if h["office"] != dropped]
    st = us.node.send(to="prc", kind="directory", body=body)
    _refused_on_receipt(prc, "us", st, "body.offices")
    directory = prc.hotline.record().directory
    assert directory.office("prc-mnd").party == "prc"
    assert directory.office(dropped).party == "us"


def test_an_open_request_shows_its_windows_in_both_time_zones(
    sides: tuple[Side, Side], clock: Clock
) -> None:
    us, _prc = sides
    request_id = ask(us, clock)
    (line,) = [r for r in us.hotline.board()["open_requests"] if r["id"] == request_id]
    (window,) = line["windows"]
    start = datetime.fromisoformat(window["start"])
    # New York and Beijing, each as its own local time of the same instant.
    assert set(window["local"]) == {"us", "prc"}
    for party, zone in (("us", "America/New_York"), ("prc", "Asia/Shanghai")):
        local = datetime.fromisoformat(window["local"][party]["start"])
        assert local == start
        assert local.utcoffset() == start.astimezone(ZoneInfo(zone)).utcoffset()


def test_a_statement_dated_before_the_senders_previous_one_is_refused(
    sides: tuple[Side, Side], clock: Clock
) -> None:
    """Backdating a statement (say, a directory slipped in before everything the
    receiver holds) is refused: a node's times never go back."""
    us, prc = sides
    prc.node.send_message(to="us", precedence="routine", subject="First", text="x")
    carry(prc, us)
    backdated = Statement.create(
        key=prc.node._key,
        sender="prc",
        to="us",
        kind="heartbeat",
        seq=2,
        time=clock.now - timedelta(days=365),
        body={"nonce": "n"},
    )
    before = us.count()
    with pytest.raises(InvalidStatement) as info:
        us.node.receive("prc", [backdated])
    assert info.value.field == "time" and "do not go back" in info.value.message
    assert us.count() == before


def test_readouts_a_peer_sends_are_checked_on_receipt(tmp_path: Path, clock: Clock) -> None:
    """A readout reusing an id, or about an engagement its sender was not party to,
    is refused with the field named (it once failed on a database constraint)."""
    pairs = [("us", "prc"), ("us", "jp")]
    with hotline_sides(tmp_path, clock, ("us", "prc", "jp"), pairs) as s:
        us, prc, jp = s["us"], s["prc"], s["jp"]
        jp.hotline.add_office("jp-mod", level="defence_minister", title_en="M", title_zh="M")
        sync(us, prc, jp)
        with_jp = us.hotline.request(
            from_office="us-secdef",
            to_office="jp-mod",
            mechanism="hotline-jp-us",
            mode="call",
            windows=[parse_window(window(clock), "w")],
        )
        with_prc = ask(us, clock)
        sync(us, prc, jp)
        first = prc.node.send(
            to="us",
            kind="readout",
            body={"id": "ro-1", "engagement": with_prc, "text": "Fine.", "lang": "en"},
        )
        carry(prc, us)
        again = prc.node.send(
            to="us",
            kind="readout",
            body={"id": "ro-1", "engagement": with_prc, "text": "Other.", "lang": "en"},
        )
        _refused_on_receipt(us, "prc", again, "body.id")
        outsider = Statement.create(
            key=prc.node._key,
            sender="prc",
            to="us",
            kind="readout",
            seq=again.seq,
            time=clock.now,
            body={"id": "ro-2", "engagement": str(with_jp.body["id"]), "text": "Hm.", "lang": "en"},
        )
        _refused_on_receipt(us, "prc", outsider, "body.engagement")
        assert first.id in {e["statement_id"] for e in us.hotline.timeline()}


def test_a_thread_holds_a_bounded_number_of_statements(
    sides: tuple[Side, Side], clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each statement stored into a thread folds it again: a peer must not be able
    to grow one without end. Small bound here; 5,000 in use."""
    import redline.service.hotline_base as base
    import redline.service.hotline_state as state

    monkeypatch.setattr(base, "MAX_THREAD_STATEMENTS", 4)
    monkeypatch.setattr(state, "MAX_THREAD_STATEMENTS", 4)
    us, prc = sides
    cid = str(
        us.hotline.place_call(from_office="us-secdef", to_office="prc-mnd", mechanism="dtl").body[
            "id"
        ]
    )
    sync(us, prc)
    prc.hotline.call_event(cid, "answer")
    sync(us, prc)
    us.hotline.say(cid, "One.")
    prc.hotline.say(cid, "Two.")  # the thread now holds 4: call, answer, two messages
    sync(us, prc)
    refuses(us, Conflict, "thread", lambda: us.hotline.say(cid, "Three."))
    over = prc.node.send(
        to="us", kind="call-message", body={"call": cid, "text": "x", "lang": "en"}
    )
    message = _refused_on_receipt(us, "prc", over, "body")
    assert "holds 4 statements" in message


def test_acts_on_a_counter_that_crossed_a_withdrawal_are_folded_not_refused(
    sides: tuple[Side, Side], clock: Clock
) -> None:
    """Found by the projection's property test: PRC withdrew its request while the
    US countered it; the US then withdrew its own counter-proposal. To the PRC the
    counter had no effect, so its request was never made; refusing the US's
    withdrawal on receipt would hold up the US's link for good."""
    us, prc = sides
    asked = prc.hotline.request(
        from_office="prc-mnd",
        to_office="us-secdef",
        mechanism="dtl",
        mode="call",
        windows=[parse_window(window(clock), "w")],
    )
    rid = str(asked.body["id"])
    sync(us, prc)
    withdrawal = prc.hotline.withdraw(rid)  # the US has not seen it
    countered = us.hotline.respond(
        rid, counter_office="us-secdef", counter_windows=[parse_window(window(clock, 30), "w")]
    )
    counter_id = str(countered.body["counter"]["id"])
    undone = us.hotline.withdraw(counter_id)
    sync(us, prc)
    for side in (us, prc):
        assert side.node.status()["outbox"] == 0
        refused = {r["statement_id"] for r in side.hotline.board()["refused"]}
        assert {countered.id, undone.id} <= refused and withdrawal.id not in refused
