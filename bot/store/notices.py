"""What the admins were last told about each source (``source_notices``), and telling them.

``record`` queues the notice deliveries and remembers (or forgets, on recovery) what was
reported, in one transaction, so a crash can neither repeat nor lose a notice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store.outbox import Outbox
from bot.store.schema import source_notices
from monitors.db import completes_when_cancelled, upsert


@dataclass(frozen=True)
class Reported:
    """The last problem the admins heard about for one source."""

    at: datetime
    kind: str


@completes_when_cancelled
class SourceNotices:
    def __init__(self, engine: AsyncEngine, outbox: Outbox) -> None:
        self.engine = engine
        self.outbox = outbox

    async def reported(self) -> dict[str, Reported]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(source_notices))).all()
        return {r.source_id: Reported(r.reported_at, r.reported_kind) for r in rows}

    async def record(
        self, source_id: str, deliveries: Sequence[Mapping[str, Any]], reported: Reported | None
    ) -> int:
        """Queue ``deliveries``; remember ``reported`` (None: the source recovered)."""
        async with self.engine.begin() as conn:
            queued = await self.outbox.enqueue(deliveries, conn=conn)
            if reported is None:
                await conn.execute(delete(source_notices).where(source_notices.c.source_id == source_id))
            else:
                stmt = upsert(conn.dialect.name, source_notices).values(source_id=source_id, reported_at=reported.at, reported_kind=reported.kind)
                stmt = stmt.on_conflict_do_update(
                    index_elements=[source_notices.c.source_id],
                    set_={"reported_at": reported.at, "reported_kind": reported.kind},
                )
                await conn.execute(stmt)
        return queued
