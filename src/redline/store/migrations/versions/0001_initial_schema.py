"""initial schema

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "alarms",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("peer", sa.String(length=32), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=True),
        sa.Column("raised_at", sa.String(length=32), nullable=False),
        sa.Column("cleared_at", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "checkpoints",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("party", sa.String(length=32), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("root_hash", sa.LargeBinary(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("party", "size", "root_hash", name="uq_checkpoints_party_size_root"),
    )
    op.create_table(
        "log_hashes",
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("idx"),
    )
    op.create_table(
        "log_leaves",
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("statement_id", sa.String(length=64), nullable=False),
        sa.Column("record", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("idx"),
        sa.UniqueConstraint("statement_id"),
    )
    op.create_table(
        "log_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "peer_hashes",
        sa.Column("party", sa.String(length=32), nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("party", "idx"),
    )
    op.create_table(
        "peer_leaves",
        sa.Column("party", sa.String(length=32), nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("statement_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("recipient", sa.String(length=32), nullable=False),
        sa.Column("time", sa.String(length=32), nullable=False),
        sa.Column("record", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("party", "idx"),
    )
    with op.batch_alter_table("peer_leaves", schema=None) as batch_op:
        batch_op.create_index("ix_peer_leaves_statement", ["party", "statement_id"], unique=False)

    op.create_table(
        "peers",
        sa.Column("party", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("signing_key", sa.String(length=64), nullable=False),
        sa.Column("log_vkey", sa.Text(), nullable=False),
        sa.Column("witness_vkey", sa.Text(), nullable=False),
        sa.Column("cert_pem", sa.Text(), nullable=False),
        sa.Column("cert_sha256", sa.String(length=64), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("added_at", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("party"),
        sa.UniqueConstraint("cert_sha256"),
    )
    op.create_table(
        "sequences",
        sa.Column("peer", sa.String(length=32), nullable=False),
        sa.Column("stream", sa.String(length=16), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("peer", "stream"),
    )
    op.create_table(
        "statements",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("peer", sa.String(length=32), nullable=False),
        sa.Column("sender", sa.String(length=32), nullable=False),
        sa.Column("recipient", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("stream", sa.String(length=16), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("time", sa.String(length=32), nullable=False),
        sa.Column("wire", sa.LargeBinary(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("receipt_id", sa.String(length=64), nullable=True),
        sa.Column("stored_at", sa.String(length=32), nullable=False),
        sa.Column("delivered_at", sa.String(length=32), nullable=True),
        sa.Column("leaf_index", sa.BigInteger(), nullable=True),
        sa.Column("leaf_record", sa.LargeBinary(), nullable=True),
        sa.Column("proof", sa.Text(), nullable=True),
        sa.Column("proof_checkpoint_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("direction", "peer", "stream", "seq", name="uq_statements_stream_seq"),
    )
    with op.batch_alter_table("statements", schema=None) as batch_op:
        batch_op.create_index("ix_statements_receipt", ["receipt_id"], unique=False)

    op.create_table(
        "cosignatures",
        sa.Column("checkpoint_id", sa.Integer(), nullable=False),
        sa.Column("witness", sa.String(length=32), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["checkpoint_id"],
            ["checkpoints.id"],
        ),
        sa.PrimaryKeyConstraint("checkpoint_id", "witness"),
    )
    op.create_table(
        "outbox",
        sa.Column("statement_id", sa.String(length=64), nullable=False),
        sa.Column("peer", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.String(length=32), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["statement_id"],
            ["statements.id"],
        ),
        sa.PrimaryKeyConstraint("statement_id"),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_peer_seq", ["peer", "seq"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_peer_seq")

    op.drop_table("outbox")
    op.drop_table("cosignatures")
    with op.batch_alter_table("statements", schema=None) as batch_op:
        batch_op.drop_index("ix_statements_receipt")

    op.drop_table("statements")
    op.drop_table("sequences")
    op.drop_table("peers")
    with op.batch_alter_table("peer_leaves", schema=None) as batch_op:
        batch_op.drop_index("ix_peer_leaves_statement")

    op.drop_table("peer_leaves")
    op.drop_table("peer_hashes")
    op.drop_table("log_state")
    op.drop_table("log_leaves")
    op.drop_table("log_hashes")
    op.drop_table("checkpoints")
    op.drop_table("alarms")
