"""Group robots (消息推送): the per-robot send window and the batching of pending alerts.

WeCom lets a robot send at most 20 messages per minute (130101 beyond that) of at most
4096 bytes of markdown each. ``SendWindow`` keeps the count on our side (a sliding 60 s
window, so no calendar minute ever sees more than 20 either); ``plan_batches`` turns the
pending deliveries of one robot into messages: one message per alert while the window has
room for them all, otherwise several alerts packed into one message (nothing is dropped;
what does not fit this window waits for the next).

Window and planner are pure (times are plain seconds). The sender lives in
``bot.channels.wecom.channel``; ``sync_robot_chats`` makes the robots' chats and filters match the
config at start-up.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

from bot.core.model import KEYWORD_MAX, Chat, same_keyword
from bot.core.quiet import bundle
from bot.core.text import BLOCK_SEP, WECOM_MARKDOWN_LIMIT, utf8_len
from bot.store.chats import ChatStore
from config.model import Topic, WeComRobot

log = logging.getLogger("shwatch.wecom.robots")

ROBOT_LIMIT = 20
ROBOT_WINDOW = 60.0
CHANNEL = "robot"


class SendWindow:
    """At most ``limit`` sends in any ``window`` seconds (sliding)."""

    def __init__(self, limit: int = ROBOT_LIMIT, window: float = ROBOT_WINDOW) -> None:
        self.limit = limit
        self.window = window
        self._sent: deque[float] = deque()

    def _prune(self, now: float) -> None:
        while self._sent and self._sent[0] <= now - self.window:
            self._sent.popleft()

    def remaining(self, now: float) -> int:
        self._prune(now)
        return max(0, self.limit - len(self._sent))

    @classmethod
    def of(cls, limit: int, window: float, times: Iterable[float]) -> "SendWindow":
        """A window that has seen sends at ``times`` (seconds, any order)."""
        made = cls(limit, window)
        made._sent.extend(sorted(times))
        return made

    @property
    def times(self) -> list[float]:
        return list(self._sent)

    def record(self, now: float) -> None:
        """Count one send; record it when the answer came back (the server saw it before)."""
        self._sent.append(now)

    def free_at(self, now: float, need: int = 1) -> float:
        """The earliest time ``need`` sends (at most ``limit``) are allowed."""
        self._prune(now)
        need = min(max(need, 1), self.limit)
        over = len(self._sent) + need - self.limit
        if over <= 0:
            return now
        return self._sent[over - 1] + self.window

    def block_until(self, until: float) -> None:
        """After a 130101: count the window as full until ``until``."""
        floor = until - self.window
        kept = sorted(max(t, floor) for t in self._sent)
        self._sent = deque([floor] * max(0, self.limit - len(kept)) + kept)


@dataclass(frozen=True)
class Batch:
    """One robot message and the deliveries it carries."""

    content: str
    refs: tuple[Hashable, ...]


def plan_batches(
    pending: Sequence[tuple[Hashable, Sequence[str]]],
    budget: int,
    limit: int = WECOM_MARKDOWN_LIMIT,
) -> tuple[list[Batch], list[Hashable]]:
    """Messages to send now for one robot, and the refs they complete.

    ``pending``: (ref, rendered pieces) per delivery, oldest first; each piece already fits
    ``limit`` bytes (``split_blocks`` with ``utf8_len``). ``budget``: messages allowed now.
    Returns the batches to send (at most ``budget``) and the refs whose every piece is in
    them; a delivery is never sent in part (its remainder would be resent later).
    """
    units = [(ref, piece) for ref, pieces in pending for piece in pieces]
    if budget <= 0 or not units:
        return [], []
    if len(units) <= budget:
        groups = [[unit] for unit in units]
    else:
        groups = bundle(units, lambda u: utf8_len(u[1]), limit, separator_size=utf8_len(BLOCK_SEP))
    need = {ref: sum(1 for r, _ in units if r == ref) for ref, _ in pending}
    taken = groups[:budget]
    while taken:
        counts: dict[Hashable, int] = {}
        for group in taken:
            for ref, _ in group:
                counts[ref] = counts.get(ref, 0) + 1
        partial = {ref for ref, n in counts.items() if n < need[ref]}
        if not partial:
            break
        # drop the last message that carries part of an incomplete delivery, and look again
        idx = max(i for i, group in enumerate(taken) if any(ref in partial for ref, _ in group))
        taken = taken[:idx]
    batches = [Batch(BLOCK_SEP.join(piece for _, piece in group), tuple(dict.fromkeys(ref for ref, _ in group))) for group in taken]
    done = list(dict.fromkeys(ref for b in batches for ref in b.refs))
    return batches, done


# ---- robots from the config become chats of channel "robot" --------------------------------

def resolve_topics(wanted: Sequence[str], topics: Sequence["Topic"]) -> tuple[list[str], list[str]]:
    """Topic ids for config entries given as ids or zh/en names: (ids, unknown entries)."""
    by_key: dict[str, str] = {}
    for topic in topics:
        for key in (topic.id, topic.name_zh, topic.name_en):
            by_key[key.casefold()] = topic.id
    ids, unknown = [], []
    for entry in wanted:
        topic_id = by_key.get(entry.strip().casefold())
        (ids.append(topic_id) if topic_id else unknown.append(entry))
    return list(dict.fromkeys(ids)), unknown


async def sync_robot_chats(
    store: "ChatStore", robots: Sequence["WeComRobot"], topics: Sequence["Topic"], tz: str | None = None
) -> dict[str, "Chat"]:
    """Make the robot chats match the config: topics -> subscriptions, keywords -> alert
    rules, digest_time -> daily digest (mode "both") in time zone ``tz`` (the service's),
    lang. A robot chat no longer in the config is deactivated (its history stays). The
    digest itself is planned, rendered and queued by the digest job like any chat's.
    Returns the chats by robot name."""

    out: dict[str, Chat] = {}
    for robot in robots:
        mode = "both" if robot.digest_time else "instant"
        chat = await store.get_or_create(CHANNEL, robot.name, "group", title=robot.name, lang=robot.lang, mode=mode)
        if not chat.active:
            await store.set_active(chat.id, True)
        if chat.lang != robot.lang:
            await store.set_lang(chat.id, robot.lang)
        if chat.mode != mode:
            await store.set_mode(chat.id, mode)
        await store.set_digest(chat.id, enabled=bool(robot.digest_time), time=robot.digest_time or chat.digest_time)
        if tz and chat.tz != tz:
            await store.set_tz(chat.id, tz)
        topic_ids, unknown = resolve_topics(robot.topics, topics)
        for entry in unknown:
            log.warning("robot %s: unknown topic %r in the config (ignored)", robot.name, entry)
        if chat.topics != frozenset(topic_ids):
            await store.set_topics(chat.id, topic_ids)
        keywords = []
        for keyword in robot.keywords:
            if len(keyword) > KEYWORD_MAX:
                log.warning("robot %s: keyword %r is over %d characters (ignored)", robot.name, keyword, KEYWORD_MAX)
            elif not any(same_keyword(keyword, k) for k in keywords):
                keywords.append(keyword)
        for rule in chat.rules:
            if not any(same_keyword(rule.keyword, k) for k in keywords):
                await store.delete_rule(chat.id, rule.keyword)
        for keyword in keywords:
            if not any(same_keyword(rule.keyword, keyword) for rule in chat.rules):
                await store.add_rule(chat.id, keyword)
        fresh = await store.get(CHANNEL, robot.name)
        assert fresh is not None
        out[robot.name] = fresh
    for chat in await store.active_chats([CHANNEL]):
        if chat.address not in out:
            log.info("robot %s is no longer configured: its chat is deactivated", chat.address)
            await store.deactivate(chat.id)
    return out
