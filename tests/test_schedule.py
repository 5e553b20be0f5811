"""Scheduling: the pure delay rule, and the APScheduler timetable keeping every healthy source
on schedule while others hang, return garbage or time out (real polls against the fake press)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import fake_press
import pytest
from sqlalchemy import insert, select, update

from bot.core.clock import FakeClock
from bot.jobs.health import HealthNotifier, health_event, notice_payload, notice_ref
from bot.jobs.timetable import BACKOFF_CAP, PollSchedule, Timetable, add_periodic, new_scheduler, next_poll_delay
from bot.store.chats import ChatStore
from bot.store.migrate import upgrade_to_head
from bot.store.notices import Reported, SourceNotices
from bot.store.outbox import Outbox
from bot.store.schema import deliveries
from config.model import FetchSettings, Secret, Settings, Source, TelegramSettings
from config.settings import load_default_topics
from monitors.db import create_engine, source_state
from monitors.fetch import Fetcher
from monitors.model import SourceState
from monitors.poll import Poller
from monitors.store import ItemStore
from monitors.tagger import Tagger

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
#
# These run the real APScheduler. Sources get sub-second intervals so the timetable plays out
# quickly; nothing is patched. Tests wait for events (with a generous bound), never for a
# fixed time, and never assert that anything ran fast.


def _no_jitter() -> random.Random:
    mid = random.Random()
    mid.uniform = lambda a, b: (a + b) / 2  # the bare rule, without jitter
    return mid


async def _until(predicate, bound: float = 20.0) -> None:
    """Wait (bounded) until ``predicate()`` holds; the bound only turns a hang into a failure."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + bound
    while not predicate():
        assert loop.time() < give_up, "the scheduler never got there"
        await asyncio.sleep(0.01)


@asynccontextmanager
async def one_source(poll, **kw) -> AsyncIterator[PollSchedule]:
    """A started PollSchedule of one source ("s", every 50 ms), stopped when the block ends."""
    sched = new_scheduler()
    sched.start()
    schedule = PollSchedule(sched, [Source(id="s", name="s", url="http://x", interval=0.05)], poll, **kw)
    schedule.start()
    try:
        yield schedule
    finally:
        schedule.stop()
        sched.shutdown(wait=False)


async def test_failures_back_off_and_success_resets():
    """Each poll is planned interval * 2^failures after the previous one ended (on a real
    scheduler); a success brings the next delay back to the interval."""
    outcomes = iter([False, False, True, False, True])
    loop = asyncio.get_running_loop()
    seen: list[tuple[int, bool, float]] = []  # (failures after the poll, ok, delay that led to it)
    ended: list[float] = []
    started: list[float] = []

    async def poll(source):
        started.append(loop.time())
        return next(outcomes, True)

    async def after(source, ok):
        track = schedule.tracks[source.id]
        seen.append((track.failures, ok, track.last_delay))
        ended.append(loop.time())

    async with one_source(poll, rng=_no_jitter(), on_polled=after) as schedule:
        await _until(lambda: len(seen) >= 5)
    assert [(f, ok) for f, ok, _ in seen[:5]] == [(1, False), (2, False), (0, True), (1, False), (0, True)]
    assert [round(d, 4) for _, _, d in seen[:5]] == [0.0, 0.1, 0.2, 0.05, 0.1]
    # each poll started no earlier than planned after the previous one ended
    for k in range(1, 5):
        assert started[k] - ended[k - 1] >= seen[k][2] * 0.9, (k, started, ended)


async def test_a_skipped_poll_is_no_failure_and_backs_nothing_off():
    """A poll skipped because this instance does not lead (``None``) neither counts as a
    failure nor runs the after-poll hook: the source keeps its interval, no backoff piles up
    while the leadership is briefly lost."""
    outcomes = iter([None, None, None, False, None, True])
    calls: list[float] = []
    hooked: list[tuple[int, bool, float]] = []  # (failures, ok, the delay that led to the poll)

    async def poll(source):
        calls.append(schedule.tracks[source.id].last_delay)
        return next(outcomes, True)

    async def after(source, ok):
        track = schedule.tracks[source.id]
        hooked.append((track.failures, ok, track.last_delay))

    async with one_source(poll, rng=_no_jitter(), on_polled=after) as schedule:
        await _until(lambda: len(hooked) >= 3)
    assert [round(d, 4) for d in calls[:6]] == [0.0, 0.05, 0.05, 0.05, 0.1, 0.1]  # backoff only after the failure
    assert [(f, ok) for f, ok, _ in hooked[:2]] == [(1, False), (0, True)]
    assert schedule.tracks["s"].polls == len(hooked)  # skipped runs are not polls


async def test_an_abandoned_poll_is_reported_once_by_the_hook_with_its_reason(caplog):
    """A poll cut off by ``poll_timeout`` is a failure whose reason the after-poll hook can
    read (the service's status line says it); the timetable itself then logs nothing, so the
    problem is said once. Without a hook it logs the reason itself."""
    hooked: list[tuple[bool, str | None]] = []

    async def poll(source):
        await asyncio.Event().wait()  # hangs

    async def after(source, ok):
        hooked.append((ok, schedule.cut_short(source.id)))

    caplog.set_level("WARNING", logger="shwatch.schedule")
    async with one_source(poll, rng=_no_jitter(), on_polled=after, poll_timeout=0.1) as schedule:
        await _until(lambda: len(hooked) >= 1)
    assert hooked[0] == (False, "poll took longer than 0.1 s, abandoned")
    assert not [r for r in caplog.records if r.name == "shwatch.schedule"]


async def test_one_source_never_polled_twice_at_once():
    running = 0
    peak = 0
    polls = 0

    async def poll(source):
        nonlocal running, peak, polls
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.2)  # a poll that takes four intervals
        running -= 1
        polls += 1
        return True

    async with one_source(poll) as schedule:
        await _until(lambda: running == 1)
        await schedule._run("s")  # a second start while one runs is refused at once
        assert polls == 0 and schedule.tracks["s"].polls == 0
        await _until(lambda: polls >= 3)
    assert peak == 1


async def test_stopping_while_jobs_run_ends_them_quietly_and_waits_for_them(caplog):
    """SIGTERM can land in any part of a job: the poll, the after-poll hook, a digest tick.
    Each is cancelled, ends without an error (APScheduler logs a job that ends with
    CancelledError as an ERROR with a traceback) and has unwound when stop() returns."""
    caplog.set_level("DEBUG")
    in_hook, in_tick, in_poll = asyncio.Event(), asyncio.Event(), asyncio.Event()
    unwound: list[str] = []

    async def stuck(name: str, started: asyncio.Event) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.sleep(0.05)  # unwinding takes a moment (a transaction rolled back)
            unwound.append(name)

    async def poll(source):
        if source.id == "hangs":
            await stuck("poll", in_poll)
        return True

    async def after(source, ok):
        await stuck("hook", in_hook)

    timetable = Timetable(
        [Source(id="s", name="s", url="http://x", interval=0.05), Source(id="hangs", name="h", url="http://y", interval=0.05)],
        poll, periodic=[("tick", lambda: stuck("tick", in_tick), 60.0, 0.0)], on_polled=after,
    )
    await timetable.start()
    try:
        await asyncio.wait_for(asyncio.gather(in_hook.wait(), in_tick.wait(), in_poll.wait()), 20)
    finally:
        await timetable.stop()
    assert sorted(unwound) == ["hook", "poll", "tick"]
    assert [r.getMessage() for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")] == []
    assert "Traceback" not in caplog.text


async def test_periodic_job_survives_its_own_errors():
    calls = 0

    async def flaky():
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("boom")

    sched = new_scheduler()
    sched.start()
    try:
        add_periodic(sched, "flaky", flaky, 0.05)
        await _until(lambda: calls >= 3)  # runs again after the failed first run
    finally:
        sched.shutdown(wait=False)


async def test_bad_sources_do_not_delay_the_others(tmp_path):
    """A poll that hangs, a page of garbage and a fetch that times out beside two good sources
    (real polls of the fake press): every poll of a good source starts at the time its
    schedule planned (interval +-10%, no backoff) while the bad ones are stuck, and the bad
    ones back off; no source is ever polled twice at once.

    The bad sources block for 3 s (fetch timeout) and 8 s (hang, cut by poll_timeout); a good
    poll held up by either would start seconds late, while the check allows 1 s of lateness
    for a loaded machine."""


    with fake_press.FakePress(slow_seconds=60) as press:
        good = [Source(id=f"good{i}", name="good", url=press.url("/xwfb/index.html"), interval=1) for i in range(2)]
        garbage = Source(id="garbage", name="garbage", url=press.url("/garbage/index.html"), interval=1)
        slow = Source(id="slow", name="slow", url=press.url("/slow/index.html"), interval=1)
        hang = Source(id="hang", name="hang", url=press.url("/xwfb/index.html"), interval=1)
        sources = [*good, garbage, slow, hang]
        settings = Settings(
            database_url=f"sqlite+aiosqlite:///{tmp_path / 's.db'}", sources=tuple(sources),
            topics=load_default_topics(), fetch=FetchSettings(timeout=3.0, connect_timeout=1.0),
        )
        engine = create_engine(settings.database_url)
        await upgrade_to_head(engine)
        fetcher = Fetcher(settings.fetch)
        await fetcher.__aenter__()
        poller = Poller(settings, ItemStore(engine), fetcher, Tagger(settings.topics))
        in_flight: dict[str, int] = {s.id: 0 for s in sources}
        peak: dict[str, int] = {s.id: 0 for s in sources}
        # per poll: (planned start, actual start, the delay the schedule chose, failures before)
        runs: dict[str, list[tuple[datetime, datetime, float, int]]] = {s.id: [] for s in sources}
        async def poll(source):
            track = timetable.polls.tracks[source.id]
            runs[source.id].append((track.next_run_at, datetime.now(timezone.utc), track.last_delay, track.failures))
            in_flight[source.id] += 1
            peak[source.id] = max(peak[source.id], in_flight[source.id])
            try:
                if source.id == "hang":
                    await asyncio.Event().wait()  # a poll stuck for good
                report = await poller.poll_source(source)
                return report.ok
            finally:
                in_flight[source.id] -= 1

        timetable = Timetable(sources, poll, poll_timeout=8.0, rng=random.Random(7))
        await timetable.start()
        tracks = timetable.polls.tracks
        try:
            # the good sources poll on while "hang" is stuck in its first poll and "slow" waits
            await _until(lambda: all(len(runs[s.id]) >= 5 for s in good), bound=30)
            assert in_flight["hang"] == 1 and len(runs["hang"]) == 1
            # then the bad ones are counted as failed and backed off
            await _until(lambda: all(tracks[b].failures >= 1 for b in ("garbage", "slow", "hang")), bound=30)
            await _until(lambda: all(tracks[b].next_run_at is not None and tracks[b].last_delay >= 1.8
                                     for b in ("garbage", "slow", "hang")), bound=30)
        finally:
            await timetable.stop()
            await fetcher.__aexit__(None, None, None)
            await engine.dispose()

    for s in good:
        assert tracks[s.id].failures == 0
        for planned, actual, delay, failures in runs[s.id][1:]:
            assert failures == 0 and 0.9 <= delay <= 1.1, (s.id, delay)  # no backoff caught from others
            assert timedelta(0) <= actual - planned < timedelta(seconds=1), (s.id, planned, actual)
    for b in ("garbage", "slow", "hang"):
        # doubled after a failure (interval 1 s * 2, +-10%)
        assert 1.8 <= tracks[b].last_delay <= 2.2 * 2 ** (tracks[b].failures - 1), (b, tracks[b])
    assert all(v == 1 for v in peak.values()), peak


# ------------------------------------------------------------------------------ admin health notices


T0 = datetime(2026, 6, 14, 0, 0, tzinfo=timezone.utc)


def state(failures=0, kind=None, reported_at=None, reported_kind=None, error="timed out"):
    """(a polled source's state, what the admins were told about it): health_event's first two arguments."""
    st = SourceState(source_id="src", consecutive_failures=failures, error_kind=kind, last_error=error,
                     last_attempt_at=T0 - timedelta(days=1))
    return st, (Reported(reported_at, reported_kind) if reported_at is not None else None)


def test_health_event_rules():
    assert health_event(*state(4, "unreachable"), T0) is None
    e = health_event(*state(5, "unreachable"), T0)
    assert (e.event, e.kind, e.failures, e.error) == ("problem", "failing", 5, "timed out")
    assert health_event(*state(1, "layout", error="0 items"), T0).kind == "layout"  # at once
    # reported: quiet until 24 h have passed, then once more
    assert health_event(*state(9, "http", reported_at=T0, reported_kind="failing"), T0 + timedelta(hours=23)) is None
    again = health_event(*state(9, "http", reported_at=T0, reported_kind="failing"), T0 + timedelta(hours=24))
    assert again.event == "still_failing"
    # recovered: told once, naming the incident
    back = health_event(*state(0, None, reported_at=T0, reported_kind="failing"), T0 + timedelta(hours=2))
    assert back.event == "recovered" and back.incident == T0
    # failing again but not yet 5 times after a report: not a recovery
    assert health_event(*state(2, "http", reported_at=T0, reported_kind="failing"), T0 + timedelta(hours=1)) is None
    assert health_event(*state(0), T0) is None
    assert len(notice_ref(again)) <= 64
    # a layout problem is told at the first failure: "failed once", not "1 times in a row"
    assert notice_payload(health_event(*state(1, "layout", error="0 items"), T0), "S") == {
        "key": "notice.source_failing_one", "params": {"source": "S", "count": 1, "error": "0 items"}}
    assert notice_payload(e, "S")["key"] == "notice.source_failing"
    long_state, long_reported = state(5, "http")
    long = health_event(replace(long_state, source_id="x" * 64), long_reported, T0)
    assert len(notice_ref(long)) <= 64


async def test_notifier_tells_admins_once_then_on_recovery(engine):


    clock = FakeClock(T0)
    settings = Settings(
        database_url="sqlite://", sources=(Source(id="src", name="Fake source", url="http://x"),),
        telegram=TelegramSettings(token=Secret("1:x"), admin_chat_ids=(11, -22)),
    )
    notices_store = SourceNotices(engine, Outbox(engine, clock))
    notifier = HealthNotifier(ItemStore(engine), notices_store, ChatStore(engine, clock), settings, clock)
    async with engine.begin() as conn:
        await conn.execute(insert(source_state).values(source_id="src", baseline_done=True, last_attempt_at=T0, consecutive_failures=5, error_kind="unreachable", last_error="connect timeout"))

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
        (await conn.execute(select(source_state))).one()
    assert await notices_store.reported() == {}
