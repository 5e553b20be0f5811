"""The status line of `shwatch run` (bot.jobs.status) and the wording rules it uses
(monitors.wording): counts, plurals and time-zone labels. Pure, on a FakeClock."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from bot.core.clock import FakeClock
from bot.jobs.periodic import Every
from bot.jobs.status import PollStatus, failing_line, status_line
from config.model import Source
from monitors.fetch import HOST_NOT_FOUND, OFFLINE_HINT, offline_hint
from monitors.wording import counted, plural, zone_label

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 6, 13, 21, 30, tzinfo=timezone.utc)  # 05:30 on the 14th in Shanghai


def test_counts_take_the_plural_only_when_not_one():
    assert [counted(n, "source") for n in (0, 1, 2)] == ["0 sources", "1 source", "2 sources"]
    assert counted(1, "new item") == "1 new item" and counted(3, "new item") == "3 new items"
    assert counted(3, "delivery") == "3 deliveries" and counted(2, "alert delivery") == "2 alert deliveries"
    assert plural("match", 2) == "matches" and plural("is", 2) == "are" and plural("is", 1) == "is"


def test_a_zone_has_one_label_whatever_the_times_shown():
    assert zone_label(SHANGHAI) == zone_label("Asia/Shanghai") == "+08:00"
    assert zone_label("UTC") == "+00:00" and zone_label("Asia/Kolkata") == "+05:30"
    assert zone_label("America/Caracas") == "-04:00"
    # a zone with daylight saving time is named: its offset depends on the day
    assert zone_label("Europe/Berlin") == "Europe/Berlin"


def test_status_and_failure_lines():
    states = {"a": "ok", "b": "ok", "c": "failing", "d": "not polled yet"}
    soon = datetime(2026, 6, 13, 21, 40, tzinfo=timezone.utc)
    assert status_line(states, soon, NOW, SHANGHAI) == "4 sources: 2 ok, 1 failing, 1 not polled yet; next poll 05:40 (+08:00)"
    assert status_line({"a": "ok"}, None, NOW, SHANGHAI) == "1 source: 1 ok, 0 failing"
    tomorrow = datetime(2026, 6, 14, 16, 5, tzinfo=timezone.utc)
    assert failing_line("gov-press", "connection refused", tomorrow, NOW, SHANGHAI) == (
        "source gov-press failing (connection refused); next try 2026-06-15 00:05 (+08:00)"
    )


def _status(next_polls: dict[str, float | None]) -> PollStatus:
    sources = [Source(id=i, name=i, url=f"https://example.gov.cn/{i}/") for i in ("a", "b")]
    return PollStatus(sources, FakeClock(NOW), "Asia/Shanghai", lambda: next_polls)


def _lines(caplog) -> list[str]:
    lines = [r.getMessage() for r in caplog.records if r.name == "shwatch.status"]
    caplog.clear()
    return lines


def test_one_line_per_failure_a_status_line_per_change_and_after_the_first_round(caplog):
    caplog.set_level(logging.INFO, logger="shwatch.status")
    nexts: dict[str, float | None] = {"a": 600.0, "b": 1200.0}
    status = _status(nexts)
    status.polled("a", None)
    assert _lines(caplog) == []  # b has not been polled yet: no status line per source at start-up
    status.polled("b", "connection refused")
    assert _lines(caplog) == [
        "source b failing (connection refused); next try 05:50 (+08:00)",
        "2 sources: 1 ok, 1 failing; next poll 05:40 (+08:00)",
    ]
    nexts["b"] = 2400.0
    status.polled("b", "connection refused")  # failing still: the failure, no status line
    status.polled("a", None)  # ok still: nothing
    assert _lines(caplog) == ["source b failing (connection refused); next try 06:10 (+08:00)"]
    status.polled("b", None)
    assert _lines(caplog) == ["source b ok again", "2 sources: 2 ok, 0 failing; next poll 05:40 (+08:00)"]


def test_when_no_host_name_resolves_the_status_says_the_machine_may_be_offline(caplog):
    caplog.set_level(logging.INFO, logger="shwatch.status")
    status = _status({"a": 600.0, "b": 1200.0})
    status.polled("a", HOST_NOT_FOUND)
    status.polled("b", HOST_NOT_FOUND)
    assert _lines(caplog)[-2:] == ["2 sources: 0 ok, 2 failing; next poll 05:40 (+08:00)", OFFLINE_HINT]
    status.polled("b", "connection refused")  # that host answered: the network is there
    status.report()
    assert OFFLINE_HINT not in _lines(caplog)
    status.polled("b", HOST_NOT_FOUND)
    status.polled("a", None)  # one works: the others' names are the problem, not the machine
    status.report()
    assert OFFLINE_HINT not in _lines(caplog)
    assert offline_hint([HOST_NOT_FOUND]) is None  # one source alone proves nothing


async def test_the_status_line_comes_every_period_of_the_clock(caplog):

    caplog.set_level(logging.INFO, logger="shwatch.status")
    clock = FakeClock(NOW)
    sources = [Source(id="a", name="a", url="https://example.gov.cn/a/")]
    status = PollStatus(sources, clock, "Asia/Shanghai", lambda: {"a": None}, every=600)
    await status.start()
    try:
        await asyncio.sleep(0)
        clock.advance(599)
        await asyncio.sleep(0)
        assert _lines(caplog) == []
        for _ in range(2):
            clock.advance(1)
            for _ in range(3):
                await asyncio.sleep(0)
            clock.advance(599)
            await asyncio.sleep(0)
        assert _lines(caplog) == ["1 source: 0 ok, 0 failing, 1 not polled yet"] * 2
    finally:
        await status.stop()


async def test_a_periodic_job_runs_on_the_clock_and_survives_a_failure(caplog):

    clock = FakeClock()
    runs: list[int] = []
    ran = asyncio.Event()

    async def action() -> None:
        runs.append(len(runs))
        ran.set()
        if len(runs) == 1:
            raise RuntimeError("store unreachable")

    job = Every("requeue", 60.0, action, clock)
    await job.start()
    try:
        for expected in (1, 2):
            while clock.next_deadline() is None:  # the job is asleep on the clock
                await asyncio.sleep(0)
            assert len(runs) == expected - 1  # nothing ran before its minute was up
            clock.advance(60)
            await asyncio.wait_for(ran.wait(), 5)
            ran.clear()
    finally:
        await job.stop()
    assert runs == [0, 1]  # the failure did not stop it
    failed = [r for r in caplog.records if "requeue failed" in r.getMessage()]
    assert len(failed) == 1 and "store unreachable" in failed[0].getMessage() and failed[0].exc_info is None
