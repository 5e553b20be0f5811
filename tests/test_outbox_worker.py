"""OutboxWorker: claim -> compose -> bundle -> send -> record, on a real outbox (SQLite and
PostgreSQL) and a FakeClock.

The channel here is a scripted one: it answers each unit with the outcome the test lines up
for its address (Sent when none) and notes what it was given and how many units were in
flight, per address and overall. The real channels are tested against their fake servers
(test_telegram_sender.py, test_wecom_*.py).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict, deque
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from bot.core.clock import FakeClock, wait_event
from bot.core.text import Plain, render_plain
from bot.delivery.worker import Fail, Gone, Hold, Interrupted, Moved, OutboxWorker, Retry, Sent, Unit, backoff
from bot.store.chats import ChatStore
from bot.store.outbox import Outbox
from bot.store.schema import deliveries
from virtual_time import drive, pass_time

START = datetime(2026, 6, 14, 1, 0, tzinfo=timezone.utc)


class Script:
    """A channel that answers what the test lined up for each address."""

    name = "telegram"

    def __init__(self) -> None:
        self.answers: dict[str, deque] = defaultdict(deque)
        self.gates: dict[str, asyncio.Event] = {}
        self.units: list[Unit] = []
        self.in_flight: dict[str, int] = defaultdict(int)
        self.most_per_address = 0
        self.most_overall = 0

    def answer(self, address: str, *outcomes) -> None:
        self.answers[address].extend(outcomes)

    def texts(self, address: str | None = None) -> list[str]:
        return [render_plain(b) for u in self.units if address in (None, u.address) for b in u.blocks]

    async def send(self, unit: Unit):
        self.units.append(unit)
        self.in_flight[unit.address] += 1
        self.most_per_address = max(self.most_per_address, self.in_flight[unit.address])
        self.most_overall = max(self.most_overall, sum(self.in_flight.values()))
        try:
            gate = self.gates.get(unit.address)
            if gate is not None:
                await gate.wait()
            await asyncio.sleep(0)  # let other lanes run meanwhile
            answers = self.answers[unit.address]
            outcome = answers.popleft() if answers else Sent()
            if isinstance(outcome, Exception):
                raise outcome
            return outcome
        finally:
            self.in_flight[unit.address] -= 1


async def compose(claimed):
    return {d.id: [[(Plain(d.payload["text"]),)]] for d in claimed if d.payload.get("text")}


class Env:
    def __init__(self, engine, **worker_args) -> None:
        self.engine = engine
        self.clock = FakeClock(START)
        self.chats = ChatStore(engine, self.clock)
        self.outbox = Outbox(engine, self.clock)
        self.channel = Script()
        self.worker = OutboxWorker(self.outbox, self.chats, compose, self.channel, self.clock, **worker_args)

    async def chat(self, address: str, kind: str = "private"):
        return await self.chats.get_or_create("telegram", address, kind=kind, lang="en")

    async def enqueue(self, chat, *texts: str, kind: str = "notice") -> list[int]:
        rows = [{"chat_id": chat.id, "kind": kind, "ref": f"{chat.address}-{t}", "payload": {"text": t}} for t in texts]
        await self.outbox.enqueue(rows)
        return [(await self.outbox.find(chat.id, kind, r["ref"])).id for r in rows]

    async def rows(self, chat=None):
        async with self.engine.connect() as conn:
            query = select(deliveries).order_by(deliveries.c.id)
            if chat is not None:
                query = query.where(deliveries.c.chat_id == chat.id)
            return (await conn.execute(query)).all()


@pytest.fixture
def env(engine):
    return Env(engine, batch=20, claim_interval=1.0, concurrency=4)


# ------------------------------------------------------------------------------ outcomes


async def test_each_outcome_is_recorded(env):
    sent, retried, waited, waited_later, refused = [await env.chat(str(n)) for n in range(1, 6)]
    for chat in (sent, retried, waited, waited_later, refused):
        await env.enqueue(chat, "a")
    env.channel.answer("2", Retry(None, "HTTP 502"))
    env.channel.answer("3", Hold(42.0, "flood wait"))
    env.channel.answer("4", Retry(90.0, "busy"))
    env.channel.answer("5", Fail("bad request: text too long"))
    results = await env.worker.run_once()
    assert sorted((r.unit.address, type(r.outcome).__name__) for r in results) == [
        ("1", "Sent"), ("2", "Retry"), ("3", "Hold"), ("4", "Retry"), ("5", "Fail")
    ]
    now = env.clock.now()
    by_chat = {r.chat_id: r for r in await env.rows()}
    assert by_chat[sent.id].status == "sent" and by_chat[sent.id].sent_at == now
    row = by_chat[retried.id]
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "HTTP 502")
    assert row.not_before == now + timedelta(seconds=backoff(0))
    row = by_chat[waited.id]
    assert (row.status, row.attempts, row.not_before) == ("pending", 0, now + timedelta(seconds=42))
    assert by_chat[waited_later.id].not_before == now + timedelta(seconds=90)  # the channel's own delay wins
    row = by_chat[refused.id]
    assert (row.status, row.attempts, row.last_error) == ("failed", 0, "bad request: text too long")


async def test_backoff_grows_with_attempts_and_gives_up_at_the_outbox_limit(env):
    chat = await env.chat("7")
    [delivery] = await env.enqueue(chat, "a")
    waits = []
    for attempt in range(env.outbox.max_attempts):
        env.channel.answer("7", Retry(None, "HTTP 500"))
        assert len(await env.worker.run_once()) == 1
        row = await env.outbox.get(delivery)
        if row.status == "failed":
            break
        waits.append((row.not_before - env.clock.now()).total_seconds())
        env.clock.set(row.not_before)
    assert waits == [backoff(n) for n in range(len(waits))] and waits[:3] == [5.0, 10.0, 20.0]
    assert row.status == "failed" and row.last_error.startswith(f"gave up after {env.outbox.max_attempts} attempts")


async def test_gone_deactivates_the_chat_and_drops_everything_it_had(env):
    gone = await env.chat("10")
    stays = await env.chat("11")
    await env.enqueue(gone, "a", "b", "c")
    await env.enqueue(stays, "a")
    env.channel.answer("10", Gone("forbidden: bot was blocked by the user"))
    await env.worker.run_once()
    assert [u.address for u in env.channel.units].count("10") == 1  # one try, then no more
    assert (await env.chats.get_by_id(gone.id)).active is False
    assert {r.status for r in await env.rows(gone)} == {"dropped"}
    assert all("blocked" in r.last_error for r in await env.rows(gone))
    assert [r.status for r in await env.rows(stays)] == ["sent"]
    # the chat comes back (the person wrote again): its new rows go out
    await env.chats.set_active(gone.id, True)
    await env.enqueue(gone, "d")
    await env.worker.run_once()
    assert env.channel.texts("10")[-1] == "d" and [r.status for r in await env.rows(gone)][-1] == "sent"


async def test_moved_chat_is_migrated_and_the_unit_goes_to_its_new_address(env):
    group = await env.chat("-40", kind="group")
    await env.enqueue(group, "a", "b")
    env.channel.answer("-40", Moved("-10040"))
    await env.worker.run_once()
    assert [u.address for u in env.channel.units] == ["-40", "-10040", "-10040"]
    assert env.channel.texts("-10040") == ["a", "b"]
    assert (await env.chats.get_by_id(group.id)).address == "-10040"
    assert [r.status for r in await env.rows(group)] == ["sent", "sent"]


async def test_interrupted_units_go_back_unless_partly_sent(env):
    first, second = await env.chat("20"), await env.chat("21")
    [a] = await env.enqueue(first, "a")
    [b] = await env.enqueue(second, "b")
    env.channel.answer("20", Interrupted(partial=False))
    env.channel.answer("21", Interrupted(partial=True))
    await env.worker.run_once()
    assert (await env.outbox.get(a)).status == "pending"  # claimable again at once
    assert (await env.outbox.get(b)).status == "sending"  # requeue_stale hands it back later


async def test_a_delivery_with_nothing_to_send_fails_with_a_reason(env):
    chat = await env.chat("30")
    await env.outbox.enqueue([{"chat_id": chat.id, "kind": "notice", "ref": "empty", "payload": {}}])
    [result] = await env.worker.run_once()
    assert result.outcome == Fail("nothing to send (the item is gone or the message is empty)")
    [row] = await env.rows(chat)
    assert row.status == "failed" and "nothing to send" in row.last_error
    assert env.channel.units == []


async def test_compose_failure_hands_the_rows_back(env):
    chat = await env.chat("31")
    [delivery] = await env.enqueue(chat, "a")

    async def broken(claimed):
        raise RuntimeError("renderer bug")

    env.worker.compose = broken
    assert await env.worker.run_once() == []
    row = await env.outbox.get(delivery)
    assert (row.status, row.attempts, row.not_before) == ("pending", 0, None)
    env.worker.compose = compose
    assert [type(r.outcome) for r in await env.worker.run_once()] == [Sent]


async def test_a_channel_that_raises_is_a_retry_and_the_worker_carries_on(env):
    bad, good = await env.chat("32"), await env.chat("33")
    [failing] = await env.enqueue(bad, "a")
    await env.enqueue(good, "b")
    env.channel.answer("32", RuntimeError("channel bug"))
    results = await env.worker.run_once()
    assert sorted(type(r.outcome).__name__ for r in results) == ["Retry", "Sent"]
    row = await env.outbox.get(failing)
    assert (row.status, row.attempts) == ("pending", 1) and "channel bug" in row.last_error


# ------------------------------------------------------------------------------ lanes


async def test_one_address_in_order_one_at_a_time_addresses_side_by_side(env):
    chats = [await env.chat(str(100 + n)) for n in range(5)]  # 20 rows: one claim (batch=20)
    for chat in chats:
        await env.enqueue(chat, *[f"{chat.address}-{i}" for i in range(4)])
    await env.worker.run_once()
    for chat in chats:
        assert env.channel.texts(chat.address) == [f"{chat.address}-{i}" for i in range(4)]
    assert env.channel.most_per_address == 1
    assert 1 < env.channel.most_overall <= 4  # concurrency=4
    assert {r.status for r in await env.rows()} == {"sent"}


async def test_a_unit_that_must_wait_holds_the_rest_of_its_chat(env):
    chat, other = await env.chat("40"), await env.chat("41")
    ids = await env.enqueue(chat, "first", "second", "third")
    await env.enqueue(other, "x")
    env.channel.answer("40", Retry(None, "HTTP 503"))
    await env.worker.run_once()
    assert env.channel.texts("40") == ["first"] and env.channel.texts("41") == ["x"]
    rows = [await env.outbox.get(i) for i in ids]
    due = env.clock.now() + timedelta(seconds=backoff(0))
    assert [(r.status, r.attempts, r.not_before) for r in rows] == [("pending", 1, due), ("pending", 0, due), ("pending", 0, due)]
    env.clock.set(due)
    await env.worker.run_once()
    assert env.channel.texts("40") == ["first", "first", "second", "third"]


async def test_held_alerts_are_bundled_once_by_the_worker(env):
    chat = await env.chat("50")
    await env.chats.set_quiet(chat.id, "08:00", "10:00")  # START is 09:00 in Shanghai
    ids = await env.enqueue(chat, "one", "two", "three", kind="alert")
    assert await env.worker.run_once() == []  # held until 10:00
    env.clock.set(datetime(2026, 6, 14, 2, 0, tzinfo=timezone.utc))
    [result] = await env.worker.run_once()
    assert sorted(result.unit.ids) == sorted(ids) and result.outcome == Sent()
    assert env.channel.texts("50") == ["🔕 3 alerts arrived during your quiet hours:", "one", "two", "three"]


async def test_only_the_given_row_is_sent(env):
    chat = await env.chat("60")
    first, second = await env.enqueue(chat, "a", "b")
    worker = OutboxWorker(env.outbox, env.chats, compose, env.channel, env.clock, only=second)
    [result] = await worker.run_once()
    assert result.unit.ids == [second]
    assert await worker.run_once() == []  # once
    assert [(await env.outbox.get(i)).status for i in (first, second)] == ["pending", "sent"]


# ------------------------------------------------------------------------------ the loop


async def test_the_loop_claims_on_wake_and_every_claim_interval(env):
    chat = await env.chat("70")
    await env.worker.start()
    try:
        await env.enqueue(chat, "woken")
        env.worker.wake()
        # no time passes: the wake did it (and the worker has finished that round, recording
        # included, before the next row arrives)
        await drive(env.clock, lambda: env.channel.texts("70"), limit=0.0, busy=lambda: env.worker.working)
        await env.enqueue(chat, "polled")  # nobody wakes the worker
        await pass_time(env.clock, env.worker.claim_interval * 0.9)
        assert env.channel.texts("70") == ["woken"]
        await drive(env.clock, lambda: len(env.channel.texts("70")) == 2, limit=env.worker.claim_interval)
    finally:
        await env.worker.stop()
    assert env.channel.texts("70") == ["woken", "polled"]


async def test_claimed_rows_stay_within_max_in_flight_and_stop_hands_them_back(engine):
    env = Env(engine, batch=5, max_in_flight=10, concurrency=50)
    chats = [await env.chat(str(200 + n)) for n in range(30)]
    for chat in chats:
        env.channel.gates[chat.address] = asyncio.Event()  # nothing finishes until let go
        await env.enqueue(chat, "a")
    await env.worker.start()
    await drive(env.clock, lambda: len(env.channel.units) == 10, busy=lambda: env.worker.working)
    await pass_time(env.clock, 5 * env.worker.claim_interval, busy=lambda: env.worker.working)
    assert env.worker.queued == 10 and len(env.channel.units) == 10
    for unit in env.channel.units[:4]:  # four finish: no room for a batch of five yet
        env.channel.gates[unit.address].set()
    await pass_time(env.clock, 2 * env.worker.claim_interval, busy=lambda: env.worker.working)
    assert env.worker.queued == 6 and len(env.channel.units) == 10
    env.channel.gates[env.channel.units[4].address].set()  # a fifth: the next batch is claimed at once
    await drive(env.clock, lambda: len(env.channel.units) == 15, busy=lambda: env.worker.working, limit=0.0)
    assert env.worker.queued == 10
    env.worker.stop_grace = 0.05
    await env.worker.stop()
    statuses = [r.status for r in await env.rows()]
    # the ten still in the channel's hands when the grace ran out may have gone out: they stay
    # claimed (requeue_stale hands them back); the fifteen never claimed wait as they were
    assert (statuses.count("sent"), statuses.count("sending"), statuses.count("pending")) == (5, 10, 15)


async def test_stop_lets_a_unit_being_sent_finish_and_hands_back_the_rest(env):
    chat = await env.chat("80")
    ids = await env.enqueue(chat, "a", "b", "c")
    env.channel.gates["80"] = gate = asyncio.Event()
    await env.worker.start()
    env.worker.wake()
    await drive(env.clock, lambda: env.channel.units)
    stopping = asyncio.ensure_future(env.worker.stop())
    await asyncio.sleep(0.01)
    gate.set()  # the unit in the channel's hands finishes within the grace
    await stopping
    assert [(await env.outbox.get(i)).status for i in ids] == ["sent", "pending", "pending"]


async def test_a_cancel_landing_as_the_event_fires_is_not_lost():
    """asyncio.wait_for on Python 3.11 could swallow it and leave a loop running after stop."""
    clock = FakeClock(START)
    event = asyncio.Event()
    waiter = asyncio.ensure_future(wait_event(clock, event, 10.0))
    await asyncio.sleep(0)
    event.set()
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter


async def test_fake_clock_sleepers_wake_in_deadline_order():
    clock = FakeClock(START)
    woke: list[str] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(name)

    tasks = [asyncio.ensure_future(sleeper(n, s)) for n, s in (("late", 3.0), ("early", 1.0), ("middle", 2.0))]
    await asyncio.sleep(0)
    assert clock.next_deadline() == 1.0
    clock.advance(1.5)
    await asyncio.sleep(0)
    assert woke == ["early"]
    assert clock.advance_to_next() == pytest.approx(0.5) and clock.monotonic() == 2.0
    await asyncio.sleep(0)
    clock.set(START)  # back to an earlier instant: the monotonic counter stays
    assert clock.monotonic() == 2.0 and clock.next_deadline() == 3.0
    clock.advance_to_next()
    await asyncio.gather(*tasks)
    assert woke == ["early", "middle", "late"]
