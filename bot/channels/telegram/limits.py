"""Telegram's sending limits as a pure scheduler: no I/O, no clock of its own.

Telegram allows about 30 messages per second overall, 1 per second into one chat and 20 per
minute into one group; a 429 answer says how long *that chat* must wait. ``SendScheduler``
keeps all four rules for many chats at once and decides which chat may send next:

    scheduler.want(chat, group=False)     # the chat has a message waiting
    chat = scheduler.take(now)            # a chat that may send now (the send is recorded),
                                          # or None: ask scheduler.next_at(now) when to retry
    scheduler.finished(chat, now)         # its send was answered: the chat's interval counts from here
    scheduler.block(chat, until)          # a 429 said retry_after: only this chat waits

Chats are taken in the order they became ready, so a flood-waited chat (or a chatty group at
its per-minute limit) never holds up the others. ``want(chat, urgent=True)`` (a command
reply) goes ahead of every ready non-urgent chat, so a person talking to the bot during a
fan-out to thousands of chats is answered at once, not after the fan-out. A chat is handed out at most once per
``want``; the sender calls ``want`` again for the chat's next message, after the previous
one finished, which keeps the parts of one message in order. Time is a float in seconds
(the injected clock's ``monotonic()`` in the sender, a plain number in tests).
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RateLimits:
    """The limits to keep; windows are a little longer than Telegram's to absorb jitter."""

    per_second: int = 30  # messages to all chats within ``second``
    second: float = 1.0
    chat_interval: float = 1.0  # seconds between two messages to one chat
    group_per_minute: int = 20  # messages into one group within ``minute``
    minute: float = 60.0
    margin: float = 0.0  # added to every window
    smooth: bool = True  # spread the overall limit evenly: one send every ``spacing`` seconds
    pace_margin: float = 0.0  # the even spacing spreads per_second sends over second + margin + pace_margin
    catch_up: float = 0.0  # seconds of late sends the even spacing may make up (never past the window)

    @property
    def spacing(self) -> float:
        """Minimum gap between two sends to any chats (0 when bursts are allowed)."""
        return (self.second + self.margin + self.pace_margin) / self.per_second if self.smooth else 0.0

    @classmethod
    def telegram(cls, per_second: int = 30) -> "RateLimits":
        """Telegram's published limits with a small safety margin for network jitter.

        ``per_second`` below 30 gives one of several delivery workers its share. Sends are
        spread evenly over 1.02 s; one that left a little late (a busy event loop) does not
        push every later one back: up to 0.05 s is made up, and because the spacing is a
        little wider than the overall window (1.01 s), making up never runs into that
        window: no 1.01 s ever holds more than ``per_second`` sends."""
        return cls(per_second=per_second, margin=0.01, pace_margin=0.01, catch_up=0.05)


@dataclass
class _Chat:
    group: bool = False
    last_sent: float | None = None
    blocked_until: float = 0.0
    group_sent: deque = field(default_factory=deque)
    in_flight: list[float] | None = None  # its last send's entry in the global window, until answered
    wanted: bool = False
    urgent: bool = False


class SendScheduler:
    def __init__(self, limits: RateLimits | None = None) -> None:
        self.limits = limits or RateLimits()
        # the global window: one [time] per send, in send order; the time becomes the answer's
        # when the send is answered (Telegram counts a message when it arrives, which is
        # somewhere between the two)
        self._sent: deque[list[float]] = deque()
        self._slot: float | None = None  # the even spacing's next send time (smooth limits)
        self._chats: dict[Hashable, _Chat] = {}
        self._heap: list[tuple[float, int, Hashable]] = []  # waiting chats by ready time
        self._urgent: list[tuple[float, int, Hashable]] = []  # the same, for urgent chats
        self._seq = itertools.count()

    # ------------------------------------------------------------ questions
    def chat_ready_at(self, chat: Hashable) -> float:
        """The earliest time this chat's own limits allow a send (ignoring the global one)."""
        state = self._chats.get(chat)
        if state is None:
            return 0.0
        lim = self.limits
        ready = state.blocked_until
        if state.last_sent is not None:
            ready = max(ready, state.last_sent + lim.chat_interval + lim.margin)
        if state.group and len(state.group_sent) >= lim.group_per_minute:
            ready = max(ready, state.group_sent[-lim.group_per_minute] + lim.minute + lim.margin)
        return ready

    def global_ready_at(self, now: float) -> float:
        """The earliest time the overall limit allows another send."""
        self._expire(now)
        ready = now
        if self._slot is not None and self.limits.smooth:
            ready = max(ready, self._slot)
        per_second = self.limits.per_second
        if len(self._sent) >= per_second:
            # the new send is the per_second-th after each of these: it leaves a full window
            # after the latest of them arrived (at the latest, when it was answered), so no
            # slow request and no stall of the sender bunches arrivals into one window
            latest = max(entry[0] for entry in itertools.islice(self._sent, 0, len(self._sent) - per_second + 1))
            ready = max(ready, latest + self.limits.second + self.limits.margin)
        return ready

    def ready_at(self, chat: Hashable, now: float) -> float:
        return max(now, self.chat_ready_at(chat), self.global_ready_at(now))

    def next_at(self, now: float) -> float | None:
        """When ``take`` may next return a chat (``None``: no chat is waiting)."""
        tops = [heap[0][0] for heap in self._heaps() if heap]
        if not tops:
            return None
        return max(min(tops), self.global_ready_at(now))

    @property
    def waiting(self) -> int:
        return sum(1 for state in self._chats.values() if state.wanted)

    def blocked_until(self, chat: Hashable) -> float:
        state = self._chats.get(chat)
        return state.blocked_until if state else 0.0

    # ------------------------------------------------------------ changes
    def want(self, chat: Hashable, group: bool = False, urgent: bool = False) -> None:
        """The chat has a message to send (idempotent while it waits; urgent upgrades)."""
        state = self._chats.get(chat)
        if state is None:
            state = self._chats[chat] = _Chat(group=group)
        state.group = state.group or group
        if state.wanted and (state.urgent or not urgent):
            return
        state.wanted = True
        state.urgent = urgent
        heap = self._urgent if urgent else self._heap
        heapq.heappush(heap, (self.chat_ready_at(chat), next(self._seq), chat))

    def take(self, now: float) -> Hashable | None:
        """A waiting chat that may send at ``now``, with the send recorded; else ``None``."""
        if self.global_ready_at(now) > now:
            return None
        for heap in self._heaps():
            if heap and heap[0][0] <= now:
                _, _, chat = heapq.heappop(heap)
                self.record(chat, now)
                state = self._chats[chat]
                state.wanted = state.urgent = False
                return chat
        return None

    def record(self, chat: Hashable, now: float, group: bool | None = None) -> None:
        """Count a send to ``chat`` at ``now`` (``take`` does this itself)."""
        state = self._chats.get(chat)
        if state is None:
            state = self._chats[chat] = _Chat(group=bool(group))
        elif group is not None:
            state.group = state.group or group
        self._expire(now)
        entry = [now]
        self._sent.append(entry)
        state.in_flight = entry
        if self.limits.smooth:
            # the slot after this send: late sends keep the schedule up to ``catch_up``
            base = now if self._slot is None else max(self._slot, now - self.limits.catch_up)
            self._slot = base + self.limits.spacing
        state.last_sent = now
        if state.group:
            state.group_sent.append(now)
            while len(state.group_sent) > self.limits.group_per_minute:
                state.group_sent.popleft()

    def finished(self, chat: Hashable, now: float) -> None:
        """The send to ``chat`` recorded by ``take`` has been answered at ``now``: the chat's
        next message waits a full interval from here, and the overall window counts this send
        from here too, so a request that was slow on its way (a busy machine, a slow network)
        never lands closer than that to the ones after it."""
        state = self._chats.get(chat)
        if state is None:
            return
        if state.last_sent is not None:
            state.last_sent = max(state.last_sent, now)
        if state.in_flight is not None:  # the global window counts it from its answer too
            state.in_flight[0] = max(state.in_flight[0], now)
            state.in_flight = None

    def block(self, chat: Hashable, until: float) -> None:
        """Nothing goes to ``chat`` before ``until`` (a 429's retry_after); others carry on."""
        state = self._chats.get(chat)
        if state is None:
            state = self._chats[chat] = _Chat()
        state.blocked_until = max(state.blocked_until, until)

    def forget(self, chat: Hashable) -> None:
        """Drop a chat that will never be sent to again (blocked the bot, migrated)."""
        state = self._chats.pop(chat, None)
        if state is not None and state.wanted:
            for heap in (self._heap, self._urgent):
                heap[:] = [entry for entry in heap if entry[2] != chat]
                heapq.heapify(heap)

    def prune(self, now: float) -> None:
        """Forget idle chats whose limits no longer matter (keeps memory flat)."""
        idle = [
            chat
            for chat, state in self._chats.items()
            if not state.wanted and self.chat_ready_at(chat) <= now
            and not (state.group and state.group_sent and state.group_sent[-1] > now - self.limits.minute)
        ]
        for chat in idle:
            del self._chats[chat]

    # ------------------------------------------------------------ internals
    def _expire(self, now: float) -> None:
        horizon = now - self.limits.second - self.limits.margin
        while self._sent and self._sent[0][0] <= horizon:
            self._sent.popleft()

    def _heaps(self) -> tuple[list, list]:
        """Both heaps, urgent first, each with its top brought up to date."""
        self._settle(self._urgent, True)
        self._settle(self._heap, False)
        return self._urgent, self._heap

    def _settle(self, heap: list, urgent: bool) -> None:
        """Drop stale entries at the top; re-file a top whose ready time moved later."""
        while heap:
            ready, seq, chat = heap[0]
            state = self._chats.get(chat)
            if state is None or not state.wanted or state.urgent != urgent:
                heapq.heappop(heap)
                continue
            actual = self.chat_ready_at(chat)
            if actual <= ready:
                return
            heapq.heapreplace(heap, (actual, seq, chat))
