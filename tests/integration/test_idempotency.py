"""``Idempotency-Key`` on the operator API's POSTs (docs/api.md, docs/security.md).

A retry after a lost answer sent a message twice. A retry with the same key
and body now gets the first answer again and signs nothing; the same key with
another body is refused; a malformed key is refused naming the header.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from redline.core.statement import format_time
from redline.node import load_node
from redline.store import idempotency
from redline.store.schema import idempotency_keys
from redline.web.api import create_api_app
from redline.web.idempotency import request_fingerprint
from support.hotline import Clock, Side, hotline_sides

TOKEN = "operator-token-for-tests"
AUTH = {"authorization": f"Bearer {TOKEN}"}
MESSAGE = {"to": "prc", "precedence": "flash", "subject": "Intercept", "text": "Call at 0900Z"}


@pytest.fixture
def clock() -> Clock:
    return Clock()


_node_dirs: dict[int, Path] = {}


@pytest.fixture
def us(tmp_path: Path, clock: Clock) -> Iterator[Side]:
    with hotline_sides(tmp_path, clock) as made:
        _node_dirs[id(made["us"])] = tmp_path / "us"
        yield made["us"]


def post(
    side: Side,
    path: str,
    body: dict[str, Any],
    key: str | bytes | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    identity = load_node(_node_dirs[id(side)]).identity()
    app = create_api_app(side.node, token=TOKEN, identity=identity, hotline=side.hotline)
    sent: dict[str, str | bytes] = dict(AUTH if headers is None else headers)
    if key is not None:
        sent["idempotency-key"] = key

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://node.test") as client:
            return await client.post(
                path, content=json.dumps(body), headers={**sent, "content-type": "application/json"}
            )

    return asyncio.run(go())


def assert_problem(answer: httpx.Response, status: int, code: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert (answer.json()["code"], answer.json()["field"]) == (code, "Idempotency-Key")


def test_a_message_retried_with_its_key_is_sent_once(us: Side) -> None:
    first = post(us, "/api/v1/messages", MESSAGE, key="msg-1")
    assert first.status_code == 201, first.text
    assert "idempotency-replayed" not in first.headers
    again = post(us, "/api/v1/messages", MESSAGE, key="msg-1")
    assert again.status_code == 201, again.text
    assert again.headers["idempotency-replayed"] == "true"
    assert again.json() == first.json()
    assert us.count() == 1
    # Without a key, or with another, it is a new message.
    assert post(us, "/api/v1/messages", MESSAGE, key="msg-2").json()["id"] != first.json()["id"]
    assert post(us, "/api/v1/messages", MESSAGE).status_code == 201
    assert us.count() == 3


def test_a_hotline_request_retried_with_its_key_is_signed_once(us: Side, clock: Clock) -> None:
    start = clock.now + timedelta(days=1)
    body = {
        "from_office": "us-secdef",
        "to_office": "prc-mnd",
        "mechanism": "dtl",
        "mode": "call",
        "windows": [{"start": format_time(start), "end": format_time(start + timedelta(hours=1))}],
    }
    first = post(us, "/api/v1/hotline/requests", body, key='"req-7f3a"')
    assert first.status_code == 201, first.text
    again = post(us, "/api/v1/hotline/requests", body, key='"req-7f3a"')
    assert (again.status_code, again.json()) == (201, first.json())
    assert us.count() == 1
    assert len(us.hotline.board()["open_requests"]) == 1


def test_a_refusal_is_replayed_too(us: Side) -> None:
    bad = {**MESSAGE, "to": "ru"}
    first = post(us, "/api/v1/messages", bad, key="to-ru")
    assert first.status_code == 404, first.text
    again = post(us, "/api/v1/messages", bad, key="to-ru")
    assert (again.status_code, again.json()) == (404, first.json())
    assert again.headers["idempotency-replayed"] == "true"


def test_the_same_key_with_another_body_is_refused(us: Side) -> None:
    assert post(us, "/api/v1/messages", MESSAGE, key="k").status_code == 201
    other = post(us, "/api/v1/messages", {**MESSAGE, "subject": "Other"}, key="k")
    assert_problem(other, 422, "idempotency-key-reused")
    # Another route with the same key is another request too.
    other = post(us, "/api/v1/hotline/directory/publish", {}, key="k")
    assert_problem(other, 422, "idempotency-key-reused")
    assert us.count() == 1


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9".encode(), "a\tb", "a\x01b", '""'])
def test_a_malformed_key_is_refused_naming_the_header(us: Side, key: str | bytes) -> None:
    answer = post(us, "/api/v1/messages", MESSAGE, key=key)
    assert_problem(answer, 400, "bad-request")
    assert us.count() == 0


def test_a_key_of_255_printable_characters_is_taken(us: Side) -> None:
    key = "".join(chr(0x20 + i % 95) for i in range(255)).strip() + "~"
    assert post(us, "/api/v1/messages", MESSAGE, key=key[-255:]).status_code == 201


def test_a_key_held_by_a_request_in_flight_answers_409(us: Side) -> None:
    body = json.dumps(MESSAGE).encode()
    fingerprint = request_fingerprint("POST", b"/api/v1/messages", b"", body)
    with us.store.write() as conn:  # as a first request, still being handled, left it
        idempotency.claim(
            conn, key="busy", fingerprint=fingerprint, now=format_time(us.node.clock())
        )
    assert_problem(
        post(us, "/api/v1/messages", MESSAGE, key="busy"), 409, "idempotency-key-in-flight"
    )
    assert us.count() == 0


def test_a_request_without_the_token_takes_no_key(us: Side) -> None:
    answer = post(us, "/api/v1/messages", MESSAGE, key="mine", headers={})
    assert answer.status_code == 401, answer.text
    assert post(us, "/api/v1/messages", MESSAGE, key="mine").status_code == 201
    assert us.count() == 1


def test_keys_are_kept_24_hours_then_purged(us: Side, clock: Clock) -> None:
    first = post(us, "/api/v1/messages", MESSAGE, key="day")
    clock.advance(hours=23)
    assert post(us, "/api/v1/messages", MESSAGE, key="day").json() == first.json()
    clock.advance(hours=2)
    later = post(us, "/api/v1/messages", MESSAGE, key="day")
    assert later.status_code == 201 and later.json()["id"] != first.json()["id"]
    assert "idempotency-replayed" not in later.headers
    with us.store.read() as conn:
        count = conn.execute(select(func.count()).select_from(idempotency_keys)).scalar_one()
    assert count == 1
