"""The Telegram channel: PTB's Application (long polling) with thin handlers, and the sender.

Handlers only translate: a message's text becomes ``CommandCore.handle(ChatRef, Caller,
text)``, a pressed inline button ``CommandCore.handle_button``; the ``Reply`` is rendered as
Telegram HTML, split under 4096 characters and queued on the ``TelegramSender``, which keeps
Telegram's limits for replies and alert deliveries alike (PTB's AIORateLimiter is not used:
it has no per-chat limit and stalls every request during one chat's flood wait).

Group chats: settings change only for the group's administrators, asked with getChatMember
(answers cached for a minute). The commands are registered with setMyCommands in English
(default) and Chinese (language_code "zh").

``TelegramChannel`` is the service component: ``start()`` connects in the background
(retrying while the Bot API is unreachable, so the rest of the service keeps running),
``stop()`` ends polling and sending within a few seconds, ``wake()`` makes its
``OutboxWorker`` claim new deliveries now (``TelegramDelivery`` renders and sends them).
Only the leading instance (bot.jobs.leadership) reads updates and claims Telegram
deliveries: its ``leader_part`` (``lead()`` / ``stand_by()``) is started and stopped with
leadership. A delivery worker (``receive=False``) claims from the start and never reads.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import Callable, Sequence

from telegram import BotCommand, Update
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import InvalidToken, TelegramError
from telegram.ext import Application, CallbackQueryHandler, ContextTypes, MessageHandler, filters
from telegram.request import HTTPXRequest

from bot.channels.telegram.limits import RateLimits
from bot.channels.telegram.sender import TELEGRAM_LIMIT, Outgoing, TelegramSender, delivery_worker, keyboard_markup
from bot.commands.command import Command
from bot.commands.core import CommandCore
from bot.commands.parse import parse_command
from bot.commands.registry import REGISTRY
from bot.core.clock import Clock
from bot.core.model import Caller, ChatRef, Reply
from bot.core.text import render_telegram_html, split_blocks
from bot.delivery.compose import Compose
from bot.logs import redact
from bot.store.chats import ChatStore
from bot.store.outbox import Outbox
from bot.web.metrics import Metrics
from config.model import Settings

log = logging.getLogger("shwatch.telegram")

ADMIN_CACHE_SECONDS = 60.0
LEADER_WORKER = "telegram-leader-"  # the worker id's prefix of a leading instance's deliveries
MENU_COMMANDS = tuple(command for command, _ in REGISTRY.menu("en"))


def menu(lang: str) -> list[BotCommand]:
    """The command menu in one language, from the command registry."""
    return [BotCommand(command, description) for command, description in REGISTRY.menu(lang)]


def render_reply(reply: Reply) -> list[str]:
    """A CommandCore ``Reply`` as Telegram HTML messages of at most 4096 characters."""

    return split_blocks(reply.as_blocks(), render_telegram_html, TELEGRAM_LIMIT)


def addressed_to(text: str, username: str | None) -> bool:
    """False for a command explicitly meant for another bot ("/help@other_bot")."""
    head = text.split(maxsplit=1)[0] if text.strip() else ""
    if not head.startswith("/") or "@" not in head:
        return True
    return bool(username) and head.split("@", 1)[1].lower() == username.lower()


class AdminCache:
    """Who administers which group, as getChatMember said within the last minute."""

    def __init__(self, ttl: float = ADMIN_CACHE_SECONDS, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._answers: dict[tuple[int, int], tuple[bool, float]] = {}

    def get(self, chat_id: int, user_id: int, now: float) -> bool | None:
        answer = self._answers.get((chat_id, user_id))
        if answer is None or answer[1] <= now:
            return None
        return answer[0]

    def put(self, chat_id: int, user_id: int, is_admin: bool, now: float) -> None:
        if len(self._answers) >= self.max_entries:
            self._answers = {k: v for k, v in self._answers.items() if v[1] > now}
            if len(self._answers) >= self.max_entries:
                self._answers.clear()
        self._answers[(chat_id, user_id)] = (is_admin, now + self.ttl)


class TelegramHandlers:
    """The PTB callbacks: translate updates to CommandCore calls and queue the replies."""

    def __init__(self, core: CommandCore, sender: TelegramSender, secrets: list[str], clock: Clock) -> None:
        self.core = core
        self.sender = sender
        self.secrets = secrets
        self.clock = clock
        self.admins = AdminCache()

    def install(self, app: Application) -> None:
        app.add_handler(MessageHandler(filters.UpdateType.MESSAGE & filters.TEXT, self.on_text))
        # a photo, sticker, voice ... in a private chat gets a hint, never silence
        app.add_handler(
            MessageHandler(
                filters.UpdateType.MESSAGE & filters.ChatType.PRIVATE & ~filters.TEXT & ~filters.StatusUpdate.ALL,
                self.on_non_text,
            )
        )
        app.add_handler(CallbackQueryHandler(self.on_button))
        app.add_error_handler(self.on_error)

    # ---------------------------------------------------------------- handlers
    async def on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        chat = update.effective_chat
        if message is None or chat is None or not message.text or chat.type == ChatType.CHANNEL:
            return
        group = chat.type != ChatType.PRIVATE
        if group and not message.text.startswith("/"):
            return  # in a group only commands are for the bot
        if group and not addressed_to(message.text, context.bot.username):
            return  # "/start@another_bot" in a group is for that bot; in a private chat only we read it
        ref = self._chat_ref(update)
        caller = await self._caller(update, context, message.text)
        reply = await self.core.handle(ref, caller, message.text)
        self._queue_reply(chat.id, group, reply)

    async def on_non_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat = update.effective_chat
        if chat is None or chat.type != ChatType.PRIVATE:
            return
        reply = await self.core.handle_non_text(self._chat_ref(update))
        self._queue_reply(chat.id, False, reply)

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        chat = update.effective_chat
        if query is None:
            return
        if chat is None or query.message is None:
            await self._answer(query, None)
            return
        group = chat.type != ChatType.PRIVATE
        ref = self._chat_ref(update)
        caller = await self._caller(update, context, "/subscribe")
        reply = await self.core.handle_button(ref, caller, query.data or "")
        toast = reply.toast
        edited = reply.edit
        # a refusal or a stale button is told to the one who pressed it (a pop-up), not posted to the chat
        await self._answer(query, toast, alert=not edited)
        if edited:
            self._queue_reply(chat.id, group, reply, edit_message_id=query.message.message_id)
        elif not toast:
            self._queue_reply(chat.id, group, reply)

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        error = context.error
        log.error(
            "handling an update failed: %s",
            redact(f"{type(error).__name__}: {error}", self.secrets),
            exc_info=error if not isinstance(error, TelegramError) else None,
        )

    # ---------------------------------------------------------------- helpers
    def _chat_ref(self, update: Update):
        chat = update.effective_chat
        user = update.effective_user
        group = chat.type != ChatType.PRIVATE
        title = chat.title if group else (user.full_name if user else None)
        return ChatRef(
            channel="telegram",
            address=str(chat.id),
            kind="group" if group else "private",
            title=title,
            lang_hint=user.language_code if user else None,
        )

    async def _caller(self, update: Update, context: ContextTypes.DEFAULT_TYPE, text: str):
        chat = update.effective_chat
        user = update.effective_user
        message = update.effective_message
        user_id = user.id if user else None
        if chat.type == ChatType.PRIVATE:
            return Caller(user_id=user_id, is_group_admin=True)
        # an anonymous administrator writes as the group itself
        if message is not None and message.sender_chat is not None and message.sender_chat.id == chat.id:
            return Caller(user_id=user_id, is_group_admin=True)
        command = parse_command(text)
        if not isinstance(command, Command) or not REGISTRY.get(command.name).changes_settings or user_id is None:
            return Caller(user_id=user_id, is_group_admin=False)
        return Caller(user_id=user_id, is_group_admin=await self._is_group_admin(context, chat.id, user_id))

    async def _is_group_admin(self, context: ContextTypes.DEFAULT_TYPE, chat_id: int, user_id: int) -> bool:
        now = self.clock.monotonic()
        known = self.admins.get(chat_id, user_id, now)
        if known is not None:
            return known
        try:
            member = await context.bot.get_chat_member(chat_id, user_id)
        except TelegramError as exc:
            log.warning("cannot ask Telegram who administers chat %s: %s", chat_id, redact(str(exc), self.secrets))
            return False
        is_admin = member.status in (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER)
        self.admins.put(chat_id, user_id, is_admin, now)
        return is_admin

    async def _answer(self, query, toast: str | None, alert: bool = False) -> None:
        try:
            await query.answer(text=(toast or None) and toast[:200], show_alert=bool(toast) and alert)
        except TelegramError as exc:  # an old query: nothing to do
            log.info("answering a button press failed: %s", redact(str(exc), self.secrets))

    def _queue_reply(self, chat_id: int, group: bool, reply: Reply, edit_message_id: int | None = None) -> None:
        parts = render_reply(reply)
        if not parts:
            return
        self.sender.send(
            Outgoing(
                chat_id=chat_id,
                parts=parts,
                group=group,
                keyboard=keyboard_markup(reply.keyboard),
                edit_message_id=edit_message_id,
            )
        )


def build_application(token: str, base_url: str) -> Application:
    """PTB Application for long polling against ``base_url`` (the part before the token)."""
    return (
        Application.builder()
        .token(token)
        .base_url(base_url)
        .request(HTTPXRequest(connection_pool_size=64, pool_timeout=10.0, read_timeout=15.0, write_timeout=15.0))
        .get_updates_request(HTTPXRequest(connection_pool_size=2, read_timeout=15.0))
        .job_queue(None)
        .build()
    )


class TelegramChannel:
    """Service component: the bot (commands in, replies and alerts out)."""

    name = "telegram"

    def __init__(
        self,
        settings: Settings,
        core: CommandCore,
        outbox: Outbox,
        chats: ChatStore,
        compose: Compose,
        clock: Clock,
        secrets: Sequence[str],
        *,
        receive: bool = True,
        retry_cap: float = 60.0,
        batch: int = 100,
        claim_interval: float = 2.0,
        startup_pause: float = 1.05,
        metrics: Metrics | None = None,
        leading: Callable[[], bool] | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.secrets = list(secrets)
        self.retry_cap = retry_cap
        self.app = build_application(self.settings.telegram.token.reveal(), self.settings.telegram.api_base_url)
        self.receive = receive  # False in a delivery worker: it only sends
        self.sender = TelegramSender(
            self.app.bot, clock, secrets=self.secrets, startup_pause=startup_pause,
            limits=RateLimits.telegram(self.settings.telegram.messages_per_second), metrics=metrics,
            may_deliver=leading or (lambda: True),
        )
        self.outbox = outbox
        self.worker = delivery_worker(
            outbox, chats, compose, self.sender, clock, batch=batch, claim_interval=claim_interval,
            worker_id=_worker_id(leader=receive), metrics=metrics,
        )
        self.handlers = TelegramHandlers(core, self.sender, self.secrets, clock)
        self.handlers.install(self.app)
        self._task: asyncio.Task | None = None
        self._connected = asyncio.Event()  # the Bot API answered (getMe)
        self._receiving: asyncio.Task | None = None
        self._polling = False

    async def start(self) -> None:
        await self.sender.start()
        if not self.receive:  # a delivery worker sends its share of the deliveries from the start
            await self.worker.start()
        self._task = asyncio.create_task(self._connect(), name="telegram-connect")

    def wake(self) -> None:
        self.worker.wake()

    @property
    def leader_part(self) -> "TelegramLeading":
        """The part only the leading instance runs: getUpdates and the Telegram deliveries."""
        return TelegramLeading(self)

    async def _connect(self) -> None:
        delay = 1.0
        while True:
            try:
                await (self.app.initialize() if self.receive else self.app.bot.initialize())
                break
            except InvalidToken:
                log.error("Telegram rejected the bot token; check [telegram] token / TELEGRAM_BOT_TOKEN")
                return
            except TelegramError as exc:
                log.warning(
                    "cannot reach the Telegram Bot API (%s); retrying in %.0f s",
                    redact(f"{type(exc).__name__}: {exc}", self.secrets),
                    delay,
                )
            await self.clock.sleep(delay)
            delay = min(delay * 2, self.retry_cap)
        self._connected.set()
        if not self.receive:
            log.info("Telegram delivery worker ready (no updates polled here)")

    async def lead(self) -> None:
        """Start sending the Telegram deliveries and reading updates (once connected).
        Deliveries another leader claimed and did not send (it died or hangs) go back to the
        outbox first: only the leader sends Telegram's deliveries, apart from delivery workers."""
        try:
            n = await self.outbox.requeue_claimed(LEADER_WORKER, keep=self.worker.worker_id)
        except Exception as exc:  # they go back after a while anyway (Maintenance)
            log.warning("could not take back the previous leader's Telegram deliveries: %s", redact(str(exc), self.secrets))
        else:
            if n:
                log.warning("%d Telegram deliveries claimed by the previous leader are queued again", n)
        await self.worker.start()
        self._receiving = asyncio.create_task(self._receive(), name="telegram-receive")

    async def _receive(self) -> None:
        await self._connected.wait()
        await self._register_commands()
        await self.app.start()
        self._polling = True
        await self.app.updater.start_polling(
            poll_interval=0.0,
            timeout=self.settings.telegram.poll_timeout,
            allowed_updates=[Update.MESSAGE, Update.CALLBACK_QUERY],
            bootstrap_retries=-1,
            error_callback=self._polling_error,
        )
        log.info("Telegram bot @%s is polling for updates", self.app.bot.username)

    async def stand_by(self) -> None:
        """Stop reading updates (those already read are answered and marked read) and stop
        claiming Telegram deliveries; the ones claimed and not sent go back to the outbox."""
        await self._stop_receiving()
        await self.worker.stop()

    async def _stop_receiving(self) -> None:
        if self._receiving is not None and not self._receiving.done():
            self._receiving.cancel()
        if self._receiving is not None:
            await asyncio.gather(self._receiving, return_exceptions=True)
            self._receiving = None
        if self._polling:
            try:
                if self.app.updater.running:
                    await self.app.updater.stop()
                if self.app.running:
                    await self.app.stop()
            except (TelegramError, RuntimeError) as exc:
                log.warning("stopping Telegram polling: %s", redact(str(exc), self.secrets))
            self._polling = False
            log.info("Telegram updates are no longer read here")

    def _polling_error(self, exc: TelegramError) -> None:
        log.warning("getUpdates failed: %s", redact(f"{type(exc).__name__}: {exc}", self.secrets))

    async def _register_commands(self) -> None:
        try:
            await self.app.bot.set_my_commands(menu("en"))
            await self.app.bot.set_my_commands(menu("zh"), language_code="zh")
        except TelegramError as exc:
            log.warning("setMyCommands failed: %s", redact(f"{type(exc).__name__}: {exc}", self.secrets))

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._stop_receiving()
        self.worker.halt()  # no new unit reaches the sender from here on
        await self.sender.stop()  # in-flight sends finish; queued ones answer Interrupted
        await self.worker.stop()  # records those outcomes; claimed, unsent rows go back
        try:
            await (self.app.shutdown() if self.receive else self.app.bot.shutdown())
        except (TelegramError, RuntimeError) as exc:
            log.warning("shutting down the Telegram client: %s", redact(str(exc), self.secrets))


class TelegramLeading:
    """The leader-only part of a ``TelegramChannel`` as a component (bot.jobs.leadership):
    Telegram allows one getUpdates per token, and Telegram's 30 messages/s are kept by the one
    sender that has them all (``run --deliver-only`` workers send their configured share)."""

    name = "telegram-updates"

    def __init__(self, channel: TelegramChannel) -> None:
        self.channel = channel

    async def start(self) -> None:
        await self.channel.lead()

    async def stop(self) -> None:
        await self.channel.stand_by()


def _worker_id(leader: bool) -> str:
    """The outbox worker's name; a leader's starts with ``LEADER_WORKER``."""
    return f"{LEADER_WORKER if leader else 'telegram-'}{os.getpid()}-{uuid.uuid4().hex[:6]}"
