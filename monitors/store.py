"""The monitor's queries: per-source state (health, validators, baseline) and items.

SQLAlchemy Core over ``monitors.db`` tables, async, the same SQL on SQLite and PostgreSQL
(upserts and conflict-ignoring inserts through each dialect's ``insert``). Items are unique
by canonical URL: two pollers racing on the same article insert it once, and only the one
that inserted it gets it back as new.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime, timezone
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    Integer,
    String,
    and_,
    bindparam,
    case,
    column,
    func,
    literal,
    literal_column,
    or_,
    select,
    table,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from config.model import Source
from monitors.db import (
    SEARCH_COVER_INDEX,
    SEARCH_DOCUMENT_PG,
    SEARCH_FTS_TABLE,
    SEARCH_KEY_SPAN,
    SEARCH_VOCAB_TABLE,
    completes_when_cancelled,
    item_time,
    items,
    source_state,
    upsert,
)
from monitors.model import ArticleState, Item, SourceState, SourceStatus, TermEvidence

K = TypeVar("K")
V = TypeVar("V")
_CHUNK = 500  # URLs per IN (...) query; well under SQLite's parameter limit


_STATE_COLUMNS = tuple(f.name for f in fields(SourceState))


@dataclass(frozen=True)
class SourceHealth:
    """One row of ``shwatch sources``."""

    source: Source
    state: SourceState
    item_count: int
    last_item_at: datetime | None

    @property
    def status(self) -> SourceStatus:
        return self.state.status


class Coalescer(Generic[K, V]):
    """Let concurrent callers share one database round trip.

    ``submit(entries)`` queues a mapping of keys to values; the next run of ``run`` gets the
    merged mapping of every caller queued by then (``keep`` says which value wins when two
    callers bring the same key) and each caller gets back the part of the result for its
    own keys. Callers arriving while a run is under way form the next batch. If a shared
    run fails, each caller of that batch is retried alone, so one bad row fails one caller.
    """

    def __init__(self, run: Callable[[dict[K, Any]], Awaitable[dict[K, V]]], keep: str = "last") -> None:
        self._run = run
        self._keep_first = keep == "first"
        self._queue: list[tuple[dict[K, Any], asyncio.Future[dict[K, V]]]] = []
        self._task: asyncio.Task[None] | None = None

    async def submit(self, entries: dict[K, Any]) -> dict[K, V]:
        future: asyncio.Future[dict[K, V]] = asyncio.get_running_loop().create_future()
        self._queue.append((entries, future))
        if self._task is None:
            self._task = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._queue:
                await asyncio.sleep(0)  # let the callers of this moment join the batch
                batch, self._queue = self._queue, []
                await self._run_batch(batch)
        finally:
            self._task = None
            for _, future in self._queue:  # only if cancelled: nobody will run these
                if not future.done():
                    future.cancel()

    async def _run_batch(self, batch: list[tuple[dict[K, Any], asyncio.Future[dict[K, V]]]]) -> None:
        merged: dict[K, Any] = {}
        for entries, _ in batch:
            for key, value in entries.items():
                if not (self._keep_first and key in merged):
                    merged[key] = value
        try:
            result = await self._run(merged)
        except Exception as exc:
            if len(batch) > 1:
                for one in batch:
                    await self._run_batch([one])
                return
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for entries, future in batch:
            if not future.done():
                future.set_result({k: result[k] for k in entries if k in result})


@completes_when_cancelled
class ItemStore:
    def __init__(self, engine: AsyncEngine, *, max_concurrent: int | None = None) -> None:
        self.engine = engine
        # Many sources poll at once. SQLite runs one writer at a time anyway, and a crowd of
        # tasks queueing inside the connection pool costs far more CPU than queueing here.
        if max_concurrent is None:
            max_concurrent = 1 if engine.dialect.name == "sqlite" else 8
        self._gate = asyncio.Semaphore(max_concurrent)
        # The polling hot path shares round trips between concurrent callers (group commit).
        self._read_states = Coalescer(self._load_states, keep="last")
        self._write_states = Coalescer(self._store_states, keep="last")
        self._find_urls = Coalescer(self._load_urls, keep="first")
        self._insert_items = Coalescer(self._store_items, keep="first")

    @property
    def backend(self) -> str:
        """The database in use: sqlite | postgresql."""
        return self.engine.dialect.name

    def _insert(self, table):
        return upsert(self.engine.dialect.name, table)

    # ---- source state -------------------------------------------------------------------
    async def source_state(self, source_id: str) -> SourceState:
        found = await self._read_states.submit({source_id: None})
        return found.get(source_id) or SourceState(source_id)

    async def source_states(self) -> dict[str, SourceState]:
        async with self._gate, self.engine.connect() as conn:
            rows = (await conn.execute(select(source_state))).all()
        return {row.source_id: _state(row) for row in rows}

    async def save_source_state(self, state: SourceState) -> None:
        await self._write_states.submit({state.source_id: replace(state)})

    async def _load_states(self, wanted: dict[str, None]) -> dict[str, SourceState]:
        ids = list(wanted)
        found: dict[str, SourceState] = {}
        async with self._gate, self.engine.connect() as conn:
            for i in range(0, len(ids), _CHUNK):
                query = select(source_state).where(source_state.c.source_id.in_(ids[i : i + _CHUNK]))
                found.update((row.source_id, _state(row)) for row in await conn.execute(query))
        return found

    async def _store_states(self, states: dict[str, SourceState]) -> dict[str, bool]:
        stmt = self._insert(source_state)
        stmt = stmt.on_conflict_do_update(
            index_elements=[source_state.c.source_id],
            set_={k: stmt.excluded[k] for k in _STATE_COLUMNS if k != "source_id"},
        )
        async with self._gate, self.engine.begin() as conn:
            await conn.execute(stmt, [_state_row(state) for state in states.values()])
        return dict.fromkeys(states, True)

    # ---- items --------------------------------------------------------------------------
    async def known_urls(self, urls: Iterable[str]) -> set[str]:
        wanted = dict.fromkeys(urls)
        if not wanted:
            return set()
        return set(await self._find_urls.submit(wanted))

    async def _load_urls(self, wanted: dict[str, None]) -> dict[str, bool]:
        urls = list(wanted)
        found: dict[str, bool] = {}
        async with self._gate, self.engine.connect() as conn:
            for i in range(0, len(urls), _CHUNK):
                result = await conn.execute(select(items.c.url).where(items.c.url.in_(urls[i : i + _CHUNK])))
                found.update((url, True) for url in result.scalars())
        return found

    async def insert_items(self, new: Sequence[Item]) -> list[Item]:
        """Insert ``new``; return the ones this call inserted, with their ids (others existed)."""
        by_url: dict[str, Item] = {}
        for item in new:
            by_url.setdefault(item.url, item)  # the first of duplicate URLs wins
        if not by_url:
            return []
        ids = await self._insert_items.submit(by_url)
        inserted = []
        for url, item in by_url.items():
            # in a shared batch another caller's item may have won this URL: it is not ours
            if url in ids and ids[url][1] is item:
                item.id = ids[url][0]
                inserted.append(item)
        return inserted

    async def _store_items(self, by_url: dict[str, Item]) -> dict[str, tuple[int, Item]]:
        stmt = (
            self._insert(items)
            .on_conflict_do_nothing(index_elements=[items.c.url])
            .returning(items.c.id, items.c.url)
        )
        unique = list(by_url.values())
        ids: dict[str, tuple[int, Item]] = {}
        async with self._gate, self.engine.begin() as conn:
            # multi-row INSERTs; RETURNING yields only the rows this statement inserted
            for i in range(0, len(unique), _CHUNK):
                result = await conn.execute(stmt, [_row(item) for item in unique[i : i + _CHUNK]])
                ids.update((row.url, (row.id, by_url[row.url])) for row in result)
        return ids

    async def recent_items(
        self,
        limit: int = 50,
        since: datetime | None = None,
        source_id: str | None = None,
        *,
        include_baseline: bool = True,
    ) -> list[Item]:
        """The newest items: the latest found first; among items one poll found, the latest
        published, then the list page's own order (top first, the order they were stored in)."""
        query = select(items)
        if since is not None:
            query = query.where(items.c.first_seen_at >= since)
        if source_id is not None:
            query = query.where(items.c.source_id == source_id)
        if not include_baseline:
            query = query.where(items.c.baseline.is_(False))
        query = query.order_by(
            items.c.first_seen_at.desc(), items.c.published.desc().nulls_last(), items.c.id.asc()
        ).limit(limit)
        async with self._gate, self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_item(row) for row in rows]

    async def items_by_id(self, ids: Iterable[int]) -> dict[int, Item]:
        """Items by id (ids that do not exist are absent)."""
        wanted = sorted({int(i) for i in ids if i is not None})
        out: dict[int, Item] = {}
        async with self._gate, self.engine.connect() as conn:
            for i in range(0, len(wanted), _CHUNK):
                rows = (await conn.execute(select(items).where(items.c.id.in_(wanted[i : i + _CHUNK])))).all()
                out.update((row.id, _item(row)) for row in rows)
        return out

    async def items_after(self, after_id: int, limit: int) -> list[Item]:
        """Non-baseline items with an id above ``after_id``, oldest id first (the bot's
        dispatcher reads new items this way and keeps its own cursor)."""
        query = (
            select(items)
            .where(items.c.id > after_id, items.c.baseline.is_(False))
            .order_by(items.c.id)
            .limit(limit)
        )
        async with self._gate, self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_item(row) for row in rows]

    async def items_found_between(self, since: datetime, until: datetime) -> list[Item]:
        """Non-baseline items first seen after ``since`` and up to ``until`` (digests)."""
        query = select(items).where(
            items.c.baseline.is_(False), items.c.first_seen_at > since, items.c.first_seen_at <= until
        )
        async with self._gate, self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_item(row) for row in rows]

    async def count_after(self, after_id: int) -> int:
        """How many non-baseline items have an id above ``after_id``."""
        query = select(func.count()).select_from(items).where(items.c.id > after_id, items.c.baseline.is_(False))
        async with self._gate, self.engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def pending_items(self, source_id: str, limit: int) -> list[Item]:
        """A source's items whose article is still to be read: new items first, then the
        baseline's; newest published first."""
        if limit <= 0:
            return []
        query = (
            select(items)
            .where(items.c.source_id == source_id, items.c.article == "pending")
            .order_by(items.c.baseline.asc(), items.c.published.desc().nulls_last(), items.c.id.asc())
            .limit(limit)
        )
        async with self._gate, self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_item(row) for row in rows]

    async def sources_with_pending(self) -> set[str]:
        """The ids of the sources that have items whose article is still to be read."""
        query = select(items.c.source_id).where(items.c.article == "pending").distinct()
        async with self._gate, self.engine.connect() as conn:
            return set((await conn.execute(query)).scalars())

    async def complete_item(self, item: Item) -> bool:
        """Store what reading a pending item's article gave (only while it is still pending:
        a concurrent poller that completed it first wins). True when this call stored it."""
        values = {
            "title": item.title, "published": item.published, "summary": item.summary, "body": item.body,
            "organ": item.organ, "extract_problem": item.extract_problem, "article": str(item.article),
            "article_error": item.article_error, **_tags(item),
        }
        async with self._gate, self.engine.begin() as conn:
            result = await conn.execute(
                update(items).where(items.c.id == item.id, items.c.article == "pending").values(**values)
            )
        return bool(result.rowcount)

    async def items_to_retag(self, version: str, limit: int) -> list[Item]:
        """Items whose fields come from other tagging rules than ``version`` (oldest first)."""
        query = (
            select(items)
            .where(or_(items.c.tagging.is_(None), items.c.tagging != version))
            .order_by(items.c.id)
            .limit(limit)
        )
        async with self._gate, self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_item(row) for row in rows]

    async def save_tags(self, tagged: Sequence[Item]) -> None:
        """Store the tag fields (topics, mentions, matched, scores, evidence, tagging) of items."""
        if not tagged:
            return
        stmt = (
            update(items)
            .where(items.c.id == bindparam("b_id"))
            .values({k: bindparam(f"b_{k}") for k in ("topics", "matched", "mentions", "scores", "evidence", "tagging")})
        )
        async with self._gate, self.engine.begin() as conn:
            await conn.execute(stmt, [{"b_id": i.id, **{f"b_{k}": v for k, v in _tags(i).items()}} for i in tagged])

    async def counts(self, found_since: datetime) -> tuple[int, int, datetime | None]:
        """(all items, items first seen since ``found_since``, when the newest was found)."""
        query = select(
            func.count(),
            func.count().filter(items.c.first_seen_at >= found_since),
            func.max(items.c.first_seen_at),
        ).select_from(items)
        async with self._gate, self.engine.connect() as conn:
            total, recent, newest = (await conn.execute(query)).one()
        return int(total), int(recent), _aware(newest)

    async def item_counts(self) -> dict[str, tuple[int, datetime | None]]:
        """source id -> (number of items, newest publish time)."""
        query = select(items.c.source_id, func.count(), func.max(items.c.published)).group_by(items.c.source_id)
        async with self._gate, self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return {row[0]: (row[1], _aware(row[2])) for row in rows}

    async def source_health(self, sources: Sequence[Source]) -> list[SourceHealth]:
        states = await self.source_states()
        counts = await self.item_counts()
        return [
            SourceHealth(
                source=source,
                state=states.get(source.id, SourceState(source.id)),
                item_count=counts.get(source.id, (0, None))[0],
                last_item_at=counts.get(source.id, (0, None))[1],
            )
            for source in sources
        ]

    # ---- search: the web archive, its feeds and /search in chat (helpers at the end) ------
    async def search(
        self,
        text: str = "",
        *,
        topic: str | None = None,
        source_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 20,
        offset: int = 0,
        count_limit: int | None = None,
    ) -> tuple[list[Item], int]:
        """Items containing every word of ``text`` (all items for an empty text), about
        ``topic``, from ``source_id``, with their time in [since, until): the page
        ``offset``..``offset + limit`` newest first, and how many match in all (counted up to
        ``count_limit`` when given: a common word's exact count costs a full pass).

        Raises ``SearchTextError`` for a text the store will not look for (``search_terms``).
        Needs the search index of migration 0100."""
        terms = search_terms(text)
        plan = _Search(self.engine.dialect.name)
        async with self._gate, self.engine.connect() as conn:
            query = plan.when_between(plan.base([items]), since, until)
            if source_id is not None:
                query = query.where(items.c.source_id == source_id)
            if topic is not None:
                query = plan.with_topic(query, topic)
            query = await plan.with_terms(conn, query, terms)
            if query is None:
                return [], 0
            rows = (await conn.execute(plan.newest_first(query).limit(limit).offset(offset))).all()
            if offset == 0 and len(rows) < limit:
                total = len(rows)  # the whole result is on this page
            else:
                counted = query.with_only_columns(literal(1))
                if count_limit is not None:
                    counted = counted.limit(count_limit)
                total = (await conn.execute(select(func.count()).select_from(counted.subquery()))).scalar_one()
        return [_item(row) for row in rows], int(total)

    async def compact_search_index(self, pages: int = 2000) -> None:
        """Merge the SQLite full-text index's segments, at most ``pages`` pages of work (about
        half a second for 100,000 items). Items arrive a few at a time and each write adds a
        small segment; a 2-character word is looked up in every segment, so an hourly call
        from the service keeps those searches fast. Nothing to do on PostgreSQL."""
        if self.engine.dialect.name != "sqlite":
            return
        statement = text(f"INSERT INTO {SEARCH_FTS_TABLE}({SEARCH_FTS_TABLE}, rank) VALUES ('merge', :pages)")
        async with self._gate, self.engine.begin() as conn:
            await conn.execute(statement, {"pages": pages})

    async def _count_by(self, key: str, periods: Sequence[tuple[datetime, datetime]]) -> dict[str, list[int]]:
        if not periods:
            return {}
        query = _Search(self.engine.dialect.name).counts(key, periods)
        async with self._gate, self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return {row[0]: [int(n or 0) for n in row[1:]] for row in rows}

    async def count_by_topic(self, periods: Sequence[tuple[datetime, datetime]]) -> dict[str, list[int]]:
        """topic id -> number of items about it in each period [start, end) (topics with none absent)."""
        return await self._count_by("topic", periods)

    async def count_by_source(self, periods: Sequence[tuple[datetime, datetime]]) -> dict[str, list[int]]:
        """source id -> number of its items in each period [start, end) (sources with none absent)."""
        return await self._count_by("source", periods)


def _aware(value: datetime | str | None) -> datetime | None:
    """max() over a UTCDateTime column skips the type on SQLite; restore an aware UTC value."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _state(row) -> SourceState:
    data = row._mapping
    return SourceState(**{k: data[k] for k in _STATE_COLUMNS})


def _state_row(state: SourceState) -> dict:
    # not dataclasses.asdict: its deep copy of every datetime cost more than the upsert itself
    return {k: getattr(state, k) for k in _STATE_COLUMNS}


def _evidence_json(evidence: dict[str, tuple[TermEvidence, ...]]) -> dict:
    return {
        field: [{"term": e.term, "places": list(e.places), "count": e.count, "listed": e.listed} for e in found]
        for field, found in evidence.items()
    }


def _evidence(data: dict | None) -> dict[str, tuple[TermEvidence, ...]]:
    return {
        field: tuple(TermEvidence(e["term"], tuple(e["places"]), int(e["count"]), bool(e.get("listed"))) for e in found)
        for field, found in (data or {}).items()
    }


def _tags(item: Item) -> dict:
    return {
        "topics": list(item.topics),
        "matched": item.matched,
        "mentions": list(item.mentions),
        "scores": item.scores,
        "evidence": _evidence_json(item.evidence),
        "tagging": item.tagging,
    }


def _row(item: Item) -> dict:
    return {
        "url": item.url,
        "source_id": item.source_id,
        "title": item.title,
        "published": item.published,
        "first_seen_at": item.first_seen_at,
        "summary": item.summary,
        "body": item.body,
        "organ": item.organ,
        "lang": item.lang,
        **_tags(item),
        "baseline": item.baseline,
        "extract_problem": item.extract_problem,
        "article": str(item.article),
        "article_error": item.article_error,
    }


def _item(row) -> Item:
    return Item(
        id=row.id,
        source_id=row.source_id,
        url=row.url,
        title=row.title,
        published=row.published,
        summary=row.summary,
        body=row.body,
        organ=row.organ,
        lang=row.lang,
        topics=tuple(row.topics or ()),
        matched=dict(row.matched or {}),
        baseline=row.baseline,
        extract_problem=row.extract_problem,
        first_seen_at=row.first_seen_at,
        mentions=tuple(row.mentions or ()),
        scores=dict(row.scores or {}),
        evidence=_evidence(row.evidence),
        article=ArticleState(row.article),
        article_error=row.article_error,
        tagging=row.tagging,
    )


# ---- search: the web archive, its feeds and /search in chat -----------------------------------
# The indexes are described in monitors/db.py (migration 0100 creates them). A search text is
# words separated by spaces; an item matches when it contains every word (a substring of its
# title, summary or body, letters in any case). Results are newest first by ``item_time``.

SEARCH_MAX_CHARS = 200  # a longer search text is refused
SEARCH_MIN_TERM_CHARS = 2  # a word of one character would match nearly everything
_TERM_QUOTES = "\"'“”‘’「」『』《》"


class SearchTextError(ValueError):
    """A search text the store will not look for: ``reason`` is "too_long" (``length``,
    ``limit``) or "short_term" (``term``, ``limit``), for a message in the caller's language."""

    def __init__(self, reason: str, **params: Any) -> None:
        super().__init__(f"{reason}: {params}")
        self.reason = reason
        self.params = params


def search_terms(text: str) -> tuple[str, ...]:
    """The words of a search text, each once, without the quote marks around them.

    Raises ``SearchTextError`` for a text longer than SEARCH_MAX_CHARS or a word shorter
    than SEARCH_MIN_TERM_CHARS."""
    text = text or ""
    if len(text) > SEARCH_MAX_CHARS:
        raise SearchTextError("too_long", length=len(text), limit=SEARCH_MAX_CHARS)
    terms: dict[str, None] = {}
    for word in text.split():
        word = word.strip(_TERM_QUOTES)
        if not word:
            continue
        if len(word) < SEARCH_MIN_TERM_CHARS:
            raise SearchTextError("short_term", term=word, limit=SEARCH_MIN_TERM_CHARS)
        terms.setdefault(word, None)
    return tuple(terms)


_fts = table(SEARCH_FTS_TABLE, column("rowid", Integer))
_SQLITE_COUNTED_ROWS = text(
    f"{SEARCH_FTS_TABLE} JOIN items INDEXED BY {SEARCH_COVER_INDEX} ON items.id = ({SEARCH_FTS_TABLE}.rowid & {SEARCH_KEY_SPAN - 1})"
)
_fts_vocab = table(SEARCH_VOCAB_TABLE, column("term", String))
_KEY_MASK = SEARCH_KEY_SPAN - 1


def _search_key(moment: datetime) -> int:
    """The SQLite index key of the first item at or after ``moment`` (see monitors/db.py)."""
    return math.floor(moment.timestamp()) * SEARCH_KEY_SPAN


def _fts_phrase(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _like_pattern(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class _Search:
    """The archive's queries for one backend: which rows, in which order, counted how."""

    def __init__(self, dialect: str) -> None:
        self.sqlite = dialect == "sqlite"

    def topics_of_items(self, topics: Any = items.c.topics):
        """A table-valued function over an items' ``topics``: one row (``value``) per topic."""
        name = func.json_each if self.sqlite else func.json_array_elements_text
        return name(topics).table_valued("value", joins_implicitly=True)

    def base(self, columns: Sequence[Any]):
        if self.sqlite:
            return select(*columns).select_from(_fts.join(items, items.c.id == _fts.c.rowid.op("&")(_KEY_MASK)))
        return select(*columns).select_from(items)

    def when_between(self, query, since: datetime | None, until: datetime | None):
        if self.sqlite:
            if since is not None:
                query = query.where(_fts.c.rowid >= _search_key(since))
            if until is not None:
                query = query.where(_fts.c.rowid < _search_key(until))
            return query
        if since is not None:
            query = query.where(item_time >= since)
        if until is not None:
            query = query.where(item_time < until)
        return query

    def counts(self, key: str, periods: Sequence[tuple[datetime, datetime]]):
        """Items per topic ("topic") or per source ("source") in each period [start, end)."""
        start, end = min(p[0] for p in periods), max(p[1] for p in periods)
        if self.sqlite:
            # the few columns needed come from a covering index, not from the wide rows
            time_key = literal_column(f"{SEARCH_FTS_TABLE}.rowid")
            source, topics = literal_column("items.source_id"), literal_column("items.topics")
            source_rows = _SQLITE_COUNTED_ROWS
            in_period = [and_(time_key >= _search_key(a), time_key < _search_key(b)) for a, b in periods]
            where = and_(time_key >= _search_key(start), time_key < _search_key(end))
        else:
            source, topics, source_rows = items.c.source_id, items.c.topics, items
            in_period = [and_(item_time >= a, item_time < b) for a, b in periods]
            where = and_(item_time >= start, item_time < end)
        query = select().select_from(source_rows)
        if key == "topic":
            each = self.topics_of_items(topics)
            group = each.c.value
            query = query.select_from(each)
        else:
            group = source
        columns = [func.sum(case((condition, 1), else_=0)) for condition in in_period]
        return query.with_only_columns(group, *columns).where(where).group_by(group)

    def newest_first(self, query):
        if self.sqlite:
            return query.order_by(_fts.c.rowid.desc())
        return query.order_by(item_time.desc(), items.c.id.desc())

    def with_topic(self, query, topic: str):
        each = self.topics_of_items()
        return query.where(select(literal(1)).select_from(each).where(each.c.value == topic).exists())

    async def with_terms(self, conn, query, terms: Sequence[str]):
        """``query`` narrowed to items containing every term; None when none can match."""
        if not terms:
            return query
        if not self.sqlite:
            document = literal_column(SEARCH_DOCUMENT_PG)
            for term in terms:
                # a literal, not a parameter: the planner can then use the trigram index
                query = query.where(document.ilike(bindparam(None, _like_pattern(term), literal_execute=True), escape="\\"))
            return query
        parts = []
        for term in terms:
            if len(term) >= 3:
                parts.append(_fts_phrase(term))
                continue
            low = term.lower()
            grams = (
                await conn.execute(
                    select(_fts_vocab.c.term).where(_fts_vocab.c.term >= low, _fts_vocab.c.term < low + "\U0010ffff")
                )
            ).scalars().all()
            if not grams:
                return None
            parts.append("(" + " OR ".join(_fts_phrase(g) for g in grams) + ")")
        return query.where(literal_column(SEARCH_FTS_TABLE).op("MATCH")(" AND ".join(parts)))
