"""RFC 9457 problem+json: how every error leaves an HTTP endpoint.

One handler renders :class:`RedlineError` (with its status and code), request
validation errors (naming the field) and, as a last resort, anything else as
a 500 problem without a traceback. Both HTTP edges use it, the operator API
(``redline.web``) and the peer link (``redline.link``), and neither imports
the other; :class:`BodyLimit` caps request bodies for both.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from redline.core.errors import PayloadTooLarge, RedlineError, SequenceGap

__all__ = [
    "PROBLEM_SCHEMA",
    "BodyLimit",
    "install_problem_handlers",
    "problem",
    "problem_body",
    "problem_responses",
]

PROBLEM_TYPE = "application/problem+json"
log = logging.getLogger("redline.web")

#: The JSON Schema of a problem (RFC 9457 §3) as both edges answer it.
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "field": {"type": "string", "description": "the input at fault"},
    },
}

_STATUS_TEXT = {
    400: "Bad request",
    401: "No valid credentials",
    403: "Verification failed",
    404: "Not found",
    409: "Conflict with what is stored",
    413: "Request body too large",
    422: "Invalid input, naming the field",
    429: "Too many requests",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` saying that each of ``statuses`` is answered as a
    problem (for a route decorator's or an app's ``responses=``). Raises nothing."""
    return {
        status: {
            "description": _STATUS_TEXT.get(status, "Problem"),
            "content": {PROBLEM_TYPE: {"schema": PROBLEM_SCHEMA}},
        }
        for status in statuses
    }


def problem_body(exc: RedlineError) -> dict[str, Any]:
    """The problem+json object for ``exc``."""
    body: dict[str, Any] = {
        "type": f"urn:redline:problem:{exc.code}",
        "title": exc.title,
        "status": exc.status,
        "detail": str(exc),
        "code": exc.code,
    }
    if exc.field:
        body["field"] = exc.field
    if isinstance(exc, SequenceGap):
        body["expected"] = exc.expected
        body["got"] = exc.got
    return body


def problem(exc: RedlineError) -> JSONResponse:
    """A problem+json response for ``exc``."""
    return JSONResponse(problem_body(exc), status_code=exc.status, media_type=PROBLEM_TYPE)


def _plain_problem(status: int, code: str, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {
        "type": f"urn:redline:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_TYPE)


def install_problem_handlers(app: FastAPI) -> None:
    """Make ``app`` answer every error as problem+json."""

    async def on_redline_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RedlineError)
        return problem(exc)

    async def on_validation_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        loc = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path")]
        field = ".".join(loc) or "body"
        return _plain_problem(
            422, "invalid-input", "Invalid input", f"{field}: {first.get('msg')}", field=field
        )

    async def on_http_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        extra = {}
        if exc.status_code == 400 and "parsing the body" in str(exc.detail):
            # FastAPI's answer to a body its JSON parser gave up on (nested
            # too deeply, say): the field at fault is the body.
            extra["field"] = "body"
        return _plain_problem(exc.status_code, "http-error", "HTTP error", str(exc.detail), **extra)

    async def on_unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        return _plain_problem(
            500,
            "internal-error",
            "Internal error",
            "the node hit an unexpected error; it has been logged",
        )

    app.add_exception_handler(RedlineError, on_redline_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)


class BodyLimit:
    """ASGI middleware refusing request bodies over ``max_bytes`` with a 413 problem."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        error = PayloadTooLarge(f"request body is over the limit of {self.max_bytes} bytes")
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await problem(error)(scope, receive, send)
                return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise error
            return message

        try:
            await self.app(scope, limited_receive, send)
        except PayloadTooLarge as exc:
            await problem(exc)(scope, receive, send)
