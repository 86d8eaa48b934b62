"""the last TOTP time step each operator used

A TOTP code is good for its 30-second step and one step either side (clock
drift), so without a record a code seen over a shoulder or replayed from a
log signs in again within that minute and a half. Each operator's row keeps
the last step a sign-in used; a code of that step or an earlier one is
refused (RFC 6238 §5.2: "the verifier MUST NOT accept the second attempt of
the OTP after the successful validation has been issued for the first OTP").
Existing operators start with none used (NULL).

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD/DROP COLUMN on both databases, not batch mode, for the reason 0002 gives.
    op.add_column("operators", sa.Column("totp_last_step", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column("operators", "totp_last_step")
