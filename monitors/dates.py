"""Dates and times as these sites write them, read into aware Asia/Shanghai datetimes.

Numeric dates (``2022-04-26``, ``2022.04.26``, ``2022/4/26``, ``2022年4月26日``), optionally with
a time whose colon may be the ratio sign U+2236 or a full-width colon; English dates
(``January 16, 2025``, ``Jan 16, 2025``, ``16 January 2025``); RFC 822 and ISO 8601 from
feeds. A date without a time is midnight in Shanghai. Garbage gives None, never an error.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
_MIN_YEAR, _MAX_YEAR = 1990, 2100

_COLONS = str.maketrans({"\u2236": ":", "\uff1a": ":", "\ufe55": ":", "\u00a0": " ", "\u3000": " "})

_NUMERIC = re.compile(
    r"(?<!\d)(?P<y>(?:19|20)\d{2})\s*(?P<sep>[-./年])\s*(?P<m>\d{1,2})\s*(?:[-./月])\s*(?P<d>\d{1,2})(?!\d)\s*日?"
    r"(?:(?:\s*T\s*|\s*)(?P<H>\d{1,2})\s*[:时]\s*(?P<M>\d{2})(?:\s*[:分]\s*(?P<S>\d{2}))?(?:\.\d+)?"
    r"\s*(?P<tz>Z|[+-]\d{2}:?\d{2})?)?"
)
_MONTHS = {
    name: i
    for i, names in enumerate(
        (
            ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"),
            ("may",), ("jun", "june"), ("jul", "july"), ("aug", "august"),
            ("sep", "sept", "september"), ("oct", "october"), ("nov", "november"), ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
_MONTH_WORD = r"(?P<mon>Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sept?(?:ember)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
_EN_MDY = re.compile(
    r"\b" + _MONTH_WORD + r"\.?\s+(?P<d>\d{1,2})(?:st|nd|rd|th)?,?\s+(?P<y>(?:19|20)\d{2})\b", re.I
)
_EN_DMY = re.compile(
    r"\b(?P<d>\d{1,2})(?:st|nd|rd|th)?\s+" + _MONTH_WORD + r"\.?,?\s+(?P<y>(?:19|20)\d{2})\b", re.I
)
_RFC822 = re.compile(r"^\s*(?:[A-Za-z]{3},\s*)?\d{1,2}\s+[A-Za-z]{3}\s+\d{2,4}\s+\d{1,2}:\d{2}")


def parse_datetime(text: str | None) -> datetime | None:
    """The first date (and time) found in ``text``, as an aware Asia/Shanghai datetime."""
    if not text or not isinstance(text, str):
        return None
    text = unicodedata.normalize("NFKC", text.translate(_COLONS))[:400]
    if _RFC822.match(text):
        found = _from_rfc822(text)
        if found:
            return found
    match = _NUMERIC.search(text)
    if match:
        found = _from_numeric(match)
        if found:
            return found
    for pattern in (_EN_MDY, _EN_DMY):
        match = pattern.search(text)
        if match:
            found = _from_parts(int(match.group("y")), _MONTHS.get(match.group("mon").lower().rstrip(".")), int(match.group("d")))
            if found:
                return found
    return None


def from_date(day: date) -> datetime:
    """Midnight of ``day`` in Shanghai."""
    return datetime(day.year, day.month, day.day, tzinfo=SHANGHAI)


def to_shanghai(moment: datetime) -> datetime:
    """An aware datetime in Shanghai time (a naive one is taken as Shanghai time already)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=SHANGHAI)
    return moment.astimezone(SHANGHAI)


def from_utc_struct(struct) -> datetime | None:
    """A ``time.struct_time`` in UTC (as feedparser gives) to Shanghai time."""
    try:
        return datetime(*struct[:6], tzinfo=timezone.utc).astimezone(SHANGHAI)
    except (TypeError, ValueError, OverflowError):
        return None


def _from_rfc822(text: str) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(text.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None or not (_MIN_YEAR <= parsed.year <= _MAX_YEAR):
        return None
    return to_shanghai(parsed)


def _from_numeric(match: re.Match) -> datetime | None:
    day = _from_parts(int(match.group("y")), int(match.group("m")), int(match.group("d")))
    if day is None or match.group("H") is None:
        return day
    try:
        moment = day.replace(
            hour=int(match.group("H")), minute=int(match.group("M")), second=int(match.group("S") or 0)
        )
    except ValueError:
        return day
    tz = match.group("tz")
    if not tz:
        return moment
    if tz == "Z":
        offset = timezone.utc
    else:
        sign = -1 if tz[0] == "-" else 1
        digits = tz[1:].replace(":", "")
        try:
            offset = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
        except ValueError:
            return moment
    return moment.replace(tzinfo=offset).astimezone(SHANGHAI)


def _from_parts(year: int, month: int | None, day: int) -> datetime | None:
    if month is None or not (_MIN_YEAR <= year <= _MAX_YEAR):
        return None
    try:
        return datetime(year, month, day, tzinfo=SHANGHAI)
    except ValueError:
        return None
