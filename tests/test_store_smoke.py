"""The schema round-trips aware timestamps and JSON on both backends."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import insert, select

from monitors.db import items


async def test_item_round_trip_keeps_timezone_and_json(engine):
    shanghai = timezone(timedelta(hours=8))
    published = datetime(2026, 6, 13, 14, 6, tzinfo=shanghai)
    async with engine.begin() as conn:
        await conn.execute(
            insert(items).values(
                url="https://wsjkw.sh.gov.cn/xwfb/20260613/" + "a" * 32 + ".html",
                source_id="wsjkw-xwfb", title="t", published=published,
                first_seen_at=datetime.now(timezone.utc), topics=["online_healthcare"],
                matched={"online_healthcare": ["互联网医院"]},
            )
        )
        row = (await conn.execute(select(items))).one()
    assert row.published == published
    assert row.published.utcoffset() == timedelta(0)
    assert row.matched == {"online_healthcare": ["互联网医院"]}
    assert row.baseline is False
