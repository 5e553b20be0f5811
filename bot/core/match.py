"""Which chats a new item is for: one automaton over every chat's keywords, plus topic sets.

``AlertIndex.build(chats)`` puts every active chat's alert keywords *and* their exclusion
terms into ONE ``monitors.tagger.TermIndex`` (payload ``(KEYWORD, rule_id)`` or
``(EXCLUDE, rule_id)``) and maps each topic to the set of chats that follow it. ``match``
scans an item's title and body once, whatever the number of chats, then joins the hits
with the topic sets. ``IndexProvider`` rebuilds the index lazily when the store's change
signature moves. ``dispatch_new_items`` turns new items into outbox rows.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select, update

from bot.store.chats import Chat, ChatStore
from bot.store.outbox import Outbox
from monitors.db import items, utcnow
from monitors.model import Item
from monitors.tagger import TermIndex, normalize

log = logging.getLogger("shwatch.alerts")

KEYWORD = "k"
EXCLUDE = "x"


@dataclass(frozen=True)
class Match:
    """Why an item is for a chat: the chat's topics it touches and the keywords found."""

    chat_id: int
    topics: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()

    def to_payload(self) -> dict[str, list[str]]:
        return {"topics": list(self.topics), "keywords": list(self.keywords)}

    @classmethod
    def from_payload(cls, chat_id: int, payload: Mapping[str, Any] | None) -> "Match":
        payload = payload or {}
        return cls(chat_id, tuple(payload.get("topics") or ()), tuple(payload.get("keywords") or ()))


@dataclass(frozen=True)
class _RuleRef:
    chat_id: int
    keyword: str
    has_excludes: bool


def item_text(item: Any) -> str:
    """What alerts are matched against: the title, the body, and the list summary when the
    body does not already contain it (an article whose extraction failed)."""
    title = getattr(item, "title", "") or ""
    body = getattr(item, "body", "") or ""
    summary = getattr(item, "summary", "") or ""
    parts = [title, body]
    if summary and summary not in body:
        parts.append(summary)
    return "\n".join(parts)


class AlertIndex:
    """Immutable once built; safe to share between tasks."""

    def __init__(
        self,
        terms: TermIndex,
        rules: dict[int, _RuleRef],
        topic_chats: dict[str, frozenset[int]],
        chats: dict[int, Chat],
        signature: Any = None,
    ) -> None:
        self._terms = terms
        self._rules = rules
        self._topic_chats = topic_chats
        self.chats = chats
        self.signature = signature

    @classmethod
    def build(cls, chats: Iterable[Chat], signature: Any = None) -> "AlertIndex":
        terms: TermIndex = TermIndex()
        rules: dict[int, _RuleRef] = {}
        topic_chats: dict[str, set[int]] = {}
        by_id: dict[int, Chat] = {}
        for chat in chats:
            if not chat.active:
                continue
            by_id[chat.id] = chat
            for topic in chat.topics:
                topic_chats.setdefault(topic, set()).add(chat.id)
            for rule in chat.rules:
                try:
                    terms.add(rule.keyword, (KEYWORD, rule.id))
                except ValueError:  # empty once normalised (only quote marks): cannot match
                    continue
                excludes = 0
                for term in rule.excludes:
                    try:
                        terms.add(term, (EXCLUDE, rule.id))
                        excludes += 1
                    except ValueError:
                        continue
                rules[rule.id] = _RuleRef(chat.id, rule.keyword, excludes > 0)
        terms.build()
        return cls(terms, rules, {k: frozenset(v) for k, v in topic_chats.items()}, by_id, signature)

    @property
    def rule_count(self) -> int:
        return len(self._rules)

    def match(self, item: Any) -> list[Match]:
        """Every chat the item is for, by chat id: one scan of the text, then set lookups."""
        hits = self._terms.scan(item_text(item))
        excluded = {rule_id for (kind, rule_id) in hits if kind == EXCLUDE}
        keywords: dict[int, list[str]] = {}
        for (kind, rule_id), _terms in hits.items():
            if kind != KEYWORD or rule_id in excluded:
                continue
            ref = self._rules.get(rule_id)
            if ref is not None:
                keywords.setdefault(ref.chat_id, []).append(ref.keyword)
        topics: dict[int, list[str]] = {}
        for topic in getattr(item, "topics", ()) or ():
            for chat_id in self._topic_chats.get(topic, ()):
                topics.setdefault(chat_id, []).append(topic)
        out = []
        for chat_id in sorted(set(keywords) | set(topics)):
            out.append(Match(chat_id, tuple(topics.get(chat_id, ())), tuple(sorted(keywords.get(chat_id, ())))))
        return out

    def match_chat(self, item: Any, chat_id: int) -> Match | None:
        return next((m for m in self.match(item) if m.chat_id == chat_id), None)


class IndexProvider:
    """The current AlertIndex, rebuilt only when the store's signature has moved."""

    def __init__(self, store: ChatStore) -> None:
        self.store = store
        self._index: AlertIndex | None = None
        self.builds = 0

    async def get(self) -> AlertIndex:
        signature = await self.store.signature()
        if self._index is None or self._index.signature != signature:
            self._index = AlertIndex.build(await self.store.active_chats(), signature)
            self.builds += 1
        return self._index

    __call__ = get


async def _resolve_index(index_provider: Any) -> AlertIndex:
    if isinstance(index_provider, AlertIndex):
        return index_provider
    getter = getattr(index_provider, "get", None)
    result = getter() if callable(getter) else index_provider()
    if inspect.isawaitable(result):
        result = await result
    return result


def _item_from_row(row) -> Item:
    m = row._mapping
    return Item(
        id=m["id"],
        source_id=m["source_id"],
        url=m["url"],
        title=m["title"],
        published=m["published"],
        summary=m["summary"] or "",
        body=m["body"] or "",
        organ=m["organ"],
        lang=m["lang"],
        topics=tuple(m["topics"] or ()),
        matched=dict(m["matched"] or {}),
        baseline=bool(m["baseline"]),
        extract_problem=m["extract_problem"],
        first_seen_at=m["first_seen_at"],
    )


item_from_row = _item_from_row  # public name for other modules (a row of ``items`` -> Item)


def item_time(item: Any) -> datetime | None:
    """When an item was published, falling back to when it was first seen."""
    return getattr(item, "published", None) or getattr(item, "first_seen_at", None)


async def dispatch_new_items(
    engine,
    index_provider: Any,
    clock=None,
    max_age_days: int = 3,
    batch: int = 200,
) -> int:
    """Plan instant alerts for new items: one outbox row per (chat, item) for chats in
    instant|both mode, never for baseline items nor items older than ``max_age_days``; mark
    the items dispatched in the same transaction. Re-running is harmless (unique rows).
    Returns how many deliveries were enqueued."""
    now = clock.now() if clock is not None else utcnow()
    cutoff = now - timedelta(days=max_age_days)
    outbox = Outbox(engine, clock)
    total = 0
    while True:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(items)
                    .where(items.c.baseline.is_(False), items.c.dispatched_at.is_(None))
                    .order_by(items.c.id)
                    .limit(batch)
                )
            ).all()
        if not rows:
            return total
        index = await _resolve_index(index_provider)
        planned: list[dict] = []
        # oldest first, so a chat's newest alert ends up at the bottom of the conversation:
        # by time found, then published, then the reverse of the list page's order (top = newest)
        for row in sorted(rows, key=_chronological):
            item = _item_from_row(row)
            when = item_time(item)
            if when is not None and when < cutoff:
                continue  # too old for an instant alert; /latest and digests still show it
            for m in index.match(item):
                chat = index.chats.get(m.chat_id)
                if chat is None or not chat.instant:
                    continue
                planned.append(
                    {"chat_id": m.chat_id, "kind": "alert", "ref": str(item.id), "item_id": item.id, "payload": m.to_payload()}
                )
        async with engine.begin() as conn:
            total += await outbox.enqueue(planned, conn=conn)
            await conn.execute(
                update(items).where(items.c.id.in_([r.id for r in rows])).values(dispatched_at=now)
            )
        if len(rows) < batch:
            return total


_EARLIEST = datetime.min.replace(tzinfo=timezone.utc)


def _chronological(row) -> tuple:
    def utc(when: datetime | None) -> datetime:
        if when is None:
            return _EARLIEST
        return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)

    return (utc(row.first_seen_at), utc(row.published), -row.id)


async def items_by_id(engine, ids: Iterable[int]) -> dict[int, Item]:
    """Items for deliveries (a sender renders an alert from its item and its Match)."""
    wanted = sorted({int(i) for i in ids if i is not None})
    out: dict[int, Item] = {}
    async with engine.connect() as conn:
        for start in range(0, len(wanted), 500):
            rows = (await conn.execute(select(items).where(items.c.id.in_(wanted[start : start + 500])))).all()
            for row in rows:
                out[row.id] = _item_from_row(row)
    return out


async def matching_items(engine, chat: Chat, limit: int, window: int = 1000) -> list[tuple[Item, Match]]:
    """The newest ``limit`` items (of the last ``window``) that match the chat's fields or alerts.

    Newest first: the latest found; among items found by the same poll, the latest published,
    then the list page's own order (top first, which is the order they were stored in)."""
    index = AlertIndex.build([chat])
    out: list[tuple[Item, Match]] = []
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(items)
                .order_by(items.c.first_seen_at.desc(), items.c.published.desc().nulls_last(), items.c.id.asc())
                .limit(window)
            )
        ).all()
    for row in rows:
        item = _item_from_row(row)
        m = index.match_chat(item, chat.id)
        if m is not None:
            out.append((item, m))
            if len(out) >= limit:
                break
    return out


__all__ = [
    "AlertIndex",
    "IndexProvider",
    "Match",
    "dispatch_new_items",
    "item_from_row",
    "item_text",
    "item_time",
    "items_by_id",
    "matching_items",
    "normalize",
]
