"""The console shows issue 11's message handling: opening a received message
signs ``seen`` once (for an operator who handles traffic), the sender's page
shows who saw it and who acknowledged it with their reply, a late
acknowledgement is marked LATE on the message and in the inbox, and the
deadline in force and the escalation steps taken are on the page."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import orjson
import pytest

from redline.service.operators import OperatorService
from redline.web.api import create_api_app
from support.hotline import Clock, Side, hotline_sides, sync

TOKEN = "operator-token-for-tests"
PASSWORD = "correct horse battery"
BASE = "https://node.test"


@pytest.fixture
def sides(tmp_path: Path) -> Iterator[tuple[Side, Side, Clock]]:
    clock = Clock()
    with hotline_sides(tmp_path, clock) as made:
        us, prc = made["us"], made["prc"]
        for side in (us, prc):
            ops = OperatorService(side.store, clock=side.node.clock)
            ops.add("wanda", role="watch", password=PASSWORD)
            ops.add("zhou", role="watch", password=PASSWORD, lang="zh")
            ops.add("pat", role="principal", password=PASSWORD, offices=[f"{side.party}-x"])
            ops.add("ada", role="admin", password=PASSWORD)
        yield us, prc, clock


def run(side: Side, script: Any, name: str = "wanda") -> Any:
    """Run ``script(client)`` signed in as ``name`` on ``side``'s API app."""

    async def go() -> Any:
        app = create_api_app(side.node, token=TOKEN, identity=cast(Any, None), hotline=side.hotline)
        transport = httpx.ASGITransport(app=app, client=("10.0.0.7", 4000))
        async with httpx.AsyncClient(
            transport=transport, base_url=BASE, headers={"accept": "text/html"}
        ) as client:
            signed = await client.post(
                "/console/login",
                data={"name": name, "password": PASSWORD},
                headers={"origin": BASE},
            )
            assert signed.status_code == 303, signed.text
            return await script(client)

    return asyncio.run(go())


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
