"""More of the console's defences: a TOTP code is accepted once; a named API
key's use is recorded at most once a minute; unknown keys are throttled like
wrong passwords; and the key is looked up off the event loop."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import pyotp
import pytest

from redline.service.operators import OperatorService
from redline.store import operators as op_store
from redline.web.api import create_api_app
from support.hotline import Clock, Side, hotline_sides

TOKEN = "operator-token-for-tests"
PASSWORD = "correct horse battery"
BASE = "https://node.test"


@pytest.fixture
def side(tmp_path: Path) -> Iterator[tuple[Side, Clock]]:
    clock = Clock()
    with hotline_sides(tmp_path, clock) as made:
        prc = made["prc"]
        OperatorService(prc.store, clock=prc.node.clock).add(
            "wanda", role="watch", password=PASSWORD
        )
        yield prc, clock


def run(side: Side, script: Any, client: tuple[str, int] = ("10.0.0.7", 4000)) -> Any:
    app = create_api_app(side.node, token=TOKEN, identity=cast(Any, None), hotline=side.hotline)

    async def go() -> Any:
        transport = httpx.ASGITransport(app=app, client=client)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
            return await script(http)

    return asyncio.run(go())


def secret_of(side: Side, name: str) -> str:
    with side.store.read() as conn:
        row = op_store.get_operator(conn, name)
    assert row is not None and row.totp_secret is not None
    return row.totp_secret


def actions(side: Side, clock: Clock) -> list[str]:
    return [r["action"] for r in OperatorService(side.store, clock=clock).audit_log()]


def test_a_totp_code_signs_in_once_and_an_earlier_step_not_after_it(
    side: tuple[Side, Clock],
) -> None:
    prc, clock = side
    ops = OperatorService(prc.store, clock=clock)
    ops.enrol_totp("wanda")
    totp = pyotp.TOTP(secret_of(prc, "wanda"))
    clock.advance(seconds=5)  # well inside a 30-second step (START is on a boundary)
    code = totp.at(clock.now)
    earlier = totp.at(clock.now, counter_offset=-1)  # within the drift allowed

    def sign_in(code: str) -> int:
        async def script(http: httpx.AsyncClient) -> int:
            answer = await http.post(
                "/console/login",
                data={"name": "wanda", "password": PASSWORD, "code": code},
                headers={"origin": BASE, "accept": "text/html"},
            )
            return answer.status_code

        return int(run(prc, script))

    assert sign_in(code) == 303
    assert sign_in(code) == 401  # the same code again, in the same step: refused
    assert sign_in(earlier) == 401  # a step before the one used: refused too
    clock.advance(seconds=30)
    assert sign_in(totp.at(clock.now)) == 303  # the next step's code is good
    audit = actions(prc, clock)
    assert audit.count("sign-in") == 2 and audit.count("sign-in-failed") == 2


def test_of_two_sign_ins_racing_with_one_totp_code_one_wins(
    side: tuple[Side, Clock],
) -> None:
    prc, clock = side
    ops = OperatorService(prc.store, clock=clock)
    ops.enrol_totp("wanda")
    clock.advance(seconds=5)
    code = pyotp.TOTP(secret_of(prc, "wanda")).at(clock.now)
    ops.sign_in("wanda", PASSWORD, code=code, client="a")
    with prc.store.write() as conn:
        step = op_store.get_operator(conn, "wanda")
        assert step is not None and step.totp_last_step is not None
        # Of two sign-ins racing with one code, the second's claim fails.
        assert not op_store.claim_totp_step(conn, "wanda", step.totp_last_step)
        assert op_store.claim_totp_step(conn, "wanda", step.totp_last_step + 1)


def test_an_api_keys_use_is_audited_and_written_at_most_once_a_minute(
    side: tuple[Side, Clock],
) -> None:
    prc, clock = side
    key = OperatorService(prc.store, clock=clock).issue_key("wanda", "scripts")

    def last_used() -> str | None:
        with prc.store.read() as conn:
            row = op_store.api_key(conn, hashlib.sha256(key.encode()).hexdigest())
        assert row is not None
        return row.last_used_at

    async def burst(http: httpx.AsyncClient) -> list[int]:
        headers = {"authorization": f"Bearer {key}"}
        return [(await http.get("/api/v1/messages", headers=headers)).status_code for _ in range(5)]

    assert last_used() is None
    assert run(prc, burst) == [200] * 5
    first = last_used()
    assert first is not None
    assert actions(prc, clock).count("api-key-used") == 1
    clock.advance(seconds=30)
    assert run(prc, burst) == [200] * 5
    assert last_used() == first  # within the minute: not written again
    assert actions(prc, clock).count("api-key-used") == 1
    clock.advance(seconds=31)
    assert run(prc, burst) == [200] * 5
    assert last_used() is not None and last_used() != first
    rows = OperatorService(prc.store, clock=clock).audit_log()
    used = [r for r in rows if r["action"] == "api-key-used"]
    assert len(used) == 2
    assert {(r["operator"], r["target"], r["client"]) for r in used} == {
        ("wanda", "scripts", "10.0.0.7")
    }


def test_unknown_api_keys_are_throttled_per_client_like_wrong_passwords(
    side: tuple[Side, Clock],
) -> None:
    prc, clock = side
    key = OperatorService(prc.store, clock=clock).issue_key("wanda", "scripts")

    async def script(http: httpx.AsyncClient) -> list[tuple[int, str | None]]:
        out = []
        for bearer in ("rlk_guess1", "rlk_guess2", "rlk_guess3", key):
            answer = await http.get(
                "/api/v1/messages", headers={"authorization": f"Bearer {bearer}"}
            )
            out.append((answer.status_code, answer.headers.get("retry-after")))
            if answer.status_code == 429:
                assert answer.headers["content-type"] == "application/problem+json"
                assert answer.json()["field"] == "authorization"
        return out

    answers = run(prc, script)
    assert [code for code, _ in answers] == [401, 401, 401, 429]  # even the right key waits
    assert answers[3][1] is not None and int(answers[3][1]) >= 1

    async def other(http: httpx.AsyncClient) -> int:
        headers = {"authorization": f"Bearer {key}"}
        return (await http.get("/api/v1/messages", headers=headers)).status_code

    assert run(prc, other, client=("10.0.0.8", 4000)) == 200  # another client is not held
    assert run(prc, other, client=("10.0.0.7", 4000)) == 429
    clock.advance(seconds=2)
    assert run(prc, other, client=("10.0.0.7", 4000)) == 200
    assert actions(prc, clock).count("api-key-failed") == 3
    # The shared token is no API key: a wrong one is a 401, never counted.

    async def shared(http: httpx.AsyncClient) -> list[int]:
        codes = []
        for bearer in ("wrong", "wrong", "wrong", TOKEN):
            answer = await http.get(
                "/api/v1/messages", headers={"authorization": f"Bearer {bearer}"}
            )
            codes.append(answer.status_code)
        return codes

    assert run(prc, shared, client=("10.0.0.9", 4000)) == [401, 401, 401, 200]


def test_the_key_is_looked_up_off_the_event_loop(
    side: tuple[Side, Clock], monkeypatch: pytest.MonkeyPatch
) -> None:
    prc, clock = side
    key = OperatorService(prc.store, clock=clock).issue_key("wanda", "scripts")
    on_loop: list[bool] = []
    real = OperatorService.key_operator

    def spy(self: OperatorService, key: str, **kw: Any) -> Any:
        try:
            asyncio.get_running_loop()
            on_loop.append(True)
        except RuntimeError:
            on_loop.append(False)
        return real(self, key, **kw)

    monkeypatch.setattr(OperatorService, "key_operator", spy)

    async def script(http: httpx.AsyncClient) -> list[int]:
        headers = {"authorization": f"Bearer {key}"}
        got = await http.get("/api/v1/messages", headers=headers)
        sent = await http.post(
            "/api/v1/messages",
            json={"to": "us", "precedence": "routine", "subject": "s", "text": ""},
            headers=headers | {"idempotency-key": "k-1"},
        )
        return [got.status_code, sent.status_code]

    assert run(prc, script) == [200, 201]
    # The GET's dependency; then the POST's idempotency check, its token check
    # and the look-up of who acts (the message is signed naming the operator).
    assert on_loop == [False, False, False, False]
