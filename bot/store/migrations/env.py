"""Alembic environment for shwatch's store.

Run through ``bot.store.migrate`` (``shwatch db upgrade`` and the service's start-up), which builds
the Alembic Config in code and hands over an open connection in
``config.attributes["connection"]``: no alembic.ini is needed. Used from the ``alembic``
command line instead, the URL comes from ``sqlalchemy.url`` or ``$SHWATCH_DATABASE_URL``.
"""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy import text

import bot.store.schema  # noqa: F401  (registers the subscriber tables on the shared metadata)
from bot.store.migrate import PG_MIGRATION_LOCK
from monitors.db import create_engine, metadata

target_metadata = metadata


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_MIGRATION_LOCK})
        context.run_migrations()


async def _run_with_new_engine(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.run_sync(_run)
            await conn.commit()
    finally:
        await engine.dispose()


def run_offline() -> None:
    url = context.config.get_main_option("sqlalchemy.url") or os.environ.get("SHWATCH_DATABASE_URL")
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url") or os.environ.get("SHWATCH_DATABASE_URL")
    if not url:
        raise RuntimeError("no database URL: set sqlalchemy.url or SHWATCH_DATABASE_URL")
    asyncio.run(_run_with_new_engine(url))


if context.is_offline_mode():
    run_offline()
else:
    run_online()
