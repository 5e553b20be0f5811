"""``CommandCore``: runs a chat's command, channel-agnostic, and never raises.

It finds (or creates) the chat, parses the text (``bot.commands.parse``), checks who may run
the command (from its ``CommandSpec``: ``admin``, ``changes_settings``) and calls the
command's handler from the registry. A mistake in the command is answered with its
``CommandError`` text; a failure inside is logged and the person gets a short apology.
"""

from __future__ import annotations

import logging

from bot.commands.command import CommandError
from bot.commands.handlers import topics
from bot.commands.names import TimeZones, TopicCatalog
from bot.commands.parse import parse_command
from bot.commands.registry import REGISTRY
from bot.commands.replies import say
from bot.commands.spec import CommandContext, CommandSpec, DigestNow
from bot.core.clock import Clock
from bot.core.i18n import lang_from_code, t
from bot.core.model import Caller, Chat, ChatRef, Reply
from bot.store.chats import ChatStore
from bot.store.dispatch import DispatchLog
from bot.store.lease import LeaseStore
from bot.store.outbox import Outbox
from config.model import Settings
from monitors.store import ItemStore

log = logging.getLogger("shwatch.commands")

__all__ = ["CommandCore"]


class CommandCore:
    """Runs commands for chats. One instance serves every channel."""

    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        *,
        chats: ChatStore,
        items: ItemStore,
        outbox: Outbox,
        dispatched: DispatchLog,
        digest_now: DigestNow | None = None,
        leases: LeaseStore | None = None,
    ) -> None:
        self.settings = settings
        self.chats = chats
        self.registry = REGISTRY
        self.ctx = CommandContext(
            settings=settings, clock=clock, chats=chats, items=items, outbox=outbox, dispatched=dispatched,
            topics=TopicCatalog(settings.topics), zones=TimeZones(), registry=REGISTRY, digest_now=digest_now,
            leases=leases,
        )

    # -------------------------------------------------------------- entry points

    async def handle(self, chat_ref: ChatRef, caller: Caller, text: str | None) -> Reply:
        """Answer one text message (``None`` or a non-string is treated as no text)."""
        lang = lang_from_code(chat_ref.lang_hint)
        try:
            chat = await self._chat(chat_ref)
            lang = chat.lang
            cmd = parse_command(text if isinstance(text, str) else "")
            if isinstance(cmd, CommandError):
                return say(cmd.key, lang, **cmd.params)
            spec = self.registry.get(cmd.name)
            refusal = self.refusal(spec, chat_ref, caller, lang)
            if refusal is not None:
                return refusal
            return await spec.handler(self.ctx, chat, cmd)
        except CommandError as err:
            return say(err.key, lang, **err.params)
        except Exception:
            log.exception("command failed in %s chat (%s)", chat_ref.channel, type(text).__name__)
            return say("err.internal", lang)

    async def handle_button(self, chat_ref: ChatRef, caller: Caller, data: str | None) -> Reply:
        """A pressed topic button: the same permission as /subscribe, then toggle."""
        lang = lang_from_code(chat_ref.lang_hint)
        try:
            chat = await self._chat(chat_ref)
            lang = chat.lang
            data = data if isinstance(data, str) else ""
            if not topics.is_topic_button(data):
                return topics.stale_button(lang)
            refusal = self.refusal(self.registry.get("subscribe"), chat_ref, caller, lang)
            if refusal is not None:
                refusal.toast = t("refuse.group", lang)
                return refusal
            return await topics.press(self.ctx, chat, data)
        except Exception:
            log.exception("button failed in %s chat", chat_ref.channel)
            return say("err.internal", lang)

    async def handle_non_text(self, chat_ref: ChatRef) -> Reply:
        """A photo, sticker, voice ... in a private chat: say what is understood, in the chat's
        language (nothing is created for a chat we do not know yet)."""
        lang = lang_from_code(chat_ref.lang_hint)
        try:
            chat = await self.chats.get(chat_ref.channel, str(chat_ref.address))
            if chat is not None:
                lang = chat.lang
        except Exception:
            log.exception("looking up a %s chat failed", chat_ref.channel)
        return say("hint.non_text", lang)

    # -------------------------------------------------------------- permissions

    def is_admin(self, chat_ref: ChatRef, caller: Caller) -> bool:
        """The bot's administrators: flagged by the channel, or listed in the settings
        (Telegram chat or user ids, WeCom user ids)."""
        if caller.is_admin:
            return True
        if chat_ref.channel == "telegram":
            ids = set(self.settings.telegram.admin_chat_ids)
            for value in (chat_ref.address, caller.user_id):
                try:
                    if value is not None and int(value) in ids:
                        return True
                except (TypeError, ValueError):
                    continue
        if chat_ref.channel == "wecom":
            users = set(self.settings.wecom.admin_users)
            if chat_ref.address in users or (caller.user_id is not None and str(caller.user_id) in users):
                return True
        return False

    def refusal(self, spec: CommandSpec, chat_ref: ChatRef, caller: Caller, lang: str) -> Reply | None:
        """Why ``caller`` may not run ``spec`` here, or None when they may."""
        if spec.admin and not self.is_admin(chat_ref, caller):
            return say("refuse.admin", lang, command=self.registry.slash_form(spec))
        if spec.changes_settings and chat_ref.kind != "private" and not caller.is_group_admin:
            return say("refuse.group", lang)
        return None

    # -------------------------------------------------------------- helpers

    async def _chat(self, ref: ChatRef) -> Chat:
        chat = await self.chats.get_or_create(
            ref.channel, str(ref.address), ref.kind, ref.title, lang_from_code(ref.lang_hint)
        )
        if not chat.active:  # they talk to us again after blocking the bot
            await self.chats.set_active(chat.id, True)
            chat = await self.chats.get_by_id(chat.id) or chat
        return chat
