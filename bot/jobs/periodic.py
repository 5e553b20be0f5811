"""A component that does one thing every N seconds of the service's clock.

``Every(name, seconds, action, clock)`` runs ``await action()`` each time ``seconds`` of the
injected clock have passed, from ``start()`` until ``stop()``. An action that fails is
logged (one line with its cause, and the traceback at DEBUG) and runs again next time: a
periodic job never stops the service.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from bot.core.clock import Clock

log = logging.getLogger("shwatch.periodic")

Action = Callable[[], Awaitable[None]]


class Every:
    def __init__(self, name: str, seconds: float, action: Action, clock: Clock) -> None:
        if seconds <= 0:
            raise ValueError(f"{name}: the period must be positive, got {seconds!r}")
        self.name = name
        self.seconds = seconds
        self.action = action
        self.clock = clock
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            await self.clock.sleep(self.seconds)
            try:
                await self.action()
            except Exception as exc:
                log.warning("%s failed: %s: %s; it runs again in %.0f s", self.name, type(exc).__name__, exc, self.seconds)
                log.debug("%s failed", self.name, exc_info=True)
