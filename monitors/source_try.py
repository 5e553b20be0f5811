"""``shwatch sources try URL``: what each list parser finds on one page, and the
``[[sources]]`` table that watches it. Pure: a fetched page in, rich tables and TOML text out.

The table names the parser ``parse_list`` will use (the first of ``parse.PARSERS`` that finds
something, as it runs them) and needs no selectors: the generic list detector reads pages of
any layout. Its id comes from the host and the path, its name from the page's title, its
language from the titles found.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import tzinfo
from urllib.parse import parse_qsl, urlsplit

import feedparser
from bs4 import BeautifulSoup
from rich.table import Table
from rich.text import Text

from config.model import Source
from monitors.encoding import decode_html
from monitors.markup import squash
from monitors.model import ListEntry
from monitors.parse import PARSERS
from monitors.report import SHANGHAI, _when
from monitors.wording import zone_label
from monitors.urls import url_host

PARSER_NAMES = {
    "feed": "feed / 订阅源 (RSS, Atom)",
    "shared CMS": "shared CMS list / 上海政务网站通用列表",
    "generic list": "generic list / 自动识别的列表",
    "CMS article links": "CMS article links / 文章链接",
}
FIRST = 5  # items shown per parser
_CJK = re.compile(r"[\u3400-\u9fff]")
_NOT_ID = re.compile(r"[^a-z0-9_.-]+")
_NAME_CHARS = 80


@dataclass(frozen=True)
class Trial:
    """One fetched page and what each parser found on it."""

    url: str  # as asked
    final_url: str  # after redirects within the site
    content_type: str | None
    size: int
    title: str  # the page's (or feed's) own title, "" when it has none
    views: Mapping[str, list[ListEntry]]

    @property
    def chosen(self) -> str | None:
        """The parser shwatch will read this page with, None when none finds anything."""
        return next((name for name in PARSERS if self.views.get(name)), None)


def page_title(content: bytes, charset: str | None, is_feed: bool) -> str:
    """The title a page or feed gives itself, whitespace squashed; "" when it has none."""
    if is_feed:
        return squash(feedparser.parse(content).feed.get("title"))
    soup = BeautifulSoup(decode_html(content, charset), "lxml")
    return squash(soup.title.get_text(" ")) if soup.title is not None else ""


def suggest_source(trial: Trial, taken: Collection[str] = ()) -> Source:
    """The source watching the tried page: kind by the parser that reads it, an id not in
    ``taken``, the page's title as name, the language of the titles found."""
    entries = trial.views.get(trial.chosen or "", [])
    source_id = suggest_id(trial.final_url, taken)
    name = (trial.title[:_NAME_CHARS].strip() if trial.title else "") or source_id
    return Source(
        id=source_id,
        name=name,
        url=trial.final_url,
        kind="rss" if trial.chosen == "feed" else "html",
        lang=guess_lang(entries),
    )


def suggest_id(url: str, taken: Collection[str] = ()) -> str:
    """``<host label>-<path folders>-<query values>``: ``www.example.gov.cn/xxgk/tzgg/index.html``
    -> ``example-xxgk-tzgg``; a number is added when the id is taken."""
    parts = urlsplit(url)
    labels = [label for label in url_host(url).split(".") if label and label != "www"]
    if url_host(url).replace(".", "").isdigit():
        head = url_host(url).replace(".", "-")  # an IPv4 address
    else:
        head = labels[0] if labels else "source"
    folders = [segment for segment in parts.path.split("/") if segment and "." not in segment]
    values = [value for _, value in parse_qsl(parts.query)]
    raw = "-".join([head, *folders, *values]).lower()
    base = _NOT_ID.sub("-", raw).strip("-._")[:56].rstrip("-._") or "source"
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    return candidate


def guess_lang(entries: Sequence[ListEntry]) -> str:
    """"zh" unless most titles hold no Chinese characters."""
    if not entries:
        return "zh"
    chinese = sum(1 for e in entries if _CJK.search(e.title))
    return "zh" if chinese * 2 >= len(entries) else "en"


def source_toml(source: Source) -> str:
    """The ``[[sources]]`` table of a source, to paste into a config file."""
    lines = [
        "[[sources]]",
        f"id = {toml_string(source.id)}",
        f"name = {toml_string(source.name)}",
        f"url = {toml_string(source.url)}",
        f"kind = {toml_string(source.kind)}",
        f"lang = {toml_string(source.lang)}",
        f"interval = {source.interval}",
    ]
    if source.allow_hosts:
        lines.append("allow_hosts = [" + ", ".join(toml_string(h) for h in source.allow_hosts) + "]")
    return "\n".join(lines) + "\n"


def toml_string(value: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    out = []
    for ch in value:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def views_table(trial: Trial, zone: tzinfo = SHANGHAI) -> Table:
    """One row per parser: how many items it finds and its first few (date and title)."""
    table = Table(title="What each parser finds / 各解析器找到的条目", show_lines=True)
    table.add_column("Parser / 解析器", no_wrap=True)
    table.add_column("Items / 条数", justify="right")
    table.add_column(f"First items / 前几条 ({zone_label(zone)})", overflow="fold", ratio=1)
    for name in PARSERS:
        entries = trial.views.get(name, [])
        shown = "\n".join(f"{_when(e.published, zone)}  {e.title}" for e in entries[:FIRST])
        mark = " ✓" if name == trial.chosen else ""
        table.add_row(
            Text(PARSER_NAMES[name] + mark, style="bold green" if mark else ""),
            str(len(entries)),
            shown or Text("-", style="dim"),
        )
    return table


def chosen_table(trial: Trial, zone: tzinfo = SHANGHAI) -> Table | None:
    """The first items of the parser shwatch will use, with their links."""
    if trial.chosen is None:
        return None
    entries = trial.views[trial.chosen][:FIRST]
    table = Table(title=f"shwatch will read this page as / shwatch 将按此读取: {PARSER_NAMES[trial.chosen]}")
    table.add_column(f"Date / 日期 ({zone_label(zone)})", no_wrap=True)
    table.add_column("Title / 标题", overflow="fold", ratio=3)
    table.add_column("Link / 链接", overflow="fold", ratio=2)
    for e in entries:
        table.add_row(_when(e.published, zone), e.title, Text(e.url, style=f"link {e.url}"))
    return table

