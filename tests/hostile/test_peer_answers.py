"""A hostile peer's answers are read within a byte cap and a whole-exchange deadline.

Each test runs a real mutual-TLS server on loopback (support.hostile_peer)
that answers as no honest peer would. The answers end eventually, so a client
without the defence fails these tests with a different error instead of hanging.
"""

from __future__ import annotations

import ssl
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from redline.core.errors import AnswerTooLarge, LinkTimeout, RemoteError
from redline.link.server import MAX_LINK_BODY
from redline.link.transport import MAX_SMALL_ANSWER, PeerClient, pull_answer_cap
from redline.node import NodeDir, init_node
from redline.service.node import system_clock
from support.hostile_peer import (
    CHUNK,
    HostilePeer,
    chunked,
    drip_body,
    drip_headers,
    endless,
)

Answer = Callable[[HostilePeer, ssl.SSLSocket], None]


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> tuple[NodeDir, NodeDir]:
    """Our node (the client) and the hostile peer's (whose certificate it serves)."""
    base = tmp_path_factory.mktemp("hostile")
    now = system_clock()
    return (
        init_node(base / "us", party="us", name="us", now=now),
        init_node(base / "prc", party="prc", name="prc", now=now),
    )


@pytest.fixture
def hostile(nodes: tuple[NodeDir, NodeDir]) -> Iterator[Callable[..., PeerClient]]:
    """Start a hostile peer answering with ``answer``; return a client pinned to it."""
    us, prc = nodes
    peers: list[HostilePeer] = []
    clients: list[PeerClient] = []

    def start(answer: Answer, *, deadline: float = 30.0) -> PeerClient:
        peer = HostilePeer(
            cert_file=prc.tls_cert_file,
            key_file=prc.tls_key_file,
            client_cert_pem=us.tls_cert_file.read_text(),
            answer=answer,
        ).__enter__()
        peers.append(peer)
        client = PeerClient(
            url=peer.url,
            cert_file=us.tls_cert_file,
            key_file=us.tls_key_file,
            peer_cert_pem=prc.tls_cert_file.read_text(),
            deadline=deadline,
        )
        clients.append(client)
        return client

    try:
        yield start
    finally:
        for client in clients:
            client.close()
        for peer in peers:
            peer.__exit__()


def _peak_while(action: Callable[[], object]) -> int:
    """Peak traced memory (bytes) while ``action`` runs; it must raise AnswerTooLarge."""
    tracemalloc.start()
    try:
        with pytest.raises(AnswerTooLarge):
            action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_an_endless_pull_answer_is_cut_off_at_the_cap(
    hostile: Callable[..., PeerClient],
) -> None:
    cap = pull_answer_cap(256)
    client = hostile(endless(limit=4 * cap))
    peak = _peak_while(lambda: client.pull(0, 256))
    # The answer is refused with the cap read (plus one chunk), not the 4x sent.
    assert peak < cap + cap // 4, f"peak {peak} for a cap of {cap}"


def test_an_endless_push_answer_is_cut_off_at_the_link_body_limit(
    hostile: Callable[..., PeerClient],
) -> None:
    client = hostile(endless(limit=4 * MAX_LINK_BODY))
    peak = _peak_while(lambda: client.push([b"{}"]))
    assert peak < MAX_LINK_BODY + MAX_LINK_BODY // 4, f"peak {peak}"


def test_a_lying_content_length_is_refused_before_the_body_is_read(
    hostile: Callable[..., PeerClient],
) -> None:
    three_gib = 3 * 1024**3
    head = (
        "HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\n"
        f"content-length: {three_gib}\r\n\r\n"
    ).encode()
    client = hostile(endless(limit=4 * MAX_LINK_BODY, head=head))
    with pytest.raises(AnswerTooLarge, match=str(three_gib)):
        client.pull(0, 1)


@pytest.mark.parametrize(
    ("call", "cap"),
    [
        (lambda c: c.leaves(0, 1000), MAX_LINK_BODY),
        (lambda c: c.add_checkpoint(b"old 0\n\n"), MAX_SMALL_ANSWER),
    ],
    ids=["leaves", "add-checkpoint"],
)
def test_witness_answers_are_bounded(
    hostile: Callable[..., PeerClient], call: Callable[[PeerClient], object], cap: int
) -> None:
    client = hostile(endless(limit=4 * MAX_LINK_BODY))
    with pytest.raises(AnswerTooLarge, match=f"more than {cap} bytes"):
        call(client)


def test_an_error_answer_is_read_only_as_far_as_a_small_answer_goes(
    hostile: Callable[..., PeerClient],
) -> None:
    head = chunked(status="500 Internal Server Error", content_type="application/problem+json")
    client = hostile(endless(limit=4 * MAX_LINK_BODY, head=head))
    with pytest.raises(AnswerTooLarge, match=f"more than {MAX_SMALL_ANSWER} bytes"):
        client.pull(0, 1)


def test_a_compressed_answer_is_refused(hostile: Callable[..., PeerClient]) -> None:
    # One gzip chunk can expand a thousandfold, past any cap checked per chunk.
    head = (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\n"
        b"content-encoding: gzip\r\ntransfer-encoding: chunked\r\n\r\n"
    )
    client = hostile(endless(limit=len(CHUNK), head=head))
    with pytest.raises(RemoteError, match="content-encoding 'gzip'"):
        client.pull(0, 1)


def test_a_slow_drip_body_trips_the_whole_exchange_deadline(
    hostile: Callable[..., PeerClient],
) -> None:
    # Each byte comes well inside the 10 s read timeout; only the deadline stops it.
    client = hostile(drip_body(length=200, every=0.05), deadline=1.0)
    with pytest.raises(LinkTimeout, match="did not answer within 1s"):
        client.pull(0, 1)


def test_slow_drip_headers_trip_the_deadline_too(hostile: Callable[..., PeerClient]) -> None:
    client = hostile(drip_headers(count=200, every=0.05), deadline=1.0)
    with pytest.raises(LinkTimeout):
        client.push([b"{}"])


def test_a_client_still_reads_an_honest_answer_after_a_hostile_one(
    hostile: Callable[..., PeerClient], tmp_path: Path
) -> None:
    # The refused answer's connection is closed, not returned to the pool.
    answers: list[Answer] = [endless(limit=4 * MAX_LINK_BODY)]

    def honest(peer: HostilePeer, conn: ssl.SSLSocket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")

    def answer(peer: HostilePeer, conn: ssl.SSLSocket) -> None:
        (answers.pop() if answers else honest)(peer, conn)

    client = hostile(answer)
    with pytest.raises(AnswerTooLarge):
        client.pull(0, 1)
    assert client.pull(0, 1) == []
