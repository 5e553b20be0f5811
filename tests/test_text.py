"""Rich text rendering and splitting into messages under a limit."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from bot.core.text import (
    Bold,
    Code,
    Link,
    Mark,
    Plain,
    TELEGRAM_LIMIT,
    render_plain,
    render_telegram_html,
    render_wecom_markdown,
    split_blocks,
    split_paragraphs,
    utf8_len,
)


class _TagBalance(HTMLParser):
    """Checks that Telegram HTML is well formed: only known tags, properly nested."""

    ALLOWED = {"b", "u", "a", "code"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.text = []

    def handle_starttag(self, tag, attrs):
        assert tag in self.ALLOWED, tag
        self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, (tag, self.stack)
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def assert_valid_html(chunk: str) -> str:
    p = _TagBalance()
    p.feed(chunk)
    p.close()
    assert p.stack == [], chunk[-200:]
    # no raw & or < outside entities/tags
    assert not re.search(r"&(?!amp;|lt;|gt;|quot;|#x27;)", chunk)
    return "".join(p.text)


def test_telegram_html_escapes_text_and_attributes():
    para = (Plain("a < b & c > d "), Bold("<b>"), Mark("5G"), Code("x&y"), Link('he said "hi"', 'https://x.cn/?a=1&b="2"'))
    html = render_telegram_html([para, ()])
    assert html == (
        'a &lt; b &amp; c &gt; d <b>&lt;b&gt;</b><b><u>5G</u></b><code>x&amp;y</code>'
        '<a href="https://x.cn/?a=1&amp;b=&quot;2&quot;">he said "hi"</a>\n'
    )


def test_wecom_markdown_and_plain():
    para = (Plain("2*3 "), Bold("标题"), Plain(" "), Mark("人工智能"), Plain(" "), Link("原文", "https://a.cn/x"))
    assert render_wecom_markdown([para]) == "2∗3 **标题** **人工智能** [原文](https://a.cn/x)"
    assert render_plain([para, (Plain("second"),)]) == "2*3 标题 人工智能 原文 https://a.cn/x\nsecond"


def _item(i: int, body_len: int = 300) -> list:
    return [
        (Bold(f"Item {i}: <title> & more"),),
        (Plain("Source · 2026-06-13 14:06"),),
        (Plain(("这是一句摘要。" * (body_len // 7 + 1))[:body_len]),),
        (Plain("Keywords: "), Mark("人工智能")),
        (Link("Read", f"https://example.cn/{i}?a=1&b=2"),),
    ]


def test_many_items_are_packed_whole_into_messages_under_4096():
    blocks = [_item(i) for i in range(60)]
    chunks = split_blocks(blocks, render_telegram_html, TELEGRAM_LIMIT)
    assert len(chunks) > 1
    seen = []
    for chunk in chunks:
        assert len(chunk) <= TELEGRAM_LIMIT
        text = assert_valid_html(chunk)
        seen += [int(n) for n in re.findall(r"Item (\d+):", text)]
        # each item is whole inside its chunk: its title and its link are both there
        assert chunk.count("<b>Item") == chunk.count('<a href="https://example.cn/')
    assert seen == list(range(60))
    # packing is tight: joining a chunk with the next item's block would overflow
    one = render_telegram_html(_item(0))
    per_chunk = (TELEGRAM_LIMIT + 2) // (len(one) + 2)
    assert len(chunks) == -(-60 // per_chunk)


def test_an_over_long_single_item_is_split_at_sentences_never_inside_a_tag():
    sentence = "上海发布在线新经济发展行动方案，推动 <人工智能> & 工业互联网融合。"
    long_para = (Plain(sentence * 200), Mark("人工智能"), Plain(" tail."))
    block = [(Bold("A very long item " * 10),), long_para, (Link("Read", "https://e.cn/1"),)]
    chunks = split_blocks([_item(1), block, _item(2)], render_telegram_html, TELEGRAM_LIMIT)
    assert all(len(c) <= TELEGRAM_LIMIT for c in chunks)
    texts = [assert_valid_html(c) for c in chunks]
    assert texts[0].startswith("Item 1:")
    # the long block's pieces end at sentence boundaries, except the end of the block
    middle = [c for c in texts if "人工智能> & 工业" in c]
    assert len(middle) >= 3
    for text in middle[:-1]:
        assert text.endswith("融合。"), text[-20:]
    # nothing lost or reordered: the rendered text round-trips
    whole = "\n\n".join(texts)
    assert whole.count(sentence) == 200
    assert whole.index("Item 1:") < whole.index("A very long item") < whole.index("Item 2:")


def test_a_sentence_without_breaks_is_cut_inside_its_text_and_stays_valid():
    para = (Bold("&" * 5000),)  # escapes to 25,000 characters
    chunks = split_paragraphs([para], render_telegram_html, 4096)
    assert all(len(c) <= 4096 for c in chunks)
    assert sum(len(assert_valid_html(c)) for c in chunks) == 5000
    assert all(c.startswith("<b>") and c.endswith("</b>") for c in chunks)


def test_byte_measure_for_wecom():
    blocks = [[(Plain("中文内容。" * 100),)] for _ in range(20)]
    chunks = split_blocks(blocks, render_wecom_markdown, 4096, measure=utf8_len)
    assert all(utf8_len(c) <= 4096 for c in chunks)
    assert sum(c.count("中文内容。") for c in chunks) == 2000
    assert len(chunks) == 10  # each block is 1,500 bytes: two (3,002 B) fit, three do not
    assert all(utf8_len(c) == 3002 for c in chunks)


def test_empty_input_gives_no_messages_and_bad_limit_raises():
    assert split_blocks([], render_plain, 100) == []
    assert split_blocks([[]], render_plain, 100) == []
    with pytest.raises(ValueError):
        split_blocks([[(Plain("x"),)]], render_plain, 0)
