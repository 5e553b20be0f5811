"""Items say what they are about and what they only mention, and whether their article was read.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30

New ``items`` columns: ``mentions`` (fields only mentioned), ``scores`` (relevance 0..1),
``evidence`` (which terms, where: title / lead / body), ``article`` (fetched | pending |
foreign | failed) with ``article_error``, and ``tagging`` (the version of the tagging rules
the fields come from). Existing items get ``tagging`` NULL: the next start-up (``shwatch
run``, ``poll``, ``sources`` or ``db upgrade``) scores them again with the current rules, so
old and new items mean the same thing. Their ``article`` is derived from what is stored: a
body means fetched, a recorded problem failed, a baseline without a body pending (later polls
read it), any other item without a body foreign (before, only links to other sites had none).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("items", sa.Column("mentions", sa.JSON(), nullable=False, server_default="[]"))
    op.add_column("items", sa.Column("scores", sa.JSON(), nullable=False, server_default="{}"))
    op.add_column("items", sa.Column("evidence", sa.JSON(), nullable=False, server_default="{}"))
    op.add_column("items", sa.Column("article", sa.String(8), nullable=False, server_default="pending"))
    op.add_column("items", sa.Column("article_error", sa.Text()))
    op.add_column("items", sa.Column("tagging", sa.String(40)))
    op.execute(
        sa.text(
            "UPDATE items SET article = CASE "
            "WHEN body <> '' THEN 'fetched' "
            "WHEN extract_problem IS NOT NULL THEN 'failed' "
            "WHEN baseline THEN 'pending' "  # a baseline was recorded from its list alone
            "ELSE 'foreign' END, "  # a new item with no body and no problem: a link elsewhere
            "article_error = CASE WHEN body = '' THEN extract_problem ELSE NULL END"
        )
    )
    # The server defaults stay: dropping them would take Alembic's batch mode on SQLite,
    # which re-creates ``items`` and so cascades to every delivery and dispatch mark.


def downgrade() -> None:
    for column in ("tagging", "article_error", "article", "evidence", "scores", "mentions"):
        op.execute(sa.text(f"ALTER TABLE items DROP COLUMN {column}"))
