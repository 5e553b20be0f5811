"""Several delivery workers (``shwatch run --deliver-only`` processes) on one PostgreSQL store.

Two workers drain one fan-out together: every chat gets its alert exactly once (claims are
``FOR UPDATE SKIP LOCKED``), Telegram's limits hold across both (each takes its share with
``messages_per_second``), and a worker never takes the chat updates of the full service.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import fake_telegram
import pytest
from conftest import _reset_pg
from shwatch_run import SHWATCH
from sqlalchemy import select

from bot.core.clock import SystemClock
from bot.jobs.alerts import Dispatcher, RuleIndexCache
from bot.store.chats import ChatStore
from bot.store.dispatch import DispatchLog
from bot.store.migrate import upgrade_to_head
from bot.store.outbox import Outbox
from bot.store.schema import deliveries
from monitors.db import create_engine
from monitors.model import Item
from monitors.store import ItemStore

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

TOKEN = "555000222:AAWorkersTokenNeverLogged_abcdefghijk"
CHATS = [900_000 + n for n in range(400)]
# The workers' clock runs RATE times faster than real time and the fake Bot API judges
# Telegram's limits on that clock: 400 messages at 30/s take a quarter of 13 real seconds.
RATE = 4


async def _seed(url: str) -> int:
    """400 subscribed chats and one new item, planned into 400 pending alert deliveries."""

    await upgrade_to_head(url)
    engine = create_engine(url)
    try:
        store = ChatStore(engine)
        for address in CHATS:
            chat = await store.get_or_create("telegram", str(address), lang="en", mode="instant")
            await store.set_topics(chat.id, ["online_education"])
        now = datetime.now(timezone.utc)
        await ItemStore(engine).insert_items([
            Item("press", "https://wsjkw.sh.gov.cn/xwfb/20260613/" + "c" * 32 + ".html", "Shanghai expands online education",
                 now, summary="The city adds online courses.", lang="en", topics=("online_education",),
                 matched={"online_education": ["online education"]}, first_seen_at=now)
        ])
        clock = SystemClock()
        dispatcher = Dispatcher(
            ItemStore(engine), DispatchLog(engine, Outbox(engine, clock)), RuleIndexCache(store), clock, max_age_days=3
        )
        return await dispatcher.run()
    finally:
        await engine.dispose()


async def _statuses(url: str) -> Counter:


    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return Counter(r.status for r in await conn.execute(select(deliveries.c.status)))
    finally:
        await engine.dispose()


def _worker(config: Path, log: Path, since: float) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "SHWATCH_"))}
    env["SHWATCH_WEB_PORT"] = "0"  # the web app on any free port: services never collide on 8080
    env["SHWATCH_CLOCK_RATE"] = str(RATE)  # both workers on one clock, RATE times faster than real time
    env["SHWATCH_CLOCK_SINCE"] = repr(since)
    return subprocess.Popen(
        [str(SHWATCH), "--config", str(config), "--log-level", "INFO", "run", "--deliver-only"],
        stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env, cwd=config.parent,
    )


def test_two_workers_send_each_delivery_once_within_the_limits(postgres_url: str, tmp_path: Path):

    asyncio.run(_reset_pg(postgres_url))
    assert asyncio.run(_seed(postgres_url)) == len(CHATS)
    with fake_telegram.FakeTelegram(token=TOKEN, rate=RATE) as tg:
        config = tmp_path / "worker.toml"
        config.write_text(
            f'database_url = "{postgres_url}"\nsources = []\n\n[telegram]\ntoken = "{TOKEN}"\n'
            f'api_base_url = "{tg.base_url}"\nmessages_per_second = 15\n',
            encoding="utf-8",
        )
        logs = [tmp_path / "w1.log", tmp_path / "w2.log"]
        since = time.time()
        workers = [_worker(config, log, since) for log in logs]
        try:
            ours = set(CHATS)
            deadline = time.monotonic() + 90
            while len({m.chat_id for m in tg.sent if m.chat_id in ours}) < len(CHATS):
                assert time.monotonic() < deadline, "the workers did not deliver every alert in time"
                assert all(w.poll() is None for w in workers), "a worker exited early:\n" + "\n".join(
                    log.read_text(errors="replace")[-2000:] for log in logs
                )
                time.sleep(0.1)
            # every row recorded as sent: nothing is left to claim (a stop waits for sends in flight)
            while asyncio.run(_statuses(postgres_url)) != Counter({"sent": len(CHATS)}):
                assert time.monotonic() < deadline, "the workers did not record every delivery as sent in time"
                time.sleep(0.1)
        finally:
            for w in workers:
                if w.poll() is None:
                    w.send_signal(signal.SIGTERM)
            codes = [w.wait(20) for w in workers]
        per_chat = Counter(m.chat_id for m in tg.sent if m.chat_id in ours)
        assert set(per_chat) == ours
        assert max(per_chat.values()) == 1, per_chat.most_common(3)
        assert tg.violations == []
        assert tg.requests("getUpdates") == []  # updates belong to the full service
        assert codes == [0, 0]
        output = "".join(log.read_text(errors="replace") for log in logs)
        assert TOKEN not in output and "Traceback" not in output
        assert "leads until" not in output and "stands by" not in output  # a delivery worker never leads
    assert asyncio.run(_statuses(postgres_url)) == Counter({"sent": len(CHATS)})


def test_deliver_only_refuses_sqlite_with_a_clear_message(tmp_path: Path):
    config = tmp_path / "lite.toml"
    config.write_text(f'database_url = "sqlite+aiosqlite:///{tmp_path / "x.db"}"\nsources = []\n', encoding="utf-8")
    proc = subprocess.run([str(SHWATCH), "--config", str(config), "run", "--deliver-only"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "needs PostgreSQL" in proc.stderr and "Traceback" not in proc.stderr
