"""The monitor side of the schema (sources' state and items) and the engine factory.

SQLAlchemy Core tables on one ``metadata``; ``bot.store.schema`` adds the subscriber tables to the
same metadata, so one migration history covers both. Timestamps are stored in UTC and
always come back timezone-aware, on SQLite as on PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    event,
)
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)
Engine = AsyncEngine  # what the composition roots pass around (only stores run SQL on it)

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets BIGINT.
Id = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator):
    """A timezone-aware datetime stored as UTC (SQLite has no time zones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


source_state = Table(
    "source_state",
    metadata,
    Column("source_id", String(64), primary_key=True),
    Column("etag", String(512)),
    Column("last_modified", String(128)),
    Column("baseline_done", Boolean, nullable=False, default=False),
    Column("last_attempt_at", UTCDateTime),
    Column("last_success_at", UTCDateTime),
    Column("last_error", Text),
    Column("error_kind", String(32)),  # unreachable | http | layout | parse | article
    Column("consecutive_failures", Integer, nullable=False, default=0),
    Column("last_item_count", Integer),
    Column("next_poll_at", UTCDateTime),
)

items = Table(
    "items",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("url", String(2048), nullable=False, unique=True),
    Column("source_id", String(64), nullable=False),
    Column("title", Text, nullable=False),
    Column("published", UTCDateTime),
    Column("first_seen_at", UTCDateTime, nullable=False),
    Column("summary", Text, nullable=False, default=""),
    Column("body", Text, nullable=False, default=""),
    Column("organ", String(256)),
    Column("lang", String(2), nullable=False, default="zh"),
    Column("topics", JSON, nullable=False, default=list),
    Column("matched", JSON, nullable=False, default=dict),
    Column("baseline", Boolean, nullable=False, default=False),
    Column("extract_problem", Text),
    Column("mentions", JSON, nullable=False, default=list),  # fields only mentioned
    Column("scores", JSON, nullable=False, default=dict),  # field -> relevance 0..1
    Column("evidence", JSON, nullable=False, default=dict),  # field -> [{term, places, count, listed}]
    Column("article", String(8), nullable=False, default="fetched"),  # fetched | pending | foreign | failed
    Column("article_error", Text),
    Column("tagging", String(40)),  # version of the tagging rules the fields come from
)
Index("ix_items_source_published", items.c.source_id, items.c.published)
Index("ix_items_first_seen", items.c.first_seen_at)


def _ensure_sqlite_dir(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


def create_engine(url: str, **kwargs) -> AsyncEngine:
    """An async engine for ``url``; SQLite gets WAL, a busy timeout and foreign keys."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+asyncpg://" + url.split("://", 1)[1]
    elif url.startswith("sqlite:///"):
        url = "sqlite+aiosqlite:///" + url[len("sqlite:///"):]
    _ensure_sqlite_dir(url)
    is_sqlite = make_url(url).get_backend_name() == "sqlite"
    if is_sqlite:
        kwargs.setdefault("connect_args", {"timeout": 30})
    engine = create_async_engine(url, **kwargs)
    if is_sqlite:

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

    return engine


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
