"""The link endpoint peers talk to: push a batch, pull since N.

Only mutual-TLS connections reach it, and the TLS layer admits only pinned
certificates. :class:`PeerCertProtocol` puts the client certificate's SHA-256
into the ASGI scope (``extensions.tls``), so each request is attributed to the
peer that holds that certificate; a statement whose sender is another party
is refused.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from redline.core.errors import InvalidInput, SequenceGap, UnpinnedPeer
from redline.core.witness_wire import WitnessSizeMismatch
from redline.http_problems import BodyLimit, install_problem_handlers
from redline.link.wire import MAX_BATCH, NDJSON, decode_batch, encode_batch
from redline.service.node import NodeService
from redline.service.record import RecordService

__all__ = ["MAX_LINK_BODY", "PeerCertProtocol", "create_link_app"]

MAX_LINK_BODY = 8 * 1024 * 1024


class _PeerCert:
    """Mixin for a uvicorn HTTP protocol: tell the app which certificate the client showed."""

    app: ASGIApp

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        ssl_object = transport.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        fingerprint = hashlib.sha256(der).hexdigest() if der else None
        inner: ASGIApp = self.app

        async def with_tls(scope: Scope, receive: Receive, send: Send) -> None:
            scope.setdefault("extensions", {})["tls"] = {"client_cert_sha256": fingerprint}
            await inner(scope, receive, send)

        self.app = with_tls


class PeerCertH11Protocol(_PeerCert, H11Protocol):
    """uvicorn's pure-Python h11 protocol, with the client certificate in the scope."""


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - httptools is a dependency; h11 is the fallback
    PeerCertProtocol: type[asyncio.Protocol] = PeerCertH11Protocol
else:

    class PeerCertHttpToolsProtocol(_PeerCert, HttpToolsProtocol):
        """uvicorn's httptools protocol (C parser), with the client certificate in the scope."""

    PeerCertProtocol = PeerCertHttpToolsProtocol


def create_link_app(
    service: NodeService,
    *,
    record: RecordService | None = None,
    on_gap: Callable[[str], None] | None = None,
) -> ASGIApp:
    """The link application for ``service``.

    ``on_gap(peer)`` is called when a push skipped ahead, so the node's worker
    can ask that peer for everything since the last statement it holds.
    """
    app = FastAPI(title="Redline link", docs_url=None, redoc_url=None, openapi_url=None)
    install_problem_handlers(app)
    pinned: dict[str, str] = {}

    def peer_of(request: Request) -> str:
        tls: dict[str, Any] = request.scope.get("extensions", {}).get("tls") or {}
        fingerprint = tls.get("client_cert_sha256")
        if not fingerprint:
            raise UnpinnedPeer("no client certificate was presented")
        party = pinned.get(fingerprint)
        if party is None:
            # Pins change only through `redline peer add`; look again before refusing.
            pinned.clear()
            pinned.update({p.identity.tls_cert_sha256: p.party for p in service.peers()})
            party = pinned.get(fingerprint)
        if party is None:
            raise UnpinnedPeer(f"client certificate {fingerprint[:16]} is not pinned")
        return party

    @app.post("/link/v1/statements")
    async def push(request: Request) -> Response:
        peer = peer_of(request)
        batch = decode_batch(await request.body())
        try:
            result = await run_in_threadpool(service.receive, peer, batch)
        except SequenceGap:
            if on_gap is not None:
                on_gap(peer)
            raise
        return Response(encode_batch(result.receipts), media_type=NDJSON)

    @app.get("/link/v1/statements")
    async def pull(
        request: Request,
        after: int = Query(ge=0),
        limit: int = Query(default=256, ge=1, le=MAX_BATCH),
    ) -> Response:
        peer = peer_of(request)
        wires = await run_in_threadpool(service.since, peer, after, limit)
        return Response(encode_batch(wires), media_type=NDJSON)

    if record is not None:
        _add_witness_routes(app, record, peer_of)
    return BodyLimit(app, max_bytes=MAX_LINK_BODY)


def _add_witness_routes(
    app: FastAPI, record: RecordService, peer_of: Callable[[Request], str]
) -> None:
    @app.post("/link/v1/add-checkpoint")
    async def add_checkpoint(request: Request) -> Response:
        # C2SP tlog-witness add-checkpoint, for the log of the connected peer.
        peer = peer_of(request)
        body = await request.body()
        try:
            lines = await run_in_threadpool(record.add_checkpoint, peer, body)
        except WitnessSizeMismatch as exc:
            return Response(f"{exc.size}\n", status_code=409, media_type="text/x.tlog.size")
        return Response(lines, media_type="text/plain; charset=utf-8")

    @app.post("/link/v1/log/leaves")
    async def leaves(request: Request) -> Response:
        # Leaf records of our log, for the witness's copy of it.
        peer_of(request)
        try:
            query = json.loads(await request.body())
            start = query["start"]
            end = query["end"]
            if type(start) is not int or type(end) is not int:
                raise TypeError
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidInput('body must be {"start": <int>, "end": <int>}', field="body") from exc
        records = await run_in_threadpool(record.leaves_for, start, end)
        body = {"records": [base64.b64encode(r).decode("ascii") for r in records]}
        return Response(json.dumps(body), media_type="application/json")
