"""The operator API's listings are paged by keyset; ``/api/v1/status`` stays small."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from redline.core.errors import InvalidInput
from redline.core.statement import format_time
from redline.service.paging import decode_cursor, encode_cursor
from redline.store import repo
from redline.web.api import create_api_app
from support.pair import MemoryPair

TOKEN = "operator-token-for-tests"
AUTH = {"authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[MemoryPair]:
    pair = MemoryPair(tmp_path)
    yield pair
    pair.close()


def get_all(pair: MemoryPair, paths: list[str]) -> list[httpx.Response]:
    """GET each path from PRC's operator API, in process."""
    app = create_api_app(pair.prc.service, token=TOKEN, identity=pair.prc.dir.identity())

    async def go() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://node.test") as client:
            return [await client.get(path, headers=AUTH) for path in paths]

    return asyncio.run(go())


def get(pair: MemoryPair, path: str) -> httpx.Response:
    [response] = get_all(pair, [path])
    return response


def walk(pair: MemoryPair, path: str, key: str, limit: int) -> tuple[list[dict[str, Any]], int]:
    """Every row of a listing, page by page; and how many pages it took."""
    rows: list[dict[str, Any]] = []
    cursor: str | None = None
    pages = 0
    while True:
        query = f"limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        response = get(pair, f"{path}{'&' if '?' in path else '?'}{query}")
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page[key]) <= limit
        rows.extend(page[key])
        pages += 1
        cursor = page["next"]
        if cursor is None:
            return rows, pages
        assert pages < 100, "the listing never ends"


def traffic(pair: MemoryPair, messages: int) -> None:
    for n in range(messages):
        pair.us.service.send_message(to="prc", precedence="routine", subject=f"m{n}", text="")
        pair.clock.advance(seconds=1)
    pair.deliver()


def test_statements_page_through_every_statement_once_in_the_order_stored(
    pair: MemoryPair,
) -> None:
    traffic(pair, 7)
    # Received in one batch: the same stored_at for all 7, so ties fall to the id.
    with pair.prc.store.read() as conn:
        held = repo.list_statements(conn)
    rows, pages = walk(pair, "/api/v1/statements", "statements", limit=3)
    assert sorted(r["id"] for r in rows) == sorted(r["id"] for r in held)
    assert len({r["id"] for r in rows}) == len(rows)
    assert [(r["stored_at"], r["id"]) for r in rows] == sorted(
        (r["stored_at"], r["id"]) for r in rows
    )
    assert pages == len(held) // 3 + 1


def test_messages_page_in_the_order_of_the_whole_list(pair: MemoryPair) -> None:
    traffic(pair, 5)
    rows, pages = walk(pair, "/api/v1/messages", "messages", limit=2)
    assert [r["id"] for r in rows] == [r["id"] for r in pair.prc.service.messages()]
    assert [r["subject"] for r in rows] == [f"m{n}" for n in range(5)]
    assert pages == 3
    [first] = [r for r in rows if r["subject"] == "m0"]
    pair.prc.service.acknowledge(first["id"])
    pending, _ = walk(pair, "/api/v1/messages?pending=true", "messages", limit=2)
    assert [r["subject"] for r in pending] == [f"m{n}" for n in range(1, 5)]


def test_the_outbox_pages_by_peer_then_seq(pair: MemoryPair) -> None:
    sent = [
        pair.prc.service.send_message(to="us", precedence="flash", subject=f"s{n}", text="")
        for n in range(5)
    ]
    rows, _ = walk(pair, "/api/v1/outbox", "outbox", limit=2)
    assert [(r["id"], r["peer"], r["seq"], r["kind"]) for r in rows] == [
        (s.id, "us", s.seq, "message") for s in sent
    ]
    pair.deliver()
    assert get(pair, "/api/v1/outbox").json() == {"outbox": [], "next": None}


def test_open_alarms_page_newest_first(pair: MemoryPair) -> None:
    now = format_time(pair.clock())
    with pair.prc.store.write() as conn:
        for n in range(5):
            repo.raise_alarm(
                conn, kind="gap", peer="us", message=f"a{n}", now=now, condition=str(n)
            )
    rows, pages = walk(pair, "/api/v1/alarms", "alarms", limit=2)
    assert [r["message"] for r in rows] == ["a4", "a3", "a2", "a1", "a0"]
    assert pages == 3


def test_status_holds_counts_and_the_latest_not_everything(pair: MemoryPair) -> None:
    traffic(pair, 6)
    status = get(pair, "/api/v1/status?latest=2").json()
    held, _ = walk(pair, "/api/v1/statements", "statements", limit=1000)
    assert status["counts"] == {"statements": len(held), "outbox": status["outbox"], "alarms": 0}
    assert len(held) > 2
    newest = sorted(held, key=lambda r: (r["stored_at"], r["id"]), reverse=True)[:2]
    assert [r["id"] for r in status["statements"]] == [r["id"] for r in newest]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
        ("cursor=%21%21", "cursor"),
        ("cursor=" + "A" * 401, "cursor"),
        # Ours, but the shape of another listing's key (the alarms' id).
        ("cursor=" + encode_cursor([7]), "cursor"),
        ("cursor=" + encode_cursor(["x" * 101, "y"]), "cursor"),
        ("cursor=bm90IGpzb24", "cursor"),  # base64 of "not json"
    ],
)
def test_a_bad_limit_or_cursor_is_422_naming_it(pair: MemoryPair, query: str, field: str) -> None:
    for path in ("/api/v1/statements", "/api/v1/messages"):
        response = get(pair, f"{path}?{query}")
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["field"] == field


def test_status_latest_is_bounded(pair: MemoryPair) -> None:
    for latest in ("0", "1001"):
        response = get(pair, f"/api/v1/status?latest={latest}")
        assert (response.status_code, response.json()["field"]) == (422, "latest")


# What keys hold: times, hex ids, party ids, seqs and alarm ids; two at most.
KEY_TEXT = st.text(alphabet="0123456789abcdefxyz-:.TZ", max_size=100)


@given(st.lists(st.one_of(KEY_TEXT, st.integers(0, 2**62)), min_size=1, max_size=2))
def test_a_cursor_gives_back_its_key(key: list[str | int]) -> None:
    shape = [type(item) for item in key]
    assert decode_cursor(encode_cursor(key), shape) == tuple(key)


@given(st.text(max_size=500))
def test_any_text_is_a_key_or_invalid_input_naming_cursor(text: str) -> None:
    try:
        decode_cursor(text, (str, str))
    except InvalidInput as exc:
        assert exc.field == "cursor"


def test_a_body_nested_too_deeply_is_400_naming_the_body(pair: MemoryPair) -> None:
    app = create_api_app(pair.prc.service, token=TOKEN, identity=pair.prc.dir.identity())

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://node.test") as client:
            headers = {**AUTH, "content-type": "application/json"}
            return await client.post("/api/v1/messages", content=b"[" * 100_000, headers=headers)

    response = asyncio.run(go())
    assert response.status_code == 400, response.text
    assert response.json()["field"] == "body"
    with pair.prc.store.read() as conn:
        assert repo.statement_count(conn) == 0
