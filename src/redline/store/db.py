"""Opening a node's database: SQLite (the embedded default) or PostgreSQL.

SQLite runs in WAL mode with ``synchronous=FULL`` so that a commit survives
``kill -9`` and power loss alike; every write transaction starts with
``BEGIN IMMEDIATE`` so two processes (``redline serve`` and ``redline send``)
never deadlock upgrading a read lock, and in one process writes go through one
lock (one writer) while reads run concurrently on their own connections.

The SQLite file holds every statement exchanged, so it is readable by the
node's user only: it is created 0600 before SQLite opens it, and SQLite gives
the ``-wal`` and ``-shm`` files it creates later the database file's mode
(its unix VFS copies it: ``findCreateFileMode``). An existing database and
its ``-wal``/``-shm`` lose their group and other bits when opened.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

from sqlalchemy import Connection, create_engine, event, insert, make_url, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError

from redline.core.errors import ConfigError
from redline.store.migrate import upgrade
from redline.store.schema import log_state

# Connection is the handle Store.read() and Store.write() give: the service
# layer names its type through here and imports no SQLAlchemy itself.
__all__ = ["Connection", "Store", "after_commit", "open_store"]

SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def make_sqlite_private(url: str) -> None:
    """Create the SQLite file of ``url`` with mode 0600, or make it 0600 if it exists.

    Its ``-wal``, ``-shm`` and ``-journal`` files, where they exist, lose
    their group and other bits too. An in-memory database is left alone.

    Raises :class:`ConfigError` if the file cannot be created or changed.
    """
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    try:
        fd = os.open(database, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            os.fchmod(fd, os.fstat(fd).st_mode & 0o600)
        finally:
            os.close(fd)
        for suffix in SQLITE_SIDE_FILES:
            try:
                os.chmod(database + suffix, os.stat(database + suffix).st_mode & 0o600)
            except FileNotFoundError:
                continue
    except OSError as exc:
        raise ConfigError(f"cannot make {database} private: {exc}", field="database") from exc


def _sqlite_engine(url: str, *, immediate: bool) -> Engine:
    # A pool keeps connections (and their PRAGMAs) open between transactions.
    engine = create_engine(url, pool_size=8, max_overflow=8)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own
        # transaction handling would defer it and break BEGIN IMMEDIATE).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class Store:
    """A node's database: one engine for writes, one for reads.

    Use ``with store.write() as conn:`` for a transaction that changes
    anything and ``with store.read() as conn:`` for queries.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            if url.startswith("sqlite"):
                self.dialect = "sqlite"
                make_sqlite_private(url)
                self._write_engine = _sqlite_engine(url, immediate=True)
                self._read_engine = _sqlite_engine(url, immediate=False)
            elif url.startswith("postgresql"):
                self.dialect = "postgresql"
                self._write_engine = create_engine(url, pool_size=8, pool_pre_ping=True)
                self._read_engine = self._write_engine
            else:
                raise ConfigError(
                    "database must be a sqlite:/// or postgresql+psycopg:// URL", field="database"
                )
        except ArgumentError as exc:
            raise ConfigError(f"cannot parse database URL: {exc}", field="database") from exc
        self._write_lock = threading.Lock() if self.dialect == "sqlite" else None

    @property
    def engine(self) -> Engine:
        """The engine used for writes (and for migrations)."""
        return self._write_engine

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction; commits on success, rolls back on error. What was
        registered with :func:`after_commit` runs once the commit has landed."""
        lock = self._write_lock if self._write_lock is not None else nullcontext()
        held: Connection | None = None
        try:
            with lock, self._write_engine.begin() as conn:
                held = conn
                yield conn
        except BaseException:
            if held is not None:
                _PENDING.pop(held, None)
            raise
        for callback in _PENDING.pop(conn, ()):
            callback()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction."""
        with self._read_engine.connect() as conn:
            yield conn

    def migrate(self) -> None:
        """Create or upgrade the schema through Alembic.

        Raises :class:`ConfigError` if the database cannot be reached.
        """
        try:
            upgrade(self._write_engine)
        except OperationalError as exc:
            raise ConfigError(f"cannot open database: {exc.orig}", field="database") from exc
        # The log's size row exists from the start: appends lock it, never race to create it.
        try:
            with self.write() as conn:
                if conn.execute(select(log_state.c.id)).first() is None:
                    conn.execute(insert(log_state).values(id=1, size=0))
        except IntegrityError:
            pass  # another process created it first

    def dispose(self) -> None:
        """Close every pooled connection."""
        self._write_engine.dispose()
        if self._read_engine is not self._write_engine:
            self._read_engine.dispose()


def open_store(url: str, *, migrate: bool = True) -> Store:
    """Open (and by default migrate) the database at ``url``.

    A SQLite file is made private first (:func:`make_sqlite_private`).
    Raises :class:`ConfigError` for a bad URL or an unreachable database.
    """
    store = Store(url)
    if migrate:
        store.migrate()
    return store


#: Callbacks waiting for the commit of a write transaction (:meth:`Store.write`).
_PENDING: weakref.WeakKeyDictionary[Connection, list[Callable[[], None]]] = (
    weakref.WeakKeyDictionary()
)


def after_commit(conn: Connection, callback: Callable[[], None]) -> None:
    """Call ``callback`` once the write transaction of ``conn`` (a
    :meth:`Store.write`) has committed, never if it rolls back: what is
    announced is then readable by any other connection. (SQLAlchemy's own
    ``commit`` event fires before the database commits: a reader woken by it
    could still miss the rows.) Raises nothing; ``callback`` must not raise."""
    _PENDING.setdefault(conn, []).append(callback)
