"""Initial schema: source state and items (monitors.db), chats, subscriptions, alert rules,
the outbox and inbound message ids (bot.store.schema).

Revision ID: 0001
Revises:
Create Date: 2026-06-14

A frozen snapshot: it spells out plain SQLAlchemy types rather than importing the live
tables, so later edits to the models need a new revision (tests/test_migrate.py checks).

Every store is built by the migrations (the service, ``shwatch poll`` and the tests alike),
so this revision simply creates the tables.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def Id() -> sa.types.TypeEngine:
    # SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets BIGINT.
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def Stamp() -> sa.types.TypeEngine:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "source_state",
        sa.Column("source_id", sa.String(64), nullable=False),
        sa.Column("etag", sa.String(512)),
        sa.Column("last_modified", sa.String(128)),
        sa.Column("baseline_done", sa.Boolean(), nullable=False),
        sa.Column("last_attempt_at", Stamp()),
        sa.Column("last_success_at", Stamp()),
        sa.Column("last_error", sa.Text()),
        sa.Column("error_kind", sa.String(32)),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("last_item_count", sa.Integer()),
        sa.Column("next_poll_at", Stamp()),
        sa.Column("problem_reported_at", Stamp()),
        sa.Column("problem_reported_kind", sa.String(32)),
        sa.PrimaryKeyConstraint("source_id", name="pk_source_state"),
    )
    op.create_table(
        "items",
        sa.Column("id", Id(), autoincrement=True, nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("source_id", sa.String(64), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("published", Stamp()),
        sa.Column("first_seen_at", Stamp(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("organ", sa.String(256)),
        sa.Column("lang", sa.String(2), nullable=False),
        sa.Column("topics", sa.JSON(), nullable=False),
        sa.Column("matched", sa.JSON(), nullable=False),
        sa.Column("baseline", sa.Boolean(), nullable=False),
        sa.Column("extract_problem", sa.Text()),
        sa.Column("dispatched_at", Stamp()),
        sa.PrimaryKeyConstraint("id", name="pk_items"),
        sa.UniqueConstraint("url", name="uq_items_url"),
    )
    op.create_index("ix_items_source_published", "items", ["source_id", "published"])
    op.create_index("ix_items_first_seen", "items", ["first_seen_at"])
    op.create_index("ix_items_undispatched", "items", ["baseline", "dispatched_at"])

    op.create_table(
        "chats",
        sa.Column("id", Id(), autoincrement=True, nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("address", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("title", sa.String(256)),
        sa.Column("lang", sa.String(2), nullable=False),
        sa.Column("mode", sa.String(8), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("digest_enabled", sa.Boolean(), nullable=False),
        sa.Column("digest_time", sa.String(5), nullable=False),
        sa.Column("tz", sa.String(64), nullable=False),
        sa.Column("quiet_start", sa.String(5)),
        sa.Column("quiet_end", sa.String(5)),
        sa.Column("last_digest_at", Stamp()),
        sa.Column("created_at", Stamp(), nullable=False),
        sa.Column("updated_at", Stamp(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_chats"),
        sa.UniqueConstraint("channel", "address", name="uq_chats_channel_address"),
    )
    op.create_table(
        "subscriptions",
        sa.Column("chat_id", Id(), nullable=False),
        sa.Column("topic_id", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(["chat_id"], ["chats.id"], name="fk_subscriptions_chat_id_chats", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("chat_id", "topic_id", name="pk_subscriptions"),
    )
    op.create_table(
        "alert_rules",
        sa.Column("id", Id(), autoincrement=True, nullable=False),
        sa.Column("chat_id", Id(), nullable=False),
        sa.Column("keyword", sa.String(64), nullable=False),
        sa.Column("excludes", sa.JSON(), nullable=False),
        sa.Column("created_at", Stamp(), nullable=False),
        sa.ForeignKeyConstraint(["chat_id"], ["chats.id"], name="fk_alert_rules_chat_id_chats", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_alert_rules"),
        sa.UniqueConstraint("chat_id", "keyword", name="uq_alert_rules_chat_keyword"),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", Id(), autoincrement=True, nullable=False),
        sa.Column("chat_id", Id(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("ref", sa.String(64), nullable=False),
        sa.Column("item_id", Id()),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("not_before", Stamp()),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text()),
        sa.Column("claimed_by", sa.String(64)),
        sa.Column("claimed_at", Stamp()),
        sa.Column("created_at", Stamp(), nullable=False),
        sa.Column("sent_at", Stamp()),
        sa.ForeignKeyConstraint(["chat_id"], ["chats.id"], name="fk_deliveries_chat_id_chats", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"], name="fk_deliveries_item_id_items", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_deliveries"),
        sa.UniqueConstraint("chat_id", "kind", "ref", name="uq_deliveries_chat_kind_ref"),
    )
    op.create_index("ix_deliveries_status_not_before", "deliveries", ["status", "not_before"])

    op.create_table(
        "inbound_messages",
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("msg_id", sa.String(128), nullable=False),
        sa.Column("received_at", Stamp(), nullable=False),
        sa.PrimaryKeyConstraint("channel", "msg_id", name="pk_inbound_messages"),
    )


def downgrade() -> None:
    op.drop_table("inbound_messages")
    op.drop_index("ix_deliveries_status_not_before", table_name="deliveries")
    op.drop_table("deliveries")
    op.drop_table("alert_rules")
    op.drop_table("subscriptions")
    op.drop_table("chats")
    op.drop_index("ix_items_undispatched", table_name="items")
    op.drop_index("ix_items_first_seen", table_name="items")
    op.drop_index("ix_items_source_published", table_name="items")
    op.drop_table("items")
    op.drop_table("source_state")
