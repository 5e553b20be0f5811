"""One poll of a source: fetch the list -> parse -> find new entries -> articles -> store.

``Poller.poll_source`` runs the pipeline for one source and always returns a
``SourceReport``; nothing a source does (a timeout, garbage, a new layout, a database
hiccup) escapes it, and every outcome is written to the source's state for ``shwatch
sources``. A failure or an article problem is not logged here: the report carries it and
the caller says it once (``poll --once`` in its summary, ``poll`` and ``run`` in one log line). ``poll_all`` runs many sources at once under the Fetcher's limits.

The steps, each a small function:
1. fetch the list page, conditionally (stored ETag / Last-Modified): a 304 ends here;
2. ``parse_list``; zero entries is a *layout* problem (recorded, nothing stored);
3. drop entries whose canonical URL is already stored;
4. first poll of a source: record them as the baseline from the list alone (no article
   fetches, so nobody is ever alerted about old news); later polls: fetch each new
   same-site article, extract, summarize, tag (foreign links such as mp.weixin.qq.com, and
   failed fetches, keep the list's title and date);
5. insert (ignoring URLs a concurrent poller stored first) and save the source's state.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from config.model import Settings, Source
from monitors.db import utcnow
from monitors.encoding import looks_like_html
from monitors.failures import log_failure
from monitors.fetch import Fetcher, FetchError, FetchResult
from monitors.model import ArticleState, Item, ListEntry
from monitors.offload import PageParser, PageUnreadable
from monitors.store import ItemStore, SourceState
from monitors.summary import bound_abstract, summarize
from monitors.tagger import Tagger
from monitors.urls import within_site
from monitors.wording import counted

log = logging.getLogger(__name__)

LAYOUT = "layout"
ARTICLE = "article"
INTERNAL = "parse"


@dataclass
class SourceReport:
    """What one poll of one source found."""

    source_id: str
    new_items: list[Item] = field(default_factory=list)
    seen: int = 0  # entries on the list page (last known count on a 304)
    error: str | None = None
    error_kind: str | None = None
    not_modified: bool = False
    warnings: list[str] = field(default_factory=list)  # article problems; the poll still succeeded

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def alertable(self) -> list[Item]:
        """The new items later stages may alert on (never the baseline)."""
        return [item for item in self.new_items if not item.baseline]


class _Problem(Exception):
    """A poll that reached the site but cannot go on (a layout problem)."""

    def __init__(self, reason: str, kind: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


def zero_items_reason(previous_count: int | None, page: FetchResult) -> str:
    if not looks_like_html(page.content, page.content_type):
        return f"the list page is not an HTML page ({len(page.content)} bytes of {page.content_type or 'unknown type'})"
    if previous_count:
        return f"no items on the list page (the last good poll had {previous_count}): the page layout may have changed"
    return "no items found on the list page: check the URL or the source's selectors"


def list_summary(entry: ListEntry, lang: str, title: str) -> str:
    """The summary when there is no article text: the list's abstract (or a feed's
    description, which may be a whole article), held to the same bounds as any summary.
    No abstract gives "": repeating the title as its own summary tells nobody anything."""
    if not entry.summary or entry.summary == title:
        return ""
    return bound_abstract(entry.summary, lang, title)


def _newest_first(entry: ListEntry) -> tuple:
    # the list's own order breaks ties (top = newest): sorted() is stable
    return (-(entry.published.timestamp()) if entry.published else float("inf"),)


def list_item(
    source: Source, entry: ListEntry, tagger: Tagger, now: datetime, *, baseline: bool = False, problem: str | None = None
) -> Item:
    """An item from the list page alone: its title, date and abstract, tagged on those.

    Used for a first poll's baseline (no article is fetched) and for a new item whose
    article is foreign (mp.weixin.qq.com) or could not be fetched (``problem`` says why).
    """
    match = tagger.tag(entry.title, entry.summary)
    if problem is not None:
        article = ArticleState.FAILED
    elif not within_site(entry.url, source.url, source.allow_hosts):
        article = ArticleState.FOREIGN
    else:
        article = ArticleState.PENDING
    return Item(
        source_id=source.id,
        url=entry.url,
        title=entry.title,
        published=entry.published,
        summary=list_summary(entry, source.lang, entry.title),
        lang=source.lang,
        **match.item_tags(),
        baseline=baseline,
        extract_problem=problem,
        first_seen_at=now,
        article=article,
        article_error=problem,
        tagging=tagger.version,
    )


async def _all_by(deadline: float, jobs: Iterable[Awaitable[None]]) -> bool:
    """Run ``jobs`` together until the loop time ``deadline``; False when it cut them off."""
    try:
        async with asyncio.timeout_at(deadline):
            await asyncio.gather(*jobs)
    except TimeoutError:
        return False
    return True


class PendingLedger:
    """Which sources may have items whose article is still to be read.

    A 304 poll reads the articles earlier polls left pending; asking the store for them on
    every poll was most of an unchanged poll's CPU. Only pollers store pending items and one
    process polls, so a poller can keep count: the first look-up of a process asks the store
    once which sources have any (one query over a small partial index, shared by every poll
    then under way); from then on a source may have some when the store said so or this
    poller stored one since, and is clear again once a look-up of its own found fewer than
    it asked for and read them all. Pending items another process leaves (a ``shwatch poll
    --once`` beside a running service) are read by that process, or here after a restart.
    """

    def __init__(self, find: Callable[[], Awaitable[set[str]]]) -> None:
        self._find = find
        self._loading: asyncio.Future[None] | None = None
        self._pending: set[str] = set()
        self._stored: dict[str, int] = {}  # pending items stored per source, as a version

    async def may_have_pending(self, source_id: str) -> bool:
        if self._loading is None:
            self._loading = asyncio.ensure_future(self._load())
        try:
            await asyncio.shield(self._loading)
        except Exception:  # the store will be asked source by source; the next poll retries
            # (a cancellation of this poll is no Exception: it goes on up)
            self._loading = None
            return True
        return source_id in self._pending

    async def _load(self) -> None:
        self._pending |= await self._find()

    def stored_pending(self, source_id: str) -> None:
        self._pending.add(source_id)
        self._stored[source_id] = self._stored.get(source_id, 0) + 1

    def version(self, source_id: str) -> int:
        return self._stored.get(source_id, 0)

    def drained(self, source_id: str, version: int) -> None:
        """Nothing was left pending as of ``version``: clear unless a poll stored more since."""
        if self._stored.get(source_id, 0) == version:
            self._pending.discard(source_id)


class Poller:
    def __init__(
        self,
        settings: Settings,
        store: ItemStore,
        fetcher: Fetcher,
        tagger: Tagger,
        clock: Callable[[], datetime] = utcnow,
        parser: PageParser | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.fetcher = fetcher
        self.tagger = tagger
        self.clock = clock
        # big pages are parsed off the event loop (the caller closes the parser it passes)
        self.parser = parser if parser is not None else PageParser(settings.fetch.offload_bytes)
        self.pending = PendingLedger(store.sources_with_pending)

    async def close(self) -> None:
        """Stop the parser's worker process, if one was started."""
        await self.parser.close()

    async def poll_all(
        self, sources: Iterable[Source], on_progress: Callable[[SourceReport], None] | None = None
    ) -> list[SourceReport]:
        """Poll every source concurrently; one report per source, in the given order."""

        async def one(source: Source) -> SourceReport:
            report = await self.poll_source(source)
            if on_progress is not None:
                try:
                    on_progress(report)
                except Exception:  # a display problem must not lose a poll
                    log.warning("progress callback failed", exc_info=True)
            return report

        return list(await asyncio.gather(*(one(s) for s in sources)))

    async def poll_source(self, source: Source) -> SourceReport:
        """Poll one source; never raises (except on cancellation)."""
        now = self.clock()
        try:
            state = await self.store.source_state(source.id)
        except Exception as exc:
            log_failure(log, f"source {source.id}: cannot read its state", exc, logging.WARNING)
            return SourceReport(source.id, error=f"database error: {type(exc).__name__}", error_kind=INTERNAL)
        state.last_attempt_at = now
        state.next_poll_at = now + timedelta(seconds=source.interval)
        try:
            report = await self._poll(source, state, now)
        except FetchError as exc:
            report = SourceReport(source.id, error=exc.reason, error_kind=exc.kind)
        except _Problem as exc:
            report = SourceReport(source.id, error=exc.reason, error_kind=exc.kind)
        except Exception as exc:  # a bug or a database failure: record it, keep the others going
            log.warning("source %s: poll failed", source.id, exc_info=True)
            report = SourceReport(source.id, error=f"internal error: {type(exc).__name__}: {exc}", error_kind=INTERNAL)
        if report.error is not None:  # said once, by the caller (the report carries it)
            record_failure(state, report.error, report.error_kind or INTERNAL)
        try:
            await self.store.save_source_state(state)
        except Exception as exc:
            log_failure(log, f"source {source.id}: cannot save its state", exc, logging.WARNING)
            if report.error is None:
                report.error, report.error_kind = f"database error: {type(exc).__name__}", INTERNAL
        return report

    async def _poll(self, source: Source, state: SourceState, now: datetime) -> SourceReport:
        page = await self.fetcher.fetch(
            source.url, etag=state.etag, last_modified=state.last_modified, allow_hosts=source.allow_hosts
        )
        deadline = asyncio.get_running_loop().time() + self.settings.fetch.poll_deadline
        if page.not_modified:
            # nothing new on the list; articles earlier polls left pending are read now
            completed, warnings = await self._complete_pending(source, self._budget(source), now, deadline)
            record_success(state, now, page, item_count=state.last_item_count, article_problem=None, articles_checked=False)
            return SourceReport(source.id, new_items=completed, seen=state.last_item_count or 0, not_modified=True, warnings=warnings)
        try:
            entries = await self.parser.list_entries(page.content, page.final_url, source, page.charset)
        except PageUnreadable as exc:
            raise _Problem(str(exc), INTERNAL) from None
        if not entries:
            raise _Problem(zero_items_reason(state.last_item_count, page), LAYOUT)
        if not state.baseline_done:
            # the baseline is recorded, never alerted; the articles of the first items (same
            # site, politely, under the per-host limit) are read so it carries summaries
            new_items, warnings = await self._baseline(source, entries, now, deadline)
            checked = False
        else:
            known = await self.store.known_urls(e.url for e in entries)
            fresh = [e for e in entries if e.url not in known]
            new_items, warnings = await self._fresh(source, fresh, now, deadline)
            checked = any(within_site(e.url, source.url, source.allow_hosts) for e in fresh)
        record_success(
            state, now, page, item_count=len(entries),
            article_problem=warnings[0] if warnings else None, articles_checked=checked,
        )
        return SourceReport(source.id, new_items=new_items, seen=len(entries), warnings=warnings)

    # ---- items --------------------------------------------------------------------------
    def _budget(self, source: Source) -> int:
        own = source.max_articles_per_poll
        return own if own is not None else self.settings.fetch.max_articles_per_poll

    async def _baseline(
        self, source: Source, entries: Sequence[ListEntry], now: datetime, deadline: float
    ) -> tuple[list[Item], list[str]]:
        """The baseline items: the first ``baseline_articles`` same-site entries read in full,
        the rest from the list alone (their articles pending, read by later polls)."""
        limit = source.baseline_articles if source.baseline_articles is not None else self.settings.fetch.baseline_articles
        read = [e for e in entries if within_site(e.url, source.url, source.allow_hosts)][:limit]
        chosen = {id(e) for e in read}
        rest = [list_item(source, e, self.tagger, now, baseline=True) for e in entries if id(e) not in chosen]
        stored, warnings = await self._read(source, read, now, deadline, baseline=True)
        return stored + await self._insert(source, rest), warnings

    async def _fresh(
        self, source: Source, fresh: Sequence[ListEntry], now: datetime, deadline: float
    ) -> tuple[list[Item], list[str]]:
        """New entries: at most the source's article budget read (newest first), the other
        same-site ones stored as pending; then pending items of earlier polls, while budget
        and time remain. Returns the items this poll completed (for alerts and output)."""
        own = [e for e in fresh if within_site(e.url, source.url, source.allow_hosts)]
        mine = {id(e) for e in own}
        foreign = [list_item(source, e, self.tagger, now) for e in fresh if id(e) not in mine]
        newest = sorted(own, key=_newest_first)
        budget = self._budget(source)
        read, later = newest[:budget], newest[budget:]
        done = await self._insert(source, foreign)
        await self._insert(source, [list_item(source, e, self.tagger, now) for e in later])  # pending
        stored, warnings = await self._read(source, read, now, deadline)
        done += stored
        room = budget - len(read)
        if room > 0 and asyncio.get_running_loop().time() < deadline:
            completed, more = await self._complete_pending(source, room, now, deadline)
            done += completed
            warnings += more
        return done, warnings

    async def _read(
        self, source: Source, entries: Sequence[ListEntry], now: datetime, deadline: float, *, baseline: bool = False
    ) -> tuple[list[Item], list[str]]:
        """Read these entries' articles, each item stored as soon as it is done (a poll
        stopped half-way keeps what it did); at the deadline the unread ones are stored
        pending. Returns the items stored and the article problems."""
        slots = asyncio.Semaphore(self.settings.fetch.article_concurrency)
        stored: list[Item] = []
        warnings: list[str] = []
        finished: set[int] = set()

        async def one(entry: ListEntry) -> None:
            async with slots:
                item, problem = await self.article_item(source, entry, now)
            item.baseline = baseline
            stored.extend(await self._insert(source, [item]))
            finished.add(id(entry))
            if problem:
                warnings.append(problem)

        if not await _all_by(deadline, (one(e) for e in entries)):
            unread = [e for e in entries if id(e) not in finished]
            log.warning("source %s: poll deadline reached; %s left for the next poll", source.id, counted(len(unread), "article"))
            await self._insert(source, [list_item(source, e, self.tagger, now, baseline=baseline) for e in unread])
        order = {e.url: n for n, e in enumerate(entries)}
        return sorted(stored, key=lambda i: order.get(i.url, 0)), warnings

    async def _complete_pending(
        self, source: Source, room: int, now: datetime, deadline: float
    ) -> tuple[list[Item], list[str]]:
        """Read the articles of items earlier polls left pending (newest first)."""
        if not await self.pending.may_have_pending(source.id):
            return [], []
        version = self.pending.version(source.id)
        pending = await self.store.pending_items(source.id, room)
        slots = asyncio.Semaphore(self.settings.fetch.article_concurrency)
        completed: list[Item] = []
        warnings: list[str] = []

        async def one(item: Item) -> None:
            entry = ListEntry(item.url, item.title, item.published, item.summary)
            async with slots:
                read, problem = await self.article_item(source, entry, item.first_seen_at or now)
            read.id, read.baseline = item.id, item.baseline
            if await self.store.complete_item(read) and not read.baseline:
                completed.append(read)
            if problem:
                warnings.append(problem)

        if not await _all_by(deadline, (one(i) for i in pending)):
            log.warning("source %s: poll deadline reached while reading pending articles", source.id)
        elif len(pending) < room:  # the look-up found them all, and every one was read
            self.pending.drained(source.id, version)
        order = {item.id: n for n, item in enumerate(pending)}
        return sorted(completed, key=lambda i: order[i.id]), warnings

    async def _insert(self, source: Source, new: Sequence[Item]) -> list[Item]:
        """Store new items (see ``ItemStore.insert_items``), noting any left pending."""
        if any(item.article is ArticleState.PENDING for item in new):
            self.pending.stored_pending(source.id)
        return await self.store.insert_items(new)

    async def article_item(self, source: Source, entry: ListEntry, now: datetime) -> tuple[Item, str | None]:
        """The item for a new entry, and an article layout problem if its body came out empty."""
        if not within_site(entry.url, source.url, source.allow_hosts):  # mp.weixin.qq.com stays a list item
            return list_item(source, entry, self.tagger, now), None
        try:
            page = await self.fetcher.fetch(entry.url, allow_hosts=source.allow_hosts)
        except FetchError as exc:
            log.info("source %s: article %s not fetched: %s", source.id, entry.url, exc.reason)
            return list_item(source, entry, self.tagger, now, problem=f"article not fetched: {exc.reason}"), None
        try:
            article = await self.parser.article(page.content, page.final_url, page.charset, source.encoding)
        except PageUnreadable as exc:
            return list_item(source, entry, self.tagger, now, problem=f"article not read: {exc}"), None
        title = article.title or entry.title
        body = article.body.strip()
        problem = None if body else f"article layout: no body text found in {entry.url}"
        summary = (summarize(body, source.lang, title) if body else "") or list_summary(entry, source.lang, title)
        match = self.tagger.tag(title, body or entry.summary)
        item = Item(
            source_id=source.id,
            url=entry.url,
            title=title,
            published=article.published or entry.published,
            summary=summary,
            body=body,
            organ=article.organ,
            lang=source.lang,
            **match.item_tags(),
            extract_problem=problem,
            first_seen_at=now,
            article=ArticleState.FETCHED if body else ArticleState.FAILED,
            article_error=problem,
            tagging=self.tagger.version,
        )
        return item, problem


# ---- state transitions (pure) -------------------------------------------------------------
def record_success(
    state: SourceState,
    now: datetime,
    page: FetchResult,
    *,
    item_count: int | None,
    article_problem: str | None,
    articles_checked: bool,
) -> None:
    """A list page was read: store its validators, reset failures, settle the problem shown.

    An article layout problem stays on the source until a later poll fetches same-site
    articles again and finds their bodies; a 304 or a poll with nothing to fetch keeps it.
    """
    etag, last_modified = page.validators()
    if page.not_modified:  # a 304 may leave out a validator it did not change
        etag, last_modified = etag or state.etag, last_modified or state.last_modified
    state.etag, state.last_modified = etag, last_modified
    state.baseline_done = True
    state.last_success_at = now
    state.consecutive_failures = 0
    state.last_item_count = item_count
    if article_problem is not None:
        state.last_error, state.error_kind = article_problem, ARTICLE
    elif state.error_kind != ARTICLE or articles_checked:
        state.last_error, state.error_kind = None, None


def record_failure(state: SourceState, reason: str, kind: str) -> None:
    """The list page could not be used. Validators are dropped so the next poll refetches in
    full (a 304 must not hide a layout problem); the baseline and item count are kept."""
    state.etag = state.last_modified = None
    state.last_error = reason
    state.error_kind = kind
    state.consecutive_failures += 1
