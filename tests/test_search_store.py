"""ItemStore.search and the archive's counts, on a store built by the migrations (SQLite's
FTS5 trigram index, PostgreSQL's pg_trgm index), with Chinese and English items."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from alembic import command
from sqlalchemy import delete, update

from bot.store.migrate import alembic_config, upgrade_to_head
from monitors.db import create_engine, items
from monitors.model import Item
from monitors.store import SEARCH_MAX_CHARS, ItemStore, SearchTextError, search_terms

SHANGHAI = timezone(timedelta(hours=8))
DAY0 = datetime(2026, 6, 1, 9, 30, tzinfo=SHANGHAI)


def item(n: int, title: str, *, summary: str = "", body: str = "", days: float = 0, **kw) -> Item:
    """Item ``n``, published ``days`` after DAY0."""
    published = DAY0 + timedelta(days=days)
    fields = dict(
        source_id="shgov-yw",
        url=f"https://www.shanghai.gov.cn/nw4411/{n:08d}.html",
        title=title,
        published=published,
        summary=summary,
        body=body,
        first_seen_at=published + timedelta(minutes=5),
    )
    fields.update(kw)
    return Item(**fields)


@pytest.fixture
async def store(db_url):
    await upgrade_to_head(db_url)
    engine = create_engine(db_url)
    yield ItemStore(engine)
    await engine.dispose()


async def titles(store: ItemStore, text: str = "", **kw) -> list[str]:
    found, total = await store.search(text, **kw)
    assert total == len(found)
    return [i.title for i in found]


async def test_a_two_character_chinese_word_is_found_wherever_it_stands(store):
    await store.insert_items([
        item(1, "上海市第一人民医院发布互联网诊疗服务指南", days=1),
        item(2, "本市新增两家互联网医院", days=2),  # at the very end of the title
        item(3, "卫健委发布夏季健康提示", summary="各区医院做好防暑工作", days=3),
        item(4, "市政府常务会议召开", body="会议研究了公立医院", days=4),  # at the end of the body
        item(5, "医学院附属学校开学", body="医疗卫生学院", days=5),  # 医 and 院, never 医院
        item(6, "Shanghai Hospital opens online clinic", days=6),
    ])
    assert await titles(store, "医院") == [
        "市政府常务会议召开", "卫健委发布夏季健康提示", "本市新增两家互联网医院", "上海市第一人民医院发布互联网诊疗服务指南",
    ]
    assert await titles(store, "互联网医院") == ["本市新增两家互联网医院"]
    assert await titles(store, "hospital") == ["Shanghai Hospital opens online clinic"]
    assert await titles(store, "CLINIC") == ["Shanghai Hospital opens online clinic"]
    assert await titles(store, "医院 互联网") == ["本市新增两家互联网医院", "上海市第一人民医院发布互联网诊疗服务指南"]
    assert await titles(store, "医院 夏季") == ["卫健委发布夏季健康提示"]
    assert await titles(store, "医院 无人工厂") == []
    assert await titles(store, "院长") == []  # a two-character word found nowhere


async def test_filters_by_topic_source_and_time_and_pages_newest_first(store):
    batch = [
        item(n, f"在线教育平台第{n}期", days=n, topics=("online_education",) if n % 2 else ("online_education", "remote_office"),
             source_id="shio-ywts" if n % 3 == 0 else "shgov-yw")
        for n in range(1, 26)
    ]
    batch.append(item(99, "无日期的在线教育通知", published=None, first_seen_at=DAY0 + timedelta(days=30)))
    await store.insert_items(batch)

    page, total = await store.search("在线教育", limit=10)
    assert total == 26
    assert [i.title for i in page[:3]] == ["无日期的在线教育通知", "在线教育平台第25期", "在线教育平台第24期"]
    last, total = await store.search("在线教育", limit=10, offset=20)
    assert total == 26 and [i.title for i in last] == [f"在线教育平台第{n}期" for n in range(6, 0, -1)]
    beyond, total = await store.search("在线教育", limit=10, offset=40)
    assert beyond == [] and total == 26
    _, capped = await store.search("在线教育", limit=10, count_limit=12)
    assert capped == 12

    assert await titles(store, topic="remote_office") == [f"在线教育平台第{n}期" for n in range(24, 0, -2)]
    assert await titles(store, "平台", topic="remote_office", source_id="shio-ywts") == [
        "在线教育平台第24期", "在线教育平台第18期", "在线教育平台第12期", "在线教育平台第6期",
    ]
    assert await titles(store, topic="online_healthcare") == []
    # [since, until): the item published exactly at `until` is left out, the one at `since` kept
    assert await titles(store, since=DAY0 + timedelta(days=3), until=DAY0 + timedelta(days=6)) == [
        "在线教育平台第5期", "在线教育平台第4期", "在线教育平台第3期",
    ]
    assert await titles(store, "教育", since=DAY0 + timedelta(days=29)) == ["无日期的在线教育通知"]


async def test_search_text_is_taken_literally(store):
    await store.insert_items([
        item(1, 'Report "50%_off" NEAR(deal) AND more*', days=1),
        item(2, "Report 50 percent off", days=2),
        item(3, r"路径 C:\temp 与《数据条例》", days=3),
    ])
    assert await titles(store, "50%_off") == ['Report "50%_off" NEAR(deal) AND more*']
    assert await titles(store, "0%") == ['Report "50%_off" NEAR(deal) AND more*']
    assert await titles(store, "NEAR(deal)") == ['Report "50%_off" NEAR(deal) AND more*']
    assert await titles(store, "more*") == ['Report "50%_off" NEAR(deal) AND more*']
    assert await titles(store, r"C:\temp") == [r"路径 C:\temp 与《数据条例》"]
    assert await titles(store, "“数据条例”") == [r"路径 C:\temp 与《数据条例》"]  # quote marks around a word are dropped
    assert await titles(store, "NOT deal") == []  # no "not" in any item: words, not operators


def test_search_terms_rules():
    assert search_terms("  医院   人工智能 医院 ") == ("医院", "人工智能")
    assert search_terms("《数据条例》 \u3000“AI”") == ("数据条例", "AI")
    assert search_terms("") == ()
    with pytest.raises(SearchTextError) as info:
        search_terms("医" * (SEARCH_MAX_CHARS + 1))
    assert info.value.reason == "too_long" and info.value.params == {"length": SEARCH_MAX_CHARS + 1, "limit": SEARCH_MAX_CHARS}
    with pytest.raises(SearchTextError) as info:
        search_terms("医院 猪")
    assert info.value.reason == "short_term" and info.value.params["term"] == "猪"


async def test_the_index_follows_edits_and_deletions(store):
    [first, second] = await store.insert_items([item(1, "智慧养老服务平台上线", days=1), item(2, "养老机构检查", days=2)])
    async with store.engine.begin() as conn:
        await conn.execute(update(items).where(items.c.id == first.id).values(title="智慧社区服务平台上线"))
        await conn.execute(delete(items).where(items.c.id == second.id))
        await conn.execute(update(items).values(tagging="v2"))  # a retag touches other columns
    assert await titles(store, "养老") == []
    assert await titles(store, "智慧社区") == ["智慧社区服务平台上线"]


async def test_compacting_the_index_keeps_every_item_findable(store):
    for n in range(12):  # one write each: a segment each on SQLite
        await store.insert_items([item(n, f"第{n}家互联网医院上线", days=n)])
    await store.compact_search_index()
    await store.compact_search_index(pages=10)
    found, total = await store.search("医院", limit=5)
    assert total == 12 and [i.title for i in found] == [f"第{n}家互联网医院上线" for n in range(11, 6, -1)]


async def test_items_stored_before_the_search_migration_are_indexed(db_url):
    engine = create_engine(db_url)
    try:

        async with engine.connect() as conn:
            await conn.run_sync(lambda sync: command.upgrade(alembic_config(sync), "0003"))  # before search
            await conn.commit()
        await ItemStore(engine).insert_items([item(1, "长三角一体化示范区建设推进会召开"), item(2, "浦东新区发布人才政策", days=1)])
        await upgrade_to_head(engine)
        store = ItemStore(engine)
        assert await titles(store, "示范区") == ["长三角一体化示范区建设推进会召开"]
        assert await titles(store, "浦东") == ["浦东新区发布人才政策"]
        assert await titles(store) == ["浦东新区发布人才政策", "长三角一体化示范区建设推进会召开"]
    finally:
        await engine.dispose()


async def test_counts_per_topic_and_source_in_periods(store):
    await store.insert_items([
        item(1, "a1", days=0, topics=("online_education",)),
        item(2, "a2", days=1, topics=("online_education", "remote_office")),
        item(3, "a3", days=7, topics=("remote_office",), source_id="shio-ywts"),
        item(4, "a4", days=8, topics=()),
        item(5, "a5", days=30, topics=("online_education",)),  # after every period
    ])
    week1 = (DAY0, DAY0 + timedelta(days=7))
    week2 = (DAY0 + timedelta(days=7), DAY0 + timedelta(days=14))
    both = (DAY0, DAY0 + timedelta(days=14))
    assert await store.count_by_topic([week1, week2, both]) == {
        "online_education": [2, 0, 2],
        "remote_office": [1, 1, 2],
    }
    assert await store.count_by_source([week1, week2]) == {"shgov-yw": [2, 1], "shio-ywts": [0, 1]}
    assert await store.count_by_source([]) == {}
    before = DAY0 - timedelta(days=10)
    assert await store.count_by_topic([(before, DAY0)]) == {}
