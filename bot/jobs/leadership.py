"""Leadership: which instance of ``shwatch run`` polls, plans digests and reads Telegram.

Any number of ``shwatch run`` may share one database. Each has an identity
(``hostname:pid:suffix``) and a ``Leadership`` component that asks for the "leader" lease
(bot.store.lease, timed by the database's clock) every third of ``lease_seconds``. The
instance holding it runs the leader-only components (the timetable: polls, the digest tick,
health notices; Telegram's getUpdates and Telegram deliveries); the others stand by and send
what the outbox holds for the other channels.

- A leader that dies or hangs stops renewing; its lease expires on the database's clock and a
  standby, which sleeps until just after that expiry, takes over within one lease period.
- A leader trusts its lease only until ``lease_seconds`` after it *asked* for it, on its own
  monotonic clock (which keeps running while the process is stopped), so it never believes in
  a lease the database already gave away. ``holds()`` turns false the moment that time is
  past, even before the renewal loop runs again: after a SIGSTOP ... SIGCONT every guarded
  job (``while_leading``) returns without doing anything, and the loop then stops the
  leader-only components and stands by.
- A renewal that fails (the database is unreachable) keeps the leader leading until its lease
  runs out; a renewal the database refuses (another holder) ends leadership at once.
- A clean stop releases the lease, so a standby takes over at its next attempt.

Two leaders for a moment (a leader paused mid-poll) cannot repeat an alert or a digest: the
outbox keeps one row per (chat, kind, ref).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import ParamSpec, Protocol, TypeVar

from bot.core.clock import Clock
from bot.store.lease import LEADER, Lease, LeaseStore
from monitors.failures import root_reason

log = logging.getLogger("shwatch.leadership")

TAKEOVER_MARGIN = 0.05  # seconds after a lease's expiry a standby asks for it
P = ParamSpec("P")
R = TypeVar("R")


class Component(Protocol):
    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def instance_id() -> str:
    """This process among the instances: hostname:pid plus a short random suffix (a pid may
    come again after a restart, or on another machine)."""
    return f"{socket.gethostname()[:80]}:{os.getpid()}:{uuid.uuid4().hex[:4]}"


class Leadership:
    """Service component: holds the leader lease and runs ``leading`` while it does."""

    name = "leadership"

    def __init__(
        self,
        leases: LeaseStore,
        instance: str,
        lease_seconds: float,
        leading: Sequence[Component],
        clock: Clock,
        *,
        stop_timeout: float = 4.0,
    ) -> None:
        self.leases = leases
        self.instance = instance
        self.lease_seconds = lease_seconds
        self.renew_every = lease_seconds / 3
        self.leading = list(leading)
        self.clock = clock
        self.stop_timeout = stop_timeout
        self.lease: Lease | None = None  # the last lease granted to this instance
        self._valid_until: float | None = None  # clock.monotonic() until which the lease is ours
        self._started: list[Component] = []  # leader-only components running
        self._task: asyncio.Task | None = None
        self._standing_by = False  # "stands by" was logged since the last change

    # ------------------------------------------------------------------ queries
    def holds(self) -> bool:
        """This instance leads now: its lease was granted less than ``lease_seconds`` ago."""
        return self._valid_until is not None and self.clock.monotonic() < self._valid_until

    def while_leading(self, func: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R | None]]:
        """``func`` that does nothing (returns None) unless this instance leads when called."""

        @functools.wraps(func)
        async def guarded(*args: P.args, **kwargs: P.kwargs) -> R | None:
            if not self.holds():
                return None
            return await func(*args, **kwargs)

        return guarded

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="leadership")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        was_leading = self._valid_until is not None
        await self._stand_by("stopping")
        if was_leading:
            try:
                await self.leases.release(LEADER, self.instance)  # a standby takes over at once
            except Exception as exc:
                log.warning("could not release the leader lease (it expires by itself): %s", root_reason(exc))

    # ------------------------------------------------------------------ the loop
    async def _run(self) -> None:
        while True:
            delay = await self.step()
            await self.clock.sleep(delay)

    async def step(self) -> float:
        """One round: ask for (or renew) the lease and start or stop the leader-only
        components accordingly; returns the seconds until the next round."""
        if self._valid_until is not None and not self.holds():
            await self._stand_by("the lease ran out before it could be renewed")
        asked = self.clock.monotonic()
        try:
            lease = await asyncio.wait_for(
                self.leases.acquire(LEADER, self.instance, self.lease_seconds), self.renew_every
            )
        except asyncio.TimeoutError:
            log.warning("the database did not answer the lease request within %.1f s", self.renew_every)
            return self._after_failure()
        except Exception as exc:
            log.warning("cannot reach the database for the leader lease: %s", root_reason(exc))
            return self._after_failure()
        if lease is not None:
            self.lease = lease
            self._valid_until = asked + self.lease_seconds
            if not self._started:
                await self._lead(lease)
            return self.renew_every
        if self._valid_until is not None:
            await self._stand_by("another instance holds the lease")
        return await self._until_free()

    def _after_failure(self) -> float:
        """A failed request: a leader keeps leading until its lease runs out (the next round
        stands it by then); a standby asks again later."""
        if self._valid_until is None:
            return self.renew_every
        left = self._valid_until - self.clock.monotonic()
        return max(0.0, min(self.renew_every, left))

    async def _until_free(self) -> float:
        """Seconds until the other holder's lease expires (on the database's clock), so a dead
        leader is replaced as soon as its lease allows; at most a renewal period."""
        try:
            other = await self.leases.current(LEADER)
        except Exception as exc:
            log.warning("cannot read the leader lease: %s", root_reason(exc))
            return self.renew_every
        if other is None or not other.live:
            return 0.0
        if not self._standing_by:
            self._standing_by = True
            log.info(
                "this instance (%s) stands by: %s leads until %s",
                self.instance, other.holder, other.expires_at.isoformat(timespec="milliseconds"),
            )
        left = (other.expires_at - other.read_at).total_seconds() + TAKEOVER_MARGIN
        return max(0.0, min(self.renew_every, left))

    async def _lead(self, lease: Lease) -> None:
        log.info(
            "this instance (%s) leads until %s; it runs %s",
            self.instance, lease.expires_at.isoformat(timespec="milliseconds"), ", ".join(c.name for c in self.leading),
        )
        for component in self.leading:
            try:
                await component.start()
            except Exception as exc:
                log.error("%s could not start: %s", component.name, root_reason(exc))
                continue
            self._started.append(component)

    async def _stand_by(self, why: str) -> None:
        """Stop every leader-only component at once (polls in progress are cancelled)."""
        self._valid_until = None
        if not self._started:
            return
        if why != "stopping":
            log.warning("this instance (%s) stops leading: %s", self.instance, why)
        for component in reversed(self._started):
            try:
                await asyncio.wait_for(component.stop(), self.stop_timeout)
            except asyncio.TimeoutError:
                log.warning("%s did not stop within %.0f s", component.name, self.stop_timeout)
            except Exception as exc:
                log.error("stopping %s failed: %s", component.name, root_reason(exc))
        self._started.clear()
        self._standing_by = False  # the next round says who leads now


def alive_here(lease: Lease | None) -> bool:
    """The lease is live and its holder a process running on this machine (on SQLite every
    instance is): its deliveries in 'sending' are really being sent."""
    if lease is None or not lease.live:
        return False
    host, _, rest = lease.holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname()[:80] or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True
