"""A store call whose caller is cancelled (a poll abandoned, a service stopping) still ends
its transaction: on SQLite a transaction cut off between two statements used to leave its
connection holding the write lock, and every other writer then waited for the 30 s busy
timeout and failed with "database is locked" (a stopping service hung for 30 s).

Each round cancels the caller of a two-statement write at a later turn of the event loop,
waits until the store has no connection out, then asks SQLite directly, without waiting,
for the write lock."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import timedelta

import pytest

from bot.store.chats import ChatStore
from bot.store.migrate import upgrade_to_head
from bot.store.outbox import Outbox
from monitors.db import create_engine

ROUNDS = 120


def write_lock_is_free(path) -> bool:
    probe = sqlite3.connect(path, timeout=0)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        probe.close()


async def test_a_cancelled_store_write_never_keeps_the_write_lock(tmp_path):
    path = tmp_path / "cancel.db"
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        await upgrade_to_head(engine)
        chats, outbox = ChatStore(engine), Outbox(engine)
        chat = await chats.get_or_create("console", "stdout")
        await outbox.enqueue([{"chat_id": chat.id, "kind": "notice", "ref": f"n{n}", "payload": {"text": "x"}} for n in range(50)])
        held = []
        for turn in range(ROUNDS):
            # a claim is UPDATE ... RETURNING: the write lock is taken before the rows are read
            task = asyncio.create_task(outbox.claim("worker", 50, ["console"]))
            for _ in range(turn % 40):
                await asyncio.sleep(0)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            for _ in range(10_000):  # the store's own work ends: no connection out of the pool
                if engine.sync_engine.pool.checkedout() == 0:
                    break
                await asyncio.sleep(0.001)
            if not write_lock_is_free(path):
                held.append(turn)
                break
            await outbox.requeue_stale(timedelta(0))  # what was claimed goes back, for the next round
        assert held == [], f"a cancelled write left the write lock held (cancelled at turn {held})"
        assert await chats.get_by_id(chat.id) is not None  # and the store still answers
    finally:
        await engine.dispose()
