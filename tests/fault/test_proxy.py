"""The fault campaign's proxy does what it says, against a plain TCP echo server."""

from __future__ import annotations

import random
import socket
import socketserver
import threading
from collections.abc import Iterator

import pytest

from support.nodes import wait_until
from support.proxy import Fault, FaultProxy


class _Echo(socketserver.BaseRequestHandler):
    server: _EchoServer

    def handle(self) -> None:
        received = bytearray()
        with self.server.lock:
            self.server.streams.append(received)
        while data := self.request.recv(4096):
            received += data
            self.request.sendall(data)


class _EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Echo)
        self.streams: list[bytearray] = []
        self.lock = threading.Lock()


@pytest.fixture
def echo() -> Iterator[_EchoServer]:
    server = _EchoServer()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _proxy(echo: _EchoServer, *, max_delay: float = 0.3) -> FaultProxy:
    """A proxy in front of ``echo`` whose armed faults land on the next chunk."""
    port = int(echo.server_address[1])
    return FaultProxy(port, rng=random.Random(7), hit_chance=1.0, max_delay=max_delay)


def _exchange(proxy: FaultProxy, data: bytes) -> bytes:
    """Send ``data``, half-close, and read the answer until the proxy closes
    (or aborts: a reset ends the answer, a timeout fails the test)."""
    answer = bytearray()
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
            while chunk := sock.recv(4096):
                answer += chunk
        except OSError as exc:  # reset or not connected: the proxy aborted
            if isinstance(exc, TimeoutError):
                raise
    return bytes(answer)


def test_forwards_both_ways_without_faults(echo: _EchoServer) -> None:
    with _proxy(echo) as proxy:
        assert _exchange(proxy, b"hello, link") == b"hello, link"
        assert not proxy.injected


def test_cut_closes_both_sides_mid_stream(echo: _EchoServer) -> None:
    with _proxy(echo) as proxy:
        proxy.arm(Fault.CUT)
        answer = _exchange(proxy, b"x" * 1000)
        assert len(answer) < 1000
        assert proxy.injected == {Fault.CUT: 1}


def test_reorder_swaps_two_pieces_of_the_stream(echo: _EchoServer) -> None:
    with _proxy(echo) as proxy:
        proxy.arm(Fault.REORDER)
        data = bytes(range(200))
        answer = _exchange(proxy, data)
        assert sorted(answer) == sorted(data)
        assert answer != data
        assert proxy.injected == {Fault.REORDER: 1}


def test_delay_holds_a_chunk_and_delivers_it_intact(echo: _EchoServer) -> None:
    with _proxy(echo, max_delay=0.05) as proxy:
        proxy.arm(Fault.DELAY)
        assert _exchange(proxy, b"slow") == b"slow"
        assert proxy.injected == {Fault.DELAY: 1}


def test_duplicate_replays_a_recorded_client_stream_on_a_new_connection(
    echo: _EchoServer,
) -> None:
    with _proxy(echo) as proxy:
        assert _exchange(proxy, b"push once") == b"push once"
        wait_until(lambda: len(echo.streams) == 1, timeout=5, interval=0.01)
        proxy.arm(Fault.DUPLICATE)
        wait_until(lambda: proxy.injected[Fault.DUPLICATE] == 1, timeout=5, interval=0.01)
        wait_until(lambda: len(echo.streams) == 2, timeout=5, interval=0.01)
        wait_until(lambda: echo.streams[1] == b"push once", timeout=5, interval=0.01)


def test_an_armed_fault_waits_and_can_be_disarmed(echo: _EchoServer) -> None:
    with _proxy(echo) as proxy:
        proxy.arm(Fault.CUT)
        assert proxy.disarm() == 1
        assert _exchange(proxy, b"intact") == b"intact"
        assert not proxy.injected


def test_a_node_that_is_down_is_refused() -> None:
    # A port bound but not listening refuses connections, and is not reused meanwhile.
    with socket.socket() as down:
        down.bind(("127.0.0.1", 0))
        with FaultProxy(int(down.getsockname()[1]), rng=random.Random(7)) as proxy:
            assert _exchange(proxy, b"anyone?") == b""
            assert proxy.refused == 1
