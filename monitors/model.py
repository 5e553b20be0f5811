"""Plain data passed along the monitor pipeline: fetch -> parse -> extract -> tag -> store."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class ListEntry:
    """One link on a source's list page (or one feed entry), before its article is fetched."""

    url: str  # absolute, canonical
    title: str
    published: datetime | None = None  # aware, Asia/Shanghai; date-only entries at 00:00
    summary: str = ""


@dataclass(frozen=True)
class Article:
    """What was extracted from an article page."""

    title: str | None = None
    published: datetime | None = None  # aware, Asia/Shanghai
    organ: str | None = None  # ContentSource: the issuing body
    body: str = ""


@dataclass(frozen=True)
class TopicMatch:
    """Which topics a text touches and the terms that showed it, in plan order."""

    topics: tuple[str, ...] = ()
    matched: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Item:
    """A stored news item: one article of one source."""

    source_id: str
    url: str
    title: str
    published: datetime | None
    summary: str = ""
    body: str = ""
    organ: str | None = None
    lang: str = "zh"
    topics: tuple[str, ...] = ()
    matched: dict[str, list[str]] = field(default_factory=dict)
    baseline: bool = False
    extract_problem: str | None = None
    first_seen_at: datetime | None = None
    id: int | None = None
