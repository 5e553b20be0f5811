"""Plain data passed along the monitor pipeline: fetch -> parse -> extract -> tag -> store."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal


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


Place = Literal["title", "lead", "body"]
PLACES: tuple[Place, ...] = ("title", "lead", "body")


@dataclass(frozen=True)
class TermEvidence:
    """One configured term found in an item: where (title / lead / body, in that order),
    how many times, and whether every occurrence sat in a list of fields (an enumeration).
    Occurrences dropped by a context exclusion are not evidence and are not counted."""

    term: str
    places: tuple[Place, ...]
    count: int
    listed: bool = False  # every occurrence sat in an enumeration of fields


@dataclass(frozen=True)
class TopicMatch:
    """What an item is about, in plan order.

    - ``topics``: the topics the item is *about* (what alerts and digests use);
    - ``matched``: topic id -> the configured terms found, for ``topics`` only;
    - ``mentions``: topics whose terms occur but which the item is not about (a passing
      mention, one field of a list of fields);
    - ``scores``: relevance from 0 to 1, for ``topics`` and ``mentions``;
    - ``evidence``: the terms and where they were found, for ``topics`` and ``mentions``.
    """

    topics: tuple[str, ...] = ()
    matched: dict[str, list[str]] = field(default_factory=dict)
    mentions: tuple[str, ...] = ()
    scores: dict[str, float] = field(default_factory=dict)
    evidence: dict[str, tuple[TermEvidence, ...]] = field(default_factory=dict)

    def terms(self, topic_id: str) -> list[str]:
        """The configured terms found for a topic or a mention (sorted)."""
        return sorted(e.term for e in self.evidence.get(topic_id, ()))


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
