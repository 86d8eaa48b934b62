"""The Alembic migrations build exactly the schema the code declares, on both
databases, and the step from 0001 to 0002 keeps what was stored."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from redline.store.db import Store, open_store
from redline.store.migrate import alembic_config
from redline.store.schema import metadata
from support.nodes import fresh_postgres_database


@pytest.fixture
def store(tmp_path: Path, backend: str) -> Iterator[Store]:
    """A node's store (foreign keys on, as nodes run), not yet migrated."""
    with ExitStack() as stack:
        if backend == "sqlite":
            url = f"sqlite:///{tmp_path / 'm.db'}"
        else:
            url = stack.enter_context(fresh_postgres_database())
        made = open_store(url, migrate=False)
        stack.callback(made.dispose)
        yield made


@pytest.fixture
def engine(store: Store) -> Engine:
    return store._write_engine


def _migrate(engine: Engine, revision: str) -> None:
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def test_migrations_build_the_declared_schema(engine: Engine) -> None:
    _migrate(engine, "head")
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_server_default": False})
        differences = compare_metadata(context, metadata)
    assert differences == []


def test_0002_keeps_statements_and_marks_proven_ones_found(store: Store, engine: Engine) -> None:
    _migrate(engine, "0001")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO peers (party, name, signing_key, log_vkey, witness_vkey, cert_pem,"
                " cert_sha256, url, added_at) VALUES ('prc', 'PRC', 'k', 'l', 'w', 'c', 'f',"
                " 'https://127.0.0.1:1', '2026-11-22T00:00:00.000000Z')"
            )
        )
        for sid, checkpoint in (("a" * 64, 3), ("b" * 64, None)):
            connection.execute(
                text(
                    "INSERT INTO statements (id, direction, peer, sender, recipient, kind, stream,"
                    " seq, time, wire, state, stored_at, proof, proof_checkpoint_id) VALUES"
                    " (:id, 'in', 'prc', 'prc', 'us', 'message', 'main', :seq,"
                    " '2026-11-22T00:00:00.000000Z', :wire, 'received',"
                    " '2026-11-22T00:00:00.000000Z', :proof, :cp)"
                ),
                {
                    "id": sid,
                    "seq": 1 if checkpoint else 2,
                    "wire": b"{}",
                    "proof": "aGFzaA==" if checkpoint else None,
                    "cp": checkpoint,
                },
            )
        # A statement still queued: its outbox row references it.
        connection.execute(
            text(
                "INSERT INTO outbox (statement_id, peer, seq, attempts, next_attempt_at)"
                " VALUES (:id, 'prc', 2, 0, '2026-11-22T00:00:00.000000Z')"
            ),
            {"id": "b" * 64},
        )
    store.migrate()  # as a node starting on the new version does
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT id, proof_checkpoint_id FROM statements ORDER BY id")
        ).all()
        checked = connection.execute(text("SELECT undelivered_checked FROM peers")).scalar_one()
        queued = connection.execute(text("SELECT statement_id FROM outbox")).scalar_one()
    assert [(row.id[0], row.proof_checkpoint_id) for row in rows] == [("a", 3), ("b", None)]
    assert checked == 0
    assert queued == "b" * 64
    columns = {c["name"] for c in inspect(engine).get_columns("statements")}
    assert "proof" not in columns
