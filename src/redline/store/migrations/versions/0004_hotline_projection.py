"""hotline projection

The hotline's state is kept per thread (core.hotline.threads) instead of being
folded from every statement on every act. This builds the thread index for the
hotline statements a database already holds; each thread is marked stale, and
the node folds it and writes its items when it next opens the store
(HotlineService), because the fold needs the packaged catalogue and the
node's loaded public history, which the database does not hold.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from redline.core.hotline.kinds import HOTLINE_KINDS
from redline.core.hotline.threads import thread_names
from redline.core.statement import Statement

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hotline_statements",
        sa.Column("statement_id", sa.String(64), sa.ForeignKey("statements.id"), primary_key=True),
        sa.Column("thread", sa.String(100), nullable=True),
        sa.Column("time", sa.String(32), nullable=False),
        sa.Column("refused", sa.Text(), nullable=True),
    )
    op.create_index(
        "ix_hotline_statements_thread", "hotline_statements", ["thread", "time"], unique=False
    )
    op.create_index(
        "ix_hotline_statements_refused",
        "hotline_statements",
        ["time"],
        unique=False,
        sqlite_where=sa.text("refused IS NOT NULL"),
        postgresql_where=sa.text("refused IS NOT NULL"),
    )
    op.create_table(
        "hotline_names",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("thread", sa.String(100), nullable=False),
    )
    op.create_table(
        "hotline_threads",
        sa.Column("thread", sa.String(100), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("last_time", sa.String(32), nullable=False),
        sa.Column("stale", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_hotline_threads_last_time", "hotline_threads", ["last_time"], unique=False)
    op.create_index("ix_hotline_threads_stale", "hotline_threads", ["stale"], unique=False)
    op.create_index(
        "ix_hotline_threads_kind", "hotline_threads", ["kind", "last_time"], unique=False
    )
    op.create_table(
        "hotline_items",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("thread", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("from_party", sa.String(32), nullable=False),
        sa.Column("to_party", sa.String(32), nullable=False),
        sa.Column("from_office", sa.String(100), nullable=False),
        sa.Column("to_office", sa.String(100), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("open", sa.Boolean(), nullable=False),
        sa.Column("due_at", sa.String(32), nullable=True),
        sa.Column("contact_at", sa.String(32), nullable=True),
        sa.Column("at", sa.String(32), nullable=False),
    )
    op.create_index("ix_hotline_items_thread", "hotline_items", ["thread"], unique=False)
    op.create_index("ix_hotline_items_open", "hotline_items", ["open", "due_at"], unique=False)
    op.create_index("ix_hotline_items_contact", "hotline_items", ["contact_at"], unique=False)
    op.create_table(
        "hotline_tallies",
        sa.Column("to_party", sa.String(32), primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("state", sa.String(16), primary_key=True),
        sa.Column("count", sa.BigInteger(), nullable=False),
    )
    _index_existing()


def _index_existing() -> None:
    """Give every stored hotline statement its thread, oldest first, as the node would."""
    conn = op.get_bind()
    statements = sa.table(
        "statements",
        sa.column("id"),
        sa.column("kind"),
        sa.column("time"),
        sa.column("wire"),
        sa.column("stream"),
    )
    rows = conn.execute(
        sa.select(statements.c.wire)
        .where(statements.c.kind.in_(HOTLINE_KINDS), statements.c.stream == "main")
        .order_by(statements.c.time, statements.c.id)
    )
    names: dict[str, str] = {}
    threads: dict[str, str] = {}
    indexed = []
    for row in rows:
        st = Statement.from_wire(bytes(row.wire))
        mine = thread_names(st)
        thread = next((names[n] for n in mine if n in names), mine[0] if mine else None)
        for n in mine:
            names.setdefault(n, str(thread))
        if thread is not None:
            threads[thread] = st.time
        indexed.append({"statement_id": st.id, "thread": thread, "time": st.time})
    if indexed:
        op.bulk_insert(sa.table("hotline_statements", *map(sa.column, indexed[0])), indexed)
    if names:
        op.bulk_insert(
            sa.table("hotline_names", sa.column("name"), sa.column("thread")),
            [{"name": n, "thread": t} for n, t in names.items()],
        )
    if threads:
        op.bulk_insert(
            sa.table(
                "hotline_threads",
                sa.column("thread"),
                sa.column("kind"),
                sa.column("last_time"),
                sa.column("stale"),
            ),
            [
                {"thread": t, "kind": t.partition(":")[0], "last_time": at, "stale": True}
                for t, at in threads.items()
            ],
        )


def downgrade() -> None:
    op.drop_table("hotline_tallies")
    op.drop_table("hotline_items")
    op.drop_table("hotline_threads")
    op.drop_table("hotline_names")
    op.drop_table("hotline_statements")
