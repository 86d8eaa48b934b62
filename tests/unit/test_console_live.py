"""The broadcaster announces a stored statement only after its transaction
commits, never one rolled back, and drops a client too slow to keep up."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from redline.core.errors import NotFound
from redline.service.hotline import parse_window
from redline.service.live import QUEUE_SIZE, Broadcaster, LiveEvent
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
