"""Benchmark: plan and format every chat's daily digest.

10,000 chats (1-4 of the 12 fields each, 0-3 keyword alerts from a 300-word vocabulary,
half Chinese, half English, a few time zones) and 2,000 items first seen in the last day
(about 15% tagged with one or two fields; titles and ~400-character bodies built from
common words with keywords sprinkled in). For every chat: plan the digest, build its blocks,
render them as Telegram HTML and split them into messages of at most 4,096 characters.

Baseline, measured in the same run: the straightforward way, per chat a loop over every item
checking its fields and `keyword in text` for each alert (and exclusions), then the same
blocks rendered and split by `bot.core.text.split_blocks` with no sharing between chats. It runs
on a sample of chats and is scaled to all of them.

Targets (issue 4): < 3 s wall time and < 300 MB peak memory (ru_maxrss) for 10,000 digests.

    .venv/bin/python bench/digest.py [--chats N] [--items N] [--baseline-sample N]
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
from datetime import datetime, timedelta, timezone

from bot.core.model import AlertRule, Chat
from bot.core.digest import Digest, DigestFormatter, DigestSection, plan_digests
from bot.core.text import TELEGRAM_LIMIT, render_telegram_html, split_blocks
from config.settings import load_default_sources, load_default_topics
from monitors.model import Item
from monitors.tagger import normalize, plan_order

SEED = 20200408
UNTIL = datetime(2026, 6, 14, 0, 0, tzinfo=timezone.utc)
WORDS = (
    "上海 发展 经济 推进 建设 企业 服务 创新 实施 提升 重点 项目 城市 管理 改革 开放 产业 科技 "
    "数字化 转型 高质量 政策 支持 市场 营商 环境 消费 投资 增长 长三角 浦东 临港 虹桥 国际 合作 "
    "会议 部署 通知 方案 措施 规划 人才 教育 医疗 卫生 健康 文化 旅游 交通 物流 配送 零售 金融 "
    "制造 智能 平台 互联网 大数据 直播 社区 民生 就业 养老 学校 医院 农业 生态 绿色 低碳 能源"
).split()
EN = "shanghai digital platform smart city data cloud market trade finance health school design factory robot vehicle".split()


def peak_mb() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def make_world(n_chats: int, n_items: int, rng: random.Random):
    topics = load_default_topics()
    fields = [t.id for t in topics if t.kind == "field"]
    # alert keywords: 300 terms of characters the filler text never uses (so a keyword hits
    # only where it was sprinkled in, ~10 items each)
    rare = "甲乙丙丁戊己庚辛壬癸子丑寅卯辰巳午未申酉戌亥鑫淼焱垚"
    vocab = sorted({rng.choice(rare) + rng.choice(rare) + rng.choice(rare) for _ in range(400)})[:300]
    sources = load_default_sources()
    items = []
    for i in range(1, n_items + 1):
        tagged = rng.sample(fields, rng.choice((1, 1, 2))) if rng.random() < 0.15 else []
        words = [rng.choice(WORDS) for _ in range(160)]
        for _ in range(rng.randint(0, 3)):
            words.insert(rng.randrange(len(words)), rng.choice(vocab))
        if rng.random() < 0.2:
            words.append(" " + " ".join(rng.choice(EN) for _ in range(10)) + " ")
        body = "，".join("".join(words[k : k + 8]) for k in range(0, len(words), 8)) + "。"
        seen = UNTIL - timedelta(seconds=rng.randint(0, 86_399))
        items.append(
            Item(
                id=i, source_id=rng.choice(sources).id, url=f"https://www.shanghai.gov.cn/nw4411/2026061{i % 10}/{i:032x}.html",
                title="".join(rng.choice(WORDS) for _ in range(8)), published=seen - timedelta(hours=1),
                summary=body[:110], body=body, topics=tuple(tagged), first_seen_at=seen,
            )
        )
    chats = []
    rule_id = 0
    for c in range(1, n_chats + 1):
        rules = []
        for _ in range(rng.choice((0, 1, 1, 2, 3))):
            rule_id += 1
            excludes = (rng.choice(vocab),) if rng.random() < 0.2 else ()
            rules.append(AlertRule(rule_id, c, rng.choice(vocab), excludes))
        chats.append(
            Chat(
                id=c, channel="telegram", address=str(c), lang=rng.choice(("zh", "en")), digest_enabled=True,
                tz=rng.choice(("Asia/Shanghai", "Asia/Shanghai", "Europe/London", "America/New_York")),
                last_digest_at=UNTIL - timedelta(days=1), topics=frozenset(rng.sample(fields, rng.randint(1, 4))),
                rules=tuple(rules),
            )
        )
    return topics, {s.id: s.name for s in sources}, items, chats


def shwatch_digests(topics, source_names, items, chats) -> tuple[int, int, int]:
    digests = plan_digests(chats, items, plan_order(topics), UNTIL)
    fmt = DigestFormatter({i.id: i for i in items}, source_names, topics)
    n_messages = n_items = chars = 0
    for chat in chats:
        digest = digests[chat.id]
        messages = fmt.messages(digest, "2026-06-14", chat.lang, chat.tz, render_telegram_html, TELEGRAM_LIMIT)
        n_messages += len(messages)
        n_items += digest.total
        chars += sum(map(len, messages))
    return n_messages, n_items, chars


def naive_digest(chat: Chat, items: list[Item], order) -> Digest:
    groups: dict[str | None, list[Item]] = {}
    keywords = {}
    for item in items:
        if item.baseline or not (chat.last_digest_at < item.first_seen_at <= UNTIL):
            continue
        text = normalize(item.title) + "\n" + normalize(item.body)
        words = tuple(
            r.keyword for r in chat.rules
            if normalize(r.keyword) in text and not any(normalize(x) in text for x in r.excludes)
        )
        first = next((t for t in order if t in chat.topics and t in item.topics), None)
        if first is None and not words:
            continue
        groups.setdefault(first, []).append(item)
        if words:
            keywords[item.id] = words
    sections = []
    for key in [*order, None]:
        if key in groups:
            ranked = sorted(groups[key], key=lambda i: (i.published, i.id), reverse=True)
            sections.append(DigestSection(key, tuple(i.id for i in ranked)))
    return Digest(chat.id, chat.last_digest_at, UNTIL, tuple(sections), keywords)


def baseline_digests(topics, source_names, items, chats) -> tuple[int, int]:
    order = plan_order(topics)
    n_messages = n_items = 0
    by_id = {i.id: i for i in items}
    for chat in chats:
        digest = naive_digest(chat, items, order)
        fmt = DigestFormatter(by_id, source_names, topics)  # nothing shared between chats
        messages = split_blocks(fmt.blocks(digest, "2026-06-14", chat.lang, chat.tz), render_telegram_html, TELEGRAM_LIMIT)
        n_messages += len(messages)
        n_items += digest.total
    return n_messages, n_items


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chats", type=int, default=10_000)
    parser.add_argument("--items", type=int, default=2_000)
    parser.add_argument("--baseline-sample", type=int, default=200, help="chats timed for the naive baseline")
    args = parser.parse_args()
    rng = random.Random(SEED)
    topics, source_names, items, chats = make_world(args.chats, args.items, rng)
    setup_mb = peak_mb()

    start = time.perf_counter()
    n_messages, n_items, chars = shwatch_digests(topics, source_names, items, chats)
    wall = time.perf_counter() - start
    ours_mb = peak_mb()

    sample = chats[: max(1, min(args.baseline_sample, len(chats)))]
    start = time.perf_counter()
    base_messages, base_items = baseline_digests(topics, source_names, items, sample)
    base_wall = (time.perf_counter() - start) * len(chats) / len(sample)
    # the two must agree on the sample
    ours_sample = shwatch_digests(topics, source_names, items, sample)
    agree = ours_sample[:2] == (base_messages, base_items)

    print(f"digests: {len(chats):,} chats x {len(items):,} items (last 24 h)")
    print(f"  digest items placed: {n_items:,} ({n_items / len(chats):.0f} per chat), messages: {n_messages:,}, {chars / 1e6:.1f} M chars")
    print(f"  shwatch:  {wall:.2f} s wall  (target < 3 s)   peak memory {ours_mb:.0f} MB (target < 300 MB; {setup_mb:.0f} MB after building the data)")
    print(f"  baseline: {base_wall:.2f} s wall (naive per-chat loop over all items, timed on {len(sample):,} chats and scaled)")
    print(f"  ratio: {base_wall / wall:.1f}x faster than the baseline; results agree on the sample: {agree}")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
