"""Everything the bot sends to Telegram goes through one ``TelegramSender``.

Outbox deliveries (claimed from the ``Outbox`` for channel "telegram") and command replies
are queued per chat and handed to PTB's ``Bot`` only when ``SendScheduler`` allows it:
30 messages/s overall, 1/s per chat, 20/min per group, replies ahead of a fan-out. Each chat
has at most one request in flight, so the parts of a long message arrive in order; a
delivery is marked sent after its last part.

What Telegram answers decides what happens next::

    RetryAfter (429)       that chat waits retry_after (the others carry on); not a failure
    Forbidden (403)        the chat is marked inactive, its pending deliveries dropped
    ChatMigrated           the chat moves to its new id; the message is sent there
    BadRequest "can't parse entities"   the same part again as plain text
    BadRequest (other)     the delivery fails with the reason (no retry can fix it)
    NetworkError, 5xx ...  retried with backoff, a bounded number of times, reason recorded

Error texts stored or logged pass through ``bot.logs.redact`` (URLs carry the token).
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, Message
from telegram.constants import ParseMode
from telegram.error import BadRequest, ChatMigrated, Forbidden, RetryAfter, TelegramError
from telegram.request import HTTPXRequest

from bot.logs import redact
from bot.channels.telegram.limits import RateLimits, SendScheduler

log = logging.getLogger(__name__)

TELEGRAM_LIMIT = 4096
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
    delivery: Any = None  # the outbox row this message delivers (None for a command reply)
    attempts: int = 0  # earlier attempts recorded by the outbox


class DeliveryFeed(Protocol):
    """Where deliveries come from and where their outcome is recorded (the outbox)."""

    async def claim(self, limit: int) -> list[Outgoing]: ...

    async def sent(self, delivery: Any) -> None: ...

    async def retry(self, delivery: Any, error: str, delay: float) -> None: ...

    async def fail(self, delivery: Any, error: str) -> None: ...

    async def chat_blocked(self, chat_id: int, reason: str) -> None: ...

    async def chat_migrated(self, old_chat_id: int, new_chat_id: int) -> None: ...


@dataclass
class _Job:
    out: Outgoing
    index: int = 0  # next part to send
    plain: bool = False  # the current part goes as plain text (its HTML was refused)
    tries: int = 0  # transient failures of the current part
    done: asyncio.Future | None = None  # a reply's result: the last Message sent, or None


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
        return bool((job and job.out.delivery is None) or (not job and self.replies))

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


def backoff(attempts: int, base: float = 5.0, cap: float = 600.0) -> float:
    """Delay before attempt ``attempts + 1``: 5 s, 10 s, 20 s ... at most 10 min."""
    return min(cap, base * (2 ** max(attempts, 0)))


class TelegramSender:
    """Queues messages per chat and sends them within Telegram's limits (see module doc)."""

    def __init__(
        self,
        bot: Bot,
        feed: DeliveryFeed | None = None,
        *,
        limits: RateLimits | None = None,
        secrets: Sequence[str] = (),
        batch: int = 100,
        claim_interval: float = 2.0,
        part_retry_delay: float = 1.0,
        startup_pause: float = 1.05,
    ) -> None:
        self.bot = bot
        self.feed = feed
        self.scheduler = SendScheduler(limits or RateLimits.telegram())
        self.secrets = list(secrets)
        self.batch = batch
        self.claim_interval = claim_interval
        self.part_retry_delay = part_retry_delay
        # Telegram's 1 msg/s per chat (and 30/s overall) spans restarts: a process killed just
        # after a send does not tell its successor, so nothing leaves in the first second.
        self.startup_pause = startup_pause
        self._chats: dict[int, _ChatQueue] = {}
        self._gone: set[int] = set()  # chats that blocked the bot: their deliveries are dropped
        self._queued_deliveries = 0
        self._ready = asyncio.Event()
        self._claim_wanted = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._in_flight: set[asyncio.Task] = set()
        self._stopping = False
        self.stats = {"sent": 0, "retry_after": 0, "forbidden": 0, "migrated": 0, "plain_fallback": 0, "errors": 0}

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self._stopping = False
        self._tasks.append(asyncio.create_task(self._dispatch_loop(), name="telegram-dispatch"))
        if self.feed is not None:
            self._tasks.append(asyncio.create_task(self._claim_loop(), name="telegram-claim"))

    async def stop(self, grace: float = 2.0) -> None:
        """Stop taking work; let sends already in flight finish (up to ``grace`` seconds).

        Deliveries claimed but not started go back to pending (``release``); one stopped
        half-way through its parts stays claimed and ``requeue_stale`` puts it back at the
        next start-up.
        """
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=grace)
        for task in list(self._in_flight):
            task.cancel()
        unsent = []
        for queue in self._chats.values():
            for job in queue.all_jobs():
                if job.done and not job.done.done():
                    job.done.cancel()
                if job.out.delivery is not None and job.index == 0:
                    unsent.append(job.out.delivery)
        self._chats.clear()
        self._queued_deliveries = 0
        release = getattr(self.feed, "release", None)
        if unsent and release is not None:
            try:
                await release(unsent)
            except Exception as exc:
                log.warning("could not hand %d unsent deliveries back: %s", len(unsent), self._redact(exc))

    def wake(self) -> None:
        """New deliveries may be waiting in the outbox: claim now."""
        self._claim_wanted.set()

    @property
    def queued(self) -> int:
        """Messages (deliveries and replies) waiting in memory."""
        return sum(1 for q in self._chats.values() for _ in q.all_jobs())

    # ------------------------------------------------------------------ entry points
    def send(self, out: Outgoing) -> asyncio.Future:
        """Queue a command reply (or notice); the future resolves to the last Message sent
        (None when Telegram refused it for good). Never blocks on the limits."""
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        if not out.parts:
            future.set_result(None)
            return future
        self._gone.discard(out.chat_id)  # the person is talking to the bot again
        queue = self._queue(out.chat_id, out.group)
        queue.replies.append(_Job(out, done=future))
        self._want(out.chat_id)
        return future

    def enqueue_delivery(self, out: Outgoing) -> None:
        if out.chat_id in self._gone:
            return  # claimed just before the chat was deactivated; drop_chat dropped the row
        queue = self._queue(out.chat_id, out.group)
        queue.deliveries.append(_Job(out))
        self._queued_deliveries += 1
        self._want(out.chat_id)

    # ------------------------------------------------------------------ loops
    async def _claim_loop(self) -> None:
        assert self.feed is not None
        while True:
            room = self.batch * 2 - self._queued_deliveries
            claimed: list[Outgoing] = []
            if room >= self.batch:
                try:
                    claimed = await self.feed.claim(self.batch)
                except Exception as exc:  # a database hiccup must not end the loop
                    log.warning("claiming Telegram deliveries failed: %s", self._redact(exc))
                for out in claimed:
                    self.enqueue_delivery(out)
            if len(claimed) == self.batch:
                await asyncio.sleep(0)  # more may be waiting: claim again when there is room
                if self._queued_deliveries > self.batch:
                    await self._wait(self._claim_wanted, 0.2)
                continue
            await self._wait(self._claim_wanted, self.claim_interval)

    async def _dispatch_loop(self) -> None:
        if self.startup_pause > 0:
            await asyncio.sleep(self.startup_pause)
        pruned = time.monotonic()
        while True:
            if time.monotonic() - pruned > 60:
                pruned = time.monotonic()
                self.scheduler.prune(pruned)
            self._ready.clear()
            while True:
                now = time.monotonic()
                chat = self.scheduler.take(now)
                if chat is None:
                    break
                task = asyncio.create_task(self._send_next(chat))
                self._in_flight.add(task)
                task.add_done_callback(self._in_flight.discard)
            nxt = self.scheduler.next_at(time.monotonic())
            timeout = None if nxt is None else max(0.0, nxt - time.monotonic())
            await self._wait(self._ready, timeout)

    @staticmethod
    async def _wait(event: asyncio.Event, timeout: float | None) -> None:
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation
        # that arrives as the event fires, and stop() would then wait on a loop that lives on.
        try:
            async with asyncio.timeout(timeout):
                await event.wait()
        except TimeoutError:
            pass
        event.clear()

    # ------------------------------------------------------------------ one send
    async def _send_next(self, chat_id: int) -> None:
        queue = self._chats.get(chat_id)
        job = queue.next_job() if queue else None
        if queue is None or job is None:
            return
        queue.busy = True
        try:
            await self._send_part(chat_id, job)
        finally:
            queue.busy = False
            self._want(chat_id)

    async def _send_part(self, chat_id: int, job: _Job) -> None:
        try:
            message = await self._request(chat_id, job)
        except RetryAfter as exc:
            wait = retry_after_seconds(exc)
            self.stats["retry_after"] += 1
            log.warning("Telegram asks to wait %.0f s before the next message to chat %s", wait, chat_id)
            self.scheduler.block(chat_id, time.monotonic() + wait)
            if wait > LONG_WAIT:
                await self._hand_back(chat_id, wait)
        except Forbidden as exc:
            self.stats["forbidden"] += 1
            await self._chat_gone(chat_id, f"forbidden: {exc.message}")
            return
        except ChatMigrated as exc:
            self.stats["migrated"] += 1
            await self._chat_moved(chat_id, int(exc.new_chat_id))
            return
        except BadRequest as exc:
            await self._bad_request(chat_id, job, exc)
        except TelegramError as exc:
            await self._transient(chat_id, job, exc)
        except Exception as exc:  # an unexpected failure of one send must not stop the sender
            log.exception("sending to chat %s failed unexpectedly", chat_id)
            await self._transient(chat_id, job, exc)
        else:
            await self._part_sent(chat_id, job, message)

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

    async def _part_sent(self, chat_id: int, job: _Job, message: Message | bool | None) -> None:
        self.stats["sent"] += 1
        job.index += 1
        job.plain = False
        job.tries = 0
        if job.index < len(job.out.parts):
            return
        await self._finish(chat_id, job, message if isinstance(message, Message) else None)
        if job.out.delivery is not None and self.feed is not None:
            try:
                await self.feed.sent(job.out.delivery)
            except Exception as exc:
                log.error("delivery sent to chat %s but not recorded as sent: %s", chat_id, self._redact(exc))

    async def _bad_request(self, chat_id: int, job: _Job, exc: BadRequest) -> None:
        text = exc.message.lower()
        if "can't parse entities" in text or "can't find end" in text or "unsupported start tag" in text:
            if not job.plain:
                self.stats["plain_fallback"] += 1
                log.warning("Telegram refused the HTML of a message to chat %s; resending as plain text", chat_id)
                job.plain = True
                return
        if "message is not modified" in text:
            await self._part_sent(chat_id, job, None)
            return
        if "chat not found" in text:
            await self._chat_gone(chat_id, f"bad request: {exc.message}")
            return
        reason = self._redact(exc)
        log.warning("Telegram refused a message to chat %s for good: %s", chat_id, reason)
        await self._give_up(chat_id, job, reason)

    async def _transient(self, chat_id: int, job: _Job, exc: BaseException) -> None:
        self.stats["errors"] += 1
        reason = self._redact(exc)
        delivery = job.out.delivery
        if delivery is not None and job.index == 0 and self.feed is not None:
            # nothing of it reached the chat: hand it back to the outbox, which counts attempts
            delay = backoff(job.out.attempts)
            log.warning("delivery to chat %s failed (%s); retrying in %.0f s", chat_id, reason, delay)
            self._drop_job(chat_id, job)
            try:
                await self.feed.retry(delivery, reason, delay)
            except Exception as db_exc:
                log.error("could not record the retry of a delivery to chat %s: %s", chat_id, self._redact(db_exc))
            return
        job.tries += 1
        if job.tries > PART_RETRIES:
            log.warning("giving up on a message to chat %s after %d tries: %s", chat_id, job.tries, reason)
            await self._give_up(chat_id, job, f"{reason} (after {job.tries} tries)")
            return
        delay = self.part_retry_delay * (2 ** (job.tries - 1))
        log.warning("sending to chat %s failed (%s); retrying in %.1f s", chat_id, reason, delay)
        self.scheduler.block(chat_id, time.monotonic() + delay)

    async def _hand_back(self, chat_id: int, wait: float) -> None:
        """A long flood wait: return the chat's not-yet-started deliveries to the outbox, due
        when the wait ends, instead of holding them claimed in memory."""
        queue = self._chats.get(chat_id)
        hold = getattr(self.feed, "hold", None)
        if queue is None or hold is None:
            return
        keep: deque = deque()
        handed = []
        for job in ([queue.current] if queue.current else []) + list(queue.deliveries):
            if job.out.delivery is not None and job.index == 0:
                handed.append(job)
            elif job is not queue.current:
                keep.append(job)
        if queue.current in handed:
            queue.current = None
        queue.deliveries = keep
        for job in handed:
            self._queued_deliveries -= 1
            try:
                await hold(job.out.delivery, wait)
            except Exception as exc:
                log.error("could not hand a delivery to chat %s back: %s", chat_id, self._redact(exc))

    async def _give_up(self, chat_id: int, job: _Job, reason: str) -> None:
        self._drop_job(chat_id, job)
        await self._finish(chat_id, job, None)
        if job.out.delivery is not None and self.feed is not None:
            try:
                await self.feed.fail(job.out.delivery, reason)
            except Exception as exc:
                log.error("could not record a failed delivery to chat %s: %s", chat_id, self._redact(exc))

    async def _finish(self, chat_id: int, job: _Job, message: Message | None) -> None:
        queue = self._chats.get(chat_id)
        if queue is not None and queue.current is job:
            queue.current = None
            if job.out.delivery is not None:
                self._queued_deliveries -= 1
        if job.done is not None and not job.done.done():
            job.done.set_result(message)

    def _drop_job(self, chat_id: int, job: _Job) -> None:
        queue = self._chats.get(chat_id)
        if queue is not None and queue.current is job:
            queue.current = None
            if job.out.delivery is not None:
                self._queued_deliveries -= 1
                self._claim_wanted.set()

    async def _chat_gone(self, chat_id: int, reason: str) -> None:
        """The chat blocked the bot (or no longer exists): stop sending to it for good."""
        log.info("chat %s is no longer reachable (%s): marking it inactive", chat_id, reason)
        self._gone.add(chat_id)
        queue = self._chats.pop(chat_id, None)
        if queue is not None:
            for job in queue.all_jobs():
                if job.out.delivery is not None:
                    self._queued_deliveries -= 1
                if job.done is not None and not job.done.done():
                    job.done.set_result(None)
        if self.feed is not None:
            try:
                await self.feed.chat_blocked(chat_id, reason)
            except Exception as exc:
                log.error("could not deactivate chat %s: %s", chat_id, self._redact(exc))
        self._claim_wanted.set()

    async def _chat_moved(self, old: int, new: int) -> None:
        """A group became a supergroup: everything queued for it goes to the new id."""
        log.info("chat %s migrated to %s", old, new)
        if self.feed is not None:
            try:
                await self.feed.chat_migrated(old, new)
            except Exception as exc:
                log.error("could not move chat %s to %s: %s", old, new, self._redact(exc))
        queue = self._chats.pop(old, None)
        self.scheduler.forget(old)
        if queue is None:
            return
        target = self._queue(new, True)
        for job in queue.all_jobs():
            job.out.chat_id = new
        if queue.current is not None:
            if target.current is None:
                target.current = queue.current
            else:
                target.replies.appendleft(queue.current)
        target.replies.extend(queue.replies)
        target.deliveries.extend(queue.deliveries)
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


@dataclass(frozen=True)
class DeliveryBundle:
    """Several outbox rows of one chat sent as one message; their outcome is shared."""

    members: tuple[Any, ...]

    @property
    def id(self) -> int:
        return self.members[0].id


def _ids(delivery: Any) -> list[int]:
    return [m.id for m in delivery.members] if isinstance(delivery, DeliveryBundle) else [delivery.id]


class OutboxFeed:
    """``DeliveryFeed`` over the outbox and the chat store, for channel "telegram".

    ``compose(deliveries) -> {delivery_id: blocks}`` (the service's ``DeliveryComposer``)
    says what each delivery reads; the blocks are rendered as Telegram HTML and split into
    parts of at most 4096 characters.
    """

    def __init__(self, outbox, chats, compose, *, worker_id: str = "telegram", clock=None) -> None:
        self.outbox = outbox
        self.chats = chats
        self.compose = compose
        self.worker_id = worker_id
        self.clock = clock

    def _now(self):
        from monitors.db import utcnow

        return self.clock.now() if self.clock is not None else utcnow()

    async def claim(self, limit: int) -> list[Outgoing]:
        from bot.core.text import render_telegram_html, split_blocks

        claimed = await self.outbox.claim(self.worker_id, limit, ["telegram"])
        if not claimed:
            return []
        try:
            composed = await self.compose(claimed)
        except Exception:
            log.exception("composing %d Telegram deliveries failed", len(claimed))
            await self.outbox.release([d.id for d in claimed])
            return []
        out: list[Outgoing] = []
        # several alerts of one chat (e.g. released together after quiet hours) go as one
        # message where they fit: bot.core.quiet.bundle_alerts
        from bot.core.quiet import bundle_alerts

        units = bundle_alerts(claimed, composed)
        bundled = {m.id for members, _ in units for m in members}
        for delivery in claimed:
            if delivery.id not in bundled:
                await self.outbox.fail(delivery.id, "nothing to send (the item is gone or the message is empty)")
        for members, blocks in units:
            delivery = members[0] if len(members) == 1 else DeliveryBundle(tuple(members))
            try:
                chat_id = int(members[0].address)
                parts = split_blocks(blocks, render_telegram_html, TELEGRAM_LIMIT) if blocks else []
            except (TypeError, ValueError) as exc:
                for m in members:
                    await self.outbox.fail(m.id, f"cannot build the message: {type(exc).__name__}: {exc}")
                continue
            if not parts:
                for m in members:
                    await self.outbox.fail(m.id, "nothing to send (the item is gone or the message is empty)")
                continue
            out.append(
                Outgoing(
                    chat_id=chat_id,
                    parts=parts,
                    group=members[0].chat_kind != "private",
                    delivery=delivery,
                    attempts=max(m.attempts for m in members),
                )
            )
        return out

    async def sent(self, delivery) -> None:
        for delivery_id in _ids(delivery):
            await self.outbox.mark_sent(delivery_id)

    async def retry(self, delivery, error: str, delay: float) -> None:
        for delivery_id in _ids(delivery):
            await self.outbox.retry(delivery_id, error, self._now() + timedelta(seconds=delay))

    async def hold(self, delivery, delay: float) -> None:
        for delivery_id in _ids(delivery):
            await self.outbox.hold(delivery_id, self._now() + timedelta(seconds=delay))

    async def fail(self, delivery, error: str) -> None:
        for delivery_id in _ids(delivery):
            await self.outbox.fail(delivery_id, error)

    async def release(self, deliveries: Sequence[Any]) -> None:
        await self.outbox.release([i for d in deliveries for i in _ids(d)])

    async def chat_blocked(self, chat_id: int, reason: str) -> None:
        chat = await self.chats.get("telegram", str(chat_id))
        if chat is not None:
            await self.chats.deactivate(chat.id)
            await self.outbox.drop_chat(chat.id, reason)

    async def chat_migrated(self, old_chat_id: int, new_chat_id: int) -> None:
        await self.chats.migrate(str(old_chat_id), str(new_chat_id), channel="telegram")
