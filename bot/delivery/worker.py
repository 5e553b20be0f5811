"""One delivery loop for every channel: claim -> compose -> bundle -> send -> record.

``OutboxWorker`` takes due rows of one outbox channel ("telegram", "wecom", "robot",
"console"), has them composed into ``bot.core.text`` blocks, bundles alerts held through a
chat's quiet hours into one message (``bot.core.quiet.bundle_alerts``), hands each ``Unit``
to the channel and records what the channel answers. A channel only renders and sends::

    class Channel(Protocol):
        name: str                                   # the outbox channel it serves
        async def send(self, unit: Unit) -> Outcome

and may regroup the units waiting for one address before they are sent (``plan(units)``:
the WeCom robots pack several alerts into one message under their 20/min window), and cap
how many held alerts one bundle carries (``bundle_most``).

Outcomes and what the worker records::

    Sent(messages)               every member row is sent; ``messages``: how many messages it
                                 took (stored for a channel that counts its sends in the
                                 database, ``Outbox.recent_sends``; None: not counted)
    Retry(after, error)          an attempt failed: back to pending in ``after`` seconds (None:
                                 the worker's backoff by attempts); failed after max_attempts
    Hold(after, reason, held)    not now, and not a failure (a rate-limit wait): pending again
                                 in ``after`` seconds, no attempt counted; ``held`` (stored on
                                 the rows) says why, for the heading of the bundle they later
                                 leave in (``bot.core.quiet.bundle_alerts``)
    Fail(error)                  no retry can help: failed with the reason
    Gone(reason)                 the address is unreachable for good: chat deactivated, all
                                 its pending rows dropped
    Moved(new_address)           the chat has a new address (a Telegram group became a
                                 supergroup): the chat moves (``chats.migrate``) and the
                                 unit is sent again at once, to the new address
    Interrupted(partial)         the channel is stopping: back to pending now; a unit already
                                 partly sent stays claimed (``requeue_stale`` puts it back)

One address's units leave one after another, in claim order (a lane); addresses are served
side by side, at most ``concurrency`` at once, with at most ``max_in_flight`` rows claimed
and not yet recorded. A unit that ends in ``Retry`` or ``Hold`` holds the rest of its lane
until the same moment, so one chat's messages keep their order. ``stop()`` hands claimed,
unsent rows back at once.

Every waiting period (claim interval, backoff) is a constructor argument and every wait is
on the injected ``Clock``, so tests move a ``FakeClock`` instead of waiting.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Protocol, Union

from bot.core.clock import Clock, wait_event
from bot.core.model import Delivery
from bot.core.quiet import HELD_AFTER_FAILURE, HELD_RATE, bundle_alerts
from bot.core.text import Block
from bot.delivery.compose import Compose
from bot.store.chats import ChatStore
from bot.store.outbox import Outbox
from bot.web.metrics import Metrics
from monitors.failures import log_failure

log = logging.getLogger("shwatch.delivery")

NOTHING_TO_SEND = "nothing to send (the item is gone or the message is empty)"
MAX_MOVES = 3  # a chat that keeps moving is not followed forever


# ---------------------------------------------------------------------------- units and outcomes


@dataclass(frozen=True)
class Unit:
    """What goes to one address as one message: one delivery, or several bundled ones.

    ``parts`` holds the messages when a channel's ``plan`` rendered them already (else the
    channel renders ``blocks``)."""

    members: tuple[Delivery, ...]
    blocks: tuple[Block, ...]
    address: str
    chat_id: int
    chat_kind: str
    lang: str
    attempts: int
    parts: tuple[str, ...] = ()

    @classmethod
    def of(cls, members: Sequence[Delivery], blocks: Sequence[Block]) -> "Unit":
        first = members[0]
        return cls(
            members=tuple(members),
            blocks=tuple(blocks),
            address=str(first.address),
            chat_id=first.chat_id,
            chat_kind=first.chat_kind,
            lang=first.lang,
            attempts=max(m.attempts for m in members),
        )

    @classmethod
    def merged(cls, units: Sequence["Unit"], parts: Sequence[str] = ()) -> "Unit":
        """Several units of one address as one message (``parts``: its rendered messages)."""
        return replace(
            units[0],
            members=tuple(m for u in units for m in u.members),
            blocks=tuple(b for u in units for b in u.blocks),
            attempts=max(u.attempts for u in units),
            parts=tuple(parts),
        )

    @property
    def ids(self) -> list[int]:
        return [m.id for m in self.members]

    @property
    def kind(self) -> str:
        return self.members[0].kind

    @property
    def group(self) -> bool:
        return self.chat_kind != "private"


@dataclass(frozen=True)
class Sent:
    messages: int | None = None


@dataclass(frozen=True)
class Retry:
    after: float | None
    error: str


@dataclass(frozen=True)
class Hold:
    after: float
    reason: str
    held: str = HELD_RATE


@dataclass(frozen=True)
class Fail:
    error: str


@dataclass(frozen=True)
class Gone:
    reason: str


@dataclass(frozen=True)
class Moved:
    new_address: str


@dataclass(frozen=True)
class Interrupted:
    partial: bool = False


Outcome = Union[Sent, Retry, Hold, Fail, Gone, Moved, Interrupted]


class Channel(Protocol):
    name: str

    async def send(self, unit: Unit) -> Outcome: ...


@dataclass(frozen=True)
class Result:
    """A unit and what became of it (``run_once`` returns these)."""

    unit: Unit
    outcome: Outcome


def backoff(attempts: int, base: float = 5.0, cap: float = 600.0) -> float:
    """Delay before attempt ``attempts + 1``: 5 s, 10 s, 20 s ... at most 10 min."""
    return min(cap, base * (2 ** max(attempts, 0)))


# ---------------------------------------------------------------------------- the worker


@dataclass
class _Lane:
    """One address's units, sent one after another."""

    queue: deque = field(default_factory=deque)  # (claim round, Unit)
    planned: int = 0  # units at the front of the queue that came out of the channel's plan
    task: asyncio.Task | None = None


class OutboxWorker:
    def __init__(
        self,
        outbox: Outbox,
        chats: ChatStore | None,
        compose: Compose,
        channel: Channel,
        clock: Clock,
        *,
        batch: int = 50,
        claim_interval: float = 1.0,
        concurrency: int = 8,
        max_in_flight: int | None = None,
        retry_base: float = 5.0,
        retry_cap: float = 600.0,
        stop_grace: float = 3.0,
        only: int | None = None,
        worker_id: str | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.metrics = metrics  # deliveries sent / failed for good, per channel (/metrics)
        self.outbox = outbox
        self.chats = chats
        self.compose = compose
        self.channel = channel
        self.clock = clock
        self.batch = batch
        self.claim_interval = claim_interval
        self.max_in_flight = max_in_flight if max_in_flight is not None else 2 * batch
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        self.stop_grace = stop_grace
        self.only = only  # one given row (``shwatch digest --send``): claimed once, by id
        self.worker_id = worker_id or f"{channel.name}-{uuid.uuid4().hex[:8]}"
        self._lanes: dict[str, _Lane] = {}
        self._slots = asyncio.Semaphore(max(concurrency, 1))
        self._queued = 0  # rows claimed and not yet recorded
        self._round = 0  # claim rounds started
        self._gone: dict[str, int] = {}  # address -> first claim round that may send there again
        self._moved: dict[str, str] = {}  # old address -> new address
        self._results: list[Result] | None = None  # collected during run_once
        self._plan = getattr(channel, "plan", None)
        self._bundle_most = getattr(channel, "bundle_most", None)
        self._working = 0  # claims and recordings under way
        self._more = False  # the last claim was full: claim again as soon as there is room
        self._kick = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task | None = None
        self._stopping = False

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._loop(), name=f"{self.channel.name}-deliveries")

    def wake(self) -> None:
        """New deliveries may be due: claim now."""
        self._kick.set()

    def halt(self) -> None:
        """Take no more work: no claims, no new unit started (``stop`` finishes the job)."""
        self._stopping = True
        self._kick.set()

    async def stop(self) -> None:
        """Stop claiming; units being sent may finish within ``stop_grace`` seconds; every
        claimed row not yet sent goes back to pending."""
        self.halt()
        # one grace for the whole stop (the claim loop and the sends share it), so a worker
        # stops within ``stop_grace``, inside the service's own limit per component
        ends = asyncio.get_running_loop().time() + self.stop_grace
        if self._task is not None:
            # a claim under way finishes (its rows are handed back below), then the loop ends
            done, _ = await asyncio.wait([self._task], timeout=self.stop_grace)
            if not done:
                self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        tasks = [lane.task for lane in self._lanes.values() if lane.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=max(0.0, ends - asyncio.get_running_loop().time()))
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        unsent = [i for lane in self._lanes.values() for _, unit in lane.queue for i in unit.ids]
        self._lanes.clear()
        self._queued = 0
        if unsent:
            try:
                await self.outbox.release(unsent)
            except Exception as exc:
                log.warning("could not hand %d unsent %s deliveries back: %s", len(unsent), self.channel.name, exc)

    @property
    def queued(self) -> int:
        """Rows claimed and not yet recorded."""
        return self._queued

    @property
    def working(self) -> bool:
        """A claim (with its composing) or a recording is under way, or a claim is about to
        start (woken): the worker is busy, not waiting for time or for the channel."""
        woken = self._kick.is_set() and self._task is not None and not self._stopping
        return self._working > 0 or woken

    async def run_once(self) -> list[Result]:
        """One claim round, sent to the end: what became of each unit (tests, ``digest --send``)."""
        self._results = results = []
        try:
            await self._claim_round(self.batch)
            await self._idle.wait()
        finally:
            self._results = None
        return results

    # ------------------------------------------------------------ claiming

    async def _loop(self) -> None:
        while not self._stopping:
            if self.max_in_flight - self._queued >= min(self.batch, self.max_in_flight):
                try:
                    self._more = await self._claim_round(self.batch) >= self.batch
                except Exception as exc:  # a database hiccup: say it and try again on the next round
                    log_failure(log, f"{self.channel.name} delivery round failed", exc)
                    self._more = False
                if self._more and self.max_in_flight - self._queued >= self.batch:
                    await asyncio.sleep(0)
                    continue
            # after a full claim, room for the next batch kicks; otherwise news (wake) or time
            await wait_event(self.clock, self._kick, self.claim_interval)
            self._kick.clear()

    async def _claim_round(self, limit: int) -> int:
        """Claim, compose, bundle and queue units on their lanes; how many rows were claimed."""
        self._working += 1
        try:
            return await self._claim(limit)
        finally:
            self._working -= 1

    async def _claim(self, limit: int) -> int:
        self._round += 1
        round_no = self._round
        if self.only is not None:
            row = await self.outbox.claim_one(self.worker_id, self.only) if round_no == 1 else None
            claimed = [row] if row is not None else []
        else:
            claimed = await self.outbox.claim(self.worker_id, limit, [self.channel.name])
        if not claimed:
            return 0
        try:
            composed = await self.compose(claimed)
        except Exception:
            log.exception("composing %d %s deliveries failed", len(claimed), self.channel.name)
            await self.outbox.release([d.id for d in claimed])
            return 0
        # alerts held through a chat's quiet hours leave together, in one message where they fit
        bundled = bundle_alerts(claimed, composed, most=self._bundle_most)
        in_units = {m.id for members, _ in bundled for m in members}
        self._queued += len(claimed)
        self._idle.clear()
        for delivery in claimed:
            if delivery.id not in in_units:
                await self._finish(Unit.of([delivery], ()), Fail(NOTHING_TO_SEND))
        for members, blocks in bundled:
            self._queue(round_no, Unit.of(members, blocks))
        self._check_idle()
        return len(claimed)

    def _queue(self, round_no: int, unit: Unit) -> None:
        lane = self._lanes.get(unit.address)
        if lane is None:
            lane = self._lanes[unit.address] = _Lane()
        lane.queue.append((round_no, unit))
        if lane.task is None:
            lane.task = asyncio.create_task(self._run_lane(unit.address, lane), name=f"{self.channel.name}-lane")

    # ------------------------------------------------------------ sending

    async def _run_lane(self, address: str, lane: _Lane) -> None:
        try:
            async with self._slots:
                while lane.queue and not self._stopping:
                    if lane.planned == 0 and self._plan is not None:
                        self._replan(lane)
                    round_no, unit = lane.queue.popleft()
                    lane.planned = max(lane.planned - 1, 0)
                    if round_no < self._gone.get(unit.address, 0):
                        await self._finish(unit, None)  # its rows were dropped with the chat
                        continue
                    outcome, unit = await self._send(unit)
                    await self._finish(unit, outcome)
                    if isinstance(outcome, (Retry, Hold, Interrupted)):
                        await self._stop_lane(lane, unit, outcome)
        finally:
            lane.task = None
            if not lane.queue and self._lanes.get(address) is lane:
                del self._lanes[address]
            self._check_idle()

    def _replan(self, lane: _Lane) -> None:
        """Let the channel regroup the units waiting in a lane; a regrouped unit belongs to
        the oldest claim round among the units it came from."""
        items = list(lane.queue)
        round_no = min(r for r, _ in items)
        try:
            planned = list(self._plan([u for _, u in items]))
        except Exception:  # a bug in a channel's plan: the units go as they are
            log.exception("planning %d %s units failed", len(items), self.channel.name)
            planned = [u for _, u in items]
        lane.queue = deque((round_no, u) for u in planned)
        lane.planned = len(planned)

    async def _send(self, unit: Unit) -> tuple[Outcome, Unit]:
        new = self._moved.get(unit.address)
        if new is not None:
            unit = replace(unit, address=new)
        for _ in range(MAX_MOVES):
            try:
                outcome = await self.channel.send(unit)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug in a channel must not stop the worker
                log.exception("sending a %s delivery failed unexpectedly", self.channel.name)
                outcome = Retry(None, f"{type(exc).__name__}: {exc}")
            if not isinstance(outcome, Moved):
                return outcome, unit
            log.info("%s chat %s moved to %s", self.channel.name, unit.address, outcome.new_address)
            if self.chats is not None:
                try:
                    await self.chats.migrate(unit.address, outcome.new_address, channel=self.channel.name)
                except Exception as exc:  # the message still goes to where the chat is now
                    log.error("could not move %s chat %s to %s: %s", self.channel.name, unit.address, outcome.new_address, exc)
            self._moved[unit.address] = outcome.new_address
            unit = replace(unit, address=outcome.new_address, chat_kind="group")
        return Retry(None, f"the chat moved more than {MAX_MOVES} times"), unit

    async def _stop_lane(self, lane: _Lane, failed: Unit, outcome: Retry | Hold | Interrupted) -> None:
        """After a unit that could not go, the rest of its lane waits as long (a chat's
        messages keep their order); when the channel stops, the rest goes back at once."""
        if isinstance(outcome, Interrupted):
            rest: Outcome = Interrupted(partial=False)
        elif isinstance(outcome, Hold):
            rest = outcome
        else:
            rest = Hold(
                self._delay(outcome.after, failed.attempts), f"after an earlier message failed: {outcome.error}",
                HELD_AFTER_FAILURE,
            )
        lane.planned = 0
        while lane.queue:
            _, unit = lane.queue.popleft()
            await self._finish(unit, rest)

    def _delay(self, after: float | None, attempts: int) -> float:
        return after if after is not None else backoff(attempts, self.retry_base, self.retry_cap)

    # ------------------------------------------------------------ recording

    async def _finish(self, unit: Unit, outcome: Outcome | None) -> None:
        """Record an outcome (None: nothing to record, the rows are gone) and free the room."""
        self._working += 1
        try:
            if outcome is not None:
                await self._record(unit, outcome)
        except Exception as exc:
            log.error("could not record %s for %s deliveries %s: %s", type(outcome).__name__, self.channel.name, unit.ids, exc)
        finally:
            self._working -= 1
            self._queued -= len(unit.members)
            if self._results is not None and outcome is not None:
                self._results.append(Result(unit, outcome))
            if self._more and self.max_in_flight - self._queued >= self.batch:
                self._more = False
                self._kick.set()

    async def _record(self, unit: Unit, outcome: Outcome) -> None:
        outbox = self.outbox
        if isinstance(outcome, Sent):
            for n, i in enumerate(unit.ids):
                # the unit's messages are counted on its first row
                counted = None if outcome.messages is None else (outcome.messages if n == 0 else 0)
                await outbox.mark_sent(i, messages=counted)
            self._count("sent", len(unit.ids))
        elif isinstance(outcome, Retry):
            delay = self._delay(outcome.after, unit.attempts)
            log.warning("%s delivery to %s failed (%s); retrying in %.0f s", self.channel.name, unit.address, outcome.error, delay)
            until = self.clock.now() + timedelta(seconds=delay)
            for i in unit.ids:
                await outbox.retry(i, outcome.error, until)
        elif isinstance(outcome, Hold):
            until = self.clock.now() + timedelta(seconds=max(outcome.after, 0.0))
            for i in unit.ids:
                await outbox.hold(i, until, held=outcome.held)
        elif isinstance(outcome, Fail):
            log.warning("%s delivery to %s failed for good: %s", self.channel.name, unit.address, outcome.error)
            for i in unit.ids:
                await outbox.fail(i, outcome.error)
            self._count("failed", len(unit.ids))
        elif isinstance(outcome, Gone):
            log.info("%s chat %s is no longer reachable (%s): marking it inactive", self.channel.name, unit.address, outcome.reason)
            if self.chats is not None:
                await self.chats.deactivate(unit.chat_id)
            await outbox.drop_chat(unit.chat_id, outcome.reason)
            # rows claimed by rounds started before now were dropped with the chat; a later
            # round finds the chat only if it came back (active again)
            self._gone[unit.address] = self._round + 1
        elif isinstance(outcome, Interrupted):
            if not outcome.partial:
                await outbox.release(unit.ids)
        else:  # pragma: no cover - Moved never reaches here (``_send`` follows it)
            raise TypeError(f"unknown outcome {outcome!r}")

    def _count(self, result: str, n: int) -> None:
        if self.metrics is not None:
            self.metrics.deliveries.labels(channel=self.channel.name, result=result).inc(n)

    def _check_idle(self) -> None:
        if self._queued <= 0 and not any(lane.queue or lane.task for lane in self._lanes.values()):
            self._idle.set()
