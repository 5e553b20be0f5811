"""Leadership (bot.jobs.leadership) over a real store: one instance leads and runs the
leader-only components; a paused leader's jobs stop the moment its lease is past, on its
own monotonic clock, and its next round stands it by; a clean stop hands over at once.

Each instance has its own FakeClock (a pause is that clock moving on); the lease itself
expires on the database's clock."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from bot.core.clock import FakeClock
from bot.jobs.leadership import Leadership, alive_here, instance_id
from bot.service import hung_transactions_end
from bot.store.lease import LEADER, Lease, LeaseStore
from config.model import ServiceSettings, Settings
from monitors.db import create_engine

LEASE = 0.4  # seconds on the database's clock


class Part:
    """A leader-only component that records its starts and stops."""

    name = "part"

    def __init__(self) -> None:
        self.events: list[str] = []

    async def start(self) -> None:
        self.events.append("start")

    async def stop(self) -> None:
        self.events.append("stop")


async def _expired(store: LeaseStore) -> None:
    deadline = time.monotonic() + 5
    while (lease := await store.current()) is not None and lease.live:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)


async def test_one_leads_a_paused_leader_stops_at_once_and_a_stop_hands_over(engine, caplog):
    caplog.set_level(logging.INFO, "shwatch.leadership")
    store = LeaseStore(engine)
    (pa, ca), (pb, cb) = (Part(), FakeClock()), (Part(), FakeClock())
    a = Leadership(store, "host:1:aaaa", LEASE, [pa], ca)
    b = Leadership(store, "host:2:bbbb", LEASE, [pb], cb)
    polls: list[str] = []

    async def poll(name: str) -> str:
        polls.append(name)
        return name

    assert await a.step() == LEASE / 3 and a.holds() and pa.events == ["start"]
    wait = await b.step()  # a standby sleeps until just after the leader's lease expires
    assert not b.holds() and pb.events == [] and 0 < wait <= LEASE / 3
    assert await a.while_leading(poll)("a") == "a" and await b.while_leading(poll)("b") is None
    # a is paused (SIGSTOP) past its lease: the database's clock expires it, b takes over
    await _expired(store)
    await b.step()
    assert b.holds() and pb.events == ["start"]
    ca.advance(seconds=LEASE + 1)  # ... and a wakes up: before its next round, its jobs do nothing
    assert not a.holds() and await a.while_leading(poll)("a") is None
    assert pa.events == ["start"]
    await a.step()
    assert pa.events == ["start", "stop"] and not a.holds()
    assert "stops leading: the lease ran out before it could be renewed" in caplog.text
    assert polls == ["a"]
    # a clean stop releases the lease: a leads at its next round, without waiting for expiry
    await b.stop()
    assert pb.events == ["start", "stop"]
    await a.step()
    assert a.holds() and pa.events == ["start", "stop", "start"]
    await a.stop()


async def test_a_leader_refused_by_the_database_stands_by_at_once(engine, caplog):
    caplog.set_level(logging.INFO, "shwatch.leadership")
    store = LeaseStore(engine)
    part, clock = Part(), FakeClock()
    a = Leadership(store, "host:1:aaaa", LEASE, [part], clock)
    await a.step()
    await _expired(store)
    assert await store.acquire(LEADER, "host:3:cccc", 30) is not None  # another instance took it
    await a.step()  # a's own clock says the lease is still valid, the database says otherwise
    assert part.events == ["start", "stop"] and not a.holds()
    assert "another instance holds the lease" in caplog.text


def test_the_instance_id_names_host_and_pid_and_tells_a_live_holder():
    me = instance_id()
    host, pid, suffix = me.split(":")
    assert int(pid) > 0 and len(suffix) == 4 and host
    now = datetime.now(timezone.utc)
    assert alive_here(Lease(LEADER, me, now + timedelta(seconds=5), now))
    assert not alive_here(Lease(LEADER, me, now - timedelta(seconds=5), now))  # expired
    assert not alive_here(Lease(LEADER, f"{host}:999999999:abcd", now + timedelta(seconds=5), now))  # no such pid
    assert not alive_here(None)


@pytest.mark.postgres
async def test_a_paused_instances_open_transaction_is_ended_by_postgresql(postgres_url):
    """The service's connections carry idle_in_transaction_session_timeout (at least 5 s, else
    the lease), so the row locks of a paused leader never hold up the one that took over."""
    settings = Settings(database_url=postgres_url, service=ServiceSettings(lease_seconds=7.5))
    engine = create_engine(postgres_url, **hung_transactions_end(settings))
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("SHOW idle_in_transaction_session_timeout"))).scalar() == "7500ms"
    finally:
        await engine.dispose()
    assert hung_transactions_end(Settings(database_url="sqlite+aiosqlite:///x.db")) == {}
