"""Every statement an operator causes names the operator, and the office they
acted for, in its signed body (``by``); the node's shared token and its
automatic acts name nobody; a principal cannot act for an office not theirs."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from redline.core.statement import Statement
from redline.service.operators import OperatorService
from redline.store.statements import wires_by_id
from redline.web.api import create_api_app
from support.hotline import Clock, Side, hotline_sides, sync

TOKEN = "operator-token-for-tests"
PASSWORD = "correct horse battery"


@pytest.fixture
def sides(tmp_path: Path) -> Iterator[tuple[Side, Side, Clock]]:
    clock = Clock()
    with hotline_sides(tmp_path, clock) as made:
        yield made["us"], made["prc"], clock


def post(side: Side, path: str, body: dict[str, Any], key: str) -> httpx.Response:
    app = create_api_app(side.node, token=TOKEN, identity=cast(Any, None), hotline=side.hotline)

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://node.test") as http:
            return await http.post(path, json=body, headers={"authorization": f"Bearer {key}"})

    return asyncio.run(go())


def request_body(clock: Clock, from_office: str = "us-secdef") -> dict[str, Any]:
    start = clock.now + timedelta(days=3)
    return {
        "from_office": from_office,
        "to_office": "prc-mnd",
        "mechanism": "dtl",
        "mode": "call",
        "windows": [{"start": start.isoformat(), "end": (start + timedelta(hours=1)).isoformat()}],
    }


def signed(side: Side, statement_id: str) -> dict[str, Any]:
    with side.store.read() as conn:
        [wire] = wires_by_id(conn, [statement_id])
    return dict(Statement.from_wire(wire).body)


def test_an_act_by_a_named_key_names_the_operator_and_office_in_the_signed_body(
    sides: tuple[Side, Side, Clock],
) -> None:
    us, prc, clock = sides
    ops = OperatorService(us.store, clock=us.node.clock)
    ops.add("mia", role="principal", password=PASSWORD, offices=["us-secdef"])
    key = ops.issue_key("mia", "scripts")

    answer = post(us, "/api/v1/hotline/requests", request_body(clock), key)
    assert answer.status_code == 201, answer.text
    assert answer.json()["body"]["by"] == {"operator": "mia", "office": "us-secdef"}
    # Signed: the peer holds the same body, under the US signature.
    sync(us, prc)
    assert signed(prc, answer.json()["statement_id"])["by"]["operator"] == "mia"

    token = post(us, "/api/v1/hotline/requests", request_body(clock), TOKEN)
    assert token.status_code == 201, token.text
    assert "by" not in token.json()["body"]  # the node's shared token names nobody


def test_a_principal_cannot_act_for_an_office_not_theirs(
    sides: tuple[Side, Side, Clock],
) -> None:
    us, _prc, clock = sides
    ops = OperatorService(us.store, clock=us.node.clock)
    ops.add("mia", role="principal", password=PASSWORD, offices=["us-secdef"])
    key = ops.issue_key("mia", "scripts")
    before = us.count()
    answer = post(us, "/api/v1/hotline/requests", request_body(clock, "us-cjcs"), key)
    assert answer.status_code == 403, answer.text
    assert answer.json()["field"] == "from_office"
    assert us.count() == before


def test_a_response_and_call_events_name_who_acted(sides: tuple[Side, Side, Clock]) -> None:
    us, prc, clock = sides
    ops = OperatorService(prc.store, clock=prc.node.clock)
    ops.add("wei", role="principal", password=PASSWORD, offices=["prc-mnd"])
    key = ops.issue_key("wei", "scripts")
    asked = post(us, "/api/v1/hotline/requests", request_body(clock), TOKEN).json()
    sync(us, prc)
    request_id = asked["body"]["id"]
    declined = post(
        prc,
        f"/api/v1/hotline/requests/{request_id}/responses",
        {"action": "decline", "reason": "Not now"},
        key,
    )
    assert declined.status_code == 201, declined.text
    assert declined.json()["body"]["by"] == {"operator": "wei", "office": "prc-mnd"}


def test_a_message_sent_with_a_named_key_names_its_sender(
    sides: tuple[Side, Side, Clock],
) -> None:
    us, prc, _clock = sides
    ops = OperatorService(us.store, clock=us.node.clock)
    ops.add("wanda", role="watch", password=PASSWORD)
    key = ops.issue_key("wanda", "scripts")
    message = {"to": "prc", "precedence": "flash", "subject": "Intercept", "text": "Details"}
    sent = post(us, "/api/v1/messages", message, key)
    assert sent.status_code == 201, sent.text
    sync(us, prc)
    assert signed(prc, sent.json()["id"])["by"] == {"operator": "wanda"}
    anonymous = post(us, "/api/v1/messages", message, TOKEN)
    assert "by" not in signed(us, anonymous.json()["id"])
