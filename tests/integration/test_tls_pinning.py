"""A real node process refuses, at the TLS layer, a client whose certificate is not pinned."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from redline.link.transport import PeerClient, client_ssl_context
from redline.node import init_node
from redline.service.node import system_clock
from support.nodes import NodeProcess, pair

pytestmark = pytest.mark.slow


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[tuple[NodeProcess, NodeProcess]]:
    # The TLS layer does not touch the database: SQLite alone is enough here.
    us = NodeProcess(tmp_path / "us", party="us", name="US")
    prc = NodeProcess(tmp_path / "prc", party="prc", name="PRC")
    pair(us, prc)
    try:
        yield us, prc
    finally:
        us.close()
        prc.close()


def test_unpinned_client_certificate_is_refused(
    nodes: tuple[NodeProcess, NodeProcess], tmp_path: Path
) -> None:
    us, prc = nodes
    prc.start()
    # A stranger with its own key and certificate, which prc never pinned.
    stranger = init_node(tmp_path / "stranger", party="ru", name="Stranger", now=system_clock())
    context = client_ssl_context(
        cert_file=stranger.tls_cert_file,
        key_file=stranger.tls_key_file,
        peer_cert_pem=prc.dir.tls_cert_file.read_text(),
    )
    with httpx.Client(verify=context, timeout=10, trust_env=False) as client:
        with pytest.raises((httpx.TransportError, ssl.SSLError)):
            client.post(f"{prc.link_url}/link/v1/statements", content=b"{}\n")
    # No client certificate at all is refused the same way.
    bare = ssl.create_default_context(cadata=prc.dir.tls_cert_file.read_text())
    bare.check_hostname = False
    with httpx.Client(verify=bare, timeout=10, trust_env=False) as client:
        with pytest.raises((httpx.TransportError, ssl.SSLError)):
            client.get(f"{prc.link_url}/link/v1/statements", params={"after": 0})
    # The pinned peer gets through on the same port.
    pinned = PeerClient(
        url=prc.link_url,
        cert_file=us.dir.tls_cert_file,
        key_file=us.dir.tls_key_file,
        peer_cert_pem=prc.dir.tls_cert_file.read_text(),
    )
    try:
        assert pinned.pull(0, 10) == []
    finally:
        pinned.close()
    assert prc.rows() == []
