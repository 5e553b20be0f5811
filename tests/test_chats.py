"""ChatStore on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select

from bot.store.chats import ChatStore, RuleLimitError

from bot.core.model import AlertRule
from bot.core.clock import FakeClock
from bot.store.schema import alert_rules, chats, subscriptions

T0 = datetime(2026, 6, 14, tzinfo=timezone.utc)


async def _count(engine, table):
    async with engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(table))).scalar_one()


async def test_get_or_create_is_idempotent_and_keeps_defaults(engine):
    store = ChatStore(engine, FakeClock(T0))
    a = await store.get_or_create("telegram", "42", "private", "Ann", "zh")
    again = await store.get_or_create("telegram", "42", "group", "other", "en")
    assert again == a
    assert (a.channel, a.address, a.kind, a.lang, a.mode, a.active, a.digest_enabled, a.digest_time, a.tz) == (
        "telegram", "42", "private", "zh", "instant", True, False, "08:00", "Asia/Shanghai"
    )
    assert a.topics == frozenset() and a.rules == () and a.title == "Ann" and a.created_at == T0
    robot = await store.get_or_create("robot", "ops", "group", None, "zh", mode="digest")
    assert (robot.mode, robot.digest_enabled) == ("digest", True)
    assert await store.get("telegram", "43") is None
    assert (await store.get_by_id(a.id)).address == "42"


async def test_topics_add_remove_set(engine):
    store = ChatStore(engine, FakeClock(T0))
    c = await store.get_or_create("telegram", "1")
    assert await store.add_topics(c.id, ["online_education", "online_finance"]) == {"online_education", "online_finance"}
    assert await store.add_topics(c.id, ["online_education"]) == {"online_education", "online_finance"}
    assert await store.remove_topics(c.id, ["online_finance", "nope"]) == {"online_education"}
    assert await store.set_topics(c.id, ["remote_office"]) == {"remote_office"}
    assert (await store.get_by_id(c.id)).topics == {"remote_office"}
    assert await store.set_topics(c.id, []) == frozenset()
    assert await _count(engine, subscriptions) == 0


async def test_rules_add_update_limit_delete(engine):
    store = ChatStore(engine, FakeClock(T0))
    c = await store.get_or_create("telegram", "1")
    rule, created = await store.add_rule(c.id, "人工智能", ["招聘", "招聘"])
    assert created and rule == AlertRule(rule.id, c.id, "人工智能", ("招聘",))
    rule2, created = await store.add_rule(c.id, "Machine  Learning", [])
    updated, created = await store.add_rule(c.id, "machine learning", ["jobs"])
    assert not created and updated == AlertRule(rule2.id, c.id, "Machine  Learning", ("jobs",))
    assert await store.list_rules(c.id) == (rule, updated)
    for i in range(48):
        await store.add_rule(c.id, f"kw{i}")
    with pytest.raises(RuleLimitError) as err:
        await store.add_rule(c.id, "one too many")
    assert err.value.limit == 50
    assert await _count(engine, alert_rules) == 50
    # replacing excludes of an existing keyword is allowed at the limit
    _, created = await store.add_rule(c.id, "KW0", ["x"])
    assert created is False
    assert (await store.delete_rule(c.id, "人工智能")) == rule
    assert await store.delete_rule(c.id, "人工智能") is None
    assert len(await store.list_rules(c.id)) == 49


async def test_settings_and_mode_turns_digest_on(engine):
    store = ChatStore(engine, FakeClock(T0))
    c = await store.get_or_create("telegram", "1")
    await store.set_lang(c.id, "zh")
    await store.set_mode(c.id, "both")
    await store.set_quiet(c.id, "22:00", "07:30")
    await store.set_tz(c.id, "Europe/London")
    c = await store.get_by_id(c.id)
    assert (c.lang, c.mode, c.digest_enabled, c.quiet_start, c.quiet_end, c.tz) == (
        "zh", "both", True, "22:00", "07:30", "Europe/London"
    )
    await store.set_digest(c.id, enabled=False)
    await store.set_mode(c.id, "digest")  # from both: the explicit off stays
    assert (await store.get_by_id(c.id)).digest_enabled is False
    await store.set_digest(c.id, enabled=True, time="07:15")
    await store.mark_digest(c.id, T0)
    c = await store.get_by_id(c.id)
    assert (c.digest_enabled, c.digest_time, c.last_digest_at) == (True, "07:15", T0)
    with pytest.raises(ValueError):
        await store.set_mode(c.id, "loud")


async def test_delete_chat_deletes_everything_it_owns(engine):
    store = ChatStore(engine, FakeClock(T0))
    a = await store.get_or_create("telegram", "1")
    b = await store.get_or_create("telegram", "2")
    for chat in (a, b):
        await store.add_topics(chat.id, ["online_education"])
        await store.add_rule(chat.id, "5G")
    assert await store.delete_chat(a.id) == 1
    assert await store.get_by_id(a.id) is None
    assert await _count(engine, subscriptions) == 1 and await _count(engine, alert_rules) == 1
    assert (await store.get_by_id(b.id)).topics == {"online_education"}


async def test_deactivate_migrate_and_active_chats(engine):
    store = ChatStore(engine, FakeClock(T0))
    a = await store.get_or_create("telegram", "-100", "group")
    await store.add_topics(a.id, ["online_education"])
    b = await store.get_or_create("telegram", "7")
    await store.add_rule(b.id, "5G", ["手机"])
    squatter = await store.get_or_create("telegram", "-1009")
    moved = await store.migrate("-100", "-1009")
    assert (moved.id, moved.address, moved.topics) == (a.id, "-1009", {"online_education"})
    assert await store.get_by_id(squatter.id) is None
    assert await store.migrate("-555", "-556") is None
    await store.deactivate(b.id)
    assert [c.id for c in await store.active_chats()] == [a.id]
    await store.set_active(b.id, True)
    active = await store.active_chats()
    assert [(c.id, c.topics, [r.keyword for r in c.rules]) for c in active] == [
        (a.id, {"online_education"}, []),
        (b.id, frozenset(), ["5G"]),
    ]
    assert await store.active_chats(channels=["wecom"]) == []


async def test_signature_changes_with_every_change(engine):
    store = ChatStore(engine, FakeClock(T0))  # the clock never moves: updated_at alone would not do
    c = await store.get_or_create("telegram", "1")
    seen = {await store.signature()}
    for change in (
        store.add_topics(c.id, ["a"]),
        store.set_topics(c.id, ["b"]),
        store.add_rule(c.id, "x"),
        store.add_rule(c.id, "x", ["y"]),
        store.set_mode(c.id, "digest"),
    ):
        await change
        sig = await store.signature()
        assert sig not in seen
        seen.add(sig)
    # another process's store (no shared in-process counter) still sees a change
    other = ChatStore(engine, FakeClock(T0))
    before = await other.signature()
    await store.add_topics(c.id, ["c"])
    assert await other.signature() != before
    async with engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(chats))).scalar_one() == 1
