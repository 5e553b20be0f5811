"""/start, /help, /latest, /sources: what the bot is, what it says, what it has seen."""

from __future__ import annotations

from bot.commands.args import LATEST_DEFAULT
from bot.commands.command import Command
from bot.commands.replies import blocks_reply, say
from bot.commands.spec import CommandContext
from bot.core.format import format_time, highlight, latest_blocks, sources_paragraphs
from bot.core.i18n import t, t_count
from bot.core.match import RuleIndex
from bot.core.model import Chat, Reply
from bot.core.text import Block, Bold, Link, Paragraph, Plain

LATEST_WINDOW = 1000  # /latest looks among this many newest items


async def start(ctx: CommandContext, chat: Chat, cmd: Command) -> Reply:
    lang = chat.lang
    paragraphs: list[Paragraph] = [(Bold(t("start.welcome", lang)),), (Plain(t("start.what", lang)),), ()]
    if chat.follows_anything:
        paragraphs.append((Plain(t("start.following", lang, topics=len(chat.topics), alerts=len(chat.rules))),))
    paragraphs.append((Plain(t("start.next", lang)),))
    paragraphs.append((Plain(t("start.lang", lang)),))
    return Reply(paragraphs)


async def show_help(ctx: CommandContext, chat: Chat, cmd: Command) -> Reply:
    return Reply(ctx.registry.help(chat.lang, group=chat.is_group))


async def latest(ctx: CommandContext, chat: Chat, cmd: Command) -> Reply:
    lang = chat.lang
    if not chat.follows_anything:
        return say("latest.nothing_followed", lang)
    count = int(cmd.args[0]) if cmd.args else LATEST_DEFAULT
    entries = RuleIndex.build([chat]).latest(await ctx.items.recent_items(LATEST_WINDOW), chat.id, count)
    if not entries:
        return say("latest.none", lang)
    names = {s.id: s.name for s in ctx.settings.sources}
    return blocks_reply(latest_blocks(entries, names, lang, topics=ctx.topics.by_id, tz=chat.tz))


SEARCH_SHOWN = 5  # /search answers with the five newest matches and the total


async def search(ctx: CommandContext, chat: Chat, cmd: Command) -> Reply:
    lang = chat.lang
    text = cmd.args[0]
    found, total = await ctx.items.search(text, limit=SEARCH_SHOWN)
    if not found:
        return say("search.none", lang, q=text)
    names = {s.id: s.name for s in ctx.settings.sources}
    header: Block = [(Bold(t_count("search.title", lang, total, q=text)),)]
    rows: list[Block] = []
    for item in found:
        when = format_time(item.published or item.first_seen_at, chat.tz)
        meta = names.get(item.source_id, item.source_id) + (f" · {when}" if when else "")
        rows.append([
            tuple(highlight(item.title or item.url, text.split(), Bold)),
            (Plain(meta),),
            (Link(t("alert.open", lang), item.url),),
        ])
    return blocks_reply([header, *rows])


async def sources(ctx: CommandContext, chat: Chat, cmd: Command) -> Reply:
    states = await ctx.items.source_states()
    return Reply(sources_paragraphs(ctx.settings.sources, states, chat.lang, chat.tz))
