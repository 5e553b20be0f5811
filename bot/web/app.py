"""The web app: ``build_web_app`` (the aiohttp application), ``WebServer`` (a service
component serving it) and ``cmd_web`` (``shwatch web``: the app alone, read-only).

Routes (bot/web/views.py)::

    GET /                                  dashboard
    GET /items?q=&topic=&source=&since=&until=&page=   the searchable archive
    GET /items/{id}                        one item
    GET /sources                           every source's health
    GET /feeds/topics/{topic_id}.atom      a field's newest 50 items (Atom)
    GET /feeds/search.atom?q=              a search's newest 50 matches (Atom)
    GET /api/items                         /items as JSON: {"items": [...], "next": URL | null}
    GET /metrics                           Prometheus text format
    GET /healthz                           200 or 503, with a small JSON
    GET /static/...                        the stylesheet
    + ``extra_routes`` (e.g. the WeCom callback URL, so that one port serves both)

Every page is in Chinese or English (``bot.web.lang``), every value escaped (Jinja2
autoescaping), and an unexpected error is a short page, never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

import jinja2
from aiohttp import web

from bot.core import i18n
from bot.core.clock import Clock, clock_from_env
from bot.store.migrate import current_revision, head_revision
from bot.web import views
from bot.web.lang import COOKIE, COOKIE_MAX_AGE, choose_lang
from bot.web.metrics import Metrics
from config.model import Settings
from monitors.db import Engine, create_engine
from monitors.store import ItemStore

log = logging.getLogger("shwatch.web")

HERE = Path(__file__).resolve().parent
ROLES = ("service", "web", "delivery")  # shwatch run | shwatch web | shwatch run --deliver-only
MAX_REQUEST_LINE = 65_536  # bytes of a request line (method, address, version) the web app reads
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


@functools.cache
def templates() -> jinja2.Environment:
    """The pages' templates (compiled once per process, shared by every app)."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@web.middleware
async def _pages(request: web.Request, handler) -> web.StreamResponse:
    """Language (and its cookie), a readable page for 404 and for any failure, security headers."""
    lang, remember = choose_lang(request.query.get("lang"), request.cookies.get(COOKIE), request.headers.get("Accept-Language"))
    try:
        response = await handler(request)
    except web.HTTPNotFound:
        response = views.error_page(request, 404, i18n.t("web.err.not_found", lang))
    except web.HTTPException:
        raise
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("%s %s failed", request.method, request.path_qs[:300])
        response = views.error_page(request, 500, i18n.t("err.internal", lang))
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if remember:
        response.set_cookie(COOKIE, lang, max_age=COOKIE_MAX_AGE, path="/", httponly=True, samesite="Lax")
    return response


def build_web_app(
    settings: Settings,
    engine: Engine,
    clock: Clock,
    *,
    role: str,
    extra_routes: Iterable[web.AbstractRouteDef] = (),
    metrics: Metrics | None = None,
    scheduler_running: Callable[[], bool] | None = None,
    instance: str | None = None,
    leading: Callable[[], bool] | None = None,
    parser_memory: Callable[[], int | None] | None = None,
) -> web.Application:
    """The web app over ``engine`` (a store migrated to the newest revision).

    ``role``: "service" (shwatch run), "web" (shwatch web) or "delivery" (a delivery worker),
    shown by /healthz. ``scheduler_running``: on an instance that schedules polls, tells
    whether its scheduler runs (/healthz is 503 when it leads and the scheduler does not run);
    None elsewhere. ``instance`` / ``leading``: this instance's identity and whether it leads
    now (/healthz shows them beside the leader the lease names). ``parser_memory``: the
    resident bytes of the process's page-parsing worker, reported apart from its own by
    /healthz and /metrics (None: it parses no pages). ``metrics``: the
    process's Metrics (a new one when None). ``extra_routes``: more routes on the same
    server, e.g. ``[web.get(path, handler), web.post(path, handler)]`` for the WeCom callback.
    """
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")
    app = web.Application(middlewares=[_pages])
    app[views.CONTEXT] = views.WebContext(
        settings=settings,
        engine=engine,
        clock=clock,
        role=role,
        store=ItemStore(engine),
        metrics=metrics or Metrics(),
        scheduler_running=scheduler_running,
        templates=templates(),
        instance=instance,
        leading=leading,
        parser_memory=parser_memory,
    )
    app.add_routes(
        [
            web.get("/", views.dashboard),
            web.get("/items", views.archive),
            web.get(r"/items/{id:\d+}", views.item_page),
            web.get("/sources", views.sources_page),
            web.get("/feeds/topics/{topic_id}.atom", views.topic_feed),
            web.get("/feeds/search.atom", views.search_feed),
            web.get("/api/items", views.api_items),
            web.get("/metrics", views.metrics),
            web.get("/healthz", views.healthz),
            web.static("/static", HERE / "static"),
        ]
    )
    app.add_routes(list(extra_routes))
    return app


class WebServerError(Exception):
    """The web app cannot be served; the message says where and why, in one line."""


class WebServer:
    """A service component serving ``app`` (``build_web_app``) on ``host``:``port``; port 0
    is any free port, and ``bound_port`` then says which."""

    name = "web"

    def __init__(self, app: web.Application, host: str, port: int) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.bound_port: int | None = None
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        # addresses up to 64 KB reach the app, which answers a query too long in the reader's
        # language (aiohttp's own limit, 8 KB, answers in a parser's words)
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=2.0, max_line_size=MAX_REQUEST_LINE)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except OSError as exc:
            await runner.cleanup()
            where = f"{self.host}:{self.port}"
            if exc.errno == errno.EADDRINUSE:
                raise WebServerError(f"the web port {where} is already in use (choose another with [web] port)") from None
            raise WebServerError(f"cannot serve the web app on {where}: {exc.strerror or exc}") from None
        self._runner = runner
        addresses = runner.addresses
        self.bound_port = addresses[0][1] if addresses else self.port
        log.info("web app on http://%s:%s/", self.host, self.bound_port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.bound_port or self.port}/"


async def cmd_web(settings: Settings) -> int:
    """``shwatch web``: serve the web app alone (read-only) until SIGTERM/SIGINT.

    0 after a clean stop; 1 (one line on stderr) when the store is not at the newest schema
    revision (``shwatch db upgrade`` migrates it) or the port cannot be used."""
    engine = create_engine(settings.database_url)
    try:
        revision, head = await current_revision(engine), head_revision()
        if revision != head:
            print(
                f"shwatch web: the database is at schema revision {revision or '(none)'}, not {head}: "
                "run `shwatch db upgrade` first (or start `shwatch run`, which upgrades it)",
                file=sys.stderr,
            )
            return 1
        app = build_web_app(settings, engine, clock_from_env(os.environ), role="web")
        server = WebServer(app, settings.web.host, settings.web.port)
        try:
            await server.start()
        except WebServerError as exc:
            print(f"shwatch web: {exc}", file=sys.stderr)
            return 1
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        print(f"shwatch web: serving {server.url} (read-only); Ctrl-C or SIGTERM stops it", file=sys.stderr, flush=True)
        try:
            await stop.wait()
        finally:
            await server.stop()
        return 0
    finally:
        await engine.dispose()
