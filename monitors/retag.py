"""Score stored items again when the tagging rules change (topics.toml, relevance rules).

Each item records the version of the rules its fields come from (``Item.tagging``, the
``Tagger.version``); ``retag`` scores every item of another version with the current rules,
so old and new items mean the same thing. It runs at start-up (``shwatch run``, ``poll``,
``sources``, ``db upgrade``) and costs nothing when every item is current.
"""

from __future__ import annotations

from dataclasses import replace

from monitors.model import Item
from monitors.store import ItemStore
from monitors.tagger import Tagger


def tag_item(item: Item, tagger: Tagger) -> Item:
    """The item with its fields scored again (title, and the body or else the list summary)."""
    match = tagger.tag(item.title, item.body or item.summary)
    return replace(item, **match.item_tags(), tagging=tagger.version)


async def retag(store: ItemStore, tagger: Tagger, batch: int = 500) -> int:
    """Score again every item tagged by other rules; returns how many were."""
    done = 0
    while True:
        stale = await store.items_to_retag(tagger.version, batch)
        if not stale:
            return done
        await store.save_tags([tag_item(item, tagger) for item in stale])
        done += len(stale)
