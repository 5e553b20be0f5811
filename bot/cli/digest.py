"""``shwatch digest --chat ID [--send]``: what a chat's digest would hold right now.

ID is a Telegram chat id (``123456``, ``-100123``) or ``channel:address`` (``wecom:zhangsan``,
``robot:ops``, ``telegram:123``), or ``console``: the console chat of a service with no chat
platform, which needs no earlier run (a preview shows it as the service would make it,
following every field; ``--send`` makes it). Without ``--send`` the digest is printed as
plain text, one message after another, and nothing is stored.

With ``--send`` it becomes an outbox delivery like /digest now (the chat's next scheduled
digest then starts from here), and that one delivery is sent at once by the service's
``OutboxWorker`` restricted to that row, through the chat's channel: Telegram through the
Bot API sender (the same limits, 429/403/HTML fallbacks as the service), the console chat by
printing it. What happened is reported; when the channel cannot
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

from bot.channels.console import ADDRESS as CONSOLE_ADDRESS
from bot.channels.console import ConsolePrinter, console_chat, console_lang, ensure_console_chat
from bot.core.clock import clock_from_env
from bot.core.digest import nothing_new_blocks
from bot.core.text import TELEGRAM_LIMIT, render_plain
from bot.delivery.compose import CONSOLE, DeliveryComposer
from bot.delivery.worker import Fail, Gone, Hold, OutboxWorker, Result, Retry, Sent
from bot.jobs.digests import DigestJob
from bot.logs import redact, secrets_of
from bot.store.chats import ChatStore
from bot.store.migrate import upgrade_to_head
from bot.store.outbox import Outbox
from monitors.db import create_engine
from monitors.store import ItemStore

_CHANNELS = ("telegram", "wecom", "robot", CONSOLE)


def parse_chat_ref(text: str) -> tuple[str, str]:
    """'123' -> ('telegram', '123'); 'wecom:zhang' -> ('wecom', 'zhang'); ValueError otherwise."""
    text = (text or "").strip()
    if re.fullmatch(r"-?\d+", text):
        return "telegram", text
    if text == CONSOLE:  # the console chat of a service with no chat platform
        return CONSOLE, CONSOLE_ADDRESS
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
        store = ChatStore(engine, clock)
        found = await store.get(channel, address)
        if found is None and channel == CONSOLE:  # before the service ever ran: the console chat as it would be
            lang = console_lang(settings.console.lang, os.environ)
            if send:
                found = await ensure_console_chat(store, settings.topics, lang)
            else:
                found = console_chat(settings.topics, lang, settings.timezone)
        if found is None:
            print(f"shwatch digest: no chat {channel}:{address} in the store (a chat appears once it talks to the bot)", file=sys.stderr)
            return 1
        job = DigestJob.over(engine, settings, clock)
        if send:
            return await _send(settings, engine, clock, job, found)
        digest, day = await job.preview(found)
        if digest.empty:
            print(render_plain(nothing_new_blocks(found.lang, digest.since, digest.until, found.tz)[0]))
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
    if chat.channel == CONSOLE:
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


def _worker() -> str:
    return f"digest-cli-{os.getpid()}"


def _one_row_worker(settings, engine, outbox, job, channel, delivery) -> OutboxWorker:
    """The service's delivery worker, restricted to the one row just queued."""
    return OutboxWorker(
        outbox, ChatStore(engine, outbox.clock), _composer(engine, settings, job), channel, outbox.clock,
        only=delivery.id, worker_id=_worker(),
    )


async def _what_happened(outbox, delivery_id: int, results: list[Result]) -> tuple[str, str]:
    """The one row's fate as (outcome, detail)."""
    if not results:  # not claimed (a running service has it), or composing failed (back to pending)
        row = await outbox.get(delivery_id)
        if row is not None and row.status == "pending":
            return "retry", "composing the digest failed"
        return "gone", ""
    outcome = results[0].outcome
    if isinstance(outcome, Sent):
        return "sent", ""
    if isinstance(outcome, Retry):
        return "retry", outcome.error
    if isinstance(outcome, Hold):
        return "hold", outcome.reason
    if isinstance(outcome, Gone):
        return "blocked", outcome.reason
    if isinstance(outcome, Fail):
        return "failed", outcome.error
    return "timeout", "stopped before it was sent"


async def _send_console(settings, engine, outbox, job, delivery) -> int:
    worker = _one_row_worker(settings, engine, outbox, job, ConsolePrinter(), delivery)
    try:
        outcome, detail = await _what_happened(outbox, delivery.id, await worker.run_once())
    finally:
        await worker.stop()
    if outcome == "sent":
        print(f"digest for {_who(delivery)} printed (delivery {delivery.id} recorded as sent)")
        return 0
    if outcome == "gone":
        print(f"delivery {delivery.id} was taken by a running service meanwhile; it sends it")
        return 0
    print(f"shwatch digest: delivery {delivery.id} could not be printed: {detail}", file=sys.stderr)
    return 1


async def _send_telegram(settings, engine, outbox, job, delivery) -> int:
    # the Telegram library is loaded only when a digest goes to Telegram
    from telegram.error import InvalidToken, TelegramError

    from bot.channels.telegram.sender import TelegramDelivery, TelegramSender, make_bot

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
    sender = TelegramSender(bot, outbox.clock, secrets=secrets)
    worker = _one_row_worker(settings, engine, outbox, job, TelegramDelivery(sender), delivery)
    try:
        await sender.start()
        try:
            async with asyncio.timeout(SEND_TIMEOUT):
                outcome, detail = await _what_happened(outbox, delivery.id, await worker.run_once())
        except TimeoutError:
            outcome, detail = "timeout", f"no answer from Telegram within {SEND_TIMEOUT:.0f} s"
    finally:
        worker.halt()
        await sender.stop()
        await worker.stop()  # a row not yet sent goes back to pending
        try:
            await bot.shutdown()
        except TelegramError:
            pass
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
