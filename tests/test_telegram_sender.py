"""TelegramSender against the fake Bot API (a real HTTP server) and a real outbox.

Deliveries here carry their text in the payload and a small renderer turns it into blocks;
the real alert formatting is exercised end to end in test_telegram_e2e.py.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import select

import fake_telegram
from bot.store.chats import ChatStore
from bot.store.schema import deliveries
from bot.store.outbox import Outbox
from bot.channels.telegram.sender import Outgoing, OutboxFeed, TelegramSender, html_to_plain, make_bot
from bot.core.text import Bold, Link, Plain


@pytest.fixture
def fake():
    server = fake_telegram.FakeTelegram().start()
    yield server
    server.stop()


def payload_blocks(p):
    """Blocks from a test delivery's payload: a bold title, a body, a link; or a long body."""
    if "paragraphs" in p:
        return [[(Plain(text),)] for text in p["paragraphs"]]
    return [[(Bold(p["title"]),), (Plain(p.get("body", "")),), (Link("link", p.get("url", "https://example.org/a?x=1&y=2")),)]]


async def compose_payloads(deliveries):
    return {d.id: payload_blocks(d.payload) for d in deliveries}


class Env:
    def __init__(self, engine, fake):
        self.engine = engine
        self.fake = fake
        self.chats = ChatStore(engine)
        self.outbox = Outbox(engine)
        self.bot = make_bot(fake.token, fake.base_url)
        self.sender = TelegramSender(
            self.bot,
            OutboxFeed(self.outbox, self.chats, compose_payloads),
            secrets=[fake.token],
            claim_interval=0.2,
            part_retry_delay=0.2,
        )

    async def chat(self, address: int, kind: str = "private"):
        return await self.chats.get_or_create("telegram", str(address), kind=kind)

    async def enqueue(self, chat, ref: str, **payload) -> None:
        await self.outbox.enqueue([{"chat_id": chat.id, "kind": "alert", "ref": ref, "payload": payload}])
        self.sender.wake()

    async def rows(self):
        async with self.engine.connect() as conn:
            return (await conn.execute(select(deliveries).order_by(deliveries.c.id))).all()

    async def wait_rows(self, predicate, timeout: float = 15.0):
        deadline = time.monotonic() + timeout
        while True:
            rows = await self.rows()
            if predicate(rows):
                return rows
            if time.monotonic() > deadline:
                raise AssertionError(f"outbox never reached the expected state: {[(r.id, r.status, r.last_error) for r in rows]}")
            await asyncio.sleep(0.05)


@pytest.fixture
async def env(engine, fake):
    e = Env(engine, fake)
    await e.bot.initialize()
    await e.sender.start()
    yield e
    await e.sender.stop()
    await e.bot.shutdown()


async def test_fanout_delivers_each_delivery_once_within_limits(env):
    chats = [await env.chat(1000 + i) for i in range(45)]
    for chat in chats:
        await env.enqueue(chat, "item-1", title=f"News for {chat.address}", body="a < b & c")
    rows = await env.wait_rows(lambda rows: all(r.status == "sent" for r in rows) and len(rows) == 45)
    assert all(r.sent_at is not None for r in rows)
    sent = env.fake.sent
    assert sorted(m.chat_id for m in sent) == sorted(int(c.address) for c in chats)
    assert all(m.parse_mode == "HTML" for m in sent)
    assert "<b>News for 1000</b>\na &lt; b &amp; c\n" in next(m.text for m in sent if m.chat_id == 1000)
    assert env.fake.violations == []
    assert env.fake.answered_429 == 0


async def test_flood_wait_on_one_chat_does_not_stall_the_others(env):
    flooded = await env.chat(2001)
    others = [await env.chat(2100 + i) for i in range(5)]
    env.fake.fail_next(2001, "429", retry_after=2)
    await env.enqueue(flooded, "a", title="first")
    await env.wait_rows(lambda rows: any(r.status == "sending" for r in rows))
    await asyncio.sleep(0.3)
    for chat in others:
        await env.enqueue(chat, "a", title="other")
    rows = await env.wait_rows(lambda rows: len(rows) == 6 and all(r.status == "sent" for r in rows))
    by_chat = {m.chat_id: m for m in env.fake.sent}
    assert set(by_chat) == {2001, *(int(c.address) for c in others)}
    # the others went out while 2001 was waiting out its retry_after
    assert all(by_chat[int(c.address)].at < by_chat[2001].at for c in others)
    assert by_chat[2001].at - min(m.at for m in env.fake.sent) >= 1.5
    flooded_row = next(r for r in rows if r.chat_id == flooded.id)
    assert flooded_row.attempts == 0  # a flood wait is not a failed attempt
    assert env.fake.violations == []


async def test_blocked_user_is_deactivated_and_its_pending_deliveries_dropped(env):
    gone = await env.chat(3001)
    stays = await env.chat(3002)
    env.fake.block(3001)
    await env.enqueue(gone, "a", title="one")
    await env.enqueue(gone, "b", title="two")
    await env.enqueue(stays, "a", title="three")
    rows = await env.wait_rows(
        lambda rows: {r.status for r in rows if r.chat_id == gone.id} == {"dropped"}
        and any(r.status == "sent" for r in rows if r.chat_id == stays.id)
    )
    assert (await env.chats.get_by_id(gone.id)).active is False
    assert len([r for r in env.fake.rejected if r[0] == 3001]) == 1  # one try, then no more sends
    assert all("forbidden" in (r.last_error or "").lower() for r in rows if r.chat_id == gone.id)
    # a later delivery to the inactive chat is never claimed
    await env.enqueue(gone, "c", title="later")
    await asyncio.sleep(0.6)
    assert [m for m in env.fake.sent if m.chat_id == 3001] == []


async def test_migrated_group_gets_the_message_at_its_new_id(env):
    group = await env.chat(-4001, kind="group")
    env.fake.migrate(-4001, -1004001)
    await env.enqueue(group, "a", title="to the supergroup")
    await env.wait_rows(lambda rows: rows and rows[0].status == "sent")
    assert [m.chat_id for m in env.fake.sent] == [-1004001]
    moved = await env.chats.get_by_id(group.id)
    assert moved.address == "-1004001"


async def test_html_refused_is_resent_as_plain_text(env):
    chat = await env.chat(5001)
    env.fake.fail_next(5001, "parse")
    await env.enqueue(chat, "a", title="Bold <title>", url="https://example.org/p?a=1&b=2")
    await env.wait_rows(lambda rows: rows and rows[0].status == "sent")
    [message] = env.fake.messages_to(5001)
    assert message.parse_mode is None
    assert message.text == "Bold <title>\n\nlink https://example.org/p?a=1&b=2"


async def test_server_error_goes_back_to_the_outbox_with_a_reason(env):
    chat = await env.chat(6001)
    env.fake.fail_next(6001, "500")
    await env.enqueue(chat, "a", title="x")
    rows = await env.wait_rows(lambda rows: rows and rows[0].attempts == 1)
    row = rows[0]
    assert row.status == "pending"
    assert row.not_before is not None
    assert "Internal Server Error" in row.last_error
    assert env.fake.token not in row.last_error


async def test_long_delivery_goes_in_ordered_parts_and_is_sent_after_the_last(env):
    chat = await env.chat(7001)
    paragraphs = [f"Paragraph {i}: " + "word " * 300 for i in range(8)]  # ~12,000 characters
    await env.enqueue(chat, "long", paragraphs=paragraphs)
    rows = await env.wait_rows(lambda rows: rows and rows[0].status == "sent", timeout=20)
    parts = env.fake.messages_to(7001)
    assert len(parts) >= 3
    assert all(len(p.text) <= 4096 for p in parts)
    text = "\n".join(p.text for p in parts)
    assert [text.index(f"Paragraph {i}:") for i in range(8)] == sorted(text.index(f"Paragraph {i}:") for i in range(8))
    assert rows[0].sent_at.timestamp() >= parts[-1].at - 1
    gaps = [b.at - a.at for a, b in zip(parts, parts[1:])]
    assert min(gaps) >= 0.9  # one message per second into one chat
    assert env.fake.violations == []


async def test_replies_go_in_order_ahead_of_a_fanout(env):
    chats = [await env.chat(8000 + i) for i in range(60)]
    for chat in chats:
        await env.enqueue(chat, "fan", title="fan-out")
    await env.wait_rows(lambda rows: sum(r.status == "sent" for r in rows) >= 5)
    started = time.time()
    first = env.sender.send(Outgoing(chat_id=9001, parts=["<b>one</b>"]))
    second = env.sender.send(Outgoing(chat_id=9001, parts=["two", "three"]))
    message = await asyncio.wait_for(first, 5)
    assert message.text == "<b>one</b>"
    assert message.chat.id == 9001
    await asyncio.wait_for(second, 5)
    replies = env.fake.messages_to(9001)
    assert [m.text for m in replies] == ["<b>one</b>", "two", "three"]
    # answered long before the 60-chat fan-out (2 s at 30/s) could have finished in front of it
    assert replies[0].at - started < 1.0
    await env.wait_rows(lambda rows: len(rows) == 60 and all(r.status == "sent" for r in rows))
    assert env.fake.violations == []


async def test_reply_with_keyboard_and_edit(env):
    from bot.channels.telegram.sender import keyboard_markup

    class Button:
        def __init__(self, label, data):
            self.label, self.data = label, data

    markup = keyboard_markup([[Button("A", "t:a"), Button("B", "t:b")]])
    msg = await asyncio.wait_for(env.sender.send(Outgoing(chat_id=9101, parts=["pick"], keyboard=markup)), 5)
    assert env.fake.messages_to(9101)[0].buttons == [("A", "t:a"), ("B", "t:b")]
    await asyncio.wait_for(
        env.sender.send(Outgoing(chat_id=9101, parts=["picked"], keyboard=markup, edit_message_id=msg.message_id)), 5
    )
    edits = [m for m in env.fake.sent if m.method == "editMessageText"]
    assert [(e.chat_id, e.message_id, e.text) for e in edits] == [(9101, msg.message_id, "picked")]


async def test_stop_hands_unsent_deliveries_back(engine, fake):
    e = Env(engine, fake)
    await e.bot.initialize()
    group = await e.chat(-9201, kind="group")
    for i in range(5):
        await e.enqueue(group, f"r{i}", title=f"n{i}")
    await e.sender.start()
    await e.wait_rows(lambda rows: any(r.status == "sent" for r in rows))
    await e.sender.stop()
    await e.bot.shutdown()
    rows = await e.rows()
    assert {r.status for r in rows} <= {"sent", "pending"}
    assert "pending" in {r.status for r in rows}
    assert len(fake.messages_to(-9201)) == sum(r.status == "sent" for r in rows)


def test_html_to_plain_keeps_link_targets_and_unescapes():
    assert html_to_plain('<b>A &amp; B</b> <a href="https://x.org/?a=1&amp;b=2">read</a>') == "A & B read https://x.org/?a=1&b=2"
    assert html_to_plain('<a href="https://x.org/">https://x.org/</a>') == "https://x.org/"


def test_errors_are_redacted(fake):
    sender = TelegramSender(make_bot(fake.token, fake.base_url), secrets=[fake.token])
    text = sender._redact(RuntimeError(f"POST {fake.base_url}{fake.token}/sendMessage failed"))
    assert fake.token not in text
    assert "***" in text


def test_commands_for_other_bots_are_not_ours():
    from bot.channels.telegram.app import addressed_to

    assert addressed_to("/help", "shwatch_bot")
    assert addressed_to("/help@ShWatch_Bot now", "shwatch_bot")
    assert not addressed_to("/help@other_bot", "shwatch_bot")
    assert addressed_to("plain text with @someone", "shwatch_bot")


def test_admin_answers_are_cached_for_a_while():
    from bot.channels.telegram.app import AdminCache

    cache = AdminCache(ttl=60, max_entries=2)
    cache.put(-1, 7, True, now=0.0)
    assert cache.get(-1, 7, now=59.0) is True
    assert cache.get(-1, 7, now=60.0) is None  # expired: ask Telegram again
    assert cache.get(-1, 8, now=1.0) is None
    cache.put(-1, 8, False, now=1.0)
    cache.put(-2, 9, True, now=60.5)  # full: the expired answer makes room
    assert cache.get(-1, 8, now=60.6) is False and cache.get(-2, 9, now=60.6) is True
    assert len(cache._answers) == 2


def test_command_menu_in_both_languages():
    from bot.channels.telegram.app import MENU_COMMANDS, menu

    en, zh = menu("en"), menu("zh")
    assert [c.command for c in en] == [c.command for c in zh] == list(MENU_COMMANDS)
    assert all(1 <= len(c.description) <= 256 for c in en + zh)
    assert en[0].description != zh[0].description
