"""The summarizer on the golden set of real articles (bench/data/summaries, RULES.md there):
at least 90% carry their lead's news and none of the page's clutter (issue 4)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from monitors.summary import summarize

BENCH = Path(__file__).resolve().parent.parent / "bench" / "summaries.py"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_summaries", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return _bench()


def test_the_golden_set_holds_at_least_30_real_articles_in_both_languages(bench):
    articles = bench.load_golden()
    assert len(articles) >= 30
    for lang in ("zh", "en"):
        assert sum(a.lang == lang for a in articles) >= 10
    for article in articles:
        assert article.url.startswith(("http://", "https://")), article.name
        assert article.must_carry and all(article.must_carry), article.name
        assert all(a.strip() for group in article.must_carry for a in group), article.name


def test_at_least_90_percent_of_the_golden_articles_pass(bench):
    articles = bench.load_golden()
    results = bench.judge(summarize, articles)
    failing = {name: found for name, found in results.items() if found}
    assert (len(results) - len(failing)) / len(results) >= bench.TARGET, failing


def test_the_judge_rejects_what_the_rules_reject(bench):
    """The checks themselves, on the first Chinese article: missing lead, clutter, length, glue."""
    article = next(a for a in bench.load_golden() if a.name.startswith("zh05"))
    good = "市卫生健康委一级巡视员吴乾渝介绍,4月14日,上海全市本土病例出院543例。"
    assert bench.problems(article, good) == []
    assert bench.problems(article, "4月15日上午10:00,上海举行第154场疫情防控工作新闻发布会。") == [
        "missing 吴乾渝 | 市卫生健康委", "missing 543例",
    ]
    assert any("clutter" in p for p in bench.problems(article, good + "责任编辑:吴昱审核:周益威"))
    assert any("characters >" in p for p in bench.problems(article, good * 4))
    assert any("mid-sentence" in p for p in bench.problems(article, good[:-1]))
    assert bench.problems(article, "") == ["empty summary"]
