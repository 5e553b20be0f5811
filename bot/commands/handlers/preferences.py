"""/mode, /digest, /quiet, /tz, /lang, /stop: how, when and in which language a chat hears from us."""

from __future__ import annotations

import inspect
import logging

from bot.commands.args import shorten
from bot.commands.command import Command, CommandError
from bot.commands.replies import say
from bot.commands.spec import CommandContext
from bot.core.i18n import t
from bot.core.model import Chat, Reply

log = logging.getLogger("shwatch.commands")


async def mode(ctx: CommandContext, chat: Chat, cmd: Command) -> Reply:
    lang = chat.lang
    if not cmd.args:
        return say("mode.current", lang, mode=t("mode." + chat.mode, lang))
    chosen = cmd.args[0]
    await ctx.chats.set_mode(chat.id, chosen)
    chat = await ctx.chats.get_by_id(chat.id) or chat
    return say("mode.set_" + chosen, lang, time=chat.digest_time, tz=chat.tz)


async def digest(ctx: CommandContext, chat: Chat, cmd: Command) -> Reply:
    lang = chat.lang
    if not cmd.args:
        key = "digest.status_on" if chat.digest_enabled else "digest.status_off"
        return say(key, lang, time=chat.digest_time, tz=chat.tz)
    arg = cmd.args[0]
    if arg == "on":
        await ctx.chats.set_digest(chat.id, enabled=True)
        return say("digest.on", lang, time=chat.digest_time, tz=chat.tz)
    if arg == "off":
        await ctx.chats.set_digest(chat.id, enabled=False)
        return say("digest.off", lang)
    if arg == "now":
        return await _digest_now(ctx, chat)
    await ctx.chats.set_digest(chat.id, enabled=True, time=arg)
    return say("digest.on", lang, time=arg, tz=chat.tz)


async def _digest_now(ctx: CommandContext, chat: Chat) -> Reply:
    if ctx.digest_now is None:
        return say("digest.unavailable", chat.lang)
    try:
        result = ctx.digest_now(chat)
        if inspect.isawaitable(result):
            await result
    except Exception:
        log.exception("digest_now hook failed for chat %s", chat.id)
        return say("digest.unavailable", chat.lang)
    return say("digest.now", chat.lang)


async def quiet(ctx: CommandContext, chat: Chat, cmd: Command) -> Reply:
    lang = chat.lang
    if not cmd.args:
        if chat.quiet_start and chat.quiet_end:
            return say("quiet.status_on", lang, start=chat.quiet_start, end=chat.quiet_end, tz=chat.tz)
        return say("quiet.status_off", lang)
    if cmd.args[0] == "off":
        await ctx.chats.set_quiet(chat.id, None, None)
        return say("quiet.off", lang)
    start, end = cmd.args
    await ctx.chats.set_quiet(chat.id, start, end)
    return say("quiet.set", lang, start=start, end=end, tz=chat.tz)


async def time_zone(ctx: CommandContext, chat: Chat, cmd: Command) -> Reply:
    lang = chat.lang
    if not cmd.args:
        return say("tz.current", lang, tz=chat.tz)
    zone = ctx.zones.find(cmd.args[0])
    if zone is None:
        raise CommandError("err.bad_tz", value=shorten(cmd.args[0]))
    await ctx.chats.set_tz(chat.id, zone)
    return say("tz.set", lang, tz=zone)


async def language(ctx: CommandContext, chat: Chat, cmd: Command) -> Reply:
    if not cmd.args:
        return say("lang.current", chat.lang)
    await ctx.chats.set_lang(chat.id, cmd.args[0])
    return say("lang.set", cmd.args[0])


async def stop(ctx: CommandContext, chat: Chat, cmd: Command) -> Reply:
    n_rules = await ctx.chats.delete_chat(chat.id)
    return say("stop.done", chat.lang, alerts=n_rules)
