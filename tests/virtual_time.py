"""Run code that waits on a ``FakeClock`` without waiting: move the clock to the next
sleeper's deadline whenever nothing is in flight.

``busy()`` says whether real I/O whose timing matters is under way (e.g. requests to the
fake Bot API, which checks the limits on the same clock); the clock never moves while it is
true, so a server stamps each request with the instant the sender chose for it.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bot.core.clock import FakeClock

SETTLE = 0.002  # real seconds for I/O that has landed to be handled before time moves


def _idle() -> bool:
    return False


async def _check(done: Callable[[], Any]) -> Any:
    value = done()
    if inspect.isawaitable(value):
        value = await value
    return value


async def drive(
    clock: FakeClock,
    done: Callable[[], Any | Awaitable[Any]],
    *,
    busy: Callable[[], bool] = _idle,
    limit: float = 600.0,
    real_timeout: float = 30.0,
) -> Any:
    """Let ``clock`` run until ``done()`` (sync or async) is truthy; returns its value.

    AssertionError when ``limit`` seconds of the clock or ``real_timeout`` real seconds pass."""
    start = clock.monotonic()
    give_up = time.monotonic() + real_timeout
    while True:
        await asyncio.sleep(SETTLE)
        if busy():
            if time.monotonic() > give_up:
                raise AssertionError(f"still busy after {real_timeout:.0f} real s")
            continue
        value = await _check(done)
        if value:
            return value
        if time.monotonic() > give_up:
            raise AssertionError(f"not done after {real_timeout:.0f} real s ({clock.monotonic() - start:.2f} s of the clock)")
        if busy():  # checking took a moment: something may have started meanwhile
            continue
        deadline = clock.next_deadline()
        if deadline is None:
            continue
        if deadline - start > limit:
            raise AssertionError(f"not done within {limit:.0f} s of the clock")
        clock.advance_to_next()


async def pass_time(clock: FakeClock, seconds: float, *, busy: Callable[[], bool] = _idle) -> None:
    """Let exactly ``seconds`` of the clock pass, waking every sleeper due meanwhile in order."""
    target = clock.monotonic() + seconds
    give_up = time.monotonic() + 30.0
    while clock.monotonic() < target:
        await asyncio.sleep(SETTLE)
        if busy():
            assert time.monotonic() < give_up, "busy for 30 real seconds"
            continue
        deadline = clock.next_deadline()
        if deadline is not None and deadline <= target:
            clock.advance_to_next()
        else:
            clock.advance(target - clock.monotonic())
    await asyncio.sleep(SETTLE)
