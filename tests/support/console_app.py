"""What the in-process console tests share: two hotline nodes with a watch
officer (wanda), a Chinese-reading one (zhou), a principal (pat) and an admin
(ada) on each, and a client signed in to one node's console."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import httpx

from redline.service.operators import OperatorService
from redline.web.api import create_api_app
from support.hotline import Clock, Side, hotline_sides

TOKEN = "operator-token-for-tests"
PASSWORD = "correct horse battery"
BASE = "https://node.test"


@contextmanager
def console_sides(tmp_path: Path) -> Iterator[tuple[Side, Side, Clock]]:
    """us and prc, paired, each with the four operators above."""
    clock = Clock()
    with hotline_sides(tmp_path, clock) as made:
        us, prc = made["us"], made["prc"]
        for side in (us, prc):
            ops = OperatorService(side.store, clock=side.node.clock)
            ops.add("wanda", role="watch", password=PASSWORD)
            ops.add("zhou", role="watch", password=PASSWORD, lang="zh")
            ops.add("pat", role="principal", password=PASSWORD, offices=[f"{side.party}-x"])
            ops.add("ada", role="admin", password=PASSWORD)
        yield us, prc, clock


def run(side: Side, script: Any, name: str = "wanda") -> Any:
    """Run ``script(client)`` signed in as ``name`` on ``side``'s API app."""

    async def go() -> Any:
        app = create_api_app(side.node, token=TOKEN, identity=cast(Any, None), hotline=side.hotline)
        transport = httpx.ASGITransport(app=app, client=("10.0.0.7", 4000))
        async with httpx.AsyncClient(
            transport=transport, base_url=BASE, headers={"accept": "text/html"}
        ) as client:
            signed = await client.post(
                "/console/login",
                data={"name": name, "password": PASSWORD},
                headers={"origin": BASE},
            )
            assert signed.status_code == 303, signed.text
            return await script(client)

    return asyncio.run(go())
