"""``shwatch run`` says how its sources are doing, in one log line, so a person at the
terminal knows it is alive and when it tries again:

    14 sources: 12 ok, 2 failing; next poll 05:40 (+08:00)
    source gov-press failing (connection refused); next try 05:52 (+08:00)
    source gov-press ok again

The status line comes every ``[console] status_interval`` seconds (10 minutes by default)
and whenever a source changes state (after start-up, once every source has been polled:
one line for the first round, not one per source). A failed poll is one line naming the
source, why, and its next try (the poller itself logs no failure); a source that works
again is one line. Log lines are English, like every log line; times are shown in the
configured zone with its label (``monitors.wording.zone_label``).

The timetable knows when each source is polled next (``Timetable.next_polls``, seconds from
now); the injected clock says what time it is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from bot.core.clock import Clock
from bot.jobs.periodic import Every
from config.model import Source
from monitors.fetch import offline_hint
from monitors.wording import counted, zone_label

log = logging.getLogger("shwatch.status")

STATUS_EVERY = 600.0  # seconds; the default of [console] status_interval

NEVER, OK, FAILING = "not polled yet", "ok", "failing"

NextPolls = Callable[[], Mapping[str, float | None]]


def clock_time(moment: datetime, now: datetime, zone: tzinfo) -> str:
    """``HH:MM`` in ``zone`` (with the date when it is not today there) and the zone's label."""
    local, today = moment.astimezone(zone), now.astimezone(zone).date()
    shown = local.strftime("%H:%M") if local.date() == today else local.strftime("%Y-%m-%d %H:%M")
    return f"{shown} ({zone_label(zone)})"


def status_line(states: Mapping[str, str], next_poll: datetime | None, now: datetime, zone: tzinfo) -> str:
    """"14 sources: 12 ok, 2 failing; next poll 05:40 (+08:00)"."""
    counts = {state: sum(1 for s in states.values() if s == state) for state in (OK, FAILING, NEVER)}
    parts = [f"{counts[OK]} ok", f"{counts[FAILING]} failing"]
    if counts[NEVER]:
        parts.append(f"{counts[NEVER]} {NEVER}")
    line = f"{counted(len(states), 'source')}: {', '.join(parts)}"
    if next_poll is not None:
        line += f"; next poll {clock_time(next_poll, now, zone)}"
    return line


def failing_line(source_id: str, error: str | None, next_try: datetime | None, now: datetime, zone: tzinfo) -> str:
    """"source gov-press failing (connection refused); next try 05:52 (+08:00)"."""
    line = f"source {source_id} failing ({error or 'no result'})"
    if next_try is not None:
        line += f"; next try {clock_time(next_try, now, zone)}"
    return line


class PollStatus:
    """The service component that logs the sources' status (see the module's docstring).

    ``polled(source_id, error)`` is called after each poll (``error`` None: it worked),
    when the timetable has decided the source's next poll."""

    name = "status"

    def __init__(
        self,
        sources: Sequence[Source],
        clock: Clock,
        timezone: str,
        next_polls: NextPolls,
        *,
        every: float = STATUS_EVERY,
    ) -> None:
        self.clock = clock
        self.zone = ZoneInfo(timezone)
        self.next_polls = next_polls
        self.source_ids = [s.id for s in sources]
        # each polled source's last poll: its failure, or None when it worked (the states are
        # read from it: ``state``)
        self.errors: dict[str, str | None] = {}
        self._periodic = Every("status line", every, self._report_now, clock)

    def state(self, source_id: str) -> str:
        if source_id not in self.errors:
            return NEVER
        return OK if self.errors[source_id] is None else FAILING

    @property
    def states(self) -> dict[str, str]:
        return {source_id: self.state(source_id) for source_id in dict.fromkeys([*self.source_ids, *self.errors])}

    def polled(self, source_id: str, error: str | None) -> None:
        before = self.state(source_id)
        now = self.clock.now()
        self.errors[source_id] = error
        if error is not None:
            log.warning("%s", failing_line(source_id, error, self._at(self.next_polls().get(source_id), now), now, self.zone))
        elif before == FAILING:
            log.info("source %s ok again", source_id)
        changed = self.state(source_id) != before
        first_round_done = changed and before == NEVER and all(i in self.errors for i in self.source_ids)
        if first_round_done or (changed and before != NEVER):
            self.report()

    def line(self) -> str:
        now = self.clock.now()
        upcoming = [s for s in self.next_polls().values() if s is not None]
        return status_line(self.states, self._at(min(upcoming), now) if upcoming else None, now, self.zone)

    def report(self) -> None:
        log.info("%s", self.line())
        hint = offline_hint([self.errors.get(source_id) for source_id in self.states])
        if hint:  # every source failed the same way: this machine is the likely cause
            log.warning("%s", hint)

    @staticmethod
    def _at(seconds: float | None, now: datetime) -> datetime | None:
        return None if seconds is None else now + timedelta(seconds=seconds)

    async def start(self) -> None:
        await self._periodic.start()

    async def stop(self) -> None:
        await self._periodic.stop()

    async def _report_now(self) -> None:
        self.report()
