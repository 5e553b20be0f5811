"""Benchmark: tagging articles against the topics plus 100,000 subscriber keywords.

1,000 deterministic pseudo-articles of ~3,000 Chinese characters (common words, numbers,
punctuation, a sprinkling of topic terms and English) are scanned by one TermIndex holding
the default topics' terms and 100,000 synthetic keywords (2-6 character Chinese terms and
English words/phrases), the way the bot matches every chat's alert keywords, and by the
Tagger built on the same terms (one pass for topic occurrences and keywords, then the
relevance of each topic: what the poller runs per item). The baseline is the naive loop
`for term in terms: if term in text` over the same (normalised) terms, timed on a subset of
the articles and reported per item. The targets apply to the Tagger.

Targets (issue 2): >= 500 items/s and >= 50x the naive loop.

    .venv/bin/python bench/match.py [--articles N] [--terms N] [--naive-sample N]
"""

from __future__ import annotations

import argparse
import random
import sys
import time

from config.settings import load_default_relevance, load_default_topics
from monitors.tagger import Tagger, TermIndex, normalize, topic_terms

SEED = 20200408  # the day the Action Plan was issued

COMMON_WORDS = (
    "上海 市 政府 发展 经济 推进 建设 工作 企业 服务 创新 加快 实施 提升 推动 积极 重点 项目 "
    "城市 社会 管理 改革 开放 产业 科技 数字化 转型 质量 高质量 领域 全面 落实 加强 完善 体系 "
    "机制 政策 支持 资金 市场 主体 环境 营商 优化 疫情 防控 常态化 复工 复产 消费 需求 投资 "
    "增长 同比 亿元 万元 百分点 区域 协同 长三角 一体化 浦东 新区 临港 片区 自贸区 虹桥 枢纽 "
    "国际 合作 交流 会议 召开 部署 指出 强调 要求 表示 介绍 负责人 委员会 办公厅 印发 通知 方案 "
    "意见 措施 办法 规定 标准 规划 目标 任务 举措 成效 显著 进一步 持续 深化 拓展 培育 壮大 "
    "集聚 引领 示范 试点 应用 场景 数据 信息 网络 安全 技术 研发 人才 教育 医疗 卫生 健康 "
    "文化 旅游 交通 出行 物流 配送 零售 金融 保险 银行 贷款 制造 工厂 车间 生产 设备 智能 "
    "平台 互联网 大数据 人工智能 直播 线上 线下 融合 社区 居民 群众 街道 基层 治理 民生 保障 "
    "就业 收入 住房 养老 托育 学校 学生 医院 患者 药品 农业 农村 生态 绿色 低碳 能源 碳达峰"
).split()
PUNCTUATION = "，，，，。。、；：！？"
EN_WORDS = (
    "shanghai online economy digital platform service smart city data cloud network market "
    "trade finance health care school design factory mobility delivery retail fresh food "
    "robot vehicle bank policy growth green energy park district port free zone"
).split()
SYLLABLES = "ba ke lo mi tu ra sen dor vik al po ne qui zar fu lin ho ta ver mo".split()


def common_chars() -> str:
    return "".join(sorted(set("".join(COMMON_WORDS))))


def make_article(rng: random.Random, topic_zh: list[str], target_chars: int = 3000) -> str:
    parts: list[str] = []
    length = 0
    while length < target_chars:
        roll = rng.random()
        if roll < 0.015:
            word = rng.choice(topic_zh)
        elif roll < 0.03:
            word = f"{rng.randint(1, 2024)}"
        elif roll < 0.04:
            word = " " + " ".join(rng.choice(EN_WORDS) for _ in range(rng.randint(1, 4))) + " "
        elif roll < 0.05:
            word = "“" + rng.choice(COMMON_WORDS) + "”"
        else:
            word = rng.choice(COMMON_WORDS)
        parts.append(word)
        length += len(word)
        if rng.random() < 0.12:
            parts.append(rng.choice(PUNCTUATION))
            length += 1
    return "".join(parts)


def make_extra_terms(rng: random.Random, count: int) -> list[str]:
    """Distinct synthetic keywords: ~80% Chinese (2-6 chars, from common and rarer chars),
    ~20% English (one to three made-up or common words)."""
    chars = common_chars() + "鑫淼焱垚犇骉昱晟珺琪璟瑜钰锦澜沁泓翊煜曦"
    seen: set[str] = set()
    terms: list[str] = []
    while len(terms) < count:
        if rng.random() < 0.8:
            term = "".join(rng.choice(chars) for _ in range(rng.randint(2, 6)))
        else:
            words = []
            for _ in range(rng.randint(1, 3)):
                if rng.random() < 0.3:
                    words.append(rng.choice(EN_WORDS))
                else:
                    words.append("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
            term = " ".join(words)
        key = normalize(term)
        if key not in seen:
            seen.add(key)
            terms.append(term)
    return terms


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--terms", type=int, default=100_000)
    parser.add_argument("--naive-sample", type=int, default=20, help="articles timed with the naive loop")
    args = parser.parse_args(argv)

    rng = random.Random(SEED)
    topics = load_default_topics()
    topic_pairs = list(topic_terms(topics))
    topic_zh = [t for topic in topics for t in topic.zh]
    articles = [make_article(rng, topic_zh) for _ in range(args.articles)]
    extra = make_extra_terms(rng, args.terms)
    avg_chars = sum(map(len, articles)) / len(articles)
    print(f"corpus: {len(articles)} articles, {avg_chars:,.0f} chars each on average; "
          f"{len(topic_pairs)} topic terms + {len(extra):,} keyword terms")

    t0 = time.perf_counter()
    index: TermIndex[object] = TermIndex()
    for term, ref in topic_pairs:
        index.add(term, ref)
    for rule_id, term in enumerate(extra):
        index.add(term, rule_id)
    index.build()
    build_s = time.perf_counter() - t0
    print(f"build: {build_s:.2f} s for {len(index):,} terms (once, at start-up or when alerts change)")

    t0 = time.perf_counter()
    hits = 0
    for text in articles:
        hits += sum(len(v) for v in index.scan(text).values())
    index_s = time.perf_counter() - t0
    index_rate = len(articles) / index_s

    tagger = Tagger(topics, extra=((term, rule_id) for rule_id, term in enumerate(extra)), rules=load_default_relevance())
    t0 = time.perf_counter()
    topics_found = 0
    for text in articles:
        match, keywords = tagger.scan("", text)
        topics_found += len(match.topics) + len(match.mentions)
    tagger_s = time.perf_counter() - t0
    tagger_rate = len(articles) / tagger_s

    naive_terms = [normalize(t) for t, _ in topic_pairs] + [normalize(t) for t in extra]
    sample = articles[: max(1, min(args.naive_sample, len(articles)))]
    t0 = time.perf_counter()
    naive_hits = 0
    for article in sample:
        text = normalize(article)
        for term in naive_terms:
            if term in text:
                naive_hits += 1
    naive_s = time.perf_counter() - t0
    naive_rate = len(sample) / naive_s

    ratio = tagger_rate / naive_rate
    print(f"TermIndex: {index_rate:,.0f} items/s ({index_s * 1000 / len(articles):.2f} ms/item, "
          f"{hits / len(articles):.1f} (payload, term) hits/item, normalisation included)")
    print(f"Tagger.scan with relevance: {tagger_rate:,.0f} items/s ({tagger_s * 1000 / len(articles):.2f} ms/item, "
          f"{topics_found / len(articles):.1f} topics + mentions/item)")
    print(f"naive `term in text`: {naive_rate:,.2f} items/s ({naive_s * 1000 / len(sample):.1f} ms/item, "
          f"timed on {len(sample)} articles)")
    ok = tagger_rate >= 500 and ratio >= 50
    print(f"SUMMARY match: Tagger {tagger_rate:,.0f} items/s vs naive {naive_rate:,.2f} items/s = {ratio:,.0f}x "
          f"(targets >= 500 items/s, >= 50x): {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
