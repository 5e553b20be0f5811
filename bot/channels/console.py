"""The console channel: with no Telegram token the service prints alerts to stdout.

One chat, ("console", "stdout"), follows every field; its deliveries go through the same
outbox and the same ``OutboxWorker`` as any chat's (so a restart neither loses nor repeats
one) and are printed as plain text, one framed block per delivery. A service component with
``start()``/``stop()``/``wake()``; ``ConsolePrinter`` is the channel the worker sends through.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TextIO

from bot.core.clock import Clock
from bot.core.i18n import lang_from_code
from bot.core.model import Chat
from bot.core.text import Block, render_plain
from bot.delivery.compose import CONSOLE, Compose
from bot.delivery.worker import NOTHING_TO_SEND, Fail, OutboxWorker, Outcome, Retry, Sent, Unit
from bot.store.chats import ChatStore
from bot.store.outbox import Outbox
from bot.web.metrics import Metrics
from config.model import Topic
from monitors.wording import counted

CHANNEL = CONSOLE
ADDRESS = "stdout"


def console_lang(setting: str, environ: Mapping[str, str]) -> str:
    """The console chat's language (notices, digests): ``[console] lang``, else ("auto") the
    locale's; its alerts follow each item's language (``DeliveryComposer.alert_lang``)."""
    if setting != "auto":
        return setting
    return lang_from_code(environ.get("LANG") or environ.get("LC_ALL") or "en")


def console_chat(topics: Sequence[Topic], lang: str, tz: str) -> Chat:
    """The console chat as it is when first made, not stored (a digest preview before the
    service ever ran): every field, the console's language."""
    return Chat(id=0, channel=CHANNEL, address=ADDRESS, title="console", lang=lang, tz=tz,
                topics=frozenset(t.id for t in topics))


async def ensure_console_chat(chats: ChatStore, topics: Sequence[Topic], lang: str) -> Chat:
    """The stored console chat, made or brought back to follow every field in ``lang``."""
    chat = await chats.get_or_create(CHANNEL, ADDRESS, kind="private", title="console", lang=lang)
    if not chat.active:
        await chats.set_active(chat.id, True)
    if chat.lang != lang:  # the language of its notices and digests follows the setting / locale
        await chats.set_lang(chat.id, lang)
    topic_ids = frozenset(t.id for t in topics)
    if chat.topics != topic_ids:
        await chats.set_topics(chat.id, sorted(topic_ids))
    return replace(chat, active=True, lang=lang, topics=topic_ids)


def console_text(blocks: Sequence[Block]) -> str:
    """Blocks as plain text, items separated by a blank line."""
    return "\n\n".join(render_plain(block) for block in blocks if block)


class ConsolePrinter:
    """The outbox channel "console": a unit printed as plain text under its kind."""

    name = CHANNEL

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    async def send(self, unit: Unit) -> Outcome:
        text = console_text(unit.blocks)
        if not text:
            return Fail(NOTHING_TO_SEND)
        try:
            self.print(f"── {unit.kind} ──\n{text}\n")
        except OSError as exc:  # e.g. `shwatch digest --send | head`: not shown, not sent
            return Retry(None, f"the console output failed: {type(exc).__name__}")
        return Sent()

    def print(self, text: str) -> None:
        print(text, file=self.stream or sys.stdout, flush=True)


class ConsoleChannel:
    name = "console"

    def __init__(
        self,
        outbox: Outbox,
        chats: ChatStore,
        compose: Compose,
        topics: Sequence[Topic],
        clock: Clock,
        *,
        metrics: Metrics | None = None,
        lang: str = "en",
        stream: TextIO | None = None,
        claim_interval: float = 1.0,
        batch: int = 50,
    ) -> None:
        self.chats = chats
        self.topics = topics
        fields = sum(1 for t in topics if t.kind == "field")
        plan = " and its plan-level group" if any(t.kind == "plan" for t in topics) else ""
        self.following = f"the plan's {counted(fields, 'field')}{plan}"
        self.lang = lang
        self.printer = ConsolePrinter(stream)
        # one line of output at a time: a single lane
        self.worker = OutboxWorker(
            outbox, chats, compose, self.printer, clock, batch=batch, claim_interval=claim_interval, concurrency=1,
            metrics=metrics,
        )

    async def start(self) -> None:
        await ensure_console_chat(self.chats, self.topics, self.lang)
        self.printer.print(
            f"shwatch: no Telegram token configured; alerts for {self.following} are printed here."
        )
        await self.worker.start()

    async def stop(self) -> None:
        await self.worker.stop()

    def wake(self) -> None:
        self.worker.wake()
