"""``shwatch digest --chat ID [--send]``: what a chat's digest would hold right now.

ID is a Telegram chat id (``123456``, ``-100123``) or ``channel:address`` (``wecom:zhangsan``,
``robot:ops``, ``telegram:123``). Without ``--send`` the digest is printed as plain text, one
message after another, and nothing is stored.

With ``--send`` it becomes an outbox delivery like /digest now (the chat's next scheduled
digest then starts from here), and that one delivery is sent at once through the chat's
channel: Telegram through the Bot API sender (the same limits, 429/403/HTML fallbacks as the
service), the console chat by printing it. What happened is reported; when the channel cannot
be reached the command says so, exits 1 and leaves the delivery pending, so the running
service sends it later. WeCom deliveries are left to the service (its workers own the
token cache and the robots' per-minute budget).

Exit codes: 0 shown or sent (or nothing to add), 1 not sent / no such chat, 2 a bad --chat.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys

from bot.channels.console import console_text
from bot.core.clock import clock_from_env
from bot.core.digest import nothing_new_blocks
from bot.core.text import TELEGRAM_LIMIT, render_plain
from bot.delivery.compose import DeliveryComposer
from bot.jobs.digests import DigestJob
from bot.logs import redact, secrets_of
from bot.store.chats import ChatStore
from bot.store.migrate import upgrade_to_head
from bot.store.outbox import Outbox
from monitors.db import create_engine
from monitors.store import ItemStore

_CHANNELS = ("telegram", "wecom", "robot", "console")


def parse_chat_ref(text: str) -> tuple[str, str]:
    """'123' -> ('telegram', '123'); 'wecom:zhang' -> ('wecom', 'zhang'); ValueError otherwise."""
    text = (text or "").strip()
    if re.fullmatch(r"-?\d+", text):
        return "telegram", text
    channel, sep, address = text.partition(":")
    if not sep or channel not in _CHANNELS or not address.strip():
        raise ValueError(
            f"--chat {text!r}: give a Telegram chat id (e.g. 123456) or channel:address with channel one of {', '.join(_CHANNELS)}"
        )
    return channel, address.strip()


async def cmd_digest(settings, chat: str, send: bool) -> int:
    try:
        channel, address = parse_chat_ref(chat)
    except ValueError as exc:
        print(f"shwatch digest: {exc}", file=sys.stderr)
        return 2
    clock = clock_from_env(os.environ)
    engine = create_engine(settings.database_url)
    try:
        await upgrade_to_head(engine)
        found = await ChatStore(engine, clock).get(channel, address)
        if found is None:
            print(f"shwatch digest: no chat {channel}:{address} in the store (a chat appears once it talks to the bot)", file=sys.stderr)
            return 1
        job = DigestJob.over(engine, settings, clock)
        if send:
            return await _send(settings, engine, clock, job, found)
        digest, day = await job.preview(found)
        if digest.empty:
            print(render_plain(nothing_new_blocks(found.lang)[0]))
            return 0
        fmt = await job.formatter_for(digest)
        messages = fmt.messages(digest, day, found.lang, found.tz, render_plain, TELEGRAM_LIMIT)
        for n, message in enumerate(messages, 1):
            if len(messages) > 1:
                print(f"──── {n}/{len(messages)} ────")
            print(message)
        return 0
    finally:
        await engine.dispose()


# ------------------------------------------------------------------------------ --send

SEND_TIMEOUT = 120.0  # seconds to wait for Telegram before leaving the digest to the service


def _who(chat) -> str:
    return f"{chat.channel}:{chat.address}"


async def _send(settings, engine, clock, job, chat) -> int:
    """Queue the chat's digest now, then deliver that one row through the chat's channel."""
    outbox = Outbox(engine, clock)
    if not chat.active:
        print(f"shwatch digest: {_who(chat)} is inactive (it blocked the bot or was stopped); nothing sent", file=sys.stderr)
        return 1
    _, ref = await job.queue_now(chat)
    delivery = await outbox.find(chat.id, "digest", ref)
    if delivery is None or delivery.status != "pending":
        state = delivery.status if delivery is not None else "missing"
        print(f"a digest for {_who(chat)} was already made this second ({state}); nothing added")
        return 0
    if chat.channel == "console":
        return await _send_console(settings, engine, outbox, job, delivery)
    if chat.channel == "telegram":
        return await _send_telegram(settings, engine, outbox, job, delivery)
    print(
        f"digest for {_who(chat)} queued (delivery {delivery.id}); WeCom deliveries are sent by the running "
        "service (shwatch run)"
    )
    return 0


def _composer(engine, settings, job):
    compose = DeliveryComposer(ItemStore(engine), settings)
    compose.register("digest", job.render)
    return compose


async def _send_console(settings, engine, outbox, job, delivery) -> int:
    claimed = await outbox.claim_one(_worker(), delivery.id)
    if claimed is None:
        print(f"delivery {delivery.id} was taken by a running service meanwhile; it sends it")
        return 0
    blocks = (await _composer(engine, settings, job)([claimed])).get(claimed.id)
    if not blocks:
        await outbox.fail(claimed.id, "nothing to print")
        print(f"shwatch digest: delivery {claimed.id} could not be rendered", file=sys.stderr)
        return 1
    print(f"── digest ──\n{console_text(blocks)}\n")
    await outbox.mark_sent(claimed.id)
    print(f"digest for {_who(claimed)} printed (delivery {claimed.id} recorded as sent)")
    return 0


def _worker() -> str:
    return f"digest-cli-{os.getpid()}"


async def _send_telegram(settings, engine, outbox, job, delivery) -> int:
    # the Telegram library is loaded only when a digest goes to Telegram
    from telegram.error import InvalidToken, TelegramError

    from bot.channels.telegram.one import OneDeliveryFeed
    from bot.channels.telegram.sender import TelegramSender, make_bot

    secrets = secrets_of(settings)
    left = f"the digest stays queued (delivery {delivery.id}); the running service sends it"
    if not settings.telegram.token:
        print(f"shwatch digest: no Telegram token configured ([telegram] token / TELEGRAM_BOT_TOKEN): cannot reach Telegram; {left}", file=sys.stderr)
        return 1
    bot = make_bot(settings.telegram.token.reveal(), settings.telegram.api_base_url, pool_size=4)
    try:
        await bot.initialize()  # getMe: is the Bot API reachable, is the token good?
    except InvalidToken:
        print(f"shwatch digest: Telegram rejected the bot token; {left}", file=sys.stderr)
        return 1
    except TelegramError as exc:
        reason = redact(f"{type(exc).__name__}: {exc}", secrets)
        print(f"shwatch digest: cannot reach the Telegram Bot API ({reason}); {left}", file=sys.stderr)
        return 1
    feed = OneDeliveryFeed(outbox, ChatStore(engine, outbox.clock), _composer(engine, settings, job), delivery.id)
    # One claim at start-up is all this sender needs (no periodic re-claims).
    sender = TelegramSender(bot, feed, secrets=secrets, claim_interval=3600.0)
    try:
        await sender.start()
        try:
            await asyncio.wait_for(feed.done.wait(), SEND_TIMEOUT)
        except asyncio.TimeoutError:
            feed.outcome = ("timeout", f"no answer from Telegram within {SEND_TIMEOUT:.0f} s")
        # Let the sender's loops settle on the outcome before they are cancelled: on Python
        # 3.11 a cancel that lands as an awaited event fires is swallowed by asyncio.wait_for.
        await asyncio.sleep(0.2)
    finally:
        await sender.stop()  # a row not yet sent goes back to pending
        try:
            await bot.shutdown()
        except TelegramError:
            pass
    outcome, detail = feed.outcome or ("timeout", "")
    if outcome == "sent":
        print(f"digest sent to {_who(delivery)} (delivery {delivery.id})")
        return 0
    if outcome == "gone":
        print(f"shwatch digest: delivery {delivery.id} was taken by a running service meanwhile; it sends it")
        return 0
    if outcome in ("retry", "hold", "timeout"):
        print(f"shwatch digest: not sent ({detail}); {left}", file=sys.stderr)
        return 1
    if outcome == "blocked":
        print(f"shwatch digest: {_who(delivery)} blocked the bot ({detail}); the chat is now inactive and the digest dropped", file=sys.stderr)
        return 1
    print(f"shwatch digest: Telegram refused the digest for {_who(delivery)}: {detail}", file=sys.stderr)
    return 1


