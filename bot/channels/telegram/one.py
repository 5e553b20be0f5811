"""Sending one given outbox row through the Telegram sender (``shwatch digest --send``)."""

from __future__ import annotations

import asyncio
import os

from bot.channels.telegram.sender import OutboxFeed


def _worker() -> str:
    return f"digest-cli-{os.getpid()}"


class OneDeliveryFeed(OutboxFeed):
    """The service's Telegram feed restricted to one outbox row; it remembers the outcome."""

    def __init__(self, outbox, chats, compose, delivery_id: int) -> None:
        super().__init__(_OnlyOne(outbox, delivery_id), chats, compose, worker_id=_worker(), clock=outbox.clock)
        self.done = asyncio.Event()
        self.outcome: tuple[str, str] | None = None

    def _end(self, outcome: str, detail: str = "") -> None:
        if self.outcome is None:
            self.outcome = (outcome, detail)
        self.done.set()

    async def claim(self, limit: int):
        first = not self.outbox.taken
        out = await super().claim(limit)
        if first and not out:  # taken by a service meanwhile, or failed while composing
            row = await self.outbox.get(self.outbox.delivery_id)
            if row is not None and row.status == "failed":
                self._end("failed", row.last_error or "")
            elif row is not None and row.status == "pending" and self.outbox.claimed:
                self._end("retry", "composing the digest failed")
            else:
                self._end("gone")
        return out

    async def sent(self, delivery) -> None:
        await super().sent(delivery)
        self._end("sent")

    async def retry(self, delivery, error: str, delay: float) -> None:
        await super().retry(delivery, error, delay)
        self._end("retry", error)

    async def hold(self, delivery, delay: float) -> None:
        await super().hold(delivery, delay)
        self._end("hold", f"Telegram asks to wait {delay:.0f} s")

    async def fail(self, delivery, error: str) -> None:
        await super().fail(delivery, error)
        self._end("failed", error)

    async def chat_blocked(self, chat_id: int, reason: str) -> None:
        await super().chat_blocked(chat_id, reason)
        self._end("blocked", reason)


class _OnlyOne:
    """An Outbox whose ``claim`` takes just one given row, once (everything else is the Outbox)."""

    def __init__(self, outbox, delivery_id: int) -> None:
        self._outbox = outbox
        self.delivery_id = delivery_id
        self.taken = False
        self.claimed = False

    async def claim(self, worker_id: str, limit: int, channels):
        if self.taken:
            return []
        self.taken = True
        row = await self._outbox.claim_one(worker_id, self.delivery_id)
        self.claimed = row is not None
        return [row] if row is not None else []

    def __getattr__(self, name: str):
        return getattr(self._outbox, name)
