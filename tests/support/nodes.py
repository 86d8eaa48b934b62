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
from sqlalchemy import select

from redline.core.statement import format_time
from redline.node import NodeDir, init_node
from redline.service.node import system_clock
from redline.store import repo
from redline.store.db import Store, open_store
from redline.store.schema import statements

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
