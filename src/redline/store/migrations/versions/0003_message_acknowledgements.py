"""message acknowledgements

A message row records the addressee operator's acknowledgement (an ``ack``
statement) in ``ack_id``.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("statements", sa.Column("ack_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column("statements", "ack_id")
