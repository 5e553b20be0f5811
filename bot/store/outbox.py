"""The persistent outbox: every message to a chat is a ``deliveries`` row first.

Rows move ``pending -> sending -> sent | failed | dropped``. A row is unique per
(chat, kind, ref), so planning the same alert or digest twice enqueues it once. Workers
``claim`` rows (PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so several processes never take the
same row; SQLite: one ``UPDATE ... RETURNING``, atomic under SQLite's single writer), send
them, then ``mark_sent`` / ``retry`` / ``fail``. A worker killed mid-send leaves its rows in
``sending``: ``requeue_stale`` puts them back, so the only message that can go out twice is
the one that was in flight.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.core.model import Delivery
from bot.core.quiet import HELD_KEY, hold_until
from bot.logs import redact, secret_pattern
from bot.store.schema import chats, deliveries
from monitors.db import completes_when_cancelled, insert_ignoring_duplicates, utcnow

MAX_ATTEMPTS = 8
SENT_MESSAGES = "messages"  # payload key: how many messages a sent row took (``recent_sends``)
ERROR_MAX = 500
_CHUNK = 500


def _clip(error: str) -> str:
    error = str(error)
    return error if len(error) <= ERROR_MAX else error[: ERROR_MAX - 1] + "…"


@completes_when_cancelled
class Outbox:
    def __init__(
        self, engine: AsyncEngine, clock=None, max_attempts: int = MAX_ATTEMPTS, secrets: Iterable[str] = ()
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.max_attempts = max_attempts
        # every stored error is redacted here, whichever sender path produced it
        self._secrets = secret_pattern(secrets)

    def _clip(self, error: str) -> str:
        return _clip(redact(str(error), self._secrets))

    def _now(self) -> datetime:
        return self.clock.now() if self.clock is not None else utcnow()

    # ------------------------------------------------------------ enqueue

    async def enqueue(self, rows: Iterable[Mapping[str, Any]], conn: AsyncConnection | None = None) -> int:
        """Insert deliveries; a row whose (chat_id, kind, ref) exists already is skipped.

        Each row needs chat_id, kind, ref; item_id, payload and not_before are optional.
        Returns how many rows were new. Pass ``conn`` to enqueue inside a caller's transaction.
        """
        now = self._now()
        values = [
            {
                "chat_id": int(r["chat_id"]),
                "kind": str(r["kind"]),
                "ref": str(r["ref"]),
                "item_id": r.get("item_id"),
                "payload": dict(r.get("payload") or {}),
                "status": "pending",
                "not_before": r.get("not_before"),
                "attempts": 0,
                "created_at": now,
            }
            for r in rows
        ]
        if not values:
            return 0
        if conn is not None:
            await self._hold_quiet(conn, values, now)
            return await self._insert(conn, values)
        async with self.engine.begin() as own:
            await self._hold_quiet(own, values, now)
            return await self._insert(own, values)

    async def _hold_quiet(self, conn: AsyncConnection, values: list[dict], now: datetime) -> None:
        """Instant alerts for a chat inside its quiet hours wait until the window ends
        (``not_before``); they are then released together (bot.core.quiet)."""
        alert_chats = sorted({v["chat_id"] for v in values if v["kind"] == "alert" and v["not_before"] is None})
        if not alert_chats:
            return
        quiet: dict[int, datetime] = {}
        for start in range(0, len(alert_chats), _CHUNK):
            rows = await conn.execute(
                select(chats.c.id, chats.c.quiet_start, chats.c.quiet_end, chats.c.tz).where(
                    chats.c.id.in_(alert_chats[start : start + _CHUNK]), chats.c.quiet_start.is_not(None)
                )
            )
            for cid, q_start, q_end, tz in rows.all():
                until = hold_until(now, q_start, q_end, tz)
                if until is not None:
                    quiet[cid] = until
        for v in values:
            if v["kind"] == "alert" and v["not_before"] is None and v["chat_id"] in quiet:
                v["not_before"] = quiet[v["chat_id"]]

    async def _insert(self, conn: AsyncConnection, values: list[dict]) -> int:
        new = 0
        stmt = insert_ignoring_duplicates(conn.dialect.name, deliveries)
        for start in range(0, len(values), _CHUNK):
            result = await conn.execute(stmt.values(values[start : start + _CHUNK]).returning(deliveries.c.id))
            new += len(result.all())
        return new

    # ------------------------------------------------------------ claim

    async def claim(self, worker_id: str, limit: int, channels: Sequence[str]) -> list[Delivery]:
        """Take up to ``limit`` due pending rows of active chats on ``channels`` (oldest first)."""
        if limit <= 0 or not channels:
            return []
        now = self._now()
        async with self.engine.begin() as conn:
            pick = (
                select(deliveries.c.id)
                .join(chats, chats.c.id == deliveries.c.chat_id)
                .where(
                    deliveries.c.status == "pending",
                    or_(deliveries.c.not_before.is_(None), deliveries.c.not_before <= now),
                    chats.c.active.is_(True),
                    chats.c.channel.in_(list(channels)),
                )
                .order_by(deliveries.c.id)
                .limit(limit)
            )
            if conn.dialect.name == "postgresql":
                # Lock the rows first: PostgreSQL may re-run a LIMIT subquery inside an
                # UPDATE's IN (...) and take more rows than asked for.
                locked = (await conn.execute(pick.with_for_update(skip_locked=True, of=deliveries))).scalars().all()
                if not locked:
                    return []
                target = deliveries.c.id.in_(list(locked))
            else:
                target = deliveries.c.id.in_(pick.scalar_subquery())
            result = await conn.execute(
                update(deliveries)
                .where(target, deliveries.c.status == "pending")
                .values(status="sending", claimed_by=str(worker_id)[:64], claimed_at=now)
                .returning(deliveries.c.id)
            )
            ids = [r[0] for r in result.all()]
            if not ids:
                return []
            rows = (
                await conn.execute(
                    select(deliveries, chats.c.channel, chats.c.address, chats.c.kind.label("chat_kind"), chats.c.lang)
                    .join(chats, chats.c.id == deliveries.c.chat_id)
                    .where(deliveries.c.id.in_(ids))
                    .order_by(deliveries.c.id)
                )
            ).all()
        return [_delivery(r) for r in rows]

    async def claim_one(self, worker_id: str, delivery_id: int) -> Delivery | None:
        """Take one given row if it is still pending (any ``not_before``): a delivery sent at
        once by hand (``shwatch digest --send``). None when another worker has it, or it is done."""
        async with self.engine.begin() as conn:
            taken = (
                await conn.execute(
                    update(deliveries)
                    .where(deliveries.c.id == delivery_id, deliveries.c.status == "pending")
                    .values(status="sending", claimed_by=str(worker_id)[:64], claimed_at=self._now())
                    .returning(deliveries.c.id)
                )
            ).all()
        return await self.get(delivery_id) if taken else None

    # ------------------------------------------------------------ outcomes

    async def mark_sent(self, delivery_id: int, messages: int | None = None) -> None:
        """The row is sent; ``messages``: how many messages it took, kept in its payload for
        ``recent_sends`` (None: not counted there, a row then counts as one)."""
        async with self.engine.begin() as conn:
            values: dict[str, Any] = {"status": "sent", "sent_at": self._now(), "claimed_by": None}
            if messages is not None:
                values["payload"] = await self._payload_with(conn, delivery_id, SENT_MESSAGES, messages)
            await conn.execute(update(deliveries).where(deliveries.c.id == delivery_id).values(**values))

    @staticmethod
    async def _payload_with(conn: AsyncConnection, delivery_id: int, key: str, value: Any) -> dict:
        payload = (await conn.execute(select(deliveries.c.payload).where(deliveries.c.id == delivery_id))).scalar()
        return {**(payload or {}), key: value}

    async def retry(self, delivery_id: int, error: str, not_before: datetime | None) -> bool:
        """Count a failed attempt; back to pending until ``not_before``, or ``failed`` once
        ``max_attempts`` are used. Returns True when it will be tried again."""
        async with self.engine.begin() as conn:
            attempts = (
                await conn.execute(select(deliveries.c.attempts).where(deliveries.c.id == delivery_id))
            ).scalar_one_or_none()
            if attempts is None:
                return False
            attempts += 1
            if attempts >= self.max_attempts:
                values = {"status": "failed", "last_error": self._clip(f"gave up after {attempts} attempts: {error}")}
            else:
                values = {"status": "pending", "not_before": not_before, "last_error": self._clip(error)}
            await conn.execute(
                update(deliveries)
                .where(deliveries.c.id == delivery_id)
                .values(attempts=attempts, claimed_by=None, **values)
            )
        return values["status"] == "pending"

    async def fail(self, delivery_id: int, error: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(deliveries)
                .where(deliveries.c.id == delivery_id)
                .values(status="failed", last_error=self._clip(error), claimed_by=None)
            )

    async def hold(self, delivery_id: int, until: datetime, held: str | None = None) -> None:
        """Put a claimed row back, due at ``until`` (a flood wait, a member's limit); no
        attempt counted. ``held`` (why: "rate", ...) goes into its payload, so the bundle it
        later leaves in gets the right heading (``bot.core.quiet.held_reason``)."""
        async with self.engine.begin() as conn:
            values: dict[str, Any] = {"status": "pending", "not_before": until, "claimed_by": None}
            if held is not None:
                values["payload"] = await self._payload_with(conn, delivery_id, HELD_KEY, held)
            await conn.execute(update(deliveries).where(deliveries.c.id == delivery_id).values(**values))

    async def release(self, delivery_ids: Sequence[int]) -> int:
        """Put claimed rows back to pending at once (a worker stopping before it sent them)."""
        if not delivery_ids:
            return 0
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(deliveries)
                .where(deliveries.c.id.in_(list(delivery_ids)), deliveries.c.status == "sending")
                .values(status="pending", claimed_by=None)
            )
        return result.rowcount

    async def drop_chat(self, chat_id: int, reason: str) -> int:
        """Drop every pending (or in-flight) row of a chat, e.g. after a 403. Returns the count."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(deliveries)
                .where(deliveries.c.chat_id == chat_id, deliveries.c.status.in_(("pending", "sending")))
                .values(status="dropped", last_error=self._clip(reason), claimed_by=None)
            )
        return result.rowcount

    async def requeue_stale(self, older_than: timedelta) -> int:
        """Rows left in ``sending`` longer than ``older_than`` (a killed worker) go back to pending."""
        cutoff = self._now() - older_than
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(deliveries)
                .where(
                    deliveries.c.status == "sending",
                    or_(deliveries.c.claimed_at.is_(None), deliveries.c.claimed_at < cutoff),
                )
                .values(status="pending", claimed_by=None)
            )
        return result.rowcount

    async def requeue_claimed(self, prefix: str, keep: str) -> int:
        """Rows in ``sending`` claimed by a worker whose id starts with ``prefix``, other than
        ``keep``, go back to pending (a new leader takes over the Telegram deliveries of the
        previous one)."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(deliveries)
                .where(
                    deliveries.c.status == "sending",
                    deliveries.c.claimed_by.startswith(prefix, autoescape=True),
                    deliveries.c.claimed_by != keep[:64],
                )
                .values(status="pending", claimed_by=None)
            )
        return result.rowcount

    # ------------------------------------------------------------ queries

    async def recent_sends(self, chat_id: int, since: datetime, other_than: str | None = None) -> list[tuple[datetime, int]]:
        """(when, messages) of what went to one chat since ``since``, by any instance: its sent
        rows (``messages`` as ``mark_sent`` stored it, else 1), and the rows other workers
        (not ``other_than``) claimed meanwhile and may be sending now (1 each, at their claim).
        The per-member limits of the WeCom app are counted on this."""
        m = deliveries.c
        sending = and_(m.status == "sending", m.claimed_at >= since)
        if other_than is not None:
            sending = and_(sending, or_(m.claimed_by.is_(None), m.claimed_by != str(other_than)[:64]))
        query = select(m.status, m.sent_at, m.claimed_at, m.payload).where(
            m.chat_id == chat_id, or_(and_(m.status == "sent", m.sent_at >= since), sending)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        out = []
        for status, sent_at, claimed_at, payload in rows:
            if status == "sent":
                out.append((sent_at, int((payload or {}).get(SENT_MESSAGES, 1))))
            else:
                out.append((claimed_at, 1))
        return sorted(out)

    async def get(self, delivery_id: int) -> Delivery | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(deliveries, chats.c.channel, chats.c.address, chats.c.kind.label("chat_kind"), chats.c.lang)
                    .join(chats, chats.c.id == deliveries.c.chat_id)
                    .where(deliveries.c.id == delivery_id)
                )
            ).one_or_none()
        return _delivery(row) if row is not None else None

    async def find(self, chat_id: int, kind: str, ref: str) -> Delivery | None:
        """The row of (chat, kind, ref), whatever its status."""
        async with self.engine.connect() as conn:
            delivery_id = (
                await conn.execute(
                    select(deliveries.c.id).where(
                        deliveries.c.chat_id == chat_id, deliveries.c.kind == kind, deliveries.c.ref == ref
                    )
                )
            ).scalar_one_or_none()
        return await self.get(delivery_id) if delivery_id is not None else None

    async def counts(self) -> dict[str, int]:
        """Rows per status (every status present, zero when none)."""
        out = {"pending": 0, "sending": 0, "sent": 0, "failed": 0, "dropped": 0}
        async with self.engine.connect() as conn:
            for status, n in (
                await conn.execute(select(deliveries.c.status, func.count()).group_by(deliveries.c.status))
            ).all():
                out[status] = int(n)
        return out

    async def oldest_pending(self) -> datetime | None:
        async with self.engine.connect() as conn:
            oldest = (
                await conn.execute(
                    select(func.min(deliveries.c.created_at)).where(
                        deliveries.c.status.in_(("pending", "sending"))
                    )
                )
            ).scalar()
        if isinstance(oldest, str):  # min() over a UTC column skips the type on SQLite
            oldest = datetime.fromisoformat(oldest).replace(tzinfo=timezone.utc)
        return oldest

    async def pending_for_chat(self, chat_id: int, kind: str | None = None) -> list[Delivery]:
        """Pending rows of one chat (any not_before), oldest first: quiet-hours batching."""
        cond = [deliveries.c.chat_id == chat_id, deliveries.c.status == "pending"]
        if kind is not None:
            cond.append(deliveries.c.kind == kind)
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(deliveries, chats.c.channel, chats.c.address, chats.c.kind.label("chat_kind"), chats.c.lang)
                    .join(chats, chats.c.id == deliveries.c.chat_id)
                    .where(and_(*cond))
                    .order_by(deliveries.c.id)
                )
            ).all()
        return [_delivery(r) for r in rows]


def _delivery(row) -> Delivery:
    m = row._mapping
    return Delivery(
        id=int(m["id"]),
        chat_id=int(m["chat_id"]),
        kind=m["kind"],
        ref=m["ref"],
        item_id=m["item_id"],
        payload=dict(m["payload"] or {}),
        status=m["status"],
        attempts=int(m["attempts"]),
        not_before=m["not_before"],
        last_error=m["last_error"],
        created_at=m["created_at"],
        channel=m["channel"],
        address=m["address"],
        chat_kind=m["chat_kind"],
        lang=m["lang"],
    )
