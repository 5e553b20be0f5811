"""ItemStore on a real SQLite file and a real PostgreSQL database (the `engine` fixture)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy.exc import IntegrityError

from config.model import Source
from monitors.model import Item, SourceStatus
from monitors.store import ItemStore, SourceState

SHANGHAI = timezone(timedelta(hours=8))
T0 = datetime(2026, 6, 13, 2, 0, tzinfo=timezone.utc)


def item(n: int, source_id: str = "wsjkw-xwfb", **kw) -> Item:
    defaults = dict(
        source_id=source_id,
        url=f"https://wsjkw.sh.gov.cn/xwfb/20260613/{n:032x}.html",
        title=f"标题{n}",
        published=datetime(2026, 6, 13, 14, 6, tzinfo=SHANGHAI) - timedelta(days=n),
        summary=f"摘要{n}",
        topics=("online_healthcare",),
        matched={"online_healthcare": ["互联网医院"]},
        first_seen_at=T0 + timedelta(minutes=n),
    )
    defaults.update(kw)
    return Item(**defaults)


async def test_unknown_source_has_a_fresh_state(engine):
    state = await ItemStore(engine).source_state("nobody")
    assert state == SourceState("nobody")
    assert state.baseline_done is False and state.consecutive_failures == 0


async def test_source_state_round_trips_and_updates_in_place(engine):
    store = ItemStore(engine)
    first = SourceState("a", etag='"abc"', last_modified="Sat, 13 Jun 2026 06:00:00 GMT", baseline_done=True,
                        last_attempt_at=T0, last_success_at=T0, last_item_count=20)
    await store.save_source_state(first)
    failed = SourceState(**{**first.__dict__, "last_attempt_at": T0 + timedelta(minutes=10),
                            "last_error": "HTTP 503", "error_kind": "http", "consecutive_failures": 1})
    await store.save_source_state(failed)
    await store.save_source_state(SourceState("b", last_error="connection refused", consecutive_failures=3))
    got = await store.source_state("a")
    assert got == failed
    assert got.last_attempt_at.utcoffset() == timedelta(0)
    assert set(await store.source_states()) == {"a", "b"}


async def test_insert_returns_only_new_items_with_ids_and_known_urls_sees_them(engine):
    store = ItemStore(engine)
    batch = [item(1), item(2)]
    inserted = await store.insert_items(batch)
    assert [i.url for i in inserted] == [batch[0].url, batch[1].url]
    assert all(isinstance(i.id, int) for i in inserted) and inserted[0].id != inserted[1].id
    # the same URL again (from another source, say) is not new; a third one is
    again = await store.insert_items([item(2, source_id="other"), item(3)])
    assert [i.url for i in again] == [item(3).url]
    assert await store.known_urls([item(1).url, item(3).url, "https://x.invalid/a.html"]) == {item(1).url, item(3).url}
    assert await store.known_urls([]) == set()


async def test_concurrent_inserts_of_the_same_urls_store_each_once(engine):
    store = ItemStore(engine)
    results = await asyncio.gather(*(store.insert_items([item(n) for n in range(5)]) for _ in range(4)))
    assert sum(len(r) for r in results) == 5
    assert len(await store.recent_items(limit=100)) == 5


async def test_recent_items_order_filters_and_round_trip(engine):
    store = ItemStore(engine)
    await store.insert_items([item(1), item(2), item(3, source_id="shgov-yw", baseline=True, organ="市政府")])
    newest = await store.recent_items(limit=2)
    assert [i.url for i in newest] == [item(3).url, item(2).url]
    got = newest[0]
    assert got.baseline is True and got.organ == "市政府" and got.source_id == "shgov-yw"
    assert got.published == item(3).published and got.topics == ("online_healthcare",)
    assert got.matched == {"online_healthcare": ["互联网医院"]}
    assert [i.url for i in await store.recent_items(since=T0 + timedelta(minutes=2))] == [item(3).url, item(2).url]
    assert [i.url for i in await store.recent_items(source_id="wsjkw-xwfb")] == [item(2).url, item(1).url]
    assert [i.url for i in await store.recent_items(include_baseline=False)] == [item(2).url, item(1).url]
    assert [i.url for i in (await store.items_by_id([got.id])).values()] == [item(3).url]


async def test_counts_and_health_rows(engine):
    store = ItemStore(engine)
    await store.insert_items([item(1), item(2), item(3, source_id="shgov-yw")])
    await store.save_source_state(SourceState("wsjkw-xwfb", last_attempt_at=T0, last_success_at=T0))
    await store.save_source_state(SourceState("shgov-yw", last_attempt_at=T0, last_error="no items on the list page",
                                              error_kind="layout", consecutive_failures=2))
    counts = await store.item_counts()
    assert counts["wsjkw-xwfb"][0] == 2 and counts["wsjkw-xwfb"][1] == item(1).published
    sources = [Source("wsjkw-xwfb", "卫健委", "https://wsjkw.sh.gov.cn/xwfb/index.html"),
               Source("shgov-yw", "要闻", "https://www.shanghai.gov.cn/nw4411/index.html"),
               Source("new", "新", "https://example.invalid/index.html")]
    health = {h.source.id: h for h in await store.source_health(sources)}
    assert health["wsjkw-xwfb"].status == "ok" and health["wsjkw-xwfb"].item_count == 2
    assert health["shgov-yw"].status == "layout" and health["shgov-yw"].item_count == 1
    assert health["new"].status is SourceStatus.NEVER and health["new"].item_count == 0


async def test_a_bad_row_fails_only_its_own_caller_in_a_shared_batch(engine):

    store = ItemStore(engine)
    good, bad = item(1), item(2, title=None)  # title is NOT NULL
    results = await asyncio.gather(store.insert_items([good]), store.insert_items([bad]), return_exceptions=True)
    assert [i.url for i in results[0]] == [good.url]
    assert isinstance(results[1], IntegrityError)
    assert await store.known_urls([good.url, bad.url]) == {good.url}
    with pytest.raises(IntegrityError):
        await store.insert_items([item(3, title=None)])
    states = await asyncio.gather(*(store.source_state(f"s{n}") for n in range(5)))
    assert [s.source_id for s in states] == [f"s{n}" for n in range(5)]
