"""The clock chosen at start-up from the environment, and the scaled clock e2e tests use."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone

import pytest

from bot.core.clock import ScaledClock, ShiftedClock, SystemClock, clock_from_env


def test_no_variable_is_the_system_clock():
    assert isinstance(clock_from_env({}), SystemClock)


def test_fake_now_and_offset_shift_the_real_time():
    clock = clock_from_env({"SHWATCH_FAKE_NOW": "2026-06-14T07:59:50+08:00"})
    assert isinstance(clock, ShiftedClock)
    assert abs((clock.now() - datetime(2026, 6, 13, 23, 59, 50, tzinfo=timezone.utc)).total_seconds()) < 5
    shifted = clock_from_env({"SHWATCH_CLOCK_OFFSET": "-3600"})
    assert abs((datetime.now(timezone.utc) - shifted.now()).total_seconds() - 3600) < 5


def test_a_scaled_clock_runs_rate_times_faster_in_every_reading():
    clock = clock_from_env({"SHWATCH_CLOCK_RATE": "20", "SHWATCH_FAKE_NOW": "2026-06-14T08:00:00+08:00"})
    assert isinstance(clock, ScaledClock)
    t0, m0, r0 = clock.now(), clock.monotonic(), time.monotonic()
    asyncio.run(clock.sleep(2.0))  # 2 s of the clock: a tenth of a real second
    real = time.monotonic() - r0
    assert 0.09 <= real < 1.0
    assert clock.monotonic() - m0 == pytest.approx(real * 20, rel=0.05)
    assert (clock.now() - t0).total_seconds() == pytest.approx(real * 20, rel=0.05, abs=0.05)
    assert t0 >= datetime(2026, 6, 14, 8, 0, tzinfo=timezone(timedelta(hours=8)))


def test_processes_given_the_same_since_agree_on_the_time():
    since = time.time() - 10  # the first process started ten real seconds ago
    first = ScaledClock(4, since=since)
    again = clock_from_env({"SHWATCH_CLOCK_RATE": "4", "SHWATCH_CLOCK_SINCE": repr(since)})
    assert abs((again.now() - first.now()).total_seconds()) < 0.5
    # forty seconds of the scaled clock have passed, not ten
    assert (first.now() - datetime.now(timezone.utc)).total_seconds() == pytest.approx(30, abs=1)


@pytest.mark.parametrize(
    "env,named",
    [
        ({"SHWATCH_CLOCK_RATE": "fast"}, "SHWATCH_CLOCK_RATE"),
        ({"SHWATCH_CLOCK_RATE": "0"}, "SHWATCH_CLOCK_RATE"),
        ({"SHWATCH_CLOCK_RATE": "nan"}, "SHWATCH_CLOCK_RATE"),
        ({"SHWATCH_CLOCK_RATE": "1e9"}, "SHWATCH_CLOCK_RATE"),
        ({"SHWATCH_CLOCK_RATE": "2", "SHWATCH_CLOCK_SINCE": "yesterday"}, "SHWATCH_CLOCK_SINCE"),
        ({"SHWATCH_FAKE_NOW": "2026-06-14 08:00"}, "SHWATCH_FAKE_NOW"),
        ({"SHWATCH_CLOCK_OFFSET": "an hour"}, "SHWATCH_CLOCK_OFFSET"),
    ],
)
def test_a_value_that_does_not_parse_names_its_variable(env, named):
    with pytest.raises(ValueError, match=named):
        clock_from_env(env)
