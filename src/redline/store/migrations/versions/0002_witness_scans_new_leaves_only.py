"""witness scans new leaves only

The witness no longer stores an inclusion proof per received statement (an
export rebuilds proofs from its copy of the peer's log); it marks a statement
found by the checkpoint that included it, finds the unfound ones by an index,
and remembers how far it has looked for undelivered statements.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


# Plain ALTER TABLE on both databases (SQLite has had DROP COLUMN since 3.35),
# not Alembic's batch mode: on SQLite that rebuilds the table, and dropping the
# old ``statements`` fails while an ``outbox`` row references it (nodes run
# with foreign keys on).


def upgrade() -> None:
    op.drop_column("statements", "proof")
    op.create_index(
        "ix_statements_unproven",
        "statements",
        ["direction", "peer", "proof_checkpoint_id"],
        unique=False,
    )
    op.add_column(
        "peers",
        sa.Column("undelivered_checked", sa.BigInteger(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_column("peers", "undelivered_checked")
    op.drop_index("ix_statements_unproven", table_name="statements")
    op.add_column("statements", sa.Column("proof", sa.Text(), nullable=True))
