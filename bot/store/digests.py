"""Queuing digests: the outbox row and the chat's ``last_digest_at`` move together.

A digest row is queued and the chat's ``last_digest_at`` moved to the digest's cut-off in
one transaction, so a crash or restart around the digest time neither loses nor repeats it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store.outbox import Outbox
from bot.store.schema import chats
from monitors.db import completes_when_cancelled


@dataclass(frozen=True)
class DigestSchedule:
    """When a chat wants its digest, and where the last one ended."""

    chat_id: int
    digest_time: str
    tz: str
    last_digest_at: datetime | None
    created_at: datetime | None


@dataclass(frozen=True)
class DigestMove:
    """Queue ``row`` (or nothing) and move the chat's last digest to ``until`` unless it is
    already at or past ``slot``."""

    chat_id: int
    row: Mapping[str, Any] | None
    slot: datetime
    until: datetime


@completes_when_cancelled
class DigestLedger:
    def __init__(self, engine: AsyncEngine, outbox: Outbox, batch: int = 500) -> None:
        self.engine = engine
        self.outbox = outbox
        self.batch = batch

    async def schedules(self) -> list[DigestSchedule]:
        """Every active chat with its digest on."""
        query = select(chats.c.id, chats.c.digest_time, chats.c.tz, chats.c.last_digest_at, chats.c.created_at).where(
            chats.c.active.is_(True), chats.c.digest_enabled.is_(True)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [DigestSchedule(r.id, r.digest_time, r.tz, r.last_digest_at, r.created_at) for r in rows]

    async def commit(self, moves: Sequence[DigestMove]) -> int:
        """Apply ``moves`` batch by batch, each batch atomically; returns the rows queued."""
        move = (
            update(chats)
            .where(
                chats.c.id == bindparam("b_id"),
                or_(chats.c.last_digest_at.is_(None), chats.c.last_digest_at < bindparam("b_slot")),
            )
            .values(last_digest_at=bindparam("b_until"))
        )
        queued = 0
        for start in range(0, len(moves), self.batch):
            batch = moves[start : start + self.batch]
            async with self.engine.begin() as conn:
                queued += await self.outbox.enqueue([m.row for m in batch if m.row is not None], conn=conn)
                await conn.execute(move, [{"b_id": m.chat_id, "b_slot": m.slot, "b_until": m.until} for m in batch])
        return queued

    async def queue_now(self, row: Mapping[str, Any], chat_id: int, now: datetime) -> int:
        """/digest now: queue ``row`` and start the chat's next digest at ``now``."""
        async with self.engine.begin() as conn:
            queued = await self.outbox.enqueue([row], conn=conn)
            await conn.execute(update(chats).where(chats.c.id == chat_id).values(last_digest_at=now))
        return queued
