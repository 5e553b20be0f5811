"""Robots: the 20/min sliding window and the batching of alerts (pure, a number clock)."""

from __future__ import annotations

import pytest

from bot.text import utf8_len
from bot.wecom.robots import SendWindow, plan_batches


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

from bot.chats import ChatStore  # noqa: E402
from bot.wecom.robots import resolve_topics, sync_robot_chats  # noqa: E402
from config.model import WeComRobot  # noqa: E402
from config.settings import load_default_topics  # noqa: E402


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
