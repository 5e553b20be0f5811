"""A fake Telegram Bot API: a real HTTP server on 127.0.0.1 that speaks the Bot API as PTB does.

The server runs aiohttp on a background thread with its own event loop, so the bot under
test can be a subprocess (the real ``shwatch run``) or code in the test's own loop.

    fake = FakeTelegram(token="123:ABC...").start()
    settings: [telegram] api_base_url = fake.base_url   (".../bot"; PTB appends the token)
    fake.send_command(chat_id=42, text="/start", language_code="zh-hans")
    msg = fake.wait_for_message(lambda m: m.chat_id == 42)
    fake.stop()

Requests go to ``POST {base_url}{token}/{method}`` as form fields or a JSON body. A wrong
token answers 401, an unknown method 400 (PTB reads 404 as an invalid token).

The fake ENFORCES Telegram's limits on every sendMessage/editMessageText it receives:
at most 30 per second overall, 1 per second per chat, 20 per minute per group (windows
shortened by ``slack`` seconds to tolerate network jitter). A request over a limit is
recorded in ``violations`` and answered with 429 like the real API; a test asserts
``fake.violations == []``.

``clock`` (seconds) puts the limits and every message's ``at`` on a test's clock (e.g.
``FakeClock.monotonic``), so a sender driven by a fake clock is checked in its own time.

Programmable failures per chat: ``fail_next(chat_id, "429"|"403"|"parse"|"500", count)``,
``block(chat_id)`` (403 for good), ``migrate(chat_id, new_id)`` (400 migrate_to_chat_id for
good). Group administrators: ``set_admins(chat_id, {user_id, ...})``.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BOT_ID = 777000111
BOT_USERNAME = "shwatch_test_bot"

GLOBAL_PER_SECOND = 30
GROUP_PER_MINUTE = 20


@dataclass
class SentMessage:
    message_id: int
    chat_id: int
    text: str
    parse_mode: str | None
    reply_markup: dict | None
    at: float
    method: str = "sendMessage"  # or editMessageText

    @property
    def buttons(self) -> list[tuple[str, str]]:
        """(label, callback_data) of every inline button, row by row."""
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [(b.get("text", ""), b.get("callback_data", "")) for row in rows for b in row]


@dataclass
class Violation:
    limit: str  # "global" | "chat" | "group"
    chat_id: int
    at: float
    detail: str


@dataclass
class _Failure:
    kind: str  # "429" | "403" | "parse" | "500" | "migrate"
    retry_after: int = 1
    new_chat_id: int | None = None


@dataclass
class _State:
    updates: list[dict] = field(default_factory=list)
    next_update_id: int = 1
    next_message_id: int = 1
    sent: list[SentMessage] = field(default_factory=list)
    requests: list[tuple[str, dict]] = field(default_factory=list)
    callback_answers: list[dict] = field(default_factory=list)
    commands: dict[str, list[dict]] = field(default_factory=dict)  # language_code ("" default) -> commands
    admins: dict[int, set[int]] = field(default_factory=dict)
    chat_types: dict[int, str] = field(default_factory=dict)
    failures: dict[int, deque] = field(default_factory=lambda: defaultdict(deque))
    blocked: set[int] = field(default_factory=set)
    migrated: dict[int, int] = field(default_factory=dict)
    violations: list[Violation] = field(default_factory=list)
    answered_429: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (chat_id, reason) of failed sends
    global_window: deque = field(default_factory=deque)
    chat_last: dict[int, float] = field(default_factory=dict)
    group_windows: dict[int, deque] = field(default_factory=lambda: defaultdict(deque))


def _user(user_id: int, language_code: str | None, first_name: str = "Tester") -> dict:
    user = {"id": user_id, "is_bot": False, "first_name": first_name}
    if language_code:
        user["language_code"] = language_code
    return user


def scaled_clock(rate: float) -> Callable[[], float]:
    """The monotonic clock of a service started with ``SHWATCH_CLOCK_RATE=rate``
    (bot.core.clock.ScaledClock): every process on the machine shares CLOCK_MONOTONIC."""
    return lambda: time.monotonic() * rate


class FakeTelegram:
    def __init__(
        self,
        token: str = "123456789:AAFakeTokenForTestsOnly_abcdefghijkl",
        *,
        slack: float = 0.05,
        enforce: bool = True,
        clock: Callable[[], float] | None = None,
        rate: float | None = None,
    ) -> None:
        """``rate``: the service under test runs on a clock ``rate`` times faster than real
        time; the limits are judged on that clock, with the same real-time slack."""
        if rate is not None:
            clock, slack = scaled_clock(rate), slack * rate
        self.token = token
        self.slack = slack
        self.enforce = enforce
        self.clock = clock  # None: real time (time.monotonic for the limits, time.time for ``at``)
        self._lock = threading.Lock()
        self._state = _State()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._closing = False
        self.port: int = 0
        self._started = threading.Event()
        self._start_error: BaseException | None = None

    # ---------------------------------------------------------------- lifecycle
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    def start(self) -> "FakeTelegram":
        self._thread = threading.Thread(target=self._run, name="fake-telegram", daemon=True)
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("fake Telegram did not start")
        if self._start_error:
            raise self._start_error
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        fut = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
        try:
            fut.result(10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            if self._thread:
                self._thread.join(10)
            self._loop = None

    def __enter__(self) -> "FakeTelegram":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            loop.run_until_complete(self._startup())
        except BaseException as exc:  # report to start(), never hang it
            self._start_error = exc
            self._started.set()
            return
        self._started.set()
        loop.run_forever()
        loop.close()

    async def _startup(self) -> None:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _shutdown(self) -> None:
        self._closing = True
        await asyncio.sleep(0.05)  # long polls see the flag and answer
        if self._runner is not None:
            await self._runner.cleanup()
        current = asyncio.current_task()
        rest = [task for task in asyncio.all_tasks() if task is not current]
        for task in rest:
            task.cancel()
        await asyncio.gather(*rest, return_exceptions=True)

    # ---------------------------------------------------------------- test-side API
    @property
    def sent(self) -> list[SentMessage]:
        with self._lock:
            return list(self._state.sent)

    @property
    def violations(self) -> list[Violation]:
        with self._lock:
            return list(self._state.violations)

    @property
    def answered_429(self) -> int:
        """How many 429 answers the fake gave (programmed and enforced)."""
        with self._lock:
            return self._state.answered_429

    @property
    def rejected(self) -> list[tuple[int, str]]:
        with self._lock:
            return list(self._state.rejected)

    @property
    def callback_answers(self) -> list[dict]:
        with self._lock:
            return list(self._state.callback_answers)

    @property
    def commands(self) -> dict[str, list[dict]]:
        with self._lock:
            return dict(self._state.commands)

    def requests(self, method: str | None = None) -> list[tuple[str, dict]]:
        with self._lock:
            return [r for r in self._state.requests if method is None or r[0] == method]

    def messages_to(self, chat_id: int) -> list[SentMessage]:
        return [m for m in self.sent if m.chat_id == chat_id and m.method == "sendMessage"]

    def set_admins(self, chat_id: int, user_ids: Iterable[int]) -> None:
        with self._lock:
            self._state.admins[chat_id] = set(user_ids)

    def fail_next(self, chat_id: int, kind: str, count: int = 1, *, retry_after: int = 1) -> None:
        """The next ``count`` sends to ``chat_id`` fail: "429", "403", "parse" (HTML only), "500"."""
        if kind not in ("429", "403", "parse", "500"):
            raise ValueError(kind)
        with self._lock:
            for _ in range(count):
                self._state.failures[chat_id].append(_Failure(kind, retry_after=retry_after))

    def block(self, chat_id: int) -> None:
        """The user blocked the bot: every send to the chat answers 403 from now on."""
        with self._lock:
            self._state.blocked.add(chat_id)

    def migrate(self, chat_id: int, new_chat_id: int) -> None:
        """The group became a supergroup: sends to the old id answer 400 migrate_to_chat_id."""
        with self._lock:
            self._state.migrated[chat_id] = new_chat_id
            self._state.chat_types[new_chat_id] = "supergroup"

    def reset_limits(self) -> None:
        """Forget recent send times (between phases of a test that restart the bot)."""
        with self._lock:
            self._state.global_window.clear()
            self._state.chat_last.clear()
            self._state.group_windows.clear()

    def inject(self, update_body: dict) -> int:
        """Queue a raw update (without update_id); returns its update_id."""
        with self._lock:
            update_id = self._state.next_update_id
            self._state.next_update_id += 1
            self._state.updates.append({"update_id": update_id, **update_body})
        return update_id

    def send_text(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int | None = None,
        language_code: str | None = "en",
        chat_type: str | None = None,
        title: str | None = None,
    ) -> int:
        """A person writes ``text`` in a chat; commands get a bot_command entity at offset 0."""
        user_id = user_id if user_id is not None else chat_id
        chat_type = chat_type or ("private" if chat_id > 0 else "group")
        with self._lock:
            self._state.chat_types[chat_id] = chat_type
            message_id = self._state.next_message_id
            self._state.next_message_id += 1
        chat: dict[str, Any] = {"id": chat_id, "type": chat_type}
        if chat_type == "private":
            chat["first_name"] = "Tester"
        else:
            chat["title"] = title or f"Group {chat_id}"
        message: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": chat,
            "from": _user(user_id, language_code),
            "text": text,
        }
        if text.startswith("/"):
            command = text.split()[0] if text.split() else text
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return self.inject({"message": message})

    send_command = send_text

    def press_button(
        self,
        message: SentMessage,
        data: str,
        *,
        user_id: int | None = None,
        language_code: str | None = "en",
    ) -> int:
        """A person presses an inline button with ``data`` under a message the bot sent."""
        user_id = user_id if user_id is not None else message.chat_id
        with self._lock:
            chat_type = self._state.chat_types.get(message.chat_id, "private" if message.chat_id > 0 else "group")
            query_id = f"cq{self._state.next_update_id}"
        chat: dict[str, Any] = {"id": message.chat_id, "type": chat_type}
        if chat_type != "private":
            chat["title"] = f"Group {message.chat_id}"
        body = {
            "callback_query": {
                "id": query_id,
                "from": _user(user_id, language_code),
                "chat_instance": f"ci{message.chat_id}",
                "data": data,
                "message": {
                    "message_id": message.message_id,
                    "date": int(message.at),
                    "chat": chat,
                    "from": {"id": BOT_ID, "is_bot": True, "first_name": "shwatch", "username": BOT_USERNAME},
                    "text": message.text,
                    **({"reply_markup": message.reply_markup} if message.reply_markup else {}),
                },
            }
        }
        return self.inject(body)

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
        return wait_for(predicate, timeout, interval)

    def wait_for_message(
        self, predicate: Callable[[SentMessage], bool], timeout: float = 10.0, *, after: int = 0
    ) -> SentMessage:
        """The first sent or edited message (index >= ``after`` in ``sent``) matching ``predicate``."""

        def find() -> SentMessage | None:
            return next((m for m in self.sent[after:] if predicate(m)), None)

        find.__name__ = "a matching message"
        return self.wait_for(find, timeout)

    # ---------------------------------------------------------------- HTTP side
    async def _not_found(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)

    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            try:
                raw = await request.json()
            except (json.JSONDecodeError, UnicodeDecodeError):
                raw = {}
            return raw if isinstance(raw, dict) else {}
        if request.method == "GET":
            form: Any = request.query
        else:
            form = await request.post()
        params: dict[str, Any] = {}
        for key in form:
            value = form[key]
            if not isinstance(value, str):
                continue
            params[key] = value
        return params

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        params = await self._params(request)
        with self._lock:
            self._state.requests.append((method, params))
        handler = getattr(self, f"_m_{method.lower()}", None)
        if handler is None:
            return _error(400, "Bad Request: method not found")
        return await handler(params)

    async def _m_getme(self, params: dict) -> web.Response:
        return _ok(
            {
                "id": BOT_ID,
                "is_bot": True,
                "first_name": "shwatch",
                "username": BOT_USERNAME,
                "can_join_groups": True,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
            }
        )

    async def _m_deletewebhook(self, params: dict) -> web.Response:
        return _ok(True)

    async def _m_setmycommands(self, params: dict) -> web.Response:
        commands = _json_field(params.get("commands"), [])
        with self._lock:
            self._state.commands[str(params.get("language_code") or "")] = commands
        return _ok(True)

    async def _m_getupdates(self, params: dict) -> web.Response:
        offset = int(params.get("offset") or 0)
        timeout = min(float(params.get("timeout") or 0), 30.0)
        limit = int(params.get("limit") or 100)
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if offset:
                    self._state.updates = [u for u in self._state.updates if u["update_id"] >= offset]
                ready = [u for u in self._state.updates if u["update_id"] >= offset][:limit]
            if ready:
                return _ok(ready)
            if self._closing or time.monotonic() >= deadline:
                return _ok([])
            await asyncio.sleep(0.02)

    async def _m_answercallbackquery(self, params: dict) -> web.Response:
        with self._lock:
            self._state.callback_answers.append(params)
        return _ok(True)

    async def _m_getchatmember(self, params: dict) -> web.Response:
        try:
            chat_id = int(params["chat_id"])
            user_id = int(params["user_id"])
        except (KeyError, ValueError):
            return _error(400, "Bad Request: chat_id and user_id are required")
        with self._lock:
            is_admin = user_id in self._state.admins.get(chat_id, set())
        user = _user(user_id, None)
        if is_admin:
            return _ok(
                {
                    "status": "administrator",
                    "user": user,
                    "can_be_edited": False,
                    "is_anonymous": False,
                    "can_manage_chat": True,
                    "can_delete_messages": True,
                    "can_manage_video_chats": True,
                    "can_restrict_members": True,
                    "can_promote_members": False,
                    "can_change_info": True,
                    "can_invite_users": True,
                    "can_post_stories": False,
                    "can_edit_stories": False,
                    "can_delete_stories": False,
                }
            )
        return _ok({"status": "member", "user": user})

    async def _m_sendmessage(self, params: dict) -> web.Response:
        return self._deliver("sendMessage", params)

    async def _m_editmessagetext(self, params: dict) -> web.Response:
        return self._deliver("editMessageText", params)

    def _deliver(self, method: str, params: dict) -> web.Response:
        try:
            chat_id = int(params["chat_id"])
        except (KeyError, ValueError):
            return _error(400, "Bad Request: chat not found")
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            return _error(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            return _error(400, "Bad Request: message is too long")
        parse_mode = params.get("parse_mode") or None
        now = self.clock() if self.clock is not None else time.monotonic()
        with self._lock:
            st = self._state
            over = self._check_limits(chat_id, now) if self.enforce else None
            if over is not None:
                st.answered_429 += 1
                st.rejected.append((chat_id, "429 (limit)"))
                return _error(429, "Too Many Requests: retry after 1", {"retry_after": 1})
            self._record_send(chat_id, now)
            if chat_id in st.blocked:
                st.rejected.append((chat_id, "403"))
                return _error(403, "Forbidden: bot was blocked by the user")
            if chat_id in st.migrated:
                st.rejected.append((chat_id, "migrate"))
                return _error(
                    400,
                    "Bad Request: group chat was upgraded to a supergroup chat",
                    {"migrate_to_chat_id": st.migrated[chat_id]},
                )
            queue = st.failures.get(chat_id)
            failure = None
            if queue:
                if queue[0].kind != "parse" or parse_mode:
                    failure = queue.popleft()
            if failure is not None:
                st.rejected.append((chat_id, failure.kind))
                if failure.kind == "429":
                    st.answered_429 += 1
                    return _error(
                        429,
                        f"Too Many Requests: retry after {failure.retry_after}",
                        {"retry_after": failure.retry_after},
                    )
                if failure.kind == "403":
                    return _error(403, "Forbidden: bot was blocked by the user")
                if failure.kind == "parse":
                    return _error(400, "Bad Request: can't parse entities: Unsupported start tag \"x\" at byte offset 0")
                return _error(500, "Internal Server Error")
            if parse_mode == "HTML":
                problem = _html_problem(text)
                if problem:
                    st.rejected.append((chat_id, "parse"))
                    return _error(400, f"Bad Request: can't parse entities: {problem}")
            markup = _json_field(params.get("reply_markup"), None)
            if method == "editMessageText":
                try:
                    message_id = int(params["message_id"])
                except (KeyError, ValueError):
                    return _error(400, "Bad Request: message to edit not found")
            else:
                message_id = st.next_message_id
                st.next_message_id += 1
            at = now if self.clock is not None else time.time()
            st.sent.append(SentMessage(message_id, chat_id, text, parse_mode, markup, at, method))
            chat_type = st.chat_types.get(chat_id, "private" if chat_id > 0 else "group")
        chat: dict[str, Any] = {"id": chat_id, "type": chat_type}
        if chat_type == "private":
            chat["first_name"] = "Tester"
        else:
            chat["title"] = f"Group {chat_id}"
        result: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": chat,
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "shwatch", "username": BOT_USERNAME},
            "text": text,
        }
        if markup:
            result["reply_markup"] = markup
        return _ok(result)

    # Limits: sliding windows over what the bot actually sent (every send request counts).
    def _check_limits(self, chat_id: int, now: float) -> Violation | None:
        st = self._state
        window = 1.0 - self.slack
        while st.global_window and st.global_window[0] <= now - window:
            st.global_window.popleft()
        violation = None
        if len(st.global_window) >= GLOBAL_PER_SECOND:
            violation = Violation("global", chat_id, now, f"{len(st.global_window) + 1} messages within {window:.2f}s")
        last = st.chat_last.get(chat_id)
        if violation is None and last is not None and now - last < window:
            violation = Violation("chat", chat_id, now, f"two messages {now - last:.3f}s apart")
        if violation is None and chat_id < 0:
            group = st.group_windows[chat_id]
            minute = 60.0 - self.slack * 10
            while group and group[0] <= now - minute:
                group.popleft()
            if len(group) >= GROUP_PER_MINUTE:
                violation = Violation("group", chat_id, now, f"{len(group) + 1} messages within {minute:.1f}s")
        if violation is not None:
            st.violations.append(violation)
        return violation

    def _record_send(self, chat_id: int, now: float) -> None:
        st = self._state
        st.global_window.append(now)
        st.chat_last[chat_id] = now
        if chat_id < 0:
            st.group_windows[chat_id].append(now)


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy; AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {getattr(predicate, '__name__', predicate)}")
        time.sleep(interval)


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _error(code: int, description: str, parameters: dict | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=code)


def _json_field(value: Any, default: Any) -> Any:
    if value is None:
        return default
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return default
    return value


_ALLOWED_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre", "tg-spoiler", "blockquote", "span"}


def _html_problem(text: str) -> str | None:
    """A light check of Telegram's HTML: known tags, balanced, entities escaped."""

    stack: list[str] = []
    for m in re.finditer(r"<(/?)([a-zA-Z-]+)([^>]*)>|&(#?\w+);|[<>&]", text):
        token = m.group(0)
        if token in ("<", ">", "&"):
            return f"unescaped {token!r} at byte offset {m.start()}"
        if token.startswith("&"):
            if m.group(4) not in ("lt", "gt", "amp", "quot") and not m.group(4).startswith("#"):
                return f"unsupported entity {token!r} at byte offset {m.start()}"
            continue
        closing, tag = m.group(1), m.group(2).lower()
        if tag not in _ALLOWED_TAGS:
            return f"unsupported start tag \"{tag}\" at byte offset {m.start()}"
        if closing:
            if not stack or stack[-1] != tag:
                return f"unexpected end tag \"{tag}\" at byte offset {m.start()}"
            stack.pop()
        else:
            stack.append(tag)
    if stack:
        return f"can't find end tag corresponding to start tag \"{stack[-1]}\""
    return None
