"""``shwatch run``: the composition root. It builds every component with explicit arguments
and runs them; it holds no logic of its own.

A component is anything with ``name``, ``async start()`` and ``async stop()`` (and
optionally ``wake()``: "new deliveries are waiting in the outbox"). They start in this order
and stop in reverse::

    channels      TelegramChannel (token set) or ConsoleChannel; WeCom app / robots when set
    fetcher       the shared HTTP client for the sources
    Leadership    holds the leader lease (bot.jobs.leadership) and, while this instance
                  leads, runs the leader-only components:
        Timetable     APScheduler: each source polled at start-up, then on its interval with
                      jitter and backoff (Pipeline.poll: after a poll with new items, plan
                      alerts and wake the channels); the digest tick; admin health notices
        PollStatus    the sources' status in one log line, every 10 minutes and on each change
        telegram-updates   getUpdates and the Telegram deliveries (TelegramChannel.leader_part)
    Maintenance   hands back deliveries left 'sending' by a dead worker

Any number of ``shwatch run`` may share one database: one leads, the others stand by and send
the console and WeCom deliveries. ``run --deliver-only`` never leads.

A channel's modules are imported only when that channel is configured (the one exception to
imports at the top of modules): an installation without Telegram never loads its library.

Start-up: the schema is migrated to the newest revision (Alembic) and deliveries a killed
process left in 'sending' go back to pending. SIGTERM/SIGINT stop everything within a few
seconds and the process exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from bot.channels.console import ConsoleChannel, console_lang
from bot.commands.core import CommandCore
from bot.core.clock import Clock, clock_from_env, seconds_to_next_minute
from bot.delivery.compose import DeliveryComposer
from bot.jobs.alerts import Dispatcher, RuleIndexCache
from bot.jobs.digests import DigestJob
from bot.jobs.health import HealthNotifier
from bot.jobs.leadership import Leadership, alive_here, instance_id
from bot.jobs.polling import Maintenance, Pipeline
from bot.jobs.status import PollStatus
from bot.jobs.timetable import Timetable
from bot.logs import redact, secrets_of
from bot.store.chats import ChatStore
from bot.store.digests import DigestLedger
from bot.store.dispatch import DispatchLog
from bot.store.inbound import InboundLog
from bot.store.lease import LeaseStore
from bot.store.migrate import upgrade_to_head
from bot.store.notices import SourceNotices
from bot.store.outbox import Outbox
from bot.web.app import WebServer, build_web_app
from bot.web.metrics import Metrics
from config.model import Settings, Source
from monitors.db import Engine, create_engine
from monitors.fetch import Fetcher
from monitors.poll import Poller
from monitors.retag import retag
from monitors.store import ItemStore
from monitors.tagger import Tagger
from monitors.wording import counted, plural

log = logging.getLogger("shwatch.service")

STOP_TIMEOUT = 4.0  # seconds per component
STALE_AFTER = timedelta(minutes=10)  # a 'sending' row older than this belongs to a dead worker
DIGEST_TICK = 60.0  # seconds; ticks fall just after each minute of the service's clock
IDLE_TRANSACTION_MIN = 5.0  # seconds: the least a transaction may stay idle on PostgreSQL


class Component(Protocol):
    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class _Fetching:
    """Keeps the shared HTTP client for sources open while the service runs, and stops the
    page parser's worker process at the end."""

    name = "fetcher"

    def __init__(self, fetcher: Fetcher, poller: Poller) -> None:
        self.fetcher = fetcher
        self.poller = poller

    async def start(self) -> None:
        await self.fetcher.__aenter__()

    async def stop(self) -> None:
        await self.fetcher.__aexit__(None, None, None)
        await self.poller.close()


@dataclass
class Stores:
    """The service's stores: one of each, shared by every component."""

    items: ItemStore
    chats: ChatStore
    outbox: Outbox
    dispatched: DispatchLog
    notices: SourceNotices
    digests: DigestLedger

    @classmethod
    def over(cls, engine: Engine, clock: Clock, secrets: Sequence[str] = ()) -> "Stores":
        outbox = Outbox(engine, clock, secrets=secrets)
        return cls(
            items=ItemStore(engine),
            chats=ChatStore(engine, clock),
            outbox=outbox,
            dispatched=DispatchLog(engine, outbox),
            notices=SourceNotices(engine, outbox),
            digests=DigestLedger(engine, outbox),
        )


class Service:
    def __init__(self, settings: Settings, engine: Engine, clock: Clock, *, deliver_only: bool = False) -> None:
        self.settings = settings
        self.engine = engine
        self.clock = clock
        # A delivery worker: sends what the outbox holds, beside one full service (PostgreSQL).
        self.deliver_only = deliver_only
        self.secrets = secrets_of(settings)
        self.stores = Stores.over(engine, clock, self.secrets)
        self.tagger = Tagger(settings.topics, rules=settings.relevance)
        self.metrics = Metrics()
        self.components: list[Any] = []
        self.instance = instance_id()
        self.leases = LeaseStore(engine)
        # which instance polls, plans digests and reads Telegram; a delivery worker never leads
        self.leadership = None if deliver_only else Leadership(
            self.leases, self.instance, settings.service.lease_seconds, [], clock, stop_timeout=STOP_TIMEOUT
        )

    def wake(self) -> None:
        """New deliveries are waiting: every channel claims now."""
        for component in self.components:
            wake = getattr(component, "wake", None)  # components are of many kinds; some deliver
            if wake is not None:
                wake()

    def build_components(self) -> list[Any]:
        settings, stores, clock = self.settings, self.stores, self.clock
        compose = DeliveryComposer(stores.items, settings)
        digests = DigestJob(stores.items, stores.chats, stores.digests, settings, clock, wake=self.wake)
        compose.register("digest", digests.render)
        core = CommandCore(
            settings, clock, chats=stores.chats, items=stores.items, outbox=stores.outbox,
            dispatched=stores.dispatched, digest_now=digests.send_now, leases=self.leases,
        )
        components: list[Any] = []
        leader_only: list[Any] = []  # started and stopped by Leadership
        if settings.telegram.token:
            from bot.channels.telegram.app import TelegramChannel

            telegram = TelegramChannel(
                settings, core, stores.outbox, stores.chats, compose, clock, self.secrets,
                receive=not self.deliver_only, metrics=self.metrics,
                leading=self.leadership.holds if self.leadership is not None else None,
            )
            components.append(telegram)
            leader_only.append(telegram.leader_part)
        else:
            components.append(
                ConsoleChannel(
                    stores.outbox, stores.chats, compose, settings.topics, clock, lang=console_lang(settings.console.lang, os.environ),
                    metrics=self.metrics,
                )
            )
        web_routes: list[Any] = []  # routes other components serve on the web app's server
        if settings.wecom.app_enabled or settings.wecom.robots:
            from bot.channels.wecom.channel import build_components as wecom_components

            # the callback URL: on the web server unless [wecom] host/port ask for its own
            on_web = settings.web.enabled and not settings.wecom.own_listener
            wecom = wecom_components(
                settings, InboundLog(self.engine, "wecom"), core, stores.outbox, stores.chats, compose, clock,
                self.secrets, serve=not self.deliver_only and not on_web, metrics=self.metrics,
            )
            if on_web and not self.deliver_only:
                web_routes += [r for c in wecom if c.name == "wecom-app" for r in c.server.routes()]
            components.extend(wecom)
        if self.deliver_only:
            components.append(Maintenance(stores.outbox, clock))
            if settings.web.enabled:
                components.append(self._web(web_routes, None))
            return components
        leadership = self.leadership
        assert leadership is not None
        fetcher = Fetcher(settings.fetch)
        poller = Poller(settings, stores.items, fetcher, self.tagger, clock=clock.now)
        dispatcher = Dispatcher(
            stores.items, stores.dispatched, RuleIndexCache(stores.chats), clock, max_age_days=settings.max_age_days
        )
        pipeline = Pipeline(poller, dispatcher, self.wake, self.metrics, leading=leadership.holds)
        notifier = HealthNotifier(stores.items, stores.notices, stores.chats, settings, clock)

        async def after_poll(source: Source, ok: bool) -> None:
            # the poll's own failure, else why the timetable abandoned it: one line either way
            status.polled(source.id, None if ok else pipeline.errors.get(source.id) or timetable.cut_short(source.id))
            if await notifier.check(source.id):
                self.wake()

        # every job checks that this instance still leads when it begins (after a pause the
        # jobs that fell due run before the leadership loop notices the lease is gone)
        only_leader = leadership.while_leading
        tick = only_leader(digests.tick)
        timetable = Timetable(
            settings.sources,
            only_leader(pipeline.poll),
            periodic=[
                ("digest-catch-up", tick, None, 0.0),
                ("digest-tick", tick, DIGEST_TICK, seconds_to_next_minute(clock.now(), 0.5)),
            ],
            on_polled=only_leader(after_poll),
            poll_timeout=settings.fetch.poll_deadline + 60.0,  # the poll's own deadline ends it first
        )
        status = PollStatus(settings.sources, clock, settings.timezone, timetable.next_polls,
                            every=settings.console.status_interval)
        leadership.leading = [timetable, status, *leader_only]  # polls first, then Telegram's updates
        components.extend([_Fetching(fetcher, poller), leadership, Maintenance(stores.outbox, clock)])
        if settings.web.enabled:
            components.append(self._web(web_routes, timetable.running, lambda: poller.parser.worker_resident))
        return components

    def _web(
        self, routes: list[Any], scheduler_running: Callable[[], bool] | None,
        parser_memory: Callable[[], int | None] | None = None,
    ) -> WebServer:
        app = build_web_app(
            self.settings, self.engine, self.clock, role="delivery" if self.deliver_only else "service",
            extra_routes=routes, metrics=self.metrics, scheduler_running=scheduler_running,
            instance=self.instance, leading=self.leadership.holds if self.leadership is not None else None,
            parser_memory=parser_memory,
        )
        return WebServer(app, self.settings.web.host, self.settings.web.port)

    async def prepare_store(self) -> None:
        await upgrade_to_head(self.engine)  # Alembic: the schema at the newest revision
        rescored = await retag(self.stores.items, self.tagger)  # items tagged by older rules
        if rescored:
            log.info("%s scored again with the current tagging rules", counted(rescored, "stored item"))
        # A previous process killed mid-send left rows in 'sending'. On SQLite (one machine)
        # they are all stale unless a leader is alive here (its sends are real); on
        # PostgreSQL other instances may be alive anywhere.
        stale = STALE_AFTER
        if self.engine.dialect.name == "sqlite" and not alive_here(await self.leases.current()):
            stale = timedelta(0)
        n = await self.stores.outbox.requeue_stale(stale)
        if n:
            log.warning("%s interrupted by the last shutdown %s queued again", counted(n, "delivery"), plural("is", n))
        if self.settings.telegram.token:
            # alerts for the console chat would pile up unsent while Telegram is in use
            console = await self.stores.chats.get("console", "stdout")
            if console is not None and console.active:
                await self.stores.chats.set_active(console.id, False)

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
            log.info("shwatch is running (%s); Ctrl-C or SIGTERM stops it", counted(len(self.settings.sources), "source"))
            self.wake()
            await stop.wait()
            log.info("stopping")
        except Exception as exc:
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


def hung_transactions_end(settings: Settings) -> dict[str, Any]:
    """Engine options: on PostgreSQL a transaction left idle longer than a lease (its process
    is paused or cut off) is ended by the server, so its row locks never stop the instance
    that took over (an instance under load gets some seconds more)."""
    url = settings.database_url
    if not url.startswith(("postgresql", "postgres")):
        return {}
    ms = str(int(1000 * max(settings.service.lease_seconds, IDLE_TRANSACTION_MIN)))
    if url.startswith("postgresql+psycopg"):
        return {"connect_args": {"options": f"-c idle_in_transaction_session_timeout={ms}"}}
    return {"connect_args": {"server_settings": {"idle_in_transaction_session_timeout": ms}}}


async def run_service(settings: Settings, *, deliver_only: bool = False) -> int:
    """Run until SIGTERM/SIGINT; 0 after a clean stop, 1 when the service could not start.

    ``deliver_only``: a delivery worker beside one full service on PostgreSQL: it sends what
    the outbox holds (claims are ``FOR UPDATE SKIP LOCKED``) and neither polls sources nor
    answers chats."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    engine = create_engine(settings.database_url, **hung_transactions_end(settings))
    try:
        service = Service(settings, engine, clock_from_env(os.environ), deliver_only=deliver_only)
        return await service.run(stop)
    finally:
        await engine.dispose()
