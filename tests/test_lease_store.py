"""The leader lease (bot.store.lease) on SQLite and PostgreSQL: one holder at a time, renewed
by its holder, expiring on the database's clock, lost to another holder once expired."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone

from bot.store.lease import LEADER, LeaseStore

SHORT = 0.4  # seconds: the lease the tests let expire


async def _until_expired(store: LeaseStore, within: float = 5.0) -> None:
    """Wait until the database itself says the lease has expired (never a fixed sleep)."""
    deadline = time.monotonic() + within
    while (lease := await store.current()) is not None and lease.live:
        assert time.monotonic() < deadline, "the lease never expired on the database's clock"
        await asyncio.sleep(0.05)


async def test_one_holder_at_a_time_and_the_holder_renews(engine):
    store = LeaseStore(engine)
    assert await store.current() is None
    first = await store.acquire(LEADER, "a:1:x", 30)
    assert first is not None and first.holder == "a:1:x" and first.live
    # the expiry is the database's time plus the lease, read in the same statement
    assert abs((first.expires_at - first.read_at).total_seconds() - 30) < 0.01
    assert abs(first.read_at - datetime.now(timezone.utc)) < timedelta(seconds=5)
    assert await store.acquire(LEADER, "b:2:y", 30) is None
    renewed = await store.acquire(LEADER, "a:1:x", 30)
    assert renewed is not None and renewed.expires_at >= first.expires_at
    now = await store.current()
    assert (now.holder, now.expires_at, now.live) == ("a:1:x", renewed.expires_at, True)


async def test_an_expired_lease_goes_to_another_holder_and_the_old_one_has_lost_it(engine):
    store = LeaseStore(engine)
    assert await store.acquire(LEADER, "a:1:x", SHORT) is not None
    assert await store.acquire(LEADER, "b:2:y", SHORT) is None  # not expired yet
    await _until_expired(store)
    taken = await store.acquire(LEADER, "b:2:y", 30)
    assert taken is not None and taken.holder == "b:2:y"
    assert await store.acquire(LEADER, "a:1:x", 30) is None  # the old holder cannot renew: it lost the lease
    assert await store.release(LEADER, "a:1:x") is False  # nor end the new holder's lease
    assert (await store.current()).holder == "b:2:y"


async def test_release_hands_over_at_once(engine):
    store = LeaseStore(engine)
    assert await store.acquire(LEADER, "a:1:x", 30) is not None
    assert await store.release(LEADER, "a:1:x") is True
    assert not (await store.current()).live
    assert (await store.acquire(LEADER, "b:2:y", 30)).holder == "b:2:y"


async def test_racing_instances_get_exactly_one_lease(engine):
    store = LeaseStore(engine)
    results = await asyncio.gather(*(store.acquire(LEADER, f"host:{n}:r", 30) for n in range(8)))
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert (await store.current()).holder == winners[0].holder
    # leases of other names are independent
    assert await store.acquire("other", "host:99:r", 30) is not None
