"""Fan-out benchmark: one new item for 3,000 subscribed Telegram chats.

The real pipeline from the outbox on: ``Dispatcher.run`` plans 3,000 alert deliveries,
``TelegramSender`` claims, renders (``DeliveryComposer`` -> Telegram HTML) and sends them
through PTB's Bot to the fake Bot API (tests/fake_telegram.py), which enforces Telegram's
limits (30 msg/s overall, 1/s per chat, 20/min per group) and answers 429 when they are
broken. Prints messages/s, 429s, lost and duplicated deliveries, and the ratio to the
30 msg/s limit (the baseline: the most Telegram allows). Target: ratio >= 0.9, no 429s,
none lost, no duplicates. Takes about 100 s (3,000 / 30).

    .venv/bin/python bench/fanout.py [--chats 3000] [--db-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import fake_telegram  # noqa: E402
from sqlalchemy import func, insert, select  # noqa: E402

from bot.core.clock import SystemClock  # noqa: E402
from bot.delivery.compose import DeliveryComposer  # noqa: E402
from bot.jobs.alerts import Dispatcher, RuleIndexCache  # noqa: E402
from bot.store.chats import ChatStore  # noqa: E402
from bot.store.dispatch import DispatchLog  # noqa: E402
from bot.store.migrate import upgrade_to_head  # noqa: E402
from bot.store.schema import chats, deliveries, subscriptions  # noqa: E402
from bot.store.outbox import Outbox  # noqa: E402
from bot.channels.telegram.sender import OutboxFeed, TelegramSender, make_bot  # noqa: E402
from config.settings import load_settings  # noqa: E402
from monitors.db import create_engine  # noqa: E402
from monitors.model import Item  # noqa: E402
from monitors.store import ItemStore  # noqa: E402

LIMIT = 30.0  # Telegram's overall limit, messages per second
TOPIC = "unmanned_factory"


async def seed(engine, n_chats: int) -> None:
    now = datetime.now(timezone.utc)
    rows = [
        {
            "channel": "telegram", "address": str(100_000 + i), "kind": "private", "lang": "zh" if i % 2 else "en",
            "mode": "instant", "active": True, "digest_enabled": False, "digest_time": "08:00",
            "tz": "Asia/Shanghai", "created_at": now, "updated_at": now,
        }
        for i in range(n_chats)
    ]
    async with engine.begin() as conn:
        for start in range(0, len(rows), 500):
            await conn.execute(insert(chats), rows[start : start + 500])
        ids = (await conn.execute(select(chats.c.id))).scalars().all()
        for start in range(0, len(ids), 500):
            await conn.execute(insert(subscriptions), [{"chat_id": i, "topic_id": TOPIC} for i in ids[start : start + 500]])


async def run(n_chats: int, db_url: str | None) -> int:
    tmp = tempfile.TemporaryDirectory()
    url = db_url or f"sqlite+aiosqlite:///{Path(tmp.name) / 'fanout.db'}"
    settings = dataclasses.replace(load_settings(None, env={}), database_url=url)
    engine = create_engine(url)
    await upgrade_to_head(engine)
    await seed(engine, n_chats)
    source = settings.sources[0]
    [item] = await ItemStore(engine).insert_items(
        [
            Item(
                source_id=source.id,
                url="https://www.shanghai.gov.cn/nw4411/20260613/fanout-bench.html",
                title="本市发布无人工厂建设三年行动方案",
                published=datetime.now(timezone.utc),
                summary="市经信委表示，将加快推进无人工厂建设，首批试点企业名单同时公布。",
                body="市经信委表示，将加快推进无人工厂建设。",
                topics=(TOPIC,),
                matched={TOPIC: ["无人工厂"]},
                first_seen_at=datetime.now(timezone.utc),
            )
        ]
    )
    chat_store = ChatStore(engine)
    clock = SystemClock()
    dispatcher = Dispatcher(
        ItemStore(engine), DispatchLog(engine, Outbox(engine, clock)), RuleIndexCache(chat_store), clock,
        max_age_days=settings.max_age_days,
    )
    planned = await dispatcher.run()
    print(f"planned {planned} deliveries for {n_chats} chats (item {item.id})")

    tg = fake_telegram.FakeTelegram().start()
    bot = make_bot(tg.token, tg.base_url)
    await bot.initialize()
    outbox = Outbox(engine)
    sender = TelegramSender(bot, OutboxFeed(outbox, chat_store, DeliveryComposer(ItemStore(engine), settings)), secrets=[tg.token])
    started = time.monotonic()
    await sender.start()
    sender.wake()
    deadline = started + n_chats / LIMIT * 2 + 60
    shown = 0.0
    while time.monotonic() < deadline:
        await asyncio.sleep(1.0)
        async with engine.connect() as conn:
            counts = dict((await conn.execute(select(deliveries.c.status, func.count()).group_by(deliveries.c.status))).all())
        done = counts.get("sent", 0) + counts.get("failed", 0) + counts.get("dropped", 0)
        if done >= planned or time.monotonic() - shown >= 10:
            shown = time.monotonic()
            print(f"{shown - started:6.1f} s  sent {counts.get('sent', 0)}/{planned}", flush=True)
        if done >= planned:
            break
    await sender.stop()
    await bot.shutdown()
    tg.stop()
    await engine.dispose()

    sent = [m for m in tg.sent if m.method == "sendMessage"]
    per_chat = Counter(m.chat_id for m in sent)
    expected = {100_000 + i for i in range(n_chats)}
    lost = len(expected - set(per_chat))
    duplicates = sum(n - 1 for n in per_chat.values() if n > 1)
    span = (max(m.at for m in sent) - min(m.at for m in sent)) if len(sent) > 1 else float("nan")
    rate = (len(sent) - 1) / span if span and span == span else 0.0
    ratio = rate / LIMIT
    print(f"messages sent        {len(sent)}")
    print(f"wall time            {span:.1f} s (first to last message)")
    print(f"messages/s           {rate:.2f}")
    print(f"baseline             {LIMIT:.0f} msg/s (Telegram's overall limit)")
    print(f"ratio to baseline    {ratio:.3f}   (target >= 0.9)")
    print(f"429s received        {tg.answered_429}")
    print(f"limit violations     {len(tg.violations)}")
    print(f"lost deliveries      {lost}")
    print(f"duplicates           {duplicates}")
    ok = ratio >= 0.9 and tg.answered_429 == 0 and lost == 0 and duplicates == 0 and not tg.violations
    print("PASS" if ok else "FAIL")
    tmp.cleanup()
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=3000)
    parser.add_argument("--db-url", default=None, help="default: a temporary SQLite file")
    args = parser.parse_args()
    return asyncio.run(run(args.chats, args.db_url))


if __name__ == "__main__":
    sys.exit(main())
