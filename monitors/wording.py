"""How counts and time zones are written for people, in every English line shwatch prints
or logs (CLI tables and summaries, log lines, the web's and chat's zone labels).

Pure. The one owner of both rules: ``monitors`` never imports ``bot``, so the bot imports
them from here. Chinese needs no plural; the chat catalogue (``bot.core.i18n``) keeps its
own singular sentences (``key_one``) for whole sentences.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

# plurals that do not just add "s"
_IRREGULAR = {"delivery": "deliveries", "entry": "entries", "is": "are"}


def plural(noun: str, count: int) -> str:
    """``noun`` as it goes with ``count``: "source" for 1, "sources" otherwise."""
    if count == 1:
        return noun
    head, space, last = noun.rpartition(" ")  # "new item": the last word takes the plural
    if last in _IRREGULAR:
        return head + space + _IRREGULAR[last]
    if last.endswith(("s", "x", "ch", "sh")):
        return noun + "es"
    return noun + "s"


def counted(count: int, noun: str) -> str:
    """"1 source", "0 sources", "3 deliveries"."""
    return f"{count} {plural(noun, count)}"


# Two instants half a year apart: a zone whose offset differs between them keeps daylight
# saving time. Fixed (not "now"), so the label never depends on the data or the day shown.
_WINTER = datetime(2026, 1, 15, 12)
_SUMMER = datetime(2026, 7, 15, 12)


def zone_label(zone: tzinfo | str) -> str:
    """How instants shown in ``zone`` are labelled, everywhere: its UTC offset ("+08:00")
    when the zone keeps one offset all year, else its name ("Europe/Berlin"). (A recurring
    time of day, a chat's digest time or quiet hours, names the chat's zone as it set it.)"""
    if isinstance(zone, str):
        zone = ZoneInfo(zone)
    winter = _WINTER.replace(tzinfo=zone).utcoffset()
    summer = _SUMMER.replace(tzinfo=zone).utcoffset()
    if winter == summer and winter is not None:
        minutes = int(winter.total_seconds()) // 60
        sign = "-" if minutes < 0 else "+"
        hours, mins = divmod(abs(minutes), 60)
        return f"{sign}{hours:02d}:{mins:02d}"
    return str(getattr(zone, "key", zone))
