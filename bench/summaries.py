"""Benchmark: do the summaries carry the news? The golden set of real articles, judged.

Every article in bench/data/summaries/ (real pages with their addresses, labelled by hand
under bench/data/summaries/RULES.md before any summarizer ran on them) is summarized, and the
summary passes when it carries one string of every ``must_carry`` group, none of the
``must_not_carry`` clutter, fits the budget, ends at a sentence end or with '…', and never
glues two paragraphs of the text into one. The same run judges the summarizer as it was
before this work (``monitors/summary.py`` at BASELINE_COMMIT, read with ``git show``), so the
figure and its baseline come from the same articles.

Target (issue 4): at least 90% of the articles pass.

    .venv/bin/python bench/summaries.py [--quiet] [--baseline-commit SHA]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

GOLDEN = Path(__file__).parent / "data" / "summaries"
BASELINE_COMMIT = "038e71b"  # the branch point: the summarizer before issue 4
TARGET = 0.9
ZH_BUDGET = 120  # characters, as the issue states them (the ellipsis not counted)
EN_BUDGET = 60  # words
_SENTENCE_END = ("。", "！", "？", "；", ".", "!", "?", ";", "…", "”", "’", '"', "'", "」", "』")
_CLEAN_END = ("。", "！", "？", "；", ".", "!", "?", ";", "…", "”", "’", '"', "'", ")", "）", "」", "』")

Summarizer = Callable[[str, str, str | None], str]


@dataclass(frozen=True)
class GoldenArticle:
    name: str
    url: str
    lang: str
    title: str
    text: str
    must_carry: list[list[str]]
    must_not_carry: list[str]


def load_golden(folder: Path = GOLDEN) -> list[GoldenArticle]:
    """The labelled articles, in file-name order."""
    articles = []
    for path in sorted(folder.glob("*.json")):
        raw = json.loads(path.read_text(encoding="utf-8"))
        articles.append(
            GoldenArticle(
                name=path.stem, url=raw["url"], lang=raw["lang"], title=raw.get("title") or "",
                text=raw["text"], must_carry=raw["must_carry"], must_not_carry=raw["must_not_carry"],
            )
        )
    return articles


def _flat(text: str) -> str:
    return " ".join(text.split())


def problems(article: GoldenArticle, summary: str) -> list[str]:
    """Why a summary fails its article's expectations (empty when it passes)."""
    found = []
    flat = _flat(summary)
    if not flat:
        return ["empty summary"]
    for group in article.must_carry:
        if not any(_flat(option) in flat for option in group):
            found.append("missing " + " | ".join(group))
    for clutter in article.must_not_carry:
        if _flat(clutter) in flat:
            found.append(f"carries clutter {clutter!r}")
    if article.lang == "en":
        if len(flat.split()) > EN_BUDGET:
            found.append(f"{len(flat.split())} words > {EN_BUDGET}")
    elif len(flat.rstrip("…")) > ZH_BUDGET:
        found.append(f"{len(flat)} characters > {ZH_BUDGET}")
    if not flat.endswith(_CLEAN_END):
        found.append(f"ends mid-sentence without …: {flat[-12:]!r}")
    glued = _glued_paragraphs(article.text, flat)
    if glued:
        found.append(f"glues two paragraphs: {glued!r}")
    return found


def _glued_paragraphs(text: str, flat_summary: str) -> str | None:
    """The end of one paragraph that does not close its sentence run straight into the start
    of the next, if the summary has it (complete sentences may follow each other)."""
    lines = [_flat(line) for line in text.splitlines() if line.strip()]
    for first, second in zip(lines, lines[1:]):
        if first.endswith(_SENTENCE_END):
            continue
        joint = first[-6:] + second[:6]
        if len(first) >= 6 and len(second) >= 6 and joint in flat_summary and joint not in _flat(text.replace("\n", "")):
            return joint
    return None


def judge(summarize: Summarizer, articles: Iterable[GoldenArticle]) -> dict[str, list[str]]:
    """Each article's problems under one summarizer."""
    return {a.name: problems(a, summarize(a.text, a.lang, a.title or None)) for a in articles}


def baseline_summarizer(commit: str) -> Summarizer | None:
    """``summarize`` as it was at ``commit`` (None when git or the commit is not there)."""
    root = Path(__file__).resolve().parent.parent
    try:
        source = subprocess.run(
            ["git", "show", f"{commit}:monitors/summary.py"], cwd=root, capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    module = types.ModuleType("baseline_summary")
    sys.modules[module.__name__] = module  # its dataclasses look their module up
    exec(compile(source, f"{commit}:monitors/summary.py", "exec"), module.__dict__)  # noqa: S102 - our own history
    return module.summarize


def _report(label: str, results: dict[str, list[str]], articles: list[GoldenArticle], quiet: bool) -> float:
    passed = sum(1 for found in results.values() if not found)
    by_lang = {}
    for article in articles:
        ok, total = by_lang.get(article.lang, (0, 0))
        by_lang[article.lang] = (ok + (not results[article.name]), total + 1)
    langs = ", ".join(f"{lang} {ok}/{total}" for lang, (ok, total) in sorted(by_lang.items()))
    print(f"{label}: {passed}/{len(results)} passed ({passed / len(results):.0%}; {langs})")
    if not quiet:
        for article in articles:
            for problem in results[article.name]:
                print(f"  {article.name}: {problem}")
    return passed / len(results)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quiet", action="store_true", help="figures only, no per-article failures")
    parser.add_argument("--baseline-commit", default=BASELINE_COMMIT)
    args = parser.parse_args(argv)

    from monitors.summary import summarize

    articles = load_golden()
    rate = _report("summarize (this tree)", judge(summarize, articles), articles, args.quiet)
    old = baseline_summarizer(args.baseline_commit)
    if old is None:
        print(f"baseline: monitors/summary.py at {args.baseline_commit} is not readable with git; no comparison")
    else:
        base = _report(f"summarize at {args.baseline_commit} (baseline)", judge(old, articles), articles, args.quiet)
        print(f"improvement: {rate - base:+.0%} of the articles ({rate / base if base else float('inf'):.2f}x the baseline's pass rate)")
    print(f"target >= {TARGET:.0%}: {'met' if rate >= TARGET else 'NOT met'}")
    return 0 if rate >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
