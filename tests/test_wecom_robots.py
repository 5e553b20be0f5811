"""Robots: the 20/min sliding window and the batching of alerts (pure, a number clock); the
robots' chats following the config; the robot delivery worker against the fake WeCom on a
fake clock (no sleeps), one instance and two sharing one store."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from fake_wecom import FakeWeCom, markdown_problems
from sqlalchemy import select

from bot.channels.wecom.api import WeComApi
from bot.channels.wecom.channel import WeComRobotChannel
from bot.channels.wecom.robots import SendWindow, plan_batches, resolve_topics, sync_robot_chats
from bot.core.clock import FakeClock
from bot.core.text import utf8_len
from bot.delivery.compose import DeliveryComposer
from bot.jobs.digests import DigestJob
from bot.store.chats import ChatStore
from bot.store.outbox import Outbox
from bot.store.schema import deliveries
from config.model import Settings, WeComRobot, WeComSettings
from config.settings import load_default_topics
from monitors.model import Item
from monitors.store import ItemStore


def test_window_allows_twenty_per_sliding_minute():
    w = SendWindow()
    for i in range(20):
        assert w.remaining(i * 0.5) == 20 - i
        w.record(i * 0.5)
    assert w.remaining(10.0) == 0
    assert w.free_at(10.0) == pytest.approx(60.0)  # the first send leaves the window at 0 + 60
    assert w.remaining(59.99) == 0
    assert w.remaining(60.0) == 1
    assert w.remaining(69.6) == 20


def test_window_block_until_after_a_130101():
    w = SendWindow()
    w.record(0.0)
    w.block_until(75.0)
    assert w.remaining(74.9) == 0
    assert w.free_at(10.0) == pytest.approx(75.0)
    assert w.remaining(75.0) == 20


def test_one_message_per_alert_while_the_window_has_room():
    pending = [(i, [f"**alert {i}**"]) for i in range(5)]
    batches, done = plan_batches(pending, budget=20)
    assert [b.content for b in batches] == [f"**alert {i}**" for i in range(5)]
    assert done == [0, 1, 2, 3, 4]


def test_alerts_are_batched_when_they_come_faster_than_the_window():
    pending = [(i, [f"**alert {i}** " + "内容" * 100]) for i in range(60)]  # ~620 bytes each
    batches, done = plan_batches(pending, budget=5)
    assert 1 < len(batches) <= 5
    assert all(utf8_len(b.content) <= 4096 for b in batches)
    assert done == list(range(len(done)))  # oldest first, none skipped
    assert sum(len(b.refs) for b in batches) == len(done) > 5
    for b in batches:  # each batch is its alerts joined by a blank line, nothing lost or cut
        assert b.content == "\n\n".join(f"**alert {i}** " + "内容" * 100 for i in b.refs)


def test_everything_eventually_goes_out_exactly_once():
    pending = [(i, [f"alert {i} " + "x" * 900]) for i in range(100)]
    sent: list[int] = []
    rounds = 0
    while pending:
        batches, done = plan_batches(pending, budget=20)
        assert batches and len(batches) <= 20
        sent.extend(done)
        pending = [p for p in pending if p[0] not in set(done)]
        rounds += 1
    assert sent == list(range(100)) and rounds <= 3


def test_a_long_alert_in_several_pieces_is_never_sent_in_part():
    big = ("big", ["a" * 4000, "b" * 4000, "c" * 4000])
    pending = [("small", ["s" * 100]), big]
    batches, done = plan_batches(pending, budget=2)
    assert done == ["small"]
    assert [b.refs for b in batches] == [("small",)]
    batches, done = plan_batches([big], budget=3)
    assert done == ["big"] and len(batches) == 3


def test_no_budget_no_batches():
    assert plan_batches([(1, ["x"])], budget=0) == ([], [])
    assert plan_batches([], budget=20) == ([], [])


# ---- the robots' chats follow the config --------------------------------------------------


def robot(name: str, **kw) -> WeComRobot:
    return WeComRobot(name=name, url=f"http://127.0.0.1:9/cgi-bin/webhook/send?key={name}", **kw)


def test_resolve_topics_accepts_ids_and_names():
    topics = load_default_topics()
    first = topics[0]
    ids, unknown = resolve_topics([first.id, first.name_zh, first.name_en.upper(), "no-such-field"], topics)
    assert ids == [first.id] and unknown == ["no-such-field"]


async def test_sync_creates_updates_and_retires_robot_chats(engine):
    topics = load_default_topics()
    t1, t2 = topics[0].id, topics[1].id
    store = ChatStore(engine)
    chats = await sync_robot_chats(
        store,
        [robot("ops", topics=(t1,), keywords=("工业互联网", "AI"), digest_time="09:30"), robot("news", lang="en", keywords=("x" * 51,))],
        topics,
    )
    ops, news = chats["ops"], chats["news"]
    assert (ops.channel, ops.address, ops.kind, ops.lang) == ("robot", "ops", "group", "zh")
    assert ops.topics == {t1} and sorted(r.keyword for r in ops.rules) == ["AI", "工业互联网"]
    assert ops.mode == "both" and ops.digest_enabled and ops.digest_time == "09:30"
    assert news.lang == "en" and news.rules == () and news.mode == "instant" and not news.digest_enabled

    # the config changes: topics, keywords and digest follow; a removed robot is retired
    chats = await sync_robot_chats(store, [robot("ops", topics=(t2,), keywords=("ai", "机器人"))], topics)
    ops2 = chats["ops"]
    assert ops2.id == ops.id
    assert ops2.topics == {t2}
    assert sorted(r.keyword for r in ops2.rules) == ["AI", "机器人"]  # "ai" is the same keyword as "AI"
    assert ops2.mode == "instant" and not ops2.digest_enabled
    assert [c.address for c in await store.active_chats(["robot"])] == ["ops"]
    # and comes back when configured again
    chats = await sync_robot_chats(store, [robot("ops"), robot("news", lang="en")], topics)
    assert chats["news"].id == news.id and chats["news"].active


# ---- the robot delivery worker against the fake WeCom (fake clock, no sleeps) ---------------

KEY = "ops-robot-key-0000"


async def publish(engine, n: int, body: str = "工业互联网 平台建设加快推进。", start: int = 0) -> list[Item]:
    now = datetime(2026, 6, 14, tzinfo=timezone.utc)
    new = [
        Item("xwfb", f"https://www.example.invalid/a/{i}.html", f"第{i}号通知：工业互联网项目", now, summary=body, body=body, first_seen_at=now)
        for i in range(start, start + n)
    ]
    return await ItemStore(engine).insert_items(new)


class FakeSleep:
    def __init__(self, clock):
        self.clock, self.waits = clock, []

    async def __call__(self, seconds):
        self.waits.append(seconds)
        self.clock.advance(seconds)


@pytest.fixture
def fclock():
    return FakeClock(datetime(2026, 6, 14, 8, 0, 0, tzinfo=timezone.utc))


@pytest.fixture
def robot_wecom(fclock):
    with FakeWeCom(robots={KEY: "ops"}, clock=lambda: fclock.now().timestamp()) as fake:
        yield fake


async def robot_channel(engine, fake, clock):
    ops = WeComRobot("ops", fake.robot_url(KEY), keywords=("工业互联网",))
    settings = Settings(database_url="sqlite://", topics=load_default_topics(), wecom=WeComSettings(api_base_url=fake.base_url, robots=(ops,)))
    api = WeComApi(fake.base_url, secrets=[KEY], clock=clock, sleep=FakeSleep(clock))
    store = ChatStore(engine, clock)
    outbox = Outbox(engine, clock)
    channel = WeComRobotChannel(settings, outbox, DeliveryComposer(ItemStore(engine), settings), api, chats=store, clock=clock)
    chats = await sync_robot_chats(store, list(channel.robots.values()), settings.topics)
    return channel, outbox, chats["ops"], api


async def statuses(engine) -> dict[str, int]:
    async with engine.connect() as conn:
        rows = (await conn.execute(select(deliveries.c.status))).all()
    out: dict[str, int] = {}
    for (s,) in rows:
        out[s] = out.get(s, 0) + 1
    return out


async def test_a_burst_of_alerts_is_batched_within_twenty_a_minute(engine, robot_wecom, fclock):
    channel, outbox, chat, api = await robot_channel(engine, robot_wecom, fclock)
    items = await publish(engine, 70)
    await outbox.enqueue({"chat_id": chat.id, "kind": "alert", "ref": str(it.id), "item_id": it.id, "payload": {"keywords": ["工业互联网"]}} for it in items)
    rounds = 0
    while (await statuses(engine)).get("sent", 0) < 70:
        await channel.worker.run_once()
        fclock.advance(1)
        rounds += 1
        assert rounds < 400, await statuses(engine)
    await api.aclose()
    messages = robot_wecom.robot_messages(KEY)
    assert robot_wecom.violations == []  # never more than 20 in any 60 s
    assert all(m.msgtype == "markdown" and markdown_problems(m.content) == [] for m in messages)
    assert len(messages) < 70  # several alerts per message
    text = "\n".join(m.content for m in messages)
    for i in range(70):  # every alert exactly once, none dropped
        assert text.count(f"第{i}号通知") == 1, i
    assert await statuses(engine) == {"sent": 70}


async def test_two_instances_together_keep_a_robots_twenty_a_minute(engine, robot_wecom, fclock):
    """Alerts for one robot arrive faster than 20 a minute and two instances take turns
    claiming them: each counts what the other sent (from the store), so the robot never
    gets a 21st message in a minute, and every alert goes out once."""
    instances = [await robot_channel(engine, robot_wecom, fclock) for _ in range(2)]
    _, outbox, chat, _ = instances[0]
    total = 0
    for wave in range(18):  # 5 new alerts every 10 s for three minutes: 30 a minute
        items = await publish(engine, 5, start=total)
        total += len(items)
        await outbox.enqueue({"chat_id": chat.id, "kind": "alert", "ref": str(it.id), "item_id": it.id, "payload": {"keywords": ["工业互联网"]}} for it in items)
        channel = instances[wave % 2][0]
        await channel.worker.run_once()
        fclock.advance(10)
    for rounds in range(200):
        if (await statuses(engine)).get("sent", 0) == total:
            break
        await instances[rounds % 2][0].worker.run_once()
        fclock.advance(5)
    for _, _, _, api in instances:
        await api.aclose()
    assert robot_wecom.violations == []  # no 130101: never more than 20 in any 60 s
    messages = robot_wecom.robot_messages(KEY)
    text = "\n".join(m.content for m in messages)
    assert [text.count(f"第{i}号通知") for i in range(total)] == [1] * total  # each once, none dropped
    assert await statuses(engine) == {"sent": total}
    assert len(messages) < total  # the shared count made them pack alerts into fewer messages


async def test_a_few_alerts_go_one_per_message(engine, robot_wecom, fclock):
    channel, outbox, chat, api = await robot_channel(engine, robot_wecom, fclock)
    items = await publish(engine, 3)
    await outbox.enqueue({"chat_id": chat.id, "kind": "alert", "ref": str(it.id), "item_id": it.id, "payload": {}} for it in items)
    await channel.worker.run_once()
    await api.aclose()
    messages = robot_wecom.robot_messages(KEY)
    assert [("第0号通知" in m.content, "第1号通知" in m.content, "第2号通知" in m.content) for m in messages] == [
        (True, False, False), (False, True, False), (False, False, True)
    ]
    for i, m in enumerate(messages):  # markdown: the title bold as one run, the rest well-formed
        assert m.content.startswith(f"**第{i}号通知：工业互联网项目**\n") and markdown_problems(m.content) == [], m.content


async def test_robot_130101_from_elsewhere_waits_for_the_next_minute(engine, robot_wecom, fclock):
    channel, outbox, chat, api = await robot_channel(engine, robot_wecom, fclock)
    api.too_fast_retries = 0  # let the channel handle it: hold the rows until the next minute
    [item] = await publish(engine, 1)
    await outbox.enqueue([{"chat_id": chat.id, "kind": "alert", "ref": str(item.id), "item_id": item.id, "payload": {}}])
    robot_wecom.fail_next("webhook", 130101)
    fclock.advance(seconds=25)  # 08:00:25
    await channel.worker.run_once()
    row = await outbox.get((await statuses_ids(engine))[0])
    assert row.status == "pending" and row.attempts == 0 and row.not_before >= datetime(2026, 6, 14, 8, 1, tzinfo=timezone.utc)
    await channel.worker.run_once()  # not due yet: nothing sent
    assert robot_wecom.robot_messages(KEY) == []
    fclock.set(datetime(2026, 6, 14, 8, 1, 2, tzinfo=timezone.utc))
    await channel.worker.run_once()
    await api.aclose()
    assert len(robot_wecom.robot_messages(KEY)) == 1 and await statuses(engine) == {"sent": 1}


async def statuses_ids(engine) -> list[int]:
    async with engine.connect() as conn:
        return [r[0] for r in (await conn.execute(select(deliveries.c.id).order_by(deliveries.c.id))).all()]


async def test_robot_with_a_bad_key_fails_the_delivery_with_a_reason(engine, robot_wecom, fclock):
    channel, outbox, chat, api = await robot_channel(engine, robot_wecom, fclock)
    [item] = await publish(engine, 1)
    await outbox.enqueue([{"chat_id": chat.id, "kind": "alert", "ref": str(item.id), "item_id": item.id, "payload": {}}])
    robot_wecom.fail_next("webhook", 93000)
    await channel.worker.run_once()
    await api.aclose()
    row = await outbox.get((await statuses_ids(engine))[0])
    assert row.status == "failed" and "93000" in row.last_error and KEY not in row.last_error


async def test_robot_digest_at_its_digest_time(engine, robot_wecom, fclock):
    """The robot's digest_time makes the digest job queue its digest; the robot sends it."""
    ops = WeComRobot("ops", robot_wecom.robot_url(KEY), keywords=("工业互联网",), digest_time="09:30")
    settings = Settings(database_url="sqlite://", topics=load_default_topics(), wecom=WeComSettings(robots=(ops,)))
    fclock.set(datetime(2026, 6, 14, 0, 0, tzinfo=timezone.utc))  # 08:00 in Shanghai
    store = ChatStore(engine, fclock)
    outbox = Outbox(engine, fclock)
    [chat] = (await sync_robot_chats(store, [ops], settings.topics, "Asia/Shanghai")).values()
    assert (chat.digest_enabled, chat.digest_time, chat.tz) == (True, "09:30", "Asia/Shanghai")
    fclock.advance(minutes=30)
    seen = fclock.now()
    await ItemStore(engine).insert_items(
        [Item("xwfb", f"https://www.example.invalid/d/{i}.html", f"工业互联网动态{i}", seen, summary="工业互联网。", body="工业互联网平台。", first_seen_at=seen) for i in range(3)]
    )
    job = DigestJob.over(engine, settings, fclock)
    compose = DeliveryComposer(ItemStore(engine), settings)
    compose.register("digest", job.render)
    api = WeComApi(robot_wecom.base_url, secrets=[KEY], clock=fclock, sleep=FakeSleep(fclock))
    channel = WeComRobotChannel(settings, outbox, compose, api, chats=store, clock=fclock)
    fclock.set(datetime(2026, 6, 14, 1, 29, tzinfo=timezone.utc))  # 09:29: not yet
    assert await job.tick() == 0
    fclock.set(datetime(2026, 6, 14, 1, 30, 5, tzinfo=timezone.utc))  # 09:30:05
    assert await job.tick() == 1
    await channel.worker.run_once()
    await api.aclose()
    [message] = robot_wecom.robot_messages(KEY)
    assert message.msgtype == "markdown"
    assert all(f"**工业互联网动态{i}**" in message.content for i in range(3))
    assert markdown_problems(message.content) == [], message.content
    assert await statuses(engine) == {"sent": 1}
