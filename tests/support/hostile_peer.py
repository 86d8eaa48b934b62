"""A hostile peer on loopback: real mutual TLS, answers chosen by the test.

It speaks just enough HTTP/1.1 by hand (a raw socket in a thread) to answer
as no honest server would: an endless body, a lying length, a byte at a time.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path

from redline.link.transport import server_ssl_context

__all__ = ["CHUNK", "HostilePeer", "chunked", "drip_body", "drip_headers", "endless", "wait_for"]

CHUNK = b"x" * 65536


class HostilePeer:
    """Answers every request on ``url`` with ``answer(peer, conn)``.

    ``sent`` counts the body bytes the answers handed to the kernel; the
    client has read at most that many.
    """

    def __init__(
        self,
        *,
        cert_file: Path,
        key_file: Path,
        client_cert_pem: str,
        answer: Callable[[HostilePeer, ssl.SSLSocket], None],
    ) -> None:
        self.context = server_ssl_context(
            cert_file=cert_file, key_file=key_file, peer_cert_pems=[client_cert_pem]
        )
        self.answer = answer
        self.sent = 0
        self.requests: list[bytes] = []
        self.stopped = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.url = f"https://127.0.0.1:{self._listener.getsockname()[1]}"
        self._threads: list[threading.Thread] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> HostilePeer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self._thread.join(5)
        for thread in self._threads:
            thread.join(5)
        self._listener.close()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                raw, _ = self._listener.accept()
            except TimeoutError:
                continue
            thread = threading.Thread(target=self._handle, args=(raw,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _handle(self, raw: socket.socket) -> None:
        with raw:
            try:
                raw.settimeout(10)
                with self.context.wrap_socket(raw, server_side=True) as conn:
                    self.requests.append(_read_request(conn))
                    self.answer(self, conn)
            except (OSError, ssl.SSLError):
                pass  # the client hung up on us, as it should


def _read_request(conn: ssl.SSLSocket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        piece = conn.recv(65536)
        if not piece:
            return data
        data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        piece = conn.recv(65536)
        if not piece:
            break
        body += piece
    return head


def chunked(*, status: str = "200 OK", content_type: str = "application/x-ndjson") -> bytes:
    """Response headers for a chunked body."""
    return (
        f"HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ntransfer-encoding: chunked\r\n\r\n"
    ).encode()


def endless(
    *,
    limit: int,
    head: bytes | None = None,
) -> Callable[[HostilePeer, ssl.SSLSocket], None]:
    """Answer with a chunked body of ``limit`` bytes (far past any cap), then end it.

    The body ends (rather than never ending) so that a client without a cap
    finishes too, with another error, and the test fails instead of hanging.
    """

    def answer(peer: HostilePeer, conn: ssl.SSLSocket) -> None:
        conn.sendall(head if head is not None else chunked())
        frame = f"{len(CHUNK):x}\r\n".encode() + CHUNK + b"\r\n"
        while peer.sent < limit and not peer.stopped.is_set():
            conn.sendall(frame)
            peer.sent += len(CHUNK)
        conn.sendall(b"0\r\n\r\n")

    return answer


def drip_body(*, length: int, every: float) -> Callable[[HostilePeer, ssl.SSLSocket], None]:
    """Send honest headers, then the body one byte every ``every`` seconds."""

    def answer(peer: HostilePeer, conn: ssl.SSLSocket) -> None:
        conn.sendall(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\n"
            + f"content-length: {length}\r\n\r\n".encode()
        )
        for _ in range(length):
            if peer.stopped.wait(every):
                return
            conn.sendall(b"\n")
            peer.sent += 1

    return answer


def drip_headers(*, count: int, every: float) -> Callable[[HostilePeer, ssl.SSLSocket], None]:
    """Send the status line, then header bytes one every ``every`` seconds."""

    def answer(peer: HostilePeer, conn: ssl.SSLSocket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nx-slow: ")
        for _ in range(count):
            if peer.stopped.wait(every):
                return
            conn.sendall(b"a")
            peer.sent += 1
        conn.sendall(b"\r\ncontent-length: 0\r\n\r\n")

    return answer


def wait_for(predicate: Callable[[], bool], *, timeout: float) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` passes; whether it held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()
