"""The console shows issue 11's message handling: opening a received message
signs ``seen`` once (for an operator who handles traffic), the sender's page
shows who saw it and who acknowledged it with their reply, a late
acknowledgement is marked LATE on the message and in the inbox, and the
deadline in force and the escalation steps taken are on the page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from redline.service.linktests import LinkTests
from support.console_app import BASE, console_sides, run
from support.hotline import Clock, Side, sync


@pytest.fixture
def sides(tmp_path: Path) -> Iterator[tuple[Side, Side, Clock]]:
    with console_sides(tmp_path) as made:
        yield made


def csrf_in(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def seen_count(side: Side) -> int:
    """How many ``seen`` statements ``side`` signed to its one peer."""
    peer = side.node.peers()[0].party
    return sum(1 for w in side.node.since(peer, 0, 1000) if orjson.loads(w)["kind"] == "seen")


def test_opening_signs_seen_once_and_the_sender_sees_who_saw_and_who_acknowledged(
    sides: tuple[Side, Side, Clock],
) -> None:
    us, prc, clock = sides
    message = us.node.send_message(to="prc", precedence="flash", subject="Incident", text="t")
    sync(us, prc)

    async def principal_opens(client: httpx.AsyncClient) -> str:
        return (await client.get(f"/console/messages/{message.id}")).text

    page = run(prc, principal_opens, "pat")
    assert 'data-seen="no"' in page and seen_count(prc) == 0  # a principal's look is not "seen"

    async def opens_twice(client: httpx.AsyncClient) -> tuple[str, str, str]:
        first = (await client.get(f"/console/messages/{message.id}")).text
        again = (await client.get(f"/console/messages/{message.id}")).text
        fragment = await client.get(
            f"/console/fragments/messages/{message.id}", headers={"hx-request": "true"}
        )
        return first, again, fragment.text

    first, again, fragment = run(prc, opens_twice)
    assert seen_count(prc) == 1
    assert 'data-seen="yes"' in first and "by wanda" in first and 'data-seen="yes"' in fragment
    assert again.count("by wanda") == 1
    sync(us, prc)
    clock.advance(minutes=11)  # past FLASH's default 10 minutes

    async def acknowledge(client: httpx.AsyncClient) -> tuple[int, int, str]:
        page = (await client.get(f"/console/messages/{message.id}")).text
        assert 'name="reply"' in page
        refused = await client.post(
            f"/console/messages/{message.id}/ack", data={"reply": "x"}, headers={"origin": BASE}
        )
        done = await client.post(
            f"/console/messages/{message.id}/ack",
            data={"csrf": csrf_in(page), "reply": "On it <b>now</b>"},
            headers={"origin": BASE},
        )
        after = (await client.get(f"/console/messages/{message.id}")).text
        return refused.status_code, done.status_code, after

    refused, done, after = run(prc, acknowledge, "zhou")
    assert (refused, done) == (403, 303)
    assert seen_count(prc) == 1
    assert "逾期" in after and "On it &lt;b&gt;now&lt;/b&gt;" in after  # zh: LATE
    sync(us, prc)

    async def sender_reads(client: httpx.AsyncClient) -> tuple[str, str]:
        page = (await client.get(f"/console/messages/{message.id}")).text
        inbox = (await client.get("/console/inbox")).text
        return page, inbox

    page, inbox = run(us, sender_reads, "ada")
    assert 'data-seen="yes"' in page and "by wanda" in page  # who saw it, on prc
    assert "by zhou" in page and "On it &lt;b&gt;now&lt;/b&gt;" in page
    assert 'data-late="yes"' in page and ">LATE<" in page
    assert 'data-late="yes"' in inbox
    assert "Deadline in force" in page and "default deadlines" in page
    assert seen_count(us) == 0  # the sender's own message is never "seen" by it


def test_the_escalation_steps_taken_are_on_the_message_page(
    sides: tuple[Side, Side, Clock],
) -> None:
    from redline.service.handling import HandlingService

    us, prc, clock = sides
    message = us.node.send_message(to="prc", precedence="flash", subject="s", text="t")
    sync(us, prc)
    clock.advance(minutes=30)
    taken = HandlingService(us.node).escalate_due()
    assert taken, "the default FLASH policy takes steps by 30 minutes"

    async def read(client: httpx.AsyncClient) -> str:
        return (await client.get(f"/console/messages/{message.id}")).text

    page = run(us, read)
    assert "Escalation steps taken" in page
    assert page.count("<li>") >= len(taken)


def test_a_peer_s_operator_test_is_a_prompt_on_now_answered_from_there(
    sides: tuple[Side, Side, Clock],
) -> None:
    us, prc, clock = sides
    clock.advance(hours=1)  # the default operator test is at 09:00 UTC
    LinkTests.of(prc.node)  # its upkeep records the tests prc receives (as a node's does)
    sent = LinkTests.of(us.node).send_due()
    test = next(s for s in sent if s.kind == "operator-test")
    sync(us, prc)

    async def answer(client: httpx.AsyncClient) -> tuple[str, int, int, str]:
        now = (await client.get("/console/now")).text
        refused = await client.post(
            f"/console/link-tests/{test.id}/answer", data={"text": "x"}, headers={"origin": BASE}
        )
        done = await client.post(
            f"/console/link-tests/{test.id}/answer",
            data={"csrf": csrf_in(now), "text": "Watch floor here"},
            headers={"origin": BASE},
        )
        after = (await client.get("/console/now")).text
        return now, refused.status_code, done.status_code, after

    now, refused, done, after = run(prc, answer)
    assert f'data-link-test="{test.id}"' in now and "Operator test awaiting our answer" in now
    assert f'action="/console/link-tests/{test.id}/answer"' in now
    assert (refused, done) == (403, 303)
    assert f'data-link-test="{test.id}"' not in after
    sync(us, prc)
    [link] = LinkTests.of(us.node).links("prc")
    assert link["operator-test"]["answered"] == 1

    async def board(client: httpx.AsyncClient) -> str:
        return (await client.get("/console/board")).text

    page = run(us, board)
    assert 'href="/console/links/prc"' in page
    assert 'data-test-kind="operator-test">100 %' in page


def test_the_link_page_terms_proposed_and_accepted_policy_and_schedule(
    sides: tuple[Side, Side, Clock],
) -> None:
    us, prc, _clock = sides
    deadlines = {"flash": "300", "immediate": "900", "priority": "3600", "routine": "7200"}

    async def propose(client: httpx.AsyncClient) -> tuple[int, int, int, str]:
        page = (await client.get("/console/links/prc")).text
        csrf = csrf_in(page)
        bad = await client.post(
            "/console/links/prc/terms",
            data={"csrf": csrf, **deadlines, "flash": "soon"},
            headers={"origin": BASE},
        )
        no_csrf = await client.post(
            "/console/links/prc/terms", data=deadlines, headers={"origin": BASE}
        )
        done = await client.post(
            "/console/links/prc/terms",
            data={"csrf": csrf, **deadlines, "note": "shorter"},
            headers={"origin": BASE},
        )
        return bad.status_code, no_csrf.status_code, done.status_code, bad.text

    bad, no_csrf, done, bad_text = run(us, propose, "ada")
    assert (bad, no_csrf, done) == (422, 403, 303)
    assert "flash" in bad_text
    sync(us, prc)

    async def watch_reads(client: httpx.AsyncClient) -> tuple[str, int]:
        page = (await client.get("/console/links/us")).text
        terms_id = re.search(r'data-terms="([0-9a-f]{64})" data-state="pending"', page)
        assert terms_id, page
        refused = await client.post(
            f"/console/links/us/terms/{terms_id.group(1)}/accept",
            data={"csrf": csrf_in((await client.get("/console/now")).text)},
            headers={"origin": BASE},
        )
        return page, refused.status_code

    page, refused = run(prc, watch_reads)
    assert refused == 403  # only an admin accepts
    assert "/accept" not in page and "default deadlines" in page
    assert 'data-policy="flash" data-default="yes"' in page
    assert "Heartbeat every" in page and "09:00" in page

    async def admin_accepts(client: httpx.AsyncClient) -> tuple[int, int, str]:
        page = (await client.get("/console/links/us")).text
        terms_id = re.search(r"/console/links/us/terms/([0-9a-f]{64})/accept", page)
        assert terms_id, page
        csrf = csrf_in(page)
        accepted = await client.post(
            f"/console/links/us/terms/{terms_id.group(1)}/accept",
            data={"csrf": csrf},
            headers={"origin": BASE},
        )
        policy = await client.post(
            "/console/links/us/escalation/flash",
            data={"csrf": csrf, "steps": '[{"after_seconds": 60, "action": "realert"}]'},
            headers={"origin": BASE},
        )
        bad_policy = await client.post(
            "/console/links/us/escalation/flash",
            data={"csrf": csrf, "steps": "[{"},
            headers={"origin": BASE},
        )
        after = (await client.get("/console/links/us")).text
        assert bad_policy.status_code == 422 and "steps" in bad_policy.text
        return accepted.status_code, policy.status_code, after

    accepted, policy, after = run(prc, admin_accepts, "ada")
    assert (accepted, policy) == (303, 303)
    assert 'data-agreed="yes"' in after
    assert 'data-policy="flash" data-default="no"' in after
    flash = re.search(r'<tr data-deadline-of="flash">.*?</tr>', after)
    assert flash and 'data-seconds="300"' in flash.group(0)
