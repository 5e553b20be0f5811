"""Digest planning and formatting (pure), and when a chat's digest is due."""

from __future__ import annotations

import asyncio
import os
import random
import re
import socket
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import fake_telegram
import pytest
from sqlalchemy import select

from bot.core.clock import FakeClock
from bot.core.digest import (
    Digest,
    DigestFormatter,
    DigestPlanner,
    digest_due,
    digest_now_ref,
    digest_ref,
    digest_slot,
    nothing_new_blocks,
    one_line,
    plan_digests,
    render_messages,
)
from bot.core.match import RuleIndex
from bot.core.model import AlertRule, Chat
from bot.core.text import TELEGRAM_LIMIT, render_plain, render_telegram_html, render_wecom_markdown, split_blocks, utf8_len
from bot.jobs.alerts import Dispatcher, RuleIndexCache
from bot.jobs.digests import DigestJob
from bot.store.chats import ChatStore
from bot.store.dispatch import DispatchLog
from bot.store.migrate import upgrade_to_head
from bot.store.outbox import Outbox
from bot.store.schema import deliveries
from config.model import DigestSettings, Settings
from config.settings import load_default_topics
from monitors.db import create_engine
from monitors.model import Item
from monitors.store import ItemStore
from monitors.tagger import plan_order

SH = timezone(timedelta(hours=8))
UNTIL = datetime(2026, 6, 14, 0, 0, tzinfo=timezone.utc)  # 08:00 Shanghai
TOPICS = load_default_topics()
ORDER = plan_order(TOPICS)
SOURCES = {"wsjkw": "上海卫健委", "en": "Shanghai News"}


def item(i: int, topics=(), title="标题", body="", hours_ago=1.0, baseline=False, source="wsjkw", summary="摘要。") -> Item:
    seen = UNTIL - timedelta(hours=hours_ago)
    return Item(
        id=i, source_id=source, url=f"https://wsjkw.sh.gov.cn/xwfb/{i}.html", title=title or f"t{i}",
        published=seen - timedelta(minutes=30), summary=summary, body=body, topics=tuple(topics),
        baseline=baseline, first_seen_at=seen,
    )


def chat(cid=1, topics=(), rules=(), last=None, lang="zh", tz="Asia/Shanghai") -> Chat:
    return Chat(
        id=cid, channel="telegram", address=str(cid), lang=lang, digest_enabled=True, tz=tz,
        last_digest_at=last if last is not None else UNTIL - timedelta(days=1),
        topics=frozenset(topics), rules=tuple(AlertRule(cid * 100 + n, cid, k, tuple(x)) for n, (k, x) in enumerate(rules)),
    )


# ------------------------------------------------------------------------------ planning


def test_groups_follow_plan_order_and_an_item_appears_once():
    items = [
        item(1, ["online_healthcare"], hours_ago=2),
        item(2, ["online_education", "online_healthcare"], hours_ago=3),
        item(3, ["remote_office"], hours_ago=1),
        item(4, ["online_finance"]),  # not followed
    ]
    c = chat(topics=["online_healthcare", "online_education", "remote_office"])
    d = plan_digests([c], items, ORDER, UNTIL)[1]
    assert [s.topic_id for s in d.sections] == ["remote_office", "online_education", "online_healthcare"]
    assert [s.item_ids for s in d.sections] == [(3,), (2,), (1,)]
    assert d.total == 3


def test_newest_first_inside_a_group():
    items = [item(i, ["online_education"], hours_ago=h) for i, h in [(1, 5), (2, 1), (3, 3)]]
    d = plan_digests([chat(topics=["online_education"])], items, ORDER, UNTIL)[1]
    assert d.sections[0].item_ids == (2, 3, 1)


def test_window_is_since_last_digest_until_cutoff_and_skips_baseline():
    items = [
        item(1, ["online_education"], hours_ago=30),  # before the last digest
        item(2, ["online_education"], hours_ago=5),
        item(3, ["online_education"], hours_ago=-1),  # after the cut-off
        item(4, ["online_education"], hours_ago=2, baseline=True),
    ]
    d = plan_digests([chat(topics=["online_education"])], items, ORDER, UNTIL)[1]
    assert d.item_ids() == [2]
    assert d.since == UNTIL - timedelta(days=1) and d.until == UNTIL


def test_keyword_only_matches_form_the_last_group_with_exclusions():
    items = [
        item(1, ["online_education"], title="在线教育 人工智能"),
        item(2, [], title="人工智能大会开幕"),
        item(3, [], title="人工智能 广告", body="推广"),  # excluded
        item(4, [], title="Shanghai AI week", body="Artificial intelligence forums", source="en"),
        item(5, [], title="无关新闻"),
    ]
    c = chat(topics=["online_education"], rules=[("人工智能", ["广告"]), ("artificial intelligence", [])])
    d = plan_digests([c], items, ORDER, UNTIL)[1]
    assert [(s.topic_id, s.item_ids) for s in d.sections] == [("online_education", (1,)), (None, (4, 2))]  # same time: higher id first
    assert d.keywords[1] == ("人工智能",)  # matched a field AND a keyword: listed under the field, marked
    assert d.keywords[4] == ("artificial intelligence",)
    assert 3 not in d.keywords


def test_keyword_hits_are_per_chat():
    items = [item(1, title="人工智能"), item(2, title="区块链")]
    a, b = chat(1, rules=[("人工智能", [])]), chat(2, rules=[("区块链", []), ("人工智能", [])])
    hits = RuleIndex.build([a, b]).keyword_hits(items)
    assert hits == {1: {1: ("人工智能",)}, 2: {1: ("人工智能",), 2: ("区块链",)}}


def test_nothing_new_is_an_empty_digest():
    d = plan_digests([chat(topics=["online_education"])], [item(1, ["remote_office"])], ORDER, UNTIL)[1]
    assert d.empty and d.total == 0


def test_planner_gives_each_chat_its_own_window():
    planner = DigestPlanner([item(1, ["online_education"], hours_ago=10), item(2, ["online_education"], hours_ago=2)], ORDER)
    recent = chat(1, topics=["online_education"], last=UNTIL - timedelta(hours=5))
    older = chat(2, topics=["online_education"])
    assert planner.plan(recent, UNTIL).item_ids() == [2]
    assert planner.plan(older, UNTIL).item_ids() == [2, 1]


def test_payload_round_trip():
    items = [item(1, ["online_education"]), item(2, title="人工智能")]
    d = plan_digests([chat(topics=["online_education"], rules=[("人工智能", [])])], items, ORDER, UNTIL)[1]
    assert Digest.from_payload(1, d.to_payload()) == d


# ------------------------------------------------------------------------------ when


def test_slot_is_the_latest_digest_time_in_the_chats_zone():
    at_0759 = datetime(2026, 6, 14, 7, 59, tzinfo=SH)
    at_0800 = datetime(2026, 6, 14, 8, 0, 30, tzinfo=SH)
    assert digest_slot(at_0759, "08:00", "Asia/Shanghai") == (datetime(2026, 6, 13, 8, 0, tzinfo=SH), date(2026, 6, 13))
    assert digest_slot(at_0800, "08:00", "Asia/Shanghai") == (datetime(2026, 6, 14, 8, 0, tzinfo=SH), date(2026, 6, 14))
    # 08:00 in London (BST) is 15:00 in Shanghai
    slot, day = digest_slot(datetime(2026, 6, 14, 14, 0, tzinfo=SH), "08:00", "Europe/London")
    assert slot == datetime(2026, 6, 13, 15, 0, tzinfo=SH) and day == date(2026, 6, 13)


def test_due_once_per_slot():
    last = datetime(2026, 6, 13, 8, 0, 5, tzinfo=SH)
    assert digest_due(datetime(2026, 6, 14, 7, 59, tzinfo=SH), "08:00", "Asia/Shanghai", last) is None
    due = digest_due(datetime(2026, 6, 14, 8, 0, tzinfo=SH), "08:00", "Asia/Shanghai", last)
    assert due is not None and digest_ref(due[1]) == "2026-06-14"
    # after it went out (last_digest_at = the cut-off, a few seconds past 08:00) it is not due again
    assert digest_due(datetime(2026, 6, 14, 8, 5, tzinfo=SH), "08:00", "Asia/Shanghai", datetime(2026, 6, 14, 8, 0, 3, tzinfo=SH)) is None
    assert digest_due(datetime(2026, 6, 14, 8, 5, tzinfo=SH), "08:00", "Asia/Shanghai", None) is None


def test_refs():
    assert digest_ref(date(2026, 6, 14)) == "2026-06-14"
    assert digest_now_ref(datetime(2026, 6, 14, 9, 1, 2, tzinfo=SH)) == "now-20260614T010102"


# ------------------------------------------------------------------------------ format


def _digest_for(lang: str, n: int = 3):
    items = [item(i, ["online_education"], title=f"第{i}条 在线教育 <新闻> & more", summary="第一句话。第二句话。") for i in range(1, n + 1)]
    items.append(item(99, [], title="人工智能大会", summary="A summary."))
    c = chat(topics=["online_education"], rules=[("人工智能", [])], lang=lang)
    d = plan_digests([c], items, ORDER, UNTIL)[1]
    fmt = DigestFormatter({i.id: i for i in items}, SOURCES, TOPICS)
    return d, fmt, fmt.blocks(d, "2026-06-14", lang, "Asia/Shanghai")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_blocks_read_in_both_languages(lang):
    d, fmt, blocks = _digest_for(lang)
    text = render_plain([p for b in blocks for p in b])
    if lang == "zh":
        assert "每日摘要（2026-06-14）：4 条新内容" in text
        assert "在线教育：3 条" in text and "关键词匹配：1 条" in text
    else:
        assert "Daily digest (2026-06-14): 4 new items" in text
        assert "Online education: 3" in text and "Keyword matches: 1" in text
    assert "上海卫健委 · 2026-06-14" in text  # source and local date
    assert "https://wsjkw.sh.gov.cn/xwfb/1.html" in text
    assert "第一句话。第二句话。" in text
    # header block + one block per item; group heading rides on the group's first item
    assert len(blocks) == 1 + 4
    assert "▍" in render_plain(blocks[1]) and "▍" not in render_plain(blocks[2])


@pytest.mark.parametrize("lang, header", [("zh", "每日摘要（2026-06-14）：1 条新内容"), ("en", "Daily digest (2026-06-14): 1 new item")])
def test_a_one_item_digest_header_reads_right(lang, header):
    d, fmt, blocks = _digest_for(lang, n=0)  # only the keyword match
    assert d.total == 1
    first = render_plain(blocks[0]).split("\n")[0]
    assert first.endswith(header)


def test_telegram_html_is_escaped_and_keyword_marked():
    _, _, blocks = _digest_for("en")
    html = "\n\n".join(render_telegram_html(b) for b in blocks)
    assert "&lt;新闻&gt; &amp; more" in html
    assert "<b><u>人工智能</u></b>" in html
    assert '<a href="https://wsjkw.sh.gov.cn/xwfb/1.html">' in html


def test_long_digest_splits_at_item_boundaries_under_4096():
    d, fmt, blocks = _digest_for("zh", n=120)
    messages = fmt.messages(d, "2026-06-14", "zh", "Asia/Shanghai", render_telegram_html, TELEGRAM_LIMIT)
    assert len(messages) > 1
    assert all(len(m) <= TELEGRAM_LIMIT for m in messages)
    # every item's link appears exactly once, whole, and no item block is cut in two
    joined = "\n\n".join(messages)
    for i in range(1, 121):
        assert joined.count(f'href="https://wsjkw.sh.gov.cn/xwfb/{i}.html"') == 1
    for m in messages[1:]:
        assert m.startswith("<b>")  # each message starts at an item's title (or group heading)
    # same result as CORE's generic splitter

    assert messages == split_blocks(blocks, render_telegram_html, TELEGRAM_LIMIT)
    assert render_messages(blocks, render_telegram_html, TELEGRAM_LIMIT) == messages


def test_utf8_limit_for_wecom():

    d, fmt, blocks = _digest_for("zh", n=60)
    messages = fmt.messages(d, "2026-06-14", "zh", "Asia/Shanghai", render_wecom_markdown, 4096, utf8_len)
    assert len(messages) > 1 and all(utf8_len(m) <= 4096 for m in messages)

    assert messages == split_blocks(blocks, render_wecom_markdown, 4096, utf8_len)


def test_an_item_longer_than_the_limit_is_split_by_the_generic_splitter():
    huge = item(1, ["online_education"], title="很长" * 3000)
    d = plan_digests([chat(topics=["online_education"])], [huge], ORDER, UNTIL)[1]
    fmt = DigestFormatter({1: huge}, SOURCES, TOPICS)
    blocks = fmt.blocks(d, "2026-06-14", "zh", "Asia/Shanghai")
    messages = fmt.messages(d, "2026-06-14", "zh", "Asia/Shanghai", render_telegram_html, TELEGRAM_LIMIT)
    assert len(messages) >= 2 and all(len(m) <= TELEGRAM_LIMIT for m in messages)

    assert messages == split_blocks(blocks, render_telegram_html, TELEGRAM_LIMIT)
    assert all(m.count("<b>") == m.count("</b>") for m in messages)


@pytest.mark.parametrize("seed", range(5))
def test_fast_messages_equal_the_generic_splitter_on_random_digests(seed):


    rng = random.Random(seed)
    fields = [t for t in ORDER if t != "plan"]
    items = [
        item(i, rng.sample(fields, rng.randint(0, 2)), title="标题" * rng.randint(1, 40) + ("人工智能" if rng.random() < 0.3 else ""),
             summary="句子。" * rng.randint(0, 60), hours_ago=rng.uniform(0, 23))
        for i in range(1, 200)
    ]
    items.append(item(500, [fields[0]], title="长" * 5000))
    c = chat(topics=rng.sample(fields, 4) + [fields[0]], rules=[("人工智能", [])], lang=rng.choice(["zh", "en"]))
    d = plan_digests([c], items, ORDER, UNTIL)[1]
    fmt = DigestFormatter({i.id: i for i in items}, SOURCES, TOPICS)
    for render in (render_telegram_html, render_plain):
        for limit in (4096, 700):
            fast = fmt.messages(d, "2026-06-14", c.lang, c.tz, render, limit)
            assert fast == split_blocks(fmt.blocks(d, "2026-06-14", c.lang, c.tz), render, limit)
            assert all(len(m) <= limit for m in fast)


def test_empty_digest_has_no_blocks_and_the_note_exists_in_both_languages():
    d = Digest(chat_id=1, since=None, until=UNTIL)
    assert DigestFormatter({}, SOURCES, TOPICS).blocks(d, "2026-06-14", "zh", None) == []
    assert render_plain(nothing_new_blocks("zh")[0]) == "自上次摘要以来没有新内容。"
    assert render_plain(nothing_new_blocks("en")[0]) == "Nothing new since your last digest."
    period = nothing_new_blocks("en", datetime(2026, 6, 13, 0, 0, tzinfo=timezone.utc), UNTIL, "Asia/Shanghai")
    assert render_plain(period[0]).startswith("Nothing new for you between 2026-06-13 08:00 and ")


def test_one_line_summary():
    assert one_line("短摘要。\n第二行") == "短摘要。 第二行"
    long_zh = "这是第一句很长的话，" * 8 + "。后面还有更多内容" * 10
    out = one_line(long_zh)
    assert len(out) <= 100 and out.endswith(("。", "…"))
    words = " ".join(["word"] * 60)
    out = one_line(words)
    assert out.endswith("…") and len(out) <= 100 and not re.search(r"wor…$", out)


# ------------------------------------------------------------------------------ the digest job (store)


def _settings(send_empty=False) -> Settings:
    return Settings(database_url="sqlite://", topics=TOPICS, digest=DigestSettings(send_empty=send_empty))


async def _store_items(engine, rows):

    return await ItemStore(engine).insert_items(rows)


async def _chat_with_digest(engine, clock, address="1", topics=("online_education",), tz="Asia/Shanghai", time_="08:00"):

    store = ChatStore(engine, clock)
    c = await store.get_or_create("telegram", address, mode="digest", lang="zh")
    await store.set_topics(c.id, topics)
    await store.set_tz(c.id, tz)
    await store.set_digest(c.id, enabled=True, time=time_)
    return await store.get_by_id(c.id)


async def _digest_rows(engine):


    async with engine.connect() as conn:
        return (await conn.execute(select(deliveries).where(deliveries.c.kind == "digest").order_by(deliveries.c.id))).all()


def _new(i, topics=("online_education",), when=None, title=None):
    return Item("s", f"https://www.shanghai.gov.cn/x/{i}.html", title or f"在线教育 {i}", when, summary="摘要。", body="正文", topics=topics, first_seen_at=when)


async def test_digest_goes_out_once_at_the_chats_time_and_restart_does_not_repeat(engine):

    clock = FakeClock(datetime(2026, 6, 13, 10, 0, tzinfo=SH))  # chat created the day before
    chat_ = await _chat_with_digest(engine, clock)
    clock.set(datetime(2026, 6, 13, 20, 0, tzinfo=SH))
    await _store_items(engine, [_new(1, when=clock.now()), _new(2, topics=("remote_office",), when=clock.now())])
    job = DigestJob.over(engine, _settings(), clock)
    clock.set(datetime(2026, 6, 14, 7, 59, 30, tzinfo=SH))
    assert await job.tick() == 0
    clock.set(datetime(2026, 6, 14, 8, 0, 20, tzinfo=SH))
    assert await job.tick() == 1
    # a second tick, or a new process's job ("restart at 08:00:30"), queues nothing more
    clock.advance(seconds=10)
    assert await job.tick() == 0
    assert await DigestJob.over(engine, _settings(), clock).tick() == 0
    [row] = await _digest_rows(engine)
    assert row.ref == "2026-06-14" and row.chat_id == chat_.id
    assert row.payload["sections"] == [["online_education", [1]]] and row.payload["tz"] == "Asia/Shanghai"
    # the next day's digest covers only what came after
    clock.set(datetime(2026, 6, 14, 12, 0, tzinfo=SH))
    await _store_items(engine, [_new(3, when=clock.now())])
    clock.set(datetime(2026, 6, 15, 8, 0, 1, tzinfo=SH))
    assert await job.tick() == 1
    rows = await _digest_rows(engine)
    assert [r.ref for r in rows] == ["2026-06-14", "2026-06-15"]
    assert rows[1].payload["sections"] == [["online_education", [3]]]


async def test_restart_before_the_commit_plans_the_same_digest_once(engine):
    """The enqueue and last_digest_at move together: replaying the slot is a no-op."""

    clock = FakeClock(datetime(2026, 6, 13, 10, 0, tzinfo=SH))
    chat_ = await _chat_with_digest(engine, clock)
    clock.set(datetime(2026, 6, 13, 20, 0, tzinfo=SH))
    await _store_items(engine, [_new(1, when=clock.now())])
    clock.set(datetime(2026, 6, 14, 8, 0, 5, tzinfo=SH))
    job = DigestJob.over(engine, _settings(), clock)
    assert await job.tick() == 1
    # simulate a process that planned from a stale read: last_digest_at put back, tick again
    await ChatStore(engine, clock).mark_digest(chat_.id, datetime(2026, 6, 13, 10, 0, tzinfo=SH))
    clock.advance(seconds=25)
    assert await job.tick() == 0  # same ref: the outbox ignores the duplicate
    assert len(await _digest_rows(engine)) == 1


async def test_two_leaders_for_a_moment_queue_one_digest_per_chat(engine):
    """Two instances that both believe they lead (one paused past its lease) tick at once:
    the digest's ref is its date, so the outbox keeps one row per chat."""


    clock = FakeClock(datetime(2026, 6, 13, 10, 0, tzinfo=SH))
    chats_ = [await _chat_with_digest(engine, clock, address=str(n)) for n in range(5)]
    clock.set(datetime(2026, 6, 13, 20, 0, tzinfo=SH))
    await _store_items(engine, [_new(1, when=clock.now())])
    clock.set(datetime(2026, 6, 14, 8, 0, 5, tzinfo=SH))
    queued = await asyncio.gather(*(DigestJob.over(engine, _settings(), clock).tick() for _ in range(2)))
    assert sum(queued) == len(chats_)
    rows = await _digest_rows(engine)
    assert sorted(r.chat_id for r in rows) == sorted(c.id for c in chats_)


async def test_nothing_new_sends_nothing_unless_configured(engine):

    clock = FakeClock(datetime(2026, 6, 13, 10, 0, tzinfo=SH))
    await _chat_with_digest(engine, clock)
    clock.set(datetime(2026, 6, 14, 8, 0, 5, tzinfo=SH))
    assert await DigestJob.over(engine, _settings(), clock).tick() == 0
    assert await _digest_rows(engine) == []
    clock.set(datetime(2026, 6, 15, 8, 0, 5, tzinfo=SH))
    assert await DigestJob.over(engine, _settings(send_empty=True), clock).tick() == 1
    [row] = await _digest_rows(engine)
    assert row.payload["sections"] == []


async def test_digest_time_is_in_the_chats_zone(engine):

    clock = FakeClock(datetime(2026, 6, 13, 10, 0, tzinfo=SH))
    await _chat_with_digest(engine, clock, address="1", tz="Europe/London", time_="08:00")
    job = DigestJob.over(engine, _settings(), clock)
    clock.set(datetime(2026, 6, 13, 15, 0, 5, tzinfo=SH))  # 08:00 in London: nothing new yet
    assert await job.tick() == 0
    clock.set(datetime(2026, 6, 13, 20, 0, tzinfo=SH))
    await _store_items(engine, [_new(1, when=clock.now())])
    clock.set(datetime(2026, 6, 14, 8, 0, 5, tzinfo=SH))  # 08:00 in Shanghai, 01:00 in London
    assert await job.tick() == 0
    clock.set(datetime(2026, 6, 14, 15, 0, 5, tzinfo=SH))  # 08:00 in London
    assert await job.tick() == 1
    [row] = await _digest_rows(engine)
    assert row.ref == "2026-06-14"


async def test_digest_now_and_rendering(engine):

    clock = FakeClock(datetime(2026, 6, 13, 10, 0, tzinfo=SH))
    chat_ = await _chat_with_digest(engine, clock)
    clock.set(datetime(2026, 6, 13, 20, 0, tzinfo=SH))
    await _store_items(engine, [_new(1, when=clock.now()), _new(2, when=clock.now(), title="在线教育 <b>")])
    job = DigestJob.over(engine, _settings(), clock)
    assert await job.send_now(chat_) == 1
    [row] = await _digest_rows(engine)
    assert row.ref == "now-20260613T120000"
    [delivery] = await Outbox(engine, clock).claim("w", 5, ["telegram"])
    blocks = (await job.render([delivery]))[delivery.id]
    text = render_telegram_html([p for b in blocks for p in b])
    assert "每日摘要（2026-06-13）：2 条新内容" in text and "在线教育 &lt;b&gt;" in text
    # the 08:00 digest does not repeat what /digest now sent; an empty /digest now says so
    clock.set(datetime(2026, 6, 14, 8, 0, 5, tzinfo=SH))
    assert await job.tick() == 0
    clock.advance(minutes=5)
    assert await job.send_now(chat_) == 1
    rows = await _digest_rows(engine)
    last = [d for d in await Outbox(engine, clock).claim("w", 5, ["telegram"]) if d.id == rows[-1].id][0]
    blocks = (await job.render([last]))[last.id]
    # nothing new: it says which period it looked at (since the 08:00 cut-off, in the chat's zone)
    assert render_plain(blocks[0]) == "2026-06-14 08:00 至 2026-06-14 08:05（+08:00）期间没有与你相关的新内容。"


async def test_a_first_digest_covers_at_least_the_day_before_it(engine):
    """A chat that subscribes and asks /digest now sees the last day (not only the minute
    since it subscribed); an older chat with no digest yet sees everything since it began."""

    clock = FakeClock(datetime(2026, 6, 10, 9, 0, tzinfo=SH))
    old = await _chat_with_digest(engine, clock, address="old")
    clock.set(datetime(2026, 6, 11, 12, 0, tzinfo=SH))
    [earlier] = await _store_items(engine, [_new(1, when=clock.now())])  # two days before now
    clock.set(datetime(2026, 6, 13, 10, 0, tzinfo=SH))
    [today] = await _store_items(engine, [_new(2, when=clock.now())])  # the new chat's day, before it
    clock.set(datetime(2026, 6, 13, 20, 0, tzinfo=SH))
    new = await _chat_with_digest(engine, clock, address="new")
    clock.advance(minutes=1)
    job = DigestJob.over(engine, _settings(), clock)
    digest, _ = await job.preview(new)
    assert digest.item_ids() == [today.id] and digest.since == clock.now() - timedelta(days=1)
    digest, _ = await job.preview(old)
    assert sorted(digest.item_ids()) == sorted([earlier.id, today.id]) and digest.since == old.created_at


async def test_old_items_get_no_instant_alert_but_appear_in_the_digest(engine):
    """max_age_days: dispatch skips items published long ago; the digest still lists them."""

    clock = FakeClock(datetime(2026, 6, 13, 10, 0, tzinfo=SH))
    store = ChatStore(engine, clock)
    c = await store.get_or_create("telegram", "1", mode="both", lang="zh")
    await store.set_topics(c.id, ["online_education"])
    clock.set(datetime(2026, 6, 13, 20, 0, tzinfo=SH))
    fresh = _new(1, when=clock.now())
    old = _new(2, when=clock.now())
    old.published = clock.now() - timedelta(days=4)
    await _store_items(engine, [fresh, old])
    dispatcher = Dispatcher(
        ItemStore(engine), DispatchLog(engine, Outbox(engine, clock)), RuleIndexCache(store), clock, max_age_days=3
    )
    planned = await dispatcher.run()
    assert planned == 1


    async with engine.connect() as conn:
        alerts = (await conn.execute(select(deliveries.c.item_id).where(deliveries.c.kind == "alert"))).scalars().all()
    assert alerts == [1]
    clock.set(datetime(2026, 6, 14, 8, 0, 5, tzinfo=SH))
    assert await DigestJob.over(engine, _settings(), clock).tick() == 1
    [row] = await _digest_rows(engine)
    assert sorted(row.payload["sections"][0][1]) == [1, 2]


# ------------------------------------------------------------------------------ shwatch digest


def _cli_store(tmp_path, *, telegram: str = "", chats=(("telegram", "42", "en"),)):
    """A SQLite store with three fresh items and digest chats; returns (run, db url)."""


    db = tmp_path / "cli.db"
    url = f"sqlite+aiosqlite:///{db}"
    config = tmp_path / "shwatch.toml"
    config.write_text(f'database_url = "{url}"\n{telegram}', encoding="utf-8")
    now = datetime.now(timezone.utc)

    async def prepare():
        await upgrade_to_head(url)
        engine = create_engine(url)
        clock = FakeClock(now - timedelta(days=2))
        store = ChatStore(engine, clock)
        for channel, address, lang in chats:
            c = await store.get_or_create(channel, address, mode="digest", lang=lang)
            await store.set_topics(c.id, ["online_education"])
        await _store_items(engine, [_new(i, when=now - timedelta(hours=i), title=f"Online school item {i}") for i in range(1, 4)])
        await engine.dispose()

    asyncio.run(prepare())
    shwatch = Path(sys.executable).with_name("shwatch")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "SHWATCH_", "WECOM_"))}

    def run(*args):
        return subprocess.run(
            [str(shwatch), "--config", str(config), "digest", *args], capture_output=True, text=True, timeout=90, env=env
        )

    return run, url


def _digest_row_states(url):


    async def read():
        engine = create_engine(url)
        try:
            return [(r.status, r.ref.startswith("now-")) for r in await _digest_rows(engine)]
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_shwatch_digest_prints_what_a_chat_would_get(tmp_path):
    run, url = _cli_store(tmp_path)
    shown = run("--chat", "42")
    assert shown.returncode == 0, shown.stderr
    assert "Daily digest" in shown.stdout and "3 new items" in shown.stdout
    assert shown.stdout.index("Online school item 1") < shown.stdout.index("Online school item 3")
    assert "https://www.shanghai.gov.cn/x/2.html" in shown.stdout
    same = run("--chat", "telegram:42")
    assert same.stdout == shown.stdout  # printing stores nothing
    assert _digest_row_states(url) == []
    bad = run("--chat", "fax:1")
    assert bad.returncode == 2 and "channel:address" in bad.stderr and "Traceback" not in bad.stderr
    missing = run("--chat", "7")
    assert missing.returncode == 1 and "no chat telegram:7" in missing.stderr


def test_shwatch_digest_send_delivers_through_telegram(tmp_path):

    with fake_telegram.FakeTelegram() as api:
        run, url = _cli_store(
            tmp_path,
            telegram=f'[telegram]\ntoken = "{api.token}"\napi_base_url = "{api.base_url}"\n',
            chats=(("telegram", "42", "en"), ("telegram", "43", "zh")),
        )
        sent = run("--chat", "42", "--send")
        assert sent.returncode == 0, sent.stderr
        assert "digest sent to telegram:42" in sent.stdout
        [message] = api.messages_to(42)
        assert message.parse_mode == "HTML"
        assert message.text.startswith("<b>") and "Daily digest" in message.text and "3 new items" in message.text
        assert "Online school item 1" in message.text and "https://www.shanghai.gov.cn/x/3.html" in message.text
        assert _digest_row_states(url) == [("sent", True)]
        assert api.token not in sent.stdout + sent.stderr
        # the chat's next digest starts after this one
        after = run("--chat", "42")
        assert after.returncode == 0 and "Nothing new for you between" in after.stdout
        # a chat that blocked the bot: told so, chat inactive, nothing left pending
        api.block(43)
        blocked = run("--chat", "43", "--send")
        assert blocked.returncode == 1 and "blocked the bot" in blocked.stderr and "Traceback" not in blocked.stderr
        assert _digest_row_states(url) == [("sent", True), ("dropped", True)]
        assert api.violations == []


def test_shwatch_digest_send_without_a_reachable_telegram_leaves_it_queued(tmp_path):

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    token = "123456789:AAUnreachableTokenNeverPrinted_xyz"
    run, url = _cli_store(tmp_path, telegram=f'[telegram]\ntoken = "{token}"\napi_base_url = "http://127.0.0.1:{port}/bot"\n')
    down = run("--chat", "42", "--send")
    assert down.returncode == 1
    assert "cannot reach the Telegram Bot API" in down.stderr and "stays queued" in down.stderr
    assert token not in down.stdout + down.stderr and "Traceback" not in down.stderr
    assert _digest_row_states(url) == [("pending", True)]


def test_shwatch_digest_send_without_a_token_says_so(tmp_path):
    run, url = _cli_store(tmp_path)
    sent = run("--chat", "42", "--send")
    assert sent.returncode == 1 and "no Telegram token configured" in sent.stderr and "stays queued" in sent.stderr
    assert _digest_row_states(url) == [("pending", True)]


def test_shwatch_digest_send_to_the_console_prints_it(tmp_path):
    run, url = _cli_store(tmp_path, chats=(("console", "stdout", "zh"),))
    sent = run("--chat", "console:stdout", "--send")
    assert sent.returncode == 0, sent.stderr
    assert "每日摘要" in sent.stdout and "3 条新内容" in sent.stdout and "Online school item 2" in sent.stdout
    assert "recorded as sent" in sent.stdout
    assert _digest_row_states(url) == [("sent", True)]


def test_shwatch_digest_console_by_name_and_a_broken_pipe_is_not_sent(tmp_path):

    run, url = _cli_store(tmp_path, chats=(("console", "stdout", "en"),))
    preview = run("--chat", "console")  # the console chat by its name alone
    assert preview.returncode == 0 and "Online school item 2" in preview.stdout
    # `shwatch digest --chat console --send | head`: the reader is gone before the digest is
    # printed; the digest is not counted as sent, it waits for the next try
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "SHWATCH_", "WECOM_"))}
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("shwatch")), "--config", str(tmp_path / "shwatch.toml"), "digest",
         "--chat", "console", "--send"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )
    proc.stdout.close()
    proc.wait(90)
    assert _digest_row_states(url) == [("pending", True)]  # queued now, still waiting


def test_shwatch_digest_console_works_before_the_service_ever_ran(tmp_path):
    """A first-time user polls, then previews a digest: no chat exists yet. The preview shows
    the console chat as the service would make it (every field) and stores nothing; --send
    makes the console chat, as the service does, and prints the digest."""


    async def console_chat(url):
        engine = create_engine(url)
        try:
            return await ChatStore(engine).get("console", "stdout")
        finally:
            await engine.dispose()

    run, url = _cli_store(tmp_path, chats=(), telegram='[console]\nlang = "zh"\n')
    preview = run("--chat", "console")
    assert preview.returncode == 0, preview.stderr
    assert "每日摘要" in preview.stdout and all(f"Online school item {i}" in preview.stdout for i in range(1, 4))
    assert asyncio.run(console_chat(url)) is None and _digest_row_states(url) == []  # nothing stored
    sent = run("--chat", "console", "--send")
    assert sent.returncode == 0, sent.stderr
    assert "Online school item 3" in sent.stdout and "recorded as sent" in sent.stdout
    chat = asyncio.run(console_chat(url))
    assert chat is not None and chat.lang == "zh" and "online_education" in chat.topics and len(chat.topics) == 13
    assert _digest_row_states(url) == [("sent", True)]
