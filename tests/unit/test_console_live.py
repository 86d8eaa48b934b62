"""The broadcaster announces a stored statement only after its transaction
commits, never one rolled back, and drops a client too slow to keep up."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from sqlalchemy import event, select

from redline.core.errors import NotFound
from redline.core.statement import Statement
from redline.service.handling import HandlingService
from redline.service.hotline import parse_window
from redline.service.live import QUEUE_SIZE, Broadcaster, LiveEvent, topics_of
from redline.service.operators import OperatorService
from redline.store.schema import statements
from redline.web.api import create_api_app
from support.hotline import Clock, hotline_sides, sync


def test_a_stored_statement_is_announced_after_commit_and_a_refused_one_never(
    tmp_path: Path,
) -> None:
    with hotline_sides(tmp_path, Clock()) as sides:
        us = sides["us"]
        live = Broadcaster()
        live.attach(us.node)

        async def go() -> list[LiveEvent]:
            sub = live.subscribe()
            message = await asyncio.to_thread(
                us.node.send_message, to="prc", precedence="flash", subject="s", text=""
            )
            with pytest.raises(NotFound):
                await asyncio.to_thread(
                    us.node.send_message, to="nobody", precedence="flash", subject="s", text=""
                )
            seen = [await asyncio.wait_for(sub.next(), timeout=5)]
            assert sub.queue.empty()  # the refused one was never announced
            assert seen[0] is not None and seen[0].statement == message.id
            live.unsubscribe(sub)
            return [e for e in seen if e is not None]

        events = asyncio.run(go())
        assert events[0].kind == "message" and events[0].precedence == "flash"
        assert live.subscribers == 0


def test_an_announced_statement_is_already_readable_by_another_connection(
    tmp_path: Path,
) -> None:
    """The announcement comes after the commit has landed, not as it starts: a
    console that reads at once (a call page's media, a fragment) finds it."""
    with hotline_sides(tmp_path, Clock()) as sides:
        us = sides["us"]
        found: list[bool] = []

        def check(events: Any) -> None:
            with us.store.read() as conn:
                for e in events:
                    found.append(
                        bool(
                            conn.execute(
                                select(statements.c.id).where(statements.c.id == e.statement)
                            ).first()
                        )
                    )

        live = Broadcaster()
        live.publish = check  # type: ignore[method-assign]
        live.attach(us.node)
        message = us.node.send_message(to="prc", precedence="flash", subject="s", text="")
        call = us.hotline.place_call(from_office="us-secdef", to_office="prc-mnd", mechanism="dtl")
        sync(us, sides["prc"])
        assert message.id and call.id
        assert found and all(found)


def test_a_slow_client_is_dropped_not_waited_for() -> None:
    live = Broadcaster()

    async def go() -> tuple[bool, bool, bool]:
        slow, quick = live.subscribe(), live.subscribe()

        def burst(n: int) -> list[LiveEvent]:
            return [
                LiveEvent(id=i, kind="message", statement="x", sender="a", to="b") for i in range(n)
            ]

        live.publish(burst(QUEUE_SIZE))
        await asyncio.sleep(0)  # let the loop run the queued offers
        for _ in range(QUEUE_SIZE):
            assert await quick.next() is not None  # the quick one keeps up
        live.publish(burst(1))  # one more than the slow one's queue holds
        await asyncio.sleep(0)
        return slow.dropped, quick.dropped, await slow.next() is None

    assert asyncio.run(go()) == (True, False, True)


def test_each_event_names_the_peer_and_the_topics_a_page_re_reads_for(tmp_path: Path) -> None:
    clock = Clock()
    with hotline_sides(tmp_path, clock) as sides:
        us, prc = sides["us"], sides["prc"]
        live = Broadcaster()
        live.attach(prc.node)

        asked_id: list[str] = []

        async def go() -> list[LiveEvent]:
            sub = live.subscribe()
            message = us.node.send_message(to="prc", precedence="flash", subject="s", text="")
            start = clock.now + timedelta(days=1)
            window = parse_window(
                f"{start.isoformat()}/{(start + timedelta(hours=1)).isoformat()}", "w"
            )
            request = us.hotline.request(
                from_office="us-secdef",
                to_office="prc-mnd",
                mechanism="dtl",
                mode="call",
                windows=[window],
            )
            asked_id.append(str(request.body["id"]))
            await asyncio.to_thread(sync, us, prc)  # both arrive at prc
            ack = await asyncio.to_thread(prc.node.acknowledge, message.id)
            seen = []
            while not sub.queue.empty() or len(seen) < 3:
                event = await asyncio.wait_for(sub.next(), timeout=5)
                assert event is not None
                seen.append(event)
            by_statement = {e.statement: e for e in seen}
            assert set(by_statement) >= {message.id, request.id, ack.id}
            return [by_statement[message.id], by_statement[request.id], by_statement[ack.id]]

        got, asked, acked = asyncio.run(go())
    assert (got.peer, got.topics) == ("us", ("messages", f"message-{got.statement}"))
    assert got.to_json()["topics"] == ["messages", f"message-{got.statement}"]
    assert asked.peer == "us" and asked.topics == ("hotline", f"request-{asked_id[0]}")
    assert acked.kind == "ack" and acked.peer == "us"
    assert acked.topics == ("messages", f"message-{got.statement}")


def test_a_delivery_receipt_is_announced_once_for_the_message_it_acknowledges(
    tmp_path: Path,
) -> None:
    with hotline_sides(tmp_path, Clock()) as sides:
        us, prc = sides["us"], sides["prc"]
        live = Broadcaster()
        live.attach(us.node)

        async def go() -> tuple[str, list[LiveEvent]]:
            sub = live.subscribe()
            message = await asyncio.to_thread(
                us.node.send_message, to="prc", precedence="flash", subject="s", text=""
            )
            wires = await asyncio.to_thread(us.node.due, "prc", 10)
            result = await asyncio.to_thread(
                prc.node.receive, "us", [Statement.from_wire(w) for w in wires]
            )
            receipts = [Statement.from_wire(w) for w in result.receipts]
            await asyncio.to_thread(us.node.take_receipts, "prc", receipts)
            # The same receipts again store nothing new and announce nothing.
            await asyncio.to_thread(us.node.take_receipts, "prc", receipts)
            seen: list[LiveEvent] = []
            for _ in range(2):
                event = await asyncio.wait_for(sub.next(), timeout=5)
                assert event is not None
                seen.append(event)
            await asyncio.sleep(0)
            assert sub.queue.empty()
            return message.id, seen

        message_id, (sent, receipt) = asyncio.run(go())
    assert sent.statement == message_id
    assert receipt.kind == "receipt" and receipt.peer == "prc"
    assert receipt.topics == ("messages", f"message-{message_id}")


def test_rendering_the_pages_and_their_fragments_writes_nothing(tmp_path: Path) -> None:
    clock = Clock()
    with hotline_sides(tmp_path, clock) as sides:
        us, prc = sides["us"], sides["prc"]
        ops = OperatorService(prc.store, clock=prc.node.clock)
        ops.add("ada", role="admin", password="correct horse battery")
        message = us.node.send_message(to="prc", precedence="flash", subject="s", text="t")
        start = clock.now + timedelta(days=1)
        window = parse_window(
            f"{start.isoformat()}/{(start + timedelta(hours=1)).isoformat()}", "w"
        )
        us.hotline.request(
            from_office="us-secdef",
            to_office="prc-mnd",
            mechanism="dtl",
            mode="call",
            windows=[window],
        )
        sync(us, prc)
        # Opening a received message signs "seen" once: here it was seen already,
        # so opening its page again writes nothing.
        HandlingService(prc.node).seen(message.id)
        app = create_api_app(prc.node, token="t", identity=cast(Any, None), hotline=prc.hotline)
        writes: list[str] = []

        def note(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
            if sql.lstrip().split(None, 1)[0].upper() in ("INSERT", "UPDATE", "DELETE", "REPLACE"):
                writes.append(sql.split("\n", 1)[0])

        async def go() -> list[str]:
            transport = httpx.ASGITransport(app=app, client=("10.0.0.7", 4000))
            async with httpx.AsyncClient(transport=transport, base_url="https://node.test") as c:
                signed = await c.post(
                    "/console/login",
                    data={"name": "ada", "password": "correct horse battery"},
                    headers={"origin": "https://node.test"},
                )
                assert signed.status_code == 303, signed.text
                now = await c.get("/console/now")
                links = re.findall(r'<a href="(/console/[a-z]+)"', now.text)
                assert "/console/audit" in links, links
                paths = [*dict.fromkeys(links), f"/console/messages/{message.id}"]
                event.listen(prc.store.engine, "before_cursor_execute", note)
                try:
                    for path in paths:
                        for url in (path, path.replace("/console/", "/console/fragments/", 1)):
                            answer = await c.get(url, headers={"accept": "text/html"})
                            assert answer.status_code in (200, 404), (url, answer.status_code)
                            if url == path:
                                assert answer.status_code == 200, url
                finally:
                    event.remove(prc.store.engine, "before_cursor_execute", note)
                return paths

        paths = asyncio.run(go())
    assert len(paths) >= 6
    assert writes == [], writes


def test_seen_notices_and_translations_name_the_page_that_shows_them() -> None:
    def statement(kind: str, body: dict[str, Any]) -> Any:
        return cast(Any, type("S", (), {"kind": kind, "body": body, "id": "n1"})())

    assert topics_of(statement("seen", {"message": "m1"})) == ("messages", "message-m1")
    assert topics_of(statement("notice", {"type": "activity"})) == ("notices", "notice-n1")
    assert topics_of(statement("translation", {"original": "m2"})) == (
        "translations",
        "message-m2",
        "notice-m2",
    )
