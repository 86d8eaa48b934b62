"""Start-up wiring: a serving node is the service, its link and operator
servers, and one delivery worker per pinned peer, in one process.

The link listens with mutual TLS (``link_host:link_port``); the operator API
listens in plain HTTP on ``api_host:api_port`` (loopback by default), in its
own thread with its own event loop, so that nothing on the link's loop (a
flood of pushes, slow handshakes, a handler that holds the loop) keeps the
operator waiting. The two share only the service and its store, which are
safe across threads (SQLAlchemy's engine and pool are; wake-ups to the
delivery workers are ``threading.Event`` s). SIGTERM and SIGINT stop both
servers and the workers cleanly; SIGKILL loses nothing, because nothing is
acknowledged before it is committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Coroutine, Generator
from datetime import timedelta
from typing import Any

import uvicorn

from redline.link.checkpointer import CheckpointWorker
from redline.link.quota import PeerQuotas, QuotaLimits
from redline.link.server import HandshakeGate, PeerCertProtocol, create_link_app
from redline.link.transport import PeerClient, server_ssl_context
from redline.link.worker import DeliveryWorker
from redline.node import NodeDir
from redline.service.handling import HandlingService
from redline.service.hotline import HotlineService
from redline.service.linktests import LinkTests, settings_of
from redline.service.media import MediaService
from redline.service.node import Clock, NodeService, system_clock
from redline.service.notify import notifier_from
from redline.service.record import RecordService
from redline.service.ticker import Ticker
from redline.service.translation import install_hooks as install_notice_hooks
from redline.store.db import open_store
from redline.turn import TurnRelay, turn_settings
from redline.web.api import create_api_app

__all__ = ["Node", "build_node", "serve"]

log = logging.getLogger("redline")

# Connections (past the TLS handshake, so pinned peers only) and requests the
# link serves at once; beyond them uvicorn answers 503. An idle keep-alive
# connection is closed after LINK_KEEP_ALIVE_SECONDS.
LINK_CONNECTIONS = 64
LINK_KEEP_ALIVE_SECONDS = 5


class _QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to :func:`serve`."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class Node:
    """A node's running parts."""

    def __init__(self, node_dir: NodeDir, *, clock: Clock = system_clock) -> None:
        self.dir = node_dir
        config = node_dir.config
        self.store = open_store(node_dir.database_url)
        self.workers: dict[str, DeliveryWorker] = {}
        self.service = NodeService(
            party=config.party,
            signing_key=node_dir.signing_key(),
            store=self.store,
            clock=clock,
            on_outbox=self._wake,
            unreachable_after=timedelta(seconds=config.unreachable_alarm_seconds),
        )
        # Registers the hotline's receipt checks; the ticker records lapses and missed calls.
        self.hotline = HotlineService(
            self.service,
            node_path=node_dir.path,
            name=config.name,
            horizon=timedelta(days=config.time_horizon_days),
        )
        self.ticker = Ticker("hotline-due", self.hotline.record_due_quietly)
        # Voice and video: the signalling's receipt checks; coturn when configured (docs/calls.md).
        turn = turn_settings(config)
        self.media = MediaService(self.hotline, turn=turn)
        self.turn = None if turn is None else TurnRelay(turn, node_dir.path)
        install_notice_hooks(self.service)  # notices, translations, glossaries indexed as stored
        # Heartbeats and the daily operator test, answered and settled (docs/link-tests.md).
        self.link_tests = LinkTests(self.service, settings_of(config))
        self.link_ticker = Ticker("link-tests", self.link_tests.tick)
        self.link_tests.on_heartbeat = self.link_ticker.wake  # reply at once
        # Escalation of unanswered messages, notifications off the floor (docs/messages.md).
        self.handling = HandlingService(
            self.service, notifier=notifier_from(config, store=self.store, clock=clock)
        )
        self.handling_ticker = Ticker("handling", self.handling.tick)
        clients: dict[str, PeerClient] = {}
        for peer in self.service.peers():
            client = clients[peer.party] = PeerClient(
                url=peer.url,
                cert_file=node_dir.tls_cert_file,
                key_file=node_dir.tls_key_file,
                peer_cert_pem=peer.identity.tls_cert_pem,
                deadline=config.link_deadline_seconds,
            )
            self.workers[peer.party] = DeliveryWorker(
                service=self.service,
                peer=peer.party,
                client=client,
                batch_size=config.batch_size,
                retry_base=config.retry_base_seconds,
                retry_cap=config.retry_cap_seconds,
                pull_interval=config.pull_interval_seconds,
            )
        # The witness fetches the log's leaves over its own connection to the log.
        witness_clients = {
            party: PeerClient(
                url=client.url,
                cert_file=node_dir.tls_cert_file,
                key_file=node_dir.tls_key_file,
                peer_cert_pem=self.service.peer(party).identity.tls_cert_pem,
                deadline=config.link_deadline_seconds,
            )
            for party, client in clients.items()
        }
        self.record = RecordService(
            node=self.service,
            log_signer=node_dir.log_signer(),
            witness_signer=node_dir.witness_signer(),
            fetch_leaves=lambda peer, start, end: witness_clients[peer].leaves(start, end),
        )
        self.checkpointer = CheckpointWorker(
            record=self.record,
            clients=clients,
            every=config.checkpoint_every,
            interval=config.checkpoint_interval_seconds,
        )
        self._clients = list(witness_clients.values())

    def _wake(self, peer: str) -> None:
        worker = self.workers.get(peer)
        if worker is not None:
            worker.wake()

    def _gap(self, peer: str) -> None:
        worker = self.workers.get(peer)
        if worker is not None:
            worker.request_pull()

    def servers(
        self, *, host: str, port: int, api_host: str, api_port: int
    ) -> list[uvicorn.Server]:
        """The link server (mutual TLS) and the operator API server.

        The link's TLS is layered by a :class:`HandshakeGate` (a cap on
        connections that have not finished their handshake, and a short
        handshake timeout), and the link takes at most ``LINK_CONNECTIONS``
        connections and requests at once (more get 503), so strangers and
        peers on the link cannot use up the descriptors, threads or loop time
        the operator API, on its own listener, needs. Each pinned peer is held
        to its quotas (``peer_*`` settings, :class:`PeerQuotas`). The API
        server is the second; :func:`serve` runs it on its own event loop.
        """
        config = self.dir.config
        gate = HandshakeGate(
            protocol=PeerCertProtocol,
            # Our own context: only pinned peer certificates are trust anchors.
            context=server_ssl_context(
                cert_file=self.dir.tls_cert_file,
                key_file=self.dir.tls_key_file,
                peer_cert_pems=[p.identity.tls_cert_pem for p in self.service.peers()],
            ),
            timeout=config.link_handshake_timeout_seconds,
            max_pending=config.link_max_pending_handshakes,
        )
        quotas = PeerQuotas(
            QuotaLimits(
                statements_per_second=config.peer_statements_per_second,
                burst_statements=config.peer_burst_statements,
                bytes_per_day=config.peer_bytes_per_day,
            )
        )
        link_config = uvicorn.Config(
            create_link_app(self.service, record=self.record, on_gap=self._gap, quotas=quotas),
            host=host,
            port=port,
            http=gate.protocol_class(),
            lifespan="off",
            log_level="warning",
            timeout_graceful_shutdown=2,
            timeout_keep_alive=LINK_KEEP_ALIVE_SECONDS,
            limit_concurrency=LINK_CONNECTIONS,
            access_log=False,
        )
        api_config = uvicorn.Config(
            create_api_app(
                self.service,
                token=self.dir.api_token(),
                identity=self.dir.identity(),
                hotline=self.hotline,
                handling=self.handling,
                link_tests=self.link_tests,
                translation_model_dir=self.dir.config.translation_model_dir,
            ),
            host=api_host,
            port=api_port,
            lifespan="off",
            log_level="warning",
            timeout_graceful_shutdown=2,
            access_log=False,
        )
        return [_QuietServer(link_config), _QuietServer(api_config)]

    def start_workers(self) -> None:
        for worker in self.workers.values():
            worker.start()
        self.checkpointer.start()
        self.ticker.start()
        self.handling_ticker.start()
        self.link_ticker.start()

    def stop(self) -> None:
        if self.turn is not None:
            self.turn.stop()
        self.handling_ticker.stop()
        self.link_ticker.stop()
        self.ticker.stop()
        self.checkpointer.stop()
        for worker in self.workers.values():
            worker.stop()
        for client in self._clients:
            client.close()
        self.store.dispose()


def build_node(node_dir: NodeDir, *, clock: Clock = system_clock) -> Node:
    """Open the database (migrating it) and wire the node's parts."""
    return Node(node_dir, clock=clock)


class _OwnLoop:
    """Runs a uvicorn server in its own thread, on its own event loop.

    ``on_exit`` is called from that thread when the server ends, however it
    ends; :attr:`failure` is what ended it if it did not end cleanly (uvicorn
    raises ``SystemExit`` when it cannot bind its port).
    """

    def __init__(self, server: uvicorn.Server, *, on_exit: Callable[[], None]) -> None:
        self.server = server
        self.failure: BaseException | None = None
        self._on_exit = on_exit
        self._thread = threading.Thread(target=self._run, name="operator-api", daemon=True)

    def _run(self) -> None:
        try:
            _event_loop_runner()(self.server.serve())
        except BaseException as exc:  # handed to the main thread
            self.failure = exc
        finally:
            self._on_exit()

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)


async def _serve(node: Node, servers: list[uvicorn.Server]) -> None:
    """Serve the link on this loop and the API (``servers[1]``) on its own,
    until a signal or either server ends; then stop both.

    Raises what ended the API server if it did not end cleanly.
    """
    link, api = servers
    loop = asyncio.get_running_loop()

    def stop() -> None:
        for server in servers:
            server.should_exit = True

    def api_ended() -> None:
        # The API's own thread: the link's loop is told through its queue.
        with contextlib.suppress(RuntimeError):  # that loop has closed already
            loop.call_soon_threadsafe(stop)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    own_loop = _OwnLoop(api, on_exit=api_ended)
    own_loop.start()
    try:
        node.start_workers()
        await link.serve()
    finally:
        api.should_exit = True
        # uvicorn looks at should_exit every 0.1 s and then shuts down gracefully.
        await asyncio.to_thread(own_loop.join)
    if own_loop.failure is not None:
        raise own_loop.failure


def _event_loop_runner() -> Callable[[Coroutine[Any, Any, None]], None]:
    """uvloop's runner where it is installed (it is a dependency), else asyncio's."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        return asyncio.run
    return uvloop.run


def serve(
    node_dir: NodeDir,
    *,
    host: str | None = None,
    port: int | None = None,
    api_host: str | None = None,
    api_port: int | None = None,
) -> None:
    """Run the node until SIGTERM or SIGINT."""
    config = node_dir.config
    node = build_node(node_dir)
    servers = node.servers(
        host=host or config.link_host,
        port=port if port is not None else config.link_port,
        api_host=api_host or config.api_host,
        api_port=api_port if api_port is not None else config.api_port,
    )
    log.info(
        "node %s serving: link https://%s:%s, operator API http://%s:%s",
        config.party,
        servers[0].config.host,
        servers[0].config.port,
        servers[1].config.host,
        servers[1].config.port,
    )
    try:
        if node.turn is not None:
            node.turn.start()
        _event_loop_runner()(_serve(node, servers))
    finally:
        node.stop()
