"""Inbound message ids already handled (WeCom retries a callback up to three times)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store.schema import inbound_messages
from monitors.db import completes_when_cancelled


@completes_when_cancelled
class InboundLog:
    def __init__(self, engine: AsyncEngine, channel: str) -> None:
        self.engine = engine
        self.channel = channel

    async def first_time(self, msg_id: str, now: datetime) -> bool:
        """Record ``msg_id``; False when it was already recorded (a retry)."""
        try:
            async with self.engine.begin() as conn:
                await conn.execute(
                    sa.insert(inbound_messages).values(channel=self.channel, msg_id=msg_id, received_at=now)
                )
        except IntegrityError:
            return False
        return True

    async def forget_before(self, when: datetime) -> int:
        """Drop the ids recorded before ``when``."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                sa.delete(inbound_messages).where(
                    inbound_messages.c.channel == self.channel, inbound_messages.c.received_at < when
                )
            )
        return result.rowcount or 0
