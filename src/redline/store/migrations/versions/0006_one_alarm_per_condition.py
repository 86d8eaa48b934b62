"""one alarm per condition

An alarm names the condition it is about (``condition``: a checkpoint size, a
statement id), and a condition seen again bumps ``count`` and ``last_seen`` of
its open alarm instead of adding a row; ``raised_at`` is when it was first
seen. A unique index over the open alarms holds it to one row per (kind,
peer, condition). Alarms already stored become one condition each.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_OPEN = sa.text("cleared_at IS NULL")


def upgrade() -> None:
    op.add_column(
        "alarms", sa.Column("condition", sa.String(200), nullable=False, server_default="")
    )
    op.add_column(
        "alarms", sa.Column("last_seen", sa.String(32), nullable=False, server_default="")
    )
    op.add_column("alarms", sa.Column("count", sa.BigInteger(), nullable=False, server_default="1"))
    # Each stored alarm was its own row: keep it its own condition.
    op.execute(
        "UPDATE alarms SET condition = 'alarm ' || CAST(id AS VARCHAR(20)), last_seen = raised_at"
    )
    op.create_index(
        "ux_alarms_open_condition",
        "alarms",
        ["kind", "peer", "condition"],
        unique=True,
        sqlite_where=_OPEN,
        postgresql_where=_OPEN,
    )


def downgrade() -> None:
    op.drop_index("ux_alarms_open_condition", table_name="alarms")
    op.drop_column("alarms", "count")
    op.drop_column("alarms", "last_seen")
    op.drop_column("alarms", "condition")
