"""``shwatch run``: the long-running service, as a list of components.

A component is anything with ``name``, ``async start()`` and ``async stop()`` (and
optionally ``wake()``: "new deliveries are waiting in the outbox"). ``build_components``
lists them in start order; they are stopped in reverse order. Adding a channel or a
scheduler is one more entry in that list::

    components = [
        delivery channel(s)   TelegramChannel (token set) or ConsoleChannel; WeCom app/robots
        fetcher               the shared HTTP client for the sources
        Timetable             (bot.jobs.timetable) APScheduler: each source polled at start-up, then
                              on its interval with jitter and backoff (Pipeline.poll: after a
                              poll with new items, dispatch alerts and wake the channels);
                              the digest tick; admin health notices after each poll
        Maintenance           hands back deliveries left 'sending' by a dead worker
    ]

Start-up: the schema is migrated to the newest revision (Alembic) and deliveries a killed process left in 'sending' go back to
pending (they were claimed, never recorded as sent). SIGTERM/SIGINT stop everything within
a few seconds and the process exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any, Protocol

from config.model import Settings, Source
from bot.core.text import Block, Plain

log = logging.getLogger("shwatch.service")

STOP_TIMEOUT = 4.0  # seconds per component
STALE_AFTER = timedelta(minutes=10)  # a 'sending' row older than this belongs to a dead worker


class Component(Protocol):
    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


# ---------------------------------------------------------------------------- composing


KindRenderer = Callable[[Sequence[Any]], Awaitable[Mapping[int, list[Block]]]]


class DeliveryComposer:
    """Claimed deliveries -> ``bot.core.text`` blocks per delivery id, for every channel.

    ``alert`` rows are rendered from their item and Match payload (``formatting.alert_blocks``);
    ``notice`` rows from ``payload["key"]``/``payload["params"]`` (an i18n message) or
    ``payload["text"]``. Other kinds (the digest) are added with ``register(kind, renderer)``.
    A delivery that cannot be rendered (its item is gone) is simply absent from the result.
    """

    def __init__(self, engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self.source_names = {s.id: s.name for s in settings.sources}
        self.renderers: dict[str, KindRenderer] = {"alert": self._alerts, "notice": self._notices}

    def register(self, kind: str, renderer: KindRenderer) -> None:
        self.renderers[kind] = renderer

    async def __call__(self, deliveries: Sequence[Any]) -> dict[int, list[Block]]:
        by_kind: dict[str, list[Any]] = {}
        for delivery in deliveries:
            by_kind.setdefault(delivery.kind, []).append(delivery)
        out: dict[int, list[Block]] = {}
        for kind, rows in by_kind.items():
            renderer = self.renderers.get(kind)
            if renderer is None:
                log.warning("no renderer for %d deliveries of kind %r", len(rows), kind)
                continue
            out.update(await renderer(rows))
        return out

    async def _alerts(self, rows: Sequence[Any]) -> dict[int, list[Block]]:
        from bot.core.match import Match, items_by_id
        from bot.core.format import alert_blocks

        found = await items_by_id(self.engine, [d.item_id for d in rows])
        out: dict[int, list[Block]] = {}
        for d in rows:
            item = found.get(d.item_id)
            if item is None:
                continue
            match = Match.from_payload(d.chat_id, d.payload)
            name = self.source_names.get(item.source_id, item.source_id)
            out[d.id] = alert_blocks(item, name, match, d.lang, topics=self.settings.topics, tz=self.settings.timezone)
        return out

    async def _notices(self, rows: Sequence[Any]) -> dict[int, list[Block]]:
        from bot.core.i18n import t

        out: dict[int, list[Block]] = {}
        for d in rows:
            payload = d.payload or {}
            if payload.get("key"):
                text = t(payload["key"], d.lang, **(payload.get("params") or {}))
            else:
                text = str(payload.get("text") or "")
            if text:
                out[d.id] = [[(Plain(line),) for line in text.split("\n")]]
        return out


# ---------------------------------------------------------------------------- polling


class Pipeline:
    """One poll of one source, then alert dispatch; channels are woken when rows were added."""

    def __init__(self, engine, settings: Settings, poller, index, clock, wake: Callable[[], None]) -> None:
        self.engine = engine
        self.settings = settings
        self.poller = poller
        self.index = index
        self.clock = clock
        self.wake = wake
        self._dispatching = asyncio.Lock()

    async def poll(self, source: Source) -> bool:
        report = await self.poller.poll_source(source)
        if report.alertable:
            log.info("source %s: %d new item(s)", source.id, len(report.alertable))
            await self.dispatch()
        return report.ok

    async def dispatch(self) -> int:
        from bot.core.match import dispatch_new_items

        async with self._dispatching:
            try:
                planned = await dispatch_new_items(self.engine, self.index, self.clock, self.settings.max_age_days)
            except Exception:
                log.exception("planning alerts failed; they will be planned after the next poll")
                return 0
        if planned:
            log.info("%d alert deliveries queued", planned)
            self.wake()
        return planned


class Maintenance:
    """Every minute: deliveries left 'sending' by a dead worker go back to pending."""

    name = "maintenance"

    def __init__(self, outbox, every: float = 60.0, stale_after: timedelta = STALE_AFTER) -> None:
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


class _Fetching:
    """Keeps the shared HTTP client for sources open while the service runs."""

    name = "fetcher"

    def __init__(self, fetcher) -> None:
        self.fetcher = fetcher

    async def start(self) -> None:
        await self.fetcher.__aenter__()

    async def stop(self) -> None:
        await self.fetcher.__aexit__(None, None, None)


# ---------------------------------------------------------------------------- wiring


class Service:
    """What the components share: settings, the store, the clock, the command core."""

    def __init__(self, settings: Settings, engine, clock, *, deliver_only: bool = False) -> None:
        from bot.core.match import IndexProvider
        from bot.store.chats import ChatStore
        from bot.logs import secrets_of
        from bot.store.outbox import Outbox

        self.settings = settings
        self.engine = engine
        self.clock = clock
        # A delivery worker: sends what the outbox holds, beside one full service (PostgreSQL).
        self.deliver_only = deliver_only
        self.chats = ChatStore(engine, clock)
        self.outbox = Outbox(engine, clock)
        self.index = IndexProvider(self.chats)
        self.compose = DeliveryComposer(engine, settings)
        self.secrets = secrets_of(settings)
        self.components: list[Any] = []
        self.digest_now = None  # the /digest now hook (set by the digest component before start)
        self._core = None

    @property
    def core(self):
        """The channel-neutral command logic, shared by every chat channel."""
        if self._core is None:
            from bot.commands.core import CommandCore

            self._core = CommandCore(
                self.engine, self.settings, self.clock, digest_now=self.digest_now, store=self.chats
            )
        return self._core

    def wake(self) -> None:
        """New deliveries are waiting: every channel claims now."""
        for component in self.components:
            wake = getattr(component, "wake", None)
            if wake is not None:
                wake()

    def build_components(self) -> list[Any]:
        from monitors.fetch import Fetcher
        from monitors.poll import Poller
        from monitors.store import ItemStore
        from monitors.tagger import Tagger

        from bot.jobs.timetable import attach_digests, service_timetable

        settings = self.settings
        digests = attach_digests(self)  # before the channels: the command core gets /digest now
        components: list[Any] = []
        if settings.telegram.token:
            from bot.channels.telegram.app import TelegramChannel

            components.append(TelegramChannel(self))
        else:
            from bot.channels.console import ConsoleChannel

            components.append(
                ConsoleChannel(
                    self.outbox,
                    self.chats,
                    self.compose,
                    [t.id for t in settings.topics],
                    lang=_console_lang(),
                )
            )
        components.extend(self._wecom_components())
        if self.deliver_only:
            components.append(Maintenance(self.outbox))
            return components
        fetcher = Fetcher(settings.fetch)
        poller = Poller(settings, ItemStore(self.engine), fetcher, Tagger(settings.topics), clock=self.clock.now)
        pipeline = Pipeline(self.engine, settings, poller, self.index, self.clock, self.wake)
        components.append(_Fetching(fetcher))
        components.append(service_timetable(self, pipeline.poll, digests))  # polls, digests, health
        components.append(Maintenance(self.outbox))
        return components

    def _wecom_components(self) -> list[Any]:
        """WeCom app and robots, when configured (their module owns the details)."""
        wecom = self.settings.wecom
        if not (wecom.app_enabled or wecom.robots):
            return []
        try:
            from bot.channels.wecom import channel as wecom_channel
        except ImportError:  # pragma: no cover - the WeCom package is part of the project
            log.warning("WeCom is configured but its channel is not available")
            return []
        build = getattr(wecom_channel, "build_components", None)
        if build is None:
            log.warning("WeCom is configured but bot.channels.wecom.channel has no build_components(service)")
            return []
        return list(build(self))

    async def prepare_store(self) -> None:
        from bot.store.migrate import upgrade_to_head

        await upgrade_to_head(self.engine)  # Alembic: the schema at the newest revision
        # A previous process killed mid-send left rows in 'sending': on SQLite only one
        # service runs, so all of them are stale; on PostgreSQL other workers may be alive.
        stale = timedelta(0) if self.engine.dialect.name == "sqlite" and not self.deliver_only else STALE_AFTER
        n = await self.outbox.requeue_stale(stale)
        if n:
            log.warning("%d deliveries interrupted by the last shutdown are queued again", n)
        if self.settings.telegram.token:
            # alerts for the console chat would pile up unsent while Telegram is in use
            console = await self.chats.get("console", "stdout")
            if console is not None and console.active:
                await self.chats.set_active(console.id, False)

    async def run(self, stop: asyncio.Event) -> int:
        await self.prepare_store()
        self.components = self.build_components()
        started: list[Any] = []
        code = 0
        try:
            for component in self.components:
                await component.start()
                started.append(component)
                log.info("started %s", component.name)
            log.info("shwatch is running (%d sources); Ctrl-C or SIGTERM stops it", len(self.settings.sources))
            self.wake()
            await stop.wait()
            log.info("stopping")
        except Exception as exc:
            from bot.logs import redact

            log.error("the service could not start: %s", redact(f"{type(exc).__name__}: {exc}", self.secrets))
            code = 1
        finally:
            for component in reversed(started):
                try:
                    await asyncio.wait_for(component.stop(), STOP_TIMEOUT)
                except asyncio.TimeoutError:
                    log.warning("%s did not stop within %.0f s", component.name, STOP_TIMEOUT)
                except Exception:
                    log.exception("stopping %s failed", component.name)
        return code


def _console_lang() -> str:
    from bot.core.i18n import lang_from_code

    return lang_from_code(os.environ.get("LANG") or os.environ.get("LC_ALL") or "en")


async def run_service(settings: Settings, *, deliver_only: bool = False) -> int:
    """Run until SIGTERM/SIGINT; 0 after a clean stop, 1 when the service could not start.

    ``deliver_only``: a delivery worker beside one full service on PostgreSQL: it sends what
    the outbox holds (claims are ``FOR UPDATE SKIP LOCKED``) and neither polls sources nor
    answers chats."""
    from bot.core.clock import clock_from_env
    from monitors.db import create_engine

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    engine = create_engine(settings.database_url)
    try:
        service = Service(settings, engine, clock_from_env(os.environ), deliver_only=deliver_only)
        return await service.run(stop)
    finally:
        await engine.dispose()
