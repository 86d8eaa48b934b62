"""A TCP proxy on loopback that injects network faults between two nodes.

Each node's peer URL points at a :class:`FaultProxy` that forwards to the
other node's link port (:meth:`support.nodes.NodeProcess.pin` with ``via=``).
The proxy runs an asyncio loop in a thread of its own and forwards bytes both
ways. The test arms faults (:meth:`FaultProxy.arm`); each armed fault lands on
a chunk of some later connection, chosen by the proxy's seeded
:class:`random.Random`, and is counted in :attr:`FaultProxy.injected` when it
has actually been done:

``cut``
    Forward a random prefix of the chunk, then close both sides. The client
    sees its request or the answer end early, at any point of an exchange:
    before the server stored a push, or after it stored it and signed the
    receipt but before the receipt reached the sender.

``delay``
    Hold the chunk for up to ``max_delay`` seconds before forwarding it.

``duplicate``
    Replay a whole recorded client byte stream (the start of a recent
    connection, up to ``capture_limit`` bytes) on a fresh upstream connection,
    and discard the answer. Both links are TLS 1.3 without early data, so a
    replayed stream cannot complete a handshake (the server's fresh key share
    makes the recorded Finished and application records useless): the server
    must refuse it and go on serving. Duplicating bytes inside one connection
    is not tried, since a repeated TLS record only breaks that session (a cut).
    A duplicated *statement*, the case that matters, arises from ``cut``: the
    sender pushes again what the receiver already stored.

``reorder``
    Swap two pieces of the stream: hold a chunk and send the next one first.
    TCP is a byte stream, so a chunk that is long enough is split at a random
    point and its two halves are swapped; a one-byte chunk waits (bounded) for
    the next one. Inside TLS this is not a reordering the endpoints can live
    with: the record layer's framing and AEAD tags fail and the receiver
    aborts the session. It amounts to a cut noticed by TLS rather than by an
    end of stream, and is counted as a reorder.

The schedule of faults is seeded; where in the traffic each lands depends on
timing too, so a run is reproducible in its choices, not byte for byte.
Connections are bounded (``max_connections``); the proxy listens on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections import Counter, deque
from collections.abc import Coroutine
from contextlib import suppress
from enum import StrEnum
from typing import Any

__all__ = ["Direction", "Fault", "FaultProxy"]

CHUNK = 16 * 1024  # one TLS record at most


class Fault(StrEnum):
    CUT = "cut"
    DELAY = "delay"
    DUPLICATE = "duplicate"
    REORDER = "reorder"


class Direction(StrEnum):
    REQUEST = "request"  # client to server: towards the node the proxy fronts
    ANSWER = "answer"  # server to client: back to the node that connected


class _Connection:
    def __init__(self, client: asyncio.StreamWriter, upstream: asyncio.StreamWriter) -> None:
        self.writers = (client, upstream)
        self.captured = bytearray()
        self.closed = False

    def abort(self) -> None:
        self.closed = True
        for writer in self.writers:
            writer.transport.abort()


class FaultProxy:
    """Forwards 127.0.0.1:``port`` to 127.0.0.1:``upstream_port``, injecting armed faults.

    ``hit_chance`` is the chance that an armed fault lands on a given chunk
    (so faults do not always hit the first chunk after they are armed).
    Use as a context manager, or call :meth:`start` and :meth:`close`.
    """

    def __init__(
        self,
        upstream_port: int,
        *,
        rng: random.Random,
        name: str = "proxy",
        max_delay: float = 0.3,
        hit_chance: float = 0.3,
        max_connections: int = 32,
        capture_limit: int = 256 * 1024,
        reorder_wait: float = 0.5,
    ) -> None:
        self.upstream_port = upstream_port
        self.name = name
        self.max_delay = max_delay
        self.hit_chance = hit_chance
        self.max_connections = max_connections
        self.capture_limit = capture_limit
        self.reorder_wait = reorder_wait
        self.port = 0
        self.injected: Counter[Fault] = Counter()
        self.connections = 0  # accepted and forwarded, in all
        self.refused = 0  # upstream down, or over max_connections
        self._rng = rng
        self._lock = threading.Lock()
        self._armed: deque[Fault] = deque()
        self._watchers: list[tuple[Direction, int, threading.Event]] = []
        self._live: set[_Connection] = set()
        self._recent: deque[bytes] = deque(maxlen=8)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> FaultProxy:
        """Listen on a free loopback port (:attr:`port`). Raises OSError if it cannot."""
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._listen(), self._loop)
        self.port = future.result(10)
        return self

    def close(self) -> None:
        """Stop listening and abort every connection."""
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    # -- what the test drives ------------------------------------------------------------

    def arm(self, fault: Fault) -> None:
        """Inject ``fault`` at some later chunk (``duplicate``: at once, if a
        stream was recorded). Counted in :attr:`injected` once done."""
        if fault is Fault.DUPLICATE:
            self._loop.call_soon_threadsafe(self._spawn_replay)
            return
        with self._lock:
            self._armed.append(fault)

    def disarm(self) -> int:
        """Drop the faults armed but not yet injected; return how many."""
        with self._lock:
            dropped = len(self._armed)
            self._armed.clear()
            return dropped

    def watch(self, direction: Direction, min_bytes: int = 1) -> threading.Event:
        """An event set once a chunk of at least ``min_bytes`` has been forwarded
        in ``direction`` (e.g. to kill a node while a request reaches it)."""
        event = threading.Event()
        with self._lock:
            self._watchers.append((direction, min_bytes, event))
        return event

    def cut_all(self) -> int:
        """Close every live connection now (not counted as an injected fault)."""
        future = asyncio.run_coroutine_threadsafe(self._cut_all(), self._loop)
        return future.result(10)

    # -- the loop --------------------------------------------------------------------------

    async def _listen(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        await self._cut_all()
        for task in list(self._tasks):
            task.cancel()

    async def _cut_all(self) -> int:
        live = list(self._live)
        for connection in live:
            connection.abort()
        return len(live)

    def _track(self, coro: Coroutine[Any, Any, None]) -> None:
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._live) >= self.max_connections:
            self.refused += 1
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", self.upstream_port), 5
            )
        except (OSError, TimeoutError):
            self.refused += 1  # the node behind the proxy is down
            writer.transport.abort()
            return
        self.connections += 1
        connection = _Connection(writer, up_writer)
        self._live.add(connection)
        try:
            await asyncio.gather(
                self._pump(connection, reader, up_writer, Direction.REQUEST),
                self._pump(connection, up_reader, writer, Direction.ANSWER),
            )
        finally:
            self._live.discard(connection)
            connection.abort()
            if connection.captured:
                self._recent.append(bytes(connection.captured))

    async def _pump(
        self,
        connection: _Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        direction: Direction,
    ) -> None:
        try:
            while not connection.closed:
                chunk = await reader.read(CHUNK)
                if not chunk:
                    with suppress(OSError):
                        if writer.can_write_eof():
                            writer.write_eof()
                    return
                if direction is Direction.REQUEST and len(connection.captured) < self.capture_limit:
                    connection.captured += chunk
                fault = self._take_fault()
                if fault is Fault.CUT:
                    writer.write(chunk[: self._rng.randrange(len(chunk) + 1)])
                    with suppress(OSError):
                        await writer.drain()
                    connection.abort()
                    self._count(Fault.CUT)
                    return
                if fault is Fault.DELAY:
                    await asyncio.sleep(self._rng.uniform(0, self.max_delay))
                    self._count(Fault.DELAY)
                elif fault is Fault.REORDER:
                    chunk = await self._reorder(chunk, reader, connection, direction)
                writer.write(chunk)
                await writer.drain()
                self._notify(direction, len(chunk))
        except (OSError, asyncio.IncompleteReadError):
            connection.abort()

    async def _reorder(
        self,
        chunk: bytes,
        reader: asyncio.StreamReader,
        connection: _Connection,
        direction: Direction,
    ) -> bytes:
        """``chunk`` with a later piece of the stream moved ahead of an earlier one."""
        if len(chunk) >= 2:
            at = self._rng.randrange(1, len(chunk))
            self._count(Fault.REORDER)
            return chunk[at:] + chunk[:at]
        try:
            following = await asyncio.wait_for(reader.read(CHUNK), self.reorder_wait)
        except TimeoutError:
            following = b""
        if not following:
            with self._lock:
                self._armed.appendleft(Fault.REORDER)  # nothing to swap with: try later
            return chunk
        if direction is Direction.REQUEST and len(connection.captured) < self.capture_limit:
            connection.captured += following
        self._count(Fault.REORDER)
        return following + chunk

    def _spawn_replay(self) -> None:
        self._track(self._replay())

    async def _replay(self) -> None:
        streams = list(self._recent) + [bytes(c.captured) for c in self._live if c.captured]
        if not streams or len(self._live) >= self.max_connections:
            return
        recorded = self._rng.choice(streams)
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", self.upstream_port), 5
            )
        except (OSError, TimeoutError):
            return  # the node behind the proxy is down: nothing was duplicated
        try:
            writer.write(recorded)
            await writer.drain()
            self._count(Fault.DUPLICATE)
            with suppress(TimeoutError):
                async with asyncio.timeout(2):
                    while await reader.read(CHUNK):
                        pass  # the server's answer, if any, goes nowhere
        except OSError:
            pass
        finally:
            writer.transport.abort()

    def _take_fault(self) -> Fault | None:
        with self._lock:
            if not self._armed or self._rng.random() >= self.hit_chance:
                return None
            return self._armed.popleft()

    def _count(self, fault: Fault) -> None:
        with self._lock:
            self.injected[fault] += 1

    def _notify(self, direction: Direction, size: int) -> None:
        with self._lock:
            if not self._watchers:
                return
            keep = []
            for watched, min_bytes, event in self._watchers:
                if watched is direction and size >= min_bytes:
                    event.set()
                else:
                    keep.append((watched, min_bytes, event))
            self._watchers = keep
