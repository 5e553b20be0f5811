"""Two ``shwatch run`` on one PostgreSQL (and, for kill -9, on one SQLite file): one leads (polls, plans, reads Telegram), the other
stands by and takes over when the leader dies (kill -9) or hangs (SIGSTOP); a paused leader
that wakes up (SIGCONT) stops leading at once. A new item published after a takeover is
alerted exactly once.

Each instance fetches with its own User-Agent, so the fake press site tells whose polls it
served; who leads is read from the instances' own log lines. The lease is 1 s.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import fake_press
import fake_telegram
import pytest
from conftest import _reset_pg
from shwatch_run import start_run, terminate

from bot.store.chats import ChatStore
from bot.store.migrate import upgrade_to_head
from monitors.db import create_engine

pytestmark = [pytest.mark.e2e]

TOKEN = "555000333:AATwoInstancesTokenNeverLogged_abcdefgh"
LEASE = 2.0  # long enough that a loaded machine's slow database answer (renewals time out after a third) does not flap the leadership
LIST = "/xwfb/index.html"
CHAT = 4242
MARK = "（接替之后）"
LEADS = re.compile(r"this instance \((\S+)\) leads until")


class Instance:
    """One ``shwatch run`` with its own config (its own User-Agent) and log."""

    def __init__(self, name: str, tmp_path: Path, config: str) -> None:
        self.name = name
        self.agent = f"shwatch-test/{name}"
        self.path = tmp_path / f"{name}.toml"
        self.path.write_text(config + f'\n[fetch]\nuser_agent = "{self.agent}"\n', encoding="utf-8")
        self.out = tmp_path / f"{name}.log"
        self.proc = start_run(self.path, self.out, tmp_path, SHWATCH_WEB_PORT="0")

    def log(self) -> str:
        return self.out.read_text(errors="replace")

    def leads(self) -> bool:
        return bool(LEADS.search(self.log()))

    def polls(self, press: fake_press.FakePress) -> int:
        """How many times this instance fetched the list page."""
        return sum(1 for h in press.requests(LIST) if h.get("User-Agent") == self.agent)

    def stop(self) -> int:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)  # a stopped process cannot handle SIGTERM
        return terminate(self.proc)


def wait(predicate, what: str, instances: list[Instance], timeout: float = 15.0) -> float:
    """Seconds until ``predicate()`` holds (polled every 20 ms)."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            logs = "\n".join(f"--- {i.name}\n{i.log()[-2500:]}" for i in instances)
            raise AssertionError(f"timed out waiting for {what}\n{logs}")
        time.sleep(0.02)
    return time.monotonic() - started


def config(postgres_url: str, press: fake_press.FakePress, telegram: fake_telegram.FakeTelegram | None) -> str:
    text = f'database_url = "{postgres_url}"\n\n{press.source_toml("xwfb", "press", "Fake press")}\n'
    text += f"[service]\nlease_seconds = {LEASE}\n\n[web]\nenabled = false\n"
    if telegram is not None:
        text += f'\n[telegram]\ntoken = "{TOKEN}"\napi_base_url = "{telegram.base_url}"\npoll_timeout = 1\n'
    return text


async def _subscribe(url: str) -> None:

    await upgrade_to_head(url)
    engine = create_engine(url)
    try:
        store = ChatStore(engine)
        chat = await store.get_or_create("telegram", str(CHAT), lang="zh", mode="instant")
        await store.set_topics(chat.id, ["online_education"])
    finally:
        await engine.dispose()


def start_pair(tmp_path: Path, text: str) -> tuple[Instance, Instance]:
    """Two instances started together; (leader, standby) once each has said which it is."""
    pair = [Instance("a", tmp_path, text), Instance("b", tmp_path, text)]
    wait(lambda: sum(i.leads() for i in pair) == 1 and all("stands by" in i.log() or i.leads() for i in pair),
         "one instance to lead and the other to stand by", pair)
    leader = next(i for i in pair if i.leads())
    return leader, next(i for i in pair if i is not leader)


def publish(press: fake_press.FakePress, title: str) -> None:
    now = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")
    press.publish("xwfb", title, "市教委发布在线教育新举措，推进在线教育发展。", now)


def test_kill_9_of_the_leader_the_standby_takes_over_polls_and_reads_telegram(db_url: str, tmp_path: Path):
    # db_url (conftest): PostgreSQL, or one SQLite file the two processes share
    asyncio.run(_subscribe(db_url))
    with fake_press.FakePress() as press, fake_telegram.FakeTelegram(token=TOKEN) as tg:
        leader, standby = start_pair(tmp_path, config(db_url, press, tg))
        pair = [leader, standby]
        try:
            wait(lambda: leader.polls(press) >= 2, "the leader's baseline poll", pair)
            assert standby.polls(press) == 0  # a standby never polls
            leader.proc.kill()
            leader.proc.wait(5)
            took = wait(standby.leads, "the standby to take over", pair)
            print(f"\nkill -9 of the leader: the standby leads {took:.2f} s later (lease {LEASE} s)")
            assert took < LEASE + 1.0
            publish(press, f"本市发布在线教育发展新举措{MARK}")
            wait(lambda: any(MARK in m.text for m in tg.messages_to(CHAT)), "the new item's alert", pair)
            # the new leader reads the chat's messages (getUpdates moved with the lease)
            tg.send_text(CHAT, "/help", language_code="zh")
            wait(lambda: any("/subscribe" in m.text for m in tg.messages_to(CHAT)), "the reply to /help", pair)
            polls = standby.polls(press)
            wait(lambda: standby.polls(press) >= polls + 1, "one more poll", pair)  # a second alert would be out now
        finally:
            codes = [i.stop() for i in pair]
        assert sum(MARK in m.text for m in tg.messages_to(CHAT)) == 1  # (the title carries markup)
        assert codes[1] == 0
        output = leader.log() + standby.log()
        assert "Traceback" not in output and TOKEN not in output
        assert tg.violations == []


@pytest.mark.postgres
def test_sigstop_of_the_leader_the_standby_takes_over_and_the_woken_leader_stands_by(postgres_url: str, tmp_path: Path):

    asyncio.run(_reset_pg(postgres_url))
    with fake_press.FakePress() as press:
        leader, standby = start_pair(tmp_path, config(postgres_url, press, None))
        pair = [leader, standby]
        try:
            wait(lambda: leader.polls(press) >= 2, "the leader's baseline poll", pair)
            os.kill(leader.proc.pid, signal.SIGSTOP)
            took = wait(standby.leads, "the standby to take over from the hung leader", pair)
            print(f"\nSIGSTOP of the leader: the standby leads {took:.2f} s later (lease {LEASE} s)")
            first = "本市发布在线教育发展新举措（暂停期间）"
            publish(press, first)
            wait(lambda: first in standby.log(), "the alert printed by the new leader", pair)
            # the old leader wakes up: it must see at once that its lease is gone
            woke_with = leader.polls(press)
            os.kill(leader.proc.pid, signal.SIGCONT)
            wait(lambda: "stands by" in leader.log().partition("stops leading")[2], "the woken leader to stand by", pair)
            second = "本市发布在线教育发展新举措（唤醒之后）"
            publish(press, second)
            wait(lambda: second in leader.log() + standby.log(), "the second alert", pair)
            polls = standby.polls(press)
            wait(lambda: standby.polls(press) >= polls + 1, "another poll by the new leader", pair)
            # at most a poll the pause interrupted finishes its request; no new poll starts
            assert leader.polls(press) <= woke_with + 1, f"the woken leader polled again\n{leader.log()[-3000:]}"
        finally:
            codes = [i.stop() for i in pair]
        output = leader.log() + standby.log()
        assert output.count(first) == 1 and output.count(second) == 1, output[-4000:]
        assert codes == [0, 0]
        assert "Traceback" not in output
