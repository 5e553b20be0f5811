"""The same store through psycopg 3 (``postgresql+psycopg://``): migrations, items, the outbox claim."""

from __future__ import annotations

import asyncio
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest
from conftest import _reset_pg
from shwatch_run import SHWATCH

from bot.store.migrate import upgrade_to_head
from monitors.db import create_engine
from monitors.model import Item
from monitors.store import ItemStore

pytestmark = pytest.mark.postgres


@pytest.fixture
def psycopg_url(postgres_url: str) -> str:
    pytest.importorskip("psycopg")
    asyncio.run(_reset_pg(postgres_url))
    return postgres_url.replace("postgresql+asyncpg://", "postgresql+psycopg://")


def test_db_upgrade_through_the_entry_point(psycopg_url: str, tmp_path: Path):
    cfg = tmp_path / "pg.toml"
    cfg.write_text(f'database_url = "{psycopg_url}"\n', encoding="utf-8")
    proc = subprocess.run([str(SHWATCH), "--config", str(cfg), "db", "upgrade"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr


async def test_items_round_trip_and_dedupe(psycopg_url: str):
    engine = create_engine(psycopg_url)
    try:
        before, after = await upgrade_to_head(engine)
        assert before is None and after is not None
        store = ItemStore(engine)
        url = "https://wsjkw.sh.gov.cn/xwfb/20260613/" + "b" * 32 + ".html"
        item = Item(
            source_id="wsjkw-xwfb", url=url, title="互联网医院", published=datetime(2026, 6, 13, tzinfo=timezone.utc),
            first_seen_at=datetime.now(timezone.utc), topics=("online_healthcare",),
            matched={"online_healthcare": ["互联网医院"]},
        )
        first = await store.insert_items([item])
        again = await store.insert_items([item])
        assert [i.url for i in first] == [url] and first[0].id is not None
        assert again == []
        assert await store.known_urls([url, url + "x"]) == {url}
    finally:
        await engine.dispose()
