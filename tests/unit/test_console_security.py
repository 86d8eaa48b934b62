"""The console's defences: every route refuses the anonymous, cookies carry
their flags, a sign-in gets a fresh session id, cross-site and token-less
state changes are refused, wrong passwords are throttled, sessions expire, a
principal acts for their own offices only, and a peer's text is escaped."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from fastapi.routing import APIRoute
from starlette.routing import Mount

from redline.service.hotline import parse_window
from redline.service.operators import OperatorService
from redline.web.api import create_api_app
from redline.web.console import PUBLIC_PATHS, Console
from redline.web.console.app import create_console
from support.hotline import Clock, Side, hotline_sides, sync

TOKEN = "operator-token-for-tests"
PASSWORD = "correct horse battery"
BASE = "https://node.test"


@pytest.fixture
def sides(tmp_path: Path) -> Iterator[tuple[Side, Side, Clock]]:
    clock = Clock()
    with hotline_sides(tmp_path, clock) as made:
        yield made["us"], made["prc"], clock


@pytest.fixture
def prc(sides: tuple[Side, Side, Clock]) -> Side:
    prc = sides[1]
    ops = OperatorService(prc.store, clock=prc.node.clock)
    ops.add("wanda", role="watch", password=PASSWORD)
    ops.add("pat", role="principal", password=PASSWORD, offices=["prc-cmc"])
    ops.add("mia", role="principal", password=PASSWORD, offices=["prc-mnd"])
    return prc


def app_of(side: Side) -> Any:
    return create_api_app(side.node, token=TOKEN, identity=cast(Any, None), hotline=side.hotline)


def run(side: Side, script: Any) -> Any:
    """Run ``script(client)`` against ``side``'s API app, in one event loop."""

    async def go() -> Any:
        transport = httpx.ASGITransport(app=app_of(side), client=("10.0.0.7", 4000))
        async with httpx.AsyncClient(
            transport=transport, base_url=BASE, headers={"accept": "text/html"}
        ) as client:
            return await script(client)

    return asyncio.run(go())


async def sign_in(
    client: httpx.AsyncClient, name: str, password: str = PASSWORD, code: str = ""
) -> httpx.Response:
    return await client.post(
        "/console/login",
        data={"name": name, "password": password, "code": code},
        headers={"origin": BASE},
    )


async def csrf_of(client: httpx.AsyncClient) -> str:
    page = await client.get("/console/compose")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text[:500]
    return found.group(1)


def test_every_console_route_but_sign_in_refuses_the_anonymous(prc: Side) -> None:
    console = create_console(Console(prc.node), hotline=prc.hotline)
    routes = [r for r in console.routes if isinstance(r, APIRoute)]
    public = {r.path for r in routes if r.path == "/login"}
    public |= {r.path for r in console.routes if isinstance(r, Mount)}
    assert public == PUBLIC_PATHS
    checked = []

    async def script(client: httpx.AsyncClient) -> None:
        for route in routes:
            if route.path in PUBLIC_PATHS:
                continue
            path = "/console" + re.sub(r"\{[^}]+\}", "a" * 64, route.path)
            for method in route.methods:
                if method == "HEAD":
                    continue
                plain = await client.request(method, path, headers={"accept": "text/html"})
                htmx = await client.request(method, path, headers={"hx-request": "true"})
                sse = await client.request(method, path, headers={"accept": "text/event-stream"})
                if method == "GET":
                    assert plain.status_code == 303, (path, plain.status_code)
                    assert plain.headers["location"].startswith("/console/login?next=")
                else:
                    assert plain.status_code == 401, (path, plain.status_code)
                assert htmx.status_code == sse.status_code == 401, (path, method)
                assert htmx.headers["content-type"] == "application/problem+json"
                checked.append((method, path))

    run(prc, script)
    # The events stream, the pages, their fragments and every act were among them.
    paths = {p for _m, p in checked}
    assert {"/console/events", "/console/now", "/console/fragments/now"} <= paths
    assert ("POST", "/console/compose") in checked and len(checked) >= 18


def test_cookie_flags_and_a_fresh_session_id_at_each_sign_in(prc: Side) -> None:
    async def script(client: httpx.AsyncClient) -> tuple[str, str, int, int]:
        first = await sign_in(client, "wanda")
        assert first.status_code == 303, first.text
        cookie = first.headers["set-cookie"]
        old = client.cookies["redline_session"]
        second = await sign_in(client, "wanda")  # the browser still sends the old one
        new = client.cookies["redline_session"]
        assert second.status_code == 303
        stale = httpx.AsyncClient(
            transport=client._transport, base_url=BASE, cookies={"redline_session": old}
        )
        async with stale:
            stale_page = await stale.get("/console/now", headers={"hx-request": "true"})
        page = await client.get("/console/now")
        return cookie, old + " " + new, stale_page.status_code, page.status_code

    cookie, tokens, stale, fresh = run(prc, script)
    flags = {part.strip().lower() for part in cookie.split(";")}
    assert {"secure", "httponly", "samesite=strict", "path=/console"} <= flags
    old, new = tokens.split()
    assert old != new
    assert (stale, fresh) == (401, 200)


def test_a_cross_site_or_token_less_post_is_refused_and_stores_nothing(prc: Side) -> None:
    before = prc.count()

    async def script(client: httpx.AsyncClient) -> list[httpx.Response]:
        await sign_in(client, "wanda")
        csrf = await csrf_of(client)
        form = {"to": "us", "precedence": "flash", "subject": "s", "text": "t"}
        return [
            await client.post(
                "/console/compose",
                data=form | {"csrf": csrf},
                headers={"origin": "https://evil.test"},
            ),
            await client.post(
                "/console/compose",
                data=form | {"csrf": csrf},
                headers={"sec-fetch-site": "cross-site"},
            ),
            await client.post("/console/compose", data=form, headers={"origin": BASE}),
            await client.post(
                "/console/compose", data=form | {"csrf": "x" + csrf}, headers={"origin": BASE}
            ),
            await client.post(
                "/console/login",
                data={"name": "wanda", "password": PASSWORD},
                headers={"origin": "https://evil.test"},
            ),
            # The same form from the console itself goes through.
            await client.post(
                "/console/compose", data=form | {"csrf": csrf}, headers={"origin": BASE}
            ),
        ]

    *refused, sent = run(prc, script)
    for answer in refused:
        assert answer.status_code == 403, answer.text
    assert sent.status_code == 303 and sent.headers["location"].startswith("/console/messages/")
    assert prc.count() == before + 1


def test_bad_form_input_is_a_4xx_naming_the_field_and_stores_nothing(prc: Side) -> None:
    before = prc.count()

    async def script(client: httpx.AsyncClient) -> list[httpx.Response]:
        await sign_in(client, "wanda")
        csrf = await csrf_of(client)
        headers = {"origin": BASE, "hx-request": "true"}
        good = {"to": "us", "precedence": "flash", "subject": "s", "csrf": csrf}
        return [
            await client.post(
                "/console/compose", data=good | {"precedence": "urgent"}, headers=headers
            ),
            await client.post("/console/compose", data=good | {"subject": ""}, headers=headers),
            await client.post("/console/compose", data=good | {"to": "nobody"}, headers=headers),
        ]

    answers = run(prc, script)
    assert [(a.status_code, a.json()["field"]) for a in answers] == [
        (422, "precedence"),
        (422, "subject"),
        (404, "to"),
    ]
    assert prc.count() == before


def test_wrong_passwords_are_throttled_per_operator_and_per_client(
    prc: Side, sides: tuple[Side, Side, Clock]
) -> None:
    clock = sides[2]

    async def script(client: httpx.AsyncClient) -> list[int]:
        codes = [(await sign_in(client, "wanda", "wrong password")).status_code for _ in range(3)]
        right = await sign_in(client, "wanda")  # the right password, too soon
        codes.append(right.status_code)
        assert int(right.headers["retry-after"]) >= 1
        other = await sign_in(client, "pat")  # another name, from the same client
        codes.append(other.status_code)
        clock.advance(seconds=2)
        codes.append((await sign_in(client, "wanda")).status_code)
        return codes

    assert run(prc, script) == [401, 401, 401, 429, 429, 303]
    actions = [row["action"] for row in OperatorService(prc.store, clock=clock).audit_log()]
    assert actions.count("sign-in-failed") == 3 and "sign-in-throttled" in actions
    assert actions[0] == "sign-in"


def test_a_session_ends_after_idle_time_and_at_its_absolute_expiry(
    prc: Side, sides: tuple[Side, Side, Clock]
) -> None:
    clock = sides[2]

    async def script(client: httpx.AsyncClient) -> list[int]:
        codes = []
        await sign_in(client, "wanda")
        clock.advance(minutes=31)
        codes.append((await client.get("/console/now")).status_code)
        await sign_in(client, "wanda")
        for _ in range(25):  # active every 29 minutes, for over 12 hours
            clock.advance(minutes=29)
            nav = await client.get("/console/fragments/nav", headers={"hx-request": "true"})
            codes.append(nav.status_code)
        return codes

    codes = run(prc, script)
    assert codes[0] == 303
    assert codes[1:] == [200] * 24 + [401]  # 24 x 29 min < 12 h < 25 x 29 min


def test_totp_once_enrolled_is_asked_for(prc: Side) -> None:
    ops = OperatorService(prc.store, clock=prc.node.clock)
    uri = ops.enrol_totp("wanda")
    assert uri.startswith("otpauth://totp/Redline:wanda?secret=")

    async def script(client: httpx.AsyncClient) -> list[int]:
        without = await sign_in(client, "wanda")
        wrong = await sign_in(client, "wanda", code="000000")
        right = await sign_in(client, "wanda", code=ops.totp_now("wanda"))
        return [without.status_code, wrong.status_code, right.status_code]

    assert run(prc, script) == [401, 401, 303]


def test_a_principal_answers_only_for_their_own_offices(
    sides: tuple[Side, Side, Clock], prc: Side
) -> None:
    us, _prc, clock = sides
    start = clock.now + timedelta(hours=24)
    window = parse_window(f"{start.isoformat()}/{(start + timedelta(hours=1)).isoformat()}", "w")
    request_id = str(
        us.hotline.request(
            from_office="us-secdef",
            to_office="prc-mnd",
            mechanism="dtl",
            mode="call",
            windows=[window],
        ).body["id"]
    )
    sync(us, prc)
    before = prc.count()

    async def act(client: httpx.AsyncClient, name: str) -> httpx.Response:
        await sign_in(client, name)
        csrf = await csrf_of(client)
        return await client.post(
            f"/console/requests/{request_id}/respond",
            data={"action": "decline", "reason": "not the counterpart", "csrf": csrf},
            headers={"origin": BASE},
        )

    async def script(client: httpx.AsyncClient) -> list[httpx.Response]:
        out = [await act(client, "pat"), await act(client, "wanda")]
        client.cookies.clear()
        out.append(await act(client, "mia"))
        return out

    pat, wanda, mia = run(prc, script)
    assert (pat.status_code, wanda.status_code) == (403, 403)
    assert "prc-mnd" in pat.text
    assert mia.status_code == 303
    assert prc.count() == before + 1
    line = next(r for r in prc.hotline.board()["requests"] if r["id"] == request_id)
    assert line["state"] == "declined"


def test_a_peers_text_is_shown_as_sent_and_escaped(
    sides: tuple[Side, Side, Clock], prc: Side
) -> None:
    us = sides[0]
    hostile = '<script>alert("x")</script> & <b>bold</b>'
    message = us.node.send_message(to="prc", precedence="flash", subject=hostile, text=hostile)
    sync(us, prc)

    async def script(client: httpx.AsyncClient) -> list[str]:
        await sign_in(client, "wanda")
        return [
            (await client.get(f"/console/messages/{message.id}")).text,
            (await client.get("/console/inbox")).text,
        ]

    for page in run(prc, script):
        assert "<script>alert" not in page and "<b>bold" not in page
        assert (
            "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in page
        )


def test_named_api_keys_are_accepted_beside_the_shared_token(prc: Side) -> None:
    key = OperatorService(prc.store, clock=prc.node.clock).issue_key("wanda", "scripts")

    async def script(client: httpx.AsyncClient) -> list[int]:
        codes = []
        for bearer in (TOKEN, key, key + "x", "rlk_nothing", ""):
            answer = await client.get(
                "/api/v1/identity" if False else "/healthz",
                headers={"authorization": f"Bearer {bearer}"},
            )
            codes.append(answer.status_code)
            answer = await client.get(
                "/api/v1/messages", headers={"authorization": f"Bearer {bearer}"}
            )
            codes.append(answer.status_code)
        return codes

    assert run(prc, script)[1::2] == [200, 200, 401, 401, 401]
