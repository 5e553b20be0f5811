"""``shwatch digest --chat ID [--send]``: what a chat's digest would hold right now.

ID is a Telegram chat id (``123456``, ``-100123``) or ``channel:address`` (``wecom:zhangsan``,
``robot:ops``, ``telegram:123``). Without ``--send`` the digest is printed as plain text, one
message after another, and nothing is stored. With ``--send`` it is queued in the outbox like
/digest now (the chat's next scheduled digest then starts from here); the running service's
delivery workers send it.
"""

from __future__ import annotations

import re
import sys

from bot.text import TELEGRAM_LIMIT, render_plain

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
    from bot.chats import ChatStore
    from bot.clock import clock_from_env
    from bot.digest import DigestFormatter, nothing_new_blocks
    from bot.migrate import upgrade_to_head
    from bot.schedule import DigestJob
    from monitors.db import create_engine

    import os

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
        job = DigestJob(engine, settings, clock)
        if send:
            queued = await job.send_now(found)
            if queued:
                print(f"digest for {channel}:{address} queued; the running service sends it")
            else:
                print(f"a digest for {channel}:{address} was already queued this second; nothing added")
            return 0
        digest, day = await job.preview(found)
        if digest.empty:
            print(render_plain(nothing_new_blocks(found.lang)[0]))
            return 0
        from bot.alerts import items_by_id

        items = await items_by_id(engine, digest.item_ids())
        fmt = DigestFormatter(items, job.source_names, settings.topics)
        messages = fmt.messages(digest, day, found.lang, found.tz, render_plain, TELEGRAM_LIMIT)
        for n, message in enumerate(messages, 1):
            if len(messages) > 1:
                print(f"──── {n}/{len(messages)} ────")
            print(message)
        return 0
    finally:
        await engine.dispose()
