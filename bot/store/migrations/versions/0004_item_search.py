"""Item search: the archive's time index and the full-text index over items.

Revision ID: 0004
Revises: 0003
Create Date: 2026-06-20

- SQLite: ``items_fts``, a contentless FTS5 table with the trigram tokenizer, one document per
  item (title, summary, body, each followed by a newline), keyed by unix seconds of the
  item's time (coalesce(published, first_seen_at)) * 2^31 + id, so that its order is newest
  first and it serves as the archive's time index too; ``items_fts_vocab`` lists its trigrams
  (2-character terms are expanded through it); three triggers keep it current; the items
  already stored are indexed here. ``ix_items_search_cover`` (id, source_id, topics): the
  dashboard's counts read these without the wide rows.
- PostgreSQL: ``ix_items_time`` on coalesce(published, first_seen_at) (newest first, date
  ranges); the pg_trgm extension and a GIN trigram index on title || summary || body. Where
  the extension cannot be created (not installed, no permission) that index is left out with
  a warning: search still works, by a scan.

A frozen snapshot: the SQL is spelled out here; monitors/db.py describes the same objects
for the queries (monitors/store.py, the search section).
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

log = logging.getLogger("shwatch.migrate")

_DOC_NEW = "new.title || char(10) || new.summary || char(10) || new.body || char(10)"
_DOC_OLD = "old.title || char(10) || old.summary || char(10) || old.body || char(10)"
_KEY_NEW = "CAST(strftime('%s', coalesce(new.published, new.first_seen_at)) AS INTEGER) * 2147483648 + new.id"
_KEY_OLD = "CAST(strftime('%s', coalesce(old.published, old.first_seen_at)) AS INTEGER) * 2147483648 + old.id"

SQLITE_UP = [
    "CREATE VIRTUAL TABLE items_fts USING fts5(doc, content='', tokenize='trigram')",
    "CREATE VIRTUAL TABLE items_fts_vocab USING fts5vocab(items_fts, 'row')",
    "CREATE INDEX ix_items_search_cover ON items (id, source_id, topics)",
    f"""CREATE TRIGGER items_fts_insert AFTER INSERT ON items BEGIN
        INSERT INTO items_fts(rowid, doc) VALUES ({_KEY_NEW}, {_DOC_NEW});
    END""",
    f"""CREATE TRIGGER items_fts_delete AFTER DELETE ON items BEGIN
        INSERT INTO items_fts(items_fts, rowid, doc) VALUES ('delete', {_KEY_OLD}, {_DOC_OLD});
    END""",
    f"""CREATE TRIGGER items_fts_update
        AFTER UPDATE OF title, summary, body, published, first_seen_at ON items BEGIN
        INSERT INTO items_fts(items_fts, rowid, doc) VALUES ('delete', {_KEY_OLD}, {_DOC_OLD});
        INSERT INTO items_fts(rowid, doc) VALUES ({_KEY_NEW}, {_DOC_NEW});
    END""",
    "INSERT INTO items_fts(rowid, doc) SELECT "
    + _KEY_NEW.replace("new.", "")
    + ", "
    + _DOC_NEW.replace("new.", "")
    + " FROM items",
]

SQLITE_DOWN = [
    "DROP INDEX IF EXISTS ix_items_search_cover",
    "DROP TRIGGER IF EXISTS items_fts_update",
    "DROP TRIGGER IF EXISTS items_fts_delete",
    "DROP TRIGGER IF EXISTS items_fts_insert",
    "DROP TABLE IF EXISTS items_fts_vocab",
    "DROP TABLE IF EXISTS items_fts",
]

PG_INDEX = (
    "CREATE INDEX IF NOT EXISTS ix_items_search_trgm ON items "
    "USING gin ((title || ' ' || summary || ' ' || body) gin_trgm_ops)"
)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for statement in SQLITE_UP:
            try:
                bind.exec_driver_sql(statement)
            except sa.exc.OperationalError as exc:
                if "no such module" in str(exc) or "no such tokenizer" in str(exc):
                    raise RuntimeError(
                        "search needs SQLite 3.34 or newer with FTS5 (the trigram tokenizer); "
                        f"this Python uses SQLite {_sqlite_version(bind)}"
                    ) from exc
                raise
    elif bind.dialect.name == "postgresql":
        op.create_index("ix_items_time", "items", [sa.text("coalesce(published, first_seen_at)")])
        try:
            with bind.begin_nested():
                bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        except sa.exc.DBAPIError as exc:
            log.warning(
                "pg_trgm is not available (%s): item search works without its index, by a scan",
                str(exc.orig).splitlines()[0] if exc.orig else exc,
            )
            return
        bind.exec_driver_sql(PG_INDEX)


def _sqlite_version(bind) -> str:
    return bind.exec_driver_sql("SELECT sqlite_version()").scalar() or "?"


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for statement in SQLITE_DOWN:
            bind.exec_driver_sql(statement)
    elif bind.dialect.name == "postgresql":
        bind.exec_driver_sql("DROP INDEX IF EXISTS ix_items_search_trgm")
        bind.exec_driver_sql("DROP INDEX IF EXISTS ix_items_time")
