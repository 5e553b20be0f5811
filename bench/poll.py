"""Benchmark: one poll cycle over 200 sources, shwatch's Poller vs a sequential loop.

    .venv/bin/python bench/poll.py [--sources 200] [--items 20] [--latency 0.1] [--database-url URL]

A loopback press server runs in a child process (so its CPU is not counted as ours) and
answers every request after ``--latency`` seconds: 200 shared-CMS list pages of 20 items
each, their articles, ETag/Last-Modified and 304s.

Figures, all measured in this run:
1. cycle 1, the FIRST poll of every source: wall time of shwatch's ``Poller.poll_all`` (list
   fetch, parse, dedupe against the store, baseline insert of 20 items per source; a first
   poll fetches no articles by design) versus a sequential ``httpx.Client`` GET + ``parse_list``
   loop over the same list pages (no store at all), and their ratio (target >= 15x);
2. cycle 2, nothing changed: every list answers 304; CPU time per source
   (``time.process_time``, all our threads) of the Poller (target < 1 ms);
3. cycle 3, for information: one new article per source (list + article fetch, extract,
   summarize, tag, insert), wall time.
The sources are spread over ``--hosts`` loopback addresses (127.0.0.1, 127.0.0.2, ...: all
of 127/8 is loopback on Linux), 4 per host by default, so the default per-host limit (4)
applies as it would to real sites; the global pool is raised to the number of sources.

On a shared 2-core machine the figures move by 10-20 % from run to run (other processes,
and whether a full garbage collection lands inside the measured cycle): run it 2-3 times
and take the median; the ratio is always of two figures from the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from email.utils import formatdate
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


# ---- the press server (child process) ------------------------------------------------------
def serve(n_sources: int, n_items: int, latency: float, n_hosts: int) -> None:
    from aiohttp import web

    articles: dict[int, list[tuple[str, str]]] = {s: [] for s in range(n_sources)}
    pages: dict[int, tuple[bytes, str]] = {}
    stamp = time.time()

    def slug(s: int, i: int) -> str:
        return hashlib.md5(f"{s}-{i}".encode()).hexdigest()

    def add(s: int, i: int) -> None:
        articles[s].insert(0, (f"/s{s}/20260613/{slug(s, i)}.html", f"第{s}号来源的第{i}条新闻：本市推进互联网医院和无人工厂建设"))

    def render(s: int) -> None:
        rows = "".join(
            f'<li><a href="{path}" title="{title}" target="_blank">{title}</a><span class="time">2026-06-13</span></li>'
            for path, title in articles[s]
        )
        body = (
            '<!DOCTYPE html><html><head><meta charset="utf-8"><title>列表</title></head><body>'
            f'<div class="main"><ul class="uli16 nowrapli list-date ">{rows}</ul></div></body></html>'
        ).encode()
        pages[s] = (body, '"' + hashlib.sha1(body).hexdigest()[:16] + '"')

    for s in range(n_sources):
        for i in range(n_items):
            add(s, i)
        render(s)

    article_html = (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><meta name="ArticleTitle" content="{t}">'
        '<meta name="PubDate" content="2026-06-13 14:06"><meta name="ContentSource" content="市卫健委"></head><body>'
        '<div id="ivs_content"><p>今天，市卫健委宣布全市已建成互联网医院120家。</p>'
        "<p>下一步将推广无接触配送药品服务，预计年底前覆盖全部16个区。</p></div></body></html>"
    )

    async def handle(request: web.Request) -> web.Response:
        await asyncio.sleep(latency)
        parts = request.path.strip("/").split("/")
        if request.path == "/publish-all":
            for s in range(n_sources):
                add(s, n_items + len(articles[s]))
                render(s)
            return web.Response(text="ok")
        if not parts[0].startswith("s") or not parts[0][1:].isdigit():
            return web.Response(status=404)
        s = int(parts[0][1:])
        if parts[-1] == "index.html":
            body, etag = pages[s]
            if request.headers.get("If-None-Match") == etag:
                return web.Response(status=304, headers={"ETag": etag})
            return web.Response(body=body, headers={"ETag": etag, "Last-Modified": formatdate(stamp, usegmt=True),
                                                    "Content-Type": "text/html"})
        title = next((t for p, t in articles[s] if p == request.path), None)
        if title is None:
            return web.Response(status=404)
        return web.Response(text=article_html.format(t=title), content_type="text/html")

    async def main() -> None:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        addresses = []
        for k in range(n_hosts):  # all of 127.0.0.0/8 is loopback: one "site" per address
            sock = socket.socket()
            sock.bind((f"127.0.0.{k + 1}", 0))
            await web.SockSite(runner, sock, backlog=1024).start()
            addresses.append("%s:%d" % sock.getsockname())
        print(" ".join(addresses), flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


# ---- the measurements ----------------------------------------------------------------------
def sequential_cycle(sources) -> tuple[float, int]:
    import httpx

    from monitors.parse import parse_list

    seen = 0
    started = time.perf_counter()
    with httpx.Client(timeout=30) as client:
        for source in sources:
            response = client.get(source.url)
            seen += len(parse_list(response.content, str(response.url), source, response.charset_encoding))
    return time.perf_counter() - started, seen


async def shwatch_cycles(sources, database_url: str, publish_url: str, baseline_articles: int) -> dict[str, float]:
    import httpx

    from config.model import FetchSettings, Settings
    from config.settings import load_default_topics
    from bot.store.migrate import upgrade_to_head
    from monitors.db import create_engine
    from monitors.fetch import Fetcher
    from monitors.poll import Poller
    from monitors.store import ItemStore
    from monitors.tagger import Tagger

    n = len(sources)
    # per_host stays at its default; baseline_articles as asked (0: the first cycle reads lists only)
    fetch = FetchSettings(concurrency=n, timeout=60, connect_timeout=30, baseline_articles=baseline_articles)
    settings = Settings(database_url=database_url, sources=tuple(sources), topics=load_default_topics(), fetch=fetch)
    engine = create_engine(database_url, pool_size=20, max_overflow=40)
    figures: dict[str, float] = {}
    try:
        await upgrade_to_head(engine)  # the schema, as every path builds it
        store = ItemStore(engine)
        async with Fetcher(fetch) as fetcher:
            poller = Poller(settings, store, fetcher, Tagger(settings.topics, rules=settings.relevance))

            started = time.perf_counter()
            reports = await poller.poll_all(sources)
            figures["cycle1_wall"] = time.perf_counter() - started
            figures["cycle1_items"] = sum(len(r.new_items) for r in reports)
            figures["cycle1_errors"] = sum(1 for r in reports if not r.ok)

            cpu = time.process_time()
            started = time.perf_counter()
            reports = await poller.poll_all(sources)
            figures["cycle2_wall"] = time.perf_counter() - started
            figures["cycle2_cpu_per_source"] = (time.process_time() - cpu) / n
            figures["cycle2_not_modified"] = sum(1 for r in reports if r.not_modified)

            async with httpx.AsyncClient() as client:
                (await client.get(publish_url, timeout=30)).raise_for_status()
            started = time.perf_counter()
            reports = await poller.poll_all(sources)
            figures["cycle3_wall"] = time.perf_counter() - started
            figures["cycle3_items"] = sum(len(r.new_items) for r in reports)
            figures["cycle3_errors"] = sum(1 for r in reports if not r.ok)
    finally:
        await engine.dispose()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sources", type=int, default=200)
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--hosts", type=int, default=50, help="loopback addresses the sources are spread over")
    parser.add_argument("--database-url", help="default: a fresh SQLite file in a temporary directory")
    parser.add_argument(
        "--baseline-articles", type=int, default=20,
        help="articles a source's first poll reads (default 20, as shipped; 0: lists only, as the sequential loop)",
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.sources, args.items, args.latency, args.hosts)
        return 0

    from config.model import Source

    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--sources", str(args.sources), "--items", str(args.items),
         "--latency", str(args.latency), "--hosts", str(args.hosts)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        hosts = server.stdout.readline().split()
        sources = [Source(f"s{i}", f"Source {i}", f"http://{hosts[i % len(hosts)]}/s{i}/index.html", interval=600)
                   for i in range(args.sources)]
        print(f"{args.sources} sources x {args.items} items on {len(hosts)} loopback hosts (127.0.0.1-{len(hosts)}), "
              f"{args.latency * 1000:.0f} ms per response")

        seq_wall, seq_seen = sequential_cycle(sources)
        with tempfile.TemporaryDirectory() as tmp:
            url = args.database_url or f"sqlite+aiosqlite:///{os.path.join(tmp, 'bench.db')}"
            figures = asyncio.run(shwatch_cycles(sources, url, f"http://{hosts[0]}/publish-all", args.baseline_articles))
    finally:
        server.terminate()
        server.wait(10)

    ratio = seq_wall / figures["cycle1_wall"]
    cpu_ms = figures["cycle2_cpu_per_source"] * 1000
    print(f"cycle 1: first poll of every source (list fetch + parse; shwatch also dedupes and stores the baseline, "
          f"reading {args.baseline_articles} articles per source)")
    print(f"  sequential httpx + parse_list : {seq_wall:8.2f} s   ({seq_seen} entries)")
    print(f"  shwatch Poller.poll_all       : {figures['cycle1_wall']:8.2f} s   "
          f"({figures['cycle1_items']:.0f} baseline items stored, {figures['cycle1_errors']:.0f} errors)")
    print(f"  ratio                         : {ratio:8.1f} x   (target >= 15x) {'OK' if ratio >= 15 else 'BELOW TARGET'}")
    print("cycle 2: nothing changed, every list page answers 304")
    print(f"  wall                          : {figures['cycle2_wall']:8.2f} s   ({figures['cycle2_not_modified']:.0f} x 304)")
    print(f"  CPU per source                : {cpu_ms:8.3f} ms  (target < 1 ms) {'OK' if cpu_ms < 1 else 'ABOVE TARGET'}")
    print("cycle 3: one new article per source (list + article fetch, extract, summarize, tag, store)")
    print(f"  wall                          : {figures['cycle3_wall']:8.2f} s   "
          f"({figures['cycle3_items']:.0f} new items, {figures['cycle3_errors']:.0f} errors)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
