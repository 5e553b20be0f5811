"""TelegramSender (through the service's OutboxWorker) against the fake Bot API (a real HTTP
server) and a real outbox, on a FakeClock: the sender, the outbox and the fake's limit checks
all read the same clock, which moves to the next deadline whenever no request is in flight
(tests/virtual_time.py), so Telegram's 1 msg/s per chat and 30 msg/s overall are kept and
checked without waiting for them.

Deliveries here carry their text in the payload and a small renderer turns it into blocks;
the real alert formatting is exercised end to end in test_telegram_e2e.py.
"""

from __future__ import annotations

from datetime import datetime, timezone

import fake_telegram
import pytest
from sqlalchemy import select
from virtual_time import drive, pass_time

from bot.channels.telegram.app import MENU_COMMANDS, AdminCache, addressed_to, menu
from bot.channels.telegram.sender import Outgoing, TelegramSender, delivery_worker, html_to_plain, keyboard_markup, make_bot
from bot.core.clock import FakeClock, SystemClock
from bot.core.text import Bold, Link, Plain
from bot.store.chats import ChatStore
from bot.store.outbox import Outbox
from bot.store.schema import deliveries


@pytest.fixture
def clock():
    return FakeClock(datetime(2026, 6, 14, 9, 0, tzinfo=timezone.utc))


@pytest.fixture
def fake(clock):
    server = fake_telegram.FakeTelegram(clock=lambda: clock.now().timestamp()).start()
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
    def __init__(self, engine, fake, clock):
        self.engine = engine
        self.fake = fake
        self.clock = clock
        self.chats = ChatStore(engine, clock)
        self.outbox = Outbox(engine, clock)
        self.bot = make_bot(fake.token, fake.base_url)
        # the service's waiting periods: on a FakeClock they cost no real time
        self.sender = TelegramSender(self.bot, clock, secrets=[fake.token])
        self.worker = delivery_worker(self.outbox, self.chats, compose_payloads, self.sender, clock)

    def busy(self) -> bool:
        """Requests in flight or the worker claiming/recording: the clock waits for them."""
        return self.sender.requests_in_flight > 0 or self.worker.working

    async def start(self) -> None:
        await self.bot.initialize()
        await self.sender.start()
        await self.worker.start()

    async def stop(self) -> None:
        self.worker.halt()
        await self.sender.stop()
        await self.worker.stop()
        await self.bot.shutdown()

    async def chat(self, address: int, kind: str = "private"):
        return await self.chats.get_or_create("telegram", str(address), kind=kind)

    async def enqueue(self, chat, ref: str, **payload) -> None:
        await self.outbox.enqueue([{"chat_id": chat.id, "kind": "alert", "ref": ref, "payload": payload}])
        self.worker.wake()

    async def rows(self):
        async with self.engine.connect() as conn:
            return (await conn.execute(select(deliveries).order_by(deliveries.c.id))).all()

    async def wait_rows(self, predicate, limit: float = 120.0):
        """Let the clock run until the outbox rows satisfy ``predicate``; the rows."""

        async def reached():
            rows = await self.rows()
            return rows if predicate(rows) else None

        try:
            return await drive(self.clock, reached, busy=self.busy, limit=limit)
        except AssertionError as exc:
            rows = await self.rows()
            raise AssertionError(f"outbox never reached the expected state ({exc}): {[(r.id, r.status, r.last_error) for r in rows]}") from None

    async def until(self, done, limit: float = 60.0):
        return await drive(self.clock, done, busy=self.busy, limit=limit)

    async def pass_time(self, seconds: float) -> None:
        await pass_time(self.clock, seconds, busy=self.busy)


@pytest.fixture
async def env(engine, fake, clock):
    e = Env(engine, fake, clock)
    await e.start()
    yield e
    await e.stop()


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
    await env.until(lambda: env.fake.rejected)  # the 429 came back
    await env.pass_time(0.3)
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


async def test_long_flood_wait_hands_the_delivery_back_until_it_ends(env):
    chat = await env.chat(2501)
    env.fake.fail_next(2501, "429", retry_after=45)  # over the sender's long_wait (30 s)
    start = env.clock.now()
    await env.enqueue(chat, "a", title="later")
    [row] = await env.wait_rows(lambda rows: rows and rows[0].status == "pending" and rows[0].not_before is not None)
    assert row.attempts == 0 and 45 <= (row.not_before - start).total_seconds() <= 47
    rows = await env.wait_rows(lambda rows: rows[0].status == "sent")
    [message] = env.fake.messages_to(2501)
    assert message.at >= row.not_before.timestamp()
    assert rows[0].attempts == 0


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
    # a later delivery to the inactive chat is never claimed (three claim intervals pass)
    await env.enqueue(gone, "c", title="later")
    await env.pass_time(3 * env.worker.claim_interval)
    assert [m for m in env.fake.sent if m.chat_id == 3001] == []
    assert [r.status for r in await env.rows() if r.chat_id == gone.id] == ["dropped", "dropped", "pending"]


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
    start = env.clock.now()
    await env.enqueue(chat, "a", title="x")
    rows = await env.wait_rows(lambda rows: rows and rows[0].attempts == 1)
    row = rows[0]
    assert row.status == "pending"
    assert 5 <= (row.not_before - start).total_seconds() <= 7  # the first backoff, after the start-up pause
    assert "Internal Server Error" in row.last_error
    assert env.fake.token not in row.last_error
    # due again after the backoff: sent then
    rows = await env.wait_rows(lambda rows: rows[0].status == "sent")
    assert rows[0].sent_at >= row.not_before


async def test_long_delivery_goes_in_ordered_parts_and_is_sent_after_the_last(env):
    chat = await env.chat(7001)
    paragraphs = [f"Paragraph {i}: " + "word " * 300 for i in range(8)]  # ~12,000 characters
    await env.enqueue(chat, "long", paragraphs=paragraphs)
    rows = await env.wait_rows(lambda rows: rows and rows[0].status == "sent")
    parts = env.fake.messages_to(7001)
    assert len(parts) >= 3
    assert all(len(p.text) <= 4096 for p in parts)
    text = "\n".join(p.text for p in parts)
    assert [text.index(f"Paragraph {i}:") for i in range(8)] == sorted(text.index(f"Paragraph {i}:") for i in range(8))
    assert rows[0].sent_at.timestamp() >= parts[-1].at - 1
    gaps = [b.at - a.at for a, b in zip(parts, parts[1:])]
    assert min(gaps) >= 0.9  # one message per second into one chat
    assert env.fake.violations == []


async def test_one_chats_deliveries_leave_in_order(env):
    chat = await env.chat(7501)
    for i in range(4):
        await env.enqueue(chat, f"r{i}", title=f"number {i}")
    await env.wait_rows(lambda rows: len(rows) == 4 and all(r.status == "sent" for r in rows))
    texts = [m.text for m in env.fake.messages_to(7501)]
    assert [next(i for i in range(4) if f"number {i}" in t) for t in texts] == [0, 1, 2, 3]
    assert env.fake.violations == []


async def test_replies_go_in_order_ahead_of_a_fanout(env):
    chats = [await env.chat(8000 + i) for i in range(60)]
    for chat in chats:
        await env.enqueue(chat, "fan", title="fan-out")
    await env.wait_rows(lambda rows: sum(r.status == "sent" for r in rows) >= 5)
    started = env.clock.now().timestamp()
    first = env.sender.send(Outgoing(chat_id=9001, parts=["<b>one</b>"]))
    second = env.sender.send(Outgoing(chat_id=9001, parts=["two", "three"]))
    await env.until(first.done, limit=5)
    message = first.result()
    assert message.text == "<b>one</b>"
    assert message.chat.id == 9001
    await env.until(second.done, limit=5)
    replies = env.fake.messages_to(9001)
    assert [m.text for m in replies] == ["<b>one</b>", "two", "three"]
    # answered long before the 60-chat fan-out (2 s at 30/s) could have finished in front of it
    assert replies[0].at - started < 1.0
    await env.wait_rows(lambda rows: len(rows) == 60 and all(r.status == "sent" for r in rows))
    assert env.fake.violations == []


async def test_reply_with_keyboard_and_edit(env):

    class Button:
        def __init__(self, label, data):
            self.label, self.data = label, data

    markup = keyboard_markup([[Button("A", "t:a"), Button("B", "t:b")]])
    sent = env.sender.send(Outgoing(chat_id=9101, parts=["pick"], keyboard=markup))
    msg = await env.until(lambda: sent.done() and sent.result(), limit=5)
    assert env.fake.messages_to(9101)[0].buttons == [("A", "t:a"), ("B", "t:b")]
    edited = env.sender.send(Outgoing(chat_id=9101, parts=["picked"], keyboard=markup, edit_message_id=msg.message_id))
    await env.until(edited.done, limit=5)
    edits = [m for m in env.fake.sent if m.method == "editMessageText"]
    assert [(e.chat_id, e.message_id, e.text) for e in edits] == [(9101, msg.message_id, "picked")]


async def test_stop_hands_unsent_deliveries_back(engine, fake, clock):
    e = Env(engine, fake, clock)
    group = await e.chat(-9201, kind="group")
    for i in range(5):
        await e.enqueue(group, f"r{i}", title=f"n{i}")
    await e.start()
    await e.wait_rows(lambda rows: any(r.status == "sent" for r in rows))
    await e.stop()
    rows = await e.rows()
    assert {r.status for r in rows} <= {"sent", "pending"}
    assert "pending" in {r.status for r in rows}
    assert len(fake.messages_to(-9201)) == sum(r.status == "sent" for r in rows)


async def test_a_leader_past_its_lease_sends_no_more_deliveries_but_still_replies(engine, fake, clock):
    """A paused leader wakes up: before it stands by, its sender hands every delivery it has
    not started back to the outbox (the new leader sends them); a reply still goes."""
    leading = [True]
    e = Env(engine, fake, clock)
    e.sender.may_deliver = lambda: leading[0]
    group = await e.chat(-9301, kind="group")  # 20 a minute: most deliveries wait in the sender
    for i in range(6):
        await e.enqueue(group, f"r{i}", title=f"n{i}")
    await e.start()
    await e.wait_rows(lambda rows: sum(r.status == "sent" for r in rows) >= 2)
    leading[0] = False
    sent_then = len(fake.messages_to(-9301))
    reply = e.sender.send(Outgoing(chat_id=9302, parts=["still answered"]))
    await e.until(reply.done, limit=5)
    await e.pass_time(10)
    await e.stop()
    rows = await e.rows()
    assert len(fake.messages_to(-9301)) <= sent_then + 1  # at most the one in flight
    assert sum(r.status == "sent" for r in rows) == len(fake.messages_to(-9301))
    assert {r.status for r in rows} == {"sent", "pending"}
    assert [m.text for m in fake.messages_to(9302)] == ["still answered"]


async def test_a_new_leader_takes_back_what_the_previous_leader_claimed(engine, clock):
    outbox, chats_ = Outbox(engine, clock), ChatStore(engine, clock)
    chat = await chats_.get_or_create("telegram", "77")
    await outbox.enqueue([{"chat_id": chat.id, "kind": "alert", "ref": str(n)} for n in range(4)])
    assert len(await outbox.claim("telegram-leader-11-aaaaaa", 2, ["telegram"])) == 2  # the dead leader
    assert len(await outbox.claim("telegram-12-bbbbbb", 1, ["telegram"])) == 1  # a delivery worker: alive
    assert len(await outbox.claim("telegram-leader-13-cccccc", 1, ["telegram"])) == 1  # the new leader
    assert await outbox.requeue_claimed("telegram-leader-", keep="telegram-leader-13-cccccc") == 2
    async with engine.connect() as conn:
        rows = (await conn.execute(select(deliveries.c.status, deliveries.c.claimed_by).order_by(deliveries.c.id))).all()
    assert [tuple(r) for r in rows] == [
        ("pending", None), ("pending", None), ("sending", "telegram-12-bbbbbb"), ("sending", "telegram-leader-13-cccccc"),
    ]


def test_html_to_plain_keeps_link_targets_and_unescapes():
    assert html_to_plain('<b>A &amp; B</b> <a href="https://x.org/?a=1&amp;b=2">read</a>') == "A & B read https://x.org/?a=1&b=2"
    assert html_to_plain('<a href="https://x.org/">https://x.org/</a>') == "https://x.org/"


def test_errors_are_redacted(fake):
    sender = TelegramSender(make_bot(fake.token, fake.base_url), SystemClock(), secrets=[fake.token])
    text = sender._redact(RuntimeError(f"POST {fake.base_url}{fake.token}/sendMessage failed"))
    assert fake.token not in text
    assert "***" in text


def test_commands_for_other_bots_are_not_ours():

    assert addressed_to("/help", "shwatch_bot")
    assert addressed_to("/help@ShWatch_Bot now", "shwatch_bot")
    assert not addressed_to("/help@other_bot", "shwatch_bot")
    assert addressed_to("plain text with @someone", "shwatch_bot")


def test_admin_answers_are_cached_for_a_while():

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

    en, zh = menu("en"), menu("zh")
    assert [c.command for c in en] == [c.command for c in zh] == list(MENU_COMMANDS)
    assert all(1 <= len(c.description) <= 256 for c in en + zh)
    assert en[0].description != zh[0].description
