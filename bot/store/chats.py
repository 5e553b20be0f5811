"""Chats, their subscriptions (topics) and keyword alert rules: the subscriber store.

``ChatStore`` is SQLAlchemy Core over ``bot.store.schema`` and runs the same on SQLite and PostgreSQL.
Every change to what a chat receives bumps a ``Revision`` (in process) and the chat's
``updated_at`` (in the database), so ``signature()`` tells the alert index when to rebuild.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, distinct, func, insert, select, union, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.core.model import MAX_RULES, MODES, AlertRule, Chat, same_keyword
from bot.store.schema import alert_rules, chats, deliveries, subscriptions
from monitors.db import completes_when_cancelled, insert_ignoring_duplicates, utcnow


class Revision:
    """An in-process change counter shared by a ChatStore and whoever caches over it."""

    def __init__(self) -> None:
        self.value = 0

    def bump(self) -> int:
        self.value += 1
        return self.value


class RuleLimitError(Exception):
    """The chat already has ``limit`` alert rules."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"at most {limit} alert rules per chat")
        self.limit = limit


@completes_when_cancelled
class ChatStore:
    def __init__(self, engine: AsyncEngine, clock=None, revision: Revision | None = None) -> None:
        self.engine = engine
        self.clock = clock
        self.revision = revision if revision is not None else Revision()

    def _now(self) -> datetime:
        return self.clock.now() if self.clock is not None else utcnow()

    async def _touch(self, conn: AsyncConnection, chat_id: int) -> None:
        await conn.execute(update(chats).where(chats.c.id == chat_id).values(updated_at=self._now()))
        self.revision.bump()

    # ------------------------------------------------------------ chats

    async def get_or_create(
        self,
        channel: str,
        address: str,
        kind: str = "private",
        title: str | None = None,
        lang: str = "en",
        *,
        mode: str = "instant",
    ) -> Chat:
        """The chat at (channel, address), created with these values when new."""
        chat = await self.get(channel, address)
        if chat is not None:
            return chat
        now = self._now()
        values = {
            "channel": channel,
            "address": str(address),
            "kind": kind if kind in ("private", "group") else "group",
            "title": (title or None) and title[:256],
            "lang": lang if lang in ("zh", "en") else "en",
            "mode": mode if mode in MODES else "instant",
            "active": True,
            "digest_enabled": mode in ("digest", "both"),
            "digest_time": "08:00",
            "tz": "Asia/Shanghai",
            "created_at": now,
            "updated_at": now,
        }
        async with self.engine.begin() as conn:
            await conn.execute(insert_ignoring_duplicates(conn.dialect.name, chats).values(**values))
        self.revision.bump()
        chat = await self.get(channel, address)
        assert chat is not None
        return chat

    async def get(self, channel: str, address: str) -> Chat | None:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(select(chats).where(chats.c.channel == channel, chats.c.address == str(address)))
            ).one_or_none()
            if row is None:
                return None
            return (await self._load(conn, [row]))[0]

    async def get_by_id(self, chat_id: int) -> Chat | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(chats).where(chats.c.id == chat_id))).one_or_none()
            if row is None:
                return None
            return (await self._load(conn, [row]))[0]

    async def active_chats(self, channels: Sequence[str] | None = None) -> list[Chat]:
        """Every active chat with its topics and rules (three queries, whatever the count)."""
        q = select(chats).where(chats.c.active.is_(True)).order_by(chats.c.id)
        if channels is not None:
            q = q.where(chats.c.channel.in_(list(channels)))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(q)).all()
            return await self._load(conn, rows, all_rows=channels is None)

    async def _load(self, conn: AsyncConnection, rows: Sequence[Any], all_rows: bool = False) -> list[Chat]:
        if not rows:
            return []
        ids = [r.id for r in rows]
        topics: dict[int, set[str]] = {i: set() for i in ids}
        rules: dict[int, list[AlertRule]] = {i: [] for i in ids}
        sub_q = select(subscriptions.c.chat_id, subscriptions.c.topic_id)
        rule_q = select(alert_rules).order_by(alert_rules.c.id)
        if not all_rows or len(ids) <= 500:
            # small sets: filter in SQL (chunked, to stay under parameter limits)
            for start in range(0, len(ids), 500):
                part = ids[start : start + 500]
                for cid, tid in (await conn.execute(sub_q.where(subscriptions.c.chat_id.in_(part)))).all():
                    topics[cid].add(tid)
                for r in (await conn.execute(rule_q.where(alert_rules.c.chat_id.in_(part)))).all():
                    rules[r.chat_id].append(_rule(r))
        else:
            for cid, tid in (await conn.execute(sub_q)).all():
                if cid in topics:
                    topics[cid].add(tid)
            for r in (await conn.execute(rule_q)).all():
                if r.chat_id in rules:
                    rules[r.chat_id].append(_rule(r))
        return [_chat(r, frozenset(topics[r.id]), tuple(rules[r.id])) for r in rows]

    async def set_active(self, chat_id: int, active: bool) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(update(chats).where(chats.c.id == chat_id).values(active=active))
            await self._touch(conn, chat_id)

    async def deactivate(self, chat_id: int) -> None:
        """The chat blocked the bot (403): stop sending, keep its settings."""
        await self.set_active(chat_id, False)

    async def delete_chat(self, chat_id: int) -> int:
        """/stop: delete the chat and everything it owns. Returns how many alert rules it had."""
        async with self.engine.begin() as conn:
            n_rules = (
                await conn.execute(select(func.count()).select_from(alert_rules).where(alert_rules.c.chat_id == chat_id))
            ).scalar_one()
            # explicit deletes: correct even where foreign keys are not enforced
            await conn.execute(delete(deliveries).where(deliveries.c.chat_id == chat_id))
            await conn.execute(delete(subscriptions).where(subscriptions.c.chat_id == chat_id))
            await conn.execute(delete(alert_rules).where(alert_rules.c.chat_id == chat_id))
            await conn.execute(delete(chats).where(chats.c.id == chat_id))
        self.revision.bump()
        return int(n_rules)

    async def migrate(self, old_address: str, new_address: str, channel: str = "telegram") -> Chat | None:
        """A Telegram group became a supergroup: move the chat (and all it owns) to its new id.

        A chat row already created at the new address (someone wrote there first) gives way
        to the old one, which carries the settings."""
        async with self.engine.begin() as conn:
            old = (
                await conn.execute(
                    select(chats.c.id).where(chats.c.channel == channel, chats.c.address == str(old_address))
                )
            ).scalar_one_or_none()
            if old is None:
                return None
            newer = (
                await conn.execute(
                    select(chats.c.id).where(chats.c.channel == channel, chats.c.address == str(new_address))
                )
            ).scalar_one_or_none()
            if newer is not None and newer != old:
                for table in (deliveries, subscriptions, alert_rules):
                    await conn.execute(delete(table).where(table.c.chat_id == newer))
                await conn.execute(delete(chats).where(chats.c.id == newer))
            await conn.execute(
                update(chats).where(chats.c.id == old).values(address=str(new_address), kind="group", active=True)
            )
            await self._touch(conn, old)
        return await self.get_by_id(old)

    # ------------------------------------------------------------ settings

    async def _set(self, chat_id: int, **values: Any) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(update(chats).where(chats.c.id == chat_id).values(**values))
            await self._touch(conn, chat_id)

    async def set_lang(self, chat_id: int, lang: str) -> None:
        if lang not in ("zh", "en"):
            raise ValueError(f"unknown language {lang!r}")
        await self._set(chat_id, lang=lang)

    async def set_mode(self, chat_id: int, mode: str) -> None:
        """Store the mode; moving from instant to digest|both turns the daily digest on."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        async with self.engine.begin() as conn:
            current = (await conn.execute(select(chats.c.mode).where(chats.c.id == chat_id))).scalar_one_or_none()
            values: dict[str, Any] = {"mode": mode}
            if mode in ("digest", "both") and current == "instant":
                values["digest_enabled"] = True
            await conn.execute(update(chats).where(chats.c.id == chat_id).values(**values))
            await self._touch(conn, chat_id)

    async def set_digest(self, chat_id: int, enabled: bool | None = None, time: str | None = None) -> None:
        values: dict[str, Any] = {}
        if enabled is not None:
            values["digest_enabled"] = enabled
        if time is not None:
            values["digest_time"] = time
        if values:
            await self._set(chat_id, **values)

    async def set_quiet(self, chat_id: int, start: str | None, end: str | None) -> None:
        await self._set(chat_id, quiet_start=start, quiet_end=end)

    async def set_tz(self, chat_id: int, tz: str) -> None:
        await self._set(chat_id, tz=tz)

    async def mark_digest(self, chat_id: int, at: datetime) -> None:
        """Remember when the chat's last digest was planned (the next one starts there)."""
        async with self.engine.begin() as conn:
            await conn.execute(update(chats).where(chats.c.id == chat_id).values(last_digest_at=at))

    # ------------------------------------------------------------ topics

    async def topics_of(self, chat_id: int) -> frozenset[str]:
        async with self.engine.connect() as conn:
            return await self._topics(conn, chat_id)

    async def _topics(self, conn: AsyncConnection, chat_id: int) -> frozenset[str]:
        rows = await conn.execute(select(subscriptions.c.topic_id).where(subscriptions.c.chat_id == chat_id))
        return frozenset(r[0] for r in rows)

    async def set_topics(self, chat_id: int, topics: Iterable[str]) -> frozenset[str]:
        wanted = frozenset(topics)
        async with self.engine.begin() as conn:
            await conn.execute(delete(subscriptions).where(subscriptions.c.chat_id == chat_id))
            if wanted:
                # two instances starting together set the console chat's topics at once
                stmt = insert_ignoring_duplicates(conn.dialect.name, subscriptions)
                await conn.execute(stmt.values([{"chat_id": chat_id, "topic_id": t} for t in sorted(wanted)]))
            await self._touch(conn, chat_id)
        return wanted

    async def add_topics(self, chat_id: int, topics: Iterable[str]) -> frozenset[str]:
        topics = sorted(set(topics))
        async with self.engine.begin() as conn:
            if topics:
                stmt = insert_ignoring_duplicates(conn.dialect.name, subscriptions)
                await conn.execute(stmt.values([{"chat_id": chat_id, "topic_id": t} for t in topics]))
                await self._touch(conn, chat_id)
            return await self._topics(conn, chat_id)

    async def remove_topics(self, chat_id: int, topics: Iterable[str]) -> frozenset[str]:
        topics = sorted(set(topics))
        async with self.engine.begin() as conn:
            if topics:
                await conn.execute(
                    delete(subscriptions).where(subscriptions.c.chat_id == chat_id, subscriptions.c.topic_id.in_(topics))
                )
                await self._touch(conn, chat_id)
            return await self._topics(conn, chat_id)

    # ------------------------------------------------------------ alert rules

    async def list_rules(self, chat_id: int) -> tuple[AlertRule, ...]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(alert_rules).where(alert_rules.c.chat_id == chat_id).order_by(alert_rules.c.id))
            return tuple(_rule(r) for r in rows)

    async def add_rule(
        self, chat_id: int, keyword: str, excludes: Sequence[str] = (), max_rules: int = MAX_RULES
    ) -> tuple[AlertRule, bool]:
        """Add (or, for a keyword the chat has already, replace the excludes of) a rule.

        Returns (rule, created). Raises RuleLimitError when a new rule would exceed
        ``max_rules``; nothing is stored then. The caller validates lengths."""
        excludes = tuple(dict.fromkeys(e for e in excludes if e))
        async with self.engine.begin() as conn:
            existing = [
                _rule(r)
                for r in await conn.execute(select(alert_rules).where(alert_rules.c.chat_id == chat_id))
            ]
            same = next((r for r in existing if same_keyword(r.keyword, keyword)), None)
            if same is not None:
                await conn.execute(
                    update(alert_rules).where(alert_rules.c.id == same.id).values(excludes=list(excludes))
                )
                await self._touch(conn, chat_id)
                return AlertRule(same.id, chat_id, same.keyword, excludes), False
            if len(existing) >= max_rules:
                raise RuleLimitError(max_rules)
            try:
                result = await conn.execute(
                    insert(alert_rules)
                    .values(chat_id=chat_id, keyword=keyword, excludes=list(excludes), created_at=self._now())
                    .returning(alert_rules.c.id)
                )
            except IntegrityError:  # a concurrent add of the same keyword
                raise RuleLimitError(max_rules) from None
            rule_id = result.scalar_one()
            await self._touch(conn, chat_id)
        return AlertRule(int(rule_id), chat_id, keyword, excludes), True

    async def delete_rule(self, chat_id: int, keyword: str) -> AlertRule | None:
        """Delete the chat's rule for ``keyword`` (case and spacing ignored); None if absent."""
        async with self.engine.begin() as conn:
            rows = [_rule(r) for r in await conn.execute(select(alert_rules).where(alert_rules.c.chat_id == chat_id))]
            rule = next((r for r in rows if same_keyword(r.keyword, keyword)), None)
            if rule is None:
                return None
            await conn.execute(delete(alert_rules).where(alert_rules.c.id == rule.id))
            await self._touch(conn, chat_id)
        return rule

    # ------------------------------------------------------------ counts

    async def counts(self) -> tuple[int, int, int, int]:
        """(chats, active chats, active chats following a field or a keyword, keyword alerts)."""
        async with self.engine.connect() as conn:
            total, active = (
                await conn.execute(
                    select(func.count(), func.count().filter(chats.c.active.is_(True))).select_from(chats)
                )
            ).one()
            followers = union(select(subscriptions.c.chat_id), select(alert_rules.c.chat_id)).subquery()
            subscribers = (
                await conn.execute(
                    select(func.count(distinct(followers.c.chat_id)))
                    .select_from(followers.join(chats, chats.c.id == followers.c.chat_id))
                    .where(chats.c.active.is_(True))
                )
            ).scalar_one()
            n_alerts = (await conn.execute(select(func.count()).select_from(alert_rules))).scalar_one()
        return int(total), int(active), int(subscribers), int(n_alerts)

    # ------------------------------------------------------------ change detection

    async def signature(self) -> tuple:
        """Changes whenever any chat, subscription or rule changes (in this process for sure,
        and across processes through counts and ``updated_at``)."""
        async with self.engine.connect() as conn:
            c = (await conn.execute(select(func.count(), func.max(chats.c.id), func.max(chats.c.updated_at)))).one()
            s = (await conn.execute(select(func.count()).select_from(subscriptions))).scalar_one()
            r = (await conn.execute(select(func.count(), func.max(alert_rules.c.id)).select_from(alert_rules))).one()
        return (self.revision.value, c[0], c[1], c[2], s, r[0], r[1])


def _rule(row) -> AlertRule:
    return AlertRule(int(row.id), int(row.chat_id), row.keyword, tuple(row.excludes or ()))


def _chat(row, topics: frozenset[str], rules: tuple[AlertRule, ...]) -> Chat:
    return Chat(
        id=int(row.id),
        channel=row.channel,
        address=row.address,
        kind=row.kind,
        lang=row.lang,
        mode=row.mode,
        active=bool(row.active),
        digest_enabled=bool(row.digest_enabled),
        digest_time=row.digest_time,
        tz=row.tz,
        quiet_start=row.quiet_start,
        quiet_end=row.quiet_end,
        last_digest_at=row.last_digest_at,
        topics=topics,
        rules=rules,
        title=row.title,
        created_at=row.created_at,
    )
