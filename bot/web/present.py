"""How the pages show things: highlighted text, excerpts, bar charts, periods. Pure.

Highlighting follows the bot's rule (``bot.formatting.highlight``: every occurrence of a
term, any case); here its spans become HTML, every piece of text escaped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from markupsafe import Markup, escape

from bot.core.format import highlight
from bot.core.text import Mark

EXCERPT_CHARS = 160


def marked(text: str, terms: Iterable[str]) -> Markup:
    """``text`` as HTML with every term wrapped in <mark>; everything else escaped."""
    out = []
    for span in highlight(text or "", terms):
        piece = escape(span.text)
        out.append(Markup("<mark>{}</mark>").format(piece) if isinstance(span, Mark) else piece)
    return Markup("").join(out)


def excerpt(text: str, terms: Sequence[str], width: int = EXCERPT_CHARS) -> str:
    """About ``width`` characters of ``text`` around the first term found (its start without
    one), with "…" where it was cut."""
    text = " ".join((text or "").split())
    if len(text) <= width:
        return text
    found = [m.start() for term in terms if (m := re.search(re.escape(term), text, re.IGNORECASE))]
    start = max(0, min(found) - width // 4) if found else 0
    start = min(start, len(text) - width)
    piece = text[start : start + width]
    return ("…" if start > 0 else "") + piece + ("…" if start + width < len(text) else "")


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    value: int
    label: str  # what the bar is (a week, a day): its tooltip


def bars(values: Sequence[int], labels: Sequence[str], *, width: float, height: float, top: int | None = None) -> list[Bar]:
    """Bars for an SVG chart of ``width`` x ``height``, scaled so that ``top`` (default: the
    largest value) fills the height; a non-zero value is at least one unit tall."""
    n = len(values)
    if n == 0:
        return []
    top = max(top if top is not None else 0, max(values), 1)
    slot = width / n
    gap = min(2.0, slot * 0.2)
    out = []
    for i, (value, label) in enumerate(zip(values, labels)):
        h = 0.0 if value <= 0 else max(1.0, height * value / top)
        out.append(Bar(x=round(i * slot + gap / 2, 2), y=round(height - h, 2), width=round(slot - gap, 2), height=round(h, 2), value=value, label=label))
    return out


def local_day_start(moment: datetime, zone: tzinfo, days_back: int = 0) -> datetime:
    """Midnight in ``zone`` of the day ``days_back`` days before ``moment``'s day there."""
    day = moment.astimezone(zone).date() - timedelta(days=days_back)
    return datetime.combine(day, time(0), zone)


def day_periods(now: datetime, zone: tzinfo, days: int) -> list[tuple[datetime, datetime]]:
    """The last ``days`` calendar days in ``zone``, oldest first, today included."""
    return [(local_day_start(now, zone, k), local_day_start(now, zone, k - 1)) for k in range(days - 1, -1, -1)]


def week_periods(now: datetime, zone: tzinfo, weeks: int) -> list[tuple[datetime, datetime]]:
    """The last ``weeks`` weeks (Monday to Sunday) in ``zone``, oldest first, this week included."""
    today = now.astimezone(zone).date()
    monday = today - timedelta(days=today.weekday())
    out = []
    for k in range(weeks - 1, -1, -1):
        start = monday - timedelta(weeks=k)
        out.append((datetime.combine(start, time(0), zone), datetime.combine(start + timedelta(days=7), time(0), zone)))
    return out


def local_date(moment: datetime, zone: tzinfo) -> date:
    return moment.astimezone(zone).date()
