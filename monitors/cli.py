"""``shwatch poll`` and ``shwatch sources``: wiring only (store, fetcher, tagger, poller, output).

    shwatch poll --once [--json]   poll every source once, print the new items, exit
    shwatch poll [--json]          keep polling each source on its interval until Ctrl-C/SIGTERM
    shwatch sources                the sources' health from the store
    shwatch sources check [ID]     fetch list pages once, report what they show, store nothing
    shwatch sources try URL        what each list parser finds on a page, and its [[sources]] table

With ``--json`` stdout carries one JSON object per new item per line and nothing else (logs
go to stderr). People get rich tables, and a progress display while sources are fetched
when stdout is a terminal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import sys
from collections.abc import AsyncIterator, Iterator, Sequence
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from config.model import Settings, Source
from monitors.db import create_engine
from monitors.encoding import looks_like_html
from monitors.fetch import OFFLINE_HINT_ZH, Fetcher, FetchError, RedirectRefused, offline_hint
from monitors.model import Item
from monitors.parse import list_views, parse_list
from monitors.poll import Poller, SourceReport, zero_items_reason
from monitors.report import CheckResult, check_table, health_table, items_table
from monitors.serialize import json_line
from monitors.source_try import Trial, chosen_table, page_title, source_toml, suggest_source, views_table
from monitors.store import ItemStore
from monitors.tagger import Tagger
from monitors.wording import counted

log = logging.getLogger(__name__)

BASELINE_TITLE = "Recorded as the baseline (first poll of their source: already published, never alerted)"


def _console(stderr: bool = False) -> Console:
    """A console; when not a terminal, wide enough that table cells do not wrap reasons."""
    stream = sys.stderr if stderr else sys.stdout
    width = None
    if not stream.isatty() and "COLUMNS" not in os.environ:
        width = 200
    return Console(file=stream, width=width, soft_wrap=False)


@contextlib.asynccontextmanager
async def _store(settings: Settings) -> AsyncIterator[ItemStore]:
    engine = create_engine(settings.database_url)
    try:
        yield ItemStore(engine)  # the schema is the migrations' job (the bot's CLI runs them first)
    finally:
        await engine.dispose()


class _Output:
    """Where new items go: JSON lines, or tables for people."""

    def __init__(self, settings: Settings, as_json: bool) -> None:
        self.settings = settings
        self.as_json = as_json
        self.zone = ZoneInfo(settings.timezone)
        self.console = _console()
        self.sources = {s.id: s for s in settings.sources}
        self.topics = {t.id: t for t in settings.topics}

    def items(self, new_items: Sequence[Item], title: str | None = None) -> None:
        if self.as_json:
            for item in new_items:
                # the JSON contract: Shanghai time (+08:00), the sources' own, whatever the display zone
                sys.stdout.write(json_line(item) + "\n")
            sys.stdout.flush()
            return
        # people: what is news first; a first poll's baseline apart, so it is not taken for news
        fresh = [item for item in new_items if not item.baseline]
        baseline = [item for item in new_items if item.baseline]
        for group, heading in ((fresh, title), (baseline, BASELINE_TITLE)):
            if group:
                self.console.print(
                    items_table(group, self.sources, self.topics, self.zone, title=heading, width=self.console.width)
                )

    def summary(self, reports: Sequence[SourceReport]) -> None:
        """Each problem said once: for people a line each and the totals on stdout; in JSON
        mode (stdout is for items only) a log line each on stderr."""
        if self.as_json:
            for r in reports:
                say_problems(r)
            return
        failed = [r for r in reports if not r.ok]
        new = sum(len(r.new_items) for r in reports)
        unchanged = sum(1 for r in reports if r.not_modified)
        for r in failed:
            self.console.print(f"[red]problem[/red] {r.source_id}: {r.error}", highlight=False)
        for r in reports:
            for warning in r.warnings:
                self.console.print(f"[yellow]warning[/yellow] {r.source_id}: {warning}", highlight=False)
        self.console.print(
            f"{counted(new, 'new item')} from {counted(len(reports), 'source')}"
            f" ({unchanged} unchanged, {len(failed)} with problems"
            + ("; see `shwatch sources`" if failed else "")
            + ")",
            highlight=False,
        )
        say_if_offline(self.console, [r.error for r in reports])


def say_if_offline(console: Console, errors: Sequence[str | None]) -> None:
    """When every source failed to look up its host name, say the machine may be offline,
    in both languages (``monitors.fetch.offline_hint``)."""
    hint = offline_hint(errors)
    if hint:
        console.print(f"[yellow]{hint}\n{OFFLINE_HINT_ZH}[/yellow]", highlight=False)


def say_problems(report: SourceReport) -> None:
    """A poll's failure and article problems, one log line each (the poller logs neither)."""
    if report.error is not None:
        log.warning("source %s: %s", report.source_id, report.error)
    for warning in report.warnings:
        log.warning("source %s: %s", report.source_id, warning)


def _progress(enabled: bool, console: Console) -> Progress | None:
    if not enabled:
        return None
    return Progress(
        TextColumn("polling sources"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("{task.description}", style="dim"), console=console, transient=True,
    )


def waiting_for(pending: Sequence[str], most: int = 3) -> str:
    """The progress line's note: the sources still being fetched (the slow ones, by the end)."""
    if not pending:
        return ""
    shown = ", ".join(pending[:most])
    more = len(pending) - most
    return f"waiting for {shown}" + (f" and {more} more" if more > 0 else "")


@contextlib.contextmanager
def _logs_above_the_display(stderr_before: object) -> Iterator[None]:
    """While a live display runs, log lines bound for the terminal go through it (printed
    above the bar) instead of straight to the terminal, where they would tear the bar apart.
    Logs sent to a file or a pipe stay there."""
    terminal = getattr(stderr_before, "isatty", lambda: False)()
    moved = [
        handler for handler in logging.getLogger().handlers
        if terminal and isinstance(handler, logging.StreamHandler) and handler.stream is stderr_before
    ]
    for handler in moved:
        handler.setStream(sys.stderr)  # the live display's proxy while it runs
    try:
        yield
    finally:
        for handler in moved:
            handler.setStream(stderr_before)


async def cmd_poll(settings: Settings, once: bool, as_json: bool) -> int:
    if not settings.sources:
        print("shwatch: no sources configured", file=sys.stderr)
        return 2
    output = _Output(settings, as_json)
    async with _store(settings) as store, Fetcher(settings.fetch) as fetcher:
        poller = Poller(settings, store, fetcher, Tagger(settings.topics, rules=settings.relevance))
        try:
            if once:
                return await _poll_once(poller, settings.sources, output)
            return await _poll_forever(poller, settings.sources, output)
        finally:
            await poller.close()


async def _poll_once(poller: Poller, sources: Sequence[Source], output: _Output) -> int:
    progress = _progress(not output.as_json and output.console.is_terminal, output.console)
    if progress is None:
        reports = await poller.poll_all(sources)
    else:
        pending = [s.id for s in sources]
        stderr_before = sys.stderr
        with progress, _logs_above_the_display(stderr_before):
            task = progress.add_task(waiting_for(pending), total=len(sources))

            def advance(report: SourceReport) -> None:
                pending.remove(report.source_id)
                progress.update(task, advance=1, description=waiting_for(pending))

            reports = await poller.poll_all(sources, on_progress=advance)
    output.items([item for r in reports for item in r.new_items], title="New items")
    output.summary(reports)
    return 1 if reports and all(not r.ok for r in reports) else 0


async def _poll_forever(poller: Poller, sources: Sequence[Source], output: _Output) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    handled = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)

    async def watch(source: Source) -> None:
        while not stop.is_set():
            report = await poller.poll_source(source)
            output.items(report.new_items, title=f"New from {source.name}")
            say_problems(report)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), source.interval)

    if not output.as_json:
        output.console.print(f"watching {counted(len(sources), 'source')}; Ctrl-C to stop", highlight=False)
    tasks = [asyncio.create_task(watch(s), name=f"poll:{s.id}") for s in sources]
    try:
        await stop.wait()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for sig in handled:
            loop.remove_signal_handler(sig)
    return 0


# ---- sources ------------------------------------------------------------------------------
async def cmd_sources(settings: Settings, check: bool, source_id: str | None) -> int:
    sources: Sequence[Source] = settings.sources
    if source_id is not None:
        source = settings.source(source_id)
        if source is None:
            known = ", ".join(s.id for s in settings.sources) or "(none configured)"
            print(f"shwatch: unknown source {source_id!r}; known sources: {known}", file=sys.stderr)
            return 2
        sources = [source]
    zone = ZoneInfo(settings.timezone)
    console = _console()
    if not check:
        async with _store(settings) as store:
            rows = await store.source_health(sources)
        console.print(health_table(rows, zone))
        return 0
    async with Fetcher(settings.fetch) as fetcher:
        results = await asyncio.gather(*(check_source(fetcher, s) for s in sources))
    console.print(check_table(results, zone))
    bad = sum(1 for r in results if not r.ok)
    console.print(f"{counted(len(results), 'source')} checked: {len(results) - bad} fine, {bad} with problems", highlight=False)
    say_if_offline(console, [r.problem for r in results])
    return 1 if bad else 0


async def check_source(fetcher: Fetcher, source: Source) -> CheckResult:
    """Fetch a list page unconditionally and say what it shows; nothing is stored."""
    try:
        page = await fetcher.fetch(source.url, allow_hosts=source.allow_hosts)
    except FetchError as exc:
        return CheckResult(source, 0, problem=exc.reason)
    entries = parse_list(page.content, page.final_url, source, page.charset)
    if not entries:
        return CheckResult(source, 0, problem=zero_items_reason(None, page), final_url=page.final_url)
    dated = [e for e in entries if e.published is not None]
    newest = max(dated, key=lambda e: e.published) if dated else entries[0]
    return CheckResult(
        source, len(entries), newest_title=newest.title, newest_published=newest.published, final_url=page.final_url
    )


async def cmd_sources_try(settings: Settings, url: str) -> int:
    """Fetch one page, show what each list parser finds on it, print the ``[[sources]]`` table
    that watches it. Exit 1 when the page cannot be fetched or holds no list; 2 for a bad URL."""
    if not re.match(r"^https?://[^/\s]+\S*$", url):
        print(f"shwatch: {url!r} is not an http(s) URL / 不是 http(s) 网址", file=sys.stderr)
        return 2
    try:
        async with Fetcher(settings.fetch) as fetcher:
            page = await fetcher.fetch(url)
    except RedirectRefused as exc:
        print(
            f"shwatch: {url} {exc.reason}; try that address itself (shwatch sources try {exc.target}) "
            f"or, if it is the same publisher, add allow_hosts = [\"{exc.host}\"] to the source"
            f" / 该页面跳转到其他网站 {exc.host}：可直接试用跳转后的地址，或如属同一发布单位，在来源中加入 allow_hosts",
            file=sys.stderr,
        )
        return 1
    except FetchError as exc:
        print(f"shwatch: cannot fetch {url}: {exc.reason} / 无法获取该页面：{exc.reason}", file=sys.stderr)
        return 1
    views = list_views(page.content, page.final_url, page.charset)
    is_feed = bool(views["feed"])
    if not is_feed and not looks_like_html(page.content, page.content_type):
        kind = page.content_type or "unknown type"
        print(
            f"shwatch: {url} is neither an HTML page nor a feed ({len(page.content)} bytes of {kind})"
            f" / 该地址既不是网页也不是订阅源",
            file=sys.stderr,
        )
        return 1
    trial = Trial(
        url=url, final_url=page.final_url, content_type=page.content_type, size=len(page.content),
        title=page_title(page.content, page.charset, is_feed), views=views,
    )
    zone = ZoneInfo(settings.timezone)
    console = _console()
    moved = f" (redirected from {url} / 由原地址跳转)" if page.redirected else ""
    console.print(f"{trial.final_url}{moved}: {trial.size} bytes of {trial.content_type or 'unknown type'}", highlight=False)
    console.print(views_table(trial, zone))
    chosen = chosen_table(trial, zone)
    if chosen is None:
        console.print(
            "[red]no list found on this page[/red]: give the source CSS selectors (\\[sources.selectors])"
            " / 此页面未找到列表：请为该来源设置 CSS 选择器",
            highlight=False,
        )
        return 1
    console.print(chosen)
    source = suggest_source(trial, taken={s.id for s in settings.sources})
    console.print("Paste this into your config file / 将以下内容粘贴到配置文件：", highlight=False)
    console.file.flush()
    sys.stdout.write("\n" + source_toml(source) + "\n")
    sys.stdout.flush()
    return 0
