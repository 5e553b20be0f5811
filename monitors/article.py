"""An article page to ``Article``: title, publish time, issuing organ and body text.

Shared-CMS metas first (``ArticleTitle``, ``PubDate``, ``ContentSource``; then ``og:title``,
``article:published_time``, ``<title>``), the CMS body containers next (``#ivs_content``,
``#UCAP-CONTENT``, ``.Article_content``, ``.TRS_Editor``), and a small text-density extractor
last: the element holding the most paragraph text with the fewest links. The body comes out
one paragraph a line: blocks and ``<br>`` end lines, a newline in the page's source is only a
soft wrap, and indented paragraphs (　　) and written-out ``\\r\\n`` breaks start new lines,
so the summarizer never runs two paragraphs together. Pure, never raises:
an unreadable page gives an empty ``Article`` (the caller records the empty body).
"""

from __future__ import annotations

import logging
from datetime import datetime

from bs4 import BeautifulSoup, NavigableString, Tag

from monitors.dates import from_date, parse_datetime
from monitors.encoding import decode_html
from monitors.model import Article
from monitors.paragraphs import html_text
from monitors.parse import NOISE_TAGS, block_text, squash
from monitors.urls import article_date

log = logging.getLogger(__name__)

BODY_SELECTORS = (
    "#ivs_content", "#UCAP-CONTENT", ".Article_content", ".TRS_Editor", ".trout-region-content",
    "#js_content",  # an mp.weixin.qq.com article, when the caller fetches one
)
TITLE_META = ("articletitle", "og:title", "twitter:title")
DATE_META = ("pubdate", "article:published_time", "publishdate", "publish_date", "dc.date", "og:release_date")
ORGAN_META = ("contentsource", "source", "dc.publisher")

_PREFORMATTED = ("pre", "textarea", "code")
_MIN_DENSITY_TEXT = 40  # characters: less than this is not an article body


def extract_article(
    content: bytes, url: str, header_charset: str | None = None, forced_encoding: str | None = None
) -> Article:
    """Title, publish time, organ and body of an article page; an empty Article for garbage."""
    if not content:
        return Article()
    try:
        soup = BeautifulSoup(decode_html(content, header_charset, forced_encoding), "lxml")
        metas = _metas(soup)
        return Article(
            title=_title(soup, metas),
            published=_published(soup, metas, url),
            organ=_first(metas, ORGAN_META) or None,
            body=_body(soup),
        )
    except Exception:  # a broken page must never take the poll down: the caller records it
        log.warning("article %s could not be parsed", url, exc_info=True)
        return Article()


def _metas(soup: BeautifulSoup) -> dict[str, str]:
    found: dict[str, str] = {}
    for meta in soup.find_all("meta"):
        key = meta.get("name") or meta.get("property") or meta.get("itemprop")
        value = meta.get("content")
        if isinstance(key, str) and isinstance(value, str) and value.strip():
            found.setdefault(key.strip().lower(), value.strip())
    return found


def _first(metas: dict[str, str], keys: tuple[str, ...]) -> str:
    for key in keys:
        value = squash(metas.get(key))
        if value:
            return value
    return ""


def _title(soup: BeautifulSoup, metas: dict[str, str]) -> str | None:
    title = _first(metas, TITLE_META)
    if title:
        return title
    for selector in ("#ivs_title", "h1"):
        el = soup.select_one(selector)
        if el is not None:
            text = squash(el.get_text(" "))
            if text:
                return text
    if soup.title is not None:
        text = squash(soup.title.get_text(" "))
        site = metas.get("sitename", "")
        if site and text.endswith(site) and len(text) > len(site):
            text = text[: -len(site)].rstrip(" _-|—")
        return text or None
    return None


def _published(soup: BeautifulSoup, metas: dict[str, str], url: str) -> datetime | None:
    for key in DATE_META:
        found = parse_datetime(metas.get(key))
        if found:
            return found
    el = soup.select_one("#ivs_date")
    if el is not None:
        found = parse_datetime(el.get_text(" "))
        if found:
            return found
    folder_date = article_date(url)
    return from_date(folder_date) if folder_date else None


def _body(soup: BeautifulSoup) -> str:
    for selector in BODY_SELECTORS:
        for el in soup.select(selector):
            text = _paragraph_text(el)
            if text:
                return text
    return _densest_text(soup)


def _paragraph_text(element: Tag) -> str:
    """The element's text one paragraph a line: blocks and <br> break lines (``block_text``);
    inside a text node, a source newline is a soft wrap, while an indented paragraph (　　)
    and a written-out ``\\r\\n`` paragraph break start a new line (``html_text``)."""
    for node in list(element.find_all(string=True)):
        if type(node) is NavigableString and node.find_parent(_PREFORMATTED) is None:
            shown = html_text(str(node))
            if shown != node:
                node.replace_with(NavigableString(shown))
    return block_text(element)


def _densest_text(soup: BeautifulSoup) -> str:
    """The main text by density: paragraphs vote for their parent (and half for the
    grandparent); a candidate's score is discounted by the share of its text in links."""
    root = soup.body or soup
    for tag in root.find_all(NOISE_TAGS):
        tag.decompose()
    votes: dict[int, float] = {}
    nodes: dict[int, Tag] = {}
    for para in root.find_all(["p", "pre", "blockquote"]):
        length = len(squash(para.get_text(" ")))
        if length < 10:
            continue
        for weight, holder in ((1.0, para.parent), (0.5, para.parent.parent if para.parent else None)):
            if isinstance(holder, Tag):
                votes[id(holder)] = votes.get(id(holder), 0.0) + weight * length
                nodes[id(holder)] = holder
    if not votes:  # no paragraphs at all: divs with direct text
        for div in root.find_all(["div", "td", "article", "section"]):
            own = sum(len(s.strip()) for s in div.find_all(string=True, recursive=False))
            if own >= _MIN_DENSITY_TEXT:
                votes[id(div)] = float(own)
                nodes[id(div)] = div
    best, best_score = None, 0.0
    for key, vote in votes.items():
        node = nodes[key]
        text_len = len(squash(node.get_text(" "))) or 1
        link_len = sum(len(squash(a.get_text(" "))) for a in node.find_all("a"))
        score = vote * (1.0 - min(link_len / text_len, 1.0))
        if score > best_score:
            best, best_score = node, score
    if best is None:
        return ""
    text = _paragraph_text(best)
    return text if len(text) >= _MIN_DENSITY_TEXT else ""
