"""``Idempotency-Key`` on the operator API's POSTs (IETF httpapi draft
"The Idempotency-Key HTTP Header Field").

A retry after a lost answer sent a message twice. Every POST under
``/api/v1/`` may now carry ``Idempotency-Key`` (1 to 255 printable ASCII
characters; the draft's quoted form ``"..."`` is taken too):

- The first authorised request with a key is handled, and its answer (status,
  content type, body) is kept with the key for 24 hours
  (:mod:`redline.store.idempotency`).
- A retry with the same key, method, path and body gets that answer again,
  with ``Idempotency-Replayed: true``, and nothing is signed anew.
- The same key with another request is ``422 idempotency-key-reused``.
- A request whose key is held by one still being handled is ``409
  idempotency-key-in-flight`` at once (it does not wait); retry it later.
- An answer of 500 or more, or a handler that failed, releases the key: a
  retry is handled anew. Requests without a valid token are passed on
  untouched (they are answered 401), so no one without the token can take a
  key.

One ASGI middleware, around every route, rather than a check in each route.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from redline.core.errors import Conflict, InvalidInput, LocalError
from redline.core.times import format_time
from redline.http_problems import problem
from redline.store import idempotency
from redline.store.db import Store

__all__ = [
    "HEADER",
    "Idempotency",
    "IdempotencyKeyInFlight",
    "IdempotencyKeyReused",
    "parse_key",
    "request_fingerprint",
]

HEADER = "Idempotency-Key"
_PREFIX = "/api/v1/"
MAX_KEY = 255


class IdempotencyKeyReused(InvalidInput):
    """An ``Idempotency-Key`` already used for a different request."""

    code = "idempotency-key-reused"
    title = "Idempotency key reused"


class IdempotencyKeyInFlight(Conflict):
    """An ``Idempotency-Key`` held by a request that is still being handled."""

    code = "idempotency-key-in-flight"
    title = "Idempotency key in flight"


def parse_key(raw: bytes) -> str:
    """The key an ``Idempotency-Key`` header value carries.

    Raises:
        LocalError: (400 ``bad-request``, field ``Idempotency-Key``) empty, over
            255 characters, or not printable ASCII.
    """
    if len(raw) >= 2 and raw[:1] == raw[-1:] == b'"':
        raw = raw[1:-1]  # the draft's sf-string form
    if not 1 <= len(raw) <= MAX_KEY or not all(0x20 <= b <= 0x7E for b in raw):
        raise LocalError(f"must be 1 to {MAX_KEY} printable ASCII characters", field=HEADER)
    return raw.decode("ascii")


def request_fingerprint(method: str, path: bytes, query: bytes, body: bytes) -> str:
    """The hex SHA-256 that tells one request from another under one key. Raises nothing."""
    digest = hashlib.sha256()
    for part in (method.encode(), path, query, body):
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


class _Node(Protocol):
    store: Store

    def clock(self) -> datetime: ...


class Idempotency:
    """ASGI middleware: the ``Idempotency-Key`` rules above, for POSTs under
    ``/api/v1/`` whose request ``authorised`` accepts, kept in ``node``'s store
    and dated by its clock."""

    def __init__(self, app: ASGIApp, *, node: _Node, authorised: Callable[[Scope], bool]) -> None:
        self.app = app
        self.node = node
        self.authorised = authorised

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or not scope["path"].startswith(_PREFIX)
        ):
            await self.app(scope, receive, send)
            return
        raws = [v for k, v in scope["headers"] if k == b"idempotency-key"]
        if not raws:
            await self.app(scope, receive, send)
            return
        try:
            if len(raws) > 1:
                raise LocalError("must be given once", field=HEADER)
            key = parse_key(raws[0])
        except LocalError as exc:
            await problem(exc)(scope, receive, send)
            return
        # Off the event loop: a named API key is looked up in the store.
        if not await run_in_threadpool(self.authorised, scope):
            await self.app(scope, receive, send)  # answered 401; the key is not taken
            return
        body = await _read_body(receive)
        if body is None:
            return  # the client went away before sending its body: nothing to do
        fingerprint = request_fingerprint(
            scope["method"], scope["raw_path"], scope["query_string"], body
        )
        held = await run_in_threadpool(self._claim, key, fingerprint)
        if held is not None:
            await self._held(key, fingerprint, held)(scope, receive, send)
            return
        await self._handle(key, body, scope, receive, send)

    def _claim(self, key: str, fingerprint: str) -> idempotency.Held | None:
        now = self.node.clock()
        with self.node.store.write() as conn:
            idempotency.purge(conn, before=format_time(now - idempotency.RETENTION))
            return idempotency.claim(conn, key=key, fingerprint=fingerprint, now=format_time(now))

    def _held(self, key: str, fingerprint: str, held: idempotency.Held) -> Response:
        if held.fingerprint != fingerprint:
            return problem(
                IdempotencyKeyReused(
                    f"key {key!r} was used for a different request in the last 24 hours; "
                    "use a new key",
                    field=HEADER,
                )
            )
        if held.answer is None:
            return problem(
                IdempotencyKeyInFlight(
                    f"the request with key {key!r} is still being handled; retry later",
                    field=HEADER,
                )
            )
        answer = held.answer
        return Response(
            answer.body,
            status_code=answer.status,
            headers={"Idempotency-Replayed": "true"},
            media_type=answer.content_type or None,
        )

    async def _handle(
        self, key: str, body: bytes, scope: Scope, receive: Receive, send: Send
    ) -> None:
        status = 0
        content_type = ""
        chunks: list[bytes] = []
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        async def keep(message: Message) -> None:
            nonlocal status, content_type
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", []):
                    if name.lower() == b"content-type":
                        content_type = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, replay, keep)
        except BaseException:
            await run_in_threadpool(self._release, key)
            raise
        if 0 < status < 500:
            answer = idempotency.Answer(
                status=status, content_type=content_type, body=b"".join(chunks)
            )
            await run_in_threadpool(self._finish, key, answer)
        else:
            await run_in_threadpool(self._release, key)

    def _finish(self, key: str, answer: idempotency.Answer) -> None:
        with self.node.store.write() as conn:
            idempotency.finish(conn, key=key, answer=answer)

    def _release(self, key: str) -> None:
        with self.node.store.write() as conn:
            idempotency.release(conn, key=key)


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None if the client went away first."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)
