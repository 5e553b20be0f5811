"""Scheduling: the pure delay rule, and the APScheduler timetable keeping every healthy source
on schedule while others hang, return garbage or time out (real polls against the fake press)."""

from __future__ import annotations

import asyncio
import random
from datetime import datetime, timedelta, timezone

import pytest

from bot.schedule import BACKOFF_CAP, PollSchedule, Timetable, add_periodic, new_scheduler, next_poll_delay
from config.model import FetchSettings, Settings, Source

# ------------------------------------------------------------------------------ pure


@pytest.mark.parametrize("seed", range(20))
def test_jitter_stays_within_ten_percent(seed):
    rng = random.Random(seed)
    for _ in range(200):
        d = next_poll_delay(600, 0, rng)
        assert 540 <= d <= 660


def test_jitter_is_spread_not_constant():
    rng = random.Random(1)
    delays = {round(next_poll_delay(600, 0, rng)) for _ in range(100)}
    assert len(delays) > 20 and min(delays) < 570 and max(delays) > 630


def test_backoff_doubles_per_failure_and_is_capped_at_six_hours():
    mid = random.Random()
    mid.uniform = lambda a, b: (a + b) / 2  # no jitter: the bare rule
    assert [next_poll_delay(600, f, mid) for f in range(6)] == [600, 1200, 2400, 4800, 9600, 19200]
    assert next_poll_delay(600, 6, mid) == BACKOFF_CAP
    assert next_poll_delay(600, 500, mid) == BACKOFF_CAP
    rng = random.Random(3)
    assert all(next_poll_delay(600, 10, rng) <= BACKOFF_CAP for _ in range(500))
    # back to normal after a success: failures = 0 again
    assert next_poll_delay(600, 0, mid) == 600


def test_interval_above_the_cap_is_honoured_and_bad_interval_refused():
    mid = random.Random()
    mid.uniform = lambda a, b: (a + b) / 2
    assert next_poll_delay(30_000, 3, mid) == 30_000
    with pytest.raises(ValueError):
        next_poll_delay(0, 0, mid)


# ------------------------------------------------------------------------------ scheduler


async def test_failures_back_off_and_success_resets():
    outcomes = iter([False, False, True, False])
    seen: list[tuple[int, float]] = []
    sched = new_scheduler()
    sched.start()
    done = asyncio.Event()

    async def poll(source):
        ok = next(outcomes, True)
        return ok

    async def after(source, ok):
        track = schedule.tracks[source.id]
        seen.append((track.failures, ok))
        if len(seen) == 4:
            done.set()

    mid = random.Random()
    mid.uniform = lambda a, b: (a + b) / 2
    schedule = PollSchedule(sched, [Source(id="s", name="s", url="http://x", interval=1)], poll, rng=mid, on_polled=after)
    # shrink time: run every job as soon as it is scheduled, but record the delay it asked for
    delays: list[float] = []
    original = schedule._schedule

    def fast(track, delay):
        delays.append(delay)
        original(track, 0.0)

    schedule._schedule = fast
    schedule.start()
    await asyncio.wait_for(done.wait(), 5)
    schedule.stop()
    sched.shutdown(wait=False)
    assert seen == [(1, False), (2, False), (0, True), (1, False)]
    assert delays[1:5] == [2.0, 4.0, 1.0, 2.0]


async def test_one_source_never_polled_twice_at_once():
    running = 0
    peak = 0

    async def poll(source):
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.3)  # longer than the interval-derived delay below
        running -= 1
        return True

    sched = new_scheduler()
    sched.start()
    schedule = PollSchedule(sched, [Source(id="s", name="s", url="http://x", interval=1)], poll)
    original = schedule._schedule
    schedule._schedule = lambda track, delay: original(track, 0.0)
    schedule.start()
    # also try to start it by hand while it runs: refused, the scheduled run goes on
    await asyncio.sleep(0.05)
    await schedule._run("s")
    await asyncio.sleep(1.0)
    schedule.stop()
    sched.shutdown(wait=False)
    assert peak == 1
    assert schedule.tracks["s"].polls >= 2


async def test_periodic_job_survives_its_own_errors():
    calls = 0

    async def flaky():
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("boom")

    sched = new_scheduler()
    sched.start()
    add_periodic(sched, "flaky", flaky, 0.2)
    await asyncio.sleep(0.75)
    sched.shutdown(wait=False)
    assert calls >= 3


async def test_bad_sources_do_not_delay_the_others(tmp_path):
    """A hanging poll, a garbage page and a fetch timeout beside two good sources: the good
    ones keep their 1-second schedule; the bad ones back off and are never run twice at once."""
    import fake_press

    from monitors.fetch import Fetcher
    from monitors.poll import Poller
    from monitors.store import ItemStore
    from monitors.tagger import Tagger
    from bot.db import ensure_schema
    from config.settings import load_default_topics
    from monitors.db import create_engine

    with fake_press.FakePress(slow_seconds=30) as press:
        good = [Source(id=f"good{i}", name="good", url=press.url("/xwfb/index.html"), interval=1) for i in range(2)]
        garbage = Source(id="garbage", name="garbage", url=press.url("/garbage/index.html"), interval=1)
        slow = Source(id="slow", name="slow", url=press.url("/slow/index.html"), interval=1)
        hang = Source(id="hang", name="hang", url=press.url("/xwfb/index.html"), interval=1)
        sources = [*good, garbage, slow, hang]
        settings = Settings(
            database_url=f"sqlite+aiosqlite:///{tmp_path / 's.db'}", sources=tuple(sources),
            topics=load_default_topics(), fetch=FetchSettings(timeout=0.8, connect_timeout=0.5),
        )
        engine = create_engine(settings.database_url)
        await ensure_schema(engine)
        fetcher = Fetcher(settings.fetch)
        await fetcher.__aenter__()
        poller = Poller(settings, ItemStore(engine), fetcher, Tagger(settings.topics))
        in_flight: dict[str, int] = {}
        peak: dict[str, int] = {}
        started: dict[str, list[float]] = {s.id: [] for s in sources}
        loop = asyncio.get_running_loop()

        async def poll(source):
            started[source.id].append(loop.time())
            in_flight[source.id] = in_flight.get(source.id, 0) + 1
            peak[source.id] = max(peak.get(source.id, 0), in_flight[source.id])
            try:
                if source.id == "hang":
                    await asyncio.Event().wait()  # a poll stuck for good
                report = await poller.poll_source(source)
                return report.ok
            finally:
                in_flight[source.id] -= 1

        timetable = Timetable(sources, poll, poll_timeout=1.5, rng=random.Random(7))
        await timetable.start()
        try:
            await asyncio.sleep(4.2)
        finally:
            await timetable.stop()
            await fetcher.__aexit__(None, None, None)
            await engine.dispose()

    for s in good:
        times = started[s.id]
        assert len(times) >= 4, (s.id, times)
        gaps = [b - a for a, b in zip(times, times[1:])]
        assert all(gap < 1.6 for gap in gaps), gaps  # ~1 s +-10% plus the poll itself
        assert timetable.polls.tracks[s.id].failures == 0
    assert timetable.polls.tracks["garbage"].failures >= 1
    assert timetable.polls.tracks["slow"].failures >= 1
    assert timetable.polls.tracks["hang"].failures >= 1
    # the bad ones backed off: fewer polls than the good ones
    assert len(started["hang"]) < len(started["good0"]) and len(started["slow"]) < len(started["good0"])
    assert all(v == 1 for v in peak.values()), peak


# ------------------------------------------------------------------------------ admin health notices

from types import SimpleNamespace  # noqa: E402

from bot.health_notices import HealthNotifier, health_event, notice_ref  # noqa: E402

T0 = datetime(2026, 6, 14, 0, 0, tzinfo=timezone.utc)


def state(failures=0, kind=None, reported_at=None, reported_kind=None, error="timed out"):
    return SimpleNamespace(source_id="src", consecutive_failures=failures, error_kind=kind, last_error=error,
                           problem_reported_at=reported_at, problem_reported_kind=reported_kind)


def test_health_event_rules():
    assert health_event(state(4, "unreachable"), T0) is None
    e = health_event(state(5, "unreachable"), T0)
    assert (e.event, e.kind, e.failures, e.error) == ("problem", "failing", 5, "timed out")
    assert health_event(state(1, "layout", error="0 items"), T0).kind == "layout"  # at once
    # reported: quiet until 24 h have passed, then once more
    assert health_event(state(9, "http", reported_at=T0, reported_kind="failing"), T0 + timedelta(hours=23)) is None
    again = health_event(state(9, "http", reported_at=T0, reported_kind="failing"), T0 + timedelta(hours=24))
    assert again.event == "still_failing"
    # recovered: told once, naming the incident
    back = health_event(state(0, None, reported_at=T0, reported_kind="failing"), T0 + timedelta(hours=2))
    assert back.event == "recovered" and back.incident == T0
    # failing again but not yet 5 times after a report: not a recovery
    assert health_event(state(2, "http", reported_at=T0, reported_kind="failing"), T0 + timedelta(hours=1)) is None
    assert health_event(state(0), T0) is None
    assert len(notice_ref(again)) <= 64
    long = health_event(SimpleNamespace(**{**vars(state(5, "http")), "source_id": "x" * 64}), T0)
    assert len(notice_ref(long)) <= 64


async def test_notifier_tells_admins_once_then_on_recovery(engine):
    from sqlalchemy import insert, select, update

    from bot.chats import ChatStore
    from bot.clock import FakeClock
    from bot.db import deliveries
    from bot.outbox import Outbox
    from config.model import Secret, TelegramSettings
    from monitors.db import source_state

    clock = FakeClock(T0)
    settings = Settings(
        database_url="sqlite://", sources=(Source(id="src", name="Fake source", url="http://x"),),
        telegram=TelegramSettings(token=Secret("1:x"), admin_chat_ids=(11, -22)),
    )
    notifier = HealthNotifier(engine, settings, clock, ChatStore(engine, clock), Outbox(engine, clock))
    async with engine.begin() as conn:
        await conn.execute(insert(source_state).values(source_id="src", baseline_done=True, consecutive_failures=5, error_kind="unreachable", last_error="connect timeout"))

    async def notices():
        async with engine.connect() as conn:
            return (await conn.execute(select(deliveries.c.ref, deliveries.c.payload).where(deliveries.c.kind == "notice").order_by(deliveries.c.id))).all()

    assert await notifier.check("src") == 2  # two admin chats
    assert await notifier.check("src") == 0  # once
    rows = await notices()
    assert rows[0].payload == {"key": "notice.source_failing", "params": {"source": "Fake source", "count": 5, "error": "connect timeout"}}
    clock.advance(hours=24)
    assert await notifier.check() == 2  # still failing after 24 h
    async with engine.begin() as conn:
        await conn.execute(update(source_state).values(consecutive_failures=0, error_kind=None, last_error=None))
    clock.advance(minutes=10)
    assert await notifier.check("src") == 2
    assert await notifier.check("src") == 0
    keys = [r.payload["key"] for r in await notices()]
    assert keys == ["notice.source_failing"] * 2 + ["notice.source_still_failing"] * 2 + ["notice.source_recovered"] * 2
    async with engine.connect() as conn:
        row = (await conn.execute(select(source_state))).one()
    assert row.problem_reported_at is None and row.problem_reported_kind is None
