"""precedence terms, seen receipts, escalation and notification attempts

Link terms (the handling times a party proposed and the other accepted),
the ``seen`` receipt of each message, each link's escalation policies and
the steps taken, notification recipients, notifications and every attempt
to send one (docs/messages.md).

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "link_terms",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("peer", sa.String(32), nullable=False),
        sa.Column("proposer", sa.String(32), nullable=False),
        sa.Column("deadlines", sa.Text, nullable=False),
        sa.Column("time", sa.String(32), nullable=False),
        sa.Column("accept_id", sa.String(64), nullable=True),
        sa.Column("accepted_at", sa.String(32), nullable=True),
    )
    op.create_index("ix_link_terms_peer", "link_terms", ["peer", "accepted_at"])
    op.create_table(
        "message_seen",
        sa.Column("message_id", sa.String(64), primary_key=True),
        sa.Column("seen_id", sa.String(64), nullable=False),
        sa.Column("time", sa.String(32), nullable=False),
    )
    op.create_table(
        "escalation_policies",
        sa.Column("peer", sa.String(32), primary_key=True),
        sa.Column("precedence", sa.String(16), primary_key=True),
        sa.Column("steps", sa.Text, nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=True),
    )
    op.create_table(
        "escalation_steps",
        sa.Column("message_id", sa.String(64), primary_key=True),
        sa.Column("step", sa.Integer, primary_key=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("statement_id", sa.String(64), nullable=True),
    )
    op.create_table(
        "notify_recipients",
        sa.Column("name", sa.String(80), primary_key=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("address", sa.String(500), nullable=False),
        sa.Column("duty", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("recipient", sa.String(80), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("address", sa.String(500), nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_at", sa.String(32), nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("sent_at", sa.String(32), nullable=True),
    )
    op.create_index("ix_notifications_due", "notifications", ["state", "next_at"])
    op.create_table(
        "notify_attempts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("notification_id", sa.Integer, sa.ForeignKey("notifications.id"), nullable=False),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("recipient", sa.String(80), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("error", sa.Text, nullable=True),
    )
    op.create_index("ix_notify_attempts_notification", "notify_attempts", ["notification_id"])


def downgrade() -> None:
    op.drop_index("ix_notify_attempts_notification", "notify_attempts")
    op.drop_table("notify_attempts")
    op.drop_index("ix_notifications_due", "notifications")
    op.drop_table("notifications")
    op.drop_table("notify_recipients")
    op.drop_table("escalation_steps")
    op.drop_table("escalation_policies")
    op.drop_table("message_seen")
    op.drop_index("ix_link_terms_peer", "link_terms")
    op.drop_table("link_terms")
