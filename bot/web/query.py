"""The archive's parameters (/items, /api/items, /feeds/search.atom): parsed and checked.

Pure. ``parse_archive`` returns the query it could read and one ``Problem`` per bad parameter
(an i18n key and its values), so that a page can show the form as it was filled in, each
mistake explained in the reader's language, instead of failing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, tzinfo

from monitors.store import SearchTextError, search_terms

PAGE_SIZE = 20
MAX_RESULTS = 500  # no page deeper than this: narrow the search instead
MAX_PAGE = MAX_RESULTS // PAGE_SIZE
FEED_SIZE = 50
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SHOWN_MAX = 40  # a bad value is quoted back at most this long


@dataclass(frozen=True)
class Problem:
    key: str  # web.err.* in bot/core/i18n.py
    params: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class ArchiveQuery:
    q: str = ""
    terms: tuple[str, ...] = ()
    topic: str | None = None
    source: str | None = None
    since: date | None = None
    until: date | None = None
    page: int = 1

    @property
    def offset(self) -> int:
        return (self.page - 1) * PAGE_SIZE

    def bounds(self, zone: tzinfo) -> tuple[datetime | None, datetime | None]:
        """[since, until] as local dates -> the instants [start of since, end of until)."""
        start = datetime.combine(self.since, time(0), zone) if self.since else None
        end = datetime.combine(self.until + timedelta(days=1), time(0), zone) if self.until else None
        return start, end

    def params(self, **changes: object) -> dict[str, str]:
        """The query string of this query (``changes`` applied), without empty parameters
        and without page 1."""
        query = replace(self, **changes) if changes else self
        out = {
            "q": query.q,
            "topic": query.topic or "",
            "source": query.source or "",
            "since": query.since.isoformat() if query.since else "",
            "until": query.until.isoformat() if query.until else "",
            "page": str(query.page) if query.page != 1 else "",
        }
        return {k: v for k, v in out.items() if v}


def _shown(value: str) -> str:
    return value if len(value) <= _SHOWN_MAX else value[:_SHOWN_MAX] + "…"


def _date(raw: str, problems: list[Problem]) -> date | None:
    if not raw:
        return None
    if _DATE.match(raw):
        try:
            return date.fromisoformat(raw)
        except ValueError:
            pass
    problems.append(Problem("web.err.date", {"value": _shown(raw)}))
    return None


def parse_archive(
    raw: Mapping[str, str], topic_ids: Collection[str], source_ids: Collection[str]
) -> tuple[ArchiveQuery, list[Problem]]:
    """The archive query in ``raw`` (a request's query string) and what is wrong with it."""
    problems: list[Problem] = []
    q = (raw.get("q") or "").strip()
    terms: tuple[str, ...] = ()
    try:
        terms = search_terms(q)
    except SearchTextError as exc:
        if exc.reason == "too_long":
            problems.append(Problem("web.err.q_long", exc.params))
        else:
            problems.append(Problem("web.err.term_short", {**exc.params, "term": _shown(str(exc.params["term"]))}))
    topic = (raw.get("topic") or "").strip() or None
    if topic is not None and topic not in topic_ids:
        problems.append(Problem("web.err.topic", {"value": _shown(topic)}))
        topic = None
    source = (raw.get("source") or "").strip() or None
    if source is not None and source not in source_ids:
        problems.append(Problem("web.err.source", {"value": _shown(source)}))
        source = None
    since = _date((raw.get("since") or "").strip(), problems)
    until = _date((raw.get("until") or "").strip(), problems)
    if since and until and since > until:
        problems.append(Problem("web.err.date_order", {"since": since.isoformat(), "until": until.isoformat()}))
    page = 1
    raw_page = (raw.get("page") or "").strip()
    if raw_page:
        if raw_page.isascii() and raw_page.isdigit() and int(raw_page) >= 1:
            page = int(raw_page)
            if page > MAX_PAGE:
                problems.append(Problem("web.err.page_cap", {"limit": MAX_RESULTS, "pages": MAX_PAGE}))
                page = 1
        else:
            problems.append(Problem("web.err.page", {"value": _shown(raw_page)}))
    return ArchiveQuery(q=q, terms=terms, topic=topic, source=source, since=since, until=until, page=page), problems


def page_count(total: int) -> int:
    """Pages of PAGE_SIZE for ``total`` results, at most MAX_PAGE (at least 1)."""
    return max(1, min(MAX_PAGE, math.ceil(total / PAGE_SIZE)))
