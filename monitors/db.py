"""The monitor side of the schema (sources' state and items) and the engine factory.

SQLAlchemy Core tables on one ``metadata``; ``bot.store.schema`` adds the subscriber tables to the
same metadata, so one migration history covers both. Timestamps are stored in UTC and
always come back timezone-aware, on SQLite as on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import inspect
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

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
    func,
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
# The few items whose article a later poll still has to read have a partial index of their
# own (source_id WHERE article = 'pending'), made by migration 0005. It is not on ``metadata``:
# declaring its WHERE for PostgreSQL there makes SQLAlchemy load the whole PostgreSQL dialect
# (about 2 MB) in every process, a SQLite one included. The schema comparison skips it by
# name, as it does the search index's objects; tests/test_migrate.py checks it is there.
PENDING_INDEX = "ix_items_pending"

# When an item happened, for the archive's order and date filters: its publish time, else
# (a page that gave no date) when it was first seen.
item_time = func.coalesce(items.c.published, items.c.first_seen_at)

# ---- the archive's indexes: time order and full-text search over items -------------------
# Migration 0004 creates them and the database keeps them current on every insert, update
# and delete of an item. They are each backend's own, so they are not on ``metadata`` (the
# schema comparison skips them by name: ``is_search_index``).
#
# SQLite: ``items_fts``, a contentless FTS5 table (trigram tokenizer) holding one document per
# item: title, summary and body, each followed by a newline. Its rowid is a key that sorts
# like the item's time: unix seconds of ``item_time`` * SEARCH_KEY_SPAN + id (ids below 2^31,
# times until 2106). So the table is also the archive's time index: newest first is its own
# order, a date range is a key range, and a page of a common word's matches is read without
# sorting them all. A term of 3 or more characters is a phrase of trigrams; a 2-character
# term (医院) has no trigram of its own and is expanded, through ``items_fts_vocab``, into the
# indexed trigrams that start with it (the newline after each field makes a character follow
# every occurrence). ``ix_items_search_cover`` (id, source_id, topics) lets the dashboard's
# counts per field and per source read those columns without the wide rows (bodies).
#
# PostgreSQL: ``ix_items_time`` on ``item_time`` (newest first, date ranges) and
# ``ix_items_search_trgm``, a pg_trgm GIN index on SEARCH_DOCUMENT_PG, which answers
# ``ILIKE '%term%'`` for terms of 3 or more characters; shorter ones are a scan.
SEARCH_TIME_INDEX = "ix_items_time"
SEARCH_FTS_TABLE = "items_fts"
SEARCH_VOCAB_TABLE = "items_fts_vocab"
SEARCH_COVER_INDEX = "ix_items_search_cover"
SEARCH_TRGM_INDEX = "ix_items_search_trgm"
SEARCH_KEY_SPAN = 2**31
SEARCH_DOCUMENT_PG = "(items.title || ' ' || items.summary || ' ' || items.body)"


def is_search_index(name: str | None) -> bool:
    """True for the search index's own tables and indexes (and FTS5's shadow tables)."""
    if not name:
        return False
    if name in (SEARCH_TIME_INDEX, SEARCH_TRGM_INDEX, SEARCH_VOCAB_TABLE, SEARCH_COVER_INDEX):
        return True
    return name == SEARCH_FTS_TABLE or name.startswith(SEARCH_FTS_TABLE + "_")


def schema_include_name(name: str | None, type_: str, parent_names: dict) -> bool:
    """Alembic ``include_name``: compare the schema without the search index's objects and
    the pending items' partial index (both made by migrations only)."""
    return not (type_ in ("table", "index") and (is_search_index(name) or name == PENDING_INDEX))


DEFAULT_SQLITE_DIR = Path("var")  # the default store's folder, made on first use


def _ensure_sqlite_dir(url: str) -> None:
    """Make the default ``./var/`` folder; any other SQLite file's folder must exist already
    (a typo'd path must not silently create directories)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return
    folder = Path(parsed.database).parent
    if folder == DEFAULT_SQLITE_DIR:
        folder.mkdir(exist_ok=True)
    elif not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise ValueError(f"the folder {folder} {what} (create it, or correct database_url)")


S = TypeVar("S", bound=type)


def completes_when_cancelled(store: S) -> S:
    """Class decorator for a store: each public coroutine method runs to its end, its
    transaction committed or rolled back and its connection back in the pool, even when the
    caller is cancelled (a poll abandoned at its deadline, a service stopping); the caller
    still gets its CancelledError at once.

    Why: SQLAlchemy's aiosqlite adapter can lose a connection cut off between a statement
    and reading its rows (an ``UPDATE ... RETURNING`` claim) without closing it; that
    connection keeps SQLite's write lock, and every other writer waits out the 30 s busy
    timeout and fails with "database is locked"."""
    for name, method in list(vars(store).items()):
        if not name.startswith("_") and inspect.iscoroutinefunction(method):
            setattr(store, name, _completes(method))
    return store


def _completes(method: Any) -> Any:
    @functools.wraps(method)
    async def run(*args: Any, **kwargs: Any) -> Any:
        return await asyncio.shield(method(*args, **kwargs))

    return run


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


def upsert(dialect_name: str, table: Table):
    """An ``INSERT`` with ``on_conflict_do_update`` / ``_do_nothing``: the ``insert`` of the
    dialect package of the store in use (SQLite and PostgreSQL have the same statement API).

    ``dialect_name`` comes from a live engine or connection, whose dialect package SQLAlchemy
    loaded when it made the engine, so this only looks it up; it is not imported at the top so
    that a SQLite store never loads PostgreSQL's dialect (about 2 MB of an idle service)."""
    return importlib.import_module(f"sqlalchemy.dialects.{dialect_name}").insert(table)


def insert_ignoring_duplicates(dialect_name: str, table: Table):
    """``INSERT ... ON CONFLICT DO NOTHING`` for SQLite and PostgreSQL (same statement API)."""
    return upsert(dialect_name, table).on_conflict_do_nothing()


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
