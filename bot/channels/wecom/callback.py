"""The WeCom app's callback URL: URL verification and encrypted message receipt (aiohttp).

    GET  <path>?msg_signature&timestamp&nonce&echostr   -> the decrypted echostr, as text
    POST <path>?msg_signature&timestamp&nonce           <xml><ToUserName/><Encrypt/><AgentID/></xml>
         -> an empty 200 at once; the message is handled in the background

A request that cannot be trusted gets a bare status and an empty body, nothing else:
400 malformed (missing parameters, not XML), 403 bad signature / timestamp more than
5 minutes off / wrong corp id or agent, 413 body over 64 KB. The reason goes to the log
(without secrets), never to the caller.

WeCom retries a message it thinks went unanswered (up to three times): each MsgId is
recorded in ``bot.store.schema.inbound_messages`` (insert-or-ignore) and handled once; ids older than
a day are forgotten (at most once an hour) so the table stays small.

One member's messages are handled one after the other, in the order they arrived
("/subscribe x" then "/unsubscribe x" must not be applied the other way round); different
members' messages are handled side by side.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from aiohttp import web

from bot.core.clock import Clock, SystemClock
from bot.store.inbound import InboundLog
from bot.channels.wecom.crypto import BadSignature, CryptoError, WeComCrypto, WrongReceiver

log = logging.getLogger("shwatch.wecom.callback")

MAX_BODY = 64 * 1024
MAX_SKEW = 300  # seconds between the callback's timestamp and our clock
CHANNEL = "wecom"
REMEMBER_FOR = timedelta(days=1)  # how long a handled MsgId is kept to recognise a retry
PRUNE_EVERY = timedelta(hours=1)


@dataclass(frozen=True)
class InboundMessage:
    """One decrypted message from a member of the app."""

    from_user: str
    msg_type: str  # text | image | voice | video | location | link | file | event | ...
    content: str  # the text for msg_type "text"; the event name for "event"; else ""
    msg_id: str
    create_time: int
    agent_id: str


Handler = Callable[[InboundMessage], Awaitable[None]]


class Rejected(Exception):
    """A request answered with a bare status; ``reason`` is for the log only."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _safe_xml(data: bytes) -> ET.Element:
    """Parse small, entity-free XML (no DOCTYPE: no entity expansion tricks)."""
    head = data[:4096].lower()
    if b"<!doctype" in head or b"<!entity" in data.lower():
        raise Rejected(400, "XML with a DOCTYPE/ENTITY")
    try:
        root = ET.fromstring(data)
    except ET.ParseError:
        raise Rejected(400, "body is not XML") from None
    return root


def _text(root: ET.Element, tag: str) -> str:
    node = root.find(tag)
    return (node.text or "").strip() if node is not None and node.text else ""


def parse_inner(xml: bytes) -> InboundMessage:
    """The decrypted message XML -> InboundMessage."""
    root = _safe_xml(xml)
    msg_type = _text(root, "MsgType").lower()
    content = _text(root, "Content") if msg_type == "text" else (_text(root, "Event") if msg_type == "event" else "")
    try:
        created = int(_text(root, "CreateTime") or 0)
    except ValueError:
        created = 0
    msg_id = _text(root, "MsgId")
    sender = _text(root, "FromUserName")
    if not msg_id:
        # events carry no MsgId: FromUserName + CreateTime + the event identify a retry
        msg_id = "ev-" + hashlib.sha1(xml).hexdigest()[:32]
    return InboundMessage(sender, msg_type, content, msg_id[:128], created, _text(root, "AgentID"))


class CallbackServer:
    """Serves the callback URL and hands each new message to ``handler`` in the background."""

    def __init__(
        self,
        crypto: WeComCrypto,
        handler: Handler,
        inbound: InboundLog,
        *,
        host: str = "0.0.0.0",
        port: int = 8080,
        path: str = "/wecom/callback",
        agent_id: int | None = None,
        clock: Clock | None = None,
        max_body: int = MAX_BODY,
        max_skew: int = MAX_SKEW,
    ) -> None:
        self.crypto = crypto
        self.handler = handler
        self.inbound = inbound
        self.host = host
        self.port = port
        self.path = path
        self.agent_id = agent_id
        self.clock = clock or SystemClock()
        self.max_body = max_body
        self.max_skew = max_skew
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task] = set()
        self._last_of: dict[str, asyncio.Task] = {}  # each member's latest message being handled
        self._pruned_at: datetime | None = None
        self.bound_port: int | None = None

    # -- the web app -------------------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        """The callback path's routes, for serving it on another server (the web app's)."""
        return [web.get(self.path, self._get), web.post(self.path, self._post)]

    def app(self) -> web.Application:
        # aiohttp's own size limit stays above ours so that we answer with a bare 413 ourselves
        app = web.Application(client_max_size=self.max_body * 4)
        app.router.add_get(self.path, self._get)
        app.router.add_post(self.path, self._post)
        return app

    def _check_timestamp(self, timestamp: str) -> None:
        try:
            ts = int(timestamp)
        except ValueError:
            raise Rejected(400, "timestamp is not an integer") from None
        now = self.clock.now().timestamp()
        if abs(now - ts) > self.max_skew:
            raise Rejected(403, f"timestamp {ts} is {now - ts:+.0f} s off")

    @staticmethod
    def _params(request: web.Request, *names: str) -> list[str]:
        values = [request.query.get(n, "") for n in names]
        if not all(values):
            raise Rejected(400, "missing query parameters")
        return values

    async def _get(self, request: web.Request) -> web.Response:
        try:
            sig, ts, nonce, echostr = self._params(request, "msg_signature", "timestamp", "nonce", "echostr")
            # base64 has no spaces: a "+" sent unescaped in the query string arrives as one
            echostr = echostr.replace(" ", "+")
            self._check_timestamp(ts)
            plain = self._open(sig, ts, nonce, echostr)
        except Rejected as exc:
            return self._reject(request, exc)
        log.info("WeCom callback URL verified")
        return web.Response(body=plain, content_type="text/plain")

    def _open(self, sig: str, ts: str, nonce: str, encrypt: str) -> bytes:
        try:
            return self.crypto.open(sig, ts, nonce, encrypt)
        except BadSignature:
            raise Rejected(403, "bad signature") from None
        except WrongReceiver:
            raise Rejected(403, "message for another corp id") from None
        except CryptoError as exc:
            raise Rejected(400, f"cannot decrypt: {exc}") from None

    async def _read_body(self, request: web.Request) -> bytes:
        if request.content_length is not None and request.content_length > self.max_body:
            raise Rejected(413, f"body of {request.content_length} bytes")
        data = bytearray()
        while True:
            chunk = await request.content.read(self.max_body + 1 - len(data))
            if not chunk:
                return bytes(data)
            data += chunk
            if len(data) > self.max_body:
                raise Rejected(413, "body over the limit")

    async def _post(self, request: web.Request) -> web.Response:
        try:
            sig, ts, nonce = self._params(request, "msg_signature", "timestamp", "nonce")
            body = await self._read_body(request)
            self._check_timestamp(ts)
            outer = _safe_xml(body)
            encrypt = _text(outer, "Encrypt")
            if not encrypt:
                raise Rejected(400, "no Encrypt element")
            to_user = _text(outer, "ToUserName")
            if to_user and to_user != self.crypto.corp_id:
                raise Rejected(403, "ToUserName is another corp id")
            plain = self._open(sig, ts, nonce, encrypt)
            message = parse_inner(plain)
            if self.agent_id is not None and message.agent_id and message.agent_id != str(self.agent_id):
                raise Rejected(403, "message for another agent")
        except Rejected as exc:
            return self._reject(request, exc)
        self._handle_in_order(message)
        return web.Response(status=200)

    def _handle_in_order(self, message: InboundMessage) -> None:
        """Handle ``message`` in the background once the same member's previous one is done."""
        member = message.from_user
        previous = self._last_of.get(member)
        task = asyncio.create_task(self._process(message, previous), name=f"wecom-msg-{message.msg_id}")
        self._last_of[member] = task
        self._tasks.add(task)

        def done(finished: asyncio.Task) -> None:
            self._tasks.discard(finished)
            if self._last_of.get(member) is finished:
                del self._last_of[member]

        task.add_done_callback(done)

    @staticmethod
    def _reject(request: web.Request, exc: Rejected) -> web.Response:
        log.warning("WeCom callback %s rejected with %s: %s", request.method, exc.status, exc.reason)
        return web.Response(status=exc.status)

    # -- background handling -----------------------------------------------------------------

    async def first_time(self, msg_id: str) -> bool:
        """Record ``msg_id``; False when it was already recorded (a WeCom retry)."""
        now = self.clock.now()
        if not await self.inbound.first_time(msg_id, now):
            return False
        if self._pruned_at is None or now - self._pruned_at >= PRUNE_EVERY:
            await self.forget_before(now - REMEMBER_FOR)
            self._pruned_at = now
        return True

    async def forget_before(self, when: datetime) -> int:
        """Drop MsgIds recorded before ``when``: WeCom's retries come within seconds, so a
        day's memory is plenty and the table does not grow with every message ever sent."""
        return await self.inbound.forget_before(when)

    async def _process(self, message: InboundMessage, after: asyncio.Task | None = None) -> None:
        if after is not None and not after.done():
            # asyncio.wait neither raises the previous message's error nor cancels it
            await asyncio.wait({after})
        try:
            if not await self.first_time(message.msg_id):
                log.info("WeCom message %s already handled (a retry); ignored", message.msg_id)
                return
            await self.handler(message)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("handling WeCom message %s failed", message.msg_id)

    async def drain(self, timeout: float = 5.0) -> None:
        """Wait for the messages being handled (tests; clean stop)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        addresses = self._runner.addresses  # the bound port when port=0
        self.bound_port = addresses[0][1] if addresses else self.port
        log.info("WeCom callback listening on %s:%s%s", self.host, self.bound_port, self.path)

    async def stop(self) -> None:
        await self.drain(timeout=3.0)
        for task in list(self._tasks):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def utc_timestamp(when: datetime | None = None) -> str:
    return str(int((when or datetime.now(timezone.utc)).timestamp()))
