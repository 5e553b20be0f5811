"""Benchmark: the web archive's search and the dashboard over 100,000 items on SQLite.

100,000 generated items (titles in the styles of Shanghai's government sites: notices,
meetings, district and hospital news; bodies of 6-18 sentences of common government
vocabulary with places, hospitals and subjects in them; 2 years of publish times), tagged by
the project's own Tagger and stored through ItemStore on a store built by the migrations
(so the FTS5 index is filled by its triggers). The web app is served on 127.0.0.1 and
timed over HTTP, sequentially, the whole response read:

- /items?q=...: a mix of 2-character words (医院, 养老, 浦东), longer words and phrases,
  an English word, two-word searches, and searches with a field or a date filter;
- /: the dashboard (per-field counts and 12 weekly bars, newest items, source health).

Baseline, measured in the same run on the same data: the naive way, a `LIKE '%q%'` scan of
title, summary and body per word, newest first, first page plus the count (for /items?q=);
and for / the same numbers from full scans (the fields' JSON by `LIKE '%"id"%'`, the newest
by sorting every row). The baseline is timed as bare SQL, without HTTP or rendering.

Targets (issue 7): p95 of /items?q= under 100 ms and of / under 200 ms.

    .venv/bin/python bench/search.py [--items N] [--db PATH] [--rounds N]

With --db an existing file of the same size is reused (generating and indexing 100,000
items takes a few minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote

import aiohttp
from sqlalchemy import func, select, text

from bot.core.clock import FakeClock
from bot.store.migrate import upgrade_to_head
from bot.web import WebServer, build_web_app
from config.settings import load_settings
from monitors.db import create_engine, items
from monitors.model import Item
from monitors.store import ItemStore, SourceState
from monitors.tagger import Tagger

SEED = 20200408
NOW = datetime(2026, 6, 14, 4, 0, tzinfo=timezone.utc)
DAYS = 730

ORGANS = (
    "上海市人民政府办公厅 上海市卫生健康委员会 上海市经济和信息化委员会 上海市教育委员会 上海市商务委员会 "
    "上海市科学技术委员会 上海市交通委员会 上海市地方金融监督管理局 上海市文化和旅游局 上海市发展和改革委员会 "
    "上海市市场监督管理局 上海市民政局 上海市人力资源和社会保障局 浦东新区人民政府 徐汇区人民政府 闵行区人民政府"
).split()
PLACES = (
    "浦东新区 黄浦区 徐汇区 长宁区 静安区 普陀区 虹口区 杨浦区 闵行区 宝山区 嘉定区 金山区 松江区 青浦区 "
    "奉贤区 崇明区 临港新片区 虹桥国际中央商务区 张江科学城 长三角生态绿色一体化发展示范区"
).split()
HOSPITALS = (
    "瑞金医院 华山医院 中山医院 仁济医院 新华医院 第六人民医院 第一人民医院 第十人民医院 儿童医学中心 "
    "肿瘤医院 胸科医院 龙华医院 曙光医院 岳阳医院 社区卫生服务中心"
).split()
SUBJECTS = (
    "互联网医院 在线教育 人工智能 工业互联网 无人工厂 生鲜电商 无接触配送 远程办公 在线金融 在线文娱 在线展会 "
    "新型移动出行 在线研发设计 智能制造 数字化转型 城市数字化 营商环境 长三角一体化 公共卫生 疫情防控 家庭医生 "
    "医保支付 智慧养老 垃圾分类 乡村振兴 科技创新 集成电路 生物医药 新能源汽车 自动驾驶 数据要素 跨境电商 "
    "5G网络 区块链 云计算 智慧交通 社区服务 民生实事 人才引进 住房保障 文物保护 河道治理"
).split()
ACTIONS = "印发 发布 召开 启动 推进 部署 举行 出台 实施 开展 公布 落实 审议 通过".split()
OBJECTS = (
    "实施方案 若干措施 工作方案 管理办法 三年行动计划 专项行动 新闻发布会 推进会 工作会议 试点工作 指导意见 "
    "实施细则 政策解读 典型案例 调研座谈会 培训班 专项检查 征求意见稿"
).split()
FILLER = (
    "上海 发展 经济 推进 建设 企业 服务 创新 实施 提升 重点 项目 城市 管理 改革 开放 产业 科技 高质量 政策 "
    "支持 市场 消费 投资 增长 国际 合作 会议 部署 规划 人才 教育 医疗 卫生 健康 文化 旅游 交通 物流 零售 金融 "
    "制造 平台 社区 民生 就业 养老 学校 农业 生态 绿色 低碳 能源 市民 群众 基层 街道 机制 体系 标准 质量 安全 "
    "保障 监管 统筹 协同 融合 应用 场景 示范 试点 推广 培育 引进 打造 加快 落实 完善 优化 深化 拓展 持续 全面"
).split()
EN_TITLES = (
    "Shanghai launches online hospital services",
    "New measures to boost the digital economy",
    "Pudong unveils artificial intelligence industry plan",
    "Shanghai expands 5G coverage in Lingang",
    "City promotes contactless delivery in communities",
    "Online education platform opens to all students",
)
SOURCES = "shgov-yw shgov-zzbshyw shgov-xxgk shio-ywts wsjkw-xwfb sheitc-cyfz sww-zxxxgk jrj-zxyw fgw-zxxxgk".split()

QUERIES = (
    "医院", "养老", "浦东", "教育", "5G", "人工智能", "互联网医院", "数字化转型", "疫情防控", "长三角一体化",
    "瑞金医院", "集成电路", "无接触配送", "hospital", "医院 在线", "浦东 人工智能", "临港新片区 智能制造",
    "垃圾分类 社区", "文物保护", "征求意见稿",
)
FILTERED = (  # (q, extra parameters)
    ("医院", "&topic=online_healthcare"),
    ("人工智能", "&since=2026-01-01&until=2026-03-31"),
    ("养老", "&source=shgov-yw"),
    ("在线教育", "&topic=online_education&since=2025-06-01"),
)


def sentence(rng: random.Random) -> str:
    parts = ["".join(rng.choice(FILLER) for _ in range(rng.randint(2, 4))) for _ in range(rng.randint(3, 5))]
    text_ = "，".join(parts)
    r = rng.random()
    if r < 0.25:
        text_ = rng.choice(PLACES) + text_
    elif r < 0.45:
        text_ += rng.choice(SUBJECTS)
    elif r < 0.5:
        text_ = rng.choice(HOSPITALS) + text_
    return text_ + "。"


def make_item(rng: random.Random, n: int, published: datetime) -> Item:
    subject = rng.choice(SUBJECTS)
    kind = rng.random()
    if kind < 0.12:
        title = f"{rng.choice(HOSPITALS)}{rng.choice(ACTIONS)}{subject}{rng.choice(OBJECTS)}"
    elif kind < 0.45:
        title = f"{rng.choice(ORGANS)}关于{rng.choice(ACTIONS)}《{rng.choice(PLACES)}{subject}{rng.choice(OBJECTS)}》的通知"
    elif kind < 0.97:
        title = f"{rng.choice(PLACES)}{rng.choice(ACTIONS)}{subject}{rng.choice(OBJECTS)}"
    else:
        title = rng.choice(EN_TITLES)
    body = "".join(sentence(rng) for _ in range(rng.randint(6, 18)))
    cut = rng.randint(0, min(80, len(body)))
    body = body[:cut] + subject + body[cut:]
    return Item(
        source_id=rng.choice(SOURCES),
        url=f"https://www.shanghai.gov.cn/nw{n % 90000 + 10000}/{published:%Y%m%d}/{n:032x}.html",
        title=title,
        published=published,
        first_seen_at=published + timedelta(minutes=rng.randint(1, 180)),
        summary=body[:110],
        body=body,
        lang="en" if title.isascii() else "zh",
    )


async def build(url: str, n: int) -> float:
    """Generate, tag and store ``n`` items; returns the seconds it took."""
    started = time.perf_counter()
    await upgrade_to_head(url)
    engine = create_engine(url)
    try:
        settings = load_settings(env={})
        tagger = Tagger(settings.topics)
        store = ItemStore(engine)
        rng = random.Random(SEED)
        times = sorted(NOW - timedelta(seconds=rng.randint(0, DAYS * 86400)) for _ in range(n))
        batch: list[Item] = []
        for i, published in enumerate(times):
            item = make_item(rng, i, published)
            match = tagger.tag(item.title, item.body)
            item.topics, item.matched = match.topics, match.matched
            batch.append(item)
            if len(batch) == 2000 or i == n - 1:
                await store.insert_items(batch)
                batch = []
                print(f"\r  stored {i + 1:,} of {n:,} items", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
        for k, source in enumerate(SOURCES):
            await store.save_source_state(
                SourceState(source, baseline_done=True, last_attempt_at=NOW, last_success_at=NOW,
                            consecutive_failures=1 if k == 0 else 0, last_error="HTTP 503" if k == 0 else None)
            )
    finally:
        await engine.dispose()
    return time.perf_counter() - started


async def count_items(url: str) -> int:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(select(func.count()).select_from(items))).scalar_one()
    except Exception:
        return 0
    finally:
        await engine.dispose()


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20, method="inclusive")[-1]


async def timed_get(http: aiohttp.ClientSession, url: str) -> float:
    started = time.perf_counter()
    async with http.get(url) as response:
        await response.read()
        if response.status != 200:
            raise SystemExit(f"{url} answered {response.status}")
    return time.perf_counter() - started


async def naive_search(conn, q: str, extra: str) -> None:
    """The naive way: every word by LIKE over title, summary and body; newest first; count."""
    where = []
    params: dict[str, object] = {}
    for k, term in enumerate(q.split()):
        params[f"t{k}"] = f"%{term}%"
        where.append(f"(title LIKE :t{k} OR summary LIKE :t{k} OR body LIKE :t{k})")
    if "topic=" in extra:
        params["topic"] = '%"' + extra.split("topic=")[1].split("&")[0] + '"%'
        where.append("topics LIKE :topic")
    if "source=" in extra:
        params["source"] = extra.split("source=")[1].split("&")[0]
        where.append("source_id = :source")
    clause = " AND ".join(where)
    order = "ORDER BY coalesce(published, first_seen_at) DESC, id DESC"
    await conn.execute(text(f"SELECT id, title, summary FROM items WHERE {clause} {order} LIMIT 20"), params)
    await conn.execute(text(f"SELECT count(*) FROM items WHERE {clause}"), params)


async def naive_dashboard(conn, topic_ids: list[str]) -> None:
    """The dashboard's numbers by full scans: each field's JSON by LIKE, newest by a sort."""
    since = (NOW - timedelta(weeks=12)).replace(tzinfo=None).isoformat(" ")
    week = "CAST((julianday(:now) - julianday(coalesce(published, first_seen_at))) / 7 AS INTEGER)"
    for topic in topic_ids:
        await conn.execute(
            text(f"SELECT {week} AS w, count(*) FROM items WHERE topics LIKE :t AND coalesce(published, first_seen_at) >= :since GROUP BY w"),
            {"t": f'%"{topic}"%', "since": since, "now": NOW.replace(tzinfo=None).isoformat(" ")},
        )
    await conn.execute(text("SELECT id, title FROM items ORDER BY coalesce(published, first_seen_at) DESC, id DESC LIMIT 10"))
    await conn.execute(text("SELECT source_id, count(*), max(published) FROM items GROUP BY source_id"))


async def measure(url: str, rounds: int, baseline_rounds: int) -> dict[str, float]:
    settings = load_settings(env={})
    engine = create_engine(url)
    server = WebServer(build_web_app(settings, engine, FakeClock(NOW), role="web"), "127.0.0.1", 0)
    await server.start()
    base = f"http://127.0.0.1:{server.bound_port}"
    searches = [f"/items?q={quote(q)}" for q in QUERIES] + [f"/items?q={quote(q)}{extra}" for q, extra in FILTERED]
    out: dict[str, float] = {}
    try:
        async with aiohttp.ClientSession() as http:
            for path in searches + ["/"]:  # warm up: templates compiled, pages in the cache
                await timed_get(http, base + path)
            search_times = [await timed_get(http, base + path) for _ in range(rounds) for path in searches]
            dash_times = [await timed_get(http, base + "/") for _ in range(rounds * 5)]
        async with engine.connect() as conn:
            naive_search_times = []
            for _ in range(baseline_rounds):
                for q, extra in [(q, "") for q in QUERIES] + list(FILTERED):
                    started = time.perf_counter()
                    await naive_search(conn, q, extra)
                    naive_search_times.append(time.perf_counter() - started)
            naive_dash_times = []
            for _ in range(baseline_rounds * 3):
                started = time.perf_counter()
                await naive_dashboard(conn, [t.id for t in settings.topics])
                naive_dash_times.append(time.perf_counter() - started)
    finally:
        await server.stop()
        await engine.dispose()
    out["search_p95"] = p95(search_times)
    out["search_median"] = statistics.median(search_times)
    out["naive_search_p95"] = p95(naive_search_times)
    out["dash_p95"] = p95(dash_times)
    out["dash_median"] = statistics.median(dash_times)
    out["naive_dash_p95"] = p95(naive_dash_times)
    return out


async def main_async(args: argparse.Namespace) -> int:
    db = Path(args.db) if args.db else Path(tempfile.mkdtemp(prefix="shwatch-bench-")) / "search.db"
    url = f"sqlite+aiosqlite:///{db}"
    have = await count_items(url) if db.exists() else 0
    if have != args.items:
        if db.exists():
            db.unlink()
        print(f"generating, tagging and storing {args.items:,} items in {db} ...", file=sys.stderr)
        took = await build(url, args.items)
        print(f"stored and indexed {args.items:,} items in {took:.0f} s ({db.stat().st_size / 1e6:.0f} MB)")
    else:
        print(f"reusing {db} ({have:,} items)")
    r = await measure(url, args.rounds, args.baseline_rounds)
    ok_search = r["search_p95"] < 0.100
    ok_dash = r["dash_p95"] < 0.200
    print(f"/items?q=  p95 {r['search_p95'] * 1000:7.1f} ms (median {r['search_median'] * 1000:.1f})   "
          f"naive LIKE scan p95 {r['naive_search_p95'] * 1000:7.1f} ms   "
          f"{r['naive_search_p95'] / r['search_p95']:5.1f}x faster   target < 100 ms: {'ok' if ok_search else 'MISSED'}")
    print(f"/          p95 {r['dash_p95'] * 1000:7.1f} ms (median {r['dash_median'] * 1000:.1f})   "
          f"naive full scans p95 {r['naive_dash_p95'] * 1000:6.1f} ms   "
          f"{r['naive_dash_p95'] / r['dash_p95']:5.1f}x faster   target < 200 ms: {'ok' if ok_dash else 'MISSED'}")
    return 0 if ok_search and ok_dash else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--db", help="SQLite file to (re)use")
    parser.add_argument("--rounds", type=int, default=5, help="times each search is timed")
    parser.add_argument("--baseline-rounds", type=int, default=2, help="times each naive scan is timed")
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
