"""The one place node-to-node HTTP happens: HTTPS with mutual TLS, pinned.

The client trusts exactly the peer's pinned self-signed certificate (nothing
from the system store) and presents this node's own certificate. Hostnames are
not checked: the pin is the identity, and a peer may sit behind any address.
Every httpx and ssl exception is mapped here to :class:`LinkUnavailable` or
:class:`PeerRejected`.

A peer may be hostile (DESIGN.md, "The least trusted user"), so no answer is
trusted to be small or quick. Every answer is read as a stream and refused
with :class:`AnswerTooLarge` once it passes the cap a legitimate answer of
its kind cannot pass; and every exchange (connect, TLS, send, read) has one
deadline, enforced on each socket operation by :class:`_DeadlineBackend`, so
a peer that drips one byte at a time is cut off with :class:`LinkTimeout`.
Answers are asked for uncompressed (``accept-encoding: identity``): a
compressed answer could expand far past the cap inside one chunk.
"""

from __future__ import annotations

import base64
import json
import ssl
import time
from collections.abc import Iterable
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import httpcore
import httpx

from redline.core.errors import (
    AnswerTooLarge,
    InvalidStatement,
    LinkTimeout,
    LinkUnavailable,
    PeerRejected,
    RemoteError,
)
from redline.core.statement import MAX_STATEMENT_BYTES, Statement
from redline.link.server import MAX_LINK_BODY
from redline.link.wire import MAX_BATCH, NDJSON, decode_batch, encode_batch
from redline.service.record import WitnessSizeMismatch

__all__ = [
    "DEFAULT_DEADLINE",
    "DEFAULT_TIMEOUT",
    "MAX_SMALL_ANSWER",
    "PeerClient",
    "PeerThrottled",
    "client_ssl_context",
    "pull_answer_cap",
    "server_ssl_context",
]

PUSH_PATH = "/link/v1/statements"
DEFAULT_TIMEOUT = 10.0  # seconds, for any one connect, read or write
DEFAULT_DEADLINE = 60.0  # seconds, for a whole exchange
# An error (problem+json) or a cosignature answer is a few hundred bytes.
MAX_SMALL_ANSWER = MAX_STATEMENT_BYTES


def pull_answer_cap(limit: int) -> int:
    """The most bytes an honest answer to a pull of ``limit`` statements holds.

    Each line is one statement (at most ``MAX_STATEMENT_BYTES``) and its line
    end (CRLF at most). Never below the link's own body limit, so a cap is
    never tighter than what this node accepts from the same peer.
    """
    return max(MAX_LINK_BODY, min(limit, MAX_BATCH) * (MAX_STATEMENT_BYTES + 2))


# -- the whole-exchange deadline ----------------------------------------------------

# The monotonic time the current thread's exchange must end by. A context
# variable: the delivery and checkpoint workers share one client from two threads.
_DEADLINE: ContextVar[float | None] = ContextVar("redline_link_deadline", default=None)


def _bounded(timeout: float | None, error: type[httpcore.TimeoutException]) -> float | None:
    """``timeout`` shortened to what is left of the exchange's deadline.

    Raises ``error`` (an httpcore timeout, which httpx maps to its own) once
    the deadline has passed.
    """
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise error("the exchange's deadline has passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose every read and write ends by the exchange's deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        inner = self._inner.start_tls(
            ssl_context, server_hostname, _bounded(timeout, httpcore.ConnectTimeout)
        )
        return _DeadlineStream(inner)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's socket backend, with each operation bounded by the deadline.

    httpx's timeouts are per operation: a peer that sends one byte just
    inside each read timeout would hold an exchange open for ever. Bounding
    every socket operation by the time left makes the deadline hold in every
    phase (connect, TLS handshake, headers, body).
    """

    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_tcp(
            host,
            port,
            _bounded(timeout, httpcore.ConnectTimeout),
            local_address=local_address,
            socket_options=socket_options,
        )
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:  # pragma: no cover - the link is TCP only
        raise httpcore.ConnectError("the link does not use Unix sockets")

    def sleep(self, seconds: float) -> None:  # pragma: no cover - no retries are configured
        self._inner.sleep(seconds)


class _LinkTransport(httpx.HTTPTransport):
    """httpx's transport over :class:`_DeadlineBackend`."""

    def __init__(self, *, ssl_context: ssl.SSLContext) -> None:
        super().__init__(verify=ssl_context, trust_env=False)
        # httpx takes no network backend of its own: its pool is rebuilt with
        # ours (the same settings as httpx's defaults). tests/hostile proves
        # the deadline holds, so a change in httpx cannot go unnoticed.
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=_DeadlineBackend(),
        )


def client_ssl_context(*, cert_file: Path, key_file: Path, peer_cert_pem: str) -> ssl.SSLContext:
    """A TLS client context that trusts only ``peer_cert_pem`` and presents ours."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.check_hostname = False  # pinned by certificate, not by name
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cadata=peer_cert_pem)
    context.load_cert_chain(certfile=str(cert_file), keyfile=str(key_file))
    return context


def server_ssl_context(
    *, cert_file: Path, key_file: Path, peer_cert_pems: list[str]
) -> ssl.SSLContext:
    """A TLS server context that requires a client certificate from a pinned peer.

    Fails closed: with no pinned peer, no client certificate can verify.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_cert_chain(certfile=str(cert_file), keyfile=str(key_file))
    for pem in peer_cert_pems:
        context.load_verify_locations(cadata=pem)
    return context


class PeerThrottled(PeerRejected):
    """The peer answered 429: this node is over one of its quotas there.

    ``retry_after`` is the peer's ``Retry-After`` in whole seconds (1 when it
    sent none that can be read); ``max_statements`` and ``max_bytes``, when
    the peer said them, are the most one push may carry. All three are the
    peer's words: the worker bounds them before acting on them.
    """

    code = "peer-throttled"
    status = 503
    title = "Throttled by the peer"

    def __init__(
        self,
        message: str,
        *,
        peer_code: str,
        peer_status: int = 429,
        retry_after: int = 1,
        max_statements: int | None = None,
        max_bytes: int | None = None,
    ) -> None:
        super().__init__(message, peer_code=peer_code, peer_status=peer_status)
        self.retry_after = retry_after
        self.max_statements = max_statements
        self.max_bytes = max_bytes


def _positive_int(value: object) -> int | None:
    if type(value) is int and value > 0:
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return max(1, int(value[:12]))  # a hostile header cannot make a huge int
    return None


def _rejected(status: int, content: bytes, *, retry_after: str | None = None) -> PeerRejected:
    text = content[:200].decode("utf-8", "replace")
    body: Any = None
    try:
        body = json.loads(content)
        code = str(body.get("code", "unknown"))
        detail = str(body.get("detail", text))
    except (ValueError, AttributeError):
        code, detail = "unknown", text
    message = f"peer answered {status} {code}: {detail}"
    if status == 429:
        # RFC 9110 §10.2.3: Retry-After is seconds or an HTTP date; only
        # seconds are read, a date counts as 1 s (the worker's backoff holds).
        fields = body if isinstance(body, dict) else {}
        return PeerThrottled(
            message,
            peer_code=code,
            retry_after=_positive_int((retry_after or "").strip()) or 1,
            max_statements=_positive_int(fields.get("max_statements")),
            max_bytes=_positive_int(fields.get("max_bytes")),
        )
    return PeerRejected(message, peer_code=code, peer_status=status)


def _read_capped(response: httpx.Response, cap: int) -> bytes:
    """The body of ``response``, read as it streams, refused past ``cap`` bytes.

    Raises :class:`AnswerTooLarge` as soon as the body (or its declared
    length) passes ``cap``, and :class:`RemoteError` for a compressed body
    (we asked for none).
    """
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise RemoteError(f"peer answered with content-encoding {encoding!r}; none was asked for")
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise AnswerTooLarge(f"peer announced a {declared}-byte answer; the limit is {cap}")
    body = bytearray()
    for chunk in response.iter_raw():
        body += chunk
        if len(body) > cap:
            raise AnswerTooLarge(f"peer answered with more than {cap} bytes")
    return bytes(body)


class PeerClient:
    """HTTP client for one peer's link endpoint.

    ``timeout`` bounds each connect, read and write; ``deadline`` bounds a
    whole exchange (connect, send the request, read the answer), in seconds.
    """

    def __init__(
        self,
        *,
        url: str,
        cert_file: Path,
        key_file: Path,
        peer_cert_pem: str,
        timeout: float = DEFAULT_TIMEOUT,
        deadline: float = DEFAULT_DEADLINE,
    ) -> None:
        self.url = url.rstrip("/")
        self.deadline = deadline
        context = client_ssl_context(
            cert_file=cert_file, key_file=key_file, peer_cert_pem=peer_cert_pem
        )
        self._client = httpx.Client(
            transport=_LinkTransport(ssl_context=context),
            timeout=min(timeout, deadline),
            headers={"accept-encoding": "identity"},
            trust_env=False,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def _exchange(
        self, method: str, path: str, *, cap: int, **kwargs: Any
    ) -> tuple[int, str, bytes, str | None]:
        """One request and its whole answer: (status, content type, body,
        ``Retry-After`` header or None).

        Raises :class:`LinkTimeout` when the deadline (or one operation's
        timeout) passes, :class:`LinkUnavailable` when the peer cannot be
        reached, and :class:`AnswerTooLarge` for a body over ``cap``. On any
        of them the connection is closed and nothing of the answer is kept.
        """
        token = _DEADLINE.set(time.monotonic() + self.deadline)
        try:
            with self._client.stream(method, self.url + path, **kwargs) as response:
                # An error answer is small; never read a big one whole.
                body = _read_capped(
                    response, cap if response.status_code == 200 else MAX_SMALL_ANSWER
                )
                return (
                    response.status_code,
                    response.headers.get("content-type", ""),
                    body,
                    response.headers.get("retry-after"),
                )
        except httpx.TimeoutException as exc:
            raise LinkTimeout(
                f"{self.url} did not answer within {self.deadline:g}s: {exc!r}"
            ) from exc
        except (httpx.TransportError, ssl.SSLError, OSError) as exc:
            raise LinkUnavailable(f"{self.url} unreachable: {exc!r}") from exc
        finally:
            _DEADLINE.reset(token)

    def _request(self, method: str, path: str, *, cap: int, **kwargs: Any) -> bytes:
        status, _type, body, retry_after = self._exchange(method, path, cap=cap, **kwargs)
        if status != 200:
            raise _rejected(status, body, retry_after=retry_after)
        return body

    def push(self, wires: list[bytes]) -> list[Statement]:
        """Deliver a batch; return the peer's receipts (parsed, not yet verified).

        Raises :class:`LinkUnavailable` (:class:`LinkTimeout` past the
        deadline), :class:`PeerRejected`, :class:`AnswerTooLarge` for an
        answer over the link's body limit, or :class:`RemoteError` if the
        answer is not a batch of statements.
        """
        body = self._request(
            "POST",
            PUSH_PATH,
            cap=MAX_LINK_BODY,
            content=encode_batch(wires),
            headers={"content-type": NDJSON},
        )
        return self._statements(body, max_count=MAX_BATCH)

    def pull(self, after: int, limit: int) -> list[Statement]:
        """Ask for everything the peer sent us after sequence number ``after``.

        Raises :class:`LinkUnavailable` (:class:`LinkTimeout` past the
        deadline), :class:`PeerRejected`, :class:`AnswerTooLarge` for an
        answer larger than ``limit`` statements can be (see
        :func:`pull_answer_cap`), or :class:`RemoteError` for a malformed
        answer or one of more than ``limit`` statements.
        """
        body = self._request(
            "GET", PUSH_PATH, cap=pull_answer_cap(limit), params={"after": after, "limit": limit}
        )
        return self._statements(body, max_count=limit, allow_empty=True)

    @staticmethod
    def _statements(body: bytes, *, max_count: int, allow_empty: bool = False) -> list[Statement]:
        if allow_empty and not body.strip():
            return []
        try:
            return decode_batch(body, max_count=max_count)
        except InvalidStatement as exc:
            raise RemoteError(f"peer answered with a bad statement batch: {exc}") from exc

    def add_checkpoint(self, body: bytes) -> bytes:
        """Ask the peer to witness our checkpoint (C2SP tlog-witness add-checkpoint).

        Returns the cosignature lines. Raises :class:`WitnessSizeMismatch`
        carrying the witness's size on a 409 with ``text/x.tlog.size``,
        :class:`AnswerTooLarge` for an answer over ``MAX_SMALL_ANSWER``,
        :class:`LinkUnavailable` (:class:`LinkTimeout` past the deadline) or
        :class:`PeerRejected` otherwise.
        """
        status, content_type, answer, retry_after = self._exchange(
            "POST",
            "/link/v1/add-checkpoint",
            cap=MAX_SMALL_ANSWER,
            content=body,
            headers={"content-type": "text/plain; charset=utf-8"},
        )
        if status == 409 and content_type.startswith("text/x.tlog.size"):
            text = answer.decode("ascii", "replace").strip()
            if not text.isdigit():
                raise RemoteError("witness answered 409 with a malformed size")
            raise WitnessSizeMismatch(f"witness has size {text}", size=int(text))
        if status != 200:
            raise _rejected(status, answer, retry_after=retry_after)
        return answer

    def leaves(self, start: int, end: int) -> list[bytes]:
        """Fetch the peer log's leaf records [start, end) for our copy of it.

        The caller asks in pages (``RecordService`` asks for ``LEAF_CHUNK``
        leaves at a time, the most the log serves at once); each answer is
        capped at the link's body limit.

        Raises :class:`LinkUnavailable` (:class:`LinkTimeout` past the
        deadline), :class:`PeerRejected`, :class:`AnswerTooLarge`, or
        :class:`RemoteError` for a malformed answer or more records than asked for.
        """
        body = self._request(
            "POST", "/link/v1/log/leaves", cap=MAX_LINK_BODY, json={"start": start, "end": end}
        )
        try:
            records = json.loads(body)["records"]
            if not isinstance(records, list):
                raise TypeError
            if len(records) > end - start:
                raise RemoteError(
                    f"peer answered {len(records)} leaves for [{start}, {end})", field="leaves"
                )
            return [base64.b64decode(r, validate=True) for r in records]
        except (ValueError, KeyError, TypeError) as exc:
            raise RemoteError("peer answered a leaf query with something malformed") from exc
