"""The service's timetable on APScheduler 3 (``AsyncIOScheduler`` on the service's loop).

- Each source is polled on its own job: the first poll at start-up, then every ``interval``
  seconds with about +-10% jitter; after failures the delay doubles (interval * 2^failures,
  capped at 6 h) and returns to normal after a success. A source's next poll is scheduled only
  when its current poll has finished (and the job has ``max_instances=1``), so one source is
  never polled twice at once; a poll that hangs is cut off after ``poll_timeout`` and counted
  as a failure. One slow, broken or hanging source never delays the others: every poll is
  its own task.
- Periodic jobs (the digest tick, health checks) run every N seconds, never overlapping,
  coalescing missed runs.

The pure part, ``next_poll_delay(interval, failures, rng)``, is what decides when; the
scheduler only carries it out. The scheduler is independent of Telegram (PTB's JobQueue is
APScheduler 3 too, but the service must also run without a bot).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.base import STATE_STOPPED
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from config.model import Source
from monitors.failures import log_failure

log = logging.getLogger("shwatch.schedule")

BACKOFF_CAP = 6 * 3600.0  # seconds
JITTER = 0.10
STOP_GRACE = 2.0  # seconds a cancelled job gets to unwind when the timetable stops

PollFn = Callable[[Source], Awaitable[bool | None]]  # None: the poll was skipped
PolledHook = Callable[[Source, bool], Awaitable[None]]


@contextlib.contextmanager
def _job_run(runs: set[asyncio.Task], stopping: Callable[[], bool], what: str):
    """One run of a scheduled job: kept in ``runs`` while it lasts (the timetable waits for
    it at stop), and a cancellation because the scheduler is stopping ends it quietly.

    APScheduler cancels the jobs still running when it shuts down and logs any exception
    they end with, CancelledError included, as an error with a traceback; a SIGTERM that
    landed in any part of a job (the poll, the after-poll hook, a digest tick) printed one.
    """
    task = asyncio.current_task()
    if task is not None:
        runs.add(task)
    try:
        yield
    except asyncio.CancelledError:
        if not stopping():
            raise
        log.debug("%s cancelled at shutdown", what)
    finally:
        if task is not None:
            runs.discard(task)


def _scheduler_stopped(scheduler: AsyncIOScheduler) -> Callable[[], bool]:
    return lambda: scheduler.state == STATE_STOPPED


def next_poll_delay(interval: float, failures: int, rng: random.Random, *, jitter: float = JITTER, cap: float = BACKOFF_CAP) -> float:
    """Seconds until a source's next poll.

    ``interval * 2**failures`` (failures = consecutive failed polls so far), capped at ``cap``,
    times a random factor in [1 - jitter, 1 + jitter]; the result never exceeds ``cap``
    (an interval already above the cap is honoured as given).
    """
    if interval <= 0:
        raise ValueError(f"interval must be positive, got {interval!r}")
    failures = max(0, int(failures))
    limit = max(cap, interval)
    base = interval * (2 ** min(failures, 64)) if failures else interval
    base = min(base, limit)
    delay = base * rng.uniform(1.0 - jitter, 1.0 + jitter)
    return min(delay, limit)


@dataclass
class SourceTrack:
    """What the scheduler knows about one source's polling."""

    source: Source
    failures: int = 0
    polls: int = 0
    running: bool = False
    last_delay: float | None = None
    next_run_at: datetime | None = None
    next_delay: float | None = None  # decided by the poll that just ended
    cut_short: str | None = None  # why the last poll was abandoned (None: it ended by itself)


class PollSchedule:
    """Per-source poll jobs on an AsyncIOScheduler.

    ``poll(source) -> bool | None`` does one poll (True = success, None = skipped: this instance
    does not lead now, neither a failure nor a poll); an exception or a timeout is a
    failure. ``on_polled(source, ok)`` runs after each poll (health notices), its errors are
    logged and ignored.
    """

    def __init__(
        self,
        scheduler: AsyncIOScheduler,
        sources: Sequence[Source],
        poll: PollFn,
        *,
        rng: random.Random | None = None,
        poll_timeout: float = 300.0,
        on_polled: PolledHook | None = None,
        initial_failures: dict[str, int] | None = None,
    ) -> None:
        self.scheduler = scheduler
        self.poll = poll
        self.rng = rng or random.Random()
        self.poll_timeout = poll_timeout
        self.on_polled = on_polled
        self.tracks = {s.id: SourceTrack(s, failures=(initial_failures or {}).get(s.id, 0)) for s in sources}
        self._stopped = False
        self.runs: set[asyncio.Task] = set()  # polls (with their after-poll hook) in progress
        # The next poll is scheduled once APScheduler has counted the finished run out
        # (its job-executed event), so max_instances=1 never skips it.
        scheduler.add_listener(self._job_done, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)

    @staticmethod
    def job_id(source_id: str) -> str:
        return f"poll:{source_id}"

    def start(self, first_delay: float = 0.0) -> None:
        """Schedule every source's first poll ``first_delay`` seconds from now."""
        for track in self.tracks.values():
            self._schedule(track, first_delay)

    def _job_done(self, event: JobExecutionEvent) -> None:
        if not event.job_id.startswith("poll:"):
            return
        track = self.tracks.get(event.job_id[len("poll:"):])
        if track is None:
            return
        delay = track.next_delay
        track.next_delay = None
        if delay is None:  # the run failed outside _run's own handling: keep the source alive
            delay = next_poll_delay(track.source.interval, track.failures, self.rng)
        self._schedule(track, delay)

    def next_polls(self) -> dict[str, float | None]:
        """Seconds until each source's next poll (None while one runs): the delay a poll that
        just ended decided, else the time to its scheduled run, in the scheduler's time."""
        now = datetime.now(timezone.utc)
        out: dict[str, float | None] = {}
        for source_id, track in self.tracks.items():
            if track.next_delay is not None:
                out[source_id] = track.next_delay
            elif track.running or track.next_run_at is None:
                out[source_id] = None
            else:
                out[source_id] = max(0.0, (track.next_run_at - now).total_seconds())
        return out

    def stop(self) -> None:
        self._stopped = True
        try:
            self.scheduler.remove_listener(self._job_done)
        except (KeyError, ValueError):
            pass
        for source_id in self.tracks:
            job = self.scheduler.get_job(self.job_id(source_id))
            if job is not None:
                job.remove()

    def _schedule(self, track: SourceTrack, delay: float) -> None:
        if self._stopped:
            return
        run_at = datetime.now(timezone.utc) + timedelta(seconds=delay)
        track.last_delay = delay
        track.next_run_at = run_at
        self.scheduler.add_job(
            self._run,
            trigger=DateTrigger(run_date=run_at),
            args=[track.source.id],
            id=self.job_id(track.source.id),
            name=f"poll {track.source.id}",
            replace_existing=True,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
        )

    def _stopping(self) -> bool:
        return self._stopped or self.scheduler.state == STATE_STOPPED

    def cut_short(self, source_id: str) -> str | None:
        """Why the source's last poll was abandoned, if it was (for the after-poll hook)."""
        track = self.tracks.get(source_id)
        return track.cut_short if track else None

    async def _run(self, source_id: str) -> None:
        track = self.tracks[source_id]
        if track.running:  # belt and braces: never two polls of one source
            return
        # cancelled at shutdown, in the poll or in the after-poll hook: ends quietly
        with _job_run(self.runs, self._stopping, f"source {source_id}: poll"):
            await self._poll_once(track)

    async def _poll_once(self, track: SourceTrack) -> None:
        source_id = track.source.id
        track.running = True
        ok = False
        track.cut_short = None
        try:
            result = await asyncio.wait_for(self.poll(track.source), timeout=self.poll_timeout)
        except asyncio.TimeoutError:
            track.cut_short = f"poll took longer than {self.poll_timeout:g} s, abandoned"
            if self.on_polled is None:  # else the hook reports it, once (the status line)
                log.warning("source %s: %s", source_id, track.cut_short)
        except Exception as exc:  # one source's failure must not stop its schedule or the others
            log_failure(log, f"source {source_id}: poll failed", exc)
        else:
            if result is None:  # skipped (this instance does not lead now): no failure, no backoff
                track.next_delay = next_poll_delay(track.source.interval, track.failures, self.rng)
                return
            ok = bool(result)
        finally:
            track.running = False
        track.polls += 1
        track.failures = 0 if ok else track.failures + 1
        # decided before the hook runs, so the hook can say when the source is tried again
        track.next_delay = next_poll_delay(track.source.interval, track.failures, self.rng)
        if self.on_polled is not None:
            try:
                await self.on_polled(track.source, ok)
            except Exception as exc:
                log_failure(log, f"source {source_id}: after-poll hook failed", exc)


def _guarded(
    scheduler: AsyncIOScheduler, job_id: str, func: Callable[[], Awaitable[object]], runs: set[asyncio.Task] | None
) -> Callable[[], Awaitable[None]]:
    """``func`` as a job: an exception is logged (the schedule goes on); the run is kept in
    ``runs``; cancelled because the scheduler is shutting down, it ends quietly."""
    runs = set() if runs is None else runs

    async def guarded() -> None:
        with _job_run(runs, _scheduler_stopped(scheduler), f"job {job_id}"):
            try:
                await func()
            except Exception as exc:
                log_failure(log, f"job {job_id} failed", exc)

    return guarded


def add_periodic(
    scheduler: AsyncIOScheduler,
    job_id: str,
    func: Callable[[], Awaitable[object]],
    every: float,
    *,
    first_delay: float = 0.0,
    runs: set[asyncio.Task] | None = None,
) -> None:
    """Run ``func`` every ``every`` seconds (first run after ``first_delay``), never overlapping;
    an exception is logged and the next run happens as planned. A run in progress is kept in
    ``runs``; cancelled because the scheduler is shutting down, it ends quietly."""
    scheduler.add_job(
        _guarded(scheduler, job_id, func, runs),
        trigger=IntervalTrigger(seconds=every),
        id=job_id,
        name=job_id,
        replace_existing=True,
        max_instances=1,
        coalesce=True,
        misfire_grace_time=None,
        next_run_time=datetime.now(timezone.utc) + timedelta(seconds=first_delay),
    )


def add_once(
    scheduler: AsyncIOScheduler,
    job_id: str,
    func: Callable[[], Awaitable[object]],
    delay: float = 0.0,
    *,
    runs: set[asyncio.Task] | None = None,
) -> None:
    """Run ``func`` once, ``delay`` seconds from now (errors logged; see ``add_periodic``)."""
    scheduler.add_job(
        _guarded(scheduler, job_id, func, runs),
        trigger=DateTrigger(run_date=datetime.now(timezone.utc) + timedelta(seconds=delay)),
        id=job_id,
        name=job_id,
        replace_existing=True,
        misfire_grace_time=None,
    )


def new_scheduler() -> AsyncIOScheduler:
    """An AsyncIOScheduler in UTC on the running loop (call ``start()`` inside the loop)."""
    return AsyncIOScheduler(timezone=timezone.utc, job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None})


# ------------------------------------------------------------------------------ component


class Timetable:
    """The service component that owns the scheduler: per-source polls, the digest tick,
    and other jobs: ``periodic`` entries are (id, func, every seconds or None for once,
    first delay). ``start()`` must run inside the service's event loop."""

    name = "scheduler"

    def __init__(
        self,
        sources: Sequence[Source],
        poll: PollFn,
        *,
        periodic: Sequence[tuple[str, Callable[[], Awaitable[object]], float | None, float]] = (),
        on_polled: PolledHook | None = None,
        poll_timeout: float = 300.0,
        rng: random.Random | None = None,
    ) -> None:
        self.sources = list(sources)
        self.poll = poll
        self.periodic = list(periodic)
        self.on_polled = on_polled
        self.poll_timeout = poll_timeout
        self.rng = rng
        self.scheduler: AsyncIOScheduler | None = None
        self.polls: PollSchedule | None = None
        self._runs: set[asyncio.Task] = set()  # periodic and one-off jobs in progress

    async def start(self) -> None:
        self.scheduler = new_scheduler()
        self.scheduler.start()
        self.polls = PollSchedule(
            self.scheduler, self.sources, self.poll, rng=self.rng, poll_timeout=self.poll_timeout, on_polled=self.on_polled
        )
        self.polls.start()
        for job_id, func, every, first_delay in self.periodic:
            if every is None:
                add_once(self.scheduler, job_id, func, first_delay, runs=self._runs)
            else:
                add_periodic(self.scheduler, job_id, func, every, first_delay=first_delay, runs=self._runs)

    def next_polls(self) -> dict[str, float | None]:
        """Seconds until each source's next poll (``PollSchedule.next_polls``); {} before start."""
        return self.polls.next_polls() if self.polls is not None else {}

    def cut_short(self, source_id: str) -> str | None:
        """Why the source's last poll was abandoned (``PollSchedule.cut_short``)."""
        return self.polls.cut_short(source_id) if self.polls is not None else None

    def running(self) -> bool:
        """The scheduler runs (/healthz)."""
        return self.scheduler is not None and self.scheduler.running

    async def stop(self) -> None:
        if self.polls is not None:
            self.polls.stop()
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)  # cancels the jobs still running
            running = self._runs | (self.polls.runs if self.polls is not None else set())
            if running:  # let them unwind (a transaction rolled back, a connection returned)
                await asyncio.wait(set(running), timeout=STOP_GRACE)
