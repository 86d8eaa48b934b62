"""Idle connections on the link port cannot starve the link or the operator API.

About 1,100 TCP connections that never sent a TLS hello (no certificate
needed) took down both until released: asyncio held each idle handshake 60 s.
Now the link holds at most ``link_max_pending_handshakes`` unfinished
handshakes (a new one drops the oldest) for ``link_handshake_timeout_seconds``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from redline.link.server import HandshakeGate
from redline.link.transport import client_ssl_context, server_ssl_context
from redline.node import init_node
from redline.service.node import system_clock
from support.nodes import NodeProcess, wait_until

FLOOD = 300


def _open_idle(port: int, count: int) -> list[socket.socket]:
    idle = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.setblocking(False)
        idle.append(sock)
    return idle


def _closed_by_server(sock: socket.socket) -> bool:
    """True once the node has closed ``sock`` (EOF or reset); False while it is open."""
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


def _wait_all_closed(idle: list[socket.socket], *, timeout: float) -> None:
    open_ = list(idle)

    def all_closed() -> bool:
        open_[:] = [sock for sock in open_ if not _closed_by_server(sock)]
        return not open_

    wait_until(all_closed, timeout=timeout, what=f"the node to close idle connections ({open_})")


def test_idle_connections_do_not_starve_the_link_or_the_api(
    make_node: Callable[..., NodeProcess],
) -> None:
    us = make_node("us")
    prc = make_node("prc")
    prc.dir.config.link_handshake_timeout_seconds = 2.0
    prc.dir.save_config()
    us.pin(prc)
    prc.pin(us)
    prc.start()
    us.start()
    idle = _open_idle(prc.link_port, FLOOD)
    try:
        # While the flood is held, the operator API answers...
        with prc.api() as api:
            api.timeout = httpx.Timeout(10)
            assert api.get("/api/v1/status").status_code == 200
        # ...and the honest peer's push gets through.
        with us.api() as api:
            sent = api.post(
                "/api/v1/messages",
                json={"to": "prc", "precedence": "flash", "subject": "through", "text": "x"},
            )
        assert sent.status_code == 201, sent.text
        wait_until(
            lambda: any(row.id == sent.json()["id"] for row in prc.rows()),
            timeout=30,
            what="the honest peer's message at the PRC node",
        )
        # Every idle connection is closed by the node: the oldest ones at once
        # (over the cap), the rest when the handshake timeout runs out (the old
        # 60 s timeout would not close any within this wait).
        _wait_all_closed(idle, timeout=30)
        # And the node still serves after the flood.
        with prc.api() as api:
            api.timeout = httpx.Timeout(10)
            assert api.get("/api/v1/status").status_code == 200
    finally:
        for sock in idle:
            sock.close()


class _Echo(asyncio.Protocol):
    """Answers each chunk with the same bytes: stands for uvicorn's HTTP protocol."""

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)


@contextlib.contextmanager
def _gated_server(gate: HandshakeGate) -> Iterator[int]:
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    port: list[int] = []
    stop: list[asyncio.Event] = []

    async def run() -> None:
        server = await loop.create_server(lambda: gate.protocol_class()(), host="127.0.0.1", port=0)
        port.append(server.sockets[0].getsockname()[1])
        stop.append(asyncio.Event())
        ready.set()
        await stop[0].wait()
        server.close()
        await server.wait_closed()

    thread = threading.Thread(target=loop.run_until_complete, args=(run(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield port[0]
    finally:
        loop.call_soon_threadsafe(stop[0].set)
        thread.join(10)
        loop.close()


def test_over_the_cap_the_oldest_idle_handshake_is_dropped_and_a_peer_gets_in(
    tmp_path: Path,
) -> None:
    now = system_clock()
    us = init_node(tmp_path / "us", party="us", name="us", now=now)
    prc = init_node(tmp_path / "prc", party="prc", name="prc", now=now)
    cap = 4
    gate = HandshakeGate(
        protocol=_Echo,
        context=server_ssl_context(
            cert_file=prc.tls_cert_file,
            key_file=prc.tls_key_file,
            peer_cert_pems=[us.tls_cert_file.read_text()],
        ),
        timeout=60,  # longer than any wait below: only the cap closes connections here
        max_pending=cap,
    )
    with _gated_server(gate) as port:
        idle = _open_idle(port, 10)
        try:
            # The six oldest are dropped as the newer ones arrive; the newest four stay.
            _wait_all_closed(idle[:-cap], timeout=20)
            time.sleep(0.2)
            assert not any(_closed_by_server(sock) for sock in idle[-cap:])
            # A peer that completes its handshake gets in, dropping one more idle one.
            context = client_ssl_context(
                cert_file=us.tls_cert_file,
                key_file=us.tls_key_file,
                peer_cert_pem=prc.tls_cert_file.read_text(),
            )
            with (
                socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
                context.wrap_socket(raw, server_hostname="prc") as peer,
            ):
                peer.sendall(b"ping")
                assert peer.recv(4) == b"ping"
                assert gate.pending == cap - 1
            _wait_all_closed(idle[-cap : -cap + 1], timeout=20)
            # A stranger without a pinned certificate is refused at the handshake.
            stranger_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            stranger_context.check_hostname = False
            stranger_context.verify_mode = ssl.CERT_NONE
            try:
                with (
                    socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
                    stranger_context.wrap_socket(raw) as stranger,
                ):
                    stranger.sendall(b"ping")
                    answer = stranger.recv(4)
            except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
                answer = b""
            assert answer == b""
        finally:
            for sock in idle:
                sock.close()
