"""WeCom service components, each with ``start()``/``stop()``:

- ``WeComAppChannel``: the self-built app. Serves the callback URL (``CallbackServer``),
  runs each member's text through ``CommandCore.handle`` and sends the reply with
  message/send; delivers the outbox rows of channel "wecom" (alerts, digests) as markdown.
- ``WeComRobotChannel``: group robots. Syncs the robot chats from the config at start-up
  and delivers the outbox rows of channel "robot" within 20 messages/min per robot,
  batching several pending alerts into one markdown message when they come faster.

How a delivery reads is not decided here: a ``Compose`` callable (the same one the other
channels use) turns claimed deliveries into ``bot.core.text`` blocks; ``bot.channels.wecom.render`` makes
them WeCom markdown messages of at most 4096 bytes.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from bot.commands.core import CommandCore
from bot.core.clock import Clock, SystemClock, seconds_to_next_minute
from bot.core.model import Caller, ChatRef, Delivery
from bot.delivery.compose import Compose
from bot.store.chats import ChatStore
from bot.store.inbound import InboundLog
from bot.store.outbox import Outbox
from config.model import Settings
from bot.core.quiet import bundle_alerts
from bot.core.text import Block, render_plain
from bot.channels.wecom.api import NEXT_MINUTE_MARGIN, WeComApi, WeComError, WeComTooFast
from bot.channels.wecom.callback import CallbackServer, InboundMessage
from bot.channels.wecom.crypto import WeComCrypto
from bot.channels.wecom.render import markdown_pieces
from bot.channels.wecom.robots import CHANNEL as ROBOT_CHANNEL
from bot.channels.wecom.robots import Batch, SendWindow, plan_batches, sync_robot_chats

log = logging.getLogger("shwatch.wecom")

APP_CHANNEL = "wecom"

# A member no longer reachable through the app: stop sending to them.
GONE_ERRCODES = frozenset({60111, 81013, 40031, 60103})
MEMBER_LANG = "zh"  # WeCom tells us no member language: new members start in Chinese (语言 English switches)
APP_PER_USER_LIMIT = 30  # WeCom drops app messages beyond 30/min to one member


def backoff(attempts: int, base: float = 5.0, cap: float = 600.0) -> float:
    return min(cap, base * (2 ** max(0, attempts)))


class _Worker:
    """A claim loop over one outbox channel: wakes on ``wake()`` or every ``poll_interval``."""

    channel = ""

    def __init__(self, outbox: Outbox, compose: Compose, clock: Clock | None, poll_interval: float, batch: int) -> None:
        self.outbox = outbox
        self.compose = compose
        self.clock = clock or SystemClock()
        self.poll_interval = poll_interval
        self.batch = batch
        self.worker_id = f"{self.channel}-{uuid.uuid4().hex[:8]}"
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._stopping = False

    def wake(self) -> None:
        self._wake.set()

    def _now(self) -> datetime:
        return self.clock.now()

    async def _loop(self) -> None:
        while not self._stopping:
            try:
                busy = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s delivery round failed", self.channel)
                busy = False
            if busy and not self._stopping:
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_interval)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()

    async def run_once(self) -> bool:
        raise NotImplementedError

    async def _start_loop(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._loop(), name=f"{self.channel}-deliveries")

    async def _stop_loop(self, grace: float = 3.0) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout=grace)
            except asyncio.TimeoutError:
                self._task.cancel()
                try:
                    await self._task
                except asyncio.CancelledError:
                    pass
            self._task = None

    async def _compose(self, claimed: Sequence[Delivery]) -> Mapping[int, Sequence[Block]] | None:
        """Blocks per delivery id (a delivery whose item is gone is absent); None when
        composing failed, and then the rows go back to the queue."""
        try:
            return await self.compose(claimed)
        except Exception:
            log.exception("composing %d %s deliveries failed", len(claimed), self.channel)
            await self.outbox.release([d.id for d in claimed])
            return None


# ---------------------------------------------------------------------------- the app


class WeComAppChannel(_Worker):
    """Callback server + command replies + delivery worker for channel "wecom"."""

    channel = APP_CHANNEL
    name = "wecom-app"

    def __init__(
        self,
        settings: Any,
        inbound: InboundLog,
        core: Any,
        outbox: Outbox,
        compose: Compose,
        api: WeComApi,
        *,
        chats: Any = None,
        clock: Clock | None = None,
        poll_interval: float = 1.0,
        batch: int = 50,
        concurrency: int = 8,
        serve: bool = True,
    ) -> None:
        super().__init__(outbox, compose, clock, poll_interval, batch)
        wecom = settings.wecom
        self.serve = serve  # False in a delivery worker: the full service answers the callback URL
        self.settings = settings
        self.core = core
        self.api = api
        self.chats = chats
        self.admins = frozenset(getattr(wecom, "admin_users", ()) or ())
        self.crypto = WeComCrypto(wecom.token.reveal(), wecom.encoding_aes_key.reveal(), wecom.corp_id)
        self.server = CallbackServer(
            self.crypto, self.handle_message, inbound, host=wecom.host or "0.0.0.0",
            port=wecom.port if wecom.port is not None else 8080, path=wecom.path,
            agent_id=wecom.agent_id, clock=self.clock,
        )
        self._limit = asyncio.Semaphore(concurrency)
        self._windows: dict[str, SendWindow] = defaultdict(lambda: SendWindow(APP_PER_USER_LIMIT, 60.0))

    @property
    def port(self) -> int | None:
        return self.server.bound_port

    async def start(self) -> None:
        if self.serve:
            await self.server.start()
        await self._start_loop()

    async def stop(self) -> None:
        if self.serve:
            await self.server.stop()
        else:  # the web server carried the callback: finish the messages being handled
            await self.server.drain(3.0)
        await self._stop_loop()

    # -- members' messages -------------------------------------------------------------------

    async def handle_message(self, message: InboundMessage) -> None:
        if not message.from_user:
            return
        if message.msg_type == "event":
            if message.content == "subscribe":  # a member just added the app: greet them
                await self._command(message.from_user, "/start")
            return
        if message.msg_type != "text":  # an image, voice, file ...: the core's hint, as plain text
            reply = await self.core.handle_non_text(self._chat_ref(message.from_user))
            await self.send_reply(message.from_user, [render_plain(p) for p in reply.as_blocks()], msgtype="text")
            return
        await self._command(message.from_user, message.content)

    @staticmethod
    def _chat_ref(userid: str) -> ChatRef:
        return ChatRef(APP_CHANNEL, userid, "private", title=None, lang_hint=MEMBER_LANG)

    async def _command(self, userid: str, text: str) -> None:
        caller = Caller(userid, userid in self.admins, True)
        reply = await self.core.handle(self._chat_ref(userid), caller, text)
        pieces = markdown_pieces(reply.as_blocks())  # WeCom has no buttons: the text says what to send
        if pieces:
            await self.send_reply(userid, pieces)

    async def send_reply(self, userid: str, parts: Sequence[str], msgtype: str = "markdown", attempts: int = 3) -> bool:
        """Send a command reply now (not through the outbox); a few retries on busy errors."""
        for part in parts:
            for attempt in range(attempts):
                try:
                    await self.api.send_app_message(userid, part, msgtype)
                    self._windows[userid].record(self._now().timestamp())
                    break
                except WeComError as exc:
                    if not exc.retryable or attempt == attempts - 1:
                        log.warning("reply to a WeCom member failed: %s", exc)
                        return False
                    await asyncio.sleep(min(5.0, 0.5 * 2**attempt))
        return True

    # -- deliveries ---------------------------------------------------------------------------

    async def run_once(self) -> bool:
        claimed = await self.outbox.claim(self.worker_id, self.batch, [APP_CHANNEL])
        if not claimed:
            return False
        composed = await self._compose(claimed)
        if composed is None:
            return False  # wait a poll interval before trying again
        # alerts held through a member's quiet hours leave together, in one message where they fit
        units = bundle_alerts(claimed, composed)
        bundled = {d.id for members, _ in units for d in members}
        for d in claimed:
            if d.id not in bundled:
                await self.outbox.fail(d.id, "nothing to send (empty message)")
        by_member: dict[str, list[tuple[list[Delivery], list]]] = defaultdict(list)
        for members, blocks in units:
            by_member[members[0].address].append((members, blocks))
        # one member's messages in order, one after the other; members side by side
        await asyncio.gather(*(self._deliver_member(userid, member_units) for userid, member_units in by_member.items()))
        return True

    async def _deliver_member(self, userid: str, units: list[tuple[list[Delivery], list]]) -> None:
        async with self._limit:
            for members, blocks in units:
                await self._deliver(userid, members, blocks)

    async def _deliver(self, userid: str, members: list[Delivery], blocks: Sequence[Block]) -> None:
        pieces = markdown_pieces(blocks)
        if not pieces:
            for d in members:
                await self.outbox.fail(d.id, "nothing to send (empty message)")
            return
        window = self._windows[userid]
        now = self._now().timestamp()
        if window.remaining(now) < len(pieces) and len(pieces) <= window.limit:
            until = datetime.fromtimestamp(window.free_at(now) + 1, timezone.utc)
            for d in members:
                await self.outbox.hold(d.id, until)
            return
        try:
            for piece in pieces:
                await self.api.send_app_message(userid, piece, "markdown")
                window.record(self._now().timestamp())
        except WeComError as exc:
            for d in members:
                await self._failed(d, exc)
            return
        except ValueError as exc:  # over the size limit: a formatting bug, not worth retrying
            for d in members:
                await self.outbox.fail(d.id, str(exc))
            return
        for d in members:
            await self.outbox.mark_sent(d.id)

    async def _failed(self, delivery: Delivery, exc: WeComError) -> None:
        if exc.errcode in GONE_ERRCODES:
            log.info("WeCom member is unreachable (errcode %s): chat %s deactivated", exc.errcode, delivery.chat_id)
            if self.chats is not None:
                await self.chats.deactivate(delivery.chat_id)
            await self.outbox.drop_chat(delivery.chat_id, str(exc))
        elif exc.retryable:
            delay = exc.retry_after or backoff(delivery.attempts)
            await self.outbox.retry(delivery.id, str(exc), self._now() + timedelta(seconds=delay))
        else:
            await self.outbox.fail(delivery.id, str(exc))


# ---------------------------------------------------------------------------- robots


class WeComRobotChannel(_Worker):
    """Delivery worker for channel "robot": one window per robot, batching when busy."""

    channel = ROBOT_CHANNEL
    name = "wecom-robots"

    def __init__(
        self,
        settings: Any,
        outbox: Outbox,
        compose: Compose,
        api: WeComApi,
        *,
        chats: Any = None,
        clock: Clock | None = None,
        poll_interval: float = 1.0,
        batch: int = 500,
    ) -> None:
        super().__init__(outbox, compose, clock, poll_interval, batch)
        self.settings = settings
        self.api = api
        self.chats = chats
        self.robots = {robot.name: robot for robot in settings.wecom.robots}
        self.windows: dict[str, SendWindow] = {name: SendWindow() for name in self.robots}

    async def start(self) -> None:
        if self.chats is not None:
            await sync_robot_chats(self.chats, list(self.robots.values()), self.settings.topics, self.settings.timezone)
        await self._start_loop()

    async def stop(self) -> None:
        await self._stop_loop()

    async def run_once(self) -> bool:
        claimed = await self.outbox.claim(self.worker_id, self.batch, [ROBOT_CHANNEL])
        if not claimed:
            return False
        composed = await self._compose(claimed)
        if composed is None:
            return False
        by_robot: dict[str, list[Delivery]] = defaultdict(list)
        for delivery in claimed:
            by_robot[delivery.address].append(delivery)
        await asyncio.gather(*(self._deliver_robot(name, rows, composed) for name, rows in by_robot.items()))
        return False  # held rows are due later; the poll interval brings us back

    async def _deliver_robot(self, name: str, rows: list[Delivery], composed: Mapping[int, Sequence[Block]]) -> None:
        robot = self.robots.get(name)
        if robot is None:
            for d in rows:
                await self.outbox.fail(d.id, f"robot {name!r} is not in the config")
            return
        window = self.windows[name]
        by_id = {d.id: d for d in rows}
        pending: list[tuple[int, list[str]]] = []
        for d in rows:
            pieces = markdown_pieces(composed.get(d.id) or ())
            if pieces:
                pending.append((d.id, pieces))
            else:
                await self.outbox.fail(d.id, "nothing to send (empty message)")
        if not pending:
            return
        now = self._now().timestamp()
        batches, _ = plan_batches(pending, window.remaining(now))
        if not batches and window.remaining(now) >= window.limit:
            # one delivery longer than a whole minute's allowance: paced, part by part
            ref, pieces = pending[0]
            log.warning("robot %s: one message needs %d parts, more than a minute allows", name, len(pieces))
            batches = [Batch(piece, (ref,)) for piece in pieces]
        done: set[int] = set()
        error: WeComError | None = None
        for batch in batches:
            wait = window.free_at(self._now().timestamp()) - self._now().timestamp()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                await self.api.send_robot(robot.url, batch.content, "markdown")
            except WeComTooFast as exc:
                log.warning("robot %s answered 130101 (too fast); waiting for the next minute", name)
                window.block_until(self._now().timestamp() + seconds_to_next_minute(self._now(), NEXT_MINUTE_MARGIN))
                error = exc
                break
            except WeComError as exc:
                log.warning("robot %s: send failed: %s", name, exc)
                error = exc
                break
            window.record(self._now().timestamp())
            done.update(batch.refs)
        for ref in done:
            await self.outbox.mark_sent(ref)
        rest = [by_id[ref] for ref, _ in pending if ref not in done]
        if error is not None and not isinstance(error, WeComTooFast):
            for d in rest:
                if error.retryable:
                    await self.outbox.retry(d.id, str(error), self._now() + timedelta(seconds=backoff(d.attempts)))
                else:
                    await self.outbox.fail(d.id, str(error))
            return
        if rest:
            until = datetime.fromtimestamp(window.free_at(self._now().timestamp()) + 0.5, timezone.utc)
            for d in rest:
                await self.outbox.hold(d.id, until)


# ---------------------------------------------------------------------------- wiring


class _ApiClient:
    """Keeps the WeCom HTTP client open while the service runs (listed first: closed last)."""

    name = "wecom-api"

    def __init__(self, api: WeComApi) -> None:
        self.api = api

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        await self.api.aclose()


def build_components(
    settings: Settings,
    inbound: InboundLog,
    core: CommandCore,
    outbox: Outbox,
    chats: ChatStore,
    compose: Compose,
    clock: Clock,
    secrets: Sequence[str],
    *,
    serve: bool = True,
) -> list[Any]:
    """The WeCom components: the app (when corp_id, agent_id, secret, token and
    encoding_aes_key are set) and the robots (when any are configured)."""
    wecom = settings.wecom
    if not (wecom.app_enabled or wecom.robots):
        return []
    api = WeComApi(
        wecom.api_base_url,
        corp_id=wecom.corp_id,
        secret=wecom.secret.reveal() if wecom.secret else None,
        agent_id=wecom.agent_id,
        secrets=secrets,
        clock=clock,
        too_fast_retries=0,  # the robot channel holds the rows until the next minute instead of sleeping
    )
    components: list[Any] = [_ApiClient(api)]
    if wecom.app_enabled:
        components.append(
            WeComAppChannel(settings, inbound, core, outbox, compose, api, chats=chats, clock=clock, serve=serve)
        )
    if wecom.robots:
        components.append(WeComRobotChannel(settings, outbox, compose, api, chats=chats, clock=clock))
    return components
