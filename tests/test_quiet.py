"""Quiet hours: windows across midnight, their end in the chat's zone, and alert bundling."""

from __future__ import annotations

import asyncio
from datetime import datetime, time, timedelta, timezone

import fake_telegram
import pytest
from sqlalchemy import insert
from virtual_time import drive

from bot.channels.telegram.sender import TelegramSender, delivery_worker, make_bot
from bot.core.clock import FakeClock
from bot.core.model import Delivery
from bot.core.quiet import QuietWindow, bundle, bundle_alerts, hold_until, parse_hhmm, quiet_until
from bot.core.text import Block, Bold, Plain, render_plain
from bot.delivery.worker import Sent
from bot.store.chats import ChatStore
from bot.store.outbox import Outbox
from monitors.db import items

SH = timezone(timedelta(hours=8))


def at(hh: int, mm: int, day: int = 14) -> datetime:
    return datetime(2026, 6, day, hh, mm, tzinfo=SH)


@pytest.mark.parametrize(
    ("local", "inside"),
    [(time(21, 59), False), (time(22, 0), True), (time(23, 59), True), (time(0, 0), True),
     (time(7, 29, 59), True), (time(7, 30), False), (time(12, 0), False)],
)
def test_window_across_midnight(local, inside):
    assert QuietWindow.parse("22:00-07:30").contains(local) is inside


@pytest.mark.parametrize(("local", "inside"), [(time(12, 59), False), (time(13, 0), True), (time(13, 59), True), (time(14, 0), False)])
def test_window_within_a_day(local, inside):
    assert QuietWindow.parse("13:00-14:00").contains(local) is inside


def test_empty_window_holds_nothing():
    w = QuietWindow.parse("08:00-08:00")
    assert w.empty and not w.contains(time(8, 0))
    assert quiet_until(at(8, 0), w, "Asia/Shanghai") is None


@pytest.mark.parametrize("bad", ["22:00", "25:00-07:00", "22:00-7:60", "a-b", "", "22:00-07:30-09:00"])
def test_bad_windows_are_refused(bad):
    with pytest.raises(ValueError):
        QuietWindow.parse(bad)


def test_parse_accepts_one_digit_hour_and_dash_variants():
    assert parse_hhmm("7:05") == time(7, 5)
    assert QuietWindow.parse("22:00～7:30") == QuietWindow(time(22, 0), time(7, 30))
    assert str(QuietWindow.parse("22:00~7:30")) == "22:00-07:30"


def test_end_is_next_morning_before_midnight_and_same_morning_after():
    w = QuietWindow.parse("22:00-07:30")
    assert quiet_until(at(23, 15), w, "Asia/Shanghai") == at(7, 30, day=15)
    assert quiet_until(at(3, 0), w, "Asia/Shanghai") == at(7, 30, day=14)
    assert quiet_until(at(7, 30), w, "Asia/Shanghai") is None
    assert quiet_until(at(21, 59), w, "Asia/Shanghai") is None


def test_window_is_in_the_chats_own_zone():
    w = QuietWindow.parse("22:00-07:30")
    # 23:00 in Shanghai is 17:00 in Berlin (summer): not quiet there.
    assert quiet_until(at(23, 0), w, "Europe/Berlin") is None
    # 05:00 Shanghai = 23:00 Berlin the evening before: quiet until 07:30 Berlin = 13:30 Shanghai.
    end = quiet_until(at(5, 0), w, "Europe/Berlin")
    assert end == at(13, 30)
    assert end.tzinfo is not None and end.utcoffset() == timedelta(0)


def test_dst_change_inside_the_window():
    # Europe/Berlin springs forward on 2026-03-29 at 02:00 -> 03:00; the window still ends at 07:30 local.
    w = QuietWindow.parse("22:00-07:30")
    before = datetime(2026, 3, 28, 23, 0, tzinfo=timezone(timedelta(hours=1))).astimezone(timezone.utc)
    end = quiet_until(before, w, "Europe/Berlin")
    assert end == datetime(2026, 3, 29, 7, 30, tzinfo=timezone(timedelta(hours=2)))


def test_unknown_zone_falls_back_to_shanghai():
    w = QuietWindow.parse("22:00-07:30")
    assert quiet_until(at(23, 0), w, "Mars/Olympus") == at(7, 30, day=15)


def test_hold_until_from_chat_columns_with_a_fake_clock():
    clock = FakeClock(at(21, 50))
    assert hold_until(clock.now(), "22:00", "07:30", "Asia/Shanghai") is None
    clock.advance(minutes=15)
    assert hold_until(clock.now(), "22:00", "07:30", "Asia/Shanghai") == at(7, 30, day=15)
    assert hold_until(clock.now(), None, None, "Asia/Shanghai") is None
    assert hold_until(clock.now(), "22:00", "nonsense", "Asia/Shanghai") is None
    clock.set(at(7, 30, day=15))
    assert hold_until(clock.now(), "22:00", "07:30", "Asia/Shanghai") is None


def test_bundle_packs_in_order_up_to_the_limit():
    parts = ["a" * 1000, "b" * 1000, "c" * 1000, "d" * 2000, "e" * 100]
    groups = bundle(parts, len, 4096, separator_size=2)
    assert groups == [parts[:3], parts[3:]]
    for g in groups:
        assert sum(map(len, g)) + 2 * (len(g) - 1) <= 4096


def test_bundle_exact_fit_and_oversized_part():
    assert bundle(["x" * 2047, "y" * 2047], len, 4096, 2) == [["x" * 2047, "y" * 2047]]
    assert bundle(["x" * 2047, "y" * 2048], len, 4096, 2) == [["x" * 2047], ["y" * 2048]]
    big = "z" * 5000
    assert bundle(["a", big, "b"], len, 4096) == [["a"], [big], ["b"]]
    assert bundle([], len, 4096) == []


# ------------------------------------------------------------------------------ store: held alerts


async def _item(engine, url="https://x.gov.cn/a.html", title="在线教育新政", topics=("online_education",), when=None):


    async with engine.begin() as conn:
        result = await conn.execute(
            insert(items).values(
                url=url, source_id="s", title=title, published=when, first_seen_at=when,
                summary="", body="", lang="zh", topics=list(topics), matched={}, baseline=False,
            ).returning(items.c.id)
        )
        return result.scalar_one()


async def test_alerts_inside_quiet_hours_are_held_until_the_window_ends(engine):

    clock = FakeClock(at(23, 0))
    store = ChatStore(engine, clock)
    quiet_chat = await store.get_or_create("telegram", "1")
    await store.set_quiet(quiet_chat.id, "22:00", "07:30")
    loud_chat = await store.get_or_create("telegram", "2")
    outbox = Outbox(engine, clock)
    item_id = await _item(engine, when=clock.now())
    rows = [{"chat_id": c.id, "kind": "alert", "ref": str(item_id), "item_id": item_id} for c in (quiet_chat, loud_chat)]
    rows.append({"chat_id": quiet_chat.id, "kind": "notice", "ref": "n1", "payload": {"text": "hi"}})
    assert await outbox.enqueue(rows) == 3
    claimed = await outbox.claim("w", 10, ["telegram"])
    assert sorted((d.chat_id, d.kind) for d in claimed) == sorted([(loud_chat.id, "alert"), (quiet_chat.id, "notice")])
    held = await outbox.pending_for_chat(quiet_chat.id, "alert")
    assert [d.not_before for d in held] == [at(7, 30, day=15)]
    clock.set(at(7, 29, day=15))
    assert await outbox.claim("w", 10, ["telegram"]) == []
    clock.set(at(7, 30, day=15))
    released = await outbox.claim("w", 10, ["telegram"])
    assert [(d.chat_id, d.kind) for d in released] == [(quiet_chat.id, "alert")]


async def test_several_held_alerts_come_out_together_at_the_end(engine):

    clock = FakeClock(at(22, 5))
    store = ChatStore(engine, clock)
    chat = await store.get_or_create("telegram", "1")
    await store.set_quiet(chat.id, "22:00", "07:30")
    outbox = Outbox(engine, clock)
    for n in range(5):
        item_id = await _item(engine, url=f"https://x.gov.cn/{n}.html", when=clock.now())
        await outbox.enqueue([{"chat_id": chat.id, "kind": "alert", "ref": str(item_id), "item_id": item_id}])
        clock.advance(hours=2)  # 22:05, 00:05, 02:05, 04:05, 06:05: all inside the window
    clock.set(at(7, 30, day=15))
    released = await outbox.claim("w", 50, ["telegram"])
    assert len(released) == 5 and {d.chat_id for d in released} == {chat.id}


# ------------------------------------------------------------------------------ bundling at the end of quiet hours


def D(**fields) -> Delivery:
    """An outbox row as the worker claims it."""
    return Delivery(ref=f"ref-{fields['id']}", **fields)


def test_bundle_alerts_groups_held_alerts_per_chat_in_claim_order():

    held = at(7, 30)
    rows = [
        D(id=1, chat_id=10, kind="alert", not_before=held, attempts=0, lang="zh"),
        D(id=2, chat_id=20, kind="alert", not_before=None, attempts=0, lang="en"),
        D(id=3, chat_id=10, kind="alert", not_before=held, attempts=0, lang="zh"),
        D(id=4, chat_id=10, kind="digest", not_before=None, attempts=0, lang="zh"),
        D(id=5, chat_id=10, kind="alert", not_before=held, attempts=2, lang="zh"),  # a retry: alone
        D(id=6, chat_id=30, kind="alert", not_before=held, attempts=0, lang="en"),
        D(id=7, chat_id=10, kind="alert", not_before=held, attempts=0, lang="zh"),  # no blocks: left out
    ]
    blocks = {i: [[(Plain(f"item {i}"),)]] for i in range(1, 7)}
    units = bundle_alerts(rows, blocks)
    assert [[m.id for m in members] for members, _ in units] == [[1, 3], [2], [4], [5], [6]]
    first = units[0][1]
    assert render_plain(first[0]) == "🔕 免打扰期间收到 2 条提醒："
    assert [render_plain(b) for b in first[1:]] == ["item 1", "item 3"]
    assert len(units[4][1]) == 1  # a single held alert needs no header
    two = bundle_alerts([rows[5], D(id=8, chat_id=30, kind="alert", not_before=held, attempts=0, lang="en")], {6: blocks[6], 8: blocks[6]})
    assert render_plain(two[0][1][0]) == "🔕 2 alerts arrived during your quiet hours:"


async def test_held_alerts_leave_as_one_message_through_telegram(engine):
    """The worker bundles a chat's held alerts; the Telegram channel sends them as one
    message (the fake Bot API, on the test's clock)."""


    clock = FakeClock(at(23, 0))
    store = ChatStore(engine, clock)
    chat = await store.get_or_create("telegram", "501", lang="en")
    await store.set_quiet(chat.id, "22:00", "07:30")
    other = await store.get_or_create("telegram", "502", lang="en")
    outbox = Outbox(engine, clock)
    ids = []
    for n in range(3):
        ids.append(await _item(engine, url=f"https://x.gov.cn/q{n}.html", when=clock.now()))
        rows = [{"chat_id": c.id, "kind": "alert", "ref": str(ids[-1]), "item_id": ids[-1]} for c in (chat, other)]
        await outbox.enqueue(rows)
        clock.advance(minutes=30)

    async def compose(deliveries) -> dict[int, list[Block]]:
        return {d.id: [[(Bold(f"alert for item {d.item_id}"),)]] for d in deliveries}

    with fake_telegram.FakeTelegram(clock=lambda: clock.now().timestamp()) as tg:
        bot = make_bot(tg.token, tg.base_url)
        await bot.initialize()
        sender = TelegramSender(bot, clock, secrets=[tg.token])
        worker = delivery_worker(outbox, store, compose, sender, clock)
        await sender.start()

        async def one_round():
            round_ = asyncio.ensure_future(worker.run_once())
            await drive(clock, round_.done, busy=lambda: sender.requests_in_flight > 0)
            return round_.result()

        try:
            loud = await one_round()  # the chat without quiet hours: three separate messages
            assert [r.unit.address for r in loud] == ["502", "502", "502"]
            assert [len(tg.messages_to(502)), tg.messages_to(501)] == [3, []]
            clock.set(at(7, 30, day=15))
            [held] = await one_round()
        finally:
            await sender.stop()
            await worker.stop()
            await bot.shutdown()
        assert held.unit.address == "501" and len(held.unit.members) == 3 and held.outcome == Sent()
        [message] = tg.messages_to(501)
        assert tg.violations == []
    text = message.text
    assert text.startswith("🔕 3 alerts arrived during your quiet hours:")
    assert [text.index(f"alert for item {i}") for i in ids] == sorted(text.index(f"alert for item {i}") for i in ids)
    assert await outbox.pending_for_chat(chat.id) == []
    assert (await outbox.counts())["sent"] == 6
