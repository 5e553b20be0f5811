"""The monitor's queries: per-source state (health, validators, baseline) and items.

SQLAlchemy Core over ``monitors.db`` tables, async, the same SQL on SQLite and PostgreSQL
(upserts and conflict-ignoring inserts through each dialect's ``insert``). Items are unique
by canonical URL: two pollers racing on the same article insert it once, and only the one
that inserted it gets it back as new.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from config.model import Source
from monitors.db import items, source_state
from monitors.model import Item

_CHUNK = 500  # URLs per IN (...) query; well under SQLite's parameter limit


@dataclass
class SourceState:
    """What the store remembers about one source between polls."""

    source_id: str
    etag: str | None = None
    last_modified: str | None = None
    baseline_done: bool = False
    last_attempt_at: datetime | None = None
    last_success_at: datetime | None = None
    last_error: str | None = None
    error_kind: str | None = None
    consecutive_failures: int = 0
    last_item_count: int | None = None
    next_poll_at: datetime | None = None


_STATE_COLUMNS = tuple(f.name for f in fields(SourceState))


@dataclass(frozen=True)
class SourceHealth:
    """One row of ``shwatch sources``."""

    source: Source
    state: SourceState
    item_count: int
    last_item_at: datetime | None

    @property
    def status(self) -> str:
        """never polled | ok | failing | layout | article problem."""
        s = self.state
        if s.last_attempt_at is None:
            return "never polled"
        if s.consecutive_failures > 0:
            return "layout" if s.error_kind == "layout" else "failing"
        if s.last_error:
            return "article problem" if s.error_kind == "article" else "warning"
        return "ok"


class ItemStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def create_tables(self) -> None:
        """Create the monitor's tables if missing (the integrator's migrations replace this)."""
        async with self.engine.begin() as conn:
            await conn.run_sync(lambda sync: items.metadata.create_all(sync, tables=[source_state, items]))

    def _insert(self, table):
        if self.engine.dialect.name == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)

    # ---- source state -------------------------------------------------------------------
    async def source_state(self, source_id: str) -> SourceState:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(source_state).where(source_state.c.source_id == source_id))).first()
        return _state(row) if row is not None else SourceState(source_id)

    async def source_states(self) -> dict[str, SourceState]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(source_state))).all()
        return {row.source_id: _state(row) for row in rows}

    async def save_source_state(self, state: SourceState) -> None:
        values = asdict(state)
        stmt = self._insert(source_state).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[source_state.c.source_id],
            set_={k: stmt.excluded[k] for k in _STATE_COLUMNS if k != "source_id"},
        )
        async with self.engine.begin() as conn:
            await conn.execute(stmt)

    # ---- items --------------------------------------------------------------------------
    async def known_urls(self, urls: Iterable[str]) -> set[str]:
        wanted = list(dict.fromkeys(urls))
        found: set[str] = set()
        if not wanted:
            return found
        async with self.engine.connect() as conn:
            for i in range(0, len(wanted), _CHUNK):
                chunk = wanted[i : i + _CHUNK]
                result = await conn.execute(select(items.c.url).where(items.c.url.in_(chunk)))
                found.update(result.scalars())
        return found

    async def insert_items(self, new: Sequence[Item]) -> list[Item]:
        """Insert ``new``; return the ones this call inserted, with their ids (others existed)."""
        by_url: dict[str, Item] = {}
        for item in new:
            by_url.setdefault(item.url, item)  # the first of duplicate URLs wins
        unique = list(by_url.values())
        if not unique:
            return []
        stmt = (
            self._insert(items)
            .on_conflict_do_nothing(index_elements=[items.c.url])
            .returning(items.c.id, items.c.url)
        )
        ids: dict[str, int] = {}
        async with self.engine.begin() as conn:
            # one multi-row INSERT per batch; RETURNING only yields the rows this call inserted
            for i in range(0, len(unique), _CHUNK // 10):
                result = await conn.execute(stmt, [_row(item) for item in unique[i : i + _CHUNK // 10]])
                ids.update({row.url: row.id for row in result})
        inserted = []
        for item in unique:
            if item.url in ids:
                item.id = ids[item.url]
                inserted.append(item)
        return inserted

    async def recent_items(
        self,
        limit: int = 50,
        since: datetime | None = None,
        source_id: str | None = None,
        *,
        include_baseline: bool = True,
    ) -> list[Item]:
        """Newest first by first-seen time (then publish time)."""
        query = select(items)
        if since is not None:
            query = query.where(items.c.first_seen_at >= since)
        if source_id is not None:
            query = query.where(items.c.source_id == source_id)
        if not include_baseline:
            query = query.where(items.c.baseline.is_(False))
        query = query.order_by(items.c.first_seen_at.desc(), items.c.published.desc(), items.c.id.desc()).limit(limit)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_item(row) for row in rows]

    async def items_by_id(self, ids: Iterable[int]) -> list[Item]:
        wanted = list(ids)
        if not wanted:
            return []
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(items).where(items.c.id.in_(wanted)).order_by(items.c.id))).all()
        return [_item(row) for row in rows]

    async def item_counts(self) -> dict[str, tuple[int, datetime | None]]:
        """source id -> (number of items, newest publish time)."""
        query = select(items.c.source_id, func.count(), func.max(items.c.published)).group_by(items.c.source_id)
        async with self.engine.connect() as conn:
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
        "topics": list(item.topics),
        "matched": item.matched,
        "baseline": item.baseline,
        "extract_problem": item.extract_problem,
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
    )
