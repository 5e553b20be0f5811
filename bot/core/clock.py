"""Time as a dependency: every component that asks "what time is it?" asks a Clock.

- ``SystemClock``: the real time, always timezone-aware UTC.
- ``FakeClock``: a clock a test moves by hand (``advance``/``set``); digest times, quiet
  hours and backoff are tested with it, never with sleeps.
- ``ShiftedClock``: the real time moved by a fixed offset; used by ``clock_from_env``.

``clock_from_env(env)`` is the one place the service's clock is chosen, at start-up (never
at import). Two environment variables exist for end-to-end tests that must run the real
``shwatch run`` process at a chosen moment (e.g. a restart across a digest time):

    SHWATCH_FAKE_NOW=2026-06-14T07:59:50+08:00   the clock starts at this instant and runs on
    SHWATCH_CLOCK_OFFSET=-3600                   seconds added to the real time

With neither set the service uses ``SystemClock``. A value that does not parse raises
``ValueError`` naming the variable.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Protocol, runtime_checkable

FAKE_NOW_ENV = "SHWATCH_FAKE_NOW"
CLOCK_OFFSET_ENV = "SHWATCH_CLOCK_OFFSET"


@runtime_checkable
class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def __repr__(self) -> str:
        return "SystemClock()"


def _aware_utc(when: datetime) -> datetime:
    if when.tzinfo is None:
        raise ValueError("a clock needs a timezone-aware datetime")
    return when.astimezone(timezone.utc)


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = _aware_utc(start) if start is not None else datetime(2026, 1, 1, tzinfo=timezone.utc)

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float = 0.0, **delta: float) -> datetime:
        """Move forward by ``seconds`` (and/or timedelta keywords: minutes=, hours=, days=)."""
        step = timedelta(seconds=seconds, **delta)
        if step < timedelta(0):
            raise ValueError("a clock does not go backwards")
        self._now += step
        return self._now

    def set(self, when: datetime) -> datetime:
        self._now = _aware_utc(when)
        return self._now

    def __repr__(self) -> str:
        return f"FakeClock({self._now.isoformat()})"


class ShiftedClock:
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


def clock_from_env(env: Mapping[str, str]) -> Clock:
    """The service's clock: SystemClock unless a test hook variable is set (see module doc)."""
    fake_now = (env.get(FAKE_NOW_ENV) or "").strip()
    offset = (env.get(CLOCK_OFFSET_ENV) or "").strip()
    if fake_now:
        try:
            start = datetime.fromisoformat(fake_now)
        except ValueError:
            raise ValueError(f"{FAKE_NOW_ENV}={fake_now!r} is not an ISO 8601 date-time") from None
        if start.tzinfo is None:
            raise ValueError(f"{FAKE_NOW_ENV}={fake_now!r} needs a UTC offset (e.g. +08:00 or Z)")
        return ShiftedClock.starting_at(start)
    if offset:
        try:
            seconds = float(offset)
        except ValueError:
            raise ValueError(f"{CLOCK_OFFSET_ENV}={offset!r} is not a number of seconds") from None
        return ShiftedClock(timedelta(seconds=seconds))
    return SystemClock()


def seconds_to_next_minute(now: datetime, offset: float = 0.0) -> float:
    """Seconds from ``now`` until ``offset`` seconds past the start of the next minute."""
    return 60.0 - (now.second + now.microsecond / 1e6) + offset
