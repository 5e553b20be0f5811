"""WeCom markdown as a member or a robot's group sees it: one bold run per title, balanced
markers, no Telegram HTML, messages under 4096 bytes (pure: no network, no clock)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from bot.core.model import Match
from bot.core.format import alert_blocks
from bot.core.text import Bold, Link, Mark, Plain, utf8_len
from bot.channels.wecom.render import markdown_pieces, render_markdown
from config.settings import load_default_topics
from fake_wecom import markdown_problems
from monitors.model import Item

WHEN = datetime(2026, 6, 14, 2, 30, tzinfo=timezone.utc)


def item(title: str, summary: str = "本市将加快工业互联网平台建设。", **kw) -> Item:
    return Item("xwfb", "https://www.shanghai.gov.cn/nw4411/20260614/abc.html", title, WHEN, summary=summary, **kw)


def test_a_highlighted_term_inside_the_bold_title_is_one_bold_run():
    [block] = alert_blocks(item("本市推进工业互联网创新发展"), "上海发布", Match(1, keywords=("工业互联网",)), "zh")
    title = render_markdown([block[0]])
    assert title == "**本市推进工业互联网创新发展**"
    text = render_markdown(block)
    assert markdown_problems(text) == [], text
    assert "加快**工业互联网**平台" in text  # in the summary the term stays highlighted


@pytest.mark.parametrize(
    "spans,expected",
    [
        ((Bold("a"), Mark("b"), Bold("c")), "**abc**"),
        ((Mark("工业互联网"), Plain("和"), Mark("AI")), "**工业互联网**和**AI**"),
        ((Bold("标题 "), Mark("AI")), "**标题 AI**"),
        ((Bold(" 前后有空格 "), Plain("x")), " **前后有空格** x"),
        ((Bold("a"), Plain(""), Bold("b")), "**ab**"),
        ((Bold("   "), Plain("x")), "   x"),
        ((Plain("2*3 "), Bold("**重点**")), "2∗3 **∗∗重点∗∗**"),  # stars in the text never pair up
        ((Bold("标题"), Link("原文", "https://a.cn/x y")), "**标题**[原文](https://a.cn/x%20y)"),
    ],
)
def test_bold_runs(spans, expected):
    rendered = render_markdown([spans])
    assert rendered == expected
    assert markdown_problems(rendered) == []


def test_every_field_and_keyword_alert_reads_well_in_both_languages():
    topics = load_default_topics()
    for lang in ("zh", "en"):
        for topic in topics:
            term = topic.zh[0] if topic.zh else topic.name_zh
            it = item(f"关于{term}的通知 *重要* {term}", f"{term}是重点。{term}！", matched={topic.id: [term]})
            blocks = alert_blocks(it, "上海发布", Match(1, topics=(topic.id,), keywords=(term,)), lang, topics=topics)
            [message] = markdown_pieces(blocks)
            assert markdown_problems(message) == [], (lang, topic.id, message)
            assert "<b>" not in message and "](https://www.shanghai.gov.cn/" in message


def test_a_burst_of_long_alerts_splits_under_4096_bytes_at_item_boundaries():
    blocks = []
    for i in range(40):
        it = item(f"第{i}号通知：工业互联网" + "标题很长" * 20, "工业互联网平台建设。" * 40)
        blocks += alert_blocks(it, "上海发布", Match(1, keywords=("工业互联网",)), "zh")
    pieces = markdown_pieces(blocks)
    assert len(pieces) > 1
    for piece in pieces:
        assert utf8_len(piece) <= 4096 and markdown_problems(piece) == []
    text = "\n".join(pieces)
    assert [text.count(f"**第{i}号通知：") for i in range(40)] == [1] * 40


def test_an_item_larger_than_one_message_is_split_into_valid_pieces():
    it = item("超长" * 10, "工业互联网是重点，句子很长。" * 600)
    blocks = alert_blocks(it, "上海发布", Match(1, keywords=("工业互联网",)), "zh", summary_max=100_000)
    pieces = markdown_pieces(blocks)
    assert len(pieces) > 1
    assert all(markdown_problems(p) == [] for p in pieces), [markdown_problems(p) for p in pieces]
