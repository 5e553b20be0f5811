"""What a person sees at the terminal while `shwatch run` runs with no chat platform: the
sources' status line, each failure said once with its next try, and console alerts labelled
in each item's language. The real entry point against the fake press site."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import fake_press
import pytest
from shwatch_run import start_run

from bot.core.model import Delivery
from bot.delivery.compose import DeliveryComposer
from config.model import ConsoleSettings, Settings

NOW = "2026-06-14T05:30:00+08:00"  # the service's clock (SHWATCH_FAKE_NOW)


def write_config(tmp_path: Path, sources: dict[str, tuple[str, str]], *, every: float = 0.3, console: str = "") -> Path:
    """sources: id -> (url, lang); polled every second; a status line every ``every`` s; no web app."""
    lines = [
        f'database_url = "sqlite+aiosqlite:///{tmp_path / "shwatch.db"}"',
        "[fetch]", "timeout = 2", "connect_timeout = 1",
        "[web]", "enabled = false",
        "[console]", f"status_interval = {every}", console,
    ]
    for source_id, (url, lang) in sources.items():
        lines += ["[[sources]]", f'id = "{source_id}"', f'name = "Press {source_id}"', f'url = "{url}"',
                  f'lang = "{lang}"', "interval = 1"]
    path = tmp_path / "shwatch.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class Run:
    """`shwatch run` in the background, its stdout and stderr in one file."""

    def __init__(self, config: Path) -> None:
        self.out = config.parent / "run.log"
        self.proc = start_run(
            config, self.out, config.parent, SHWATCH_FAKE_NOW=NOW, LANG="C.UTF-8", PYTHONIOENCODING="utf-8"
        )

    def text(self) -> str:
        return self.out.read_text(encoding="utf-8", errors="replace")

    def wait_for(self, predicate, timeout: float = 15.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.text()
            if predicate(text):
                return text
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"not seen in time:\n{self.text()[-3000:]}")

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(15) == 0
        return self.text()


@pytest.fixture
def press():
    with fake_press.FakePress() as site:
        yield site


@pytest.mark.e2e
def test_status_line_with_counts_and_next_poll_and_each_failure_said_once(press, tmp_path):
    dead = f"http://127.0.0.1:{fake_press.free_port()}/index.html"
    config = write_config(tmp_path, {"xwfb": (press.list_url("xwfb"), "zh"), "gov-press": (dead, "zh")})
    run = Run(config)
    try:
        # the first round's status line, then the periodic one (every 0.3 s here)
        run.wait_for(lambda text: text.count("2 sources: 1 ok, 1 failing; next poll 05:30 (+08:00)") >= 3)
    finally:
        text = run.stop()
    failing = [line for line in text.splitlines() if "gov-press" in line]
    assert failing, text
    # one line per failed poll, saying why and when it is tried again; nothing else names it
    for line in failing:
        assert re.search(r"WARNING shwatch\.status: source gov-press failing \(connection refused\); next try 05:3\d \(\+08:00\)$", line), line
    assert "Traceback" not in text and "monitors.poll" not in text
    assert "shwatch is running (2 sources)" in text


@pytest.mark.e2e
def test_a_source_that_changes_state_gets_a_status_line_at_once(press, tmp_path):
    config = write_config(tmp_path, {"xwfb": (press.list_url("xwfb"), "zh")}, every=600)  # no periodic line
    run = Run(config)
    try:
        run.wait_for(lambda text: "1 source: 1 ok, 0 failing; next poll 05:30 (+08:00)" in text)
        press.redesign("xwfb")  # the list is gone: the source fails from its next poll on
        text = run.wait_for(lambda text: "1 source: 0 ok, 1 failing; next poll" in text)
    finally:
        run.stop()
    assert "source xwfb failing (no items on the list page (the last good poll had" in text
    assert text.count("1 source:") == 2  # the first round, the change; nothing per poll in between


@pytest.mark.e2e
def test_console_alerts_are_labelled_in_each_items_language(press, tmp_path):
    config = write_config(tmp_path, {"xwfb": (press.list_url("xwfb"), "zh"), "en": (press.list_url("en"), "en")})
    run = Run(config)  # LANG=C: the console chat is English, its alerts follow the item
    try:
        run.wait_for(lambda text: "2 sources: 2 ok" in text)  # both baselines recorded
        press.publish("xwfb", "本市推进互联网医院建设", "今天，全市已建成一批医院。", "2026-06-14 05:00")
        press.publish("en", "Shanghai opens an internet hospital", "A new internet hospital opened.", "2026-06-14 05:10")
        text = run.wait_for(lambda text: "本市推进互联网医院建设" in text and "Shanghai opens an internet hospital" in text
                            and text.count("── alert ──") == 2)
    finally:
        run.stop()
    zh, en = sorted(text.split("── alert ──")[1:], key=lambda block: "本市" not in block)
    zh, en = zh.split("\n\n")[0], en.split("\n\n")[0]
    assert "领域：" in zh and "阅读原文" in zh and "Fields:" not in zh and "Read the original" not in zh
    assert "互联网医院〔标题" in zh  # the matched term of the title is listed, where it was found
    assert "Fields: " in en and "Read the original" in en and "领域" not in en
    assert "internet hospital [title" in en


def test_console_lang_setting_gives_every_console_alert_one_language():

    def lang(setting: str, channel: str, item_lang: str, chat_lang: str = "en") -> str:
        composer = DeliveryComposer(None, Settings(database_url="unused", console=ConsoleSettings(lang=setting)))
        return composer.alert_lang(Delivery(1, 1, "alert", "r", channel=channel, lang=chat_lang), item_lang)

    assert lang("auto", "console", "zh") == "zh" and lang("auto", "console", "en", "zh") == "en"
    assert lang("zh", "console", "en") == "zh" and lang("en", "console", "zh", "zh") == "en"
    assert lang("auto", "telegram", "zh") == "en"  # a chat's alerts are in the chat's language
