"""Two nodes in memory: link terms agreed, seen and ack-with-reply round trips,
escalation in order and stopped by an ack, a late ack marked late in the API
and in ``verify`` of an exported bundle."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from redline.core.errors import Conflict, InvalidInput, InvalidStatement, NotFound
from redline.core.fields import ActedBy
from redline.core.messaging import SEEN
from redline.core.statement import Statement, format_time, parse_time
from redline.service.export import export_bundle
from redline.service.handling import HandlingService
from redline.service.notify import Notifier
from redline.service.operators import Forbidden, OperatorService
from redline.verify import verify_bundle
from redline.web.api import create_api_app
from support.pair import MemoryPair

TOKEN = "operator-token-for-tests"


class Recorder:
    """A channel that keeps what it was given."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def send(self, *, address: str, subject: str, payload: Mapping[str, Any]) -> None:
        self.sent.append((address, dict(payload)))


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[MemoryPair]:
    pair = MemoryPair(tmp_path)
    yield pair
    pair.close()


def handling(pair: MemoryPair, node: str, channel: Recorder | None = None) -> HandlingService:
    service = getattr(pair, node).service
    notifier = Notifier(
        service.store, clock=pair.clock, channels={"webhook": channel or Recorder()}
    )
    return HandlingService(service, notifier=notifier)


def rows(pair: MemoryPair, node: str) -> dict[str, dict[str, Any]]:
    return {r["subject"]: r for r in getattr(pair, node).service.messages()}


def api(pair: MemoryPair, node: str, method: str, path: str, **kw: Any) -> httpx.Response:
    service = getattr(pair, node).service
    app = create_api_app(service, token=TOKEN, identity=getattr(pair, node).dir.identity())
    headers = kw.pop("headers", {"authorization": f"Bearer {TOKEN}"})

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://node.test") as client:
            return await client.request(method, path, headers=headers, **kw)

    return asyncio.run(go())


AGREED = {"flash": 300, "immediate": 900, "priority": 3600, "routine": 43200}


def test_each_precedence_deadline_under_defaults_then_under_agreed_terms(
    pair: MemoryPair,
) -> None:
    send = pair.us.service.send_message
    for p in AGREED:
        send(to="prc", precedence=p, subject=f"before {p}", text="")
    proposal = handling(pair, "us").propose_terms(to="prc", deadlines=AGREED, note="ACP 121 / 2")
    pair.deliver()
    # Proposed is not agreed: the defaults still apply.
    assert handling(pair, "prc").terms("us")["links"][0]["agreed"] is None
    pair.clock.advance(seconds=1)
    accept = handling(pair, "prc").accept_terms(proposal.id)
    pair.deliver()
    pair.clock.advance(seconds=1)
    for p in AGREED:
        send(to="prc", precedence=p, subject=f"after {p}", text="")
    pair.deliver()
    defaults = {"flash": 600, "immediate": 1800, "priority": 10800, "routine": 21600}
    for node in ("us", "prc"):
        shown = handling(pair, node).terms()["links"][0]
        assert shown["deadlines"] == AGREED
        assert shown["agreed"]["terms"] == proposal.id
        assert shown["agreed"]["accepted_at"] == accept.time
        got = rows(pair, node)
        for p in AGREED:
            for when, seconds in (("before", defaults[p]), ("after", AGREED[p])):
                row = got[f"{when} {p}"]
                deadline = _plus(row["time"], seconds)
                assert row["ack_deadline"] == deadline, (node, when, p)
    # Accepting twice, or one's own terms, is refused; nothing is signed.
    with pytest.raises(Conflict):
        handling(pair, "prc").accept_terms(proposal.id)
    with pytest.raises(InvalidInput) as info:
        handling(pair, "us").accept_terms(proposal.id)
    assert info.value.field == "id"


def _plus(time: str, seconds: int) -> str:
    return format_time(parse_time(time) + timedelta(seconds=seconds))


def test_bad_terms_are_refused_naming_the_field_and_nothing_is_signed(pair: MemoryPair) -> None:
    before = pair.us.service.status()["log_size"]
    for deadlines, field in (
        ({**AGREED, "flash": 0}, "deadlines.flash"),
        ({**AGREED, "routine": "6h"}, "deadlines.routine"),
        ({k: v for k, v in AGREED.items() if k != "priority"}, "deadlines.priority"),
        ({**AGREED, "urgent": 5}, "deadlines.urgent"),
    ):
        with pytest.raises(InvalidInput) as info:
            handling(pair, "us").propose_terms(to="prc", deadlines=deadlines)
        assert info.value.field == field
    assert pair.us.service.status()["log_size"] == before


def test_seen_then_ack_with_reply_round_trip_over_two_nodes(pair: MemoryPair) -> None:
    ops = OperatorService(pair.prc.store, clock=pair.clock)
    ops.add("lin", role="watch", password="correct horse battery", offices=[])
    ops.add("zhou", role="principal", password="correct horse battery", offices=["mnd-fao"])
    message = pair.us.service.send_message(
        to="prc", precedence="flash", subject="Intercept", text="Call at 0900Z?"
    )
    pair.deliver()
    prc = handling(pair, "prc")
    first = prc.seen(message.id[:12], by=ActedBy(operator="lin"))
    assert first["new"] and first["message"] == message.id
    size = pair.prc.service.status()["log_size"]
    again = prc.seen(message.id)
    assert again == {**first, "new": False}  # a second opening signs nothing
    assert pair.prc.service.status()["log_size"] == size
    # The sender cannot mark its own message seen.
    with pytest.raises(InvalidInput):
        handling(pair, "us").seen(message.id)

    # Only the watch (or an admin) acknowledges; a principal is refused, nothing signed.
    with pytest.raises(Forbidden) as refused:
        pair.prc.service.acknowledge(message.id, operator=ops.get("zhou"))
    assert refused.value.field == "role"
    with pytest.raises(InvalidInput) as bad:
        pair.prc.service.acknowledge(message.id, reply=" padded ", operator=ops.get("lin"))
    assert bad.value.field == "reply"
    assert pair.prc.service.status()["log_size"] == size
    ack = pair.prc.service.acknowledge(
        message.id, reply="Agreed, 0900Z on the DTL.", operator=ops.get("lin")
    )
    assert ack.body["by"] == {"operator": "lin"}
    pair.deliver()
    for node in ("us", "prc"):
        row = rows(pair, node)["Intercept"]
        assert row["seen_id"] == first["seen"]
        assert row["seen_at"] is not None
        assert row["ack_id"] == ack.id
        assert row["reply"] == "Agreed, 0900Z on the DTL."
        assert row["acknowledged_by"] == {"operator": "lin"}
        assert row["late"] is False


def test_a_peer_seen_of_a_message_it_never_got_is_refused_and_not_stored(
    pair: MemoryPair,
) -> None:
    mine = pair.prc.service.send_message(to="us", precedence="routine", subject="x", text="")
    pair.deliver()
    # prc claims to have seen a message that prc itself sent: us refuses it.
    pair.prc.service.send(to="us", kind=SEEN, body={"message": mine.id})
    wires = pair.prc.service.due("us", 10)
    batch = [Statement.from_wire(w) for w in wires]
    with pytest.raises(InvalidStatement) as info:
        pair.us.service.receive("prc", batch)
    assert info.value.field == "body.message"
    assert all(r["kind"] != SEEN for r in pair.us.service.status()["statements"])


def test_escalation_steps_in_order_then_stopped_by_an_ack(pair: MemoryPair) -> None:
    webhook = Recorder()
    us = handling(pair, "us", webhook)
    us.add_recipient(name="duty", channel="webhook", address="http://127.0.0.1:9/d", duty=True)
    us.add_recipient(name="chief", channel="webhook", address="http://127.0.0.1:9/c", duty=False)
    us.set_policy(
        peer="prc",
        precedence="flash",
        steps=[
            {"after_seconds": 600, "action": "realert"},
            {"after_seconds": 900, "action": "alert", "recipients": ["chief", "nobody"]},
            {"after_seconds": 1200, "action": "propose-fallback", "mechanism": "attache-channel"},
        ],
    )
    unanswered = pair.us.service.send_message(
        to="prc", precedence="flash", subject="unanswered", text=""
    )
    answered = pair.us.service.send_message(
        to="prc", precedence="flash", subject="answered", text=""
    )
    pair.deliver()
    assert us.escalate_due() == []
    pair.clock.advance(minutes=10)
    first = us.escalate_due()
    assert sorted((s["message"], s["action"]) for s in first) == sorted(
        [(unanswered.id, "realert"), (answered.id, "realert")]
    )
    # The PRC operator acknowledges one of them, late (after the 10 minutes).
    pair.clock.advance(seconds=30)
    pair.prc.service.acknowledge(answered.id)
    pair.deliver()
    pair.clock.advance(minutes=5)
    second = us.escalate_due()
    assert [(s["message"], s["action"]) for s in second] == [(unanswered.id, "alert")]
    assert "no recipient nobody" in second[0]["detail"]
    pair.clock.advance(minutes=5)
    third = us.escalate_due()
    assert [(s["message"], s["action"]) for s in third] == [(unanswered.id, "propose-fallback")]
    pair.clock.advance(hours=1)
    assert us.escalate_due() == []  # every step once
    steps = [(s["message_id"], s["step"], s["action"]) for s in us.escalations()]
    assert steps == [
        (answered.id, 0, "realert")
        if answered.id < unanswered.id
        else (unanswered.id, 0, "realert"),
        (unanswered.id, 0, "realert")
        if answered.id < unanswered.id
        else (answered.id, 0, "realert"),
        (unanswered.id, 1, "alert"),
        (unanswered.id, 2, "propose-fallback"),
    ]
    # The fallback proposal is a signed statement the peer stores.
    pair.deliver()
    proposal = [
        r for r in pair.prc.service.status()["statements"] if r["kind"] == "fallback-proposal"
    ]
    assert len(proposal) == 1
    # Notifications went out through the notifier: duty twice, chief once.
    assert us.notifier is not None
    assert us.notifier.deliver_due() == 3
    assert sorted((a, p["action"]) for a, p in webhook.sent) == [
        ("http://127.0.0.1:9/c", "alert"),
        ("http://127.0.0.1:9/d", "realert"),
        ("http://127.0.0.1:9/d", "realert"),
    ]
    shown = rows(pair, "us")
    assert [s["action"] for s in shown["unanswered"]["escalation"]] == [
        "realert",
        "alert",
        "propose-fallback",
    ]
    assert shown["answered"]["late"] is True


def test_a_late_ack_is_marked_late_in_the_api_and_in_verify_of_an_export(
    pair: MemoryPair, tmp_path: Path
) -> None:
    late = pair.us.service.send_message(to="prc", precedence="flash", subject="late", text="")
    timely = pair.us.service.send_message(to="prc", precedence="flash", subject="timely", text="")
    pair.deliver()
    first = api(pair, "prc", "POST", f"/api/v1/messages/{late.id[:12]}/seen")
    again = api(pair, "prc", "POST", f"/api/v1/messages/{late.id}/seen")
    assert (first.status_code, again.status_code) == (201, 200), first.text
    assert again.json() == {**first.json(), "new": False}
    pair.clock.advance(minutes=1)
    pair.prc.service.acknowledge(timely.id)
    pair.clock.advance(minutes=11)
    reply = api(pair, "prc", "POST", f"/api/v1/messages/{late.id}/ack", json={"reply": "Sorry."})
    assert reply.status_code == 201, reply.text
    assert reply.json()["reply"] == "Sorry."
    pair.deliver()
    for node in ("us", "prc"):
        got = api(pair, node, "GET", f"/api/v1/messages/{late.id}").json()
        assert (got["ack_state"], got["late"], got["reply"]) == ("acknowledged", True, "Sorry.")
        assert api(pair, node, "GET", f"/api/v1/messages/{timely.id}").json()["late"] is False
    # `status` marks the late ack among the latest statements, and only it.
    acks = {
        r["id"]: r["late"] for r in pair.us.service.status()["statements"] if r["kind"] == "ack"
    }
    assert sorted(acks.values()) == [False, True]
    assert acks[reply.json()["id"]] is True
    pair.witness()
    export_bundle(pair.us.record, tmp_path / "bundle")
    report = verify_bundle(
        tmp_path / "bundle", trusted=[pair.us.dir.identity(), pair.prc.dir.identity()]
    )
    findings = {f["statement"]: f for f in report.findings}
    assert (findings[late.id]["outcome"], findings[late.id]["late"]) == ("answered-late", True)
    assert findings[late.id]["ack_reply"] == "Sorry."
    assert (findings[timely.id]["outcome"], findings[timely.id]["late"]) == ("answered", False)
    assert any("acknowledged LATE" in line and late.id[:16] in line for line in report.lines)


def test_verify_holds_messages_to_the_terms_the_bundle_shows_agreed(
    pair: MemoryPair, tmp_path: Path
) -> None:
    proposal = handling(pair, "us").propose_terms(to="prc", deadlines=AGREED)
    pair.deliver()
    pair.clock.advance(seconds=1)
    handling(pair, "prc").accept_terms(proposal.id)
    pair.deliver()
    pair.clock.advance(seconds=1)
    message = pair.us.service.send_message(to="prc", precedence="flash", subject="x", text="")
    pair.deliver()
    pair.clock.advance(minutes=7)  # inside the default 10 minutes, past the agreed 5
    pair.prc.service.acknowledge(message.id)
    pair.deliver()
    pair.witness()
    export_bundle(pair.us.record, tmp_path / "bundle")
    report = verify_bundle(
        tmp_path / "bundle", trusted=[pair.us.dir.identity(), pair.prc.dir.identity()]
    )
    finding = next(f for f in report.findings if f["statement"] == message.id)
    assert finding["deadline"] == _plus(message.time, 300)
    assert finding["outcome"] == "answered-late"


def test_the_api_names_the_field_of_a_bad_policy_and_refuses_a_non_admin_key(
    pair: MemoryPair,
) -> None:
    bad = api(
        pair,
        "us",
        "PUT",
        "/api/v1/escalation/prc/flash",
        json={"steps": [{"after_seconds": 60, "action": "alert"}]},
    )
    assert bad.status_code == 422, bad.text
    assert bad.json()["field"] == "steps[0].recipients"
    unknown = api(pair, "us", "GET", "/api/v1/escalation/jp")
    assert unknown.status_code == 404
    ops = OperatorService(pair.us.store, clock=pair.clock)
    ops.add("amy", role="watch", password="correct horse battery", offices=[])
    key = ops.issue_key("amy", "script")
    refused = api(
        pair,
        "us",
        "PUT",
        "/api/v1/escalation/prc/flash",
        json={"steps": [{"after_seconds": 60, "action": "realert"}]},
        headers={"authorization": f"Bearer {key}"},
    )
    assert refused.status_code == 403, refused.text
    assert refused.json()["field"] == "role"
    shown = api(pair, "us", "GET", "/api/v1/escalation/prc").json()
    assert shown["policies"]["flash"]["default"] is True  # nothing was stored
    with pytest.raises(NotFound):
        handling(pair, "us").policy("jp")


def test_a_message_older_than_the_longest_step_is_not_read_again(pair: MemoryPair) -> None:
    us = handling(pair, "us")
    pair.us.service.send_message(to="prc", precedence="flash", subject="old", text="")
    pair.deliver()
    pair.clock.advance(days=7, seconds=2)  # past any step a policy may hold (7 days)
    assert us.escalate_due() == []
    assert us.escalations() == []
    fresh = pair.us.service.send_message(to="prc", precedence="flash", subject="new", text="")
    pair.clock.advance(minutes=10)
    assert [(s["message"], s["action"]) for s in us.escalate_due()] == [(fresh.id, "realert")]
