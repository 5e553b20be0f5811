"""Daily digests over time: find the chats whose digest is due, plan, queue, render.

``tick()`` (every minute) queues each due chat's digest as an outbox 'digest' row with ref =
the slot's local date and moves the chat's ``last_digest_at`` to the cut-off in the same
transaction (``bot.store.digests``), so a crash or restart around the digest time neither
loses nor repeats it. ``send_now(chat)`` is /digest now (ref 'now-<timestamp>'). ``render``
turns digest rows into blocks for any channel (registered with the delivery composer).
Planning and formatting are pure (``bot.core.digest``); items are read through the item store.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from bot.core.clock import Clock
from bot.core.digest import (
    Digest,
    DigestFormatter,
    DigestSection,
    digest_due,
    digest_now_ref,
    digest_ref,
    nothing_new_blocks,
    plan_digests,
)
from bot.core.model import Chat, Delivery
from bot.core.quiet import zone
from bot.core.text import Block
from bot.store.chats import ChatStore
from bot.store.digests import DigestLedger, DigestMove
from bot.store.outbox import Outbox
from config.model import Settings
from monitors.db import Engine
from monitors.model import Item
from monitors.store import ItemStore
from monitors.tagger import plan_order
from monitors.wording import counted

log = logging.getLogger("shwatch.digest")

DIGEST_LOOKBACK = timedelta(days=7)  # a digest never reaches further back than this


class DigestJob:
    def __init__(
        self,
        items: ItemStore,
        chats: ChatStore,
        ledger: DigestLedger,
        settings: Settings,
        clock: Clock,
        wake: Callable[[], None] | None = None,
    ) -> None:
        self.items = items
        self.chats = chats
        self.ledger = ledger
        self.settings = settings
        self.clock = clock
        self.wake = wake
        self.source_names = {s.id: s.name for s in settings.sources}
        self.order = plan_order(settings.topics)

    @classmethod
    def over(cls, engine: Engine, settings: Settings, clock: Clock, chats: ChatStore | None = None) -> "DigestJob":
        """A job over one database (the CLI and tests; the service wires its own stores)."""
        chats = chats or ChatStore(engine, clock)
        return cls(ItemStore(engine), chats, DigestLedger(engine, Outbox(engine, clock)), settings, clock)

    # ---- planning
    def _since(self, chat: Chat, until: datetime) -> datetime:
        """Where a chat's digest starts: its last digest's cut-off; a first digest covers the
        day before it, or more when the chat is older (a chat that just subscribed and asks
        /digest now sees the last day, not the minute since it subscribed)."""
        first = until - timedelta(days=1)
        start = chat.last_digest_at or min(chat.created_at or first, first)
        return max(start, until - DIGEST_LOOKBACK)

    async def _plan(self, chats: Sequence[Chat], until: datetime) -> dict[int, Digest]:
        if not chats:
            return {}
        since = {c.id: self._since(c, until) for c in chats}
        found = await self.items.items_found_between(min(since.values()), until)
        return plan_digests(chats, found, self.order, until, lambda c: since[c.id])

    def _row(self, chat: Chat, digest: Digest, ref: str, day: str) -> dict | None:
        if digest.empty and not self.settings.digest.send_empty:
            return None
        payload = {"date": day, "tz": chat.tz, **digest.to_payload()}
        return {"chat_id": chat.id, "kind": "digest", "ref": ref, "payload": payload}

    async def tick(self) -> int:
        """Queue every due digest; returns how many rows were queued."""
        now = self.clock.now()
        due = {}
        for s in await self.ledger.schedules():
            slot = digest_due(now, s.digest_time, s.tz, s.last_digest_at or s.created_at)
            if slot is not None:
                due[s.chat_id] = slot
        if not due:
            return 0
        if len(due) > 50:
            chats = [c for c in await self.chats.active_chats() if c.id in due]
        else:
            chats = [c for c in [await self.chats.get_by_id(i) for i in due] if c is not None]
        digests = await self._plan(chats, now)
        moves = []
        for chat in chats:
            slot, day = due[chat.id]
            digest = digests[chat.id]
            moves.append(DigestMove(chat.id, self._row(chat, digest, digest_ref(day), day.isoformat()), slot, digest.until))
        queued = await self.ledger.commit(moves)
        log.info("digest tick: %s due, %s queued", counted(len(chats), "chat"), counted(queued, "digest"))
        if queued and self.wake is not None:
            self.wake()
        return queued

    async def send_now(self, chat: Chat) -> int:
        """/digest now: the chat's pending digest at once (a 'nothing new' note if empty)."""
        queued, _ = await self.queue_now(chat)
        return queued

    async def queue_now(self, chat: Chat) -> tuple[int, str]:
        """Queue the chat's pending digest now: (rows added, the delivery's ref)."""
        now = self.clock.now()
        chat = await self.chats.get_by_id(chat.id) or chat
        digest = (await self._plan([chat], now))[chat.id]
        day = now.astimezone(zone(chat.tz)).date().isoformat()
        ref = digest_now_ref(now)
        row = {"chat_id": chat.id, "kind": "digest", "ref": ref, "payload": {"date": day, "tz": chat.tz, **digest.to_payload()}}
        queued = await self.ledger.queue_now(row, chat.id, now)
        if queued and self.wake is not None:
            self.wake()
        return queued, ref

    async def preview(self, chat: Chat, now: datetime | None = None) -> tuple[Digest, str]:
        """(digest, local date) the chat would get now; nothing is stored."""
        now = now or self.clock.now()
        digest = (await self._plan([chat], now))[chat.id]
        return digest, now.astimezone(zone(chat.tz)).date().isoformat()

    async def formatter_for(self, digest: Digest) -> DigestFormatter:
        found: dict[int, Item] = await self.items.items_by_id(digest.item_ids())
        return DigestFormatter(found, self.source_names, self.settings.topics)

    # ---- rendering (for every channel)
    async def render(self, deliveries: Sequence[Delivery]) -> dict[int, list[Block]]:
        wanted: set[int] = set()
        parsed: dict[int, Digest] = {}
        for d in deliveries:
            try:
                digest = Digest.from_payload(d.chat_id, d.payload)
            except (KeyError, TypeError, ValueError):
                log.warning("digest delivery %s has an unreadable payload", d.id)
                continue
            parsed[d.id] = digest
            wanted.update(digest.item_ids())
        found = await self.items.items_by_id(wanted)
        fmt = DigestFormatter(found, self.source_names, self.settings.topics)
        out: dict[int, list[Block]] = {}
        for d in deliveries:
            digest = parsed.get(d.id)
            if digest is None:
                continue
            sections = tuple(
                DigestSection(s.topic_id, tuple(i for i in s.item_ids if i in found)) for s in digest.sections
            )
            digest = Digest(digest.chat_id, digest.since, digest.until, tuple(s for s in sections if s.item_ids), digest.keywords)
            tz = d.payload.get("tz") or self.settings.timezone
            blocks = fmt.blocks(digest, d.payload.get("date") or "", d.lang, tz)
            out[d.id] = blocks or nothing_new_blocks(d.lang, digest.since, digest.until, tz)
        return out
