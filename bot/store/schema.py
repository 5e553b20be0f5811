"""The subscriber side of the schema: chats, their subscriptions and alert rules, the outbox.

Tables join ``monitors.db.metadata`` so one migration history covers the whole store.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from monitors.db import Id, UTCDateTime, metadata

chats = Table(
    "chats",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("channel", String(16), nullable=False),  # telegram | wecom | robot | console
    Column("address", String(128), nullable=False),  # Telegram chat id, WeCom user id, robot name
    Column("kind", String(16), nullable=False, default="private"),  # private | group
    Column("title", String(256)),
    Column("lang", String(2), nullable=False, default="en"),
    Column("mode", String(8), nullable=False, default="instant"),  # instant | digest | both
    Column("active", Boolean, nullable=False, default=True),
    Column("digest_enabled", Boolean, nullable=False, default=False),
    Column("digest_time", String(5), nullable=False, default="08:00"),
    Column("tz", String(64), nullable=False, default="Asia/Shanghai"),
    Column("quiet_start", String(5)),
    Column("quiet_end", String(5)),
    Column("last_digest_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("channel", "address", name="uq_chats_channel_address"),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("chat_id", Id, ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True),
    Column("topic_id", String(64), primary_key=True),
)

alert_rules = Table(
    "alert_rules",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("chat_id", Id, ForeignKey("chats.id", ondelete="CASCADE"), nullable=False),
    Column("keyword", String(64), nullable=False),
    Column("excludes", JSON, nullable=False, default=list),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("chat_id", "keyword", name="uq_alert_rules_chat_keyword"),
)

# The outbox. One row per (chat, kind, ref): an alert's ref is its item id, a digest's ref
# names its period. Rows move pending -> sending -> sent | failed | dropped.
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("chat_id", Id, ForeignKey("chats.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False),  # alert | digest | notice
    Column("ref", String(64), nullable=False),
    Column("item_id", Id, ForeignKey("items.id", ondelete="CASCADE")),
    Column("payload", JSON, nullable=False, default=dict),
    Column("status", String(10), nullable=False, default="pending"),
    Column("not_before", UTCDateTime),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("claimed_by", String(64)),
    Column("claimed_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
    UniqueConstraint("chat_id", "kind", "ref", name="uq_deliveries_chat_kind_ref"),
)
Index("ix_deliveries_status_not_before", deliveries.c.status, deliveries.c.not_before)

# WeCom retries a callback up to three times: remember which MsgIds were handled.
inbound_messages = Table(
    "inbound_messages",
    metadata,
    Column("channel", String(16), primary_key=True),
    Column("msg_id", String(128), primary_key=True),
    Column("received_at", UTCDateTime, nullable=False),
)


# Which new items have had their alerts planned. Items with an id at or below
# ``dispatch_cursor.after_item_id`` are all done; the few above it that are done already are
# listed in ``dispatched_items`` (pruned as the cursor moves).
dispatch_cursor = Table(
    "dispatch_cursor",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # always 1: one cursor
    Column("after_item_id", Id, nullable=False, default=0),
    Column("updated_at", UTCDateTime),
)

dispatched_items = Table(
    "dispatched_items",
    metadata,
    Column("item_id", Id, ForeignKey("items.id", ondelete="CASCADE"), primary_key=True),
    Column("dispatched_at", UTCDateTime, nullable=False),
)

# What the admins were last told about each source (health notices).
source_notices = Table(
    "source_notices",
    metadata,
    Column("source_id", String(64), primary_key=True),
    Column("reported_at", UTCDateTime, nullable=False),
    Column("reported_kind", String(32), nullable=False),
)

# Leadership among the instances of ``shwatch run`` on one database (bot.store.lease): a
# lease is held by ``holder`` until ``expires_at`` on the database's own clock.
leases = Table(
    "leases",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("holder", String(128), nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)
