"""Claimed deliveries -> ``bot.core.text`` blocks per delivery id, for every channel.

``alert`` rows are rendered from their item and Match payload (``format.alert_blocks``);
``notice`` rows from ``payload["key"]``/``payload["params"]`` (an i18n message) or
``payload["text"]``. Other kinds (the digest) are added with ``register(kind, renderer)``.
A delivery that cannot be rendered (its item is gone) is simply absent from the result.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence

from bot.core.format import alert_blocks
from bot.core.i18n import norm_lang, t
from bot.core.model import Delivery, Match
from bot.core.text import Block, Plain
from config.model import Settings
from monitors.store import ItemStore
from monitors.wording import counted

log = logging.getLogger("shwatch.compose")

CONSOLE = "console"  # the console channel's name (bot.channels.console imports this module)

KindRenderer = Callable[[Sequence[Delivery]], Awaitable[Mapping[int, list[Block]]]]
Compose = Callable[[Sequence[Delivery]], Awaitable[Mapping[int, Sequence[Block]]]]


class DeliveryComposer:
    def __init__(self, items: ItemStore, settings: Settings) -> None:
        self.items = items
        self.settings = settings
        self.source_names = {s.id: s.name for s in settings.sources}
        self.renderers: dict[str, KindRenderer] = {"alert": self._alerts, "notice": self._notices}

    def register(self, kind: str, renderer: KindRenderer) -> None:
        self.renderers[kind] = renderer

    async def __call__(self, deliveries: Sequence[Delivery]) -> dict[int, list[Block]]:
        by_kind: dict[str, list[Delivery]] = {}
        for delivery in deliveries:
            by_kind.setdefault(delivery.kind, []).append(delivery)
        out: dict[int, list[Block]] = {}
        for kind, rows in by_kind.items():
            renderer = self.renderers.get(kind)
            if renderer is None:
                log.warning("no renderer for %s of kind %r", counted(len(rows), "delivery"), kind)
                continue
            out.update(await renderer(rows))
        return out

    async def _alerts(self, rows: Sequence[Delivery]) -> dict[int, list[Block]]:
        found = await self.items.items_by_id(d.item_id for d in rows)
        out: dict[int, list[Block]] = {}
        for d in rows:
            item = found.get(d.item_id) if d.item_id is not None else None
            if item is None:
                continue
            match = Match.from_payload(d.chat_id, d.payload)
            name = self.source_names.get(item.source_id, item.source_id)
            lang = self.alert_lang(d, item.lang)
            out[d.id] = alert_blocks(item, name, match, lang, topics=self.settings.topics, tz=self.settings.timezone)
        return out

    def alert_lang(self, delivery: Delivery, item_lang: str) -> str:
        """An alert's language: the chat's, except on the console, where ``[console] lang``
        decides ("auto": the item's own, so a Chinese item gets Chinese labels)."""
        if delivery.channel != CONSOLE:
            return delivery.lang
        wanted = self.settings.console.lang
        return norm_lang(item_lang if wanted == "auto" else wanted)

    async def _notices(self, rows: Sequence[Delivery]) -> dict[int, list[Block]]:
        out: dict[int, list[Block]] = {}
        for d in rows:
            payload = d.payload or {}
            if payload.get("key"):
                text = t(payload["key"], d.lang, **(payload.get("params") or {}))
            else:
                text = str(payload.get("text") or "")
            if text:
                out[d.id] = [[(Plain(line),) for line in text.split("\n")]]
        return out
