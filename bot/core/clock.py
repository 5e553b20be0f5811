"""Time as a dependency: every component that asks "what time is it?" asks a Clock.

- ``SystemClock``: the real time, always timezone-aware UTC.
- ``FakeClock``: a clock a test moves by hand (``advance``/``set``); digest times, quiet
  hours, backoff and send rates are tested with it, never with sleeps.
- ``ShiftedClock``: the real time moved by a fixed offset; used by ``clock_from_env``.
- ``ScaledClock``: a clock that runs ``rate`` times faster than real time (instant,
  monotonic counter and sleeps alike); end-to-end tests of send rates use it so that
  Telegram's 1 message/s per chat takes a fraction of a real second.

Besides the instant (``now()``), a clock has a monotonic second counter (``monotonic()``,
for rate limits and deadlines) and its own ``sleep(seconds)``; ``wait_event(clock, event,
timeout)`` waits for an ``asyncio.Event`` at most ``timeout`` seconds of that clock. On a
``FakeClock`` a sleep ends when the test moves the clock past its deadline
(``advance``/``set``/``advance_to_next``), so code that waits is tested without waiting.

``clock_from_env(env)`` is the one place the service's clock is chosen, at start-up (never
at import). Two environment variables exist for end-to-end tests that must run the real
``shwatch run`` process at a chosen moment (e.g. a restart across a digest time) or faster
than real time:

    SHWATCH_FAKE_NOW=2026-06-14T07:59:50+08:00   the clock starts at this instant and runs on
    SHWATCH_CLOCK_OFFSET=-3600                   seconds added to the real time
    SHWATCH_CLOCK_RATE=10                        the clock runs 10 times faster than real time
    SHWATCH_CLOCK_SINCE=1796025600.5             ... from this real instant (Unix seconds; default:
                                                 start-up), so processes started one after
                                                 another agree on the time

With none set the service uses ``SystemClock``. A value that does not parse raises
``ValueError`` naming the variable. Monotonic counters of every process on one machine agree
(``CLOCK_MONOTONIC``), so a test's fake server judges a scaled service's send rate with
``time.monotonic() * rate``.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Protocol, runtime_checkable

FAKE_NOW_ENV = "SHWATCH_FAKE_NOW"
CLOCK_OFFSET_ENV = "SHWATCH_CLOCK_OFFSET"
CLOCK_RATE_ENV = "SHWATCH_CLOCK_RATE"
CLOCK_SINCE_ENV = "SHWATCH_CLOCK_SINCE"
MAX_CLOCK_RATE = 100.0


@runtime_checkable
class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a counter that never goes back (only differences mean anything)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Return after ``seconds`` of this clock."""
        ...


class _RealTime:
    """The machine's monotonic counter and asyncio's sleep."""

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0))


class SystemClock(_RealTime):
    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def __repr__(self) -> str:
        return "SystemClock()"


def _aware_utc(when: datetime) -> datetime:
    if when.tzinfo is None:
        raise ValueError("a clock needs a timezone-aware datetime")
    return when.astimezone(timezone.utc)


class FakeClock:
    """A clock that only moves when told to.

    ``sleep`` waits until the clock has been moved past its deadline; ``next_deadline()``
    says when the earliest sleeper wakes and ``advance_to_next()`` moves there. ``set`` may
    move the instant back (a test going to another day); the monotonic counter only ever
    moves forward.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = _aware_utc(start) if start is not None else datetime(2026, 1, 1, tzinfo=timezone.utc)
        self._mono = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future]] = []
        self._seq = itertools.count()

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        wake = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._mono + seconds, next(self._seq), wake))
        try:
            await wake
        finally:
            wake.cancel()  # a cancelled sleeper is dropped from the heap lazily

    def next_deadline(self) -> float | None:
        """The monotonic time the earliest sleeper wakes at (None: nobody sleeps)."""
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)
        return self._sleepers[0][0] if self._sleepers else None

    def advance_to_next(self) -> float | None:
        """Move to the earliest sleeper's deadline (if any) and wake it; returns the step."""
        deadline = self.next_deadline()
        if deadline is None:
            return None
        step = max(deadline - self._mono, 0.0)
        self._now += timedelta(seconds=step)
        self._mono = max(self._mono, deadline)  # exactly the deadline: no rounding short of it
        self._wake_due()
        return step

    def advance(self, seconds: float = 0.0, **delta: float) -> datetime:
        """Move forward by ``seconds`` (and/or timedelta keywords: minutes=, hours=, days=)."""
        step = timedelta(seconds=seconds, **delta)
        if step < timedelta(0):
            raise ValueError("a clock does not go backwards")
        self._now += step
        self._mono += step.total_seconds()
        self._wake_due()
        return self._now

    def set(self, when: datetime) -> datetime:
        when = _aware_utc(when)
        self._mono += max((when - self._now).total_seconds(), 0.0)
        self._now = when
        self._wake_due()
        return self._now

    def _wake_due(self) -> None:
        while self._sleepers and self._sleepers[0][0] <= self._mono:
            _, _, wake = heapq.heappop(self._sleepers)
            if not wake.done():
                wake.set_result(None)

    def __repr__(self) -> str:
        return f"FakeClock({self._now.isoformat()})"


class ShiftedClock(_RealTime):
    """Real time plus a fixed offset (real seconds still pass at the real rate)."""

    def __init__(self, offset: timedelta) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return datetime.now(timezone.utc) + self.offset

    @classmethod
    def starting_at(cls, start: datetime) -> "ShiftedClock":
        start = _aware_utc(start)
        # time.time() and datetime.now() agree; compute the offset once, at start-up.
        return cls(start - datetime.fromtimestamp(time.time(), timezone.utc))

    def __repr__(self) -> str:
        return f"ShiftedClock(offset={self.offset.total_seconds():+.0f}s)"


class ScaledClock:
    """Time that runs ``rate`` times faster than real time from the real instant ``since``
    (Unix seconds; default: now), when it reads ``start`` (default: the real time then).

    ``now()`` advances ``rate`` seconds per real second, ``monotonic()`` is the machine's
    monotonic counter times ``rate``, and ``sleep(s)`` lasts ``s / rate`` real seconds."""

    def __init__(self, rate: float, start: datetime | None = None, since: float | None = None) -> None:
        if not 0 < rate <= MAX_CLOCK_RATE:
            raise ValueError(f"clock rate must be above 0 and at most {MAX_CLOCK_RATE:g}, got {rate!r}")
        self.rate = rate
        self._real0 = time.time() if since is None else since
        self._start = _aware_utc(start) if start is not None else datetime.fromtimestamp(self._real0, timezone.utc)

    def now(self) -> datetime:
        return self._start + timedelta(seconds=(time.time() - self._real0) * self.rate)

    def monotonic(self) -> float:
        return time.monotonic() * self.rate

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.rate)

    def __repr__(self) -> str:
        return f"ScaledClock(rate={self.rate:g}, start={self._start.isoformat()})"


def clock_from_env(env: Mapping[str, str]) -> Clock:
    """The service's clock: SystemClock unless a test hook variable is set (see module doc)."""
    fake_now = (env.get(FAKE_NOW_ENV) or "").strip()
    offset = (env.get(CLOCK_OFFSET_ENV) or "").strip()
    rate_text = (env.get(CLOCK_RATE_ENV) or "").strip()
    if rate_text:
        try:
            rate = float(rate_text)
        except ValueError:
            raise ValueError(f"{CLOCK_RATE_ENV}={rate_text!r} is not a number") from None
        if not 0 < rate <= MAX_CLOCK_RATE:  # also refuses nan and inf
            raise ValueError(f"{CLOCK_RATE_ENV}={rate_text!r} must be above 0 and at most {MAX_CLOCK_RATE:g}")
        since_text = (env.get(CLOCK_SINCE_ENV) or "").strip()
        try:
            since = float(since_text) if since_text else None
        except ValueError:
            raise ValueError(f"{CLOCK_SINCE_ENV}={since_text!r} is not a number of Unix seconds") from None
        start = _start_from(fake_now) if fake_now else None
        if start is None and offset:
            start = datetime.now(timezone.utc) + timedelta(seconds=_offset_from(offset))
        return ScaledClock(rate, start, since)
    if fake_now:
        return ShiftedClock.starting_at(_start_from(fake_now))
    if offset:
        return ShiftedClock(timedelta(seconds=_offset_from(offset)))
    return SystemClock()


def _start_from(fake_now: str) -> datetime:
    try:
        start = datetime.fromisoformat(fake_now)
    except ValueError:
        raise ValueError(f"{FAKE_NOW_ENV}={fake_now!r} is not an ISO 8601 date-time") from None
    if start.tzinfo is None:
        raise ValueError(f"{FAKE_NOW_ENV}={fake_now!r} needs a UTC offset (e.g. +08:00 or Z)")
    return start


def _offset_from(offset: str) -> float:
    try:
        return float(offset)
    except ValueError:
        raise ValueError(f"{CLOCK_OFFSET_ENV}={offset!r} is not a number of seconds") from None


async def wait_event(clock: Clock, event: asyncio.Event, timeout: float | None) -> bool:
    """Wait until ``event`` is set or ``timeout`` seconds of ``clock`` have passed (None: no
    limit); True when the event is set. A cancellation of the caller is never swallowed
    (``asyncio.wait_for`` on Python 3.11 can lose one that lands as the event fires)."""
    if event.is_set():
        return True
    if timeout is None:
        await event.wait()
        return True
    if timeout <= 0:
        await asyncio.sleep(0)
        return event.is_set()
    waiter = asyncio.ensure_future(event.wait())
    sleeper = asyncio.ensure_future(clock.sleep(timeout))
    try:
        await asyncio.wait((waiter, sleeper), return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
        sleeper.cancel()
    return event.is_set()


def seconds_to_next_minute(now: datetime, offset: float = 0.0) -> float:
    """Seconds from ``now`` until ``offset`` seconds past the start of the next minute."""
    return 60.0 - (now.second + now.microsecond / 1e6) + offset
