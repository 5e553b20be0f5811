"""Atom feeds of items (RFC 4287): a field's newest items, a search's newest matches. Pure.

Each entry: its id (the item's page here), the item's title, its original link, when it was
published (updated: the same, else when it was first seen), its summary, and its fields as
categories (term = topic id, label = the field's name in the feed's language).

Written with lxml's ElementTree (already loaded for reading pages) rather than feedgen, whose
import (with python-dateutil) cost an idle service about 1 MB for a few elements.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from lxml import etree

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
    feed = etree.Element(_atom("feed"), nsmap={None: ATOM})
    feed.set(XML_LANG, "zh-CN" if lang == "zh" else "en")
    _text(feed, "id", feed_url)
    _text(feed, "title", title)
    times = [when for when in map(_when, items) if when is not None]
    _text(feed, "updated", _iso(max(times) if times else now))
    _link(feed, feed_url, "self", "application/atom+xml")
    _link(feed, page_url, "alternate", "text/html")
    _text(feed, "generator", "shwatch")
    for item in items:
        entry = etree.SubElement(feed, _atom("entry"))
        _text(entry, "id", item_url[item.id])
        _text(entry, "title", item.title)
        _text(entry, "updated", _iso(_when(item) or now))
        _link(entry, item.url, "alternate", "text/html")
        if item.summary:
            _text(entry, "summary", item.summary)
        for topic_id in item.topics:
            topic = topics.get(topic_id)
            etree.SubElement(entry, _atom("category"), term=topic_id, label=topic.name(lang) if topic else topic_id)
        if item.published is not None:
            _text(entry, "published", _iso(item.published))
    return etree.tostring(feed, xml_declaration=True, encoding="UTF-8")


ATOM = "http://www.w3.org/2005/Atom"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def _atom(name: str) -> str:
    return f"{{{ATOM}}}{name}"


def _text(parent: etree._Element, name: str, value: str) -> None:
    etree.SubElement(parent, _atom(name)).text = value


def _link(parent: etree._Element, href: str, rel: str, kind: str) -> None:
    etree.SubElement(parent, _atom("link"), href=href, rel=rel, type=kind)


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _when(item: Item) -> datetime | None:
    return item.published or item.first_seen_at
