"""index the messages not yet acknowledged

The board lists the messages awaiting an operator's acknowledgement on every
call; without an index that read every statement the node holds.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_statements_kind_ack", "statements", ["kind", "ack_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_statements_kind_ack", table_name="statements")
