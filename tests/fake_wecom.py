"""A fake WeCom server API on 127.0.0.1: gettoken, message/send and webhook/send.

Runs an aiohttp server on its own event loop in a background thread (like fake_press), so
it serves async tests in the same process and ``shwatch run`` subprocesses alike.

    with FakeWeCom(corp_id="ww1", secret="s3cret", agent_id=1000002, robots={"KEY1": "ops"}) as wecom:
        wecom.base_url                       # point [wecom] api_base_url here
        wecom.robot_url("KEY1")              # a robot's webhook URL
        wecom.fail_next("send", 45009)       # the next message/send answers errcode 45009
        wecom.invalidate_tokens(40014)       # issued tokens now answer 40014 (invalid)
        wecom.answer_next("webhook", {})     # the next webhook/send gets this raw JSON
        wecom.app_messages, wecom.robot_messages("KEY1"), wecom.violations

Behaviour like the real API:
- every answer is HTTP 200 with a JSON body carrying ``errcode``/``errmsg``;
- gettoken checks corpid/corpsecret (40013 / 40001), issues ``tok-<n>`` with ``expires_in``;
- message/send checks the token (40014 invalid, 42001 expired, 41001 missing), ``agentid``
  (an integer equal to the app's, else 40056), ``msgtype`` text|markdown, content size
  (text and markdown <= 2048 bytes of UTF-8, else 45002; empty 44004), and at most
  ``member_per_minute`` (30) messages in any 60 s and ``member_per_hour`` (1000) in any
  3600 s to one member: like WeCom, the rest is answered errcode 0 and dropped, and recorded
  in ``violations`` (a test asserts none);
- webhook/send checks the key (93000), the size, and at most 20 messages in any 60 s per
  robot: the 21st answers 130101 and is recorded in ``violations`` (a test asserts none).
``clock`` (seconds, default time.time) lets a test run the robot window on a fake clock.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from loopback import LoopbackServer

ROBOT_LIMIT = 20
ROBOT_WINDOW = 60.0
LIMITS = {"text": 2048, "markdown": 4096}  # robots
APP_LIMITS = {"text": 2048, "markdown": 2048}  # message/send
MEMBER_WINDOWS = (60.0, 3600.0)


@dataclass
class SentMessage:
    to: str  # touser for the app, the robot key for robots
    msgtype: str
    content: str
    at: float


class FakeWeCom(LoopbackServer):
    def __init__(
        self,
        *,
        corp_id: str = "wwfakecorp000001",
        secret: str = "fake-app-secret-0123456789",
        agent_id: int = 1000002,
        robots: dict[str, str] | None = None,
        expires_in: int = 7200,
        clock: Callable[[], float] = time.time,
        member_per_minute: int = 30,
        member_per_hour: int = 1000,
    ) -> None:
        super().__init__()
        self.corp_id = corp_id
        self.secret = secret
        self.agent_id = agent_id
        self.robots = dict(robots or {})  # key -> name
        self.expires_in = expires_in
        self.clock = clock
        self._lock = threading.Lock()
        self._issued = 0
        self._tokens: dict[str, int] = {}  # token -> errcode it now answers (0 = valid)
        self._forced: dict[str, deque[int]] = {"gettoken": deque(), "send": deque(), "webhook": deque()}
        self._raw: dict[str, deque[tuple[object, int]]] = {"gettoken": deque(), "send": deque(), "webhook": deque()}
        self._robot_times: dict[str, deque[float]] = {}
        self.member_limits = dict(zip(MEMBER_WINDOWS, (member_per_minute, member_per_hour)))
        self._member_times: dict[str, deque[float]] = {}
        self.dropped: list[SentMessage] = []  # app messages over a member's limit (WeCom drops them)
        self.app_messages: list[SentMessage] = []
        self._robot_messages: list[SentMessage] = []
        self.violations: list[tuple[str, float]] = []
        self.token_requests = 0
        self.requests: list[tuple[str, str, int]] = []  # (endpoint, full URL, errcode)

    # ---- programming and inspection -------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def robot_url(self, key: str) -> str:
        return f"{self.base_url}/cgi-bin/webhook/send?key={key}"

    def fail_next(self, endpoint: str, errcode: int, times: int = 1) -> None:
        """The next ``times`` calls to ``endpoint`` (gettoken|send|webhook) answer ``errcode``."""
        with self._lock:
            self._forced[endpoint].extend([errcode] * times)

    def answer_next(self, endpoint: str, body: object, status: int = 200) -> None:
        """The next call to ``endpoint`` gets this raw JSON ``body`` (a proxy, a broken gateway)."""
        with self._lock:
            self._raw[endpoint].append((body, status))

    def _raw_answer(self, endpoint: str, request: web.Request) -> web.Response | None:
        with self._lock:
            if not self._raw[endpoint]:
                return None
            body, status = self._raw[endpoint].popleft()
            self._log(endpoint, request, -9)
        return web.json_response(body, status=status)

    def invalidate_tokens(self, errcode: int = 40014) -> None:
        """Every token issued so far now answers ``errcode`` (40014 invalid, 42001 expired)."""
        with self._lock:
            for token in self._tokens:
                self._tokens[token] = errcode

    def robot_messages(self, key: str | None = None) -> list[SentMessage]:
        with self._lock:
            return [m for m in self._robot_messages if key is None or m.to == key]

    def messages_to(self, userid: str) -> list[SentMessage]:
        with self._lock:
            return [m for m in self.app_messages if userid in m.to.split("|")]

    def errcodes(self, endpoint: str) -> list[int]:
        with self._lock:
            return [code for e, _, code in self.requests if e == endpoint]

    # ---- handlers -------------------------------------------------------------------------
    @staticmethod
    def _answer(errcode: int, errmsg: str = "ok", **extra: object) -> web.Response:
        return web.json_response({"errcode": errcode, "errmsg": errmsg, **extra})

    def _forced_code(self, endpoint: str) -> int:
        queue = self._forced[endpoint]
        return queue.popleft() if queue else 0

    def _log(self, endpoint: str, request: web.Request, errcode: int) -> None:
        self.requests.append((endpoint, str(request.rel_url), errcode))

    async def _gettoken(self, request: web.Request) -> web.Response:
        raw = self._raw_answer("gettoken", request)
        if raw is not None:
            return raw
        q = request.query
        with self._lock:
            self.token_requests += 1
            code = self._forced_code("gettoken")
            if not code and q.get("corpid") != self.corp_id:
                code = 40013
            if not code and q.get("corpsecret") != self.secret:
                code = 40001
            self._log("gettoken", request, code)
            if code:
                return self._answer(code, f"error {code}, more info at https://open.work.weixin.qq.com/devtool/query?e={code}")
            self._issued += 1
            token = f"tok-{self._issued}-{'x' * 20}"
            self._tokens[token] = 0
        return self._answer(0, "ok", access_token=token, expires_in=self.expires_in)

    @staticmethod
    async def _json(request: web.Request) -> dict | None:
        try:
            body = json.loads(await request.read())
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    def _over_member_limit(self, userid: str, now: float) -> str | None:
        """Which of a member's windows one more message would break (the caller holds the lock)."""
        times = self._member_times.setdefault(userid, deque())
        while times and times[0] <= now - max(MEMBER_WINDOWS):
            times.popleft()
        for window, limit in self.member_limits.items():
            if sum(1 for t in times if t > now - window) >= limit:
                return f"member {userid}: over {limit} in {window:.0f} s"
        return None

    @staticmethod
    def _content(body: dict, limits: dict[str, int] = LIMITS) -> tuple[int, str, str]:
        msgtype = body.get("msgtype")
        if msgtype not in limits:
            return 40008, "", ""  # invalid message type
        part = body.get(msgtype)
        content = part.get("content") if isinstance(part, dict) else None
        if not isinstance(content, str) or not content:
            return 44004, msgtype, ""  # empty content
        if len(content.encode("utf-8")) > limits[msgtype]:
            return 45002, msgtype, content  # content size out of limit
        return 0, msgtype, content

    async def _send(self, request: web.Request) -> web.Response:
        raw = self._raw_answer("send", request)
        if raw is not None:
            return raw
        body = await self._json(request)
        token = request.query.get("access_token")
        with self._lock:
            code = self._forced_code("send")
            if not code:
                if not token:
                    code = 41001
                elif token not in self._tokens:
                    code = 40014
                else:
                    code = self._tokens[token]
            msgtype = content = ""
            if not code and body is None:
                code = 47001  # data format error
            if not code:
                agentid = body.get("agentid")
                if not isinstance(agentid, int) or isinstance(agentid, bool) or agentid != self.agent_id:
                    code = 40056
                elif not isinstance(body.get("touser"), str) or not body["touser"]:
                    code = 40031
            if not code:
                code, msgtype, content = self._content(body, APP_LIMITS)
            if not code:
                now = self.clock()
                message = SentMessage(body["touser"], msgtype, content, now)
                over = [(u, why) for u in body["touser"].split("|") if (why := self._over_member_limit(u, now))]
                for _, why in over:
                    self.violations.append((why, now))
                if over:
                    self.dropped.append(message)  # errcode 0, and nobody sees it
                else:
                    for u in body["touser"].split("|"):
                        self._member_times[u].append(now)
                    self.app_messages.append(message)
            self._log("send", request, code)
        if code:
            return self._answer(code, f"error {code}")
        return self._answer(0, "ok", invaliduser="", msgid=f"m{len(self.app_messages)}")

    async def _webhook(self, request: web.Request) -> web.Response:
        raw = self._raw_answer("webhook", request)
        if raw is not None:
            return raw
        body = await self._json(request)
        key = request.query.get("key", "")
        with self._lock:
            code = self._forced_code("webhook")
            if not code and key not in self.robots:
                code = 93000  # invalid webhook url
            now = self.clock()
            if not code:
                times = self._robot_times.setdefault(key, deque())
                while times and times[0] <= now - ROBOT_WINDOW:
                    times.popleft()
                if len(times) >= ROBOT_LIMIT:
                    code = 130101
                    self.violations.append((self.robots[key], now))
            msgtype = content = ""
            if not code and body is None:
                code = 47001
            if not code:
                code, msgtype, content = self._content(body)
            if not code:
                self._robot_times[key].append(now)
                self._robot_messages.append(SentMessage(key, msgtype, content, now))
            self._log("webhook", request, code)
        if code == 130101:
            return self._answer(code, "send too fast, more info at https://open.work.weixin.qq.com/devtool/query?e=130101")
        if code:
            return self._answer(code, f"error {code}")
        return self._answer(0, "ok")

    async def _unknown(self, request: web.Request) -> web.Response:
        return web.json_response({"errcode": 40066, "errmsg": "invalid url"}, status=404)

    # ---- lifecycle (tests/loopback.py) ---------------------------------------------------
    thread_name = "fake-wecom"

    def build(self, app: web.Application) -> None:
        app.router.add_get("/cgi-bin/gettoken", self._gettoken)
        app.router.add_post("/cgi-bin/message/send", self._send)
        app.router.add_post("/cgi-bin/webhook/send", self._webhook)
        app.router.add_route("*", "/{tail:.*}", self._unknown)


# ---- the other direction: what WeCom POSTs to an app's callback URL -------------------------

def inner_xml(corp_id: str, from_user: str, content: str | None, msg_id: str, create_time: int, agent_id: int, msg_type: str = "text") -> str:
    """The plaintext XML of a member's message (as WeCom encrypts it)."""
    body = f"<Content><![CDATA[{content}]]></Content>" if content is not None else "<MediaId><![CDATA[m1]]></MediaId>"
    return (
        f"<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName><FromUserName><![CDATA[{from_user}]]></FromUserName>"
        f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[{msg_type}]]></MsgType>{body}"
        f"<MsgId>{msg_id}</MsgId><AgentID>{agent_id}</AgentID></xml>"
    )


def callback_post(crypto, plaintext: str, timestamp: int, nonce: str = "1372623149", agent_id: int = 1000002) -> tuple[dict[str, str], bytes]:
    """Query parameters and body of an encrypted callback POST, signed like WeCom signs it."""
    encrypt, signature = crypto.seal(plaintext, str(timestamp), nonce)
    body = (
        f"<xml><ToUserName><![CDATA[{crypto.corp_id}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt>"
        f"<AgentID><![CDATA[{agent_id}]]></AgentID></xml>"
    )
    return {"msg_signature": signature, "timestamp": str(timestamp), "nonce": nonce}, body.encode()


# ---- what a WeCom client would show badly ----------------------------------------------------

_HTML_TAG = re.compile(r"</?(?:b|i|u|a|code|pre|s|strong|em)\b[^>]*>", re.I)


def markdown_problems(content: str, limit: int = LIMITS["markdown"]) -> list[str]:
    """Why ``content`` would not show as intended in a WeCom markdown message ([] when fine):
    over the byte limit, Telegram HTML tags, stars in a row (``****``), an odd number of
    ``**`` (an unclosed bold), bold markers with whitespace inside, a broken link."""
    problems = []
    if not content.strip():
        problems.append("empty")
    if len(content.encode("utf-8")) > limit:
        problems.append(f"{len(content.encode('utf-8'))} bytes > {limit}")
    if _HTML_TAG.search(content):
        problems.append(f"HTML tag {_HTML_TAG.search(content).group()!r}")
    for line in content.split("\n"):
        if "***" in line:
            problems.append(f"stars in a row: {line!r}")
        elif line.count("**") % 2:
            problems.append(f"unbalanced **: {line!r}")
        else:
            for inner in line.split("**")[1::2]:
                if inner != inner.strip() or not inner:
                    problems.append(f"bold with edge whitespace or empty: {line!r}")
        for label, url in re.findall(r"\[([^\]]*)\]\(([^)]*)\)", line):
            if not url.startswith(("http://", "https://")) or " " in url:
                problems.append(f"bad link target {url!r}")
    return problems


def max_in_window(times: list[float], window: float) -> int:
    """The most of ``times`` (seconds) that fall within any ``window`` seconds."""
    times = sorted(times)
    best, j = 0, 0
    for i, at in enumerate(times):
        while times[j] <= at - window:
            j += 1
        best = max(best, i - j + 1)
    return best
