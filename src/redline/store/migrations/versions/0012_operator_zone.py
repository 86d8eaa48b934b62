"""each operator's time zone

The console shows times in the operator's zone beside the counterpart's. An
operator's zone is an IANA name (``Europe/Berlin``); NULL means the node's
own zone (its party's in the directory). Existing operators start with NULL.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD/DROP COLUMN on both databases, not batch mode, for the reason 0002 gives.
    op.add_column("operators", sa.Column("zone", sa.String(64), nullable=True))


def downgrade() -> None:
    op.drop_column("operators", "zone")
