"""Who is asking, and may they: the console's session cookie, CSRF and Origin
checks, and how a refusal is answered.

The session cookie is ``Secure; HttpOnly; SameSite=Strict`` on ``/console``.
Every state-changing request must carry the session's CSRF token (a form
field ``csrf`` or the ``X-CSRF-Token`` header that htmx sends) and, when the
browser sends one, an ``Origin`` equal to the console's own; a request a
browser marks ``Sec-Fetch-Site: cross-site`` is refused too.
"""

from __future__ import annotations

import secrets
from urllib.parse import quote

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from starlette.responses import Response

from redline.core.errors import LocalError
from redline.service.operators import OperatorService, Session, Unauthenticated

__all__ = [
    "COOKIE",
    "CrossSite",
    "client_of",
    "clear_cookie",
    "is_htmx",
    "require_session",
    "same_origin",
    "set_cookie",
]

COOKIE = "redline_session"
PATH = "/console"


class CrossSite(LocalError):
    """A state change without this session's CSRF token, or from another origin."""

    code = "cross-site-refused"
    status = 403
    title = "Forbidden"


def client_of(request: Request) -> str:
    """The client's address, for throttling and the audit trail. Raises nothing."""
    return request.client.host if request.client else "unknown"


def is_htmx(request: Request) -> bool:
    """Whether htmx (or the SSE extension) made the request, not a page load."""
    return (
        request.headers.get("hx-request") == "true"
        or "text/event-stream" in request.headers.get("accept", "")
        or "text/html" not in request.headers.get("accept", "text/html")
    )


def same_origin(request: Request) -> bool:
    """Whether the request comes from a page of this console. Raises nothing."""
    origin = request.headers.get("origin")
    if origin is None:
        return request.headers.get("sec-fetch-site") in (None, "same-origin", "none")
    host = request.headers.get("host", "")
    return origin in (f"http://{host}", f"https://{host}")


def set_cookie(response: Response, token: str) -> None:
    """Give the browser its session token. Raises nothing."""
    response.set_cookie(COOKIE, token, path=PATH, secure=True, httponly=True, samesite="strict")


def clear_cookie(response: Response) -> None:
    """Make the browser forget its session token. Raises nothing."""
    response.delete_cookie(COOKIE, path=PATH, secure=True, httponly=True, samesite="strict")


class NeedsSignIn(Unauthenticated):
    """No live session: a page load is sent to the sign-in page."""

    code = "sign-in-needed"
    title = "Sign in needed"

    def __init__(
        self, message: str, *, login_url: str = f"{PATH}/login", field: str = "session"
    ) -> None:
        super().__init__(message, field=field)
        self.login_url = login_url


async def require_session(request: Request, operators: OperatorService, *, change: bool) -> Session:
    """The live session of ``request``, checked for CSRF if it ``change``s state.

    Raises:
        NeedsSignIn: no live session (the handler redirects pages, answers 401
            to htmx and SSE).
        CrossSite: a change without the session's CSRF token, or from elsewhere.
    """
    token = request.cookies.get(COOKIE, "")
    session = await run_in_threadpool(operators.session, token) if token else None
    if session is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise NeedsSignIn("sign in first", login_url=f"{PATH}/login?next={quote(target, safe='')}")
    if change:
        if not same_origin(request):
            raise CrossSite("refused: the request comes from another site", field="origin")
        given = request.headers.get("x-csrf-token")
        if given is None:
            form = await request.form()
            value = form.get("csrf")
            given = value if isinstance(value, str) else ""
        if not secrets.compare_digest(given.encode(), session.csrf.encode()):
            raise CrossSite("refused: missing or wrong CSRF token", field="csrf")
    return session
