"""``GET /api/v1/messages/{id}``: one message whole, over the operator API in process."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from redline.web.api import create_api_app
from support.pair import MemoryPair

TOKEN = "operator-token-for-tests"
AUTH = {"authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[MemoryPair]:
    pair = MemoryPair(tmp_path)
    yield pair
    pair.close()


def get(pair: MemoryPair, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    app = create_api_app(pair.prc.service, token=TOKEN, identity=pair.prc.dir.identity())

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://node.test") as client:
            return await client.get(path, headers=AUTH if headers is None else headers)

    return asyncio.run(go())


def assert_problem(response: httpx.Response, status: int, code: str, field: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert (body["status"], body["code"], body["field"]) == (status, code, field)
    return body


def received(pair: MemoryPair, text: str = "Request a call at 0900Z.\nSecond line") -> str:
    statement = pair.us.service.send_message(
        to="prc", precedence="flash", subject="Intercept", text=text
    )
    pair.deliver()
    return statement.id


def test_a_received_message_by_id_or_prefix_is_its_list_row_and_its_text(
    pair: MemoryPair,
) -> None:
    message_id = received(pair)
    by_id = get(pair, f"/api/v1/messages/{message_id}")
    assert by_id.status_code == 200, by_id.text
    assert get(pair, f"/api/v1/messages/{message_id[:16]}").json() == by_id.json()
    [listed] = get(pair, "/api/v1/messages").json()["messages"]
    assert by_id.json() == {**listed, "text": "Request a call at 0900Z.\nSecond line"}
    shown = by_id.json()
    assert (shown["direction"], shown["peer"], shown["precedence"]) == ("in", "us", "flash")
    assert (shown["subject"], shown["lang"], shown["state"]) == ("Intercept", "en", "received")
    assert (shown["ack_state"], shown["ack_id"]) == ("sent", None)


def test_a_sent_message_by_its_full_id(pair: MemoryPair) -> None:
    statement = pair.prc.service.send_message(
        to="us", precedence="routine", subject="Reply", text="Noted."
    )
    shown = get(pair, f"/api/v1/messages/{statement.id}")
    assert shown.status_code == 200, shown.text
    assert (shown.json()["direction"], shown.json()["text"]) == ("out", "Noted.")


def test_an_unknown_id_is_404_naming_it(pair: MemoryPair) -> None:
    assert_problem(get(pair, "/api/v1/messages/" + "0" * 64), 404, "not-found", "id")
    assert_problem(get(pair, "/api/v1/messages/" + "ab" * 5), 404, "not-found", "id")


def test_a_statement_that_is_no_message_is_404(pair: MemoryPair) -> None:
    heartbeat = pair.prc.service.link_test(to="us")
    assert_problem(get(pair, f"/api/v1/messages/{heartbeat.id}"), 404, "not-found", "id")


@pytest.mark.parametrize("ref", ["0123456", "not-a-hex-id", "0" * 65])
def test_a_malformed_id_is_422_naming_it(pair: MemoryPair, ref: str) -> None:
    body = assert_problem(get(pair, f"/api/v1/messages/{ref}"), 422, "invalid-input", "id")
    # The schema's pattern, checked before the service sees it (and served in /openapi.json).
    assert "[0-9a-fA-F]{8,64}" in body["detail"]


def test_it_needs_the_operator_token(pair: MemoryPair) -> None:
    message_id = received(pair)
    response = get(pair, f"/api/v1/messages/{message_id}", headers={})
    assert_problem(response, 401, "unauthorized", "authorization")
