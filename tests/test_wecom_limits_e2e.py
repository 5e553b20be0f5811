"""WeCom's app limits end to end: the real `shwatch run` against the fake WeCom API (which,
like WeCom, drops and records app messages over 2048 bytes or over a member's limits) and
the fake press site.

25 alerts with long titles reach one member under small limits (`member_per_minute = 6`,
`member_per_hour = 12`): 6 alone, then bundles of at most 5 under the rate-limit heading,
each too long for one 2048-byte message and split between items. Time moves by restarting
the service with its clock shifted (SHWATCH_CLOCK_OFFSET), a minute, then an hour: each
process starts with nothing in memory, so what holds the member's limits is the count of
sends in the database. Nothing over 2048 bytes, no more than 6 in any minute or 12 in any
hour of the shifted clock, nothing lost or sent twice, and what waited arrives under the
rate-limit heading, never the quiet-hours one.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fake_press import FakePress, free_port
from fake_wecom import FakeWeCom, markdown_problems, max_in_window
from shwatch_run import start_run, terminate
from sqlalchemy import select

from bot.core.i18n import t
from bot.core.text import utf8_len
from bot.store.chats import ChatStore
from bot.store.migrate import upgrade_to_head
from bot.store.schema import chats, deliveries
from monitors.db import create_engine

pytestmark = pytest.mark.e2e

CORP_ID = "ww5e2e0000000002"
AGENT = 1000002
SECRET = "e2e-limits-secret-Zq8vN2kLmP4xR7tY"
TOKEN = "e2eLimitsTok3n"
AES_KEY = "kWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2D"
MEMBER = "zhangsan"
ALERTS = 25
PER_MINUTE, PER_HOUR = 6, 12
# the service's clock, shifted for each run: now, a minute on, then past the hour
OFFSETS = (0, 61, 3700, 3761, 3822)
HOUR_RUN = OFFSETS.index(3700)
BODY = "市教委发布在线教育发展新举措，推动优质数字教育资源共建共享。" * 30
# long titles: five alerts do not fit one 2048-byte message, so a bundle is split between items
TITLE = "本市发布在线教育发展新举措（第{}批）：关于进一步推进全市中小学数字化转型与优质数字教育资源共建共享、加强教师数字素养培训和平台建设的实施意见"


def write_config(tmp_path: Path, press: FakePress, wecom: FakeWeCom) -> Path:
    lines = [
        f'database_url = "sqlite+aiosqlite:///{tmp_path / "shwatch.db"}"',
        press.source_toml("xwfb", "xwfb", "上海发布"),
        "[wecom]",
        f'corp_id = "{CORP_ID}"', f"agent_id = {AGENT}", f'secret = "{SECRET}"', f'token = "{TOKEN}"',
        f'encoding_aes_key = "{AES_KEY}"', f'api_base_url = "{wecom.base_url}"',
        'host = "127.0.0.1"', f"port = {free_port()}",
        f"member_per_minute = {PER_MINUTE}", f"member_per_hour = {PER_HOUR}",
    ]
    path = tmp_path / "shwatch.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


async def seed_member(db: Path) -> None:

    url = f"sqlite+aiosqlite:///{db}"
    await upgrade_to_head(url)
    engine = create_engine(url)
    try:
        store = ChatStore(engine)
        chat = await store.get_or_create("wecom", MEMBER, "private", lang="zh", mode="instant")
        await store.set_topics(chat.id, ("online_education",))
    finally:
        await engine.dispose()


async def outbox_state(db: Path) -> list[tuple[str, datetime | None]]:
    """(status, not_before) of the member's alert rows."""


    engine = create_engine(f"sqlite+aiosqlite:///{db}")
    try:
        async with engine.connect() as conn:
            query = (
                select(deliveries.c.status, deliveries.c.not_before)
                .join(chats, chats.c.id == deliveries.c.chat_id)
                .where(deliveries.c.kind == "alert", chats.c.channel == "wecom", chats.c.address == MEMBER)
            )
            rows = (await conn.execute(query)).all()
    finally:
        await engine.dispose()
    return rows


class Run:
    def __init__(self, config: Path, workdir: Path, offset: int) -> None:
        self.log_path = workdir / f"run-{offset}.log"
        self.proc = start_run(
            config, self.log_path, workdir, SHWATCH_WEB_PORT="0", SHWATCH_CLOCK_OFFSET=str(offset), PYTHONIOENCODING="utf-8"
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        return terminate(self.proc)


def wait(predicate, timeout: float, run: Run, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if run.proc.poll() is not None:
            raise AssertionError(f"shwatch run exited early:\n{run.log()[-3000:]}")
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}\n{run.log()[-3000:]}")


def settled(db: Path, offset: int, expected_rows: int) -> bool:
    """Every alert row exists and none is being sent or due on the shifted clock."""
    rows = asyncio.run(outbox_state(db))
    now = datetime.now(timezone.utc).timestamp() + offset
    waiting = [nb for status, nb in rows if status == "pending"]
    return (
        len(rows) == expected_rows
        and not any(status == "sending" for status, _ in rows)
        and all(nb is not None and nb.replace(tzinfo=timezone.utc).timestamp() > now for nb in waiting)
    )


def test_many_alerts_to_one_member_keep_wecoms_limits_across_restarts(tmp_path):
    db = tmp_path / "shwatch.db"
    asyncio.run(seed_member(db))
    shift = [0.0]
    with FakePress() as press, FakeWeCom(
        corp_id=CORP_ID, secret=SECRET, agent_id=AGENT, clock=lambda: time.time() + shift[0],
        member_per_minute=PER_MINUTE, member_per_hour=PER_HOUR,
    ) as wecom:
        config = write_config(tmp_path, press, wecom)
        sent_per_run = []
        logs = []
        for n, offset in enumerate(OFFSETS):
            shift[0] = offset
            before = len(wecom.messages_to(MEMBER))
            run = Run(config, tmp_path, offset)
            try:
                if n == 0:
                    wait(lambda: press.hits("/xwfb/index.html") >= 2, 30, run, "the baseline poll")
                    today = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")
                    for i in range(ALERTS):
                        press.publish("xwfb", TITLE.format(i), BODY, today)
                    wait(lambda: len(wecom.messages_to(MEMBER)) >= PER_MINUTE, 30, run, "the first minute's messages")
                wait(lambda: settled(db, offset, ALERTS), 30, run, "the outbox to settle")
            finally:
                code = run.stop()
                logs.append(run.log())
            assert code == 0, logs[-1][-3000:]
            sent_per_run.append(len(wecom.messages_to(MEMBER)) - before)
            rows = asyncio.run(outbox_state(db))
            if all(status == "sent" for status, _ in rows):
                break
        messages = wecom.messages_to(MEMBER)
        text = "\n".join(m.content for m in messages)
        per_message = [m.content.count("（第") for m in messages]
        print(f"\nWeCom limits e2e: messages per run {sent_per_run}; items per message {per_message}; "
              f"largest {max(utf8_len(m.content) for m in messages)} bytes")
        assert all(status == "sent" for status, _ in asyncio.run(outbox_state(db))), sent_per_run
        assert all(text.count(f"（第{i}批）") == 1 for i in range(ALERTS))  # nothing lost, nothing twice
        for m in messages:  # every message carries whole items: each title with its link
            assert m.content.count("（第") == m.content.count("](http"), m.content
        assert max(per_message) < PER_MINUTE - 1 and max(utf8_len(m.content) for m in messages) > 1536  # bundles split
        assert wecom.violations == [] and wecom.dropped == []
        assert all(utf8_len(m.content) <= 2048 and markdown_problems(m.content, 2048) == [] for m in messages)
        times = [m.at for m in messages]
        assert max_in_window(times, 60) <= PER_MINUTE and max_in_window(times, 3600) <= PER_HOUR
        # the hour's limit held the rest back to the next hour
        assert sum(sent_per_run[:HOUR_RUN]) <= PER_HOUR and len(sent_per_run) > HOUR_RUN and sent_per_run[HOUR_RUN] > 0
        headings = [m.content.split("\n")[0] for m in messages if not m.content.startswith("**")]
        assert headings and all(h.startswith("⏳ 限速延后送达的") for h in headings), headings
        quiet = t("quiet.held", "zh", count=2).split("2")[0]
        assert quiet not in text
        for secret in (SECRET, AES_KEY, TOKEN):
            assert all(secret not in log for log in logs)
