"""/alert add, /alert del, /alerts: the chat's keyword alerts."""

from __future__ import annotations

from collections.abc import Sequence

from bot.commands.args import shorten
from bot.commands.command import Command, CommandError
from bot.commands.replies import say
from bot.commands.spec import CommandContext
from bot.core.i18n import join, t
from bot.core.model import MAX_RULES, AlertRule, Chat, Reply, same_keyword
from bot.core.text import Bold, Code, Paragraph, Plain
from bot.store.chats import RuleLimitError


def same_rule(rule: AlertRule, keyword: str, excludes: Sequence[str]) -> bool:
    """The chat has exactly this alert already: the same keyword and the same exclusions
    (case and spacing ignored, in any order)."""
    def terms(values: Sequence[str]) -> set[str]:
        return {" ".join(v.split()).casefold() for v in values}

    return same_keyword(rule.keyword, keyword) and terms(rule.excludes) == terms(excludes)


async def add_alert(ctx: CommandContext, chat: Chat, cmd: Command) -> Reply:
    lang = chat.lang
    keyword = cmd.args[0]
    existing = next((rule for rule in chat.rules if same_rule(rule, keyword, cmd.excludes)), None)
    if existing is not None:  # nothing to store: say so rather than "updated"
        rule, key, count = existing, "alert.exists", len(chat.rules)
    else:
        try:
            rule, created = await ctx.chats.add_rule(chat.id, keyword, cmd.excludes, MAX_RULES)
        except RuleLimitError:
            raise CommandError("err.too_many_alerts", limit=MAX_RULES) from None
        key = "alert.added" if created else "alert.updated"
        count = len(await ctx.chats.list_rules(chat.id))
    paragraphs: list[Paragraph] = [(Plain(t(key, lang, keyword=rule.keyword)),)]
    if rule.excludes:
        paragraphs.append((Plain(t("alert.excludes", lang, terms=join(rule.excludes, lang))),))
    paragraphs.append((Plain(t("alert.count", lang, count=count, limit=MAX_RULES)),))
    return Reply(paragraphs)


async def delete_alert(ctx: CommandContext, chat: Chat, cmd: Command) -> Reply:
    lang = chat.lang
    rule = await ctx.chats.delete_rule(chat.id, cmd.args[0])
    if rule is None:
        raise CommandError("err.alert_missing", keyword=shorten(cmd.args[0], 50))
    count = len(await ctx.chats.list_rules(chat.id))
    return Reply([
        (Plain(t("alert.deleted", lang, keyword=rule.keyword)),),
        (Plain(t("alert.count", lang, count=count, limit=MAX_RULES)),),
    ])


async def list_alerts(ctx: CommandContext, chat: Chat, cmd: Command) -> Reply:
    lang = chat.lang
    if not chat.rules:
        return say("alert.list_empty", lang)
    paragraphs: list[Paragraph] = [(Bold(t("alert.list_title", lang, count=len(chat.rules), limit=MAX_RULES)),)]
    for rule in chat.rules:
        spans = [Plain("• "), Code(rule.keyword)]
        if rule.excludes:
            spans.append(Plain(t("alert.list_excludes", lang, terms=join(rule.excludes, lang))))
        paragraphs.append(tuple(spans))
    return Reply(paragraphs)
