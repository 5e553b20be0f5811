"""The outbox on SQLite and PostgreSQL: idempotent enqueue, claims, outcomes, stale requeue."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from bot.store.chats import ChatStore
from bot.core.clock import FakeClock
from bot.store.schema import deliveries
from bot.store.outbox import Outbox

T0 = datetime(2026, 6, 14, 0, 0, tzinfo=timezone.utc)


async def _setup(engine, n_chats=2, channel="telegram"):
    clock = FakeClock(T0)
    store = ChatStore(engine, clock)
    chats = [await store.get_or_create(channel, str(100 + i), "private", None, "en") for i in range(n_chats)]
    return clock, store, Outbox(engine, clock), chats


async def _rows(engine):
    async with engine.connect() as conn:
        return (await conn.execute(select(deliveries).order_by(deliveries.c.id))).all()


async def test_enqueue_ignores_duplicates_of_chat_kind_ref(engine):
    clock, store, outbox, (a, b) = await _setup(engine)
    rows = [
        {"chat_id": a.id, "kind": "alert", "ref": "7", "payload": {"keywords": ["5G"]}},
        {"chat_id": b.id, "kind": "alert", "ref": "7"},
    ]
    assert await outbox.enqueue(rows) == 2
    assert await outbox.enqueue(rows + [{"chat_id": a.id, "kind": "digest", "ref": "2026-06-14"}]) == 1
    got = await _rows(engine)
    assert [(r.chat_id, r.kind, r.ref, r.status, r.attempts) for r in got] == [
        (a.id, "alert", "7", "pending", 0),
        (b.id, "alert", "7", "pending", 0),
        (a.id, "digest", "2026-06-14", "pending", 0),
    ]
    assert got[0].payload == {"keywords": ["5G"]}
    assert got[0].created_at == T0
    assert await outbox.enqueue([]) == 0


async def test_claim_takes_due_rows_of_active_chats_on_the_channels_once(engine):
    clock, store, outbox, (a, b) = await _setup(engine)
    wecom = await store.get_or_create("wecom", "zhangsan", "private", None, "zh")
    await outbox.enqueue([
        {"chat_id": a.id, "kind": "alert", "ref": "1"},
        {"chat_id": b.id, "kind": "alert", "ref": "1"},
        {"chat_id": a.id, "kind": "alert", "ref": "2", "not_before": T0 + timedelta(minutes=5)},
        {"chat_id": wecom.id, "kind": "alert", "ref": "1"},
    ])
    await store.deactivate(b.id)
    first = await outbox.claim("w1", 10, ["telegram"])
    assert [(d.chat_id, d.ref, d.status, d.channel, d.address, d.lang) for d in first] == [
        (a.id, "1", "sending", "telegram", "100", "en")
    ]
    assert await outbox.claim("w2", 10, ["telegram"]) == []  # claimed rows are not taken again
    clock.advance(minutes=5)
    later = await outbox.claim("w2", 10, ["telegram", "wecom"])
    assert [(d.chat_id, d.ref) for d in later] == [(a.id, "2"), (wecom.id, "1")]
    rows = {(r.chat_id, r.ref): r for r in await _rows(engine)}
    assert rows[(a.id, "1")].status == "sending" and rows[(a.id, "1")].claimed_by == "w1"
    assert rows[(b.id, "1")].status == "pending"  # inactive chat: left alone
    assert await outbox.claim("w3", 0, ["telegram"]) == []
    assert await outbox.claim("w3", 5, []) == []


async def test_concurrent_claims_never_share_a_row(engine):
    clock, store, outbox, chats = await _setup(engine, n_chats=30)
    await outbox.enqueue([{"chat_id": c.id, "kind": "alert", "ref": "9"} for c in chats])
    workers = [Outbox(engine, clock) for _ in range(4)]
    results = await asyncio.gather(*(w.claim(f"w{i}", 5, ["telegram"]) for i, w in enumerate(workers * 2)))
    ids = [d.id for batch in results for d in batch]
    assert len(ids) == len(set(ids)) == 30


async def test_outcomes_sent_retry_fail_hold_drop(engine):
    clock, store, outbox, (a, b) = await _setup(engine)
    outbox.max_attempts = 3
    await outbox.enqueue([{"chat_id": a.id, "kind": "alert", "ref": str(i)} for i in range(4)])
    d0, d1, d2, d3 = await outbox.claim("w", 10, ["telegram"])
    await outbox.mark_sent(d0.id)
    assert await outbox.retry(d1.id, "timeout", T0 + timedelta(seconds=30)) is True
    await outbox.fail(d2.id, "bad request: chat not found")
    await outbox.hold(d3.id, T0 + timedelta(hours=7))
    got = {r.id: r for r in await _rows(engine)}
    assert (got[d0.id].status, got[d0.id].sent_at) == ("sent", T0)
    assert (got[d1.id].status, got[d1.id].attempts, got[d1.id].last_error) == ("pending", 1, "timeout")
    assert got[d1.id].not_before == T0 + timedelta(seconds=30)
    assert (got[d2.id].status, got[d2.id].last_error) == ("failed", "bad request: chat not found")
    assert (got[d3.id].status, got[d3.id].attempts, got[d3.id].not_before) == ("pending", 0, T0 + timedelta(hours=7))
    # attempts are bounded: the third failure gives up and records why
    clock.advance(seconds=30)
    (again,) = await outbox.claim("w", 10, ["telegram"])
    assert again.id == d1.id and again.attempts == 1
    assert await outbox.retry(d1.id, "timeout", clock.now()) is True
    (again,) = await outbox.claim("w", 10, ["telegram"])
    assert await outbox.retry(d1.id, "HTTP 502", clock.now()) is False
    row = (await outbox.get(d1.id))
    assert (row.status, row.attempts, row.last_error) == ("failed", 3, "gave up after 3 attempts: HTTP 502")
    # a 403: the chat's pending rows are dropped with the reason
    assert await outbox.drop_chat(a.id, "blocked by the user") == 1
    assert (await outbox.get(d3.id)).status == "dropped"
    assert await outbox.counts() == {"pending": 0, "sending": 0, "sent": 1, "failed": 2, "dropped": 1}


async def test_requeue_stale_returns_rows_of_a_killed_worker(engine):
    clock, store, outbox, (a, b) = await _setup(engine)
    await outbox.enqueue([{"chat_id": a.id, "kind": "alert", "ref": "1"}, {"chat_id": b.id, "kind": "alert", "ref": "1"}])
    first = await outbox.claim("dead-worker", 1, ["telegram"])
    clock.advance(minutes=3)
    second = await outbox.claim("live-worker", 1, ["telegram"])
    assert await outbox.requeue_stale(timedelta(minutes=2)) == 1  # only the older claim
    assert (await outbox.get(first[0].id)).status == "pending"
    assert (await outbox.get(second[0].id)).status == "sending"
    again = await outbox.claim("live-worker", 5, ["telegram"])
    assert [d.id for d in again] == [first[0].id]
    await outbox.mark_sent(first[0].id)
    clock.advance(hours=1)
    assert await outbox.requeue_stale(timedelta(minutes=2)) == 1  # second, never marked
    assert (await outbox.get(first[0].id)).status == "sent"  # a sent row is never requeued
    assert await outbox.release([second[0].id]) == 0  # already pending again


async def test_deleting_a_chat_deletes_its_deliveries(engine):
    clock, store, outbox, (a, b) = await _setup(engine)
    await outbox.enqueue([{"chat_id": a.id, "kind": "alert", "ref": "1"}, {"chat_id": b.id, "kind": "alert", "ref": "1"}])
    await store.delete_chat(a.id)
    assert [(r.chat_id, r.ref) for r in await _rows(engine)] == [(b.id, "1")]
    assert await outbox.oldest_pending() == T0


async def test_claim_one_takes_that_row_only_while_pending_and_find_looks_it_up(engine):
    clock, store, outbox, (a, b) = await _setup(engine)
    await outbox.enqueue([
        {"chat_id": a.id, "kind": "alert", "ref": "1"},
        {"chat_id": a.id, "kind": "digest", "ref": "now-1", "not_before": T0 + timedelta(hours=1)},
    ])
    found = await outbox.find(a.id, "digest", "now-1")
    assert found is not None and found.status == "pending" and found.address == "100"
    assert await outbox.find(b.id, "digest", "now-1") is None
    taken = await outbox.claim_one("cli", found.id)  # held rows too: it is sent by hand, now
    assert taken is not None and taken.id == found.id and taken.status == "sending"
    assert await outbox.claim_one("other", found.id) is None  # never twice
    assert [d.ref for d in await outbox.claim("w", 10, ["telegram"])] == ["1"]  # the rest untouched
    await outbox.mark_sent(found.id)
    assert await outbox.claim_one("cli", found.id) is None
    assert (await outbox.find(a.id, "digest", "now-1")).status == "sent"
