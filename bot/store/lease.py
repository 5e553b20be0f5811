"""Leases: which instance leads, decided by the database and timed by the database's clock.

``acquire(name, holder, seconds)`` takes the lease when it is free or expired, or renews it
when ``holder`` has it, in one atomic ``INSERT ... ON CONFLICT DO UPDATE ... WHERE`` whose
expiry is the database's own ``now()`` (SQLite: its ``strftime('now')``) plus ``seconds``:
the instances' clocks never decide who leads, so a machine whose clock is off cannot take
the lease early. ``release`` ends a lease at once (a clean stop hands over without waiting);
``current`` says who holds it and until when (the one reader for /health, ``shwatch
sources`` and the chat /health command).

On SQLite ``expires_at`` is written by ``strftime('%Y-%m-%d %H:%M:%f')`` only, so the stored
texts compare in time order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, literal, or_, select, type_coerce, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from bot.core.model import Leader
from bot.store.schema import leases
from monitors.db import UTCDateTime, completes_when_cancelled, upsert

LEADER = "leader"  # the lease of the instance that polls, plans digests and reads Telegram updates
_SQLITE_TIME = "%Y-%m-%d %H:%M:%f"


@dataclass(frozen=True)
class Lease:
    """Who holds a lease until when, and the database's time when it was read."""

    name: str
    holder: str
    expires_at: datetime
    read_at: datetime

    @property
    def live(self) -> bool:
        return self.expires_at > self.read_at


def _db_time(dialect: str, seconds: float = 0.0) -> ColumnElement:
    """The database's time now, plus ``seconds``, as a SQL expression."""
    if dialect == "postgresql":
        now = func.now()
        return now + func.make_interval(0, 0, 0, 0, 0, 0, literal(float(seconds))) if seconds else now
    if seconds:
        return func.strftime(_SQLITE_TIME, "now", f"{float(seconds):+.3f} seconds")
    return func.strftime(_SQLITE_TIME, "now")


@completes_when_cancelled
class LeaseStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name

    async def acquire(self, name: str, holder: str, seconds: float) -> Lease | None:
        """Take or renew ``name`` for ``seconds`` on the database's clock; None when another
        holder has it and it has not expired."""
        now, until = _db_time(self.dialect), _db_time(self.dialect, seconds)
        stmt = upsert(self.dialect, leases).values(name=name, holder=holder, expires_at=until)
        stmt = stmt.on_conflict_do_update(
            index_elements=[leases.c.name],
            set_={"holder": stmt.excluded.holder, "expires_at": stmt.excluded.expires_at},
            where=or_(leases.c.holder == holder, leases.c.expires_at <= now),
        ).returning(leases.c.holder, leases.c.expires_at, type_coerce(now, UTCDateTime).label("read_at"))
        # one statement in autocommit: no open transaction holds the lease's row lock, so an
        # instance paused mid-request cannot keep the others from taking the lease
        async with self.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            row = (await conn.execute(stmt)).first()
        if row is None or row.holder != holder:
            return None
        return Lease(name, row.holder, row.expires_at, row.read_at)

    async def release(self, name: str, holder: str) -> bool:
        """End ``holder``'s lease now (another instance may take it at once); False when it
        was not ``holder``'s any more."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(leases)
                .where(leases.c.name == name, leases.c.holder == holder)
                .values(expires_at=_db_time(self.dialect))
            )
        return bool(result.rowcount)

    async def current(self, name: str = LEADER) -> Lease | None:
        """The lease as it stands (expired or not), None when nobody ever held it."""
        now = type_coerce(_db_time(self.dialect), UTCDateTime).label("read_at")
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(select(leases.c.holder, leases.c.expires_at, now).where(leases.c.name == name))
            ).first()
        return None if row is None else Lease(name, row.holder, row.expires_at, row.read_at)

    async def leader(self) -> Leader | None:
        """Who leads, for /health, /healthz and ``shwatch sources``."""
        lease = await self.current(LEADER)
        return None if lease is None else Leader(lease.holder, lease.expires_at, lease.live)
