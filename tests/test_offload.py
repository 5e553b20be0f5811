"""Big pages are parsed in a worker process (off the event loop), small ones inline; both give
the same result, and the event loop keeps running while a big page is parsed."""

from __future__ import annotations

import asyncio

from config.model import Source
from monitors.offload import PageParser, ended
from monitors.parse import parse_list


def _list_page(n: int) -> bytes:
    rows = "".join(
        f'<li><a href="/xwfb/20260613/{i:032x}.html" title="第{i}号通知">第{i}号通知</a><span class="time">2026-06-13</span></li>'
        for i in range(n)
    )
    return f'<html><body><ul class="uli14 nowrapli list-date">{rows}</ul></body></html>'.encode()


SOURCE = Source("xwfb", "新闻发布", "https://wsjkw.sh.gov.cn/xwfb/index.html")


async def test_a_big_page_is_parsed_in_a_worker_with_the_same_result_and_the_loop_keeps_running():
    page = _list_page(4000)  # about 500 KB
    parser = PageParser(offload_bytes=100_000)
    ticks = 0
    done = asyncio.Event()

    async def heartbeat() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0)

    beat = asyncio.create_task(heartbeat())
    try:
        entries = await parser.list_entries(page, SOURCE.url, SOURCE, "utf-8")
    finally:
        done.set()
        await beat
        await parser.close()
    assert parser.offloaded == 1
    assert entries == parse_list(page, SOURCE.url, SOURCE, "utf-8") and len(entries) == 4000
    assert ticks > 1  # the loop ran other tasks while the worker parsed


async def test_a_small_page_is_parsed_inline():
    parser = PageParser(offload_bytes=100_000)
    entries = await parser.list_entries(_list_page(3), SOURCE.url, SOURCE, "utf-8")
    assert parser.offloaded == 0 and len(entries) == 3
    await parser.close()


async def test_closing_ends_a_parse_in_progress_instead_of_waiting_for_it():
    page = _list_page(200_000)  # about 25 MB: seconds of parsing in the worker
    parser = PageParser(offload_bytes=100_000)
    parsing = asyncio.create_task(parser.list_entries(page, SOURCE.url, SOURCE, "utf-8"))
    while parser._pool is None or not parser._pool._processes:  # the worker has started
        await asyncio.sleep(0.01)
    workers = list(parser._pool._processes.values())
    await parser.close()
    assert workers and all(ended(w) for w in workers)  # ended, not waited for
    assert parsing.done() or (await asyncio.wait({parsing}, timeout=5))[0]
    assert parsing.cancelled() or parsing.exception() is not None  # the page is abandoned, no result
