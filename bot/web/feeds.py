"""Atom feeds of items (feedgen): a field's newest items, a search's newest matches. Pure.

Each entry: its id (the item's page here), the item's title, its original link, when it was
published (updated: the same, else when it was first seen), its summary, and its fields as
categories (term = topic id, label = the field's name in the feed's language).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from feedgen.feed import FeedGenerator

from config.model import Topic
from monitors.model import Item


def atom_feed(
    *,
    feed_url: str,
    page_url: str,
    title: str,
    items: Sequence[Item],
    item_url: Mapping[int, str],
    topics: Mapping[str, Topic],
    lang: str,
    now: datetime,
) -> bytes:
    """An Atom document; ``item_url`` maps each item's id to its absolute page URL."""
    fg = FeedGenerator()
    fg.id(feed_url)
    fg.title(title)
    fg.link(href=feed_url, rel="self", type="application/atom+xml")
    fg.link(href=page_url, rel="alternate", type="text/html")
    fg.language("zh-CN" if lang == "zh" else "en")
    fg.generator("shwatch")
    times = [_when(item) for item in items if _when(item) is not None]
    fg.updated(max(times) if times else now)
    for item in items:
        entry = fg.add_entry(order="append")
        page = item_url[item.id]
        entry.id(page)
        entry.title(item.title)
        entry.link(href=item.url, rel="alternate", type="text/html")
        when = _when(item) or now
        entry.updated(when)
        if item.published is not None:
            entry.published(item.published)
        if item.summary:
            entry.summary(item.summary)
        for topic_id in item.topics:
            topic = topics.get(topic_id)
            entry.category(term=topic_id, label=topic.name(lang) if topic else topic_id)
    return fg.atom_str(pretty=False)


def _when(item: Item) -> datetime | None:
    return item.published or item.first_seen_at
