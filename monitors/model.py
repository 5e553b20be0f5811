"""Plain data passed along the monitor pipeline: fetch -> parse -> extract -> tag -> store."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
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

    def item_tags(self) -> dict:
        """The tag fields of an ``Item`` (``matched`` for topics and mentions alike)."""
        tagged = (*self.topics, *self.mentions)
        return {
            "topics": self.topics,
            "mentions": self.mentions,
            "matched": {t: self.matched.get(t) or self.terms(t) for t in tagged},
            "scores": {t: self.scores[t] for t in tagged if t in self.scores},
            "evidence": {t: self.evidence.get(t, ()) for t in tagged},
        }


class ArticleState(StrEnum):
    """Whether an item's own article page was read."""

    FETCHED = "fetched"  # fetched and extracted: the summary and fields come from its text
    PENDING = "pending"  # not fetched yet (a later poll reads it)
    FOREIGN = "foreign"  # on another site (e.g. mp.weixin.qq.com): never fetched
    FAILED = "failed"  # fetching or extracting it failed (``article_error`` says why)


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
    topics: tuple[str, ...] = ()  # the fields it is about (alerts, digests, filters)
    matched: dict[str, list[str]] = field(default_factory=dict)  # terms, for topics and mentions
    baseline: bool = False
    extract_problem: str | None = None
    first_seen_at: datetime | None = None
    id: int | None = None
    mentions: tuple[str, ...] = ()  # fields it only mentions
    scores: dict[str, float] = field(default_factory=dict)  # relevance 0..1, topics and mentions
    evidence: dict[str, tuple[TermEvidence, ...]] = field(default_factory=dict)  # where terms were found
    article: ArticleState = ArticleState.FETCHED  # the poller always says; FETCHED for items built by hand
    article_error: str | None = None
    tagging: str | None = None  # the version of the tagging rules its fields come from


class SourceStatus(StrEnum):
    """How a source stands after its polls: the one vocabulary every view shows."""

    NEVER = "never"  # not polled yet
    OK = "ok"
    WARNING = "warning"  # the list was read; something else went wrong on the way
    ARTICLE = "article"  # the list was read; an article's page layout was not understood
    FAILING = "failing"  # the last poll(s) could not read the list page
    LAYOUT = "layout"  # the list page was fetched but its layout was not understood

    @property
    def working(self) -> bool:
        """The list page is being read (new items arrive)."""
        return self in (SourceStatus.OK, SourceStatus.WARNING, SourceStatus.ARTICLE)

    @property
    def broken(self) -> bool:
        """The list page is not being read."""
        return self in (SourceStatus.FAILING, SourceStatus.LAYOUT)


@dataclass
class SourceState:
    """What the store remembers about one source between polls."""

    source_id: str
    etag: str | None = None
    last_modified: str | None = None
    baseline_done: bool = False
    last_attempt_at: datetime | None = None
    last_success_at: datetime | None = None
    last_error: str | None = None
    error_kind: str | None = None
    consecutive_failures: int = 0
    last_item_count: int | None = None
    next_poll_at: datetime | None = None

    @property
    def status(self) -> SourceStatus:
        """The source's status, computed here once for every view (CLI, chat, notices)."""
        if self.last_attempt_at is None:
            return SourceStatus.NEVER
        if self.consecutive_failures > 0:
            return SourceStatus.LAYOUT if self.error_kind == "layout" else SourceStatus.FAILING
        if self.last_error:
            return SourceStatus.ARTICLE if self.error_kind == "article" else SourceStatus.WARNING
        return SourceStatus.OK
