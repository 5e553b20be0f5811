"""What the bot's commands do with the store before their own work: migrate it to the newest
revision and score old items again, and say which instance leads. Loaded only by the
commands that use a database (``shwatch match`` and a bad config never load SQLAlchemy)."""

from __future__ import annotations

from bot.core.format import leader_line
from bot.store.lease import LeaseStore
from bot.store.migrate import cmd_db_upgrade, probe_store, upgrade_to_head
from config.model import Settings
from monitors.db import create_engine
from monitors.retag import retag
from monitors.store import ItemStore
from monitors.tagger import Tagger

__all__ = ["cmd_db_upgrade", "leader_line_of", "prepare_store", "probe_store"]


async def prepare_store(settings: Settings) -> int:
    """Every path builds the schema by the migrations, then items tagged by older rules are
    scored again (``monitors.retag``); returns how many were."""
    await upgrade_to_head(settings.database_url)
    engine = create_engine(settings.database_url)
    try:
        return await retag(ItemStore(engine), Tagger(settings.topics, rules=settings.relevance))
    finally:
        await engine.dispose()


async def leader_line_of(settings: Settings) -> str:
    """Which instance of ``shwatch run`` polls the sources now, and until when."""
    engine = create_engine(settings.database_url)
    try:
        return leader_line(await LeaseStore(engine).leader(), "en", settings.timezone)
    finally:
        await engine.dispose()
