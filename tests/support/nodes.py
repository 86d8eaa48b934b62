"""Real node processes on loopback for integration, fault and browser tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import and_, select

from redline.core import merkle
from redline.core.checkpoint import open_checkpoint
from redline.core.note import Verifier
from redline.core.statement import format_time
from redline.node import NodeDir, init_node
from redline.service.node import system_clock
from redline.store import repo
from redline.store.db import Store, open_store
from redline.store.repo import DbHashReader
from redline.store.schema import checkpoints, cosignatures, log_leaves, statements

POSTGRES_URL = os.environ.get(
    "REDLINE_TEST_POSTGRES_URL", "postgresql+psycopg://root@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("REDLINE_REQUIRE_POSTGRES") == "1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def postgres_available() -> str | None:
    """None if PostgreSQL answers, else the reason it does not."""
    try:
        with psycopg.connect(_libpq_url(POSTGRES_URL), connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return f"PostgreSQL at {POSTGRES_URL} is not reachable: {exc}"


def _libpq_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database for one node; dropped afterwards."""
    name = f"redline_t_{uuid.uuid4().hex[:12]}"
    admin = _libpq_url(POSTGRES_URL)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class NodeProcess:
    """A node directory and the ``redline serve`` process that runs it."""

    def __init__(self, path: Path, *, party: str, name: str, database: str = "") -> None:
        self.link_port = free_port()
        self.api_port = free_port()
        self.dir: NodeDir = init_node(
            path,
            party=party,
            name=name,
            now=system_clock(),
            database=database,
            link_port=self.link_port,
            api_port=self.api_port,
        )
        # Short retries keep the tests quick after a peer comes back.
        self.dir.config.retry_base_seconds = 0.05
        self.dir.config.retry_cap_seconds = 0.5
        self.dir.config.checkpoint_interval_seconds = 0.5
        # No scheduled link tests: they would add statements that tests count.
        # tests/integration/test_link_tests_nodes.py turns them on.
        self.dir.config.link_test_interval_seconds = 0.0
        self.dir.config.operator_test_time = ""
        self.dir.save_config()
        self.store: Store = open_store(self.dir.database_url)
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = path / "serve.log"
        self.token = self.dir.api_token()

    @property
    def party(self) -> str:
        return self.dir.config.party

    @property
    def link_url(self) -> str:
        return f"https://127.0.0.1:{self.link_port}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def pin(self, other: NodeProcess) -> None:
        with self.store.write() as conn:
            repo.add_peer(conn, other.dir.identity(), other.link_url, format_time(system_clock()))

    def pin_via(self, other: NodeProcess, url: str) -> None:
        """Pin ``other``, reached at ``url`` (a proxy in front of its link port)."""
        with self.store.write() as conn:
            repo.add_peer(conn, other.dir.identity(), url, format_time(system_clock()))

    def start(self, timeout: float = 30.0) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "redline", "serve", str(self.dir.path)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"node {self.party} exited: {self.log_path.read_text()}")
            try:
                if httpx.get(f"{self.api_url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"node {self.party} did not start: {self.log_path.read_text()}")

    def kill(self) -> None:
        """SIGKILL: no chance to clean up."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.api_url,
            headers={"authorization": f"Bearer {self.token}"},
            timeout=30,
            trust_env=False,
        )

    def rows(self) -> list[Any]:
        with self.store.read() as conn:
            return list(conn.execute(select(statements)))

    def status(self) -> dict[str, Any]:
        result = subprocess.run(
            [sys.executable, "-m", "redline", "status", str(self.dir.path), "--json"],
            capture_output=True,
            check=True,
        )
        return dict(json.loads(result.stdout))

    def close(self) -> None:
        self.stop()
        self.store.dispose()


def pair(a: NodeProcess, b: NodeProcess) -> None:
    a.pin(b)
    b.pin(a)


def wait_until(predicate: Any, *, timeout: float, interval: float = 0.2, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")


def cosigned_checkpoints(log: NodeProcess, witness: NodeProcess) -> list[tuple[int, bytes, str]]:
    """``log``'s checkpoints that ``witness`` cosigned, as ``log`` holds them:
    (size, root hash, note with the cosignature line), smallest first."""
    with log.store.read() as conn:
        rows = conn.execute(
            select(
                checkpoints.c.size, checkpoints.c.root_hash, checkpoints.c.note, cosignatures.c.line
            )
            .join(cosignatures, cosignatures.c.checkpoint_id == checkpoints.c.id)
            .where(and_(checkpoints.c.party == log.party, cosignatures.c.witness == witness.party))
            .order_by(checkpoints.c.size)
        ).all()
    return [(int(r.size), bytes(r.root_hash), r.note + r.line) for r in rows]


def witnessed_checkpoints(witness: NodeProcess, log: NodeProcess) -> list[tuple[int, bytes]]:
    """The checkpoints of ``log``'s log that ``witness`` holds: (size, root hash)."""
    with witness.store.read() as conn:
        rows = conn.execute(
            select(checkpoints.c.size, checkpoints.c.root_hash)
            .where(checkpoints.c.party == log.party)
            .order_by(checkpoints.c.size)
        ).all()
    return [(int(r.size), bytes(r.root_hash)) for r in rows]


def check_log_consistency(log: NodeProcess, witness: NodeProcess) -> int:
    """Check ``log``'s log against every checkpoint of it that ``witness`` cosigned.

    Each cosigned checkpoint must carry the log's signature and the witness's
    cosignature, and be consistent (RFC 9162 §2.1.4 proof, checked with
    :func:`merkle.verify_consistency`) with the log's current tree; so must
    every checkpoint of that log the witness holds. The current root must be
    the root of the stored leaf records, recomputed from them. Consistency of
    each with the current tree makes them all prefixes of one tree. Returns
    how many checkpoints were checked.

    Raises AssertionError, or what :func:`open_checkpoint` and
    :func:`merkle.verify_consistency` raise (``InvalidProof``) when a
    signature or a proof fails.
    """
    cosigned = cosigned_checkpoints(log, witness)
    log_key = Verifier.parse(log.dir.identity().log_vkey)
    witness_key = Verifier.parse(witness.dir.identity().witness_vkey)
    for _size, _root, note in cosigned:
        signed = open_checkpoint(
            note.encode(), log=log_key, cosigners=[witness_key], min_cosignatures=1
        )
        assert signed.cosigned_by(witness_key) is not None
    held = witnessed_checkpoints(witness, log)
    with log.store.read() as conn:
        records = [
            bytes(r.record) for r in conn.execute(select(log_leaves).order_by(log_leaves.c.idx))
        ]
        size = len(records)
        reader = DbHashReader(conn)
        root = merkle.tree_hash(size, reader)
        recomputed = merkle.root_from_leaf_hashes([merkle.leaf_hash(r) for r in records])
        assert root == recomputed, f"{log.party}'s stored hashes disagree with its leaves"
        for old_size, old_root in [(s, r) for s, r, _ in cosigned] + held:
            assert old_size <= size, f"{log.party} checkpoint at {old_size} past its log ({size})"
            if old_size == 0:
                assert old_root == merkle.root_from_leaf_hashes([])
                continue
            merkle.verify_consistency(
                size1=old_size,
                size2=size,
                proof=merkle.prove_tree(size, old_size, reader),
                root1=old_root,
                root2=root,
            )
    return len(cosigned) + len(held)
