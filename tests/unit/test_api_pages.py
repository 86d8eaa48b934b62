"""The operator API serves no page that loads anything from outside the node
(docs/security.md, "Pages that load from a CDN")."""

from __future__ import annotations

import asyncio
import re
from typing import Any, cast

import httpx

from redline.link.server import create_link_app
from redline.web.api import create_api_app

# Building the apps registers routes only; these paths reach no service.
PAGES = ("/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json", "/healthz")
EXTERNAL = re.compile(rb"""(?:https?:)?//(?!node\.test)[a-z0-9.-]+\.[a-z]{2,}""", re.I)


def _get_all(app: Any) -> dict[str, httpx.Response]:
    async def go() -> dict[str, httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://node.test") as client:
            return {path: await client.get(path) for path in PAGES if path != "/healthz"}

    return asyncio.run(go())


def test_no_page_of_the_api_or_the_link_loads_from_elsewhere() -> None:
    api = create_api_app(
        cast(Any, None), token="t", identity=cast(Any, None), hotline=cast(Any, object())
    )
    link = create_link_app(cast(Any, None), record=cast(Any, object()))
    for app in (api, link):
        for path, answer in _get_all(app).items():
            if answer.headers.get("content-type", "").startswith("text/html"):
                assert not EXTERNAL.search(answer.content), (path, answer.text[:300])
    answers = _get_all(api)
    for path in ("/docs", "/docs/oauth2-redirect", "/redoc"):
        assert answers[path].status_code == 404, path
    schema = answers["/openapi.json"]
    assert schema.status_code == 200 and schema.json()["info"]["title"] == "Redline operator API"
    assert not EXTERNAL.search(schema.content)


def test_the_check_can_fail() -> None:
    assert EXTERNAL.search(b'<script src="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/x.js">')
    assert EXTERNAL.search(b'<link href="//fonts.googleapis.com/css">')
    assert not EXTERNAL.search(b'<a href="/openapi.json">')
