"""Schema migrations with Alembic, driven from code.

``upgrade_to_head(url_or_engine)`` brings a store (SQLite or PostgreSQL) to the newest
revision: the service calls it at start-up and ``shwatch db upgrade`` calls it on demand.
The Alembic Config is built here (script_location = the ``bot/migrations`` package
directory), so nothing outside the installed package is needed at run time. Migrations run on
the async engine's connection through ``run_sync``.

Every path builds the schema this way: ``shwatch run``, ``shwatch poll`` / ``sources``
(run by the CLI before the monitor opens the store) and the tests.

Adding a column: change the table in monitors/db.py or bot/db.py AND add a revision in
bot/migrations/versions/ (tests/test_migrate.py compares the migrated schema with the
metadata and fails when the two differ).
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store.errors import StoreUnavailable
from monitors.db import create_engine
from monitors.failures import root_reason

if TYPE_CHECKING:
    from alembic.config import Config

# Alembic is imported where it is used, after _quiet_alembic(): importing it announces its
# plugins at INFO.

log = logging.getLogger("shwatch.migrate")

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Any fixed 64-bit number: serialises concurrent upgrades of one PostgreSQL database.
PG_MIGRATION_LOCK = 7_316_504_211


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


def _upgrade(connection, target: str = "head") -> tuple[str | None, str | None]:
    _quiet_alembic()
    from alembic import command

    if connection.dialect.name == "postgresql":
        # the lock env.py takes for the migrations, taken before the revision is read: of
        # several instances starting at once, one migrates and the others find it done
        # (the lock is held to the commit and may be taken again in the same transaction)
        connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_MIGRATION_LOCK})
    before = _current(connection)
    command.upgrade(alembic_config(connection), target)
    return before, _current(connection)


def _engine(url_or_engine: str | AsyncEngine) -> tuple[AsyncEngine, bool]:
    if isinstance(url_or_engine, AsyncEngine):
        return url_or_engine, False
    return create_engine(url_or_engine), True


# The newest revision, so a store already there is recognised by one query, without loading
# Alembic and the migration scripts (start-up time and ~10 MB of memory for the service and
# every CLI call). tests/test_migrate.py checks it against Alembic's own head.
HEAD_REVISION = "0006"


async def _stored_revision(engine: AsyncEngine) -> str | None:
    try:
        async with engine.connect() as conn:
            return (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    except Exception:  # no table yet (an empty store): the migrations create it
        return None


@asynccontextmanager
async def _one_migrator(engine: AsyncEngine) -> AsyncIterator[None]:
    """One process at a time migrates a SQLite file. SQLite serialises the writes, but a
    second process reads the revision before the first has committed and then replays the
    migrations over its tables; an exclusive flock makes it wait, then read the new revision.

    The lock is on the database's folder, never on the file itself: a process that closes
    any descriptor of the database file loses every POSIX lock it holds on it, SQLite's
    included, and another process that then finds the file unlocked removes the write-ahead
    log this one still writes to (tests/test_migrate.py shows the writes lost).
    PostgreSQL takes an advisory lock inside the migration's transaction instead (_upgrade)."""
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    if not path or path == ":memory:" or path.startswith("file:"):
        yield
        return
    fd = os.open(Path(path).resolve().parent, os.O_RDONLY)
    try:
        await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


async def upgrade_to_head(url_or_engine: str | AsyncEngine, target: str = "head") -> tuple[str | None, str | None]:
    """Apply every pending migration (up to ``target``, a revision, for tests of a migration);
    returns (revision before, revision after)."""
    engine, owned = _engine(url_or_engine)
    try:
        if target == "head":
            stored = await _stored_revision(engine)
            if stored == HEAD_REVISION:
                return stored, stored
        async with _one_migrator(engine), engine.connect() as conn:
            result = await conn.run_sync(_upgrade, target)
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


async def ping(engine: AsyncEngine) -> None:
    """One round trip to the database (raises when it does not answer)."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def probe_store(url: str) -> None:
    """Open the store once, so an unreachable database is one clear line, not a stack."""
    shown = make_url(url).render_as_string(hide_password=True)
    try:
        engine = create_engine(url)
    except ValueError as exc:  # a URL or path the store cannot use: its own words say why
        raise StoreUnavailable(f"cannot use the database {shown}: {exc}") from None
    except Exception as exc:
        raise StoreUnavailable(f"cannot use the database {shown}: {root_reason(exc)}") from None
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:
        raise StoreUnavailable(f"cannot open the database {shown}: {root_reason(exc)}") from None
    finally:
        await engine.dispose()
