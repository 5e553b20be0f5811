"""Schema migrations with Alembic, driven from code.

``upgrade_to_head(url_or_engine)`` brings a store (SQLite or PostgreSQL) to the newest
revision: the service calls it at start-up and ``shwatch db upgrade`` calls it on demand.
The Alembic Config is built here (script_location = the ``bot/migrations`` package
directory), so nothing outside the installed package is needed at run time. Migrations run on
the async engine's connection through ``run_sync``.

A store created before migrations existed (tables present, no ``alembic_version``) is
adopted by the initial revision, which creates only the tables that are missing (a store only
``shwatch poll`` has used has just the monitor's two tables), then upgraded.

Adding a column: change the table in monitors/db.py or bot/db.py AND add a revision in
bot/migrations/versions/ (tests/test_migrate.py compares the migrated schema with the
metadata and fails when the two differ).
"""

from __future__ import annotations

import logging
from pathlib import Path

from typing import TYPE_CHECKING

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:
    from alembic.config import Config

# Alembic is imported where it is used, after _quiet_alembic(): importing it announces its
# plugins at INFO.

log = logging.getLogger("shwatch.migrate")

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
INITIAL_REVISION = "0001"


def alembic_config(connection=None) -> Config:
    """An Alembic Config built in code; ``connection`` (sync) is handed to env.py."""
    _quiet_alembic()
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", str(MIGRATIONS_DIR / "versions"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"the migration history must have exactly one head, found {heads}")
    return heads[0]


def _quiet_alembic() -> None:
    # Alembic announces its plugins (at import) and its dialect at INFO on every run, even
    # with nothing to do: noise in the service's log and the CLI's output. What changed is
    # logged by upgrade_to_head instead.
    for chatty in ("alembic.runtime.plugins", "alembic.runtime.migration"):
        logging.getLogger(chatty).setLevel(logging.WARNING)


def _current(connection) -> str | None:
    _quiet_alembic()
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def _upgrade(connection) -> tuple[str | None, str | None]:
    _quiet_alembic()
    from alembic import command

    before = _current(connection)
    if before is None and inspect(connection).get_table_names():
        # A store from before migrations (create_all, or only the monitor's tables after
        # `shwatch poll`): the initial revision keeps the tables it finds, adds the others.
        log.info("store has tables but no migration record: adopting it at revision %s", INITIAL_REVISION)
    command.upgrade(alembic_config(connection), "head")
    return before, _current(connection)


def _engine(url_or_engine: str | AsyncEngine) -> tuple[AsyncEngine, bool]:
    if isinstance(url_or_engine, AsyncEngine):
        return url_or_engine, False
    from monitors.db import create_engine

    return create_engine(url_or_engine), True


async def upgrade_to_head(url_or_engine: str | AsyncEngine) -> tuple[str | None, str | None]:
    """Apply every pending migration; returns (revision before, revision after)."""
    engine, owned = _engine(url_or_engine)
    try:
        async with engine.connect() as conn:
            result = await conn.run_sync(_upgrade)
            await conn.commit()
        if result[0] != result[1]:
            log.info("store migrated from revision %s to %s", result[0] or "(empty)", result[1])
        return result
    finally:
        if owned:
            await engine.dispose()


async def current_revision(url_or_engine: str | AsyncEngine) -> str | None:
    engine, owned = _engine(url_or_engine)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_current)
    finally:
        if owned:
            await engine.dispose()


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL: show only its scheme
        return url.split("://", 1)[0] + "://..."


async def cmd_db_upgrade(settings) -> int:
    """``shwatch db upgrade``: migrate the configured store, print before -> after."""
    before, after = await upgrade_to_head(settings.database_url)
    where = _safe_url(settings.database_url)
    if before == after:
        print(f"{where}: already at revision {after}")
    else:
        print(f"{where}: upgraded {before or '(empty)'} -> {after}")
    return 0
