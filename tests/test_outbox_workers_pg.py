"""PostgreSQL: several delivery worker processes at once never take the same delivery.

Three processes claim (SELECT ... FOR UPDATE SKIP LOCKED) from one outbox of 2,000 deliveries
at the same moment, marking each sent; every delivery is claimed exactly once, and the load
is actually shared. Skipped with a clear message when no PostgreSQL server is reachable.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import _reset_pg

from bot.store.chats import ChatStore
from bot.store.migrate import upgrade_to_head
from bot.store.outbox import Outbox
from monitors.db import create_engine

pytestmark = pytest.mark.postgres

WORKER = r"""
import asyncio, json, os, sys, time
from bot.store.outbox import Outbox
from monitors.db import create_engine

async def main(url, worker, go):
    engine = create_engine(url)
    outbox = Outbox(engine)
    await outbox.counts()  # connected
    open(f"{go}.{worker}.ready", "w").close()
    while not os.path.exists(go):
        time.sleep(0.01)
    claimed, idle = [], 0
    while idle < 3:
        batch = await outbox.claim(worker, 25, ["telegram"])
        if not batch:
            idle += 1
            await asyncio.sleep(0.05)
            continue
        idle = 0
        for d in batch:
            claimed.append(d.id)
            await outbox.mark_sent(d.id)
    await engine.dispose()
    print(json.dumps(claimed))

asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
"""


async def _fill(url: str, chats_n: int, per_chat: int) -> None:

    await upgrade_to_head(url)
    engine = create_engine(url)
    try:
        store = ChatStore(engine)
        ids = [(await store.get_or_create("telegram", str(1000 + n))).id for n in range(chats_n)]
        rows = [{"chat_id": cid, "kind": "notice", "ref": f"r{k}", "payload": {"text": "x"}} for cid in ids for k in range(per_chat)]
        assert await Outbox(engine).enqueue(rows) == chats_n * per_chat
    finally:
        await engine.dispose()


async def _statuses(url: str) -> dict[str, int]:

    engine = create_engine(url)
    try:
        return await Outbox(engine).counts()
    finally:
        await engine.dispose()


def test_three_worker_processes_claim_each_delivery_exactly_once(postgres_url, tmp_path):

    asyncio.run(_reset_pg(postgres_url))
    asyncio.run(_fill(postgres_url, 100, 20))
    go = tmp_path / "go"
    repo = Path(__file__).resolve().parent.parent
    procs = [
        subprocess.Popen([sys.executable, "-c", WORKER, postgres_url, f"w{n}", str(go)], cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for n in range(3)
    ]
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"go.w{n}.ready").exists() for n in range(3)):  # imported and connected
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs), "a worker did not start"
        time.sleep(0.01)
    go.write_text("go")
    claimed: list[list[int]] = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        claimed.append(json.loads(out.strip().splitlines()[-1]))
    every = [i for ids in claimed for i in ids]
    print("claims per worker:", [len(c) for c in claimed])
    assert len(every) == 2000
    assert len(set(every)) == 2000, "a delivery was claimed twice"
    assert sum(1 for c in claimed if c) >= 2, "the work was not shared between processes"
    counts = asyncio.run(_statuses(postgres_url))
    assert counts["sent"] == 2000 and counts["pending"] == 0 and counts["sending"] == 0
