"""index the listings the operator API pages through

``GET /api/v1/statements`` and ``GET /api/v1/messages`` page by keyset (the
last row's sort key), not by OFFSET: each page is an index range scan, so the
last page of 20,000 statements costs what the first one does.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_statements_stored", "statements", ["stored_at", "id"], unique=False)
    op.create_index("ix_statements_kind_time", "statements", ["kind", "time", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_statements_kind_time", table_name="statements")
    op.drop_index("ix_statements_stored", table_name="statements")
