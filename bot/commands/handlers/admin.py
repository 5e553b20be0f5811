"""/stats and /health, for the bot's administrators: figures gathered from the stores."""

from __future__ import annotations

from datetime import timedelta

from bot.commands.command import Command
from bot.commands.spec import CommandContext
from bot.core.format import (
    Health,
    Stats,
    health_paragraphs,
    source_bucket,
    stats_paragraphs,
)
from bot.core.model import Chat, Reply


async def gather_stats(ctx: CommandContext) -> Stats:
    now = ctx.clock.now()
    total, active, subscribers, n_alerts = await ctx.chats.counts()
    n_items, n_day, _ = await ctx.items.counts(now - timedelta(days=1))
    states = await ctx.items.source_states()
    names = {s.id: s.name for s in ctx.settings.sources}
    failing = tuple(names.get(sid, sid) for sid, st in sorted(states.items()) if st.status.broken)
    return Stats(
        chats=total, active=active, subscribers=subscribers, alerts=n_alerts,
        items_total=n_items, items_day=n_day,
        deliveries=await ctx.outbox.counts(), failing_sources=failing,
    )


async def gather_health(ctx: CommandContext) -> Health:
    now = ctx.clock.now()
    states = await ctx.items.source_states()
    buckets = [source_bucket(states.get(s.id)) for s in ctx.settings.sources]
    counts = await ctx.outbox.counts()
    _, _, last_item = await ctx.items.counts(now)
    return Health(
        backend=ctx.items.backend,
        sources_total=len(buckets),
        sources_ok=buckets.count("ok"),
        sources_failing=buckets.count("failing"),
        sources_never=buckets.count("never"),
        last_item_at=last_item,
        pending=counts["pending"] + counts["sending"],
        oldest_pending=await ctx.outbox.oldest_pending(),
        undispatched=await ctx.dispatched.backlog(ctx.items),
        now=now,
        leader=await ctx.leases.leader() if ctx.leases is not None else None,
    )


async def stats(ctx: CommandContext, chat: Chat, cmd: Command) -> Reply:
    return Reply(stats_paragraphs(await gather_stats(ctx), chat.lang))


async def health(ctx: CommandContext, chat: Chat, cmd: Command) -> Reply:
    return Reply(health_paragraphs(await gather_health(ctx), chat.lang, chat.tz))
