"""Reading list items out of BeautifulSoup markup: a link's title, an element's text, the text
around a link, an item's abstract. Pure helpers shared by the list parsers (``parse``) and
the generic list detector (``listdetect``)."""

from __future__ import annotations

import re
from datetime import datetime

from bs4 import Comment, Doctype, NavigableString, ProcessingInstruction, Tag

from monitors.dates import parse_datetime
from monitors.model import ListEntry

_SPACES = re.compile(r"\s+")
_NOT_TEXT = (Comment, Doctype, ProcessingInstruction)
NEARBY_LEVELS = 3  # how far up from a link to look for the one element that holds it alone


def squash(text: str | None) -> str:
    """Whitespace runs (including U+3000 and no-break spaces) to one space, trimmed."""
    if not text:
        return ""
    return _SPACES.sub(" ", text).strip()


def list_entry(url: str, title: str, published: datetime | None, summary: str) -> ListEntry:
    return ListEntry(url=url, title=squash(title), published=published, summary=squash(summary))


def link_title(link: Tag) -> str:
    """A link's ``title`` attribute, else its text."""
    title = link.get("title")
    if isinstance(title, list):
        title = " ".join(title)
    return squash(title) or squash(link.get_text(" "))


def text_of(el: Tag | None) -> str:
    return squash(el.get_text(" ")) if el is not None else ""


def text_without(container: Tag, link: Tag) -> str:
    """A container's text minus the link's own (a title holding '2022年' is not the date), and
    minus scripts, styles and comments."""
    parts: list[str] = []
    stack: list = [container]
    while stack:
        node = stack.pop()
        if isinstance(node, Tag):
            if node is not link and node.name not in ("script", "style"):
                stack.extend(reversed(node.contents))
        elif isinstance(node, NavigableString) and not isinstance(node, _NOT_TEXT):
            parts.append(str(node))
    return " ".join(parts)


def inside(node, ancestor: Tag) -> bool:
    """Whether ``ancestor`` is one of ``node``'s parents (by identity: bs4's == compares markup)."""
    return any(parent is ancestor for parent in node.parents)


def item_container(link: Tag) -> Tag | None:
    """The largest ancestor (a few levels up) that holds this one link and no other."""
    best = None
    node = link.parent
    for _ in range(NEARBY_LEVELS):
        if not isinstance(node, Tag) or node.name in ("body", "html", "[document]"):
            break
        links = node.find_all("a", href=True, limit=2)
        if len(links) > 1:
            break
        best = node
        node = node.parent
    return best


def following_text(link: Tag) -> str:
    """Text right after a link, up to the next link (a date in a sibling span, say)."""
    parts = []
    for sibling in link.next_siblings:
        if isinstance(sibling, Tag):
            if sibling.name == "a" or sibling.find("a", href=True):
                break
            parts.append(sibling.get_text(" "))
        elif isinstance(sibling, NavigableString):
            parts.append(str(sibling))
        if sum(len(p) for p in parts) > 200:
            break
    return " ".join(parts)


def abstract(container: Tag, link: Tag, title: str) -> str:
    """The longest block of text in an item container that is neither its title nor a date."""
    best = ""
    for block in container.find_all(["p", "div", "span", "dd"]):
        if block is link or inside(block, link) or block.find("a", href=True):
            continue
        text = squash(block.get_text(" "))
        if len(text) > len(best) and text != title and not is_just_a_date(text):
            best = text
    return best if len(best) >= 12 else ""


def is_just_a_date(text: str) -> bool:
    return len(text) <= 32 and parse_datetime(text) is not None
