"""Finding the list on a page of unknown layout: the main repeated block of dated links.

Used when a page has neither selectors nor the shared-CMS list; no selectors, any URL shape.

Every link is placed, at each of a few levels above it, in a group keyed by the element
that repeats there (the *item*: ``li``, ``tr``, ``div``, ``dt``, the link itself ...) and the
path signature of the element holding the items (the tags and classes of it and of its
ancestors). So sibling lists with one signature (a list split in blocks of five) form one
group, and alternating row classes (``tr.odd`` / ``tr.even``) do not split one.

In each item the main link is the one with the longest title, leaving out a URL that
repeats in other items (a ``[栏目]`` link in every row). An item counts when that link is
*dated*: by a date in the item's text beside the link (a sibling or a child of the item),
in the text after the item up to the next one (``<dt>`` title, ``<dd>`` date), inside the
link beside its title, or in the URL (``urls.url_date``: TRS ``t20200802_``, Hanweb
``/2021/5/6/``, ``/YYYYMMDD/`` folders; a month folder ``/202008/`` dates it without a day).
Navigation falls away by itself: menus, pagers and footers have no dates, a very short title
(``更多``, ``2``) or a title that is only a date is no item, and a URL is counted once.

The group with the most dated items wins (ties: more dates read from the text, then the
larger item, which holds the abstract, then the group with more items, then the earlier in
the page); at least ``MIN_ITEMS`` are needed. Its dated items are the entries, in page order.

Lists written into the page by script from Hanweb's ``<datastore>`` (``<script
type="text/xml">`` holding ``<record><![CDATA[<li>...</li>]]></record>``) are read too.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from bs4 import BeautifulSoup, NavigableString, Tag

from monitors.dates import from_date, parse_datetime
from monitors.markup import (
    abstract,
    inside,
    is_just_a_date,
    link_title,
    list_entry,
    squash,
    text_without,
)
from monitors.model import ListEntry
from monitors.urls import canonical_url, resolve, url_date, url_has_date

MIN_ITEMS = 2  # dated items a group needs to be taken for the list
MIN_TITLE = 4  # characters; a shorter link text is navigation (更多, 下一页, 1 2 3)
MAX_LINKS_PER_ITEM = 5  # an "item" with more distinct links is a block of the page
ITEM_LEVELS = 5  # how far above a link its item may be
_AFTER_CHARS = 200  # how much text after an item to read for its date
_RECORD = re.compile(r"<record>\s*<!\[CDATA\[(.*?)\]\]>\s*</record>", re.S | re.I)
_TOP = frozenset({"html", "[document]"})


@dataclass
class _Item:
    element: Tag
    level: int  # 0: the link itself; 1: its parent ...
    links: list[tuple[Tag, str]] = field(default_factory=list)  # (anchor, canonical URL), page order


@dataclass(frozen=True)
class _Found:
    url: str
    title: str
    published: datetime | None
    from_text: bool  # the date was read from the page's text, not from the URL
    item: _Item
    link: Tag


def detect_list(soup: BeautifulSoup, base: str) -> list[ListEntry]:
    """The entries of the page's main list of dated links; ``[]`` when there is none."""
    best = _best_list(soup, base)
    return [_to_entry(found) for found in best]


def _best_list(soup: BeautifulSoup, base: str) -> list[_Found]:
    groups = _Groups(base)
    root = soup.body or soup
    groups.add_links(root)
    for fragment in _datastore_fragments(root):
        groups.add_links(fragment)
    best: list[_Found] = []
    best_score: tuple = ()
    titles: dict[int, tuple[str, datetime | None]] = {}  # id(link) -> its title and inner date, read once
    # largest groups first: a group with fewer items than the best has dated cannot win
    for items in sorted(groups.by_key.values(), key=len, reverse=True):
        if len(items) < max(MIN_ITEMS, len(best)):
            break
        found = _dated_items(list(items.values()), titles)
        if len(found) < MIN_ITEMS:
            continue
        score = (len(found), sum(f.from_text for f in found), found[0].item.level)
        if score > best_score:
            best, best_score = found, score
    return best


class _Groups:
    """Links grouped by (signature of the element holding the items, tag of the item)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.page = canonical_url(base)  # a link to the page itself is no item
        self.by_key: dict[tuple[int, str], dict[int, _Item]] = {}
        self._signature_of: dict[int, int] = {}  # id(element) -> interned signature
        self._interned: dict[tuple[int, str, str], int] = {}

    def add_links(self, root: Tag) -> None:
        for link in root.find_all("a", href=True):
            url = resolve(self.base, link["href"])
            if url is None or url == self.page:
                continue
            node = link
            for level in range(ITEM_LEVELS + 1):
                parent = node.parent
                if not isinstance(parent, Tag) or parent.name in _TOP:
                    break
                items = self.by_key.setdefault((self._signature(parent), node.name), {})
                item = items.get(id(node))
                if item is None:
                    item = items[id(node)] = _Item(node, level)
                item.links.append((link, url))
                if parent.name == "body":
                    break
                node = parent

    def _signature(self, element: Tag) -> int:
        """An id for the element's path: its tag and classes and those of its ancestors."""
        chain = []
        node: Tag | None = element
        while isinstance(node, Tag) and id(node) not in self._signature_of:
            chain.append(node)
            node = node.parent
        signature = self._signature_of[id(node)] if isinstance(node, Tag) else -1
        for el in reversed(chain):
            classes = el.get("class") or ()
            key = (signature, el.name, " ".join(sorted(classes)) if isinstance(classes, list) else str(classes))
            signature = self._interned.setdefault(key, len(self._interned))
            self._signature_of[id(el)] = signature
        return signature


def _dated_items(items: list[_Item], titles: dict[int, tuple[str, datetime | None]]) -> list[_Found]:
    """The items of one group whose main link has a title and a date, in page order."""
    in_items = Counter(url for item in items for url in {u for _, u in item.links})
    found: list[_Found] = []
    seen: set[str] = set()
    for item in items:
        urls = {u for _, u in item.links}
        if len(urls) > MAX_LINKS_PER_ITEM:
            continue
        main = _main_link(item, in_items, titles)
        if main is None:
            continue
        link, url, title, inner_date = main
        if url in seen:
            continue
        published, from_text = _item_date(item, link, url, inner_date)
        if published is None and not from_text and not url_has_date(url):
            continue
        seen.add(url)
        found.append(_Found(url, title, published, from_text, item, link))
    return found


def _main_link(
    item: _Item, in_items: Counter, titles: dict[int, tuple[str, datetime | None]]
) -> tuple[Tag, str, str, datetime | None] | None:
    """(link, url, title, a date written inside the link) of the item's longest-titled link;
    links whose URL repeats in other items count only when the item has no other."""
    best = None
    for prefer_unique in (True, False):
        for link, url in item.links:
            if prefer_unique and in_items[url] > 1:
                continue
            title, inner_date = titles.get(id(link)) or titles.setdefault(id(link), _title_and_date(link))
            if len(title) < MIN_TITLE or is_just_a_date(title):
                continue
            if best is None or len(title) > len(best[2]):
                best = (link, url, title, inner_date)
        if best is not None:
            return best
    return None


def _title_and_date(link: Tag) -> tuple[str, datetime | None]:
    """A link's title, and a date written inside it beside the title (``<a><span>title</span>
    <span>2021-05-06</span></a>``), which is then no part of the title."""
    if not any(isinstance(child, Tag) for child in link.contents):
        return link_title(link), None  # text only (most links): no date element inside
    dates = [
        el for el in link.descendants
        if isinstance(el, Tag) and not any(isinstance(c, Tag) for c in el.contents)
        and is_just_a_date(squash(el.get_text(" ")))
    ]
    inner = parse_datetime(squash(dates[0].get_text(" "))) if dates else None
    title = link.get("title")
    if isinstance(title, list):
        title = " ".join(title)
    if squash(title) or not dates:
        return link_title(link), inner
    parts = [str(s) for s in link.find_all(string=True) if not any(inside(s, d) for d in dates)]
    return squash(" ".join(parts)), inner


def _item_date(item: _Item, link: Tag, url: str, inner_date: datetime | None) -> tuple[datetime | None, bool]:
    """(the item's date, whether it was read from text): the item's text beside the link,
    a date inside the link, the text after the item, then the URL's date."""
    element = item.element
    beside = parse_datetime(text_without(element, link)) if element is not link else None
    found = beside or inner_date or parse_datetime(_text_after(element))
    if found is not None:
        return found, True
    day = url_date(url)
    return (from_date(day) if day else None), False


def _text_after(element: Tag) -> str:
    """Text after an item up to the next item or link (a ``<dd>`` date after a ``<dt>``)."""
    parts: list[str] = []
    size = 0
    for sibling in element.next_siblings:
        if isinstance(sibling, Tag):
            if sibling.name == element.name or _holds_a_link(sibling):
                break
            text = sibling.get_text(" ")
        elif isinstance(sibling, NavigableString):
            text = str(sibling)
        else:
            continue
        parts.append(text)
        size += len(text)
        if size > _AFTER_CHARS:
            break
    return " ".join(parts)


def _holds_a_link(element: Tag) -> bool:
    if element.name == "a" and element.has_attr("href"):
        return True
    return any(isinstance(el, Tag) and el.name == "a" and el.has_attr("href") for el in element.descendants)


def _datastore_fragments(root: Tag) -> list[Tag]:
    """Hanweb's script-held list records, each script's records parsed as one fragment."""
    fragments = []
    for script in root.find_all("script"):
        text = script.string or ""
        if "<record" not in text:
            continue
        records = _RECORD.findall(text)
        if records:
            fragment = BeautifulSoup(f'<div class="datastore">{"".join(records)}</div>', "lxml")
            fragments.append(fragment.body or fragment)
    return fragments


def _to_entry(found: _Found) -> ListEntry:
    element = found.item.element
    summary = abstract(element, found.link, found.title) if element is not found.link else ""
    return list_entry(found.url, found.title, found.published, summary)
