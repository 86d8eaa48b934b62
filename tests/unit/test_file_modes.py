"""Files that hold traffic or secrets are 0600, their folders 0700, whatever the umask."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from redline.node import NodeDir, init_node, load_node
from redline.service.node import system_clock
from redline.store.db import open_store

PRIVATE_FILES = [
    "redline.toml",
    "api.token",
    "keys/signing.pem",
    "keys/log.pem",
    "keys/witness.pem",
    "tls/key.pem",
]


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    # The usual umask (022) would leave new files world-readable: prove ours do not.
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture
def node(tmp_path: Path) -> NodeDir:
    return init_node(tmp_path / "us", party="us", name="us", now=system_clock())


def test_a_new_node_directory_is_private(node: NodeDir) -> None:
    assert mode(node.path) == 0o700
    assert mode(node.path / "keys") == 0o700
    assert mode(node.path / "tls") == 0o700
    for name in PRIVATE_FILES:
        assert mode(node.path / name) == 0o600, name


def test_saving_the_config_keeps_it_private(node: NodeDir) -> None:
    (node.path / "redline.toml").chmod(0o644)
    node.config.database = "postgresql+psycopg://redline:secret@db/redline"
    node.save_config()
    assert mode(node.path / "redline.toml") == 0o600


def test_the_database_and_its_wal_and_shm_are_private(node: NodeDir) -> None:
    store = open_store(node.database_url)
    try:
        with store.write() as conn:  # a write, so that SQLite has a -wal and a -shm
            conn.execute(text("CREATE TABLE probe (x INTEGER)"))
            conn.execute(text("INSERT INTO probe VALUES (1)"))
        with store.read() as conn:
            assert conn.execute(text("SELECT x FROM probe")).scalar_one() == 1
        for suffix in ("", "-wal", "-shm"):
            path = node.path / f"redline.db{suffix}"
            assert path.exists(), path
            assert mode(path) == 0o600, path
    finally:
        store.dispose()


def test_an_existing_directory_is_tightened_when_loaded_and_opened(node: NodeDir) -> None:
    store = open_store(node.database_url)
    with store.write() as conn:
        conn.execute(text("CREATE TABLE probe (x INTEGER)"))
    loose = [node.path / f"redline.db{suffix}" for suffix in ("", "-wal", "-shm")]
    loose += [node.path / name for name in PRIVATE_FILES]
    for path in loose:
        path.chmod(0o644)
    for folder in (node.path, node.path / "keys", node.path / "tls"):
        folder.chmod(0o755)
    try:
        loaded = load_node(node.path)
        open_store(loaded.database_url).dispose()
        for path in loose:
            assert mode(path) == 0o600, path
        for folder in (node.path, node.path / "keys", node.path / "tls"):
            assert mode(folder) == 0o700, folder
    finally:
        store.dispose()


def test_a_sqlite_database_elsewhere_is_private_too(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    open_store(url).dispose()
    assert mode(tmp_path / "elsewhere.db") == 0o600
