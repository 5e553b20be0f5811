"""A responsive service (issue 11, part 2), through the real ``shwatch run``: while a huge
page is being parsed, the bot still answers a chat.

A source serves a page nested 300,000 elements deep (3.3 MB, seconds of lxml work, and no
items in it, so its poll ends as soon as the parse does). As soon as the page has been
served, someone sends /start. The reply comes while that poll is still running: the
sources' status line, which the service logs when the first round of polls has ended, is
not in the log yet when the reply reaches the Bot API. Parsing on the event loop would hold
the reply back until the parse, and so the poll, had ended.
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import urllib.request
from pathlib import Path

import fake_telegram
import pytest
from aiohttp import web
from loopback import LoopbackServer
from shwatch_run import SHWATCH

from bot.core.i18n import t

pytestmark = pytest.mark.e2e

TOKEN = "515151515:AAResponsiveTestToken_abcdefghijklmnop"
DEPTH = 300_000
FIRST_ROUND = "1 source:"  # the status line after every source's first poll


class DeepPage(LoopbackServer):
    thread_name = "deep-page"

    def __init__(self) -> None:
        super().__init__()
        self.page = ("<html><body>" + "<div>" * DEPTH + "x" + "</div>" * DEPTH + "</body></html>").encode()
        self.served = 0

    def build(self, app: web.Application) -> None:
        async def deep(_request: web.Request) -> web.Response:
            self.served += 1
            return web.Response(body=self.page, content_type="text/html")

        app.router.add_get("/deep.html", deep)


def test_the_bot_answers_while_a_huge_page_is_parsed(tmp_path: Path):
    with fake_telegram.FakeTelegram(token=TOKEN) as tg, DeepPage() as site:
        config = tmp_path / "shwatch.toml"
        config.write_text(
            f'database_url = "sqlite+aiosqlite:///{tmp_path / "shwatch.db"}"\n\n'
            f'[telegram]\ntoken = "{TOKEN}"\napi_base_url = "{tg.base_url}"\npoll_timeout = 1\n\n'
            "[web]\nport = 0\n\n"
            f'[[sources]]\nid = "deep"\nname = "Deep"\nurl = "http://127.0.0.1:{site.port}/deep.html"\ninterval = 3600\n',
            encoding="utf-8",
        )
        log = tmp_path / "run.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "SHWATCH_"))}
        proc = subprocess.Popen(
            [str(SHWATCH), "--config", str(config), "--log-level", "INFO", "run"],
            stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=tmp_path, env=env,
        )
        try:
            tg.wait_for(lambda: site.served >= 1 and tg.requests("getUpdates") or proc.poll() is not None, timeout=30)
            assert proc.poll() is None, log.read_text(errors="replace")[-2000:]
            assert FIRST_ROUND not in log.read_text(errors="replace"), "the page was parsed before /start was sent: nothing tested"
            after = len(tg.sent)
            tg.send_text(4242, "/start", user_id=4242, language_code="en")
            reply = tg.wait_for_message(lambda m: m.chat_id == 4242, timeout=30, after=after)
            during = log.read_text(errors="replace")
            tg.wait_for(lambda: FIRST_ROUND in log.read_text(errors="replace"), timeout=60)  # the poll did end
            # the worker that parsed the page reports its memory apart from the service's
            port = re.search(r"web app on http://127\.0\.0\.1:(\d+)/", log.read_text(errors="replace")).group(1)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as r:
                memory = json.load(r)["memory_mb"]
        finally:
            proc.terminate()
            proc.wait(20)
        assert html.escape(t("start.welcome", "en"), quote=False) in reply.text
        assert FIRST_ROUND not in during, "the reply waited for the parse"
        assert "Traceback" not in log.read_text(errors="replace")
        assert memory["service"] > 10 and memory["page_parser"] > 5, memory
