"""The link application's quotas, in process: refused before parsing, nothing stored.

The link app is called with the ASGI scope's TLS extension naming a pinned
peer's certificate, as the mutual-TLS protocol sets it (tests/integration/
test_link_schema.py does the same); real sockets are in test_quota_floods.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from redline.link.quota import PeerQuotas, QuotaLimits
from redline.link.server import create_link_app
from redline.link.wire import NDJSON, encode_batch
from support.pair import MemoryPair


def as_peer(app: ASGIApp, fingerprint: str) -> ASGIApp:
    async def with_tls(scope: Scope, receive: Receive, send: Send) -> None:
        scope.setdefault("extensions", {})["tls"] = {"client_cert_sha256": fingerprint}
        await app(scope, receive, send)

    return with_tls


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[MemoryPair]:
    made = MemoryPair(tmp_path)
    yield made
    made.close()


class Link:
    """An HTTP client to an ASGI app, on one event loop of its own."""

    def __init__(self, app: ASGIApp) -> None:
        self._loop = asyncio.new_event_loop()
        transport = httpx.ASGITransport(app=app)
        self._client = httpx.AsyncClient(transport=transport, base_url="https://prc.test")

    def __enter__(self) -> Link:
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.run_until_complete(self._client.aclose())
        self._loop.close()

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self._loop.run_until_complete(self._client.post(path, **kwargs))

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self._loop.run_until_complete(self._client.get(path, **kwargs))


def link_of_prc(pair: MemoryPair, *, burst: int, per_day: int = 2**30) -> Link:
    """The PRC node's link, as the US node reaches it."""
    quotas = PeerQuotas(
        QuotaLimits(statements_per_second=0.1, burst_statements=burst, bytes_per_day=per_day)
    )
    app = create_link_app(pair.prc.service, record=pair.prc.record, quotas=quotas)
    return Link(as_peer(app, pair.us.dir.identity().tls_cert_sha256))


def held_from_us(pair: MemoryPair) -> int:
    return pair.prc.service.received_through("us")


def test_a_push_over_quota_is_refused_before_it_is_parsed(pair: MemoryPair) -> None:
    with link_of_prc(pair, burst=3) as link:
        wires = [pair.us.service.link_test(to="prc").canonical for _ in range(3)]
        admitted = link.post(
            "/link/v1/statements", content=encode_batch(wires), headers={"content-type": NDJSON}
        )
        assert admitted.status_code == 200
        assert held_from_us(pair) == 3
        # Lines that are not statements: over quota, they are not even parsed (429, not 422).
        junk = link.post(
            "/link/v1/statements", content=b"{not json}\n", headers={"content-type": NDJSON}
        )
        assert junk.status_code == 429, junk.text
        assert junk.headers["retry-after"] == "10"  # one token at 0.1 a second
        assert junk.json()["field"] == "peer_statements_per_second"
        # A valid statement over quota is not stored.
        wire = pair.us.service.link_test(to="prc").canonical
        refused = link.post("/link/v1/statements", content=wire, headers={"content-type": NDJSON})
        assert refused.status_code == 429
        assert held_from_us(pair) == 3


def test_a_push_over_the_burst_is_told_the_most_it_may_carry(pair: MemoryPair) -> None:
    with link_of_prc(pair, burst=2) as link:
        wires = [pair.us.service.link_test(to="prc").canonical for _ in range(3)]
        refused = link.post(
            "/link/v1/statements", content=encode_batch(wires), headers={"content-type": NDJSON}
        )
        assert refused.status_code == 429
        assert refused.json()["max_statements"] == 2
        assert held_from_us(pair) == 0
        fits = link.post(
            "/link/v1/statements",
            content=encode_batch(wires[:2]),
            headers={"content-type": NDJSON},
        )
        assert fits.status_code == 200
        assert held_from_us(pair) == 2


def test_pulls_draw_on_the_bytes_budget(pair: MemoryPair) -> None:
    text = "x" * 30_000
    for _ in range(40):  # about 1.2 MiB for the US node to pull
        pair.prc.service.send_message(to="us", precedence="routine", subject="s", text=text)
    with link_of_prc(pair, burst=10, per_day=1024 * 1024) as link:
        answers = [link.get("/link/v1/statements", params={"after": 0, "limit": 40})]
        # The first answer (over 1 MiB) was built and sent; it overdrew the budget.
        assert answers[0].status_code == 200
        again = link.get("/link/v1/statements", params={"after": 0, "limit": 1})
        assert again.status_code == 429
        assert again.json()["field"] == "peer_bytes_per_day"


def test_a_pull_after_a_sequence_number_no_statement_carries_is_refused_naming_it(
    pair: MemoryPair,
) -> None:
    with link_of_prc(pair, burst=10) as link:
        answer = link.get("/link/v1/statements", params={"after": 2**53})
        assert answer.status_code == 422, answer.text
        assert answer.json()["field"] == "after"
        assert link.get("/link/v1/statements", params={"after": 2**53 - 1}).status_code == 200


@pytest.mark.parametrize(
    "body",
    [b"[" * 200_000, b'{"start": ' * 50_000, b'{"start": 0, "end": 1.0}', b"\xff", b"[]"],
    ids=["deep-list", "deep-object", "float", "not-utf8", "not-an-object"],
)
def test_a_leaves_query_the_witness_could_not_mean_is_refused_naming_the_body(
    pair: MemoryPair, body: bytes
) -> None:
    pair.prc.service.link_test(to="us")  # one leaf in the PRC log
    with link_of_prc(pair, burst=10) as link:
        answer = link.post("/link/v1/log/leaves", content=body)
        assert answer.status_code == 422, answer.text
        assert answer.json()["field"] == "body"
        # And the link still answers an honest query.
        honest = link.post("/link/v1/log/leaves", json={"start": 0, "end": 1})
        assert honest.status_code == 200, honest.text
        assert len(honest.json()["records"]) == 1
