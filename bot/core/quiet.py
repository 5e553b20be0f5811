"""Quiet hours (pure): is an instant inside a chat's HH:MM-HH:MM window, and when does it end.

A window may cross midnight (22:00-07:30 covers 22:00..23:59 and 00:00..07:29 local time);
its start is inside, its end is not. A window whose start equals its end is empty. Times are
local to the chat's time zone (an IANA name such as Asia/Shanghai); instants going in and
out are aware UTC datetimes.

Instant alerts that fall inside the window are held until its end (the outbox row's
``not_before``); when the window ends they are released together and the sender bundles a
chat's pending alerts into as few messages as fit (``bundle``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.core.i18n import t_count
from bot.core.model import Delivery
from bot.core.text import Plain

_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
T = TypeVar("T", bound=Delivery)


def parse_hhmm(value: str) -> time:
    """'7:30' or '07:30' -> time(7, 30); anything else raises ValueError."""
    match = _HHMM.match(value.strip()) if isinstance(value, str) else None
    if not match:
        raise ValueError(f"not a time HH:MM (00:00-23:59): {value!r}")
    return time(int(match.group(1)), int(match.group(2)))


def zone(name: str | None, default: str = "Asia/Shanghai") -> ZoneInfo:
    """The chat's zone; an unknown or empty name falls back to ``default``."""
    try:
        return ZoneInfo(name or default)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(default)


@dataclass(frozen=True)
class QuietWindow:
    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> "QuietWindow":
        """'22:00-07:30' -> QuietWindow; ValueError naming the problem otherwise."""
        parts = text.replace("–", "-").replace("～", "-").replace("~", "-").split("-")
        if len(parts) != 2:
            raise ValueError(f"a quiet window is HH:MM-HH:MM, got {text!r}")
        return cls(parse_hhmm(parts[0]), parse_hhmm(parts[1]))

    @classmethod
    def of(cls, start: str | None, end: str | None) -> "QuietWindow | None":
        """The window stored on a chat (quiet_start/quiet_end), or None when unset or invalid."""
        if not start or not end:
            return None
        try:
            return cls(parse_hhmm(start), parse_hhmm(end))
        except ValueError:
            return None

    @property
    def empty(self) -> bool:
        return self.start == self.end

    def contains(self, local: time) -> bool:
        """Is a local wall-clock time inside the window (start inclusive, end exclusive)?"""
        local = local.replace(tzinfo=None)
        if self.empty:
            return False
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


def _local_instant(day, at: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of wall time ``at`` on ``day`` in ``tz`` (a DST gap moves it forward)."""
    naive = datetime.combine(day, at)
    aware = naive.replace(tzinfo=tz)
    # Round-trip through UTC: a time inside a spring-forward gap comes back shifted forward.
    return aware.astimezone(timezone.utc)


def quiet_until(now: datetime, window: QuietWindow | None, tz_name: str | None) -> datetime | None:
    """If ``now`` is inside the window (in the chat's zone), the UTC instant it ends; else None."""
    if window is None or window.empty:
        return None
    tz = zone(tz_name)
    local = now.astimezone(tz)
    if not window.contains(local.time()):
        return None
    end = _local_instant(local.date(), window.end, tz)
    if end <= now:
        end = _local_instant(local.date() + timedelta(days=1), window.end, tz)
    return end


def hold_until(now: datetime, quiet_start: str | None, quiet_end: str | None, tz_name: str | None) -> datetime | None:
    """For an alert created at ``now`` for a chat: the ``not_before`` to hold it until, or None."""
    return quiet_until(now, QuietWindow.of(quiet_start, quiet_end), tz_name)


def bundle(
    parts: Sequence[T],
    size: Callable[[T], int],
    limit: int,
    separator_size: int = 2,
) -> list[list[T]]:
    """Pack parts (in order) into groups whose total size, separators included, fits ``limit``.

    A part bigger than the limit on its own gets a group of its own (the renderer splits it).
    Used to send a chat's several pending alerts as one message where they fit.
    """
    groups: list[list[T]] = []
    current: list[T] = []
    used = 0
    for part in parts:
        n = size(part)
        extra = n if not current else n + separator_size
        if current and used + extra > limit:
            groups.append(current)
            current, used = [], 0
            extra = n
        current.append(part)
        used += extra
    if current:
        groups.append(current)
    return groups


# Why a delivery waited (its payload's ``held``): the bundle it leaves in says so.
HELD_KEY = "held"
HELD_QUIET = "quiet"  # the chat's quiet hours (``not_before`` set at enqueue; the default)
HELD_RATE = "rate"  # a platform's sending limit (the channel answered ``Hold``)
HELD_AFTER_FAILURE = "queue"  # an earlier message to the chat failed: its queue waited
HEADINGS = {HELD_QUIET: "quiet.held", HELD_RATE: "rate.held"}


def held_reason(delivery: Delivery) -> str | None:
    """Why an alert waited before this send: "quiet", "rate", "queue", or None when it did
    not wait (no ``not_before``), is no alert, or failed before (a retry goes alone)."""
    if delivery.kind != "alert" or delivery.not_before is None or delivery.attempts:
        return None
    return str((delivery.payload or {}).get(HELD_KEY) or HELD_QUIET)


def bundle_alerts(
    deliveries: Sequence[T],
    blocks: Mapping[int, list],
    lang_of: Callable[[T], str] | None = None,
    *,
    most: int | None = None,
) -> list[tuple[list[T], list]]:
    """Claimed deliveries -> (members, blocks) units to send, in claim order.

    Several alert deliveries of one chat held for one reason (``held_reason``: its quiet
    hours, or a sending limit) become one unit whose blocks are all their blocks, after a
    short heading saying how many and why (this is the one place such headings are made):
    "免打扰期间收到 N 条提醒" only for quiet hours, "限速延后送达的 N 条提醒" for a rate
    limit. At most ``most`` alerts go in one unit (a channel whose sending limit counts
    messages keeps a bundle within one window); the sender's splitter packs a unit into as
    few messages as fit. Everything else stays one unit per delivery. Deliveries without
    blocks are left out (the caller fails them).
    """
    units: list[tuple[list[T], list]] = []
    reasons: list[str | None] = []
    open_unit: dict[tuple[int, str], int] = {}
    for d in deliveries:
        b = blocks.get(d.id)
        if not b:
            continue
        reason = held_reason(d)
        if reason in HEADINGS:
            key = (d.chat_id, reason)
            at = open_unit.get(key)
            if at is not None and (most is None or len(units[at][0]) < most):
                units[at][0].append(d)
                units[at][1].extend(b)
                continue
            open_unit[key] = len(units)
        units.append(([d], list(b)))
        reasons.append(reason)
    out = []
    for (members, unit_blocks), reason in zip(units, reasons):
        if len(members) > 1:
            lang = lang_of(members[0]) if lang_of else members[0].lang
            unit_blocks = [[(Plain(t_count(HEADINGS[reason], lang, len(members))),)], *unit_blocks]
        out.append((members, unit_blocks))
    return out
