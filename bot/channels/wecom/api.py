"""Async client for the WeCom server API: gettoken, message/send (app) and webhook/send (robots).

Every answer is checked by its JSON ``errcode`` (HTTP 200 does not mean delivered). Errors::

    WeComError(errcode, errmsg, retryable, retry_after)
     └── WeComTooFast      130101: a robot sent more than 20 messages in a minute

- The access token is cached until ``expires_in`` minus a margin, fetched once for concurrent
  callers, dropped on 40001/40014/42001 and the call retried once with a fresh token.
- 130101 waits for the next full minute (injectable ``sleep`` and ``clock``) and retries.
- The secret, the access token and robot keys never appear in an error message: every text
  that leaves this module passes through ``bot.logs.redact`` with the known secrets.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime, timedelta

import aiohttp

from bot.core.clock import Clock, SystemClock, seconds_to_next_minute
from bot.core.text import WECOM_APP_LIMIT, WECOM_MARKDOWN_LIMIT, utf8_len
from bot.logs import redact

log = logging.getLogger("shwatch.wecom.api")

TOKEN_ERRORS = frozenset({40001, 40014, 42001})
TOO_FAST = 130101
# Busy / frequency errors worth retrying later; others (bad user, bad key, ...) are permanent.
RETRYABLE = frozenset({-1, 45009, 45033, 45011, 45047, TOO_FAST})
TOKEN_MARGIN = timedelta(seconds=300)

Sleep = Callable[[float], Awaitable[None]]


class WeComError(Exception):
    """A WeCom API call that did not succeed; ``errcode`` None means transport trouble."""

    def __init__(self, errcode: int | None, errmsg: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(f"WeCom errcode {errcode}: {errmsg}" if errcode is not None else f"WeCom request failed: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg
        self.retryable = retryable
        self.retry_after = retry_after


class WeComTooFast(WeComError):
    pass


def limit_for(msgtype: str, *, app: bool = False) -> int:
    """Bytes of UTF-8 WeCom takes: app messages 2048 (text and markdown), robots 2048 of
    text and 4096 of markdown."""
    return WECOM_APP_LIMIT if app or msgtype == "text" else WECOM_MARKDOWN_LIMIT


NEXT_MINUTE_MARGIN = 1.0  # seconds past the minute WeCom's per-minute window surely reset


def message_body(msgtype: str, content: str, *, app: bool = False) -> dict:
    if msgtype not in ("text", "markdown"):
        raise ValueError(f"unsupported msgtype {msgtype!r}")
    size = utf8_len(content)
    limit = limit_for(msgtype, app=app)
    if size > limit:
        raise ValueError(f"{msgtype} content is {size} bytes, the limit is {limit}")
    return {"msgtype": msgtype, msgtype: {"content": content}}


class WeComApi:
    """One corp's API: the app (``corp_id``/``secret``/``agent_id``) and any robot webhooks."""

    def __init__(
        self,
        base_url: str,
        *,
        corp_id: str | None = None,
        secret: str | None = None,
        agent_id: int | None = None,
        secrets: Iterable[str] = (),
        clock: Clock | None = None,
        sleep: Sleep = asyncio.sleep,
        timeout: float = 10.0,
        too_fast_retries: int = 2,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.corp_id = corp_id
        self._secret = secret
        self.agent_id = agent_id
        self._secrets = sorted({s for s in (*secrets, secret or "") if s}, key=len, reverse=True)
        self.clock = clock or SystemClock()
        self.sleep = sleep
        self.too_fast_retries = too_fast_retries
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None  # opened by the first call, on its loop
        self._token: str | None = None
        self._token_expires: datetime | None = None
        self._token_lock = asyncio.Lock()
        self.token_fetches = 0

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def __aenter__(self) -> "WeComApi":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- plumbing ---------------------------------------------------------------------------

    def _redact(self, text: str) -> str:
        secrets = [*self._secrets]
        if self._token:
            secrets.append(self._token)
        return redact(text, secrets)

    def _remember_secret(self, value: str) -> None:
        if value and value not in self._secrets:
            self._secrets.append(value)
            self._secrets.sort(key=len, reverse=True)

    async def _call(self, method: str, url: str, *, params: dict | None = None, payload: dict | None = None) -> dict:
        """One HTTP request; the parsed JSON body (errcode not yet checked)."""
        if self._session is None:
            # aiohttp, as the fetcher and the web app use; proxies from the environment, as for
            # any HTTP client a corporate network may route through one
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout), trust_env=True)
        try:
            async with self._session.request(method, url, params=params, json=payload, allow_redirects=False) as response:
                status, content = response.status, await response.read()
        except aiohttp.ClientError as exc:
            raise WeComError(None, self._redact(f"{type(exc).__name__}: {exc}"), retryable=True) from None
        except TimeoutError:
            raise WeComError(None, f"no answer within {self.timeout:g} s", retryable=True) from None
        if status >= 500 or status == 429:
            raise WeComError(None, f"HTTP {status}", retryable=True)
        try:
            body = json.loads(content)
        except ValueError:
            raise WeComError(None, f"HTTP {status}, not a JSON answer", retryable=status >= 500) from None
        if not isinstance(body, dict):
            raise WeComError(None, f"HTTP {status}, unexpected JSON answer", retryable=False)
        return body

    def _error(self, body: dict) -> WeComError:
        code = body.get("errcode")
        try:
            code = int(code)
        except (TypeError, ValueError):
            code = -2
        msg = self._redact(str(body.get("errmsg", "") if "errcode" in body else "an answer without errcode")[:300])
        if code == TOO_FAST:
            return WeComTooFast(code, msg, retryable=True, retry_after=seconds_to_next_minute(self.clock.now(), NEXT_MINUTE_MARGIN))
        return WeComError(code, msg, retryable=code in RETRYABLE or code in TOKEN_ERRORS)

    @staticmethod
    def _ok(body: dict) -> bool:
        """Only an explicit errcode 0 is success: an answer without one was not WeCom's."""
        return "errcode" in body and body["errcode"] in (0, "0")

    # -- access token ----------------------------------------------------------------------

    async def access_token(self, *, force: bool = False) -> str:
        if not (self.corp_id and self._secret):
            raise WeComError(None, "the WeCom app is not configured (corp_id and secret)", retryable=False)
        async with self._token_lock:
            now = self.clock.now()
            if not force and self._token and self._token_expires and now < self._token_expires:
                return self._token
            stale = self._token
            self._token = None
            body = await self._call(
                "GET", f"{self.base_url}/cgi-bin/gettoken", params={"corpid": self.corp_id, "corpsecret": self._secret}
            )
            self.token_fetches += 1
            if not self._ok(body) or not body.get("access_token"):
                raise self._error(body if not self._ok(body) else {"errcode": -2, "errmsg": "no access_token in answer"})
            token = str(body["access_token"])
            try:
                expires_in = int(body.get("expires_in", 7200))
            except (TypeError, ValueError):
                expires_in = 7200
            life = max(timedelta(seconds=expires_in) - TOKEN_MARGIN, timedelta(seconds=min(expires_in, 60)) / 2)
            self._token, self._token_expires = token, now + life
            if stale:
                self._remember_secret(stale)
            self._remember_secret(token)
            log.debug("fetched a WeCom access token (valid %ss)", expires_in)
            return token

    def drop_token(self) -> None:
        self._token = None
        self._token_expires = None

    # -- app messages ------------------------------------------------------------------------

    async def send_app_message(self, touser: str | Sequence[str], content: str, msgtype: str = "markdown") -> dict:
        """message/send to members of the app; raises WeComError unless errcode is 0."""
        if self.agent_id is None:
            raise WeComError(None, "the WeCom app is not configured (agent_id)", retryable=False)
        users = touser if isinstance(touser, str) else "|".join(touser)
        payload = {"touser": users, "agentid": int(self.agent_id), **message_body(msgtype, content, app=True)}
        for attempt in (0, 1):
            token = await self.access_token()
            body = await self._call(
                "POST", f"{self.base_url}/cgi-bin/message/send", params={"access_token": token}, payload=payload
            )
            if self._ok(body):
                return body
            error = self._error(body)
            if error.errcode in TOKEN_ERRORS and attempt == 0:
                log.info("WeCom access token rejected (errcode %s); fetching a new one", error.errcode)
                if self._token == token:
                    self.drop_token()
                continue
            raise error
        raise AssertionError("unreachable")

    # -- robots -------------------------------------------------------------------------------

    async def send_robot(self, webhook_url: str, content: str, msgtype: str = "markdown") -> dict:
        """webhook/send; on 130101 waits for the next minute and retries (bounded)."""
        payload = message_body(msgtype, content)
        for attempt in range(self.too_fast_retries + 1):
            body = await self._call("POST", webhook_url, payload=payload)
            if self._ok(body):
                return body
            error = self._error(body)
            if isinstance(error, WeComTooFast) and attempt < self.too_fast_retries:
                wait = seconds_to_next_minute(self.clock.now(), NEXT_MINUTE_MARGIN)
                log.warning("robot is sending too fast (130101); waiting %.0f s for the next minute", wait)
                await self.sleep(wait)
                continue
            raise error
        raise AssertionError("unreachable")
