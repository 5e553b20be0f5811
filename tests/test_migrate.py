"""Alembic migrations: an empty store upgrades to head on SQLite and PostgreSQL, the migrated
schema is exactly the models' metadata (a column added without a migration fails here), a
second upgrade is a no-op, a store of an older revision is carried forward with its data,
and `shwatch db upgrade` works.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timezone
from importlib import resources

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from shwatch_run import SHWATCH
from sqlalchemy import Column, MetaData, String, Table, inspect, text

import bot.store.schema  # noqa: F401  (registers the subscriber tables)
from bot.core.clock import FakeClock
from bot.jobs.alerts import Dispatcher, RuleIndexCache
from bot.service import Stores
from bot.store.migrate import HEAD_REVISION, current_revision, head_revision, upgrade_to_head
from monitors.db import PENDING_INDEX, create_engine, is_search_index, metadata, schema_include_name


def _diffs(connection) -> list:
    # the search index (FTS5 tables, a pg_trgm index) is each backend's own, not on metadata
    ctx = MigrationContext.configure(connection, opts={"compare_type": True, "include_name": schema_include_name})
    return compare_metadata(ctx, metadata)


async def _schema_diffs(engine) -> list:
    async with engine.connect() as conn:
        return await conn.run_sync(_diffs)


async def _tables(engine) -> set[str]:
    async with engine.connect() as conn:
        names = await conn.run_sync(lambda c: inspect(c).get_table_names())
    return {name for name in names if not is_search_index(name)}


async def test_upgrade_empty_store_matches_metadata(db_url):
    before, after = await upgrade_to_head(db_url)
    assert before is None
    assert after == head_revision()
    engine = create_engine(db_url)
    try:
        assert await _tables(engine) == set(metadata.tables) | {"alembic_version"}
        assert await _schema_diffs(engine) == []
        assert await current_revision(engine) == head_revision()
    finally:
        await engine.dispose()


async def test_the_pending_items_have_their_partial_index(db_url):
    """Not on the metadata (the comparison skips it), so checked here: the index of the items
    whose article is still pending covers those rows only."""
    await upgrade_to_head(db_url)
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            found = await conn.run_sync(lambda c: {i["name"]: i for i in inspect(c).get_indexes("items")})
            assert found[PENDING_INDEX]["column_names"] == ["source_id"]
            if engine.dialect.name == "sqlite":
                sql = (await conn.execute(text("SELECT sql FROM sqlite_master WHERE name = :n"), {"n": PENDING_INDEX})).scalar_one()
            else:
                sql = (await conn.execute(text("SELECT indexdef FROM pg_indexes WHERE indexname = :n"), {"n": PENDING_INDEX})).scalar_one()
            assert "WHERE" in sql.upper() and "pending" in sql
    finally:
        await engine.dispose()


async def test_second_upgrade_is_a_no_op_and_keeps_data(db_url):
    await upgrade_to_head(db_url)
    engine = create_engine(db_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO source_state (source_id, baseline_done, consecutive_failures) VALUES ('s1', true, 0)"))
        before, after = await upgrade_to_head(engine)
        assert before == after == head_revision()
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT source_id FROM source_state"))).scalars().all() == ["s1"]
    finally:
        await engine.dispose()


async def test_compare_detects_a_column_missing_from_migrations(db_url):
    """The guard itself works: a table with an extra column shows up as a difference."""

    await upgrade_to_head(db_url)
    extra = MetaData()
    for table in metadata.tables.values():
        table.to_metadata(extra)
    Table("chats", extra, Column("nickname", String(10)), extend_existing=True)
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            diffs = await conn.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c, opts={"include_name": schema_include_name}), extra)
            )
    finally:
        await engine.dispose()
    assert [d[0] for d in diffs] == ["add_column"]
    assert diffs[0][3].name == "nickname"


async def test_a_store_of_the_previous_schema_is_carried_forward_with_nothing_lost(db_url):
    """A database made by revision 0001 (bot state inside the monitor's tables) moves to head:
    which items were dispatched and what the admins were told about a source move to the
    bot's tables, the old columns go, and the dispatcher neither repeats nor skips an item."""


    await upgrade_to_head(db_url, "0001")
    engine = create_engine(db_url)
    t0 = datetime(2026, 6, 1, 8, 0, tzinfo=timezone.utc)
    try:
        async with engine.begin() as conn:
            for n, (baseline, dispatched) in enumerate([(True, None), (False, t0), (False, None), (False, t0)], 1):
                await conn.execute(
                    text(
                        "INSERT INTO items (id, url, source_id, title, first_seen_at, summary, body, lang, topics, matched, baseline, dispatched_at) "
                        "VALUES (:id, :url, 's1', :title, :seen, '', '', 'zh', '[]', '{}', :baseline, :dispatched)"
                    ),
                    {"id": n, "url": f"https://x.invalid/{n}.html", "title": f"t{n}", "seen": t0, "baseline": baseline, "dispatched": dispatched},
                )
            await conn.execute(
                text(
                    "INSERT INTO chats (id, channel, address, kind, lang, mode, active, digest_enabled, digest_time, tz, created_at, updated_at) "
                    "VALUES (1, 'telegram', '42', 'private', 'zh', 'instant', true, false, '08:00', 'Asia/Shanghai', :t, :t)"
                ),
                {"t": t0},
            )
            await conn.execute(
                text(
                    "INSERT INTO deliveries (chat_id, kind, ref, item_id, payload, status, attempts, created_at) "
                    "VALUES (1, 'alert', '2', 2, '{}', 'sent', 1, :t)"
                ),
                {"t": t0},
            )
            await conn.execute(
                text(
                    "INSERT INTO source_state (source_id, baseline_done, consecutive_failures, problem_reported_at, problem_reported_kind) "
                    "VALUES ('s1', true, 6, :at, 'failing'), ('s2', true, 0, NULL, NULL)"
                ),
                {"at": t0},
            )
        before, after = await upgrade_to_head(engine)
        assert (before, after) == ("0001", head_revision())
        assert await _schema_diffs(engine) == []
        stores = Stores.over(engine, FakeClock(t0))
        cursor, done = await stores.dispatched.position()
        assert cursor == 2 and done == {4}  # item 3 was never dispatched: the cursor stops below it
        assert {k: (v.at, v.kind) for k, v in (await stores.notices.reported()).items()} == {"s1": (t0, "failing")}
        assert await stores.dispatched.backlog(stores.items) == 1
        dispatcher = Dispatcher(stores.items, stores.dispatched, RuleIndexCache(stores.chats), FakeClock(t0))
        await dispatcher.run()
        assert (await stores.dispatched.position())[1] == {3, 4}
        assert await stores.dispatched.backlog(stores.items) == 0
        async with engine.connect() as conn:
            assert [r[0] for r in (await conn.execute(text("SELECT id FROM items ORDER BY id"))).all()] == [1, 2, 3, 4]
            assert (await conn.execute(text("SELECT item_id, status FROM deliveries"))).all() == [(2, "sent")]
    finally:
        await engine.dispose()


def test_shwatch_db_upgrade_command(tmp_path):
    db = tmp_path / "cli.db"
    config = tmp_path / "shwatch.toml"
    config.write_text(f'database_url = "sqlite+aiosqlite:///{db}"\n', encoding="utf-8")
    first = subprocess.run([str(SHWATCH), "--config", str(config), "db", "upgrade"], capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    assert f"upgraded (empty) -> {head_revision()}" in first.stdout
    second = subprocess.run([str(SHWATCH), "--config", str(config), "db", "upgrade"], capture_output=True, text=True, timeout=60)
    assert second.returncode == 0, second.stderr
    assert f"already at revision {head_revision()}" in second.stdout
    assert db.is_file()


def test_instances_starting_at_once_migrate_a_new_store_once(db_url, tmp_path):
    # three `shwatch db upgrade` at the same moment on an empty store, as three instances
    # starting together would: one migrates, the others wait and find the store at head
    config = tmp_path / "shwatch.toml"
    config.write_text(f'database_url = "{db_url}"\n', encoding="utf-8")
    runs = [
        subprocess.Popen([str(SHWATCH), "--config", str(config), "db", "upgrade"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outputs = [run.communicate(timeout=60) for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0], [err for _, err in outputs]
    said = sorted("upgraded" if "upgraded (empty) ->" in out else "already" if "already at revision" in out else out
                  for out, _ in outputs)
    assert said == ["already", "already", "upgraded"]
    assert sum("store migrated" in err for _, err in outputs) == 1  # logged once, by the one that did it


def test_the_head_known_without_alembic_is_alembic_s_head():

    assert HEAD_REVISION == head_revision()


def test_migrations_ship_with_the_package():

    root = resources.files("bot").joinpath("store", "migrations")
    assert root.joinpath("env.py").is_file()
    assert root.joinpath("script.py.mako").is_file()
    assert any(p.name.endswith(".py") for p in root.joinpath("versions").iterdir())


async def test_a_migrated_sqlite_store_keeps_every_write_visible_to_other_processes(tmp_path):
    # The migration lock must leave SQLite's own locks alone: a process that opens and closes
    # the database file drops every POSIX lock it holds on it, and another process that then
    # finds the file unlocked takes itself for the last user and removes the write-ahead log
    # that this process still writes to, so its later writes were lost to everyone else.
    db = tmp_path / "shared.db"
    engine = create_engine(f"sqlite+aiosqlite:///{db}")
    try:
        await upgrade_to_head(engine)  # a new file: migrated here, its connection kept in the pool
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO leases (name, holder, expires_at) VALUES ('a', 'x', '2026-01-01')"))
        reader = [sys.executable, "-c", "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
                  "print(c.execute('SELECT count(*) FROM leases').fetchone()[0]); c.close()", str(db)]
        assert subprocess.run(reader, capture_output=True, text=True, timeout=30).stdout.strip() == "1"
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO leases (name, holder, expires_at) VALUES ('b', 'x', '2026-01-01')"))
        assert subprocess.run(reader, capture_output=True, text=True, timeout=30).stdout.strip() == "2"
    finally:
        await engine.dispose()
