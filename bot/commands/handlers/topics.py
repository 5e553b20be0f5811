"""/topics, /subscribe, /unsubscribe and the topic buttons under /topics."""

from __future__ import annotations

from bot.commands.command import Command
from bot.commands.names import mentions_all
from bot.commands.replies import say, text_reply
from bot.commands.spec import CommandContext
from bot.core.i18n import t
from bot.core.model import Button, Chat, Reply
from bot.core.text import Bold, Code, Paragraph, Plain

BUTTON_PREFIX = "t:"
BUTTON_DATA_MAX = 64  # Telegram's limit for callback data
_ON, _OFF = "✅", "▫️"


def topics_reply(ctx: CommandContext, chat: Chat, edit: bool = False) -> Reply:
    """The fields with the chat's choice marked, and a button per field (Telegram shows them)."""
    lang = chat.lang
    fields = ctx.topics.fields
    field_ids = set(ctx.topics.field_ids)
    paragraphs: list[Paragraph] = [(Bold(t("topics.title", lang)),)]
    for tp in fields:
        paragraphs.append((Plain(f"{_mark(tp.id, chat)} "), Code(tp.id), Plain(" " + tp.name(lang))))
    others = sorted(chat.topics - field_ids)
    if others:
        paragraphs.append((Plain(t("topics.other", lang, topics=ctx.topics.names(others, lang))),))
    paragraphs.append(())
    paragraphs.append((Plain(t("topics.count", lang, count=len(chat.topics & field_ids), total=len(fields))),))
    # only Telegram shows the buttons; elsewhere the text says what to send
    footer = "topics.footer" if chat.channel == "telegram" else "topics.footer_text"
    paragraphs.append((Plain(t(footer, lang)),))
    buttons = [
        Button(f"{_mark(tp.id, chat)} {tp.name(lang)}", f"{BUTTON_PREFIX}{tp.id}"[:BUTTON_DATA_MAX]) for tp in fields
    ]
    keyboard = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    keyboard.append([
        Button(t("button.all", lang), BUTTON_PREFIX + "all"),
        Button(t("button.none", lang), BUTTON_PREFIX + "none"),
    ])
    return Reply(paragraphs, keyboard=keyboard, edit=edit)


def _mark(topic_id: str, chat: Chat) -> str:
    return _ON if topic_id in chat.topics else _OFF


def is_topic_button(data: str) -> bool:
    return data.startswith(BUTTON_PREFIX) and len(data) <= BUTTON_DATA_MAX


async def topics(ctx: CommandContext, chat: Chat, cmd: Command) -> Reply:
    return topics_reply(ctx, chat)


async def subscribe(ctx: CommandContext, chat: Chat, cmd: Command) -> Reply:
    if not cmd.args:
        return topics_reply(ctx, chat)
    lang = chat.lang
    wanted = ctx.topics.resolve(cmd.args)
    new = [i for i in wanted if i not in chat.topics]
    old = [i for i in wanted if i in chat.topics]
    now = await ctx.chats.add_topics(chat.id, new) if new else chat.topics
    return _outcome(ctx, lang, now, ("sub.added", new), ("sub.already", old))


async def unsubscribe(ctx: CommandContext, chat: Chat, cmd: Command) -> Reply:
    if not cmd.args:
        return topics_reply(ctx, chat)
    lang = chat.lang
    if mentions_all(cmd.args):
        if not chat.topics:
            return say("sub.none", lang)
        wanted = sorted(chat.topics)
    else:
        wanted = ctx.topics.resolve(cmd.args)
    gone = [i for i in wanted if i in chat.topics]
    absent = [i for i in wanted if i not in chat.topics]
    now = await ctx.chats.remove_topics(chat.id, gone) if gone else chat.topics
    return _outcome(ctx, lang, now, ("sub.removed", gone), ("sub.not_subscribed", absent))


def _outcome(ctx: CommandContext, lang: str, now: frozenset[str], *groups: tuple[str, list[str]]) -> Reply:
    """One line per non-empty group of topics (``key``'s sentence naming them), then the count."""
    paragraphs: list[Paragraph] = [
        (Plain(t(key, lang, topics=ctx.topics.names(ids, lang))),) for key, ids in groups if ids
    ]
    paragraphs.append((Plain(t("sub.now", lang, count=len(now))),))
    return Reply(paragraphs)


async def press(ctx: CommandContext, chat: Chat, data: str) -> Reply:
    """A topic button (``t:<id>``, ``t:all``, ``t:none``): toggle, then show /topics again in
    place of the pressed message, with a short notice. A stale button says so."""
    lang = chat.lang
    value = data[len(BUTTON_PREFIX):]
    if value == "all":
        await ctx.chats.add_topics(chat.id, ctx.topics.field_ids)
        toast = t("toast.all", lang)
    elif value == "none":
        await ctx.chats.remove_topics(chat.id, ctx.topics.field_ids)
        toast = t("toast.none", lang)
    elif value in ctx.topics.by_id:
        name = ctx.topics.name(value, lang)
        if value in chat.topics:
            await ctx.chats.remove_topics(chat.id, [value])
            toast = t("toast.off", lang, topic=name)
        else:
            await ctx.chats.add_topics(chat.id, [value])
            toast = t("toast.on", lang, topic=name)
    else:
        return stale_button(lang)
    reply = topics_reply(ctx, await ctx.chats.get_by_id(chat.id) or chat, edit=True)
    reply.toast = toast
    return reply


def stale_button(lang: str) -> Reply:
    text = t("err.bad_button", lang)
    return text_reply(text, toast=text)
