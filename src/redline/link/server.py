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
import functools
import hashlib
import json
import ssl
from asyncio.sslproto import SSLProtocol
from collections.abc import Callable
from typing import Any, cast

import anyio
import anyio.to_thread
from fastapi import FastAPI, Query, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from redline.core.errors import InvalidInput, SequenceGap, UnpinnedPeer
from redline.core.witness_wire import WitnessSizeMismatch
from redline.http_problems import BodyLimit, install_problem_handlers, problem_responses
from redline.link.quota import PeerQuotas, QuotaExceeded, quota_response
from redline.link.wire import MAX_BATCH, NDJSON, decode_batch, encode_batch
from redline.service.node import NodeService
from redline.service.record import RecordService

__all__ = ["MAX_LINK_BODY", "HandshakeGate", "PeerCertProtocol", "create_link_app"]

MAX_LINK_BODY = 8 * 1024 * 1024
# The largest sequence number a statement carries (RFC 8785 integers, 2^53 - 1):
# a pull after more is refused naming ``after``, not sent on to the database.
MAX_SEQ = 2**53 - 1
# Worker threads the link's handlers may hold at once. They are the link's own,
# not the process-wide pool the operator API draws on (anyio's default limiter),
# so slow link work (a witness fetching leaves from a slow peer) cannot leave
# the API without a thread.
LINK_THREADS = 16

# -- what the OpenAPI schema says of each route ----------------------------------
# The handlers read raw bodies (NDJSON, tlog-witness text), which FastAPI cannot
# describe from their signatures: the schema gets it from these (``app.openapi()``;
# the link serves no schema, tests/integration/test_link_schema.py reads it).


def _content(media_type: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {media_type: {"schema": schema}}


_STATEMENTS = {
    "type": "string",
    "maxLength": MAX_LINK_BODY,
    "description": (
        "NDJSON: one signed statement a line, each in its RFC 8785 canonical JSON form; "
        f"1 to {MAX_BATCH} of them"
    ),
}
_NDJSON_ANSWER = {
    "description": "NDJSON: signed statements (receipts for a push), one a line",
    "content": _content(NDJSON, {"type": "string"}),
}
PUSH_DOC: dict[str, Any] = {
    "openapi_extra": {"requestBody": {"required": True, "content": _content(NDJSON, _STATEMENTS)}},
    "responses": {200: _NDJSON_ANSWER, **problem_responses(400, 403, 409, 413, 422, 429)},
}
PULL_DOC: dict[str, Any] = {
    "responses": {200: _NDJSON_ANSWER, **problem_responses(400, 403, 413, 422, 429)},
}
ADD_CHECKPOINT_DOC: dict[str, Any] = {
    "openapi_extra": {
        "requestBody": {
            "required": True,
            "content": _content(
                "text/plain",
                {
                    "type": "string",
                    "maxLength": MAX_LINK_BODY,
                    "description": "C2SP tlog-witness add-checkpoint: 'old N', proof lines, "
                    "a blank line, the signed checkpoint note",
                },
            ),
        }
    },
    "responses": {
        200: {
            "description": "the witness's cosignature lines",
            "content": _content("text/plain", {"type": "string"}),
        },
        409: {
            "description": "the size this witness last cosigned (tlog-witness)",
            "content": _content("text/x.tlog.size", {"type": "string"}),
        },
        **problem_responses(400, 403, 404, 413, 422, 429),
    },
}
LEAVES_DOC: dict[str, Any] = {
    "openapi_extra": {
        "requestBody": {
            "required": True,
            "content": _content(
                "application/json",
                {
                    "type": "object",
                    "required": ["start", "end"],
                    "properties": {
                        "start": {"type": "integer", "minimum": 0},
                        "end": {"type": "integer", "minimum": 0},
                    },
                },
            ),
        }
    },
    "responses": {
        200: {
            "description": "leaf records start..end of this node's log, base64",
            "content": _content(
                "application/json",
                {
                    "type": "object",
                    "required": ["records"],
                    "properties": {"records": {"type": "array", "items": {"type": "string"}}},
                },
            ),
        },
        **problem_responses(400, 403, 413, 422, 429),
    },
}


class _LinkThreads:
    """Runs the link's blocking calls in worker threads under the link's own limit."""

    def __init__(self, limit: int) -> None:
        self._limiter = anyio.CapacityLimiter(limit)

    async def __call__(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await anyio.to_thread.run_sync(functools.partial(fn, *args), limiter=self._limiter)


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


class HandshakeGate:
    """Admits connections to the link's TLS handshake: a few at a time, briefly.

    Anyone who can reach the link port can open a TCP connection and send
    nothing; asyncio would hold each for its default 60 s TLS handshake
    timeout, and about 1,100 of them exhausted the process's file descriptors,
    taking down the link and the operator API (one process) until released.

    Each accepted connection counts as pending until its handshake completes
    or the connection ends. A handshake not done within ``timeout`` seconds
    is aborted. When ``max_pending`` are pending, a new connection aborts the
    *oldest* pending one rather than being refused: refusing new ones would
    let whoever holds the cap shut every peer out, while dropping the oldest
    means a flood must open ``max_pending`` connections within one honest
    handshake to shut a peer out. Only a completed handshake (a pinned
    certificate, the server's context requires one) reaches the HTTP protocol.

    :meth:`protocol_class` is the class to give uvicorn as ``http=``, with
    uvicorn's own ``ssl`` left unset: TLS is layered here instead, because
    uvicorn does not pass ``ssl_handshake_timeout`` to ``create_server``.
    """

    def __init__(
        self,
        *,
        protocol: Callable[..., asyncio.Protocol],
        context: ssl.SSLContext,
        timeout: float,
        max_pending: int,
    ) -> None:
        """Gate ``protocol`` (uvicorn's HTTP protocol class) behind TLS with ``context``.

        Raises :class:`ValueError` for a timeout that is not positive or a
        ``max_pending`` under 1.
        """
        if not timeout > 0:
            raise ValueError("the handshake timeout must be positive")
        if max_pending < 1:
            raise ValueError("at least one pending handshake must be allowed")
        self.protocol = protocol
        self.context = context
        self.timeout = timeout
        self.max_pending = max_pending
        # Insertion order is arrival order: the first is the oldest.
        self._pending: dict[_GatedTLS, None] = {}

    @property
    def pending(self) -> int:
        """How many accepted connections have not completed their handshake."""
        return len(self._pending)

    def protocol_class(self) -> type[asyncio.Protocol]:
        """A protocol class for uvicorn's ``http=``: TLS through this gate, then
        ``protocol`` built with the keyword arguments uvicorn passes."""
        gate = self

        class GatedTLS(_GatedTLS):
            def __init__(self, **kwargs: Any) -> None:
                super().__init__(gate, gate.protocol(**kwargs))

        # An SSLProtocol is a BufferedProtocol; uvicorn only calls the class.
        return cast("type[asyncio.Protocol]", GatedTLS)

    def _admit(self, handshake: _GatedTLS) -> None:
        while len(self._pending) >= self.max_pending:
            oldest = next(iter(self._pending))
            del self._pending[oldest]
            oldest.abort()
        self._pending[handshake] = None

    def _release(self, handshake: _GatedTLS) -> None:
        self._pending.pop(handshake, None)


class _GatedTLS(SSLProtocol):
    """asyncio's server-side TLS protocol (as ``create_server(ssl=...)`` uses),
    counted by its gate as pending from accept until the handshake ends."""

    def __init__(self, gate: HandshakeGate, app: asyncio.Protocol) -> None:
        self._gate = gate
        self._raw: asyncio.BaseTransport | None = None
        super().__init__(
            asyncio.get_running_loop(),
            _Handshaken(app, gate, self),
            gate.context,
            None,  # type: ignore[arg-type]  # no waiter: nothing awaits the handshake
            server_side=True,
            ssl_handshake_timeout=gate.timeout,  # type: ignore[arg-type]  # a float works
        )

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._raw = transport
        self._gate._admit(self)
        super().connection_made(transport)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._gate._release(self)
        super().connection_lost(exc)

    def abort(self) -> None:
        """Drop the connection at once (it was pending longest)."""
        if self._raw is not None:
            self._raw.abort()  # type: ignore[attr-defined]


class _Handshaken(asyncio.Protocol):
    """The HTTP protocol behind a gated handshake; tells the gate when it is done."""

    def __init__(self, app: asyncio.Protocol, gate: HandshakeGate, tls: _GatedTLS) -> None:
        self._app = app
        self._gate = gate
        self._tls = tls

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._gate._release(self._tls)
        self._app.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self._app.data_received(data)

    def eof_received(self) -> bool | None:
        return self._app.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._app.connection_lost(exc)

    def pause_writing(self) -> None:
        self._app.pause_writing()

    def resume_writing(self) -> None:
        self._app.resume_writing()


def create_link_app(
    service: NodeService,
    *,
    record: RecordService | None = None,
    on_gap: Callable[[str], None] | None = None,
    quotas: PeerQuotas | None = None,
) -> ASGIApp:
    """The link application for ``service``.

    ``on_gap(peer)`` is called when a push skipped ahead, so the node's worker
    can ask that peer for everything since the last statement it holds.
    ``quotas`` holds each pinned peer to its quotas (none: no quotas); a
    request over one is answered 429 with ``Retry-After`` before its body is
    parsed, and nothing of it is stored.
    """
    app = FastAPI(title="Redline link", docs_url=None, redoc_url=None, openapi_url=None)
    install_problem_handlers(app)

    async def on_quota(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, QuotaExceeded)
        return quota_response(exc)

    app.add_exception_handler(QuotaExceeded, on_quota)
    run_in_threadpool = _LinkThreads(LINK_THREADS)
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

    @app.post("/link/v1/statements", response_class=Response, **PUSH_DOC)
    async def push(request: Request) -> Response:
        peer = peer_of(request)
        body = await request.body()
        if quotas is not None:
            # Counted as decode_batch counts them, before any is parsed.
            count = sum(1 for line in body.split(b"\n") if line.strip())
            if count <= MAX_BATCH:  # a longer batch is refused as malformed
                quotas.admit_push(peer, statements=count, body_bytes=len(body))
        # Parsing 8 MiB of statements takes a while: not on the link's event loop.
        batch = await run_in_threadpool(decode_batch, body)
        try:
            result = await run_in_threadpool(service.receive, peer, batch)
        except SequenceGap:
            if on_gap is not None:
                on_gap(peer)
            raise
        return Response(encode_batch(result.receipts), media_type=NDJSON)

    @app.get("/link/v1/statements", response_class=Response, **PULL_DOC)
    async def pull(
        request: Request,
        after: int = Query(ge=0, le=MAX_SEQ),
        limit: int = Query(default=256, ge=1, le=MAX_BATCH),
    ) -> Response:
        peer = peer_of(request)
        if quotas is not None:
            quotas.admit_request(peer)
        answer = encode_batch(await run_in_threadpool(service.since, peer, after, limit))
        if quotas is not None:
            quotas.charge_answer(peer, len(answer))
        return Response(answer, media_type=NDJSON)

    if record is not None:
        _add_witness_routes(app, record, peer_of, run_in_threadpool, quotas)
    return BodyLimit(app, max_bytes=MAX_LINK_BODY)


def _add_witness_routes(
    app: FastAPI,
    record: RecordService,
    peer_of: Callable[[Request], str],
    run_in_threadpool: _LinkThreads,
    quotas: PeerQuotas | None,
) -> None:
    @app.post("/link/v1/add-checkpoint", response_class=Response, **ADD_CHECKPOINT_DOC)
    async def add_checkpoint(request: Request) -> Response:
        # C2SP tlog-witness add-checkpoint, for the log of the connected peer.
        peer = peer_of(request)
        body = await request.body()
        if quotas is not None:
            quotas.admit_request(peer, body_bytes=len(body))
        try:
            lines = await run_in_threadpool(record.add_checkpoint, peer, body)
        except WitnessSizeMismatch as exc:
            return Response(f"{exc.size}\n", status_code=409, media_type="text/x.tlog.size")
        return Response(lines, media_type="text/plain; charset=utf-8")

    @app.post("/link/v1/log/leaves", response_class=Response, **LEAVES_DOC)
    async def leaves(request: Request) -> Response:
        # Leaf records of our log, for the witness's copy of it.
        peer = peer_of(request)
        raw = await request.body()
        if quotas is not None:
            quotas.admit_request(peer, body_bytes=len(raw))
        try:
            query = json.loads(raw)
            start = query["start"]
            end = query["end"]
            if type(start) is not int or type(end) is not int:
                raise TypeError
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            # RecursionError: JSON nested deeper than the parser can follow.
            raise InvalidInput('body must be {"start": <int>, "end": <int>}', field="body") from exc
        records = await run_in_threadpool(record.leaves_for, start, end)
        answer = json.dumps({"records": [base64.b64encode(r).decode("ascii") for r in records]})
        if quotas is not None:
            quotas.charge_answer(peer, len(answer))
        return Response(answer, media_type="application/json")
