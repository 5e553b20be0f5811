"""The one item schema: how an item leaves the program (``poll --json``, the web API, feeds).

Pure and light (no terminal libraries): the service and the web app import it too.
"""

from __future__ import annotations

import json
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

from monitors.model import Item

SHANGHAI = ZoneInfo("Asia/Shanghai")
JSON_KEYS = (
    "source", "url", "title", "published", "topics", "mentions", "matched", "scores",
    "summary", "lang", "baseline", "article", "article_error",
)


def published_iso(moment: datetime | None, zone: tzinfo = SHANGHAI) -> str | None:
    """ISO 8601 in ``zone`` with its offset (``2026-06-13T14:06:00+08:00``); a date-only item,
    stored as midnight in Shanghai, comes out as ``YYYY-MM-DDT00:00:00+08:00``."""
    if moment is None:
        return None
    return moment.astimezone(zone).isoformat(timespec="seconds")


def item_record(item: Item, zone: tzinfo = SHANGHAI) -> dict:
    """The JSON object of one item, with exactly ``JSON_KEYS``: the one item schema, used
    wherever an item leaves the program (``poll --json``, the web API and feeds)."""
    return {
        "source": item.source_id,
        "url": item.url,
        "title": item.title,
        "published": published_iso(item.published, zone),
        "topics": list(item.topics),
        "mentions": list(item.mentions),
        "matched": {topic: list(terms) for topic, terms in item.matched.items()},
        "scores": {topic: round(score, 3) for topic, score in item.scores.items()},
        "summary": item.summary,
        "lang": item.lang,
        "baseline": item.baseline,
        "article": str(item.article),
        "article_error": item.article_error,
    }


def json_line(item: Item, zone: tzinfo = SHANGHAI) -> str:
    return json.dumps(item_record(item, zone), ensure_ascii=False)


