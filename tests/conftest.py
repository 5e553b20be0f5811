"""Shared fixtures.

- ``shared_dir``: ../shared beside the repository (tests that need it skip cleanly without it).
- ``db_url`` / ``engine``: a real, empty store, once on SQLite (a file under tmp_path) and once
  on PostgreSQL. The PostgreSQL leg uses a database of its own created for this test session
  on the server named by ``SHWATCH_TEST_POSTGRES_URL`` (default: 127.0.0.1:5432, database
  ``test``) and is skipped with a clear message when that server cannot be reached.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text

import bot.store.schema  # noqa: F401  (registers the subscriber tables on the shared metadata)
from bot.store.migrate import upgrade_to_head
from monitors.db import create_engine, metadata

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="session", autouse=True)
def web_on_any_free_port():
    """Every `shwatch run` a test starts serves its web app on a port of its own (port 0)."""
    os.environ["SHWATCH_WEB_PORT"] = "0"
    # pytest-xdist's workers set COLUMNS=80 and LINES=24: output widths would depend on how
    # the suite is run. Tests that care about the width set COLUMNS themselves.
    os.environ.pop("COLUMNS", None)
    os.environ.pop("LINES", None)
    yield


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} is not present (the shared fixtures live beside the repository)")
    return SHARED


def _pg_admin_dsn() -> str:
    url = os.environ.get("SHWATCH_TEST_POSTGRES_URL", DEFAULT_PG)
    return url.replace("postgresql+asyncpg://", "postgresql://").replace("postgresql+psycopg://", "postgresql://")


async def _pg_admin(dsn: str, statement: str) -> None:
    """One statement on the server's admin connection (CREATE / DROP DATABASE)."""
    import asyncpg

    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgres_url():
    """URL of a throwaway PostgreSQL database for this test session, or a skip."""
    dsn = _pg_admin_dsn()
    name = f"shwatch_t_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        asyncio.run(_pg_admin(dsn, f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # no server, refused, no permission: skip the PostgreSQL leg
        pytest.skip(f"PostgreSQL leg skipped: cannot create a test database via {dsn.split('@')[-1]} ({type(exc).__name__}: {exc})")
    base = dsn.rsplit("/", 1)[0]
    yield f"{base.replace('postgresql://', 'postgresql+asyncpg://')}/{name}"
    try:
        asyncio.run(_pg_admin(dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    except Exception:
        pass


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path: Path) -> str:
    """An empty store's URL (schema not yet created), on each backend."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'shwatch.db'}"
    url = request.getfixturevalue("postgres_url")
    asyncio.run(_reset_pg(url))
    return url


async def _reset_pg(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.drop_all)
            await conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    finally:
        await engine.dispose()


@pytest.fixture
async def engine(db_url: str):
    """An async engine on an empty store with the full schema, built by the migrations."""
    eng = create_engine(db_url)
    await upgrade_to_head(eng)
    yield eng
    await eng.dispose()
