"""Group robots (消息推送): the per-robot send window and the batching of pending alerts.

WeCom lets a robot send at most 20 messages per minute (130101 beyond that) of at most
4096 bytes of markdown each. ``SendWindow`` keeps the count on our side (a sliding 60 s
window, so no calendar minute ever sees more than 20 either); ``plan_batches`` turns the
pending deliveries of one robot into messages: one message per alert while the window has
room for them all, otherwise several alerts packed into one message (nothing is dropped;
what does not fit this window waits for the next).

Pure: no I/O, times are plain seconds. The sender lives in ``bot.wecom.channel``; the
robots' chats and filters are synced from the config by ``sync_robot_chats``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from bot.quiet import bundle
from bot.text import BLOCK_SEP, WECOM_MARKDOWN_LIMIT, utf8_len

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

    def record(self, now: float) -> None:
        """Count one send; record it when the answer came back (the server saw it before)."""
        self._sent.append(now)

    def free_at(self, now: float) -> float:
        """The earliest time a send is allowed."""
        self._prune(now)
        if len(self._sent) < self.limit:
            return now
        return self._sent[len(self._sent) - self.limit] + self.window

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
