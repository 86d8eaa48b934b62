"""schemathesis against the link's OpenAPI schema, as a pinned peer sees it.

The link serves no schema (peers need none); its application still has one
(``app.openapi()``), and the route decorators describe the raw bodies the
handlers read (NDJSON statements, tlog-witness text, the leaves query). Each
operation is called in process with generated input, valid and invalid, with
the ASGI scope's TLS extension naming the pinned peer's certificate, exactly
as :class:`redline.link.server.PeerCertProtocol` sets it after a mutual-TLS
handshake (the handshake itself is tested in test_tls_pinning.py). Whatever
is sent: no 5xx, documented statuses and content types, conforming answers,
and input the schema calls invalid is refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from schemathesis import BaseSchema, GenerationMode
from starlette.types import ASGIApp, Receive, Scope, Send
from test_api_schema import CONFIG, EXAMPLES, run_schema

from redline.link.server import create_link_app
from support.pair import MemoryPair

# The link's bodies are bytes on the wire; generated strings go as they are.
schemathesis.serializer.alias("application/x-ndjson", "text/plain")


def as_peer(app: ASGIApp, fingerprint: str) -> ASGIApp:
    """``app`` reached over a mutual-TLS connection by the holder of ``fingerprint``."""

    async def with_tls(scope: Scope, receive: Receive, send: Send) -> None:
        scope.setdefault("extensions", {})["tls"] = {"client_cert_sha256": fingerprint}
        await app(scope, receive, send)

    return with_tls


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MemoryPair]:
    pair = MemoryPair(Path(tmp_path_factory.mktemp("link-schema")))
    # A log with something in it, witnessed once, so pulls and leaves answer rows.
    pair.us.service.send_message(to="prc", precedence="flash", subject="Intercept", text="")
    pair.prc.service.send_message(to="us", precedence="routine", subject="Noted", text="")
    pair.deliver()
    pair.witness()
    yield pair
    pair.close()


def link_schema(pair: MemoryPair) -> BaseSchema:
    wrapped: Any = create_link_app(pair.us.service, record=pair.us.record)
    document = wrapped.app.openapi()  # inside the BodyLimit middleware
    schema = schemathesis.openapi.from_dict(document, config=CONFIG)
    schema.app = as_peer(wrapped, pair.prc.dir.identity().tls_cert_sha256)
    return schema


def test_the_schema_describes_the_raw_bodies(pair: MemoryPair) -> None:
    wrapped: Any = create_link_app(pair.us.service, record=pair.us.record)
    paths = wrapped.app.openapi()["paths"]
    push = paths["/link/v1/statements"]["post"]
    assert list(push["requestBody"]["content"]) == ["application/x-ndjson"]
    assert list(push["responses"]["200"]["content"]) == ["application/x-ndjson"]
    assert "application/problem+json" in push["responses"]["422"]["content"]
    assert "text/plain" in paths["/link/v1/add-checkpoint"]["post"]["requestBody"]["content"]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_link_answers_a_pinned_peer_as_its_schema_says(
    pair: MemoryPair, mode: GenerationMode
) -> None:
    failures = run_schema(link_schema(pair), mode, {}, examples=EXAMPLES)
    assert failures == [], "\n\n".join(failures)
