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
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from bot.wecom.crypto import WeComCrypto
from fake_press import FakePress, free_port
from fake_wecom import FakeWeCom, callback_post, inner_xml

pytestmark = pytest.mark.e2e

SHWATCH = Path(sys.executable).with_name("shwatch")
CORP_ID = "ww5e2e0000000001"
AGENT = 1000002
SECRET = "e2e-app-secret-Zq8vN2kLmP4xR7tY"
TOKEN = "e2eCallbackTok3n"
AES_KEY = "kWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2D"
ROBOT_KEY = "e2e-robot-key-7f3a9c1d"
SHANGHAI = timezone(timedelta(hours=8))


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

                # a bad signature gets a bare 403 from the running service
                params, body = callback_post(crypto, inner_xml(CORP_ID, "x", "/help", "e2e-x", int(time.time()), AGENT), int(time.time()))
                bad = http.post(url, params={**params, "msg_signature": "f" * 40}, content=body)
                assert bad.status_code == 403 and bad.content == b""

                # 3. after the baseline poll, a new item about 工业互联网 reaches the member and the robot
                wait_for(lambda: press.hits("/xwfb/index.html") >= 2, 30, "the baseline poll", proc)
                now = datetime.now(SHANGHAI).strftime("%Y-%m-%d %H:%M")
                title = "本市推进工业互联网创新发展 新增10个标杆工厂"
                press.publish("xwfb", title, "本市将加快工业互联网平台建设。\n\n到年底新增10个标杆工厂。", now)
                robot_msgs = wait_for(lambda: [m for m in wecom.robot_messages(ROBOT_KEY) if "创新发展 新增10个标杆工厂" in m.content], 40, "the robot's alert", proc)
                member_msgs = wait_for(lambda: [m for m in wecom.messages_to("zhangsan") if "创新发展 新增10个标杆工厂" in m.content], 40, "the member's alert", proc)
                for m in robot_msgs + member_msgs:
                    assert m.msgtype == "markdown" and len(m.content.encode()) <= 4096
                    assert "**工业互联网**" in m.content  # the matched keyword, highlighted
                    assert f"]({press.url('/xwfb/')}" in m.content  # the link to the article
                assert len(robot_msgs) == 1 and len(member_msgs) == 1
                assert len(wecom.messages_to("zhangsan")) == 2  # the one reply (retry ignored) and the alert

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
                assert all(len(m.content.encode()) <= 4096 for m in wecom.robot_messages(ROBOT_KEY))
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
