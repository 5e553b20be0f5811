"""Everything the bot sends to Telegram goes through one ``TelegramSender``.

Outbox deliveries (``deliver``: one ``Unit`` from the ``OutboxWorker``, rendered by
``TelegramDelivery``) and command replies (``send``) are queued per chat and handed to PTB's
``Bot`` only when ``SendScheduler`` allows it: 30 messages/s overall, 1/s per chat, 20/min
per group, replies ahead of a fan-out. Each chat has at most one request in flight, so the
parts of a long message arrive in order; a delivery is ``Sent`` after its last part.

What Telegram answers decides the outcome (``bot.delivery.worker`` records it)::

    RetryAfter (429)       that chat waits retry_after (the others carry on); not a failure;
                           a wait over ``long_wait`` hands an unstarted delivery back (Hold)
    Forbidden (403)        Gone: the chat is marked inactive, its pending deliveries dropped
    ChatMigrated           Moved: the chat moves to its new id; the message is sent there
    BadRequest "can't parse entities"   the same part again as plain text
    BadRequest (other)     Fail with the reason (no retry can fix it)
    NetworkError, 5xx ...  Retry with backoff (a part after the first: retried here, a
                           bounded number of times)

Time (the limits, waits, the start-up pause) is the injected ``Clock``'s. Error texts stored
or logged pass through ``bot.logs.redact`` (URLs carry the token).
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, Message
from telegram.constants import ParseMode
from telegram.error import BadRequest, ChatMigrated, Forbidden, RetryAfter, TelegramError
from telegram.request import HTTPXRequest

from bot.channels.telegram.limits import RateLimits, SendScheduler
from bot.core.clock import Clock, wait_event
from bot.core.text import TELEGRAM_LIMIT, render_telegram_html, split_blocks
from bot.delivery.compose import Compose
from bot.delivery.worker import NOTHING_TO_SEND, Fail, Gone, Hold, Interrupted, Moved, Outcome, OutboxWorker, Retry, Sent, Unit
from bot.logs import redact
from bot.store.chats import ChatStore
from bot.store.outbox import Outbox
from bot.web.metrics import Metrics

log = logging.getLogger(__name__)

PART_RETRIES = 4  # transient failures of one part before giving up on it
LONG_WAIT = 30.0  # a flood wait longer than this hands the chat's unsent deliveries back
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


def make_bot(token: str, base_url: str, pool_size: int = 64) -> Bot:
    """A PTB ``Bot`` with a connection pool sized for ~30 sends/s (a few slow answers included)."""
    request = HTTPXRequest(connection_pool_size=pool_size, pool_timeout=10.0, read_timeout=15.0, write_timeout=15.0)
    return Bot(token, base_url=base_url, request=request)


def html_to_plain(text: str) -> str:
    """Telegram HTML to plain text: links become "label url", tags go, entities unescape."""
    text = re.sub(
        r'<a\s+href="([^"]*)">(.*?)</a>',
        lambda m: m.group(2) if html.unescape(m.group(2)) == html.unescape(m.group(1)) else f"{m.group(2)} {m.group(1)}",
        text,
        flags=re.S,
    )
    return html.unescape(re.sub(r"<[^>]+>", "", text))[:TELEGRAM_LIMIT]


def keyboard_markup(rows: Sequence[Sequence[Any]] | None) -> InlineKeyboardMarkup | None:
    """CommandCore's ``keyboard`` (rows of Button(label, data)) as an inline keyboard."""
    if not rows:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(button.label, callback_data=button.data) for button in row] for row in rows]
    )


@dataclass
class Outgoing:
    """One message to one Telegram chat: HTML parts sent in order."""

    chat_id: int
    parts: list[str]
    group: bool = False
    keyboard: InlineKeyboardMarkup | None = None  # under the last part
    edit_message_id: int | None = None  # edit this message with the first part instead of sending


@dataclass
class _Job:
    out: Outgoing
    done: asyncio.Future  # a reply: the last Message sent (or None); a delivery: its Outcome
    reply: bool
    index: int = 0  # next part to send
    plain: bool = False  # the current part goes as plain text (its HTML was refused)
    tries: int = 0  # transient failures of the current part


@dataclass
class _ChatQueue:
    group: bool = False
    busy: bool = False  # a request to this chat is in flight
    current: _Job | None = None  # started (some parts sent): finishes first
    replies: deque = field(default_factory=deque)
    deliveries: deque = field(default_factory=deque)

    def has_work(self) -> bool:
        return bool(self.current or self.replies or self.deliveries)

    def urgent(self) -> bool:
        job = self.current
        return bool((job and job.reply) or (not job and self.replies))

    def next_job(self) -> _Job | None:
        if self.current is None:
            if self.replies:
                self.current = self.replies.popleft()
            elif self.deliveries:
                self.current = self.deliveries.popleft()
        return self.current

    def all_jobs(self) -> Iterable[_Job]:
        if self.current:
            yield self.current
        yield from self.replies
        yield from self.deliveries


def _seconds(value: int | float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def retry_after_seconds(exc: RetryAfter) -> float:
    raw = getattr(exc, "_retry_after", None)
    if raw is None:
        raw = exc.retry_after
    return max(_seconds(raw), 0.0)


def _settle(job: _Job, value: Any) -> None:
    if not job.done.done():
        job.done.set_result(value)


class TelegramSender:
    """Queues messages per chat and sends them within Telegram's limits (see module doc)."""

    def __init__(
        self,
        bot: Bot,
        clock: Clock,
        *,
        limits: RateLimits | None = None,
        secrets: Sequence[str] = (),
        part_retry_delay: float = 1.0,
        part_retries: int = PART_RETRIES,
        long_wait: float = LONG_WAIT,
        startup_pause: float = 1.05,
        stop_grace: float = 2.0,
        prune_every: float = 60.0,
        metrics: Metrics | None = None,
        may_deliver: Callable[[], bool] = lambda: True,
    ) -> None:
        self.metrics = metrics  # Telegram 429s counted for /metrics
        # False while this instance does not lead: a paused leader that wakes sends no more
        # deliveries (they are Interrupted and go back to the outbox), replies still go
        self.may_deliver = may_deliver
        self.bot = bot
        self.clock = clock
        self.scheduler = SendScheduler(limits or RateLimits.telegram())
        self.secrets = list(secrets)
        self.part_retry_delay = part_retry_delay
        self.part_retries = part_retries
        self.long_wait = long_wait
        # Telegram's 1 msg/s per chat (and 30/s overall) spans restarts: a process killed just
        # after a send does not tell its successor, so nothing leaves in the first second.
        self.startup_pause = startup_pause
        self.stop_grace = stop_grace
        self.prune_every = prune_every
        self._chats: dict[int, _ChatQueue] = {}
        self._ready = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._in_flight: set[asyncio.Task] = set()
        self._stopping = True  # until start()
        self.stats = {"sent": 0, "retry_after": 0, "forbidden": 0, "migrated": 0, "plain_fallback": 0, "errors": 0}

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._dispatch_loop(), name="telegram-dispatch")

    async def stop(self, grace: float | None = None) -> None:
        """Stop sending; requests already in flight may finish (up to ``grace`` seconds).

        Every delivery still queued is answered ``Interrupted`` (partial when some of its
        parts went out), every reply future is cancelled."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=self.stop_grace if grace is None else grace)
        for task in list(self._in_flight):
            task.cancel()
        await asyncio.gather(*self._in_flight, return_exceptions=True)
        for queue in self._chats.values():
            for job in queue.all_jobs():
                if job.reply:
                    job.done.cancel()
                else:
                    _settle(job, Interrupted(partial=job.index > 0))
        self._chats.clear()

    @property
    def queued(self) -> int:
        """Messages (deliveries and replies) waiting in memory."""
        return sum(1 for q in self._chats.values() for _ in q.all_jobs())

    @property
    def requests_in_flight(self) -> int:
        """Requests to the Bot API not yet answered."""
        return len(self._in_flight)

    # ------------------------------------------------------------------ entry points
    def send(self, out: Outgoing) -> asyncio.Future:
        """Queue a command reply (or notice); the future resolves to the last Message sent
        (None when Telegram refused it for good). Never blocks on the limits."""
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        if not out.parts:
            future.set_result(None)
            return future
        queue = self._queue(out.chat_id, out.group)
        queue.replies.append(_Job(out, future, reply=True))
        self._want(out.chat_id)
        return future

    async def deliver(self, out: Outgoing) -> Outcome:
        """Send one outbox message (behind the chat's replies); what became of it."""
        if self._stopping:
            return Interrupted()
        if not out.parts:
            return Fail(NOTHING_TO_SEND)
        job = _Job(out, asyncio.get_running_loop().create_future(), reply=False)
        self._queue(out.chat_id, out.group).deliveries.append(job)
        self._want(out.chat_id)
        try:
            return await job.done
        except asyncio.CancelledError:
            self._abandon(job)
            raise

    def _abandon(self, job: _Job) -> None:
        """A delivery whose caller went away: forget it unless a part of it is on the way."""
        queue = self._chats.get(job.out.chat_id)
        if queue is None:
            return
        if job in queue.deliveries:
            queue.deliveries.remove(job)
        elif queue.current is job and not queue.busy:
            queue.current = None
        self._want(job.out.chat_id)

    # ------------------------------------------------------------------ the loop
    async def _dispatch_loop(self) -> None:
        clock = self.clock
        if self.startup_pause > 0:
            await clock.sleep(self.startup_pause)
        pruned = clock.monotonic()
        while True:
            if clock.monotonic() - pruned > self.prune_every:
                pruned = clock.monotonic()
                self.scheduler.prune(pruned)
            self._ready.clear()
            while True:
                chat = self.scheduler.take(clock.monotonic())
                if chat is None:
                    break
                task = asyncio.create_task(self._send_next(chat))
                self._in_flight.add(task)
                task.add_done_callback(self._in_flight.discard)
            now = clock.monotonic()
            nxt = self.scheduler.next_at(now)
            await wait_event(clock, self._ready, None if nxt is None else max(0.0, nxt - now))

    # ------------------------------------------------------------------ one send
    async def _send_next(self, chat_id: int) -> None:
        queue = self._chats.get(chat_id)
        job = queue.next_job() if queue else None
        if queue is None or job is None:
            return
        if not job.reply and not self.may_deliver():
            queue.current = None
            _settle(job, Interrupted(partial=job.index > 0))
            self._want(chat_id)
            return
        queue.busy = True
        try:
            await self._send_part(chat_id, job)
        finally:
            queue.busy = False
            self.scheduler.finished(chat_id, self.clock.monotonic())
            self._want(chat_id)

    async def _send_part(self, chat_id: int, job: _Job) -> None:
        try:
            message = await self._request(chat_id, job)
        except RetryAfter as exc:
            wait = retry_after_seconds(exc)
            self.stats["retry_after"] += 1
            if self.metrics is not None:
                self.metrics.telegram_429.inc()
            log.warning("Telegram asks to wait %.0f s before the next message to chat %s", wait, chat_id)
            self.scheduler.block(chat_id, self.clock.monotonic() + wait)
            if wait > self.long_wait:
                self._hand_back(chat_id, wait)
        except Forbidden as exc:
            self.stats["forbidden"] += 1
            self._chat_gone(chat_id, f"forbidden: {exc.message}")
        except ChatMigrated as exc:
            self.stats["migrated"] += 1
            self._chat_moved(chat_id, int(exc.new_chat_id))
        except BadRequest as exc:
            self._bad_request(chat_id, job, exc)
        except TelegramError as exc:
            self._transient(chat_id, job, exc)
        except Exception as exc:  # an unexpected failure of one send must not stop the sender
            log.exception("sending to chat %s failed unexpectedly", chat_id)
            self._transient(chat_id, job, exc)
        else:
            self._part_sent(chat_id, job, message)

    async def _request(self, chat_id: int, job: _Job) -> Message | bool:
        out = job.out
        text = out.parts[job.index]
        if job.plain:
            text = html_to_plain(text)
        parse_mode = None if job.plain else ParseMode.HTML
        markup = out.keyboard if job.index == len(out.parts) - 1 else None
        if out.edit_message_id is not None and job.index == 0:
            return await self.bot.edit_message_text(
                text,
                chat_id=chat_id,
                message_id=out.edit_message_id,
                parse_mode=parse_mode,
                reply_markup=markup,
                link_preview_options=NO_PREVIEW,
            )
        return await self.bot.send_message(
            chat_id, text, parse_mode=parse_mode, reply_markup=markup, link_preview_options=NO_PREVIEW
        )

    def _part_sent(self, chat_id: int, job: _Job, message: Message | bool | None) -> None:
        self.stats["sent"] += 1
        job.index += 1
        job.plain = False
        job.tries = 0
        if job.index < len(job.out.parts):
            return
        self._drop_job(chat_id, job)
        _settle(job, (message if isinstance(message, Message) else None) if job.reply else Sent())

    def _bad_request(self, chat_id: int, job: _Job, exc: BadRequest) -> None:
        text = exc.message.lower()
        if "can't parse entities" in text or "can't find end" in text or "unsupported start tag" in text:
            if not job.plain:
                self.stats["plain_fallback"] += 1
                log.warning("Telegram refused the HTML of a message to chat %s; resending as plain text", chat_id)
                job.plain = True
                return
        if "message is not modified" in text:
            self._part_sent(chat_id, job, None)
            return
        if "chat not found" in text:
            self._chat_gone(chat_id, f"bad request: {exc.message}")
            return
        reason = self._redact(exc)
        log.warning("Telegram refused a message to chat %s for good: %s", chat_id, reason)
        self._give_up(chat_id, job, reason)

    def _transient(self, chat_id: int, job: _Job, exc: BaseException) -> None:
        self.stats["errors"] += 1
        reason = self._redact(exc)
        if not job.reply and job.index == 0:
            # nothing of it reached the chat: back to the outbox, which counts attempts
            self._drop_job(chat_id, job)
            _settle(job, Retry(None, reason))
            return
        job.tries += 1
        if job.tries > self.part_retries:
            log.warning("giving up on a message to chat %s after %d tries: %s", chat_id, job.tries, reason)
            self._give_up(chat_id, job, f"{reason} (after {job.tries} tries)")
            return
        delay = self.part_retry_delay * (2 ** (job.tries - 1))
        log.warning("sending to chat %s failed (%s); retrying in %.1f s", chat_id, reason, delay)
        self.scheduler.block(chat_id, self.clock.monotonic() + delay)

    def _hand_back(self, chat_id: int, wait: float) -> None:
        """A long flood wait: the chat's not-yet-started deliveries go back to the outbox, due
        when the wait ends, instead of waiting claimed in memory."""
        queue = self._chats.get(chat_id)
        if queue is None:
            return
        hold = Hold(wait, f"Telegram asks to wait {wait:.0f} s")
        if queue.current is not None and not queue.current.reply and queue.current.index == 0:
            _settle(queue.current, hold)
            queue.current = None
        for job in [j for j in queue.deliveries if j.index == 0]:
            queue.deliveries.remove(job)
            _settle(job, hold)

    def _give_up(self, chat_id: int, job: _Job, reason: str) -> None:
        self._drop_job(chat_id, job)
        _settle(job, None if job.reply else Fail(reason))

    def _drop_job(self, chat_id: int, job: _Job) -> None:
        queue = self._chats.get(chat_id)
        if queue is not None and queue.current is job:
            queue.current = None

    def _chat_gone(self, chat_id: int, reason: str) -> None:
        """The chat blocked the bot (or no longer exists): nothing more goes to it."""
        queue = self._chats.pop(chat_id, None)
        self.scheduler.forget(chat_id)
        if queue is not None:
            for job in queue.all_jobs():
                _settle(job, None if job.reply else Gone(reason))

    def _chat_moved(self, old: int, new: int) -> None:
        """A group became a supergroup: replies queued for it go to the new id; deliveries
        answer Moved (the worker moves the chat and sends them there)."""
        log.info("chat %s migrated to %s", old, new)
        queue = self._chats.pop(old, None)
        self.scheduler.forget(old)
        if queue is None:
            return
        moved = Moved(str(new))
        for job in queue.all_jobs():
            if not job.reply:
                _settle(job, moved)
        current = queue.current if queue.current is not None and queue.current.reply else None
        if current is None and not queue.replies:
            return
        target = self._queue(new, True)
        for job in [current, *queue.replies]:
            if job is not None:
                job.out.chat_id = new
        if current is not None:
            if target.current is None:
                target.current = current
            else:
                target.replies.appendleft(current)
        target.replies.extend(queue.replies)
        self._want(new)

    # ------------------------------------------------------------------ helpers
    def _queue(self, chat_id: int, group: bool) -> _ChatQueue:
        queue = self._chats.get(chat_id)
        if queue is None:
            queue = self._chats[chat_id] = _ChatQueue(group=group)
        queue.group = queue.group or group
        return queue

    def _want(self, chat_id: int) -> None:
        queue = self._chats.get(chat_id)
        if queue is None or queue.busy:
            return
        if not queue.has_work():
            del self._chats[chat_id]
            return
        self.scheduler.want(chat_id, group=queue.group, urgent=queue.urgent())
        self._ready.set()

    def _redact(self, exc: BaseException) -> str:
        return redact(f"{type(exc).__name__}: {exc}", self.secrets)[:500]


class TelegramDelivery:
    """The outbox channel "telegram": a ``Unit`` as Telegram HTML parts of at most 4096
    characters, sent through the ``TelegramSender``."""

    name = "telegram"

    def __init__(self, sender: TelegramSender) -> None:
        self.sender = sender

    async def send(self, unit: Unit) -> Outcome:
        try:
            chat_id = int(unit.address)
            parts = list(unit.parts) or split_blocks(unit.blocks, render_telegram_html, TELEGRAM_LIMIT)
        except (TypeError, ValueError) as exc:
            return Fail(f"cannot build the message: {type(exc).__name__}: {exc}")
        return await self.sender.deliver(Outgoing(chat_id=chat_id, parts=parts, group=unit.group))


def delivery_worker(
    outbox: Outbox,
    chats: ChatStore,
    compose: Compose,
    sender: TelegramSender,
    clock: Clock,
    *,
    batch: int = 100,
    claim_interval: float = 2.0,
    worker_id: str | None = None,
    metrics: Metrics | None = None,
) -> OutboxWorker:
    """The ``OutboxWorker`` for channel "telegram": up to two batches claimed at once, every
    claimed unit in flight (about 30 wait on the limits to keep 30 messages/s going)."""
    return OutboxWorker(
        outbox, chats, compose, TelegramDelivery(sender), clock,
        batch=batch, claim_interval=claim_interval, concurrency=2 * batch, max_in_flight=2 * batch,
        worker_id=worker_id, metrics=metrics,
    )
