"""WeCom end to end: the real `shwatch run` with the app and a robot, against the fake WeCom
API and the fake press site.

A member subscribes by an encrypted callback message and gets the reply through message/send;
a newly published item then reaches the robot (webhook/send) and the member as markdown; a
burst of 30 items reaches the robot batched, never over 20 messages a minute.
The secret, the AES key, the token and the robot key never appear in the process's output.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from fake_press import FakePress, free_port
from fake_wecom import FakeWeCom, callback_post, inner_xml, markdown_problems
from shwatch_run import SHWATCH

from bot.channels.wecom.crypto import WeComCrypto
from bot.core.i18n import t

pytestmark = pytest.mark.e2e

CORP_ID = "ww5e2e0000000001"
AGENT = 1000002
SECRET = "e2e-app-secret-Zq8vN2kLmP4xR7tY"
TOKEN = "e2eCallbackTok3n"
AES_KEY = "kWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2D"
ROBOT_KEY = "e2e-robot-key-7f3a9c1d"
SHANGHAI = timezone(timedelta(hours=8))
# (Chinese alias, slash form, what the Chinese reply must say)
COMMANDS = [
    ("帮助", "/help", t("help.title", "zh")),
    ("开始", "/start", t("start.welcome", "zh")),
    ("领域", "/topics", t("topics.title", "zh")),
    ("订阅 在线教育", "/subscribe online_education", t("sub.now", "zh", count=1)),
    ("退订 全部", "/unsubscribe all", t("sub.now", "zh", count=0)),
    ("关键词 添加 人工智能", "/alert add 人工智能", t("alert.added", "zh", keyword="人工智能")),
    ("关键词", "/alerts", "`人工智能`"),
    ("关键词 删除 人工智能", "/alert del 人工智能", t("alert.deleted", "zh", keyword="人工智能")),
    ("最新 3", "/latest 3", t("latest.nothing_followed", "zh")),
    ("来源", "/sources", t("sources.title", "zh", count=1)),
    ("模式 即时", "/mode instant", t("mode.set_instant", "zh")),
    ("摘要 08:30", "/digest 08:30", t("digest.on", "zh", time="08:30", tz="Asia/Shanghai")),
    ("摘要 关", "/digest off", t("digest.off", "zh")),
    ("免打扰 22:00-07:30", "/quiet 22:00-07:30", "22:00-07:30"),
    ("免打扰 关", "/quiet off", t("quiet.off", "zh")),
    ("时区 Asia/Shanghai", "/tz Asia/Shanghai", t("tz.set", "zh", tz="Asia/Shanghai")),
    ("统计", "/stats", t("refuse.admin", "zh", command="/stats")),
    ("健康", "/health", t("refuse.admin", "zh", command="/health")),
    ("语言 中文", "/lang zh", t("lang.set", "zh")),
    ("停止", "/stop", t("stop.done", "zh", alerts=0)),
]


def write_config(tmp_path: Path, press: FakePress, wecom: FakeWeCom, port: int) -> Path:
    lines = [
        f'database_url = "sqlite+aiosqlite:///{tmp_path / "shwatch.db"}"',
        'log_level = "DEBUG"',
        "[[sources]]", 'id = "xwfb"', 'name = "上海发布"', f'url = "{press.list_url("xwfb")}"', "interval = 1",
        "[wecom]",
        f'corp_id = "{CORP_ID}"', f"agent_id = {AGENT}", f'secret = "{SECRET}"', f'token = "{TOKEN}"',
        f'encoding_aes_key = "{AES_KEY}"', f'api_base_url = "{wecom.base_url}"',
        'host = "127.0.0.1"', f"port = {port}", 'path = "/wecom/callback"',
        "[[wecom.robots]]", 'name = "ops"', f'key = "{ROBOT_KEY}"', 'keywords = ["工业互联网"]',
    ]
    path = tmp_path / "shwatch.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def wait_for(predicate, timeout: float, what: str, proc: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"shwatch exited ({proc.returncode}) while waiting for {what}")
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def test_member_and_robot_over_the_real_service(tmp_path):
    crypto = WeComCrypto(TOKEN, AES_KEY, CORP_ID)
    port = free_port()
    with FakePress() as press, FakeWeCom(corp_id=CORP_ID, secret=SECRET, agent_id=AGENT, robots={ROBOT_KEY: "ops"}) as wecom:
        config = write_config(tmp_path, press, wecom, port)
        env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
        for name in ("SHWATCH_CONFIG", "SHWATCH_DATABASE_URL", "TELEGRAM_BOT_TOKEN", "WECOM_SECRET", "WECOM_TOKEN", "WECOM_ENCODING_AES_KEY", "WECOM_CORP_ID", "WECOM_API_BASE_URL"):
            env.pop(name, None)
        out, err = open(tmp_path / "stdout", "w+b"), open(tmp_path / "stderr", "w+b")
        proc = subprocess.Popen([str(SHWATCH), "--config", str(config), "run"], stdout=out, stderr=err, cwd=tmp_path, env=env)
        url = f"http://127.0.0.1:{port}/wecom/callback"
        try:
            with httpx.Client(timeout=5) as http:
                # 1. the callback URL answers WeCom's verification once the service is up
                def verified():
                    ts = str(int(time.time()))
                    echostr, sig = crypto.seal("e2e-echo-1", ts, "n0")
                    try:
                        answer = http.get(url, params={"msg_signature": sig, "timestamp": ts, "nonce": "n0", "echostr": echostr})
                    except httpx.TransportError:
                        return False
                    return answer.status_code == 200 and answer.text == "e2e-echo-1"

                wait_for(verified, 30, "the callback URL", proc)

                # 2. a member sets a keyword alert by an encrypted message; the reply comes by message/send
                def say(text: str, msg_id: str) -> httpx.Response:
                    ts = int(time.time())
                    params, body = callback_post(crypto, inner_xml(CORP_ID, "zhangsan", text, msg_id, ts, AGENT), ts, agent_id=AGENT)
                    return http.post(url, params=params, content=body)

                answer = say("关键词 添加 工业互联网", "e2e-1")
                assert answer.status_code == 200 and answer.content == b""
                assert say("关键词 添加 工业互联网", "e2e-1").status_code == 200  # WeCom's retry: handled once
                [reply] = wait_for(lambda: wecom.messages_to("zhangsan"), 20, "the reply to the member", proc)
                assert "工业互联网" in reply.content and reply.msgtype == "markdown"

                # untrusted requests get a bare status from the running service, and no reply
                def post_as(plaintext: str, ts: int, sealer: WeComCrypto = crypto, **override) -> httpx.Response:
                    params, body = callback_post(sealer, plaintext, ts, agent_id=AGENT)
                    if sealer is not crypto:  # an outer envelope naming our corp around another corp's ciphertext
                        body = body.replace(sealer.corp_id.encode(), CORP_ID.encode(), 1)
                    return http.post(url, params={**params, **override}, content=body)

                now_ts = int(time.time())
                attacker = inner_xml(CORP_ID, "mallory", "/stop", "e2e-x", now_ts, AGENT)
                for answer, status in [
                    (post_as(attacker, now_ts, msg_signature="f" * 40), 403),  # bad signature
                    (post_as(attacker, now_ts - 400), 403),  # timestamp more than 5 minutes off
                    (post_as(attacker, now_ts + 400), 403),
                    (post_as(attacker, now_ts, sealer=WeComCrypto(TOKEN, AES_KEY, "wwanothercorp0001")), 403),  # wrong corp id
                    (post_as(inner_xml(CORP_ID, "mallory", "x" * 70_000, "e2e-big", now_ts, AGENT), now_ts), 413),  # over 64 KB
                ]:
                    assert (answer.status_code, answer.content) == (status, b"")

                # every command, as Chinese alias and as slash form, answered in Chinese and well-formed
                def ask(user: str, text: str, msg_id: str) -> str:
                    before = len(wecom.messages_to(user))
                    ts = int(time.time())
                    params, body = callback_post(crypto, inner_xml(CORP_ID, user, text, msg_id, ts, AGENT), ts, agent_id=AGENT)
                    answer = http.post(url, params=params, content=body)
                    assert answer.status_code == 200 and answer.content == b""
                    new = wait_for(lambda: wecom.messages_to(user)[before:], 20, f"the reply to {text!r}", proc)
                    return "\n".join(m.content for m in new)

                for pick, user in ((0, "lisi"), (1, "wangwu")):
                    for i, pair in enumerate(COMMANDS):
                        reply = ask(user, pair[pick], f"e2e-{user}-{i}")
                        expected = pair[2]
                        assert expected in reply, (pair[pick], reply)
                    for m in wecom.messages_to(user):
                        assert m.msgtype == "markdown" and markdown_problems(m.content) == [], m.content
                assert wecom.messages_to("mallory") == []

                # 3. after the baseline poll, a new item about 工业互联网 reaches the member and the robot
                wait_for(lambda: press.hits("/xwfb/index.html") >= 2, 30, "the baseline poll", proc)
                now = datetime.now(SHANGHAI).strftime("%Y-%m-%d %H:%M")
                title = "本市推进工业互联网创新发展 新增10个标杆工厂"
                press.publish("xwfb", title, "本市将加快工业互联网平台建设。\n\n到年底新增10个标杆工厂。", now)
                robot_msgs = wait_for(lambda: [m for m in wecom.robot_messages(ROBOT_KEY) if "创新发展 新增10个标杆工厂" in m.content], 40, "the robot's alert", proc)
                member_msgs = wait_for(lambda: [m for m in wecom.messages_to("zhangsan") if "创新发展 新增10个标杆工厂" in m.content], 40, "the member's alert", proc)
                for m in robot_msgs + member_msgs:
                    assert m.msgtype == "markdown" and markdown_problems(m.content) == [], m.content
                    assert m.content.startswith(f"**{title}**\n")  # the title, bold as one run
                    assert "**工业互联网**" in m.content  # the matched keyword, highlighted
                    assert f"]({press.url('/xwfb/')}" in m.content  # the link to the article
                assert len(robot_msgs) == 1 and len(member_msgs) == 1
                assert len(wecom.messages_to("zhangsan")) == 2  # the one reply (retry ignored) and the alert

                # the member asks for the digest now: it comes through message/send with the item
                assert t("digest.now", "zh") in ask("zhangsan", "摘要 现在", "e2e-digest")
                [digest] = wait_for(lambda: [m for m in wecom.messages_to("zhangsan") if "📰" in m.content], 30, "the digest", proc)
                assert title in digest.content and markdown_problems(digest.content) == [], digest.content

                # 4. a burst of 30 matching items: the robot gets them all, batched, within 20/min
                for i in range(30):
                    press.publish("xwfb", f"工业互联网简讯第{i}期", f"第{i}期：工业互联网平台接入企业增加。", now)

                def burst_done():
                    text = "\n".join(m.content for m in wecom.robot_messages(ROBOT_KEY))
                    return all(f"简讯第{i}期" in text for i in range(30))

                wait_for(burst_done, 60, "the burst at the robot", proc)
                text = "\n".join(m.content for m in wecom.robot_messages(ROBOT_KEY))
                assert all(text.count(f"简讯第{i}期") == 1 for i in range(30))  # none lost, none twice
                assert len(wecom.robot_messages(ROBOT_KEY)) < 1 + 30  # several alerts per message
                assert all(markdown_problems(m.content) == [] for m in wecom.robot_messages(ROBOT_KEY))
                assert wecom.violations == []
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                code = proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
                code = None
        out.seek(0)
        err.seek(0)
        output = out.read().decode("utf-8", "replace") + err.read().decode("utf-8", "replace")
        out.close()
        err.close()
        assert code == 0, output[-3000:]
        issued = [f"tok-{i}-{'x' * 20}" for i in range(1, 5)]
        for secret in (SECRET, AES_KEY, TOKEN, ROBOT_KEY, *issued):
            assert secret not in output, f"a secret leaked into the output: {secret[:4]}…"
        assert "WeCom callback" in output  # DEBUG logs were on: the check above saw real log lines
