"""The console channel: with no Telegram token the service prints alerts to stdout.

One chat, ("console", "stdout"), follows every field; its deliveries go through the same
outbox as any chat's (so a restart neither loses nor repeats one) and are printed as plain
text, one framed block per delivery. A service component with ``start()``/``stop()``/``wake()``.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TextIO

from bot.core.text import Block, render_plain

log = logging.getLogger(__name__)

CHANNEL = "console"
ADDRESS = "stdout"

Compose = Callable[[Sequence[Any]], Awaitable[Mapping[int, Sequence[Block]]]]


def console_text(blocks: Sequence[Block]) -> str:
    """Blocks as plain text, items separated by a blank line."""
    return "\n\n".join(render_plain(block) for block in blocks if block)


class ConsoleChannel:
    name = "console"

    def __init__(
        self,
        outbox,
        chats,
        compose: Compose,
        topic_ids: Sequence[str],
        *,
        lang: str = "en",
        stream: TextIO | None = None,
        poll_interval: float = 1.0,
        batch: int = 50,
    ) -> None:
        self.outbox = outbox
        self.chats = chats
        self.compose = compose
        self.topic_ids = list(topic_ids)
        self.lang = lang
        self.stream = stream
        self.poll_interval = poll_interval
        self.batch = batch
        self.worker_id = f"console-{uuid.uuid4().hex[:8]}"
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        chat = await self.chats.get_or_create(CHANNEL, ADDRESS, kind="private", title="console", lang=self.lang)
        if not chat.active:
            await self.chats.set_active(chat.id, True)
        if set(chat.topics) != set(self.topic_ids):
            await self.chats.set_topics(chat.id, self.topic_ids)
        self._print(f"shwatch: no Telegram token configured; alerts for every field are printed here ({len(self.topic_ids)} fields).")
        self._task = asyncio.create_task(self._loop(), name="console-deliveries")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def wake(self) -> None:
        self._wake.set()

    async def _loop(self) -> None:
        while True:
            try:
                busy = await self.run_once()
            except Exception:  # a database hiccup: log it and try again on the next round
                log.exception("console delivery round failed")
                busy = False
            if busy:
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), self.poll_interval)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()

    async def run_once(self) -> bool:
        """Print what is due; True when a full batch was taken (more may be waiting)."""
        claimed = await self.outbox.claim(self.worker_id, self.batch, [CHANNEL])
        if not claimed:
            return False
        try:
            composed = await self.compose(claimed)
        except Exception:
            log.exception("composing %d console deliveries failed", len(claimed))
            await self.outbox.release([d.id for d in claimed])
            return False
        for delivery in claimed:
            blocks = composed.get(delivery.id)
            if not blocks:
                await self.outbox.fail(delivery.id, "nothing to print (the item is gone?)")
                continue
            self._print(f"── {delivery.kind} ──\n{console_text(blocks)}\n")
            await self.outbox.mark_sent(delivery.id)
        return len(claimed) == self.batch

    def _print(self, text: str) -> None:
        stream = self.stream or sys.stdout
        print(text, file=stream, flush=True)
