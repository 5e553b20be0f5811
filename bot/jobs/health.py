"""Telling the admins when a source breaks, and when it recovers.

A source that failed ``THRESHOLD`` (5) polls in a row, or shows a layout problem, is
reported once to the admin chats; again when it recovers, or after 24 h if it has not. The
decision is the pure ``health_event(state, reported, now)`` over the source's one status
(``SourceState.status``); ``HealthNotifier`` reads the states through the item store,
enqueues one outbox 'notice' per admin chat (ref unique per incident, so a repeat is a
no-op) and records what was reported (``bot.store.notices``) in the same transaction.

Admin chats: the Telegram ``admin_chat_ids`` when a bot token is set, else the console chat.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.core.clock import Clock
from bot.core.i18n import count_key
from bot.store.chats import ChatStore
from bot.store.notices import Reported, SourceNotices
from config.model import Settings
from monitors.model import SourceStatus
from monitors.model import SourceState
from monitors.store import ItemStore
from monitors.wording import counted

log = logging.getLogger("shwatch.health")

THRESHOLD = 5
REPEAT_AFTER = timedelta(hours=24)
ERROR_CHARS = 300


@dataclass(frozen=True)
class HealthEvent:
    source_id: str
    event: str  # problem | still_failing | recovered
    kind: str | None  # failing | layout (None when recovered)
    failures: int
    error: str
    incident: datetime  # when the incident was (first) reported: names it in the ref


def problem_kind(state: SourceState, threshold: int = THRESHOLD) -> str | None:
    """What is worth telling the admins: 'layout' at once, 'failing' after ``threshold``
    failed polls in a row (from the source's one status, ``SourceState.status``)."""
    status = state.status
    if status is SourceStatus.LAYOUT:
        return "layout"
    if status is SourceStatus.FAILING and state.consecutive_failures >= threshold:
        return "failing"
    return None


def health_event(
    state: SourceState,
    reported: Reported | None,
    now: datetime,
    *,
    threshold: int = THRESHOLD,
    repeat: timedelta = REPEAT_AFTER,
) -> HealthEvent | None:
    """What to tell the admins about one source now, given what they were told before."""
    failures = state.consecutive_failures
    kind = problem_kind(state, threshold)
    error = " ".join((state.last_error or "").split())[:ERROR_CHARS]
    if kind is not None:
        if reported is None or reported.kind != kind:
            return HealthEvent(state.source_id, "problem", kind, failures, error, now)
        if now - reported.at >= repeat:
            return HealthEvent(state.source_id, "still_failing", kind, failures, error, now)
        return None
    if reported is not None and failures == 0:
        return HealthEvent(state.source_id, "recovered", None, 0, "", reported.at)
    return None


def notice_ref(event: HealthEvent) -> str:
    """Unique per source, incident and event; at most 64 characters."""
    ref = f"src:{event.event}:{int(event.incident.timestamp())}:{event.source_id}"
    if len(ref) > 64:
        ref = ref[:47] + ":" + hashlib.sha1(event.source_id.encode()).hexdigest()[:16]
    return ref


def notice_payload(event: HealthEvent, source_name: str) -> dict[str, Any]:
    if event.event == "recovered":
        return {"key": "notice.source_recovered", "params": {"source": source_name}}
    error = event.error or event.kind or "?"
    if event.event == "still_failing":
        return {"key": "notice.source_still_failing", "params": {"source": source_name, "error": error}}
    return {"key": count_key("notice.source_failing", event.failures), "params": {"source": source_name, "count": event.failures, "error": error}}


class HealthNotifier:
    def __init__(
        self, items: ItemStore, notices: SourceNotices, chats: ChatStore, settings: Settings, clock: Clock
    ) -> None:
        self.items = items
        self.notices = notices
        self.chats = chats
        self.settings = settings
        self.clock = clock
        self.names = {s.id: s.name for s in settings.sources}

    async def admin_chat_ids(self) -> list[int]:
        """Chat rows (ids) of the admins; created on first use."""
        ids: list[int] = []
        if self.settings.telegram.token:
            for admin in self.settings.telegram.admin_chat_ids:
                chat = await self.chats.get_or_create("telegram", str(admin), "private" if admin > 0 else "group")
                if chat.active:
                    ids.append(chat.id)
        else:
            console = await self.chats.get("console", "stdout")
            if console is not None and console.active:
                ids.append(console.id)
        return ids

    async def check(self, source_id: str | None = None) -> int:
        """Report what changed (one source or all); returns how many notices were queued."""
        now = self.clock.now()
        states = await self.items.source_states()
        if source_id is not None:
            states = {source_id: states[source_id]} if source_id in states else {}
        reported = await self.notices.reported()
        events = [e for e in (health_event(st, reported.get(sid), now) for sid, st in states.items()) if e is not None]
        if not events:
            return 0
        admins = await self.admin_chat_ids()
        queued = 0
        for event in events:
            rows = [
                {"chat_id": chat_id, "kind": "notice", "ref": notice_ref(event),
                 "payload": notice_payload(event, self.names.get(event.source_id, event.source_id))}
                for chat_id in admins
            ]
            now_reported = None if event.event == "recovered" else Reported(now, event.kind or "failing")
            queued += await self.notices.record(event.source_id, rows, now_reported)
            log.warning("source %s: %s (%s) reported to %s", event.source_id, event.event, event.kind or "ok", counted(len(admins), "admin chat"))
        return queued
