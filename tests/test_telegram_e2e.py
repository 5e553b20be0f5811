"""The real ``shwatch run`` against a fake Telegram Bot API and a fake press site.

One service process (module fixture) serves the conversation tests; the restart test runs
a process of its own (it is killed with SIGKILL on purpose). Every test ends by checking
that the fake saw no rate-limit violation.
"""

from __future__ import annotations

import asyncio
import html as _html
import os
import signal
import subprocess
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import fake_press
import fake_telegram
import httpx
import pytest
from fake_press import free_port
from shwatch_run import SHWATCH
from sqlalchemy import func, select

from bot.core.i18n import join, t
from bot.store.schema import chats, deliveries
from config.settings import load_default_topics
from monitors.db import create_engine
from monitors.store import ItemStore

pytestmark = pytest.mark.e2e

TOKEN = "987654321:AAE2eTestTokenDoNotLeak_zYxWvUtSrQpOn"
ADMIN = 4242
# The services here run on a clock RATE times faster than real time (SHWATCH_CLOCK_RATE), and
# the fake Bot API judges Telegram's limits on that clock: a conversation paced at one reply
# per second per chat takes a fifth of the real time.
RATE = 5
TOPICS = {tp.id: tp for tp in load_default_topics()}


def now_in_shanghai() -> str:
    return datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")


def write_config(path: Path, db: Path, tg: fake_telegram.FakeTelegram, press: fake_press.FakePress) -> Path:
    path.write_text(
        f"""
database_url = "sqlite+aiosqlite:///{db}"

[telegram]
token = "{TOKEN}"
api_base_url = "{tg.base_url}"
admin_chat_ids = [{ADMIN}]
poll_timeout = 1

{press.source_toml("xwfb", "press-zh", "Fake press (zh)")}
{press.source_toml("en", "press-en", "Fake press (en)", lang="en")}""",
        encoding="utf-8",
    )
    return path


class Service:
    """A running ``shwatch run`` subprocess with its output in files."""

    def __init__(self, config: Path, workdir: Path, name: str, web_port: int = 0, since: float | None = None) -> None:
        self.stdout_path = workdir / f"{name}.out"
        self.stderr_path = workdir / f"{name}.err"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "SHWATCH_"))}
        env["SHWATCH_WEB_PORT"] = str(web_port)  # 0: any free port, services never collide on 8080
        env["SHWATCH_CLOCK_RATE"] = str(RATE)
        env["SHWATCH_CLOCK_SINCE"] = repr(since if since is not None else time.time())
        self.proc = subprocess.Popen(
            [str(SHWATCH), "--config", str(config), "--log-level", "INFO", "run"],
            stdout=self.stdout_path.open("wb"),
            stderr=self.stderr_path.open("wb"),
            cwd=workdir,
            env=env,
        )

    def output(self) -> str:
        return self.stdout_path.read_text(errors="replace") + self.stderr_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.alive():
            self.proc.kill()
            self.proc.wait(10)

    def terminate(self, timeout: float = 10.0) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)


def wait_until_ready(tg: fake_telegram.FakeTelegram, press: fake_press.FakePress, service: Service) -> None:
    """Polling Telegram, and both sources have had their baseline poll."""
    def ready() -> bool:
        if not service.alive():
            raise AssertionError(f"shwatch run exited early:\n{service.output()[-3000:]}")
        return (
            len(tg.requests("getUpdates")) >= 1
            and press.hits("/xwfb/index.html") >= 2
            and press.hits("/en/index.html") >= 2
        )

    tg.wait_for(ready, timeout=30)


@pytest.fixture(scope="module")
def press():
    server = fake_press.FakePress().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def tg():
    server = fake_telegram.FakeTelegram(token=TOKEN, rate=RATE).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def service(tmp_path_factory, tg, press):
    workdir = tmp_path_factory.mktemp("e2e")
    config = write_config(workdir / "shwatch.toml", workdir / "shwatch.db", tg, press)
    svc = Service(config, workdir, "main")
    try:
        wait_until_ready(tg, press, svc)
        yield svc
    finally:
        svc.kill()


@pytest.fixture(autouse=True)
def no_violations(request):
    yield
    if "tg" in request.fixturenames:
        tg = request.getfixturevalue("tg")
        assert tg.violations == [], f"rate limits broken: {tg.violations[:5]}"


class Person:
    """Someone talking to the bot in one chat."""

    def __init__(self, tg, service, chat_id, lang_code="en", user_id=None, chat_type=None):
        self.tg, self.service = tg, service
        self.chat_id, self.lang_code = chat_id, lang_code
        self.user_id = user_id if user_id is not None else chat_id
        self.chat_type = chat_type

    def say(self, text: str, user_id: int | None = None, timeout: float = 15.0) -> fake_telegram.SentMessage:
        after = len(self.tg.sent)
        self.tg.send_text(
            self.chat_id, text, user_id=user_id or self.user_id, language_code=self.lang_code, chat_type=self.chat_type
        )
        return self.tg.wait_for_message(lambda m: m.chat_id == self.chat_id and m.method == "sendMessage", timeout, after=after)

    def replies(self, text: str, user_id: int | None = None, timeout: float = 15.0) -> list[fake_telegram.SentMessage]:
        """All parts of a (possibly multi-part) reply."""
        first = self.say(text, user_id, timeout)
        time.sleep(1.5)  # one message per second per chat: a second part would be here by now
        parts = [m for m in self.tg.messages_to(self.chat_id) if m.message_id >= first.message_id]
        return parts


def html(text: str) -> str:
    """What an i18n sentence looks like in Telegram HTML."""

    return _html.escape(text, quote=False)


# ------------------------------------------------------------------ start-up


def test_commands_registered_in_english_and_chinese(service, tg):
    tg.wait_for(lambda: {"", "zh"} <= set(tg.commands), timeout=10)
    en = {c["command"]: c["description"] for c in tg.commands[""]}
    zh = {c["command"]: c["description"] for c in tg.commands["zh"]}
    for name in ("start", "help", "topics", "subscribe", "unsubscribe", "alert", "alerts", "latest", "sources", "mode", "stop"):
        assert en[name] == t(f"cmd.{name}", "en")
        assert zh[name] == t(f"cmd.{name}", "zh")
    assert en["topics"] != zh["topics"]


# ------------------------------------------------------------------ conversations


@pytest.mark.parametrize("lang,code,chat_id", [("en", "en", 1001), ("zh", "zh-hans", 1002)])
def test_every_command_in_both_languages(service, tg, lang, code, chat_id):
    p = Person(tg, service, chat_id, code)
    assert html(t("start.welcome", lang)) in p.say("/start").text
    helptext = p.say("/help").text
    assert html(t("help.title", lang)) in helptext and "/alert add" in helptext

    topics = p.say("/topics")
    assert html(t("topics.title", lang)) in topics.text
    assert len([b for b in topics.buttons if b[1].startswith("t:")]) == 12 + 2  # 12 fields, all, none

    names = join([TOPICS["online_education"].name(lang), TOPICS["remote_office"].name(lang)], lang)
    assert html(t("sub.added", lang, topics=names)) in p.say("/subscribe online_education remote_office").text
    assert html(t("sub.now", lang, count=2)) in p.say("/subscribe online_education").text
    assert html(t("sub.now", lang, count=1)) in p.say("/unsubscribe remote_office").text

    added = p.say('/alert add "machine learning" -exclude jobs').text
    assert html(t("alert.added", lang, keyword="machine learning")) in added
    assert "jobs" in added
    listed = p.say("/alerts").text
    assert "<code>machine learning</code>" in listed
    assert html(t("alert.deleted", lang, keyword="machine learning")) in p.say("/alert del machine learning").text
    assert html(t("alert.list_empty", lang)) in p.say("/alerts").text

    latest = p.say("/latest 3").text
    assert html(t("latest.none", lang)) in latest or html(t("alert.open", lang)) in latest
    sources = p.say("/sources").text
    assert "Fake press (zh)" in sources and "Fake press (en)" in sources

    assert html(t("mode.set_both", lang, time="08:00", tz="Asia/Shanghai")) in p.say("/mode both").text
    assert html(t("digest.on", lang, time="07:15", tz="Asia/Shanghai")) in p.say("/digest 07:15").text
    assert html(t("quiet.set", lang, start="22:00", end="07:30", tz="Asia/Shanghai")) in p.say("/quiet 22:00-07:30").text
    assert html(t("tz.set", lang, tz="Europe/London")) in p.say("/tz Europe/London").text

    # not an administrator of the bot
    assert html(t("refuse.admin", lang, command="/stats")) in p.say("/stats").text
    assert html(t("refuse.admin", lang, command="/health")) in p.say("/health").text

    # unknown command and plain text get a hint
    assert html(t("hint.unknown", lang, command="/frobnicate")) in p.say("/frobnicate").text
    assert html(t("hint.text", lang)) in p.say("hello there").text
    # in a private chat only this bot reads the message, whatever @suffix it carries: never silence
    assert html(t("help.title", lang)) in p.say("/help@some_other_bot").text
    # nor for a location, sticker, photo ...
    after = len(tg.sent)
    tg.inject({"message": {
        "message_id": 10**6 + chat_id, "date": int(time.time()), "chat": {"id": chat_id, "type": "private", "first_name": "T"},
        "from": {"id": chat_id, "is_bot": False, "first_name": "T", "language_code": code},
        "location": {"latitude": 31.23, "longitude": 121.47},
    }})
    hint = tg.wait_for_message(lambda m: m.chat_id == chat_id, after=after)
    assert hint.text == html(t("hint.non_text", lang))

    # switch language, then stop
    other = "zh" if lang == "en" else "en"
    assert html(t("lang.set", other)) in p.say(f"/lang {other}").text
    assert html(t("stop.done", other, alerts=0)) in p.say("/stop").text


def test_admin_commands_for_the_bot_admin(service, tg):
    admin = Person(tg, service, ADMIN, "en")
    stats = admin.say("/stats").text
    assert html(t("stats.title", "en")) in stats
    assert "Deliveries:" in stats
    health = admin.say("/health").text
    assert html(t("health.title", "en")) in health
    assert "Database: ok (sqlite)" in health


def test_group_settings_need_a_group_admin(service, tg):
    group = -2001
    tg.set_admins(group, {31})
    member = Person(tg, service, group, "en", user_id=32, chat_type="group")
    admin = Person(tg, service, group, "zh-hans", user_id=31, chat_type="group")
    assert html(t("refuse.group", "en")) in member.say("/subscribe online_healthcare").text
    # reading is fine for anyone
    menu = member.say("/topics")
    assert html(t("topics.title", "en")) in menu.text
    # a member's button press: a pop-up for that member only, nothing posted to the group, nothing changed
    before, answers = len(tg.messages_to(group)), len(tg.callback_answers)
    tg.press_button(menu, "t:online_education", user_id=32, language_code="en")
    answer = tg.wait_for(lambda: tg.callback_answers[answers:] and tg.callback_answers[answers])
    assert answer["text"] == t("refuse.group", "en") and answer.get("show_alert") in (True, "true")
    # the bot handles a chat's updates in order: once the admin's next command is answered,
    # anything the press would have caused is already there
    subscribed = admin.say("/subscribe online_healthcare")
    assert html(t("sub.now", "en", count=1)) in subscribed.text
    assert [m.message_id for m in tg.messages_to(group)[before:]] == [subscribed.message_id]
    assert html(t("refuse.group", "en")) in member.say("/alert add 医院").text
    assert html(t("refuse.group", "en")) in member.say("/stop").text
    # plain chatter and other bots' commands in a group are not for the bot: no reply
    before = len(tg.messages_to(group))
    tg.send_text(group, "good morning everyone", user_id=32, chat_type="group")
    tg.send_text(group, "/help@some_other_bot", user_id=32, chat_type="group")
    helped = member.say(f"/help@{fake_telegram.BOT_USERNAME}")  # answered after the two above
    assert html(t("help.title", "en")) in helped.text
    assert [m.message_id for m in tg.messages_to(group)[before:]] == [helped.message_id]
    assert tg.requests("getChatMember")


@pytest.mark.parametrize("lang,code,chat_id", [("en", "en", 1101), ("zh", "zh-hans", 1102)])
def test_bad_input_gets_a_clear_answer_and_stores_nothing(service, tg, lang, code, chat_id):
    p = Person(tg, service, chat_id, code)
    long_kw = "k" * 51
    assert html(t("err.keyword_long", lang, length=51, limit=50)) in p.say(f"/alert add {long_kw}").text
    ids = ", ".join(tp.id for tp in TOPICS.values() if tp.kind == "field")
    assert html(t("err.unknown_topic", lang, value="nosuchfield", ids=ids)) in p.say("/subscribe nosuchfield").text
    assert html(t("err.quotes", lang, quote='"')) in p.say('/alert add "half open').text
    assert html(t("err.keyword_empty", lang)) in p.say('/alert add ""').text
    assert html(t("err.bad_time", lang, value="25:99")) in p.say("/digest 25:99").text
    assert html(t("err.bad_latest", lang, value="999", limit=20)) in p.say("/latest 999").text
    assert html(t("alert.list_empty", lang)) in p.say("/alerts").text  # nothing was stored


def test_keyboard_toggle_edits_the_message(service, tg):
    p = Person(tg, service, 1201, "en")
    menu = p.say("/topics")
    label = next(label for label, data in menu.buttons if data == "t:new_mobility")
    assert label.startswith("▫️")
    after = len(tg.sent)
    tg.press_button(menu, "t:new_mobility", language_code="en")
    edited = tg.wait_for_message(lambda m: m.chat_id == 1201 and m.method == "editMessageText", after=after)
    assert edited.message_id == menu.message_id
    assert dict((d, l) for l, d in edited.buttons)["t:new_mobility"].startswith("✅")
    tg.wait_for(lambda: any(a.get("text") == t("toast.on", "en", topic="New mobility") for a in tg.callback_answers))
    assert "New mobility" in p.say("/subscribe new_mobility").text  # already subscribed now


# ------------------------------------------------------------------ alerts


def test_alert_for_a_newly_published_item(service, tg, press):
    zh = Person(tg, service, 1301, "zh-hans")
    en = Person(tg, service, 1302, "en")
    zh.say("/subscribe unmanned_factory")
    en.say("/alert add quokka")
    url_zh = press.publish("xwfb", "本市发布无人工厂建设新举措", "市经信委表示，将加快推进无人工厂建设。\n\n首批试点企业名单同时公布。", now_in_shanghai())
    url_en = press.publish("en", "Quokka sanctuary opens in Pudong", "A quokka sanctuary opened in Pudong on Monday.", now_in_shanghai())
    alert_zh = tg.wait_for_message(lambda m: m.chat_id == 1301 and "建设新举措" in m.text, timeout=30)
    assert alert_zh.parse_mode == "HTML"
    assert alert_zh.text.startswith("<b>本市发布")  # title in bold
    assert f'<a href="{url_zh}">{t("alert.open", "zh")}</a>' in alert_zh.text
    assert t("alert.fields", "zh") in alert_zh.text and "<b><u>无人工厂</u></b>" in alert_zh.text
    assert "Fake press (zh)" in alert_zh.text
    alert_en = tg.wait_for_message(lambda m: m.chat_id == 1302 and "sanctuary" in m.text, timeout=30)
    assert t("alert.keywords", "en") in alert_en.text and "<u>quokka</u>" in alert_en.text.lower()
    assert f'href="{url_en}"' in alert_en.text
    # once each, and nothing for the English item in the Chinese chat (both items are
    # planned: their alerts came; nothing is left to send to either chat)
    tg.wait_for(lambda: unsettled(service, 1301) == 0 and unsettled(service, 1302) == 0, timeout=10)
    assert len([m for m in tg.messages_to(1301) if "建设新举措" in m.text]) == 1
    assert len([m for m in tg.messages_to(1302) if "sanctuary" in m.text]) == 1
    assert not [m for m in tg.messages_to(1301) if "sanctuary" in m.text]
    # /latest shows the same item, newest first
    latest = zh.say("/latest").text
    assert latest.startswith("<b>" + html(t("latest.title", "zh", count=1)))
    assert "建设新举措" in latest and f'href="{url_zh}"' in latest


def test_flood_wait_on_one_chat_while_others_continue(service, tg, press):
    people = [Person(tg, service, 1400 + i, "en") for i in range(4)]
    for p in people:
        p.say("/alert add wombat")
    tg.fail_next(1400, "429", retry_after=4)
    press.publish("en", "Wombat crossing signs go up on Chongming", "New wombat crossing signs were put up.", now_in_shanghai())

    def alerts():
        return {m.chat_id: m for m in tg.sent if m.chat_id in range(1400, 1404) and "crossing signs" in m.text}

    got = tg.wait_for(lambda: (a := alerts()) and len(a) == 4 and a, timeout=40)
    rejected_at = next(i for i, r in enumerate(tg.rejected) if r[0] == 1400)
    assert tg.rejected[rejected_at][1] == "429"
    # the others did not wait for the flooded chat
    assert all(got[c].at < got[1400].at for c in (1401, 1402, 1403))
    assert got[1400].at - max(got[c].at for c in (1401, 1402, 1403)) > 2.0
    tg.wait_for(lambda: unsettled(service, 1400) == 0, timeout=10)  # nothing left to send it
    assert len([m for m in tg.messages_to(1400) if "crossing signs" in m.text]) == 1


def test_blocked_user_gets_no_more_messages(service, tg, press):
    gone = Person(tg, service, 1501, "en")
    stays = Person(tg, service, 1502, "en")
    gone.say("/alert add platypus")
    stays.say("/alert add platypus")
    tg.block(1501)
    press.publish("en", "Platypus exhibit draws crowds", "The platypus exhibit drew crowds.", now_in_shanghai())
    tg.wait_for_message(lambda m: m.chat_id == 1502 and "exhibit draws crowds" in m.text, timeout=30)
    tg.wait_for(lambda: [r for r in tg.rejected if r[0] == 1501], timeout=10)
    press.publish("en", "Second platypus exhibit planned", "Another platypus exhibit is planned.", now_in_shanghai())
    tg.wait_for_message(lambda m: m.chat_id == 1502 and "exhibit planned" in m.text, timeout=30)
    tg.wait_for(lambda: unsettled(service, 1501) == 0, timeout=10)  # nothing left to send it
    assert [r for r in tg.rejected if r[0] == 1501] == [(1501, "403")]  # tried once, then never again


# ------------------------------------------------------------------ restart


def test_restart_after_kill_delivers_pending_once(tmp_path, press):
    with fake_telegram.FakeTelegram(token=TOKEN, rate=RATE) as tg2:
        config = write_config(tmp_path / "shwatch.toml", tmp_path / "restart.db", tg2, press)
        # one scaled clock for both processes: the restart does not turn the time back (the
        # held alert's retry time would lie far in the second process's future)
        since = time.time()
        first = Service(config, tmp_path, "first", since=since)
        try:
            wait_until_ready(tg2, press, first)
            sent_ok = Person(tg2, first, 1601, "en")
            held = Person(tg2, first, 1602, "en")
            sent_ok.say("/alert add numbat")
            held.say("/alert add numbat")
            tg2.fail_next(1602, "429", retry_after=25)  # keeps 1602's alert pending
            press.publish("en", "Numbat habitat restored", "A numbat habitat was restored.", now_in_shanghai())
            tg2.wait_for_message(lambda m: m.chat_id == 1601 and "habitat restored" in m.text, timeout=30)
            tg2.wait_for(lambda: (1602, "429") in tg2.rejected, timeout=10)
            # 1601's alert is recorded as sent (a kill between the send and the record may
            # repeat a message in flight; this test is about the held one)
            tg2.wait_for(lambda: alert_statuses(tmp_path / "restart.db").get("1601") == "sent", timeout=10)
        finally:
            first.kill()  # SIGKILL while 1602's alert is claimed and unsent
        assert not [m for m in tg2.messages_to(1602) if "habitat restored" in m.text]

        tg2.reset_limits()
        second = Service(config, tmp_path, "second", since=since)
        try:
            got = tg2.wait_for_message(lambda m: m.chat_id == 1602 and "habitat restored" in m.text, timeout=30)
            assert got.parse_mode == "HTML"
            db = tmp_path / "restart.db"
            tg2.wait_for(lambda: unsettled(db, 1601) == 0 and unsettled(db, 1602) == 0, timeout=10)
            assert len([m for m in tg2.messages_to(1602) if "habitat restored" in m.text]) == 1
            assert len([m for m in tg2.messages_to(1601) if "habitat restored" in m.text]) == 1  # not resent
            assert second.terminate() == 0
        finally:
            second.kill()
        assert tg2.violations == []
        assert TOKEN not in first.output() + second.output()


# ------------------------------------------------------------------ console


def unsettled(db: Path | Service, chat_id: int) -> int:
    """How many deliveries to ``chat_id`` the store at ``db`` (or the module's service's
    store) still has to send (pending or being sent): at 0 nothing more can go out to that
    chat without a new item."""
    if isinstance(db, Service):
        db = db.stdout_path.parent / "shwatch.db"


    async def count() -> int:
        engine = create_engine(f"sqlite+aiosqlite:///{db}")
        try:
            async with engine.connect() as conn:
                q = (
                    select(func.count()).select_from(deliveries.join(chats, chats.c.id == deliveries.c.chat_id))
                    .where(chats.c.address == str(chat_id), deliveries.c.status.in_(("pending", "sending")))
                )
                return (await conn.execute(q)).scalar_one()
        finally:
            await engine.dispose()

    return asyncio.run(count())


def alert_statuses(db: Path) -> dict[str, str]:
    """Each chat's alert delivery status in the store at ``db``."""


    async def read() -> dict[str, str]:
        engine = create_engine(f"sqlite+aiosqlite:///{db}")
        try:
            async with engine.connect() as conn:
                q = select(chats.c.address, deliveries.c.status).join(chats, chats.c.id == deliveries.c.chat_id)
                return {r.address: r.status for r in await conn.execute(q.where(deliveries.c.kind == "alert"))}
        finally:
            await engine.dispose()

    return asyncio.run(read())


def baseline_done(service: Service, db: Path, source_id: str) -> bool:
    """The service's own store says ``source_id`` had its baseline poll (the press's hit count
    also includes the module's service, which polls the same page)."""

    if "no Telegram token configured" not in service.stdout_path.read_text():
        return False  # not migrated and started yet

    async def read() -> bool:
        engine = create_engine(f"sqlite+aiosqlite:///{db}")
        try:
            state = (await ItemStore(engine).source_states()).get(source_id)
            return state is not None and state.baseline_done
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_without_a_token_alerts_are_printed_to_the_console(tmp_path, press):
    config = tmp_path / "console.toml"
    config.write_text(
        f"""
database_url = "sqlite+aiosqlite:///{tmp_path / 'console.db'}"

{press.source_toml("en", "press-en", "Fake press (en)", lang="en")}""",
        encoding="utf-8",
    )
    web_port = fake_press.free_port()
    svc = Service(config, tmp_path, "console", web_port=web_port)
    try:
        before = press.hits("/en/index.html")
        fake_telegram.wait_for(lambda: press.hits("/en/index.html") >= before + 2, timeout=30)
        fake_telegram.wait_for(lambda: baseline_done(svc, tmp_path / "console.db", "press-en"), timeout=30)
        url = press.publish("en", "Online education platform for every school", "Shanghai will build an online education platform.", now_in_shanghai())
        fake_telegram.wait_for(lambda: "platform for every school" in svc.stdout_path.read_text(), timeout=30)
        # the service's own web app counts what it did (/metrics) and says it is healthy
        metrics = httpx.get(f"http://127.0.0.1:{web_port}/metrics", timeout=10).text
        assert 'shwatch_deliveries_total{channel="console",result="sent"}' in metrics
        assert 'shwatch_polls_total{outcome="ok",source="press-en"}' in metrics
        health = httpx.get(f"http://127.0.0.1:{web_port}/healthz", timeout=10)
        assert health.status_code == 200 and health.json()["scheduler"] == "running" and health.json()["role"] == "service"
        assert svc.terminate() == 0
        out = svc.stdout_path.read_text()
        assert url in out and "Fake press (en)" in out
        assert out.count("platform for every school") == 1
        # the start-up line counts the plan's 12 fields, the plan-level group named apart
        assert "alerts for the plan's 12 fields and its plan-level group are printed here" in out
    finally:
        svc.kill()


# ------------------------------------------------------------------ stop


def test_sigterm_stops_cleanly_and_the_token_never_shows(service, tg):
    assert service.alive()
    started = time.monotonic()
    assert service.terminate(timeout=15) == 0
    assert time.monotonic() - started < 10
    output = service.output()
    assert TOKEN not in output
    assert TOKEN.split(":")[1] not in output
    assert "Traceback" not in output


# ------------------------------------------------------------------ an unreachable or refusing Bot API


def test_token_stays_secret_when_the_bot_api_is_unreachable_or_refuses_it(tmp_path, press):
    """Token and API address from the environment; first a dead port, then a server that
    does not know the token (401 -> InvalidToken: proof the address came from the environment). The service keeps running, says what is
    wrong, stops cleanly, and never prints the token."""

    config = tmp_path / "env.toml"
    config.write_text(
        f"""
database_url = "sqlite+aiosqlite:///{tmp_path / 'env.db'}"

{press.source_toml("en", "press-en", "Fake press (en)", lang="en")}""",
        encoding="utf-8",
    )
    dead = f"http://127.0.0.1:{free_port()}/bot"
    with fake_telegram.FakeTelegram(token="111:someone_elses_token_entirely_1234") as other:
        for base_url, expected in ((dead, "cannot reach the Telegram Bot API"), (other.base_url, "rejected the bot token")):
            env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "SHWATCH_"))}
            env["SHWATCH_WEB_PORT"] = "0"  # the web app on any free port: services never collide on 8080
            env.update(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=base_url)
            out, err = tmp_path / "svc.out", tmp_path / "svc.err"
            proc = subprocess.Popen(
                [str(SHWATCH), "--config", str(config), "--log-level", "DEBUG", "run"],
                stdout=out.open("wb"), stderr=err.open("wb"), cwd=tmp_path, env=env,
            )
            try:
                fake_telegram.wait_for(lambda: expected in err.read_text(errors="replace"), timeout=30)
                before = press.hits("/en/index.html")
                fake_telegram.wait_for(lambda: press.hits("/en/index.html") > before, timeout=30)  # still polling
                proc.send_signal(signal.SIGTERM)
                assert proc.wait(15) == 0
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(10)
            output = out.read_text(errors="replace") + err.read_text(errors="replace")
            assert TOKEN not in output and TOKEN.split(":")[1] not in output
            assert expected in output and "***" in output  # PTB's own DEBUG lines show the URL, redacted
