"""The broadcaster announces a stored statement only after its transaction
commits, never one rolled back, and drops a client too slow to keep up."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from redline.core.errors import NotFound
from redline.service.live import QUEUE_SIZE, Broadcaster, LiveEvent
from support.hotline import Clock, hotline_sides


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
