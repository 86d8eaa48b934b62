"""The hotline timeline is a paged listing like the others (docs/api.md, "Paging")."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from redline.core.hotline.requests import Window
from redline.web.api import create_api_app
from support.hotline import Clock, Side, hotline_sides, sync

TOKEN = "operator-token-for-tests"


@pytest.fixture
def us(tmp_path: Path) -> Iterator[Side]:
    clock = Clock()
    with hotline_sides(tmp_path, clock) as made:
        us, prc = made["us"], made["prc"]
        start = clock.now + timedelta(days=2)
        for _ in range(4):
            us.hotline.request(
                from_office="us-secdef",
                to_office="prc-mnd",
                mechanism="dtl",
                mode="call",
                windows=[Window(start=start, end=start + timedelta(hours=1))],
            )
            clock.advance(seconds=1)
        sync(us, prc)
        yield us


def get(side: Side, path: str) -> httpx.Response:
    app = create_api_app(side.node, token=TOKEN, identity=cast(Any, None), hotline=side.hotline)

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://node.test") as http:
            return await http.get(path, headers={"authorization": f"Bearer {TOKEN}"})

    return asyncio.run(go())


def test_the_timeline_pages_in_its_own_order_and_loses_nothing(us: Side) -> None:
    whole = get(us, "/api/v1/hotline/timeline?limit=1000").json()
    assert whole["next"] is None
    assert sum(e["kind"] == "request" for e in whole["entries"]) == 4
    rows: list[dict[str, Any]] = []
    cursor = None
    pages = 0
    while True:
        query = "limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = get(us, f"/api/v1/hotline/timeline?{query}").json()
        assert len(page["entries"]) <= 3
        rows += page["entries"]
        pages += 1
        cursor = page["next"]
        if cursor is None:
            break
        assert pages < 200, "the listing never ends"
    assert pages >= 2
    assert rows == whole["entries"]


def test_a_cursor_the_timeline_did_not_give_is_refused_naming_it(us: Side) -> None:
    bad = get(us, "/api/v1/hotline/timeline?cursor=bm90LWEtY3Vyc29y")
    assert bad.status_code == 422 and bad.json()["field"] == "cursor"
    assert get(us, "/api/v1/hotline/timeline?limit=0").json()["field"] == "limit"
