"""link health

Each peer's row records the link as the delivery worker last found it: the
last exchange that succeeded, since when every attempt has failed, the last
error and the next attempt. ``redline status`` and the board show them, and
an ``unreachable`` alarm is raised from them. Existing peers start with
nothing known (NULL), as if never tried.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# Plain ADD/DROP COLUMN on both databases, not batch mode, for the reason 0002 gives.
_COLUMNS = (
    ("last_exchange_at", sa.String(32)),
    ("failing_since", sa.String(32)),
    ("last_error", sa.Text()),
    ("next_attempt_at", sa.String(32)),
)


def upgrade() -> None:
    for name, type_ in _COLUMNS:
        op.add_column("peers", sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    for name, _type in reversed(_COLUMNS):
        op.drop_column("peers", name)
