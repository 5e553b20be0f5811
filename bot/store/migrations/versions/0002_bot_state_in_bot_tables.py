"""The bot's state leaves the monitor's tables.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30

``items.dispatched_at`` (which items have had their alerts planned) becomes a cursor
(``dispatch_cursor``) plus the few items above it already done (``dispatched_items``);
``source_state.problem_reported_at`` / ``problem_reported_kind`` (what the admins were told)
become ``source_notices``. The data is carried over, then the old columns are dropped, so
the monitor's tables hold only what the monitor knows.

Carrying ``dispatched_at`` over: the cursor is set just below the oldest non-baseline item
not yet dispatched (or at the newest item when every one is done); every dispatched item
above the cursor is listed in ``dispatched_items`` with its time. No item is planned twice
and none is skipped.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def Id() -> sa.types.TypeEngine:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def Stamp() -> sa.types.TypeEngine:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "dispatch_cursor",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("after_item_id", Id(), nullable=False),
        sa.Column("updated_at", Stamp()),
        sa.PrimaryKeyConstraint("id", name="pk_dispatch_cursor"),
    )
    op.create_table(
        "dispatched_items",
        sa.Column("item_id", Id(), nullable=False),
        sa.Column("dispatched_at", Stamp(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name="fk_dispatched_items_item_id_items", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("item_id", name="pk_dispatched_items"),
    )
    op.create_table(
        "source_notices",
        sa.Column("source_id", sa.String(64), nullable=False),
        sa.Column("reported_at", Stamp(), nullable=False),
        sa.Column("reported_kind", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("source_id", name="pk_source_notices"),
    )
    bind = op.get_bind()
    oldest_open = bind.execute(
        sa.text("SELECT MIN(id) FROM items WHERE baseline = :f AND dispatched_at IS NULL"), {"f": False}
    ).scalar()
    if oldest_open is None:
        cursor = bind.execute(sa.text("SELECT COALESCE(MAX(id), 0) FROM items")).scalar()
    else:
        cursor = int(oldest_open) - 1
    bind.execute(
        sa.text("INSERT INTO dispatch_cursor (id, after_item_id) VALUES (1, :c)"), {"c": int(cursor or 0)}
    )
    bind.execute(
        sa.text(
            "INSERT INTO dispatched_items (item_id, dispatched_at) "
            "SELECT id, dispatched_at FROM items WHERE id > :c AND dispatched_at IS NOT NULL"
        ),
        {"c": int(cursor or 0)},
    )
    bind.execute(
        sa.text(
            "INSERT INTO source_notices (source_id, reported_at, reported_kind) "
            "SELECT source_id, problem_reported_at, COALESCE(problem_reported_kind, 'failing') FROM source_state "
            "WHERE problem_reported_at IS NOT NULL"
        )
    )
    op.drop_index("ix_items_undispatched", table_name="items")
    _drop_column("items", "dispatched_at")
    _drop_column("source_state", "problem_reported_at")
    _drop_column("source_state", "problem_reported_kind")


def _drop_column(table: str, column: str) -> None:
    """A plain ALTER TABLE ... DROP COLUMN on both backends (SQLite 3.35+). Never Alembic's
    batch mode here: on SQLite it re-creates the table, and dropping the old ``items`` would
    cascade to every delivery and dispatch mark that references it."""
    op.execute(sa.text(f"ALTER TABLE {table} DROP COLUMN {column}"))


def downgrade() -> None:
    with op.batch_alter_table("source_state") as batch:
        batch.add_column(sa.Column("problem_reported_at", Stamp()))
        batch.add_column(sa.Column("problem_reported_kind", sa.String(32)))
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("dispatched_at", Stamp()))
    op.create_index("ix_items_undispatched", "items", ["baseline", "dispatched_at"])
    bind = op.get_bind()
    cursor = bind.execute(sa.text("SELECT COALESCE(MAX(after_item_id), 0) FROM dispatch_cursor")).scalar()
    bind.execute(
        sa.text("UPDATE items SET dispatched_at = first_seen_at WHERE id <= :c AND baseline = :f"),
        {"c": int(cursor or 0), "f": False},
    )
    bind.execute(
        sa.text(
            "UPDATE items SET dispatched_at = (SELECT d.dispatched_at FROM dispatched_items d WHERE d.item_id = items.id) "
            "WHERE id IN (SELECT item_id FROM dispatched_items)"
        )
    )
    bind.execute(
        sa.text(
            "UPDATE source_state SET problem_reported_at = (SELECT n.reported_at FROM source_notices n "
            "WHERE n.source_id = source_state.source_id), problem_reported_kind = (SELECT n.reported_kind "
            "FROM source_notices n WHERE n.source_id = source_state.source_id)"
        )
    )
    op.drop_table("source_notices")
    op.drop_table("dispatched_items")
    op.drop_table("dispatch_cursor")
