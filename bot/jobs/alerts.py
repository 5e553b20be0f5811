"""New items -> instant-alert deliveries.

``Dispatcher.run()`` reads the items found since its cursor (through the item store), asks
the one ``RuleIndex`` which chats each is for, and queues one outbox row per (chat, item) for
chats in instant|both mode, marking the items done in the same transaction
(``bot.store.dispatch``). Items older than ``max_age_days`` are marked without alerts
(/latest and digests still show them); baseline items are never read here, and an item
whose article is still pending waits (it is alerted once its article is in and tagged). Re-running is
harmless: outbox rows are unique per (chat, kind, ref).

``RuleIndexCache`` keeps the current ``RuleIndex`` and rebuilds it only when the chat store's
change signature moves.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta, timezone
from typing import Any

from bot.core.clock import Clock
from bot.core.match import RuleIndex
from bot.store.chats import ChatStore
from bot.store.dispatch import DispatchLog
from monitors.model import ArticleState, Item
from monitors.store import ItemStore

log = logging.getLogger("shwatch.alerts")

_EARLIEST = datetime.min.replace(tzinfo=timezone.utc)


class RuleIndexCache:
    """The current RuleIndex over every active chat, rebuilt only when a chat changed."""

    def __init__(self, store: ChatStore) -> None:
        self.store = store
        self._index: RuleIndex | None = None
        self.builds = 0

    async def get(self) -> RuleIndex:
        signature = await self.store.signature()
        if self._index is None or self._index.signature != signature:
            self._index = RuleIndex.build(await self.store.active_chats(), signature)
            self.builds += 1
        return self._index


def item_time(item: Item) -> datetime | None:
    """When an item was published, falling back to when it was first seen."""
    return item.published or item.first_seen_at


def _chronological(item: Item) -> tuple:
    # oldest first, so a chat's newest alert ends up at the bottom of the conversation: by
    # time found, then published, then the reverse of the list page's order (top = newest)
    return (item.first_seen_at or _EARLIEST, item.published or _EARLIEST, -(item.id or 0))


def plan_alerts(items: list[Item], index: RuleIndex, cutoff: datetime) -> list[dict[str, Any]]:
    """Outbox rows for ``items``: one per (instant chat, item), oldest item first."""
    planned: list[dict[str, Any]] = []
    for item in sorted(items, key=_chronological):
        when = item_time(item)
        if when is not None and when < cutoff:
            continue  # too old for an instant alert
        for m in index.match(item):
            chat = index.chats.get(m.chat_id)
            if chat is None or not chat.instant:
                continue
            planned.append(
                {"chat_id": m.chat_id, "kind": "alert", "ref": str(item.id), "item_id": item.id, "payload": m.to_payload()}
            )
    return planned


class Dispatcher:
    def __init__(
        self,
        items: ItemStore,
        dispatched: DispatchLog,
        rules: RuleIndexCache,
        clock: Clock,
        *,
        max_age_days: int = 3,
        batch: int = 200,
    ) -> None:
        self.items = items
        self.dispatched = dispatched
        self.rules = rules
        self.clock = clock
        self.max_age = timedelta(days=max_age_days)
        self.batch = batch
        self._running = asyncio.Lock()

    async def run(self) -> int:
        """Plan alerts for every item not yet dispatched; returns the deliveries queued."""
        async with self._running:
            now = self.clock.now()
            cursor, done = await self.dispatched.position()
            total = 0
            after = cursor
            waiting: int | None = None  # the oldest item whose article is still pending
            while True:
                found = await self.items.items_after(after, self.batch)
                if not found:
                    break
                after = found[-1].id or after
                fresh = [i for i in found if i.id not in done and i.article is not ArticleState.PENDING]
                pending = [i.id for i in found if i.article is ArticleState.PENDING and i.id is not None]
                if pending and waiting is None:
                    waiting = min(pending)  # alerted once its article is in and tagged
                if fresh:
                    index = await self.rules.get()
                    planned = plan_alerts(fresh, index, now - self.max_age)
                    total += await self.dispatched.record(planned, [i.id for i in fresh if i.id is not None], now)
                if len(found) < self.batch:
                    break
            await self.dispatched.settle_cursor(now, below=waiting)
            return total
