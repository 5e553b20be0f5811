"""Bounded polls: a poll reads at most ``max_articles_per_poll`` articles of a source (newest
first); the rest are stored pending and read by later polls, never twice; a pending item is
alerted once its article is in and tagged; a poll that reaches its deadline keeps what it
did and leaves the rest pending. Through the real Poller, the real fake press site, and the
store on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import datetime, timezone

import fake_press
from shwatch_run import SHWATCH
from sqlalchemy import event

from bot.core.clock import FakeClock
from bot.jobs.alerts import Dispatcher, RuleIndexCache
from bot.service import Stores
from config.model import FetchSettings, Settings, Source, Topic
from monitors.fetch import Fetcher
from monitors.model import ArticleState
from monitors.poll import Poller
from monitors.tagger import Tagger

TOPICS = (Topic("online_healthcare", "在线医疗", "Online healthcare", zh=("互联网医院",)),)
NOW = datetime(2026, 6, 13, 8, 0, tzinfo=timezone.utc)


def _settings(source: Source, **fetch) -> Settings:
    return Settings(
        database_url="unused", sources=(source,), topics=TOPICS,
        fetch=FetchSettings(timeout=3, connect_timeout=1, **fetch),
    )


async def test_a_flood_of_new_links_is_read_a_budget_at_a_time_and_alerted_once_complete(engine):
    with fake_press.FakePress() as site:
        source = Source("xwfb", "新闻发布", site.list_url("xwfb"))
        settings = _settings(source, max_articles_per_poll=2)
        clock = FakeClock(NOW)
        stores = Stores.over(engine, clock)
        chat = await stores.chats.get_or_create("telegram", "1")
        await stores.chats.add_topics(chat.id, ["online_healthcare"])
        dispatcher = Dispatcher(stores.items, stores.dispatched, RuleIndexCache(stores.chats), clock, max_age_days=3650)
        async with Fetcher(settings.fetch) as fetcher:
            poller = Poller(settings, stores.items, fetcher, Tagger(TOPICS), clock=clock.now)
            assert (await poller.poll_source(source)).ok  # the baseline
            urls = [
                site.publish("xwfb", f"互联网医院第{n}号通知", f"第{n}号：本市互联网医院新增服务。", f"2026-06-13 0{n}:00")
                for n in range(1, 6)
            ]
            newest_first = list(reversed(urls))
            seen: list[str] = []
            alerted: list[int] = []
            for expected in (newest_first[:2], newest_first[2:4], newest_first[4:]):
                report = await poller.poll_source(source)
                assert report.ok
                assert [i.url for i in report.new_items] == expected  # each item once, when complete
                assert all(i.article is ArticleState.FETCHED and i.summary for i in report.new_items)
                seen += expected
                await dispatcher.run()
                rows = await stores.outbox.pending_for_chat(chat.id, "alert")
                alerted = sorted(int(d.ref) for d in rows)
                by_id = await stores.items.items_by_id(alerted)
                assert sorted(by_id[i].url for i in alerted) == sorted(seen)  # alerted once complete, not before
            for url in urls:  # every article read exactly once
                assert site.paths().count("/" + url.split("/", 3)[3]) == 1
            assert len(alerted) == 5 and len(set(alerted)) == 5


async def test_a_poll_that_reaches_its_deadline_keeps_what_it_did_and_leaves_the_rest_pending(engine):
    with fake_press.FakePress() as site:
        source = Source("xwfb", "新闻发布", site.list_url("xwfb"))
        clock = FakeClock(NOW)
        stores = Stores.over(engine, clock)
        async with Fetcher(_settings(source).fetch) as fetcher:
            poller = Poller(_settings(source), stores.items, fetcher, Tagger(TOPICS), clock=clock.now)
            assert (await poller.poll_source(source)).ok
            slow = site.publish("xwfb", "互联网医院长文", "本市互联网医院新增服务。", "2026-06-13 08:00", delay=3.0)
            quick = site.publish("xwfb", "互联网医院快讯", "本市互联网医院新增服务。", "2026-06-13 09:00")  # on top
            tight = Poller(_settings(source, poll_deadline=1.0, article_concurrency=1), stores.items, fetcher,
                           Tagger(TOPICS), clock=clock.now)
            report = await tight.poll_source(source)
            assert report.ok and [i.url for i in report.new_items] == [quick]
            pending = await stores.items.pending_items("xwfb", 10)
            assert [i.url for i in pending] == [slow] and pending[0].title == "互联网医院长文"
            site.set_delay(slow, 0.0)
            later = await poller.poll_source(source)
            assert [i.url for i in later.new_items] == [slow]
            assert await stores.items.pending_items("xwfb", 10) == []


async def test_an_unchanged_poll_asks_the_store_about_pending_articles_only_while_some_may_be_left(engine):
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    def item_queries() -> list[str]:
        found = [s for s in statements if "items" in s]
        statements.clear()
        return found

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        with fake_press.FakePress() as site:
            source = Source("xwfb", "新闻发布", site.list_url("xwfb"))
            settings = _settings(source, baseline_articles=0, max_articles_per_poll=1)
            clock = FakeClock(NOW)
            stores = Stores.over(engine, clock)
            async with Fetcher(settings.fetch) as fetcher:
                poller = Poller(settings, stores.items, fetcher, Tagger(TOPICS), clock=clock.now)
                assert (await poller.poll_source(source)).ok  # the baseline: its two same-site articles pending
                assert len(await stores.items.pending_items("xwfb", 10)) == 2
                item_queries()
                for left in (1, 0):  # one article a poll, the list unchanged (304)
                    report = await poller.poll_source(source)
                    assert report.ok and report.not_modified
                    assert len(await stores.items.pending_items("xwfb", 10)) == left
                # the look-up of the last poll found as many as it asked for: the next one asks again
                item_queries()
                report = await poller.poll_source(source)
                assert report.ok and report.not_modified
                assert [q.split()[1] for q in item_queries()] == ["items.id,"]  # the source's pending look-up
                # that one found none: from now on a 304 poll does not touch the items at all
                for _ in range(2):
                    report = await poller.poll_source(source)
                    assert report.ok and report.not_modified
                    assert item_queries() == []
                # a restarted process asks once which sources have pending articles, then trusts it
                restarted = Poller(settings, stores.items, fetcher, Tagger(TOPICS), clock=clock.now)
                for _ in range(2):
                    assert (await restarted.poll_source(source)).not_modified
                assert [q.split()[1] for q in item_queries()] == ["DISTINCT"]
                # a new article that has to wait for a later poll is read by it
                site.publish("xwfb", "互联网医院甲", "本市互联网医院新增服务。", "2026-06-13 08:00")
                site.publish("xwfb", "互联网医院乙", "本市互联网医院新增服务。", "2026-06-13 09:00")
                assert [i.title for i in (await restarted.poll_source(source)).new_items] == ["互联网医院乙"]
                report = await restarted.poll_source(source)
                assert report.not_modified and [i.title for i in report.new_items] == ["互联网医院甲"]
            statuses = site.statuses("/" + source.url.split("/", 3)[3])
            assert statuses.count(304) == 8
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


def test_poll_json_prints_each_item_once_in_the_poll_that_completes_it(tmp_path):
    with fake_press.FakePress() as site:
        config = tmp_path / "shwatch.toml"
        config.write_text(
            f'database_url = "sqlite+aiosqlite:///{tmp_path / "db.sqlite"}"\nlog_level = "WARNING"\n'
            "[fetch]\nmax_articles_per_poll = 1\nbaseline_articles = 0\n"
            f'[[sources]]\nid = "xwfb"\nname = "新闻发布"\nurl = "{site.list_url("xwfb")}"\n',
            encoding="utf-8",
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHWATCH_")}

        def poll() -> list[dict]:
            out = subprocess.run([str(SHWATCH), "--config", str(config), "poll", "--once", "--json"],
                                 capture_output=True, text=True, timeout=60, env=env)
            assert out.returncode == 0, out.stderr
            return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]

        first = poll()
        assert first and all(i["baseline"] for i in first)
        # baseline_articles = 0: nothing read yet; the mp.weixin.qq.com link is never read
        assert {i["article"] for i in first} == {"pending", "foreign"}
        b = site.publish("xwfb", "新文章乙", "正文乙。", "2026-06-13 09:00")
        a = site.publish("xwfb", "新文章甲", "正文甲。", "2026-06-13 10:00")  # on top: the newest
        printed = [i["url"] for i in poll()] + [i["url"] for i in poll()]
        assert printed == [a, b]  # one per poll, newest first, each once
        assert all(line["article"] == "fetched" for line in poll() if not line["baseline"])
