"""Chat commands end to end over the real store (SQLite and PostgreSQL), in both languages."""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, insert, select

from bot.channels.telegram.app import menu
from bot.commands.command import Command, CommandError
from bot.commands.core import CommandCore
from bot.commands.parse import Parser, parse_command, tokenize
from bot.commands.registry import REGISTRY
from bot.commands.spec import Registry
from bot.core.clock import FakeClock, SystemClock
from bot.core.i18n import join, t
from bot.core.model import Caller, ChatRef
from bot.core.text import Code, render_plain, render_telegram_html
from bot.service import Stores
from bot.store.chats import ChatStore
from bot.store.lease import LEADER, LeaseStore
from bot.store.outbox import Outbox
from bot.store.schema import alert_rules, chats, deliveries, subscriptions
from config.settings import load_settings
from monitors.db import items, source_state
from monitors.model import Item
from monitors.store import ItemStore

NOW = datetime(2026, 6, 14, 2, 0, tzinfo=timezone.utc)
_HAN = re.compile(r"[\u4e00-\u9fff]")
ADMIN_ID = 999


@pytest.fixture
def settings():
    s = load_settings(None, {})
    return dataclasses.replace(s, telegram=dataclasses.replace(s.telegram, admin_chat_ids=(ADMIN_ID,)))


@pytest.fixture
def clock():
    return FakeClock(NOW)


@pytest.fixture
def core(engine, settings, clock):
    queued = []

    async def digest_now(chat):
        queued.append(chat.id)

    c = _core(engine, settings, clock, digest_now=digest_now)
    c.queued = queued
    return c


def _core(engine, settings, clock, digest_now=None):
    stores = Stores.over(engine, clock)
    return CommandCore(settings, clock, chats=stores.chats, items=stores.items, outbox=stores.outbox,
                       dispatched=stores.dispatched, digest_now=digest_now, leases=LeaseStore(engine))


ZH = ChatRef("telegram", "1001", "private", "张三", "zh-hans")
EN = ChatRef("telegram", "1002", "private", "Ann", "en")
USER = Caller(user_id=1001)


async def say(core, ref, text, caller=USER):
    reply = await core.handle(ref, caller, text)
    return render_plain(reply.paragraphs)


async def count(engine, table, **where):
    q = select(func.count()).select_from(table)
    for k, v in where.items():
        q = q.where(table.c[k] == v)
    async with engine.connect() as conn:
        return (await conn.execute(q)).scalar_one()


# ------------------------------------------------------------------ parsing (pure)


def test_parse_slash_forms_bot_suffix_and_chinese_aliases():
    assert parse_command("/subscribe@shwatch_bot online_education remote_office") == Command(
        "subscribe", ("online_education", "remote_office")
    )
    assert parse_command('/alert add "machine learning" -exclude jobs "job fair"') == Command(
        "alert_add", ("machine learning",), ("jobs", "job fair")
    )
    assert parse_command("关键词 添加 “人工智能” 排除 招聘") == Command("alert_add", ("人工智能",), ("招聘",))
    assert parse_command("关键词 删除 人工智能") == Command("alert_del", ("人工智能",))
    assert parse_command("关键词") == Command("alerts")
    assert parse_command("订阅　在线教育") == Command("subscribe", ("在线教育",))  # ideographic space
    assert parse_command("最新 ３") == Command("latest", ("3",))
    assert parse_command("/latest") == Command("latest", ("5",))
    assert parse_command("模式 两者") == Command("mode", ("both",))
    assert parse_command("摘要 ８：０５") == Command("digest", ("08:05",))
    assert parse_command("摘要 现在") == Command("digest", ("now",))
    assert parse_command("免打扰 22:00 - 7:30") == Command("quiet", ("22:00", "07:30"))
    assert parse_command("免打扰 关") == Command("quiet", ("off",))
    assert parse_command("语言 English") == Command("lang", ("en",))
    assert parse_command("/lang 中文") == Command("lang", ("zh",))
    assert parse_command("时区 Asia/Shanghai") == Command("tz", ("Asia/Shanghai",))
    for alias, name in [("帮助", "help"), ("来源", "sources"), ("停止", "stop"), ("统计", "stats"), ("健康", "health")]:
        assert parse_command(alias) == Command(name)
    assert parse_command("/START") == Command("start")


def test_parse_errors_name_the_problem_and_the_limit():
    assert parse_command('/alert add "machine learning') == CommandError("err.quotes", quote='"')
    assert parse_command("/alert add " + "长" * 51) == CommandError("err.keyword_long", length=51, limit=50)
    assert parse_command("/alert add") == CommandError("err.keyword_empty")
    assert parse_command('/alert add ""') == CommandError("err.keyword_empty")
    assert parse_command("/alert add 5G -exclude") == CommandError("err.exclude_empty")
    assert parse_command("/alert add 5G -exclude " + " ".join(f"t{i}" for i in range(11))) == CommandError(
        "err.too_many_excludes", count=11, limit=10
    )
    assert parse_command("/alert add 5G -exclude " + "x" * 51) == CommandError("err.exclude_long", length=51, limit=50)
    # an exclusion inside the keyword would silence the alert for good
    assert parse_command("/alert add 工业互联网 -exclude 互联网") == CommandError("err.exclude_in_keyword", term="互联网")
    assert parse_command('/alert add "Digital Twin" -exclude twin') == CommandError("err.exclude_in_keyword", term="twin")
    assert parse_command("/alert add 工业互联网 -exclude 消费互联网") == Command("alert_add", ("工业互联网",), ("消费互联网",))
    assert parse_command("/alert frobnicate") == CommandError("err.alert_usage")
    assert parse_command("/alert del") == parse_command("关键词 删除 “”") == CommandError("err.alert_usage")
    assert parse_command("/latest 21") == CommandError("err.bad_latest", value="21", limit=20)
    assert parse_command("/latest 0") == CommandError("err.bad_latest", value="0", limit=20)
    assert parse_command("/latest many") == CommandError("err.bad_latest", value="many", limit=20)
    assert parse_command("/digest 25:00") == CommandError("err.bad_time", value="25:00")
    assert parse_command("/digest loudly") == CommandError("err.bad_digest")
    assert parse_command("/quiet 22:00") == CommandError("err.bad_quiet")
    assert parse_command("/quiet 22:00-22:00") == CommandError("err.quiet_same")
    assert parse_command("/mode sometimes") == CommandError("err.bad_mode", value="sometimes")
    assert parse_command("/lang fr") == CommandError("err.bad_lang", value="fr")
    assert parse_command("/frobnicate now") == CommandError("hint.unknown", command="/frobnicate")
    assert parse_command("hello there") == CommandError("hint.text")
    assert parse_command("/subscribe " + "a " * 61) == CommandError("err.too_many_topics", limit=60)
    # every English field name at once still fits
    assert parse_command("/subscribe " + " ".join(tp.name_en for tp in load_settings(None, {}).topics)).name == "subscribe"
    assert parse_command("") == CommandError("hint.text")


def test_tokenize_keeps_apostrophes_inside_words():
    assert tokenize("don't 'a b' 「上海 发布」") == ["don't", "a b", "上海 发布"]
    with pytest.raises(CommandError):
        tokenize("「未闭合")


def test_absurd_input_parses_to_an_answer():
    assert isinstance(parse_command("x" * 10_000), CommandError)
    assert parse_command("/alert add " + " ".join(["a"] * 1000)) == CommandError(
        "err.keyword_long", length=1999, limit=50
    )
    # duplicates collapse: a thousand times the same term is one exclusion
    assert parse_command("/alert add 5G -exclude " + " ".join(["b"] * 1000)) == Command("alert_add", ("5G",), ("b",))
    assert parse_command("/alert\x00 add\x07 5G\u200b") == Command("alert_add", ("5G",))
    assert parse_command("/alert add 5G -exclude " + " ".join(f"b{i}" for i in range(1000))) == CommandError(
        "err.too_many_excludes", count=1000, limit=10
    )


# ------------------------------------------------------------------ every command, both languages


async def test_start_help_lang_in_both_languages(core, engine):
    zh = await say(core, ZH, "/start")
    assert "欢迎使用 shwatch" in zh and "/topics 选择领域" in zh
    en = await say(core, EN, "/start")
    assert "Welcome to shwatch" in en and "choose your fields with /topics" in en
    help_en = await say(core, EN, "/help")
    for example in ("/subscribe online_education", '/alert add "machine learning" -exclude jobs', "/latest 10",
                    "/digest 08:00", "/quiet 22:00-07:30", "/tz Asia/Shanghai", "/mode both", "/stop", "/stats"):
        assert example in help_en
    assert "订阅 在线教育" in help_en
    assert "命令一览" in await say(core, ZH, "帮助")
    assert await say(core, EN, "/lang zh") == "好的，以后用中文回复您。"
    assert "不认识的命令：/nope" in await say(core, EN, "/nope")
    assert await say(core, ZH, "/lang en") == "Done: I will answer in English."
    assert await say(core, ZH, "/lang") == "Language: English. Switch: /lang zh"
    assert "I only understand commands" in await say(core, ZH, "你好")
    async with engine.connect() as conn:
        langs = dict((await conn.execute(select(chats.c.address, chats.c.lang))).all())
    assert langs == {"1001": "en", "1002": "zh"}


async def test_group_language_defaults_to_the_adders_code(core, engine):
    group = ChatRef("telegram", "-500", "group", "Team", None)
    assert "Welcome" in await say(core, group, "/start")
    zh_group = ChatRef("telegram", "-501", "group", "团队", "zh")
    assert "欢迎" in await say(core, zh_group, "/start")


async def test_topics_subscribe_unsubscribe(core, engine):
    reply = await core.handle(EN, USER, "/topics")
    text = render_plain(reply.paragraphs)
    assert "▫️ online_education Online education" in text
    assert "You follow 0 of 12 fields." in text
    flat = [b for row in reply.keyboard for b in row]
    assert len(flat) == 14 and flat[-2].data == "t:all" and flat[-1].data == "t:none"
    assert all(len(b.data.encode()) <= 64 for b in flat)
    assert await say(core, EN, "/subscribe online_education Online finance") == (
        "Subscribed: Online education, Online finance.\nFields you follow now: 2."
    )
    assert await say(core, ZH, "订阅 在线教育，远程办公") == "已订阅：在线教育、远程办公。\n您现在关注 2 个领域。"
    assert await say(core, ZH, "订阅 在线教育") == "早已订阅：在线教育。\n您现在关注 2 个领域。"
    assert await say(core, EN, "/unsubscribe online_finance remote_office") == (
        "Unsubscribed: Online finance.\nNot subscribed anyway: Remote office.\nFields you follow now: 1."
    )
    err = await say(core, EN, "/subscribe online_education bogus_field")
    assert err.startswith("Unknown field: bogus_field. Valid ids: unmanned_factory, industrial_internet")
    assert "未知领域：bogus" in await say(core, ZH, "订阅 bogus")
    assert await say(core, ZH, "退订 全部") == "已退订：在线教育、远程办公。\n您现在关注 0 个领域。"
    assert await say(core, ZH, "退订 全部") == "您还没有订阅任何领域。发送 /topics 查看并选择。"
    assert await say(core, EN, "/unsubscribe all") == "Unsubscribed: Online education.\nFields you follow now: 0."
    assert await say(core, EN, "/unsubscribe all") == (
        "You are not subscribed to any field. Send /topics to see them and choose."
    )
    await say(core, EN, "/subscribe online_education")
    assert (await core.handle(EN, USER, "/subscribe")).keyboard is not None
    async with engine.connect() as conn:
        rows = (await conn.execute(select(subscriptions.c.topic_id))).scalars().all()
    assert rows == ["online_education"]


async def test_keyboard_toggle_edits_the_message(core, engine):
    reply = await core.handle_button(EN, USER, "t:online_education")
    assert reply.edit is True and reply.toast == "Subscribed: Online education"
    labels = {b.data: b.label for row in reply.keyboard for b in row}
    assert labels["t:online_education"] == "✅ Online education"
    assert labels["t:remote_office"] == "▫️ Remote office"
    assert "✅ online_education Online education" in render_plain(reply.paragraphs)
    reply = await core.handle_button(EN, USER, "t:online_education")
    assert reply.toast == "Unsubscribed: Online education"
    reply = await core.handle_button(EN, USER, "t:all")
    assert "You follow 12 of 12 fields." in render_plain(reply.paragraphs)
    assert await count(engine, subscriptions) == 12
    reply = await core.handle_button(ZH, USER, "t:none")
    assert reply.toast == "已退订全部领域"
    reply = await core.handle_button(EN, USER, "t:none")
    assert await count(engine, subscriptions) == 0
    bad = await core.handle_button(EN, USER, "t:nonexistent")
    assert bad.edit is False and render_plain(bad.paragraphs) == "That button is out of date; send /topics again."
    assert (await core.handle_button(EN, USER, "x" * 500)).edit is False


async def test_alerts_add_list_delete_and_limits(core, engine):
    assert await say(core, EN, '/alert add "machine learning" -exclude jobs') == (
        "Alert added: “machine learning”.\nItems that mention any of these are skipped: jobs\nYou have 1 of 50 alerts."
    )
    assert await say(core, ZH, "关键词 添加 人工智能") == "已添加关键词提醒：“人工智能”。\n您已设置 1/50 个关键词提醒。"
    assert await say(core, EN, "/alert add Machine Learning") == "Alert updated: “machine learning”.\nYou have 1 of 50 alerts."
    assert await say(core, EN, "/alerts") == "Your keyword alerts (1 of 50):\n• machine learning"
    assert await say(core, ZH, "关键词") == "您的关键词提醒（1/50）：\n• 人工智能"
    # bad input: clear answer, nothing stored
    assert await say(core, EN, "/alert add " + "k" * 51) == "The keyword is too long (51 characters): at most 50 characters."
    assert await say(core, ZH, "/alert add " + "k" * 51) == "关键词太长（51 个字符）：最多 50 个字符。"
    assert await say(core, EN, '/alert add "open') == (
        'Unbalanced quotes: a " is never closed. Example: /alert add "machine learning"'
    )
    assert await say(core, ZH, "/alert add") == "关键词为空。例如：/alert add 人工智能"
    assert await count(engine, alert_rules) == 2
    for i in range(49):
        await say(core, EN, f"/alert add kw{i}")
    assert await say(core, EN, "/alert add one-too-many") == (
        "Too many alerts: a chat has at most 50. Delete one first: /alert del <keyword>"
    )
    zh_chat = await ChatStore(engine).get("telegram", "1001")
    for i in range(49):
        await ChatStore(engine).add_rule(zh_chat.id, f"词{i}")
    assert await say(core, ZH, "关键词 添加 再来一个") == "关键词提醒已达上限：每个聊天最多 50 个。请先删除一个：/alert del 关键词"
    await ChatStore(engine).delete_rule(zh_chat.id, "词0")
    assert await count(engine, alert_rules) == 99  # 50 for EN, 49 for ZH
    assert await say(core, EN, "/alert del kw0") == "Alert deleted: “kw0”.\nYou have 49 of 50 alerts."
    assert await say(core, EN, "/alert del kw0") == "There is no alert “kw0”. /alerts lists yours."
    assert await say(core, ZH, "关键词 删除 人工智能") == "已删除关键词提醒：“人工智能”。\n您已设置 48/50 个关键词提醒。"
    assert (await say(core, ZH, "/stop")).startswith("已停止")
    assert await say(core, ZH, "/alerts") == "您还没有关键词提醒。添加一个：/alert add 人工智能"


async def test_mode_digest_quiet_tz(core, engine):
    assert await say(core, EN, "/mode") == "Current mode: instant. Change it: /mode instant|digest|both"
    assert await say(core, EN, "/mode digest") == "Done: new items arrive in the daily digest at 08:00 (Asia/Shanghai)."
    assert await say(core, ZH, "模式 两者") == "好的：新内容将即时推送，并汇总在每日摘要中，于 08:00（Asia/Shanghai）发送。"
    assert await say(core, EN, "/digest") == (
        "Daily digest: on, every day at 08:00 (Asia/Shanghai). Change it: /digest off or /digest 08:00"
    )
    assert await say(core, EN, "/digest off") == "Daily digest off."
    assert await say(core, ZH, "摘要 7:30") == "每日摘要已开启，每天 07:30（Asia/Shanghai）发送。"
    assert await say(core, EN, "/digest 99:00") == "“99:00” is not a time: use HH:MM (00:00-23:59), e.g. 08:00"
    assert await say(core, EN, "/digest now") == "Your digest is on its way."
    assert await say(core, ZH, "摘要 现在") == "好的，您的摘要正在生成并发送。"
    assert len(core.queued) == 2
    assert await say(core, EN, "/quiet 22:00-07:30") == (
        "Quiet hours: 22:00-07:30 (Asia/Shanghai). Alerts in that window arrive together when it ends."
    )
    assert await say(core, ZH, "免打扰 关") == "免打扰已关闭。"
    assert await say(core, EN, "/tz europe/berlin") == "Time zone set to Europe/Berlin."
    assert await say(core, EN, "/tz Mars/Olympus") == (
        "Unknown time zone “Mars/Olympus”. Use an IANA name such as Asia/Shanghai or Europe/London."
    )
    assert "未知时区“../../etc/passwd”" in await say(core, ZH, "时区 ../../etc/passwd")
    assert await say(core, ZH, "时区") == "当前时区：Asia/Shanghai。更改：/tz Asia/Shanghai"
    en = await ChatStore(engine).get("telegram", "1002")
    zh = await ChatStore(engine).get("telegram", "1001")
    assert (en.mode, en.digest_enabled, en.digest_time, en.quiet_start, en.quiet_end, en.tz) == (
        "digest", False, "08:00", "22:00", "07:30", "Europe/Berlin"
    )
    assert (zh.mode, zh.digest_enabled, zh.digest_time, zh.quiet_start) == ("both", True, "07:30", None)


async def test_digest_now_without_a_digest_service(engine, settings):
    core = _core(engine, settings, FakeClock(NOW), digest_now=None)
    assert await say(core, EN, "/digest now") == "Digests are not available right now; please try again later."


async def _item(engine, n, title, topics=(), source="wsjkw-xwfb"):
    async with engine.begin() as conn:
        await conn.execute(insert(items).values(
            url=f"https://wsjkw.sh.gov.cn/{n}.html", source_id=source, title=title, topics=list(topics),
            matched={}, published=NOW - timedelta(hours=n), first_seen_at=NOW - timedelta(minutes=n),
            summary=f"摘要 {n}。",
        ))


async def test_latest_returns_the_newest_matching_items(core, engine):
    assert await say(core, EN, "/latest") == (
        "You follow no fields and no keywords yet: choose fields with /topics or add one with /alert add."
    )
    await say(core, EN, "/subscribe online_healthcare")
    await say(core, EN, "/alert add 疫苗")
    assert await say(core, EN, "/latest") == "No recent items match your fields or keywords yet."
    for n in range(1, 9):
        await _item(engine, n, f"新闻 {n}" + (" 疫苗" if n % 2 else ""), topics=["online_healthcare"] if n == 2 else [])
    reply = await core.handle(EN, USER, "/latest")
    text = render_plain(reply.paragraphs)
    assert text.startswith("Latest matching items (5):")
    titles = [line for line in text.splitlines() if line.startswith("新闻")]
    assert titles == ["新闻 1 疫苗", "新闻 2", "新闻 3 疫苗", "新闻 5 疫苗", "新闻 7 疫苗"]
    assert "上海市卫生健康委员会 · 新闻发布 · 2026-06-14 09:00" in text
    assert len(reply.blocks) == 6  # header + one block per item, for splitting
    assert "<b><u>疫苗</u></b>" in render_telegram_html(reply.paragraphs)
    # one poll found three at once (stored in the list page's order, top = newest): newest first
    for n, (title, published) in enumerate([("同批 A 疫苗", NOW), ("同批 B 疫苗", NOW), ("同批 C 疫苗", NOW - timedelta(days=1))]):
        async with engine.begin() as conn:
            await conn.execute(insert(items).values(
                url=f"https://wsjkw.sh.gov.cn/batch{n}.html", source_id="wsjkw-xwfb", title=title, topics=[],
                matched={}, published=published, first_seen_at=NOW + timedelta(minutes=1),
            ))
    text = await say(core, EN, "/latest 4")
    assert [line for line in text.splitlines() if line.startswith(("同批", "新闻"))] == [
        "同批 A 疫苗", "同批 B 疫苗", "同批 C 疫苗", "新闻 1 疫苗"
    ]
    zh = await say(core, EN, "/latest 2")
    assert zh.count("Read the original") == 2
    assert await say(core, EN, "/latest 21") == "“21” is not a valid count: use a whole number from 1 to 20, e.g. /latest 10"


async def test_sources_show_health(core, engine, settings):
    async with engine.begin() as conn:
        await conn.execute(insert(source_state).values(
            source_id="wsjkw-xwfb", baseline_done=True, last_attempt_at=NOW, last_success_at=NOW, consecutive_failures=0))
        await conn.execute(insert(source_state).values(
            source_id="shgov-yw", baseline_done=False, last_attempt_at=NOW, consecutive_failures=3, error_kind="layout"))
    en = await say(core, EN, "/sources")
    assert en.startswith(f"Watched sources ({len(settings.sources)}):")
    assert "✅ ok, last success 2026-06-14 10:00 (+08:00)" in en
    assert "⚠️ failing (3 in a row): page layout changed" in en
    assert f"1 ok, 1 failing, {len(settings.sources) - 2} not checked yet." in en
    zh = await say(core, ZH, "来源")
    assert "⚠️ 连续失败 3 次：页面结构变化" in zh


async def test_stats_and_health_are_for_admins_only(core, engine):
    assert await say(core, EN, "/stats") == "Sorry, /stats is only for the bot's administrators."
    assert await say(core, ZH, "健康") == "抱歉，/health 仅限机器人管理员使用。"
    await say(core, EN, "/subscribe online_education")
    await say(core, ZH, "/alert add 5G")
    await _item(engine, 1, "x")
    store = ChatStore(engine)
    en = await store.get("telegram", "1002")
    await Outbox(engine).enqueue([{"chat_id": en.id, "kind": "alert", "ref": "1"}])
    async with engine.begin() as conn:
        await conn.execute(insert(source_state).values(
            source_id="shgov-yw", baseline_done=False, last_attempt_at=NOW, consecutive_failures=5, error_kind="http"))
    admin = ChatRef("telegram", str(ADMIN_ID), "private", None, "en")
    stats = await say(core, admin, "/stats", Caller(ADMIN_ID))
    assert "Subscribers: 2 (active chats 3, 3 in all)" in stats
    assert "Keyword alerts: 1" in stats
    assert "Items: 1 in all, 1 in the last 24 h" in stats
    assert "Deliveries: 0 sent, 1 pending, 0 failed, 0 dropped" in stats
    assert "Failing sources: 上海市人民政府 · 上海要闻" in stats
    health = await say(core, admin, "/health", Caller(ADMIN_ID))
    assert f"Database: ok ({engine.dialect.name})" in health
    assert "Outbox: 1 pending, oldest waiting 0 min" in health
    assert "Leader: none yet (no shwatch run has led)" in health
    await LeaseStore(engine).acquire(LEADER, "host-a:41:beef", 30)
    assert "Leader: host-a:41:beef (lease until 20" in await say(core, admin, "/health", Caller(ADMIN_ID))
    zh_admin = ChatRef("wecom", "lisi", "private", None, "zh")
    assert "主实例：host-a:41:beef（租约至 20" in await say(core, zh_admin, "健康", Caller("lisi", is_admin=True))
    # an admin in a group is recognised by user id; the adapter's flag works too
    assert "📊" in await say(core, ChatRef("telegram", "-9", "group"), "/stats", Caller(ADMIN_ID))
    assert "统计" in await say(core, ChatRef("wecom", "lisi", "private", None, "zh"), "统计", Caller("lisi", is_admin=True))


async def test_group_settings_need_a_group_admin(core, engine):
    group = ChatRef("telegram", "-100", "group", "Team", "en")
    member = Caller(user_id=5, is_group_admin=False)
    refusal = "Sorry, only the group's administrators can change its settings."
    for text in ("/subscribe online_education", "/alert add 5G", "/mode digest", "/lang zh", "/stop",
                 "/digest on", "/quiet off", "/tz UTC", "/unsubscribe all"):
        assert await say(core, group, text, member) == refusal, text
    pressed = await core.handle_button(group, member, "t:online_education")
    assert render_plain(pressed.paragraphs) == refusal and pressed.edit is False and pressed.toast == refusal
    assert await count(engine, subscriptions) == 0 and await count(engine, alert_rules) == 0
    # read-only commands are fine for everyone
    assert "Commands" in await say(core, group, "/help", member)
    assert "You follow 0 of 12 fields." in await say(core, group, "/topics", member)
    admin = Caller(user_id=6, is_group_admin=True)
    assert await say(core, group, "/subscribe online_education", admin) == (
        "Subscribed: Online education.\nFields you follow now: 1."
    )
    assert await say(core, group, "/lang zh", admin) == "好的，以后用中文回复您。"
    assert await say(core, group, "/alert add 5G", member) == "抱歉，只有群管理员可以更改本群的设置。"


async def test_stop_deletes_the_chats_data(core, engine):
    await say(core, EN, "/subscribe online_education")
    await say(core, EN, "/alert add 5G")
    await say(core, EN, "/alert add 人工智能")
    await say(core, ZH, "/subscribe online_finance")
    chat = await ChatStore(engine).get("telegram", "1002")
    await Outbox(engine).enqueue([{"chat_id": chat.id, "kind": "alert", "ref": "1"}])
    assert await say(core, EN, "/stop") == (
        "Stopped: your subscriptions, keyword alerts (2) and pending messages are deleted. Send /start to come back."
    )
    assert await ChatStore(engine).get("telegram", "1002") is None
    assert await count(engine, alert_rules) == 0 and await count(engine, deliveries) == 0
    assert await count(engine, subscriptions) == 1  # the other chat keeps its own
    assert "已停止" in await say(core, ZH, "停止")


async def test_no_input_raises(core, engine):
    absurd = [
        "x" * 10_000,
        "/alert add " + "y" * 10_000,
        "/alert add " + " ".join(f"w{i}" for i in range(1000)),
        "/alert add 5G -exclude " + " ".join(f"w{i}" for i in range(1000)),
        "/subscribe " + " ".join(["bogus"] * 1000),
        "/subscribe " + " ".join(["online_education"] * 2000),
        "\x00\x01\x02/start\x7f",
        "/\u202e\u200b",
        "/",
        "／help",
        "/tz " + "A/" * 500,
        "/latest 99999999999999999999999",
        "/digest 0:0",
        "关键词 添加 「",
    ]
    for text in absurd:
        reply = await core.handle(EN, USER, text)
        assert render_plain(reply.paragraphs).strip(), text
    assert await say(core, EN, None) == (
        "I only understand commands. Send /help to see them, or /topics to choose fields."
    )
    assert await count(engine, alert_rules) == 0
    # a failure inside is logged and answered, never raised
    broken = _core(engine, load_settings(None, {}), SystemClock(), digest_now=lambda chat: 1 / 0)
    assert await say(broken, EN, "/digest now") == "Digests are not available right now; please try again later."


async def test_topics_on_wecom_say_what_to_send(core):
    wecom = ChatRef("wecom", "zhangsan", "private", None, "zh")
    text = await say(core, wecom, "领域")
    assert "发送“订阅 领域编号或名称”订阅，例如：订阅 在线教育" in text
    assert "点按钮" not in text


@pytest.mark.parametrize("ref", [EN, ZH])
async def test_help_lists_every_command_with_an_example(core, ref):
    reply = await core.handle(ref, USER, "/help")
    examples = [p[0].text for p in reply.paragraphs if p and isinstance(p[0], Code)]
    text = render_plain(reply.paragraphs)
    for spec in REGISTRY:
        slash = "/" + spec.name.replace("_", " ")  # alert_add -> "/alert add"
        if ref is EN:
            assert any(e == slash or e.startswith(slash + " ") for e in examples), spec.name
        else:  # the Chinese help shows Chinese examples, then every slash form in one line
            assert slash in text, spec.name
    # each example parses to the command it illustrates, one example per command, in /help order
    assert [parse_command(example).name for example in examples] == [spec.name for spec in REGISTRY]


async def test_chinese_help_uses_chinese_examples(core):
    reply = await core.handle(ZH, USER, "帮助")
    examples = [p[0].text for p in reply.paragraphs if p and isinstance(p[0], Code)]
    assert "订阅 在线教育" in examples and "关键词 添加 人工智能 排除 招聘" in examples
    assert not [e for e in examples if e.startswith("/") or not _HAN.search(e)]
    english = await core.handle(EN, USER, "/help")
    assert all(p[0].text.startswith("/") for p in english.paragraphs if p and isinstance(p[0], Code))
    # in a group only slash commands reach the bot: the help says so
    group = ChatRef("telegram", "-77", "group", "群", "zh")
    assert "在群组中只能使用斜杠命令" in await say(core, group, "/help")


def test_every_command_has_help_and_examples_that_parse_back_in_both_languages():
    assert len(REGISTRY) == 19
    for spec in REGISTRY:
        for lang in ("zh", "en"):
            assert t(spec.help_key, lang).strip(), (spec.name, lang)
            if spec.menu:
                assert 1 <= len(t(spec.menu_key, lang)) <= 256, (spec.name, lang)
        assert spec.example.startswith("/" + spec.slash[0]), spec.name
        assert _HAN.search(spec.example_zh) and spec.example_zh.split()[0] in spec.zh, spec.name
        for example in (spec.example, spec.example_zh):
            parsed = parse_command(example)
            assert isinstance(parsed, Command) and parsed.name == spec.name, (example, parsed)


def _retyped(spec, example, heads, prefix):
    """``example`` written with each of ``heads`` (and each sub word where the head is shared)."""
    words = example[len(prefix):].split(" ")
    rest = words[1:]
    if rest and rest[0] in spec.sub:
        rest = rest[1:]
    tail = (" " + " ".join(rest)) if rest else ""
    for head in heads:
        shared = len(REGISTRY.slash_heads.get(head, REGISTRY.zh_heads.get(head, ()))) > 1
        for sub in (spec.sub if shared else ("",)):
            if sub == "" and shared and tail:
                continue  # "/alert" alone lists; "/alert 5G" is a usage error
            yield f"{prefix}{head}{' ' + sub if sub else ''}{tail}"


def test_every_registered_word_reaches_its_command():
    for spec in REGISTRY:
        texts = [*_retyped(spec, spec.example, spec.slash, "/"), *_retyped(spec, spec.example_zh, spec.zh, "")]
        assert len(texts) >= len(spec.slash) + len(spec.zh)
        for text in texts:
            parsed = parse_command(text)
            assert isinstance(parsed, Command) and parsed.name == spec.name, (text, parsed)
        assert parse_command(f"/{spec.slash[0].upper()}@shwatch_bot" + spec.example[len(spec.slash[0]) + 1:]).name == spec.name


def test_parser_help_and_menu_are_derived_from_the_registry():

    # a smaller table: the parser, /help and the menu follow it, with nothing listed elsewhere
    specs = (REGISTRY.get("stop"), REGISTRY.get("alert_add"), REGISTRY.get("alerts"))
    small = Registry(specs)
    parse = Parser(small).parse
    assert parse("/stop") == parse("停止") == Command("stop")
    assert parse("/alert add 5G") == Command("alert_add", ("5G",))
    assert parse("/alert") == parse("关键词") == Command("alerts")
    assert parse("/alert del 5G") == CommandError("err.alert_usage")  # not in this table
    assert parse("/subscribe online_education") == CommandError("hint.unknown", command="/subscribe")
    assert parse("订阅 在线教育") == CommandError("hint.text")
    for lang in ("en", "zh"):
        paragraphs = small.help(lang, group=False)
        assert [p[0].text for p in paragraphs if p and isinstance(p[0], Code)] == [s.example_in(lang) for s in specs]
        other = [s.example_zh for s in specs] if lang == "en" else ["/stop", "/alert add", "/alerts"]
        assert render_plain(paragraphs).endswith(t("help.aliases", lang, forms=join(other, lang)))
        assert small.menu(lang) == [(s.slash[0], t(s.menu_key, lang)) for s in specs]
        # the project's menu, /help and parser are the registry's
        assert [(c.command, c.description) for c in menu(lang)] == REGISTRY.menu(lang)
    # a table that would read ambiguously is refused
    with pytest.raises(ValueError):
        Registry((REGISTRY.get("stop"), REGISTRY.get("stop")))
    with pytest.raises(ValueError):
        Registry((REGISTRY.get("alert_add"),))  # sub words with no shared head word
    with pytest.raises(ValueError):
        Registry((REGISTRY.get("alerts"), dataclasses.replace(REGISTRY.get("alert_del"), sub=("list",))))


async def test_adding_an_identical_alert_says_it_exists(core, engine):
    assert await say(core, EN, "/alert add 5G -exclude phone") == (
        "Alert added: “5G”.\nItems that mention any of these are skipped: phone\nYou have 1 of 50 alerts."
    )
    # the same alert again (case and spacing aside): nothing changes, and the answer says so
    for again in ("/alert add 5G -exclude phone", "/alert add 5g  -exclude Phone"):
        assert await say(core, EN, again) == (
            "You already have the alert “5G”; nothing changed.\n"
            "Items that mention any of these are skipped: phone\nYou have 1 of 50 alerts."
        )
    # other exclusions: the alert is updated, as before
    assert await say(core, EN, "/alert add 5G") == "Alert updated: “5G”.\nYou have 1 of 50 alerts."
    assert await say(core, ZH, "关键词 添加 人工智能") == "已添加关键词提醒：“人工智能”。\n您已设置 1/50 个关键词提醒。"
    assert await say(core, ZH, "关键词 添加 人工智能") == "关键词提醒“人工智能”已存在，无需重复添加。\n您已设置 1/50 个关键词提醒。"
    en = await ChatStore(engine).get("telegram", "1002")
    assert [(r.keyword, r.excludes) for r in en.rules] == [("5G", ())]
    assert await count(engine, alert_rules) == 2


async def test_non_text_messages_get_a_hint_in_the_chats_language(core, engine):
    assert render_plain((await core.handle_non_text(ZH)).paragraphs) == "目前只能识别文字消息。发送“帮助”查看可用命令。"
    assert await count(engine, chats) == 0  # a sticker creates no chat
    await say(core, ZH, "/lang en")
    assert render_plain((await core.handle_non_text(ZH)).paragraphs) == (
        "Only text messages are understood here. Send /help to see the commands."
    )


async def test_search_answers_the_five_newest_matches_and_the_total_in_the_chat_language(core, engine):


    await ItemStore(engine).insert_items([
        Item(source_id="wsjkw-xwfb", url=f"https://wsjkw.sh.gov.cn/xwfb/{n}.html", title=f"第{n}家互联网医院上线",
             published=NOW - timedelta(days=n), first_seen_at=NOW, summary="本市推进互联网医院建设")
        for n in range(1, 8)
    ] + [Item(source_id="wsjkw-xwfb", url="https://wsjkw.sh.gov.cn/xwfb/x.html", title="夏季防暑提示",
              published=NOW, first_seen_at=NOW)])
    zh = await say(core, ZH, "搜索 互联网医院")
    assert "共找到 7 条" in zh
    shown = [f"第{n}家互联网医院上线" for n in range(1, 8) if f"第{n}家互联网医院上线" in zh]
    assert shown == [f"第{n}家互联网医院上线" for n in range(1, 6)]  # the five newest
    assert "https://wsjkw.sh.gov.cn/xwfb/1.html" in zh and "夏季防暑提示" not in zh
    en = await say(core, EN, "/search 互联网医院")
    assert "7 items found" in en
    assert "No item contains" in await say(core, EN, "/search 量子计算")
    # absurd input gets the reason and the limit, never a search
    assert "at least 2 characters" in await say(core, EN, "/search 医 院")
    assert "at most 200" in await say(core, EN, "/search " + "长" * 201)
    assert "搜索 互联网医院" in await say(core, ZH, "搜索")
