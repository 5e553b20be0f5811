"""Crash safety of the real ``shwatch run`` (subprocess) against the fake Bot API.

- kill -9 in the middle of a fan-out to 1,000 chats, start again: every chat gets the alert;
  the duplicates are printed, and only deliveries the killed process had claimed and not yet
  recorded as sent (in flight) are repeated, each at most once.
- A restart across the digest time: the service is down at 08:00, comes back (catch-up),
  is killed while sending, comes back again: one digest row per chat, every one sent; only
  digests in flight at the kill may arrive twice.

The service's clock is moved with SHWATCH_FAKE_NOW (read only by bot.core.clock.clock_from_env at
start-up). Sources that hang, return garbage or time out are covered at the scheduler level
in tests/test_schedule.py (test_bad_sources_do_not_delay_the_others).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import fake_press
import fake_telegram
import pytest
from alembic import command
from shwatch_run import SHWATCH, start_run
from sqlalchemy import select

from bot.core.clock import FakeClock
from bot.store.chats import ChatStore
from bot.store.migrate import alembic_config, head_revision, upgrade_to_head
from bot.store.schema import chats, deliveries
from monitors.db import create_engine
from monitors.model import Item
from monitors.store import ItemStore

pytestmark = pytest.mark.e2e

TOKEN = "555000111:AAReliabilityTokenNeverLogged_abcdefghij"
SH = timezone(timedelta(hours=8))


FANOUT_RATE = 2


class Run:
    """One ``shwatch run`` process."""

    def __init__(
        self, config: Path, workdir: Path, name: str, fake_now: str | None = None,
        rate: float | None = None, since: float | None = None,
    ) -> None:
        self.out = workdir / f"{name}.log"
        env = {"SHWATCH_WEB_PORT": "0"}  # the web app on any free port: services never collide on 8080
        if fake_now:
            env["SHWATCH_FAKE_NOW"] = fake_now
        if rate:  # a clock `rate` times faster than real time, counted from the real instant `since`
            env["SHWATCH_CLOCK_RATE"] = str(rate)
            env["SHWATCH_CLOCK_SINCE"] = repr(since if since is not None else time.time())
        self.proc = start_run(config, self.out, workdir, **env)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        return self.out.read_text(errors="replace")

    def kill9(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(15)


def wait(predicate, timeout: float, run: Run | None = None, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if run is not None and not run.alive():
            raise AssertionError(f"shwatch run exited early:\n{run.log()[-3000:]}")
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}" + (f"\n{run.log()[-3000:]}" if run else ""))


def config_file(tmp_path: Path, db: Path, tg, sources: str = "sources = []") -> Path:
    path = tmp_path / "shwatch.toml"
    path.write_text(
        f"""
database_url = "sqlite+aiosqlite:///{db}"
{sources}

[telegram]
token = "{TOKEN}"
api_base_url = "{tg.base_url}"
poll_timeout = 1
""",
        encoding="utf-8",
    )
    return path


async def _seed_chats(db: Path, addresses, *, mode: str, topics=("online_education",), last_digest_at=None, created=None):

    url = f"sqlite+aiosqlite:///{db}"
    await upgrade_to_head(url)
    engine = create_engine(url)
    try:
        store = ChatStore(engine, FakeClock(created) if created else None)
        for address in addresses:
            chat = await store.get_or_create("telegram", str(address), lang="zh", mode=mode)
            await store.set_topics(chat.id, topics)
            if last_digest_at is not None:
                await store.mark_digest(chat.id, last_digest_at)
    finally:
        await engine.dispose()


def all_sent(db: Path, kind: str, count: int) -> bool:
    """The store holds ``count`` deliveries of ``kind``, every one recorded as sent: the
    outbox has nothing left to send (a graceful stop then waits for nothing)."""
    rows = asyncio.run(_rows(db, kind))
    return len(rows) == count and all(r.status == "sent" for r in rows)


async def _rows(db: Path, kind: str):


    engine = create_engine(f"sqlite+aiosqlite:///{db}")
    try:
        async with engine.connect() as conn:
            q = select(chats.c.address, deliveries.c.ref, deliveries.c.status).join(chats, chats.c.id == deliveries.c.chat_id)
            return (await conn.execute(q.where(deliveries.c.kind == kind))).all()
    finally:
        await engine.dispose()


def test_kill_9_mid_fanout_to_1000_chats_loses_nothing(tmp_path):
    chats = [700_000 + n for n in range(1000)]
    db = tmp_path / "fanout.db"
    asyncio.run(_seed_chats(db, chats, mode="instant"))
    # the services' clock runs FANOUT_RATE times faster than real time and the fake Bot API
    # judges Telegram's 30 messages/s on it: the fan-out takes a fraction of 33 real seconds
    with fake_press.FakePress() as press, fake_telegram.FakeTelegram(token=TOKEN, rate=FANOUT_RATE) as tg:
        sources = f"""
{press.source_toml("xwfb", "press", "Fake press")}"""
        config = config_file(tmp_path, db, tg, sources)
        since = time.time()  # both processes share one scaled clock: the restart does not turn it back
        first = Run(config, tmp_path, "first", rate=FANOUT_RATE, since=since)
        try:
            wait(lambda: press.hits("/xwfb/index.html") >= 2, 30, first, "the baseline poll")
            now = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")
            press.publish("xwfb", "本市发布在线教育发展新举措", "市教委发布在线教育新举措。", now)
            ours = set(chats)

            def sent_to_ours() -> int:
                return sum(1 for m in tg.sent if m.chat_id in ours)

            wait(lambda: sent_to_ours() >= 150, 60, first, "the fan-out to start")
        finally:
            first.kill9()
        before = sent_to_ours()
        assert before < 1000, "the fan-out finished before the kill: nothing was tested"
        # what the killed process had claimed and not yet recorded as sent: the only
        # deliveries the restart may repeat
        in_flight = {int(r.address) for r in asyncio.run(_rows(db, "alert")) if r.status == "sending"}
        second = Run(config, tmp_path, "second", rate=FANOUT_RATE, since=since)
        try:
            wait(lambda: len({m.chat_id for m in tg.sent if m.chat_id in ours}) == 1000, 120, second, "every chat to get the alert")
            # every row recorded as sent: nothing is left to send (a stop waits for sends in flight)
            wait(lambda: all_sent(db, "alert", 1000), 60, second, "every alert recorded as sent")
        finally:
            second.stop()
        per_chat = Counter(m.chat_id for m in tg.sent if m.chat_id in ours)
        duplicates = sum(n - 1 for n in per_chat.values() if n > 1)
        print(f"\nfan-out: killed after {before} of 1000 messages; after the restart every chat has the alert; duplicates: {duplicates}")
        assert set(per_chat) == ours
        repeated = {chat for chat, n in per_chat.items() if n > 1}
        assert repeated <= in_flight, (repeated - in_flight, per_chat.most_common(3))
        assert max(per_chat.values()) <= 2, per_chat.most_common(3)  # repeated at most once
        assert tg.violations == []
        rows = asyncio.run(_rows(db, "alert"))
        assert len(rows) == 1000 and {r.status for r in rows} == {"sent"}
        assert TOKEN not in first.log() + second.log()


def test_restart_across_the_digest_time_sends_one_digest_per_chat(tmp_path):
    chats = [800_000 + n for n in range(30)]
    db = tmp_path / "digest.db"
    yesterday = datetime(2026, 6, 13, 8, 0, 5, tzinfo=SH)
    asyncio.run(_seed_chats(db, chats, mode="digest", last_digest_at=yesterday, created=datetime(2026, 6, 1, tzinfo=SH)))

    async def items():

        engine = create_engine(f"sqlite+aiosqlite:///{db}")
        seen = datetime(2026, 6, 13, 15, 0, tzinfo=SH)
        await ItemStore(engine).insert_items(
            [Item("s", f"https://www.shanghai.gov.cn/x/{i}.html", f"在线教育动态{i}", seen, summary="摘要。", topics=("online_education",), first_seen_at=seen) for i in range(3)]
        )
        await engine.dispose()

    asyncio.run(items())
    with fake_telegram.FakeTelegram(token=TOKEN) as tg:
        config = config_file(tmp_path, db, tg)
        ours = set(chats)

        def digests() -> list:
            return [m for m in tg.sent if m.chat_id in ours and "每日摘要" in m.text]

        # 1. up before 08:00, stopped before it: nothing goes out
        early = Run(config, tmp_path, "early", fake_now="2026-06-14T07:59:00+08:00")
        wait(lambda: len(tg.requests("getUpdates")) >= 1, 30, early, "the bot to start")
        time.sleep(1.0)
        assert early.stop() == 0
        assert digests() == []
        # 2. back at 08:00:20: the missed digest is caught up; killed while sending
        late = Run(config, tmp_path, "late", fake_now="2026-06-14T08:00:20+08:00")
        try:
            wait(lambda: len(digests()) >= 3, 30, late, "the digests to start")
        finally:
            late.kill9()
        before = len(digests())
        in_flight = {int(r.address) for r in asyncio.run(_rows(db, "digest")) if r.status == "sending"}
        # 3. back again at 08:00:40: the rest, and no second digest
        again = Run(config, tmp_path, "again", fake_now="2026-06-14T08:00:40+08:00")
        try:
            wait(lambda: {m.chat_id for m in digests()} == ours, 60, again, "every chat's digest")
            wait(lambda: all_sent(db, "digest", len(chats)), 60, again, "every digest recorded as sent")
        finally:
            again.stop()
        per_chat = Counter(m.chat_id for m in digests())
        duplicates = sum(n - 1 for n in per_chat.values() if n > 1)
        print(f"\ndigest restart: killed after {before} of 30 digests; duplicates: {duplicates}")
        rows = asyncio.run(_rows(db, "digest"))
        assert sorted(r.address for r in rows) == sorted(str(c) for c in chats)  # one row per chat
        assert {r.ref for r in rows} == {"2026-06-14"} and {r.status for r in rows} == {"sent"}
        repeated = {chat for chat, n in per_chat.items() if n > 1}
        assert repeated <= in_flight and max(per_chat.values()) <= 2, per_chat.most_common(3)
        assert all("在线教育动态0" in m.text for m in digests())
        assert tg.violations == []


async def _downgrade(url: str, revision: str) -> None:
    """Put a store back at an older revision (as an older shwatch left it)."""


    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.run_sync(lambda sync: command.downgrade(alembic_config(sync), revision))
            await conn.commit()
    finally:
        await engine.dispose()


def test_service_started_on_a_store_only_poll_has_used_migrates_it(tmp_path):
    """`shwatch poll --once` migrates the store first (every path builds the schema by
    migrations); a store an older shwatch left at revision 0001 (the bot's state still in the
    monitor's tables) is migrated by `shwatch run` at start-up (the bot's new tables appear, the
    revision is recorded) and works."""


    db = tmp_path / "old.db"
    config = tmp_path / "shwatch.toml"
    with fake_press.FakePress() as press:
        config.write_text(
            f"""
database_url = "sqlite+aiosqlite:///{db}"

{press.source_toml("en", "press-en", "Fake press (en)", lang="en")}""",
            encoding="utf-8",
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "SHWATCH_"))}
        env["SHWATCH_WEB_PORT"] = "0"  # the web app on any free port: services never collide on 8080
        polled = subprocess.run([str(SHWATCH), "--config", str(config), "poll", "--once"], capture_output=True, text=True, timeout=60, env=env)
        assert polled.returncode == 0, polled.stderr
        with sqlite3.connect(db) as conn:
            assert {"source_state", "items"} <= {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(head_revision(),)]
        asyncio.run(_downgrade(f"sqlite+aiosqlite:///{db}", "0001"))
        with sqlite3.connect(db) as conn:
            assert {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")} == {
                "source_state", "items", "chats", "subscriptions", "alert_rules", "deliveries", "inbound_messages",
                "alembic_version",
            }
            assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [("0001",)]
        run = Run(config, tmp_path, "old-store")
        try:
            wait(lambda: "printed here" in run.log(), 30, run, "the console channel")
            url = press.publish("en", "Online education platform opens", "Shanghai opens an online education platform.",
                                datetime.now(SH).strftime("%Y-%m-%d %H:%M"))
            wait(lambda: url in run.log(), 30, run, "the alert on the console")
            assert run.stop() == 0
        finally:
            run.kill9()
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        revision = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    assert {"chats", "deliveries", "subscriptions", "alert_rules", "inbound_messages", "alembic_version"} <= tables
    assert {"dispatch_cursor", "dispatched_items", "source_notices"} <= tables
    assert revision == [(head_revision(),)]
    assert "Traceback" not in run.log()
