"""Matching items to chats with one automaton, dispatching alerts, formatting them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import fake_telegram
from sqlalchemy import delete, insert, select

from bot.core.clock import FakeClock
from bot.core.format import alert_blocks, format_time, labelled_time
from bot.core.match import RuleIndex
from bot.core.model import AlertRule, Chat, Match
from bot.core.text import TELEGRAM_LIMIT, Bold, Mark, render_telegram_html, render_wecom_markdown, split_blocks
from bot.jobs.alerts import Dispatcher, RuleIndexCache
from bot.store.chats import ChatStore
from bot.store.dispatch import DispatchLog
from bot.store.outbox import Outbox
from bot.store.schema import deliveries, dispatched_items
from config.model import Topic
from monitors.db import items
from monitors.model import Item
from monitors.store import ItemStore

NOW = datetime(2026, 6, 14, 2, 0, tzinfo=timezone.utc)


def _chat(cid, topics=(), rules=(), mode="instant", active=True):
    return Chat(
        id=cid, channel="telegram", address=str(cid), mode=mode, active=active, topics=frozenset(topics),
        rules=tuple(AlertRule(cid * 100 + i, cid, kw, tuple(ex)) for i, (kw, ex) in enumerate(rules)),
    )


def _item(title, body="", topics=(), **kw):
    return Item(source_id="s", url="https://x.cn/1", title=title, published=None, body=body, topics=tuple(topics), **kw)


def test_keywords_zh_and_en_with_excludes_and_topics():
    index = RuleIndex.build([
        _chat(1, rules=[("人工智能", ["招聘"]), ("machine learning", [])]),
        _chat(2, topics=["online_education"], rules=[("AI", ["Adobe Illustrator"])]),
        _chat(3, rules=[("5G", [])], active=False),
        _chat(4, topics=["online_education", "online_healthcare"]),
    ])
    item = _item(
        "上海推进人工智能与在线教育融合",
        "Machine-learning platforms and AI tutors. 5G coverage.",
        topics=["online_education"],
    )
    assert index.match(item) == [
        Match(1, (), ("machine learning", "人工智能")),
        Match(2, ("online_education",), ("AI",)),
        Match(4, ("online_education",), ()),
    ]
    # an exclude term removes only its own rule
    item2 = _item("人工智能企业招聘会", "AI in Adobe Illustrator; machine learning jobs")
    assert index.match(item2) == [Match(1, (), ("machine learning",))]
    # word boundaries for Latin keywords; "AI" is not in "Shanghai"
    assert index.match(_item("Shanghai maintains training")) == []
    assert index.match_chat(item, 4) == Match(4, ("online_education",), ())
    assert index.match_chat(item, 3) is None


def test_matching_ten_thousand_chats_is_one_scan(monkeypatch):
    chats = [_chat(i, topics=["online_finance"] if i % 3 == 0 else (), rules=[(f"关键词{i}", []), (f"term{i}", [])])
             for i in range(1, 10_001)]
    index = RuleIndex.build(chats)
    assert index.rule_count == 20_000
    calls = []
    real_scan = index._terms.scan_normalized
    monkeypatch.setattr(index._terms, "scan_normalized", lambda text: calls.append(text) or real_scan(text))
    found = index.match(_item("关键词77 与 term9999", "在线金融", topics=["online_finance"]))
    assert len(calls) == 1
    by_chat = {m.chat_id: m for m in found}
    assert by_chat[77].keywords == ("关键词77",)
    assert by_chat[7].keywords == ("关键词7",)  # Chinese keywords match as substrings
    assert by_chat[777] == Match(777, ("online_finance",), ())  # a topic follower, no keyword
    assert by_chat[9999].keywords == ("term9999",)
    assert by_chat[999].keywords == ()  # a Latin keyword needs word boundaries: term999 is not in term9999
    assert len([m for m in found if m.topics]) == 3333


async def _add_item(engine, url, title, body="", topics=(), baseline=False, published=None, first_seen=NOW):
    async with engine.begin() as conn:
        result = await conn.execute(
            insert(items).values(
                url=url, source_id="wsjkw-xwfb", title=title, body=body, topics=list(topics),
                matched={t: ["互联网医院"] for t in topics}, baseline=baseline, published=published,
                first_seen_at=first_seen,
            ).returning(items.c.id)
        )
        return result.scalar_one()


def _dispatcher(engine, cache, clock, max_age_days=3):
    return Dispatcher(
        ItemStore(engine), DispatchLog(engine, Outbox(engine, clock)), cache, clock, max_age_days=max_age_days
    )


async def _deliveries(engine):
    async with engine.connect() as conn:
        return [(r.chat_id, r.kind, r.ref, r.item_id, r.payload) for r in
                (await conn.execute(select(deliveries).order_by(deliveries.c.chat_id, deliveries.c.id))).all()]


async def test_dispatch_plans_instant_alerts_once_and_skips_baseline_old_and_digest_only(engine):
    clock = FakeClock(NOW)
    store = ChatStore(engine, clock)
    instant = await store.get_or_create("telegram", "1")
    both = await store.get_or_create("telegram", "2")
    digest_only = await store.get_or_create("telegram", "3")
    await store.add_topics(instant.id, ["online_healthcare"])
    await store.add_rule(both.id, "互联网医院", ["停诊"])
    await store.set_mode(both.id, "both")
    await store.add_topics(digest_only.id, ["online_healthcare"])
    await store.set_mode(digest_only.id, "digest")
    provider = RuleIndexCache(store)
    dispatcher = _dispatcher(engine, provider, clock)
    log = dispatcher.dispatched

    fresh = await _add_item(engine, "https://a/1", "互联网医院上线", topics=["online_healthcare"],
                            published=NOW - timedelta(hours=3))
    baseline = await _add_item(engine, "https://a/2", "互联网医院旧闻", topics=["online_healthcare"], baseline=True)
    old = await _add_item(engine, "https://a/3", "互联网医院", topics=["online_healthcare"],
                          published=NOW - timedelta(days=4))
    old_unknown_date = await _add_item(engine, "https://a/4", "互联网医院", first_seen=NOW - timedelta(days=5))
    excluded = await _add_item(engine, "https://a/5", "互联网医院停诊通知", published=NOW)

    assert await dispatcher.run() == 2
    assert await _deliveries(engine) == [
        (instant.id, "alert", str(fresh), fresh, {"topics": ["online_healthcare"], "keywords": []}),
        (both.id, "alert", str(fresh), fresh, {"topics": [], "keywords": ["互联网医院"]}),
    ]
    _cursor, done = await log.position()
    assert baseline not in done
    assert done == {fresh, old, old_unknown_date, excluded}
    assert await log.backlog(ItemStore(engine)) == 0
    async with engine.connect() as conn:
        marked = dict((await conn.execute(select(dispatched_items.c.item_id, dispatched_items.c.dispatched_at))).all())
    assert baseline not in marked
    assert {marked[i] for i in (fresh, old, old_unknown_date, excluded)} == {NOW}
    # a second run has nothing to do; re-planning the same item is ignored by the outbox
    assert await dispatcher.run() == 0
    async with engine.begin() as conn:
        await conn.execute(delete(dispatched_items).where(dispatched_items.c.item_id == fresh))
    assert fresh not in (await log.position())[1]
    assert await dispatcher.run() == 0
    assert len(await _deliveries(engine)) == 2
    assert provider.builds == 1
    # a new subscriber: the provider rebuilds once, and the next item reaches them too
    late = await store.get_or_create("telegram", "4")
    await store.add_rule(late.id, "互联网医院")
    newest = await _add_item(engine, "https://a/6", "互联网医院又一家", published=NOW)
    assert await dispatcher.run() == 2
    assert provider.builds == 2
    assert [d[0] for d in await _deliveries(engine) if d[2] == str(newest)] == [both.id, late.id]
    assert (await ItemStore(engine).items_by_id([newest, None]))[newest].title == "互联网医院又一家"


def test_alert_block_has_bold_title_source_date_summary_highlights_and_link():
    topics = [Topic("online_healthcare", "在线医疗", "Online healthcare", ("互联网医院",), ("internet hospital",))]
    item = Item(
        source_id="wsjkw-xwfb", url="https://wsjkw.sh.gov.cn/x?a=1&b=2", title="本市新增 5 家互联网医院 <通知>",
        published=datetime(2026, 6, 13, 6, 6, tzinfo=timezone.utc), summary="互联网医院覆盖 16 个区。",
        matched={"online_healthcare": ["互联网医院"]}, topics=("online_healthcare",),
    )
    match = Match(1, ("online_healthcare",), ("5 家",))
    (block,) = alert_blocks(item, "市卫健委", match, "zh", topics=topics)
    assert block[0] == (Bold("本市新增 "), Mark("5 家"), Mark("互联网医院"), Bold(" <通知>"))
    html = render_telegram_html(block)
    assert html.splitlines() == [
        "<b>本市新增 </b><b><u>5 家</u></b><b><u>互联网医院</u></b><b> &lt;通知&gt;</b>",
        "市卫健委 · 2026-06-13 14:06 (+08:00)",  # the chat's zone, named
        "<b><u>互联网医院</u></b>覆盖 16 个区。",
        "领域：在线医疗（<b><u>互联网医院</u></b>）",
        "关键词：<b><u>5 家</u></b>",
        '<a href="https://wsjkw.sh.gov.cn/x?a=1&amp;b=2">阅读原文</a>',
    ]
    (berlin,) = alert_blocks(item, "市卫健委", match, "zh", topics=topics, tz="Europe/Berlin")
    assert render_telegram_html(berlin).splitlines()[1] == "市卫健委 · 2026-06-13 08:06 (Europe/Berlin)"  # a chat's own zone
    (en,) = alert_blocks(item, "Health Commission", match, "en", topics=topics)
    md = render_wecom_markdown(en)
    assert "Fields: Online healthcare (**互联网医院**)" in md
    assert "Keywords: **5 家**" in md
    assert md.endswith("[Read the original](https://wsjkw.sh.gov.cn/x?a=1&b=2)")


def test_dates_in_shanghai_and_date_only():
    assert format_time(datetime(2026, 6, 13, 16, 0, tzinfo=timezone.utc)) == "2026-06-14"  # midnight there
    assert format_time(datetime(2026, 6, 13, 16, 5, tzinfo=timezone.utc)) == "2026-06-14 00:05"
    assert format_time(None) == ""
    # labelled: an instant names its zone, a calendar date does not
    assert labelled_time(datetime(2026, 6, 13, 16, 5, tzinfo=timezone.utc)) == "2026-06-14 00:05 (+08:00)"
    assert labelled_time(datetime(2026, 6, 13, 16, 0, tzinfo=timezone.utc)) == "2026-06-14"
    assert labelled_time(None) == ""


def test_a_matched_term_that_is_the_fields_name_is_not_repeated():
    topics = [Topic("online_education", "在线教育", "Online education", ("在线教育",), ("online education",))]
    item = Item(source_id="s", url="https://x.cn/e", title="在线教育新政", published=None,
                matched={"online_education": ["在线教育", "智慧课堂"]}, topics=("online_education",))
    match = Match(1, ("online_education",), ())
    (zh,) = alert_blocks(item, "源", match, "zh", topics=topics)
    assert render_telegram_html([zh[-2]]) == "领域：在线教育（<b><u>智慧课堂</u></b>）"
    only_name = Item(source_id="s", url="https://x.cn/f", title="Online education", published=None,
                     matched={"online_education": ["online education"]}, topics=("online_education",))
    (en,) = alert_blocks(only_name, "src", match, "en", topics=topics)
    assert render_telegram_html([en[-2]]) == "Fields: Online education"


def test_keywords_are_literal_never_patterns():
    keywords = ["C++", ".*", "[a-z]+", "5G (SA)", "a.b", "$100", "Covid-19", "人工*智能"]
    index = RuleIndex.build([_chat(i + 1, rules=[(kw, [])]) for i, kw in enumerate(keywords)])

    def hits(title):
        return sorted(kw for m in index.match(_item(title)) for kw in m.keywords)

    assert hits("plain words, nothing special") == []  # ".*" and "[a-z]+" are not patterns
    assert hits("axb, 5G SA, C+ grade, 人工智能, Covid19, $1000") == []
    assert hits("a.b and C++ and .* here") == sorted(["a.b", "C++", ".*"])
    assert hits("5G (SA) networks cost $100; Covid-19; 人工*智能; [a-z]+") == sorted(
        ["5G (SA)", "$100", "Covid-19", "人工*智能", "[a-z]+"]
    )


def test_an_alert_with_an_absurd_title_splits_into_valid_telegram_messages():

    topics = [Topic("online_healthcare", "在线医疗", "Online healthcare", ("互联网医院",), ())]
    item = Item(
        source_id="s", url="https://x.cn/a?b=1&c=<2>", title=("互联网医院 <b>&amp; 标题。" * 600),
        published=datetime(2026, 6, 13, 6, 6, tzinfo=timezone.utc), summary="互联网医院覆盖 16 个区。" * 100,
        matched={"online_healthcare": ["互联网医院"]}, topics=("online_healthcare",),
    )
    blocks = alert_blocks(item, "市卫健委", Match(1, ("online_healthcare",), ("标题",)), "zh", topics=topics)
    parts = split_blocks(blocks, render_telegram_html, TELEGRAM_LIMIT)
    assert len(parts) >= 3
    for part in parts:
        assert len(part) <= TELEGRAM_LIMIT
        assert fake_telegram._html_problem(part) is None, part[:200]
    assert parts[-1].endswith('<a href="https://x.cn/a?b=1&amp;c=&lt;2&gt;">阅读原文</a>')
    whole = "".join(parts)
    assert whole.count("&lt;b&gt;&amp;amp;") == 600  # nothing lost, nothing unescaped


async def test_a_batch_of_alerts_is_planned_oldest_first(engine):
    """A poll stores its finds in the list page's order (top = newest); a chat should read them
    in the order they happened, the newest at the bottom of the conversation."""
    clock = FakeClock(NOW)
    store = ChatStore(engine, clock)
    chat = await store.get_or_create("telegram", "1")
    await store.add_rule(chat.id, "互联网医院")
    top = await _add_item(engine, "https://a/top", "互联网医院 3", published=NOW - timedelta(hours=1))
    middle = await _add_item(engine, "https://a/mid", "互联网医院 2", published=NOW - timedelta(hours=1))
    bottom = await _add_item(engine, "https://a/bot", "互联网医院 1", published=NOW - timedelta(hours=5))
    earlier_poll = await _add_item(engine, "https://a/old", "互联网医院 0", first_seen=NOW - timedelta(minutes=5))
    assert await _dispatcher(engine, RuleIndexCache(store), clock).run() == 4
    assert [d[3] for d in await _deliveries(engine)] == [earlier_poll, bottom, middle, top]


def test_every_matched_term_of_the_title_is_listed():
    topics = [Topic("online_healthcare", "在线医疗", "Online healthcare", ("互联网医院", "远程医疗", "在线问诊", "电子处方", "智慧医院"))]
    # matched in this order, and no evidence saying where: the title's term comes last
    item = Item(source_id="s", url="https://x.cn/h", title="本市推进智慧医院建设", published=None,
                matched={"online_healthcare": ["互联网医院", "远程医疗", "在线问诊", "电子处方", "智慧医院"]},
                topics=("online_healthcare",))
    (zh,) = alert_blocks(item, "源", Match(1, ("online_healthcare",), ()), "zh", topics=topics)
    fields = next(line for line in render_telegram_html(zh).splitlines() if line.startswith("领域："))
    marked = [part.split("</u>")[0] for part in fields.split("<u>")[1:]]
    assert marked == ["智慧医院", "互联网医院", "远程医疗"]  # the title's first, three in all
