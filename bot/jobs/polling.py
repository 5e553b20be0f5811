"""One poll of one source, then alert planning; the channels are woken when rows were added."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta

from bot.core.clock import Clock
from bot.jobs.alerts import Dispatcher
from bot.jobs.periodic import Every
from bot.store.outbox import Outbox
from bot.web.metrics import Metrics
from config.model import Source
from monitors.failures import log_failure
from monitors.poll import Poller
from monitors.wording import counted

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
        # each source's last failure (None after a success): the status line says it once,
        # with when the source is tried again (bot.jobs.status)
        self.errors: dict[str, str | None] = {}
        self.leading = leading

    async def poll(self, source: Source) -> bool:
        started = time.perf_counter()
        self.errors.pop(source.id, None)  # a poll cut off by the timetable leaves no stale reason
        report = await self.poller.poll_source(source)
        self.errors[source.id] = report.error
        for warning in report.warnings:  # an article problem; the poll itself succeeded
            log.warning("source %s: %s", source.id, warning)
        if self.metrics is not None:
            outcome = "failed" if not report.ok else "not_modified" if report.not_modified else "ok"
            self.metrics.polls.labels(source=source.id, outcome=outcome).inc()
            self.metrics.poll_seconds.labels(source=source.id).observe(time.perf_counter() - started)
            if report.new_items:
                self.metrics.items_found.labels(source=source.id).inc(len(report.new_items))
        if report.alertable:
            log.info("source %s: %s", source.id, counted(len(report.alertable), "new item"))
            if not self.leading():
                log.info("source %s: this instance no longer leads; the leader plans the alerts", source.id)
                return report.ok
            await self.dispatch()
        return report.ok

    async def dispatch(self) -> int:
        try:
            planned = await self.dispatcher.run()
        except Exception as exc:
            log_failure(log, "planning alerts failed; they will be planned after the next poll", exc)
            return 0
        if planned:
            log.info("%s queued", counted(planned, "alert delivery"))
            self.wake()
        return planned


class Maintenance(Every):
    """Every ``every`` seconds: deliveries left 'sending' by a dead worker go back to pending."""

    def __init__(
        self, outbox: Outbox, clock: Clock, every: float = 60.0, stale_after: timedelta = timedelta(minutes=10)
    ) -> None:
        super().__init__("maintenance", every, self.requeue, clock)
        self.outbox = outbox
        self.stale_after = stale_after

    async def requeue(self) -> None:
        n = await self.outbox.requeue_stale(self.stale_after)
        if n:
            log.warning("%s of a stopped worker put back in the queue", counted(n, "delivery"))
