"""The delivery worker survives a hostile peer: nothing stored, retried later."""

from __future__ import annotations

from pathlib import Path

from redline.core.statement import format_time
from redline.link.server import MAX_LINK_BODY
from redline.link.transport import PeerClient
from redline.link.worker import DeliveryWorker
from redline.node import init_node
from redline.service.node import NodeService, system_clock
from redline.store import repo
from redline.store.db import open_store
from support.hostile_peer import HostilePeer, endless, wait_for


def test_an_oversized_pull_answer_is_a_delivery_failure_that_is_retried(tmp_path: Path) -> None:
    now = system_clock()
    us = init_node(tmp_path / "us", party="us", name="us", now=now)
    prc = init_node(tmp_path / "prc", party="prc", name="prc", now=now)
    store = open_store(us.database_url)
    with HostilePeer(
        cert_file=prc.tls_cert_file,
        key_file=prc.tls_key_file,
        client_cert_pem=us.tls_cert_file.read_text(),
        answer=endless(limit=8 * MAX_LINK_BODY),
    ) as peer:
        with store.write() as conn:
            repo.add_peer(conn, prc.identity(), peer.url, format_time(now))
        service = NodeService(party="us", signing_key=us.signing_key(), store=store)
        client = PeerClient(
            url=peer.url,
            cert_file=us.tls_cert_file,
            key_file=us.tls_key_file,
            peer_cert_pem=prc.tls_cert_file.read_text(),
        )
        worker = DeliveryWorker(
            service=service, peer="prc", client=client, retry_base=0.01, retry_cap=0.05
        )
        worker.start()
        try:
            # The catch-up pull at start fails, and is tried again after the backoff.
            assert wait_for(lambda: len(peer.requests) >= 2, timeout=60)
        finally:
            worker.stop()
        assert worker.last_error is not None and "bytes" in worker.last_error
        assert all(head.startswith(b"GET /link/v1/statements") for head in peer.requests)
    assert service.status()["statements"] == []
    store.dispose()
