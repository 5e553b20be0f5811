"""WeCom's app limits: messages of at most 2048 bytes carrying whole items, `text` messages
that show everywhere, and a member's 30 a minute / 1,000 an hour counted in the database
(held, never dropped; shared by every instance); a bundle held by a limit says so, and the
quiet-hours heading stays for quiet hours.

The splitting tests are pure; the limit tests run the app channel on a FakeClock against the
fake WeCom API (which drops and records anything over a member's limit, like WeCom) on the
real store (SQLite and PostgreSQL).
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from bot.channels.wecom.api import WeComApi
from bot.channels.wecom.channel import WeComAppChannel
from bot.channels.wecom.render import app_pieces, markdown_pieces
from bot.channels.wecom.robots import SendWindow
from bot.core.clock import FakeClock
from bot.core.format import alert_blocks
from bot.core.i18n import t
from bot.core.model import Delivery, Match
from bot.core.quiet import bundle_alerts
from bot.core.text import Link, Plain, render_plain, shorten_block, split_blocks, utf8_len
from bot.delivery.compose import DeliveryComposer
from bot.store.chats import ChatStore
from bot.store.inbound import InboundLog
from bot.store.outbox import Outbox
from bot.store.schema import deliveries
from config.model import Secret, Settings, Source, WeComSettings
from config.settings import load_default_topics
from fake_wecom import FakeWeCom, markdown_problems, max_in_window
from monitors.model import Item
from monitors.store import ItemStore
from virtual_time import drive

NOW = datetime(2026, 6, 14, 9, 0, tzinfo=timezone.utc)  # 17:00 in Shanghai
CORP_ID = "wx5823bf96d3bd56c7"
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
AGENT = 1000002
SECRET = "limits-app-secret-never-logged"
SENTENCE = "本市将加快工业互联网平台建设，推动制造业数字化转型和高质量发展。"  # 32 characters, 96 bytes


def item(n: int, summary: str = SENTENCE, title: str | None = None) -> Item:
    return Item(
        "xwfb", f"https://www.shanghai.gov.cn/nw4411/20260614/{n:032x}.html", title or f"工业互联网第{n}期：本市推进创新发展",
        NOW, summary=summary,
    )


def blocks_of(*items: Item, lang: str = "zh") -> list:
    return [b for it in items for b in alert_blocks(it, "上海发布", Match(1, keywords=("工业互联网",)), lang, summary_max=2000)]


# ---------------------------------------------------------------------------- splitting (pure)


@pytest.mark.parametrize("msgtype", ["markdown", "text"])
def test_a_bundle_of_many_alerts_becomes_messages_of_whole_items_under_2048_bytes(msgtype):
    items = [item(n, SENTENCE * (1 + n % 4)) for n in range(25)]
    pieces = app_pieces(blocks_of(*items), msgtype)
    assert len(pieces) > 1
    assert all(utf8_len(p) <= 2048 for p in pieces), [utf8_len(p) for p in pieces]
    for it in items:  # every item exactly once, its title and its link in the same message
        [holder] = [p for p in pieces if it.title in p]
        assert it.url in holder
    if msgtype == "markdown":
        assert all(markdown_problems(p, 2048) == [] for p in pieces)
    # robots keep 4096 bytes of markdown: fewer, bigger messages
    robot = markdown_pieces(blocks_of(*items))
    assert len(robot) < len(pieces) and max(utf8_len(p) for p in robot) > 2048
    assert all(utf8_len(p) <= 4096 for p in robot)


def test_one_alert_too_long_alone_is_cut_at_a_sentence_end_and_keeps_title_and_link():
    long = item(1, SENTENCE * 30)  # 2,880 bytes of summary
    [message] = app_pieces(blocks_of(long))
    assert utf8_len(message) <= 2048
    lines = message.split("\n")
    assert lines[0] == f"**{long.title}**"
    summary = lines[2]
    assert summary.endswith("发展。") and utf8_len(summary) > 1600  # whole sentences, as many as fit
    assert f"]({long.url})" in lines[-1]
    assert markdown_problems(message, 2048) == []


def test_shorten_block_drops_sentences_from_the_longest_paragraph_only():
    block = [(Plain("Title"),), (), (Plain("One. Two. Three. Four."),), (Link("open", "https://e.x/1"),)]
    cut = shorten_block(block, render_plain, 40)
    assert render_plain(cut) == "Title\n\nOne. Two. \nopen https://e.x/1"
    assert len(render_plain(cut)) <= 40
    assert shorten_block(block, render_plain, 400) == block  # fits: unchanged
    # not even one sentence fits: the paragraph is left out, the link stays
    assert render_plain(shorten_block(block, render_plain, 30)) == "Title\n\nopen https://e.x/1"
    # nothing to cut that helps: given back as it was (the splitter then splits it)
    assert shorten_block(block, render_plain, 10) == block
    assert all(len(p) <= 10 for p in split_blocks([block], render_plain, 10, whole=True))


def test_a_long_command_reply_is_split_never_cut():
    reply = [[(Plain(f"第{n}行：本市将加快工业互联网平台建设。推动制造业数字化转型。"),) for n in range(60)]]
    pieces = app_pieces(reply, "markdown", whole=False)
    assert len(pieces) > 1 and all(utf8_len(p) <= 2048 for p in pieces)
    assert "\n".join(pieces).count("推动制造业数字化转型。") == 60


def test_text_messages_have_no_markup_and_full_links():
    it = item(7)
    [message] = app_pieces(blocks_of(it), "text")
    assert "**" not in message and "](" not in message
    assert it.url in message and message.startswith(it.title + "\n")
    digest_like = [[(Plain("📰 今日摘要"),)], *blocks_of(item(8), item(9))]
    [text] = app_pieces(digest_like, "text")
    assert text.startswith("📰 今日摘要\n\n") and item(8).url in text and item(9).url in text


def test_send_window_frees_room_for_several_sends():
    w = SendWindow.of(3, 60.0, [0.0, 10.0, 20.0])
    assert w.free_at(30.0) == 60.0 and w.free_at(30.0, 2) == 70.0 and w.free_at(30.0, 3) == 80.0
    assert w.free_at(30.0, 9) == 80.0  # more than the window ever allows: once it is empty
    assert SendWindow.of(3, 60.0, [0.0]).free_at(30.0, 2) == 30.0


def test_bundles_say_why_they_waited_and_stay_within_most():
    def D(**fields) -> Delivery:
        return Delivery(ref=f"ref-{fields['id']}", **fields)

    held = NOW + timedelta(minutes=1)
    rate = {"held": "rate"}
    rows = [
        D(id=1, chat_id=1, kind="alert", not_before=held, attempts=0, lang="zh", payload={}),  # quiet hours
        D(id=2, chat_id=1, kind="alert", not_before=held, attempts=0, lang="zh", payload=rate),
        D(id=3, chat_id=1, kind="alert", not_before=held, attempts=0, lang="zh", payload=rate),
        D(id=4, chat_id=1, kind="alert", not_before=held, attempts=0, lang="zh", payload={}),
        D(id=5, chat_id=1, kind="alert", not_before=held, attempts=0, lang="zh", payload=rate),
        D(id=6, chat_id=1, kind="alert", not_before=held, attempts=0, lang="zh", payload={"held": "queue"}),
        D(id=7, chat_id=1, kind="alert", not_before=held, attempts=0, lang="zh", payload={"held": "queue"}),
    ]
    blocks = {i: [[(Plain(f"item {i}"),)]] for i in range(1, 8)}
    units = bundle_alerts(rows, blocks, most=2)
    assert [[m.id for m in members] for members, _ in units] == [[1, 4], [2, 3], [5], [6], [7]]
    assert render_plain(units[0][1][0]) == t("quiet.held", "zh", count=2)
    assert render_plain(units[1][1][0]) == "⏳ 限速延后送达的 2 条提醒："
    assert [render_plain(b) for b in units[2][1]] == ["item 5"]  # alone: no heading
    en = bundle_alerts([dataclasses.replace(r, lang="en") for r in rows[1:3]], blocks)
    assert render_plain(en[0][1][0]) == "⏳ 2 alerts held back by the sending rate limit:"


# ---------------------------------------------------------------------------- the member's limits


def settings(fake: FakeWeCom, **extra) -> Settings:
    wecom = WeComSettings(
        corp_id=CORP_ID, agent_id=AGENT, secret=Secret(SECRET), token=Secret("QDG6eK"), encoding_aes_key=Secret(AES_KEY),
        api_base_url=fake.base_url, host="127.0.0.1", port=0, **extra,
    )
    return Settings(database_url="sqlite://", topics=load_default_topics(), wecom=wecom, sources=(Source("xwfb", "上海发布", "https://e.x/"),))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def fake(clock):
    with FakeWeCom(corp_id=CORP_ID, secret=SECRET, agent_id=AGENT, clock=lambda: clock.now().timestamp(),
                   member_per_minute=3, member_per_hour=7) as server:
        yield server


@pytest.fixture
async def instances(engine, fake, clock):
    """Two app channels on one store: two instances of the service."""
    made, apis = [], []
    for _ in range(2):
        api = WeComApi(fake.base_url, corp_id=CORP_ID, secret=SECRET, agent_id=AGENT, clock=clock)
        apis.append(api)
        limited = settings(fake, member_per_minute=3, member_per_hour=7)
        made.append(WeComAppChannel(
            limited, InboundLog(engine, "wecom"), None,
            Outbox(engine, clock), DeliveryComposer(ItemStore(engine), limited), api, chats=ChatStore(engine, clock), clock=clock,
        ))
    yield made
    for api in apis:
        await api.aclose()


async def enqueue(engine, clock, userid: str, count: int, quiet: tuple[str, str] | None = None) -> list[int]:
    store = ChatStore(engine, clock)
    chat = await store.get_or_create("wecom", userid, "private", lang="zh")
    if quiet:
        await store.set_quiet(chat.id, *quiet)
    items = await ItemStore(engine).insert_items(
        [Item("xwfb", f"https://e.x/{userid}/{n}.html", f"限额测试第{n}条", NOW, summary=SENTENCE, first_seen_at=NOW) for n in range(count)]
    )
    await Outbox(engine, clock).enqueue(
        [{"chat_id": chat.id, "kind": "alert", "ref": str(it.id), "item_id": it.id, "payload": {"keywords": ["工业互联网"]}} for it in items]
    )
    async with engine.connect() as conn:
        rows = await conn.execute(select(deliveries.c.id).where(deliveries.c.chat_id == chat.id).order_by(deliveries.c.id))
        return [r[0] for r in rows]


async def statuses(outbox: Outbox, ids: list[int]) -> list[str]:
    return [(await outbox.get(i)).status for i in ids]


async def test_a_member_gets_at_most_3_a_minute_and_7_an_hour_across_instances_held_never_dropped(engine, instances, fake, clock):
    first, second = instances
    ids = await enqueue(engine, clock, "zhangsan", 12)
    outbox = Outbox(engine, clock)
    await first.worker.run_once()
    assert len(fake.messages_to("zhangsan")) == 3
    held = [await outbox.get(i) for i in ids[3:]]
    assert {d.status for d in held} == {"pending"} and all(d.not_before > clock.now() for d in held)
    assert {d.payload.get("held") for d in held} == {"rate"} and {d.attempts for d in held} == {0}
    # the other instance counts what the first sent: nothing due, nothing sent
    clock.advance(30)
    assert await second.worker.run_once() == []
    await outbox.hold(ids[3], clock.now())  # even a row due now waits for the member's minute
    await second.worker.run_once()
    assert len(fake.messages_to("zhangsan")) == 3
    for _ in range(200):
        if set(await statuses(outbox, ids)) == {"sent"}:
            break
        clock.advance(seconds=30)
        for instance in (second, first):
            await instance.worker.run_once()
    assert set(await statuses(outbox, ids)) == {"sent"}
    messages = fake.messages_to("zhangsan")
    text = "\n".join(m.content for m in messages)
    assert all(text.count(f"限额测试第{n}条") == 1 for n in range(12))  # nothing lost, nothing twice
    assert fake.violations == [] and fake.dropped == []
    times = [m.at for m in messages]
    assert max_in_window(times, 60) <= 3 and max_in_window(times, 3600) <= 7
    assert times[-1] - times[0] >= 3600  # the hour's 7 held the rest to the next hour
    # what waited left under the rate-limit heading, never the quiet-hours one
    bundles = [m.content for m in messages if m.content.startswith("⏳")]
    assert bundles and all(b.startswith("⏳ 限速延后送达的") for b in bundles)
    assert not any(t("quiet.held", "zh", count=2)[:8] in m.content for m in messages)
    assert all(utf8_len(m.content) <= 2048 and markdown_problems(m.content, 2048) == [] for m in messages)


async def test_quiet_hours_bundle_keeps_its_heading_and_a_rate_limited_rest_gets_the_other(engine, instances, fake, clock):
    app = instances[0]
    ids = await enqueue(engine, clock, "nightowl", 8, quiet=("16:00", "18:00"))
    assert await app.worker.run_once() == []
    clock.advance(hours=1, minutes=1)  # quiet hours over: 8 alerts, at most 2 per bundle (3 a minute)
    await app.worker.run_once()
    first = fake.messages_to("nightowl")
    assert first[0].content.startswith(t("quiet.held", "zh", count=2))
    for _ in range(20):
        clock.advance(61)
        await app.worker.run_once()
    outbox = Outbox(engine, clock)
    assert await statuses(outbox, ids) == ["sent"] * 8
    messages = fake.messages_to("nightowl")
    headings = [m.content.split("\n")[0] for m in messages]
    quiet, rate = t("quiet.held", "zh", count=2), t("rate.held", "zh", count=2)
    assert headings == [quiet] * 3 + [rate]  # the fourth bundle met the minute's limit: held again, and says so
    assert messages[3].at - messages[0].at >= 60
    text = "\n".join(m.content for m in messages)
    assert all(text.count(f"限额测试第{n}条") == 1 for n in range(8))
    assert fake.violations == []


async def test_a_reply_to_a_member_at_their_limit_waits_for_room(engine, instances, fake, clock):
    app = instances[0]
    await enqueue(engine, clock, "busy", 3)
    await app.worker.run_once()  # the minute's 3 messages are alerts
    first = fake.messages_to("busy")[0].at
    reply = asyncio.ensure_future(app.send_reply("busy", ["已收到"]))
    assert await drive(clock, lambda: reply.done()) and reply.result() is True
    answer = fake.messages_to("busy")[-1]
    assert answer.content == "已收到" and answer.at >= first + 60
    assert fake.violations == []


async def test_text_msgtype_reaches_the_member_as_text(engine, fake, clock):
    api = WeComApi(fake.base_url, corp_id=CORP_ID, secret=SECRET, agent_id=AGENT, clock=clock)
    try:
        text_only = settings(fake, msgtype="text")
        app = WeComAppChannel(text_only, InboundLog(engine, "wecom"), None, Outbox(engine, clock),
                              DeliveryComposer(ItemStore(engine), text_only), api, chats=ChatStore(engine, clock), clock=clock)
        await enqueue(engine, clock, "wechat-user", 1)
        await app.worker.run_once()
        [message] = fake.messages_to("wechat-user")
        assert message.msgtype == "text" and "**" not in message.content
        assert "https://e.x/wechat-user/0.html" in message.content
    finally:
        await api.aclose()
