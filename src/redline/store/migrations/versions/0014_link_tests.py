"""scheduled link tests and their answers

``link_tests`` holds every heartbeat and operator test sent or received, with
its deadline, its state (sent, answered, unanswered) and why one was missed;
``link_test_schedules`` each link's own operator-test time, zone and heartbeat
interval where an operator set them (docs/link-tests.md).

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "link_tests",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("peer", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("sent_at", sa.String(32), nullable=False),
        sa.Column("due_at", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("missed", sa.String(16), nullable=True),
        sa.Column("day", sa.String(10), nullable=True),
        sa.Column("answered_at", sa.String(32), nullable=True),
        sa.Column("answer_id", sa.String(64), nullable=True),
    )
    op.create_index("ix_link_tests_open", "link_tests", ["state", "due_at"])
    op.create_index(
        "ix_link_tests_peer_kind", "link_tests", ["peer", "kind", "direction", "sent_at"]
    )
    op.create_table(
        "link_test_schedules",
        sa.Column("peer", sa.String(32), primary_key=True),
        sa.Column("operator_test_time", sa.String(5), nullable=True),
        sa.Column("zone", sa.String(64), nullable=True),
        sa.Column("heartbeat_interval_seconds", sa.Integer, nullable=True),
        sa.Column("updated_at", sa.String(32), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("link_test_schedules")
    op.drop_index("ix_link_tests_peer_kind", table_name="link_tests")
    op.drop_index("ix_link_tests_open", table_name="link_tests")
    op.drop_table("link_tests")
