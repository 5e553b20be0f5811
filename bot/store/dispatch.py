"""Which new items have had their instant alerts planned: the dispatcher's own state.

New items are read through the item store (``ItemStore.items_after``), never from the
``items`` table here. The state is a cursor (every non-baseline item with an id at or below
it is done) and the few items above the cursor already done. ``record`` queues the planned
deliveries and marks their items in one transaction, so a crash between the two can neither
lose nor repeat an alert.

The cursor only moves past items that were marked more than ``settle`` ago: on PostgreSQL a
poller's transaction may commit an item with a lower id after one with a higher id was
dispatched, and such an item must still be found.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store.outbox import Outbox
from bot.store.schema import dispatch_cursor, dispatched_items
from monitors.db import completes_when_cancelled, insert_ignoring_duplicates
from monitors.store import ItemStore

_CURSOR_ID = 1


@completes_when_cancelled
class DispatchLog:
    def __init__(self, engine: AsyncEngine, outbox: Outbox, settle: timedelta = timedelta(minutes=10)) -> None:
        self.engine = engine
        self.outbox = outbox
        self.settle = settle

    async def position(self) -> tuple[int, frozenset[int]]:
        """(cursor, ids above it already done)."""
        async with self.engine.connect() as conn:
            cursor = (
                await conn.execute(select(dispatch_cursor.c.after_item_id).where(dispatch_cursor.c.id == _CURSOR_ID))
            ).scalar()
            done = (await conn.execute(select(dispatched_items.c.item_id))).scalars().all()
        return int(cursor or 0), frozenset(int(i) for i in done)

    async def backlog(self, items: ItemStore) -> int:
        """How many new items still wait for their alerts to be planned."""
        cursor, done = await self.position()
        return max(0, await items.count_after(cursor) - len(done))

    async def record(self, deliveries: Sequence[Mapping[str, Any]], item_ids: Sequence[int], now: datetime) -> int:
        """Queue ``deliveries`` and mark ``item_ids`` done, atomically; returns the rows queued."""
        async with self.engine.begin() as conn:
            queued = await self.outbox.enqueue(deliveries, conn=conn)
            if item_ids:
                stmt = insert_ignoring_duplicates(conn.dialect.name, dispatched_items)
                await conn.execute(stmt, [{"item_id": i, "dispatched_at": now} for i in item_ids])
        return queued

    async def settle_cursor(self, now: datetime, below: int | None = None) -> int:
        """Move the cursor past every item marked more than ``settle`` ago, but never to or
        past ``below`` (an item still waiting for its article); returns it."""
        async with self.engine.begin() as conn:
            current = (
                await conn.execute(select(dispatch_cursor.c.after_item_id).where(dispatch_cursor.c.id == _CURSOR_ID))
            ).scalar()
            settled = (
                await conn.execute(
                    select(func.max(dispatched_items.c.item_id)).where(dispatched_items.c.dispatched_at <= now - self.settle)
                )
            ).scalar()
            if current is None:
                stmt = insert_ignoring_duplicates(conn.dialect.name, dispatch_cursor)
                await conn.execute(stmt.values(id=_CURSOR_ID, after_item_id=0, updated_at=now))
                current = 0
            if settled is not None and below is not None:
                settled = min(int(settled), below - 1)
            if settled is None or int(settled) <= int(current):
                return int(current)
            await conn.execute(
                update(dispatch_cursor)
                .where(dispatch_cursor.c.id == _CURSOR_ID)
                .values(after_item_id=int(settled), updated_at=now)
            )
            await conn.execute(delete(dispatched_items).where(dispatched_items.c.item_id <= int(settled)))
        return int(settled)
