"""Leases: which instance of ``shwatch run`` leads, and until when.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30

Several ``shwatch run`` may share one database; the one holding the "leader" lease polls the
sources, plans digests and reads the Telegram updates. ``expires_at`` is written and compared
on the database's clock only (bot.store.lease).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("holder", sa.String(128), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_leases"),
    )


def downgrade() -> None:
    op.drop_table("leases")
