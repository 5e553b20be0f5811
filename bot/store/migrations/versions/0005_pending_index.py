"""An index of the items whose article is still pending.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30

Every poll of a source asks for its pending items (a 304 included); without this partial
index that was a scan of all items per source per poll (bench/poll.py: 5 ms of CPU per
unchanged source).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_items_pending", "items", ["source_id"],
        sqlite_where=sa.text("article = 'pending'"), postgresql_where=sa.text("article = 'pending'"),
    )


def downgrade() -> None:
    op.drop_index("ix_items_pending", table_name="items")
