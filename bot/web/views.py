"""The web app's routes: pages (Jinja2, server-rendered, no JavaScript), feeds, JSON, metrics,
health. Every handler reads the request, asks the store, and renders; the rules live in
``query`` (parameters), ``present`` (highlighting, charts), ``feeds`` and the store."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

import jinja2
from aiohttp import web

from bot.core import i18n
from bot.core.clock import Clock
from bot.core.format import format_time, source_bucket
from bot.store.lease import LeaseStore
from bot.store.migrate import ping
from bot.store.outbox import Outbox
from bot.web import present
from bot.web.feeds import atom_feed
from bot.web.lang import COOKIE, choose_lang
from bot.web.metrics import Metrics
from bot.web.query import FEED_SIZE, MAX_RESULTS, PAGE_SIZE, ArchiveQuery, Problem, page_count, parse_archive
from config.model import Settings, Source, Topic
from monitors.db import Engine
from monitors.failures import root_reason
from monitors.model import Item, SourceStatus
from monitors.resident import resident_bytes
from monitors.serialize import item_record
from monitors.store import ItemStore, SourceState
from monitors.wording import zone_label

log = logging.getLogger("shwatch.web")

NEWEST_ON_DASHBOARD = 10
WEEKS = 12
DAYS = 30
WEEK_CHART = (WEEKS * 20, 36)  # width, height of a field's weekly bars (pixels)
DAY_CHART = (DAYS * 6, 28)  # a source's daily bars
MAX_ITEM_ID = 2**63 - 1
STATUS_KEYS = {
    SourceStatus.OK: "web.status.ok",
    SourceStatus.FAILING: "web.status.failing",
    SourceStatus.LAYOUT: "web.status.layout",
    SourceStatus.NEVER: "web.status.never",
    SourceStatus.ARTICLE: "web.status.article",
    SourceStatus.WARNING: "web.status.warning",
}


@dataclass
class WebContext:
    """What every handler shares (one per app)."""

    settings: Settings
    engine: Engine
    clock: Clock
    role: str
    store: ItemStore
    metrics: Metrics
    scheduler_running: Callable[[], bool] | None
    templates: jinja2.Environment
    instance: str | None = None  # this process among the instances of shwatch run
    leading: Callable[[], bool] | None = None  # whether it leads now (None: it never leads)
    parser_memory: Callable[[], int | None] | None = None  # its page-parsing worker's (None: it parses none)

    def memory(self) -> dict[str, int | None]:
        """Resident bytes of this process (named by its role) and of its page parser."""
        readings = {self.role: resident_bytes()}
        if self.parser_memory is not None:
            readings["page_parser"] = self.parser_memory()
        return readings

    def __post_init__(self) -> None:
        self.zone = ZoneInfo(self.settings.timezone)
        self.topics: dict[str, Topic] = {t.id: t for t in self.settings.topics}
        self.sources: dict[str, Source] = {s.id: s for s in self.settings.sources}
        base = self.settings.web.base_url
        self.prefix = urlsplit(base).path.rstrip("/") if base else ""  # served below a path by a proxy

    def url(self, path: str, params: Mapping[str, str] | None = None) -> str:
        """A link inside the app (below the proxy's path, if any)."""
        query = urlencode({k: v for k, v in (params or {}).items() if v not in (None, "")})
        return self.prefix + path + (f"?{query}" if query else "")

    def absolute(self, request: web.Request, path: str, params: Mapping[str, str] | None = None) -> str:
        """An absolute link ([web] base_url, else the address the request came to)."""
        base = self.settings.web.base_url
        origin = urlsplit(base)._replace(path="").geturl() if base else f"{request.scheme}://{request.host}"
        return origin + self.url(path, params)


CONTEXT = web.AppKey("shwatch_web", WebContext)


# ---------------------------------------------------------------------------- rendering


def _ctx(request: web.Request) -> WebContext:
    return request.app[CONTEXT]


def lang_of(request: web.Request) -> str:
    lang, _ = choose_lang(request.query.get("lang"), request.cookies.get(COOKIE), request.headers.get("Accept-Language"))
    return lang


def _http_url(url: str) -> str | None:
    """``url`` when it is an http(s) address (never a javascript: one), else None."""
    return url if url.lower().startswith(("http://", "https://")) else None


def render(request: web.Request, template: str, *, status: int = 200, **values: Any) -> web.Response:
    ctx = _ctx(request)
    lang = lang_of(request)

    def lang_url(code: str) -> str:
        params = dict(request.query)
        params["lang"] = code
        return ctx.url(request.path, params)

    def tr(key: str, **params: Any) -> str:
        return i18n.t(key, lang, **params)

    def tr_count(key: str, count: int, **params: Any) -> str:
        return i18n.t_count(key, lang, count, **params)

    def topic_name(topic_id: str) -> str:
        topic = ctx.topics.get(topic_id)
        return topic.name(lang) if topic else topic_id

    def source_name(source_id: str) -> str:
        source = ctx.sources.get(source_id)
        return source.name if source else source_id

    page = ctx.templates.get_template(template).render(
        lang=lang,
        languages=[(code, i18n.t("lang.name", code)) for code in i18n.LANGS],
        t=tr,
        tc=tr_count,
        u=lambda path, **params: ctx.url(path, params),
        lang_url=lang_url,
        when=lambda moment: format_time(moment, ctx.settings.timezone),
        iso=lambda moment: moment.astimezone(ctx.zone).isoformat(timespec="seconds") if moment else "",
        zone=zone_label(ctx.zone),  # how the times shown are labelled, as at the terminal and in chat
        topic_name=topic_name,
        source_name=source_name,
        marked=present.marked,
        http_url=_http_url,
        **values,
    )
    response = web.Response(text=page, status=status, content_type="text/html", charset="utf-8")
    response.headers["Vary"] = "Accept-Language, Cookie"
    return response


def error_page(request: web.Request, status: int, message: str) -> web.Response:
    return render(request, "error.html", status=status, page="error", message=message)


def _problem_texts(problems: Sequence[Problem], lang: str) -> list[str]:
    return [i18n.t(p.key, lang, **p.params) for p in problems]


def _item_time(item: Item) -> datetime | None:
    return item.published or item.first_seen_at


@dataclass(frozen=True)
class Result:
    """One item as a result line: its time and the text shown under its title."""

    item: Item
    time: datetime | None
    excerpt: str


def _results(found: Sequence[Item], terms: Sequence[str]) -> list[Result]:
    """Each item with the text to show under its title: its summary, or the part of its body
    where a search word stands when the summary has none."""
    lower = [t.lower() for t in terms]
    out = []
    for item in found:
        where = item.summary
        if lower and not any(t in (item.summary or "").lower() for t in lower):
            if any(t in (item.body or "").lower() for t in lower):
                where = item.body
        out.append(Result(item, _item_time(item), present.excerpt(where or item.body, terms)))
    return out


# ---------------------------------------------------------------------------- pages


async def dashboard(request: web.Request) -> web.Response:
    ctx = _ctx(request)
    lang = lang_of(request)
    now = ctx.clock.now()
    days = present.day_periods(now, ctx.zone, DAYS)
    last7 = (days[-7][0], days[-1][1])
    last30 = (days[0][0], days[-1][1])
    weeks = present.week_periods(now, ctx.zone, WEEKS)
    counts = await ctx.store.count_by_topic([last7, last30, *weeks])
    newest, _ = await ctx.store.search(limit=NEWEST_ON_DASHBOARD, count_limit=NEWEST_ON_DASHBOARD)  # no full count
    states = await ctx.store.source_states()

    week_labels = [present.local_date(start, ctx.zone) for start, _ in weeks]
    top = max((max(c[2:]) for c in counts.values()), default=0)
    fields = []
    for topic in ctx.settings.topics:
        c = counts.get(topic.id, [0] * (2 + WEEKS))
        labels = [i18n.t("web.dash.week_bar", lang, week=d.isoformat(), count=n) for d, n in zip(week_labels, c[2:])]
        fields.append(
            {
                "topic": topic,
                "last7": c[0],
                "last30": c[1],
                "bars": present.bars(c[2:], labels, width=WEEK_CHART[0], height=WEEK_CHART[1], top=top),
            }
        )
    return render(
        request,
        "dashboard.html",
        page="dashboard",
        fields=fields,
        chart=WEEK_CHART,
        since7=present.local_date(last7[0], ctx.zone).isoformat(),
        since30=present.local_date(last30[0], ctx.zone).isoformat(),
        weeks_from=week_labels[0].isoformat(),
        weeks_to=week_labels[-1].isoformat(),
        newest=_results(newest, ()),
        health=_health_summary([states.get(s.id, SourceState(s.id)) for s in ctx.settings.sources], lang),
        query=ArchiveQuery(),
    )


def _health_summary(states: Sequence[SourceState], lang: str) -> str:
    """"Sources: 10 ok, 1 failing, 1 not checked yet." """
    groups = {"ok": 0, "failing": 0, "never": 0}
    for state in states:
        groups[source_bucket(state)] += 1
    return i18n.t("web.dash.health", lang, summary=i18n.t("sources.summary", lang, **groups))


async def _archive(request: web.Request) -> tuple[ArchiveQuery, list[Problem], list[Item], int]:
    ctx = _ctx(request)
    query, problems = parse_archive(request.query, ctx.topics, ctx.sources)
    if problems:
        return query, problems, [], 0
    since, until = query.bounds(ctx.zone)
    found, total = await ctx.store.search(
        query.q,
        topic=query.topic,
        source_id=query.source,
        since=since,
        until=until,
        limit=PAGE_SIZE,
        offset=query.offset,
        count_limit=MAX_RESULTS + 1,
    )
    return query, problems, found, total


async def archive(request: web.Request) -> web.Response:
    ctx = _ctx(request)
    lang = lang_of(request)
    query, problems, found, total = await _archive(request)
    pages = page_count(total)
    return render(
        request,
        "items.html",
        status=400 if problems else 200,
        page="items",
        query=query,
        params=query.params(),
        problems=_problem_texts(problems, lang),
        results=_results(found, query.terms),
        total=total,
        capped=total > MAX_RESULTS,
        limit=MAX_RESULTS,
        pages=pages,
        past_end=not problems and not found and query.page > 1,
        prev_url=ctx.url("/items", query.params(page=query.page - 1)) if query.page > 1 and found else None,
        next_url=ctx.url("/items", query.params(page=query.page + 1)) if query.page < pages and found else None,
        topics=ctx.settings.topics,
        sources=ctx.settings.sources,
    )


async def item_page(request: web.Request) -> web.Response:
    ctx = _ctx(request)
    lang = lang_of(request)
    raw = request.match_info["id"]
    item_id = int(raw) if len(raw) <= 19 else MAX_ITEM_ID + 1
    found = await ctx.store.items_by_id([item_id]) if item_id <= MAX_ITEM_ID else {}
    item = found.get(item_id)
    if item is None:
        return error_page(request, 404, i18n.t("web.err.no_item", lang, id=raw[:20]))
    mentioned = [t for t in item.mentions if t not in item.topics]
    terms = sorted({term for terms in item.matched.values() for term in terms})
    return render(
        request,
        "item.html",
        page="item",
        item=item,
        item_time=_item_time(item),
        about=[(topic_id, item.matched.get(topic_id, [])) for topic_id in item.topics],
        mentioned=[(topic_id, item.matched.get(topic_id, [])) for topic_id in mentioned],
        terms=terms,
        query=ArchiveQuery(),
    )


async def sources_page(request: web.Request) -> web.Response:
    ctx = _ctx(request)
    lang = lang_of(request)
    days = present.day_periods(ctx.clock.now(), ctx.zone, DAYS)
    health = await ctx.store.source_health(ctx.settings.sources)
    per_day = await ctx.store.count_by_source(days)
    day_labels = [present.local_date(start, ctx.zone) for start, _ in days]
    top = max((max(v) for v in per_day.values()), default=0)
    rows = []
    for row in health:
        values = per_day.get(row.source.id, [0] * DAYS)
        labels = [i18n.t("web.sources.day_bar", lang, day=d.isoformat(), count=n) for d, n in zip(day_labels, values)]
        kind = row.state.error_kind
        error_kind = i18n.t(f"error_kind.{kind}", lang) if kind and f"error_kind.{kind}" in i18n.CATALOGUE else None
        rows.append(
            {
                "health": row,
                "status": row.status,
                "status_text": i18n.t(STATUS_KEYS.get(row.status, "web.status.warning"), lang),
                "error_kind": error_kind,
                "bars": present.bars(values, labels, width=DAY_CHART[0], height=DAY_CHART[1], top=top),
            }
        )
    return render(
        request,
        "sources.html",
        page="sources",
        rows=rows,
        chart=DAY_CHART,
        days_from=day_labels[0].isoformat(),
        days_to=day_labels[-1].isoformat(),
        health=_health_summary([row.state for row in health], lang),
        query=ArchiveQuery(),
    )


# ---------------------------------------------------------------------------- feeds and JSON


def _feed(
    request: web.Request, title: str, found: Sequence[Item], params: Mapping[str, str], *, own_params: bool
) -> web.Response:
    """The Atom feed of ``found``; ``params`` select the same items on /items (and are the
    feed's own query string when ``own_params``)."""
    ctx = _ctx(request)
    body = atom_feed(
        feed_url=ctx.absolute(request, request.path, params if own_params else None),
        page_url=ctx.absolute(request, "/items", params),
        title=title,
        items=found,
        item_url={i.id: ctx.absolute(request, f"/items/{i.id}") for i in found},
        topics=ctx.topics,
        lang=lang_of(request),
        now=ctx.clock.now(),
    )
    return web.Response(body=body, content_type="application/atom+xml", charset="utf-8")


def _plain_error(status: int, message: str) -> web.Response:
    return web.Response(status=status, text=message + "\n", content_type="text/plain", charset="utf-8")


async def topic_feed(request: web.Request) -> web.Response:
    ctx = _ctx(request)
    lang = lang_of(request)
    topic_id = request.match_info["topic_id"]
    topic = ctx.topics.get(topic_id)
    if topic is None:
        return _plain_error(404, i18n.t("web.err.topic", lang, value=topic_id[:40]))
    found, _ = await ctx.store.search(topic=topic_id, limit=FEED_SIZE, count_limit=FEED_SIZE)
    return _feed(request, i18n.t("web.feed.topic", lang, field=topic.name(lang)), found, {"topic": topic_id}, own_params=False)


async def search_feed(request: web.Request) -> web.Response:
    ctx = _ctx(request)
    lang = lang_of(request)
    query, problems = parse_archive(request.query, ctx.topics, ctx.sources)
    if not problems and not query.terms:
        problems = [Problem("web.err.q_missing")]
    if problems:
        return _plain_error(400, "\n".join(_problem_texts(problems, lang)))
    since, until = query.bounds(ctx.zone)
    found, _ = await ctx.store.search(
        query.q, topic=query.topic, source_id=query.source, since=since, until=until, limit=FEED_SIZE, count_limit=FEED_SIZE
    )
    return _feed(request, i18n.t("web.feed.search", lang, q=" ".join(query.terms)), found, query.params(page=1), own_params=True)


async def api_items(request: web.Request) -> web.Response:
    ctx = _ctx(request)
    lang = lang_of(request)
    query, problems, found, total = await _archive(request)
    if problems:
        return web.json_response(
            {"error": " ".join(_problem_texts(problems, lang)), "problems": [p.key.removeprefix("web.err.") for p in problems]},
            status=400,
            dumps=_dumps,
        )
    has_next = bool(found) and query.page < page_count(total) and query.offset + len(found) < total
    return web.json_response(
        {
            "items": [{**item_record(item, ctx.zone), "id": item.id} for item in found],
            "next": ctx.absolute(request, "/api/items", query.params(page=query.page + 1)) if has_next else None,
        },
        dumps=_dumps,
    )


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


# ---------------------------------------------------------------------------- operations


async def metrics(request: web.Request) -> web.Response:
    ctx = _ctx(request)
    try:
        outbox = await Outbox(ctx.engine, ctx.clock).counts()
        stored = {source: n for source, (n, _) in (await ctx.store.item_counts()).items()}
    except Exception as exc:
        log.warning("metrics: the database did not answer: %s", _reason(exc))
        return _plain_error(503, f"database unavailable: {_reason(exc)}")
    ctx.metrics.observe_store(outbox, stored)
    ctx.metrics.observe_memory(ctx.memory())
    return web.Response(body=ctx.metrics.render(), headers={"Content-Type": ctx.metrics.content_type})


HEALTH_TIMEOUT = 5.0


async def healthz(request: web.Request) -> web.Response:
    ctx = _ctx(request)
    reasons = []
    leader: dict[str, Any] | None = None
    try:
        await asyncio.wait_for(ping(ctx.engine), HEALTH_TIMEOUT)
        database = "ok"
        lease = await asyncio.wait_for(LeaseStore(ctx.engine).leader(), HEALTH_TIMEOUT)
        if lease is not None:
            leader = {"instance": lease.holder, "until": lease.until.isoformat(), "valid": lease.live}
    except Exception as exc:
        database = "unavailable"
        reasons.append(f"database: {_reason(exc)}")
    if ctx.scheduler_running is None:
        scheduler = "none"  # this instance schedules nothing (shwatch web, a delivery worker)
    elif ctx.leading is not None and not ctx.leading():
        scheduler = "standby"  # another instance leads; this one takes over when it stops
    elif ctx.scheduler_running():
        scheduler = "running"
    else:
        scheduler = "stopped"
        reasons.append("the scheduler is not running")
    body: dict[str, Any] = {
        "status": "unavailable" if reasons else "ok",
        "role": ctx.role,
        "database": database,
        "scheduler": scheduler,
        "leader": leader,
        "memory_mb": {process: None if n is None else round(n / 1e6, 1) for process, n in ctx.memory().items()},
    }
    if ctx.instance is not None:
        body["instance"] = ctx.instance
        body["leading"] = bool(ctx.leading is not None and ctx.leading())
    if reasons:
        body["reason"] = "; ".join(reasons)
    return web.json_response(body, status=503 if reasons else 200)


def _reason(exc: BaseException) -> str:
    """The innermost cause in one line (no SQL, no traceback)."""
    if isinstance(exc, asyncio.TimeoutError):
        return f"no answer within {HEALTH_TIMEOUT:.0f} s"
    return root_reason(exc)[:200]
