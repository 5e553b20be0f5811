"""WeCom service components, each with ``start()``/``stop()``/``wake()``:

- ``WeComAppChannel``: the self-built app. Serves the callback URL (``CallbackServer``),
  runs each member's text through ``CommandCore.handle`` and sends the reply with
  message/send; its ``OutboxWorker`` delivers the outbox rows of channel "wecom" (alerts,
  digests) as markdown or text (``[wecom] msgtype``) of at most 2048 bytes through
  ``AppDelivery``, within 30 messages a minute and 1,000 an hour per member, counted over
  every instance in the database.
- ``WeComRobotChannel``: group robots. Syncs the robot chats from the config at start-up;
  its ``OutboxWorker`` delivers the outbox rows of channel "robot" through
  ``RobotDelivery`` within 20 messages/min per robot, counted over every instance in the
  database, batching several pending alerts into one markdown message when they come
  faster (``plan``).

Claiming, composing, quiet-hours bundling and recording are the worker's
(``bot.delivery.worker``); ``bot.channels.wecom.render`` makes the blocks WeCom messages
(app: 2048 bytes, whole items; robots: 4096 bytes of markdown).
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from bot.channels.wecom.api import NEXT_MINUTE_MARGIN, WeComApi, WeComError, WeComTooFast
from bot.channels.wecom.callback import CallbackServer, InboundMessage
from bot.channels.wecom.crypto import WeComCrypto
from bot.channels.wecom.render import app_pieces, markdown_pieces
from bot.channels.wecom.robots import CHANNEL as ROBOT_CHANNEL
from bot.channels.wecom.robots import Batch, SendWindow, plan_batches, sync_robot_chats
from bot.commands.core import CommandCore
from bot.core.clock import Clock, seconds_to_next_minute
from bot.core.model import Caller, ChatRef
from bot.delivery.compose import Compose
from bot.delivery.worker import Fail, Gone, Hold, OutboxWorker, Outcome, Retry, Sent, Unit
from bot.store.chats import ChatStore
from bot.store.inbound import InboundLog
from bot.store.outbox import Outbox
from bot.web.metrics import Metrics
from config.model import Settings, WeComRobot

log = logging.getLogger("shwatch.wecom")

APP_CHANNEL = "wecom"

# A member no longer reachable through the app: stop sending to them.
GONE_ERRCODES = frozenset({60111, 81013, 40031, 60103})
MEMBER_LANG = "zh"  # WeCom tells us no member language: new members start in Chinese (语言 English switches)
ITEM_KINDS = frozenset({"alert", "digest"})  # deliveries whose blocks are items
HOLD_MARGIN = 1.0  # seconds past the moment the window frees
EMPTY = "nothing to send (empty message)"


# ---------------------------------------------------------------------------- the app


def _ts(clock: Clock) -> float:
    """The clock's instant in seconds: what the send windows count in."""
    return clock.now().timestamp()


async def _send_paced(
    clock: Clock, windows: Sequence[SendWindow], pieces: Sequence[str], send: Callable[[str], Awaitable[object]]
) -> None:
    """Send ``pieces`` in order, each when every window has room, recording each send."""
    for piece in pieces:
        wait = max(w.free_at(_ts(clock)) for w in windows) - _ts(clock)
        if wait > 0:
            await clock.sleep(wait)
        await send(piece)
        for w in windows:
            w.record(_ts(clock))


async def _sent_times(outbox: Outbox, chat_id: int, since: datetime, worker_id: str | None) -> list[float]:
    """When messages went to a chat since ``since``, by every instance (one time per message;
    what other workers claimed counts from its claim): what a send window counts."""
    sends = await outbox.recent_sends(chat_id, since, other_than=worker_id)
    return [when.timestamp() for when, n in sends for _ in range(n)]


def _outcome_of(exc: WeComError, *, member: bool) -> Outcome:
    """What a WeCom error means for the delivery: a member who left is gone; a busy or
    failing server is retried; anything else fails."""
    if member and exc.errcode in GONE_ERRCODES:
        return Gone(str(exc))
    if exc.retryable:
        return Retry(exc.retry_after or None, str(exc))
    return Fail(str(exc))


class AppDelivery:
    """The outbox channel "wecom": a unit as app messages (markdown or text, at most 2048
    bytes each, whole items) to one member, within the member's limits (30 a minute, 1,000
    an hour). The limits are counted over what every instance sent (``Outbox.recent_sends``)
    plus this instance's command replies; a unit that does not fit waits (``Hold``, its rows'
    ``not_before`` moves), never dropped. A bundle of held alerts carries at most a minute's
    allowance (``bundle_most``), so it fits one window."""

    name = APP_CHANNEL

    def __init__(
        self, api: WeComApi, clock: Clock, outbox: Outbox, replies: Mapping[str, SendWindow], *,
        worker_id: str, msgtype: str, per_minute: int, per_hour: int,
    ) -> None:
        self.api = api
        self.clock = clock
        self.outbox = outbox
        self.replies = replies
        self.worker_id = worker_id
        self.msgtype = msgtype
        self.limits = ((per_minute, 60.0), (per_hour, 3600.0))
        # one message of heading at most, the rest one alert each (an alert fits one message)
        self.bundle_most = max(per_minute - 1, 1)

    async def _windows(self, chat_id: int | None, userid: str) -> list[SendWindow]:
        """The member's minute and hour windows as every instance has used them (``chat_id``
        None: a member with no chat yet, only this instance's replies count)."""
        times = list(self.replies[userid].times)
        if chat_id is not None:
            longest = max(window for _, window in self.limits)
            times += await _sent_times(self.outbox, chat_id, self.clock.now() - timedelta(seconds=longest), self.worker_id)
        return [SendWindow.of(limit, window, times) for limit, window in self.limits]

    async def room_in(self, chat_id: int | None, userid: str) -> float:
        """Seconds until one more message may go to the member (0: now)."""
        windows = await self._windows(chat_id, userid)
        now = _ts(self.clock)
        return max(0.0, max(w.free_at(now) for w in windows) - now)

    async def send(self, unit: Unit) -> Outcome:
        # alerts and digests are blocks of items (cut down to fit); a notice is only split
        pieces = list(unit.parts) or app_pieces(unit.blocks, self.msgtype, whole=unit.kind in ITEM_KINDS)
        if not pieces:
            return Fail(EMPTY)
        userid = unit.address
        windows = await self._windows(unit.chat_id, userid)
        now = _ts(self.clock)
        # the window that frees last says why (the first of them, the minute's, on a tie)
        free, first = max((w.free_at(now, len(pieces)), -i) for i, w in enumerate(windows))
        if free > now:
            w = windows[-first]
            return Hold(free + HOLD_MARGIN - now, f"WeCom takes {w.limit} messages in {w.window:.0f} s to one member")
        try:
            # only a unit longer than a whole window's allowance waits here, part by part
            await _send_paced(self.clock, windows, pieces, lambda piece: self.api.send_app_message(userid, piece, self.msgtype))
        except WeComError as exc:
            return _outcome_of(exc, member=True)
        except ValueError as exc:  # over the size limit: a formatting bug, not worth retrying
            return Fail(str(exc))
        return Sent(messages=len(pieces))


class WeComAppChannel:
    """Callback server + command replies + delivery worker for channel "wecom"."""

    name = "wecom-app"

    def __init__(
        self,
        settings: Settings,
        inbound: InboundLog,
        core: CommandCore,
        outbox: Outbox,
        compose: Compose,
        api: WeComApi,
        *,
        metrics: Metrics | None = None,
        clock: Clock,
        chats: ChatStore | None = None,
        claim_interval: float = 1.0,
        batch: int = 50,
        concurrency: int = 8,
        reply_retry_cap: float = 5.0,
        serve: bool = True,
    ) -> None:
        wecom = settings.wecom
        self.serve = serve  # False in a delivery worker: the full service answers the callback URL
        self.settings = settings
        self.core = core
        self.api = api
        self.clock = clock
        self.reply_retry_cap = reply_retry_cap
        self.admins = frozenset(wecom.admin_users)
        self.crypto = WeComCrypto(wecom.token.reveal(), wecom.encoding_aes_key.reveal(), wecom.corp_id)
        self.server = CallbackServer(
            self.crypto, self.handle_message, inbound, host=wecom.host or "0.0.0.0",
            port=wecom.port if wecom.port is not None else 8080, path=wecom.path,
            agent_id=wecom.agent_id, clock=clock,
        )
        self.msgtype = wecom.msgtype
        self.chats = chats
        # this instance's command replies to each member (the outbox counts the rest)
        self._replies: dict[str, SendWindow] = defaultdict(lambda: SendWindow(wecom.member_per_hour, 3600.0))
        worker_id = f"{APP_CHANNEL}-{uuid.uuid4().hex[:8]}"
        self.delivery = AppDelivery(
            api, clock, outbox, self._replies, worker_id=worker_id, msgtype=wecom.msgtype,
            per_minute=wecom.member_per_minute, per_hour=wecom.member_per_hour,
        )
        # one member's messages in order, members side by side (at most ``concurrency``)
        self.worker = OutboxWorker(
            outbox, chats, compose, self.delivery, clock, worker_id=worker_id,
            batch=batch, claim_interval=claim_interval, concurrency=concurrency, metrics=metrics,
        )

    @property
    def port(self) -> int | None:
        return self.server.bound_port

    async def start(self) -> None:
        if self.serve:
            await self.server.start()
        await self.worker.start()

    async def stop(self) -> None:
        if self.serve:
            await self.server.stop()
        else:  # the web server carried the callback: finish the messages being handled
            await self.server.drain(3.0)
        await self.worker.stop()

    def wake(self) -> None:
        self.worker.wake()

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
            await self.send_reply(message.from_user, app_pieces(reply.as_blocks(), "text", whole=False), msgtype="text")
            return
        await self._command(message.from_user, message.content)

    @staticmethod
    def _chat_ref(userid: str) -> ChatRef:
        return ChatRef(APP_CHANNEL, userid, "private", title=None, lang_hint=MEMBER_LANG)

    async def _command(self, userid: str, text: str) -> None:
        caller = Caller(userid, userid in self.admins, True)
        reply = await self.core.handle(self._chat_ref(userid), caller, text)
        pieces = app_pieces(reply.as_blocks(), self.msgtype, whole=False)  # WeCom has no buttons: the text says what to send
        if pieces:
            await self.send_reply(userid, pieces, self.msgtype)

    async def send_reply(self, userid: str, parts: Sequence[str], msgtype: str = "markdown", attempts: int = 3) -> bool:
        """Send a command reply now (not through the outbox); a few retries on busy errors.
        A member at their limit (alerts fill it too) gets the reply when there is room: WeCom
        would drop it silently."""
        chat = await self.chats.get(APP_CHANNEL, userid) if self.chats is not None else None
        for part in parts:
            wait = await self.delivery.room_in(chat.id if chat is not None else None, userid)
            if wait > 0:
                log.info("a WeCom member is at their message limit: the reply waits %.0f s", wait)
                await self.clock.sleep(wait + HOLD_MARGIN)
            for attempt in range(attempts):
                try:
                    await self.api.send_app_message(userid, part, msgtype)
                    self._replies[userid].record(self.clock.now().timestamp())
                    break
                except WeComError as exc:
                    if not exc.retryable or attempt == attempts - 1:
                        log.warning("reply to a WeCom member failed: %s", exc)
                        return False
                    await self.clock.sleep(min(self.reply_retry_cap, 0.5 * 2**attempt))
        return True


# ---------------------------------------------------------------------------- robots


class RobotDelivery:
    """The outbox channel "robot": one 20/min window per robot; when alerts come faster than
    the window allows, several are packed into one message (``plan``).

    With an ``outbox``, a robot's window is counted over what every instance sent to it
    (``Outbox.recent_sends``, read before each send), so several instances together keep
    the 20 a minute; a 130101 answer still blocks this instance's window to the next
    minute. Without one (a test of the planner alone), only this instance's sends count."""

    name = ROBOT_CHANNEL

    def __init__(
        self, robots: Mapping[str, WeComRobot], api: WeComApi, clock: Clock,
        outbox: Outbox | None = None, worker_id: str | None = None,
    ) -> None:
        self.robots = robots
        self.api = api
        self.clock = clock
        self.outbox = outbox
        self.worker_id = worker_id
        self.windows: dict[str, SendWindow] = {name: SendWindow() for name in robots}
        self._blocked: dict[str, float] = {}  # robot -> until when a 130101 blocks it

    async def _window(self, name: str, chat_id: int) -> SendWindow:
        """The robot's window now: every instance's sends in the last minute (from the
        outbox), then any 130101 block; kept for ``plan``."""
        window = self.windows[name]
        if self.outbox is not None:
            since = self.clock.now() - timedelta(seconds=window.window)
            window = SendWindow.of(window.limit, window.window, await _sent_times(self.outbox, chat_id, since, self.worker_id))
            blocked = self._blocked.get(name, 0.0)
            if blocked > _ts(self.clock):
                window.block_until(blocked)
            self.windows[name] = window
        return window

    def plan(self, units: Sequence[Unit]) -> list[Unit]:
        """One robot's waiting units as the messages to send now: one per alert while the
        window has room, else packed (``plan_batches``); what does not fit waits (``send``
        holds it) and a unit is never sent in part."""
        window = self.windows.get(units[0].address) if units else None
        if window is None:
            return list(units)
        pieces = {i: list(u.parts) or markdown_pieces(u.blocks) for i, u in enumerate(units)}
        pending = [(i, p) for i, p in pieces.items() if p]
        now = _ts(self.clock)
        batches, _ = plan_batches(pending, window.remaining(now))
        if not batches and pending and window.remaining(now) >= window.limit:
            # one delivery longer than a whole minute's allowance: paced, part by part
            i, parts = pending[0]
            log.warning("robot %s: one message needs %d parts, more than a minute allows", units[0].address, len(parts))
            batches = [Batch(part, (i,)) for part in parts]
        last = {ref: n for n, batch in enumerate(batches) for ref in batch.refs}
        out: list[Unit] = []
        group: list[Batch] = []
        reach = -1
        for n, batch in enumerate(batches):
            group.append(batch)
            reach = max(reach, *(last[ref] for ref in batch.refs))
            if n == reach:  # every unit in the group is complete: one unit of these messages
                refs = list(dict.fromkeys(ref for b in group for ref in b.refs))
                out.append(Unit.merged([units[ref] for ref in refs], [b.content for b in group]))
                group = []
        planned = set(last)
        out.extend(u for i, u in enumerate(units) if i not in planned)
        return out

    async def send(self, unit: Unit) -> Outcome:
        name = unit.address
        robot = self.robots.get(name)
        if robot is None:
            return Fail(f"robot {name!r} is not in the config")
        pieces = list(unit.parts) or markdown_pieces(unit.blocks)
        if not pieces:
            return Fail(EMPTY)
        window = await self._window(name, unit.chat_id)
        now = _ts(self.clock)
        room = window.remaining(now)
        if len(pieces) > room and not (len(pieces) > window.limit and room >= window.limit):
            return Hold(window.free_at(now) + 0.5 - now, f"robot {name} is at its {window.limit} messages a minute")
        try:
            await _send_paced(self.clock, [window], pieces, lambda piece: self.api.send_robot(robot.url, piece, "markdown"))
        except WeComTooFast:
            log.warning("robot %s answered 130101 (too fast); waiting for the next minute", name)
            self._blocked[name] = _ts(self.clock) + seconds_to_next_minute(self.clock.now(), NEXT_MINUTE_MARGIN)
            window.block_until(self._blocked[name])
            now = _ts(self.clock)
            return Hold(window.free_at(now) + 0.5 - now, "robot answered 130101 (too fast)")
        except WeComError as exc:
            log.warning("robot %s: send failed: %s", name, exc)
            return _outcome_of(exc, member=False)
        except ValueError as exc:  # over the size limit: a formatting bug, not worth retrying
            return Fail(str(exc))
        return Sent(messages=len(pieces))


class WeComRobotChannel:
    """Group robots: their chats follow the config; their deliveries go through a worker."""

    name = "wecom-robots"

    def __init__(
        self,
        settings: Settings,
        outbox: Outbox,
        compose: Compose,
        api: WeComApi,
        *,
        metrics: Metrics | None = None,
        clock: Clock,
        chats: ChatStore | None = None,
        claim_interval: float = 1.0,
        batch: int = 500,
        concurrency: int = 8,
    ) -> None:
        self.settings = settings
        self.chats = chats
        self.robots = {robot.name: robot for robot in settings.wecom.robots}
        worker_id = f"{ROBOT_CHANNEL}-{uuid.uuid4().hex[:8]}"
        self.delivery = RobotDelivery(self.robots, api, clock, outbox, worker_id)
        self.worker = OutboxWorker(
            outbox, chats, compose, self.delivery, clock, worker_id=worker_id,
            batch=batch, claim_interval=claim_interval, concurrency=concurrency, metrics=metrics,
        )

    @property
    def windows(self) -> dict[str, SendWindow]:
        return self.delivery.windows

    async def start(self) -> None:
        if self.chats is not None:
            await sync_robot_chats(self.chats, list(self.robots.values()), self.settings.topics, self.settings.timezone)
        await self.worker.start()

    async def stop(self) -> None:
        await self.worker.stop()

    def wake(self) -> None:
        self.worker.wake()


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
    metrics: Metrics | None = None,
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
        sleep=clock.sleep,
        too_fast_retries=0,  # the robot channel holds the rows until the next minute instead of sleeping
    )
    components: list[Any] = [_ApiClient(api)]
    if wecom.app_enabled:
        components.append(
            WeComAppChannel(settings, inbound, core, outbox, compose, api, chats=chats, clock=clock, serve=serve, metrics=metrics)
        )
    if wecom.robots:
        components.append(WeComRobotChannel(settings, outbox, compose, api, chats=chats, clock=clock, metrics=metrics))
    return components
