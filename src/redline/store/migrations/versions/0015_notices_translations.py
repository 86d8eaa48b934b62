"""formatted notices, translations and glossaries

Every notice (either way) by its signed time, every advisory translation by
the statement it translates, and each glossary proposed on a link with the
other party's acceptance once signed (docs/notices.md). The statements
themselves are in ``statements``, as ever; these tables index them.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notices",
        sa.Column("statement_id", sa.String(64), sa.ForeignKey("statements.id"), primary_key=True),
        sa.Column("peer", sa.String(32), nullable=False),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("time", sa.String(32), nullable=False),
    )
    op.create_index("ix_notices_time", "notices", ["time", "statement_id"])
    op.create_table(
        "translations",
        sa.Column("statement_id", sa.String(64), sa.ForeignKey("statements.id"), primary_key=True),
        sa.Column("original_id", sa.String(64), nullable=False),
        sa.Column("lang", sa.String(35), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("time", sa.String(32), nullable=False),
    )
    op.create_index("ix_translations_original", "translations", ["original_id", "time"])
    op.create_table(
        "glossaries",
        sa.Column("statement_id", sa.String(64), sa.ForeignKey("statements.id"), primary_key=True),
        sa.Column("peer", sa.String(32), nullable=False),
        sa.Column("proposer", sa.String(32), nullable=False),
        sa.Column("time", sa.String(32), nullable=False),
        sa.Column("accept_id", sa.String(64), nullable=True),
        sa.Column("accepted_at", sa.String(32), nullable=True),
    )
    op.create_index("ix_glossaries_peer", "glossaries", ["peer", "time"])


def downgrade() -> None:
    op.drop_index("ix_glossaries_peer", table_name="glossaries")
    op.drop_table("glossaries")
    op.drop_index("ix_translations_original", table_name="translations")
    op.drop_table("translations")
    op.drop_index("ix_notices_time", table_name="notices")
    op.drop_table("notices")
