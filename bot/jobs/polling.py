"""One poll of one source, then alert planning; the channels are woken when rows were added."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import timedelta

from bot.jobs.alerts import Dispatcher
from bot.store.outbox import Outbox
from bot.web.metrics import Metrics
from config.model import Source
from monitors.poll import Poller

log = logging.getLogger("shwatch.service")


class Pipeline:
    """``leading``: whether this instance still leads (bot.jobs.leadership); a poll that ends
    after leadership was lost (the process was paused) stores its items but leaves planning
    their alerts to the new leader."""

    def __init__(
        self,
        poller: Poller,
        dispatcher: Dispatcher,
        wake: Callable[[], None],
        metrics: Metrics | None = None,
        leading: Callable[[], bool] = lambda: True,
    ) -> None:
        self.poller = poller
        self.dispatcher = dispatcher
        self.wake = wake
        self.metrics = metrics
        self.leading = leading

    async def poll(self, source: Source) -> bool:
        started = time.perf_counter()
        report = await self.poller.poll_source(source)
        if self.metrics is not None:
            outcome = "failed" if not report.ok else "not_modified" if report.not_modified else "ok"
            self.metrics.polls.labels(source=source.id, outcome=outcome).inc()
            self.metrics.poll_seconds.labels(source=source.id).observe(time.perf_counter() - started)
            if report.new_items:
                self.metrics.items_found.labels(source=source.id).inc(len(report.new_items))
        if report.alertable:
            log.info("source %s: %d new item(s)", source.id, len(report.alertable))
            if not self.leading():
                log.info("source %s: this instance no longer leads; the leader plans the alerts", source.id)
                return report.ok
            await self.dispatch()
        return report.ok

    async def dispatch(self) -> int:
        try:
            planned = await self.dispatcher.run()
        except Exception:
            log.exception("planning alerts failed; they will be planned after the next poll")
            return 0
        if planned:
            log.info("%d alert deliveries queued", planned)
            self.wake()
        return planned


class Maintenance:
    """Every ``every`` seconds: deliveries left 'sending' by a dead worker go back to pending."""

    name = "maintenance"

    def __init__(self, outbox: Outbox, every: float = 60.0, stale_after: timedelta = timedelta(minutes=10)) -> None:
        self.outbox = outbox
        self.every = every
        self.stale_after = stale_after
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="maintenance")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            try:
                n = await self.outbox.requeue_stale(self.stale_after)
                if n:
                    log.warning("%d deliveries of a stopped worker put back in the queue", n)
            except Exception:
                log.exception("requeueing stale deliveries failed")
