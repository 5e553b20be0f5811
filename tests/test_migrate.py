"""Alembic migrations: an empty store upgrades to head on SQLite and PostgreSQL, the migrated
schema is exactly the models' metadata (a column added without a migration fails here), a
second upgrade is a no-op, a pre-migration store is adopted, and `shwatch db upgrade` works.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, insert, select, text

import bot.db  # noqa: F401  (registers the subscriber tables)
from bot.migrate import current_revision, head_revision, upgrade_to_head
from monitors.db import create_engine, is_search_index, metadata, schema_include_name

SHWATCH = Path(sys.executable).with_name("shwatch")


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
    from sqlalchemy import Column, MetaData, String, Table

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


async def test_store_made_by_create_all_is_adopted(db_url):
    engine = create_engine(db_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
            await conn.execute(insert(metadata.tables["source_state"]).values(source_id="old", baseline_done=True, consecutive_failures=2))
        assert await current_revision(engine) is None
        before, after = await upgrade_to_head(engine)
        assert before is None and after == head_revision()
        async with engine.connect() as conn:
            row = (await conn.execute(select(metadata.tables["source_state"]))).one()
            assert row.source_id == "old" and row.consecutive_failures == 2
    finally:
        await engine.dispose()


async def test_store_only_the_monitor_has_used_is_completed(db_url):
    """`shwatch poll` creates just source_state and items; the upgrade adds the bot's tables
    (with their indexes), keeps the items, and the result is exactly the metadata."""
    from monitors.store import ItemStore

    engine = create_engine(db_url)
    try:
        await ItemStore(engine).create_tables()
        async with engine.begin() as conn:
            await conn.execute(insert(metadata.tables["source_state"]).values(source_id="old", baseline_done=True, consecutive_failures=0))
        assert await _tables(engine) == {"source_state", "items"}
        before, after = await upgrade_to_head(engine)
        assert before is None and after == head_revision()
        assert await _tables(engine) == set(metadata.tables) | {"alembic_version"}
        assert await _schema_diffs(engine) == []
        async with engine.connect() as conn:
            assert (await conn.execute(select(metadata.tables["source_state"].c.source_id))).scalars().all() == ["old"]
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


def test_migrations_ship_with_the_package():
    from importlib import resources

    root = resources.files("bot").joinpath("migrations")
    assert root.joinpath("env.py").is_file()
    assert root.joinpath("script.py.mako").is_file()
    assert any(p.name.endswith(".py") for p in root.joinpath("versions").iterdir())
