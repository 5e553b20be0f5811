"""List pages and feeds to entries: one hand-written page per site shape in sources.md, plus the
real wsjkw list page from ../shared when it is there."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from config.model import Selectors, Source
from monitors import parse
from monitors.dates import SHANGHAI
from monitors.parse import parse_list

PAGES = Path(__file__).parent / "fixtures" / "pages"


def _page(name: str) -> bytes:
    return (PAGES / name).read_bytes()


def _source(url: str, **kw) -> Source:
    return Source(id="test", name="test", url=url, **kw)


def _sh(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=SHANGHAI)


# --- the shared CMS -------------------------------------------------------------------------


def test_shared_cms_list_with_extra_classes_mixed_links_and_duplicates():
    url = "https://www.shanghai.gov.cn/nw4411/index.html"
    entries = parse_list(_page("shgov/nw4411-list.html"), url, _source(url))
    assert [(e.url, e.title, e.published) for e in entries] == [
        (
            "https://www.shanghai.gov.cn/nw4411/20250116/0f3a6c2d9b8e4f17a5c4d3e2b1a09876.html",
            "市政府常务会议研究推进在线新经济发展",  # the title attribute, not the truncated text
            _sh(2025, 1, 16),
        ),
        ("https://mp.weixin.qq.com/s/Ab3-XyZ_0qQ", "上海发布：2025年重大工程清单公布", _sh(2025, 1, 15)),
        (
            "https://www.shanghai.gov.cn/nw4411/20250114/1b2c3d4e5f60718293a4b5c6d7e8f901.html",
            "上海举行 无人工厂建设推进会",  # no title attribute: the link text, whitespace squashed
            _sh(2025, 1, 14),
        ),
        (
            "http://www.shanghai.gov.cn/nw4411/20250113/2c3d4e5f60718293a4b5c6d7e8f90a1b.html",
            "本市发布在线教育新规",
            _sh(2025, 1, 13),
        ),
    ]
    # the nav and pager links are not items: only the list counts when it is there
    assert not any("index" in e.url for e in entries)


def test_nw12344_tadaty_list():
    url = "https://www.shanghai.gov.cn/nw12344/index.html"
    entries = parse_list(_page("shgov/nw12344-list.html"), url, _source(url))
    assert [e.title for e in entries] == [
        "上海市人民政府关于印发《上海市推进智能网联汽车发展行动方案》的通知",
        "上海市人民政府办公厅关于加快发展工业互联网的实施意见",
        "上海市人民政府关于同意设立临港数字医疗示范区的批复",
    ]
    assert entries[2].url == "https://www.shanghai.gov.cn/nw12344/20250105/7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a29.html"
    assert [e.published.date().isoformat() for e in entries] == ["2025-01-10", "2025-01-08", "2025-01-05"]


def test_gb2312_labelled_list_with_gbk_only_characters():
    url = "https://www.shanghai.gov.cn/nw2/index.html"
    entries = parse_list(_page("shgov/old-list-gb2312-gbk-chars.html"), url, _source(url))
    assert [(e.title, e.published) for e in entries] == [
        ("朱镕基同志生平展在沪开幕", _sh(2018, 3, 5)),
        ("王喆调研在线教育工作", _sh(2018, 3, 4)),
    ]


def test_header_charset_is_honoured_for_a_page_without_meta():
    url = "https://www.shanghai.gov.cn/nw2/index.html"
    page = '<ul class="nowrapli list-date"><li><a href="/nw2/20180305/0123456789abcdef0123456789abcdef.html">王喆讲话</a><span class="time">2018-03-05</span></li></ul>'
    entries = parse_list(page.encode("gbk"), url, _source(url), header_charset="gbk")
    assert [e.title for e in entries] == ["王喆讲话"]


# --- per-source selectors -------------------------------------------------------------------


def test_zzbshyw_news_green_with_dotted_dates_and_abstracts():
    url = "https://www.shanghai.gov.cn/zzbshyw/index.html"
    source = _source(url, selectors=Selectors(item="ul.news-green li", link="a[title]", date=".data01", summary=".bb"))
    entries = parse_list(_page("shgov/zzbshyw-list.html"), url, source)
    assert [(e.title, e.published, e.summary) for e in entries] == [
        ("龚正主持召开市政府常务会议", _sh(2025, 1, 16), "会议研究了本市促进在线新经济发展的若干措施，部署推进无人工厂和工业互联网建设。"),
        ("市领导调研生鲜电商保供工作", _sh(2025, 1, 15), "调研中指出，要进一步完善“无接触”配送网络。"),
    ]  # the row without a link is skipped
    assert entries[0].url == "https://www.shanghai.gov.cn/zzbshyw/20250116/aa11bb22cc33dd44ee55ff6677889900.html"


def test_shio_init_data_with_dot_dot_double_slash_hrefs():
    url = "https://www.shio.gov.cn/TrueCMS/shxwbgs/ywts/ywts.html"
    source = _source(url, encoding="utf-8", selectors=Selectors(item=".newslist #initData li", link="a[href]", date="span"))
    entries = parse_list(_page("shio/ywts-list.html"), url, source)
    assert [(e.url, e.published) for e in entries] == [
        ("https://www.shio.gov.cn/TrueCMS/shxwbgs/ywts/content/4f1c2a9e-7b3d-4c5e-9a8b-1d2e3f4a5b6c.html", _sh(2025, 1, 16)),
        ("https://www.shio.gov.cn/TrueCMS/shxwbgs/xwfbh/content/5a2d3b0f-8c4e-4d6f-ab9c-2e3f4a5b6c7d.htm", _sh(2025, 1, 15)),
        ("https://www.shio.gov.cn/TrueCMS/shxwbgs/ywts/content/6b3e4c1a-9d5f-4e7a-bc0d-3f4a5b6c7d8e.html", _sh(2025, 1, 14)),
    ]
    assert entries[1].title == "上海举行在线医疗服务新闻发布会"


def test_scjgj_table_list_skips_the_header_row():
    url = "https://scjgj.sh.gov.cn/1073/index.html"
    source = _source(url, selectors=Selectors(item=".table_list tr", link="td:nth-of-type(2) a", date="td:nth-of-type(3)"))
    entries = parse_list(_page("scjgj/1073-list.html"), url, source)
    assert [(e.url, e.title, e.published) for e in entries] == [
        (
            "https://scjgj.sh.gov.cn/1073/20250116/cc33dd44ee55ff6677889900aa11bb22.html",
            "市市场监管局开展生鲜电商平台专项检查",
            _sh(2025, 1, 16),
        ),
        (
            "https://scjgj.sh.gov.cn/1073/20250112/dd44ee55ff6677889900aa11bb22cc33.html",
            "关于网络直播营销活动的合规指引",
            _sh(2025, 1, 12),
        ),
    ]


def test_selectors_that_match_nothing_give_no_entries():
    url = "https://scjgj.sh.gov.cn/1073/index.html"
    source = _source(url, selectors=Selectors(item="ul.not-there li"))
    assert parse_list(_page("scjgj/1073-list.html"), url, source) == []


def test_an_invalid_selector_gives_no_entries_instead_of_an_error():
    url = "https://scjgj.sh.gov.cn/1073/index.html"
    source = _source(url, selectors=Selectors(item="tr[[["))
    assert parse_list(_page("scjgj/1073-list.html"), url, source) == []


# --- the article-URL fallback ---------------------------------------------------------------


def test_english_portal_triplets_through_the_fallback():
    url = "https://english.shanghai.gov.cn/en-LatestNews/index.html"
    entries = parse_list(_page("english/latest-news.html"), url, _source(url, lang="en"))
    assert [(e.title, e.published, e.summary) for e in entries] == [
        (
            "Shanghai unveils plan to build 100 unmanned factories",
            _sh(2025, 1, 16),
            "The municipal government issued an action plan on Thursday to speed up smart manufacturing across the city.",
        ),
        (
            "Online exhibitions draw record crowds",
            _sh(2025, 1, 15),
            "More than 2 million visitors attended cloud exhibitions hosted by Shanghai venues last year.",
        ),
        (
            "Telemedicine services expand to suburban districts",
            _sh(2025, 1, 14),
            "Internet hospitals now cover every district, the Shanghai Municipal Health Commission said.",
        ),
    ]
    assert entries[0].url == (
        "https://english.shanghai.gov.cn/en-LatestNews/20250116/3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b.html"
    )


def test_unknown_markup_falls_back_to_article_links_with_nearby_dates():
    url = "https://sww.sh.gov.cn/zxxxgk/index.html"
    entries = parse_list(_page("sww/redesigned-list.html"), url, _source(url))
    assert [(e.url, e.title, e.published) for e in entries] == [
        (
            "https://sww.sh.gov.cn/zxxxgk/20250116/ee55ff6677889900aa11bb22cc33dd44.html",
            "关于组织开展2025年在线展会支持项目申报的通知",  # the image link before it has no title
            _sh(2025, 1, 16),
        ),
        (
            "https://sww.sh.gov.cn/zxxxgk/20241230/ff6677889900aa11bb22cc33dd44ee55.html",
            "2024年上海市网络零售额同比增长8.5%",
            _sh(2024, 12, 30, 17, 45),  # the date text, with its time, beats the URL's folder date
        ),
    ]


def test_fallback_uses_the_url_date_when_the_page_shows_none():
    url = "https://fgw.sh.gov.cn/fgw_zxxxgk/index.html"
    page = b'<div><a href="/fgw_zxxxgk/20240301/0123456789abcdef0123456789abcdef.html">Notice</a></div>'
    entries = parse_list(page, url, _source(url))
    assert [(e.title, e.published) for e in entries] == [("Notice", _sh(2024, 3, 1))]


# --- feeds ----------------------------------------------------------------------------------


def test_rss_feed():
    url = "https://fgw.sh.gov.cn/fgw_zxxxgk/index.html"
    entries = parse_list(_page("feeds/rsshub-fgw.rss.xml"), url, _source(url, kind="rss"))
    assert [(e.url, e.title, e.published, e.summary) for e in entries] == [
        (
            "https://fgw.sh.gov.cn/fgw_zxxxgk/20200408/4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b.html",
            "关于印发《上海市促进在线新经济发展行动方案》的通知",
            _sh(2020, 4, 8, 10, 30),
            "为贯彻落实市委、市政府部署， 现将行动方案印发给你们。",
        ),
        (
            "https://fgw.sh.gov.cn/fgw_fzggdt/20200407/5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c.html",
            "本市发展改革工作情况",
            _sh(2020, 4, 7, 18, 0),
            "简要说明",
        ),
    ]  # the entry without a link is skipped


def test_atom_feed_uses_published_then_updated():
    url = "https://rsshub.example/gov/sh/wsjkw/yqtb"
    entries = parse_list(_page("feeds/wsjkw-yqtb.atom.xml"), url, _source(url, kind="rss"))
    assert [(e.url, e.published, e.summary) for e in entries] == [
        (
            "https://wsjkw.sh.gov.cn/xwfb/20220426/d4d847dcf3f64fcab102cf5a65656891.html",
            _sh(2022, 4, 26, 8, 10),
            "2022年4月25日0—24时，新增本土新冠肺炎确诊病例1661例。",
        ),
        ("https://mp.weixin.qq.com/s/IrtFkZDWaB6io18QXwuQ9g", _sh(2022, 4, 26, 8, 30), ""),
    ]
    assert entries[1].title == "4月25日（0-24时）本市各区确诊病例、无症状感染者居住地信息"


def test_feed_summary_html_becomes_text_without_scripts_and_relative_links_resolve():
    # feedparser's own sanitizing is off (strip_html does that work): what a script or a style
    # in a summary says must still never reach the text, and a relative link is made absolute
    url = "https://rsshub.example/gov/sh/sheitc"
    feed = """<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>
    <item><title>&lt;b&gt;在线新经济&lt;/b&gt;推进会</title><link>/sheitc/20260613/a.html</link>
    <description>&lt;style&gt;p{color:red}&lt;/style&gt;&lt;script&gt;alert("x")&lt;/script&gt;&lt;p&gt;会议部署&lt;a href="/x.html"&gt;十二个重点领域&lt;/a&gt;。&lt;/p&gt;</description>
    </item></channel></rss>""".encode()
    [entry] = parse_list(feed, url, _source(url, kind="rss"))
    assert (entry.url, entry.title, entry.summary) == (
        "https://rsshub.example/sheitc/20260613/a.html", "在线新经济推进会", "会议部署十二个重点领域。"
    )


# --- garbage --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [b"", b"\x00\x01\x02\xff" * 100, b"<html><body><p>nothing here</p></body></html>", b"<ul class='nowrapli list-date'><li>", b"not a feed"],
)
@pytest.mark.parametrize("kind", ["html", "rss"])
def test_garbage_gives_no_entries(content, kind):
    url = "https://wsjkw.sh.gov.cn/xwfb/index.html"
    assert parse_list(content, url, _source(url, kind=kind)) == []


# --- the real wsjkw list page ---------------------------------------------------------------


def test_real_wsjkw_list_page(shared_dir: Path):
    page = shared_dir / "fixtures" / "wsjkw.sh.gov.cn" / "yqtb-list_2022-04-27.html"
    url = "https://wsjkw.sh.gov.cn/yqtb/index.html"
    entries = parse_list(page.read_bytes(), url, _source(url))
    assert len(entries) == 20
    assert len({e.url for e in entries}) == 20
    local = [e for e in entries if e.url.startswith("https://wsjkw.sh.gov.cn/xwfb/")]
    weixin = [e for e in entries if e.url.startswith("https://mp.weixin.qq.com/s/")]
    assert (len(local), len(weixin)) == (9, 11)
    first, third = entries[0], entries[2]
    assert first.url == "https://mp.weixin.qq.com/s/SIuDbITNdgWwYyM3eiyrgg"
    assert first.title == "4月26日（0-24时）本市各区确诊病例、无症状感染者居住地信息"
    assert first.published == _sh(2022, 4, 27)
    assert third.url == "https://wsjkw.sh.gov.cn/xwfb/20220426/d4d847dcf3f64fcab102cf5a65656891.html"
    assert third.title.startswith("上海2022年4月25日，新增本土新冠肺炎确诊病例1661例 新增本土无症状感染者15319例")
    assert third.published.isoformat() == "2022-04-26T00:00:00+08:00"
    assert entries[-1].url == "https://mp.weixin.qq.com/s/dRa-PExJr1qkRis88eGCnQ"
    assert entries[-1].published == _sh(2022, 4, 17)
    assert all(e.published is not None and e.title for e in entries)
    # newest first, as the page lists them
    assert [e.published for e in entries] == sorted((e.published for e in entries), reverse=True)


# --- the lxml fast path for shared-CMS lists gives what the BeautifulSoup adapter gives ------

_H = "/nw4411/20250116/0f3a6c2d9b8e4f17a5c4d3e2b1a09876.html"
_TRICKY_CMS_PAGES = [
    # comments, script, ruby and nested markup inside the link; two spans, the second .time
    f'<ul class="nowrapli list-date"><li><a href="{_H}">上海<!--c-->无人<script>x</script><b>工厂</b>'
    f'<ruby>字<rt>zi</rt><rp>(</rp></ruby></a><span>2026-1-2</span><span class="x time">2025-03-04 10:11</span></li></ul>',
    # a <base>, a link-less row, an empty href before a good one, a javascript: link, tabs in class
    f'<base href="/other/"><ul class="nowrapli\tlist-date"><li><a href="x/20250101/0123456789abcdef0123456789abcdef.html">rel</a>'
    f'</li><li><a>no</a></li><li><a href="">empty</a><a href="{_H}">second</a></li><li><a href="javascript:void(0)">js</a></li></ul>',
    # a template: CSS selection does not enter it, find() does, get_text() skips its strings
    f'<ul class="nowrapli list-date"><li><template><a href="{_H}">in tpl</a><span class="time">2001-01-01</span></template>'
    f'<span>2002-02-02</span></li><li><a href="{_H}?2" title="tt"><template>x</template>y</a></li></ul>'
    f'<template><ul class="nowrapli list-date"><li><a href="{_H}?3">hidden</a></li></ul></template>',
    # nested lists (document order), upper-case markup, a BOM, entities, unclosed items
    f'\ufeff<UL CLASS="uli16 NOWRAPLI list-date"><LI><A HREF="{_H}">no: class case differs</A></LI></UL>'
    f'<ul class="list-date nowrapli"><li><a href="{_H}" title=" 标题 &amp; 更多 ">x</a><ul class="nowrapli list-date">'
    f'<li><a href="/a/20240101/0123456789abcdef0123456789abcdef.html">inner</a><span>2024年1月1日</span></li></ul>'
    f'<span class="time">2023.05.06</span></li><li><a href="/b/20240102/0123456789abcdef0123456789abcdef.html">unclosed'
    f'<li><a href="/c/20240103/0123456789abcdef0123456789abcdef.html">next</a></ul>',
]


@pytest.mark.parametrize("text", _TRICKY_CMS_PAGES + [(PAGES / "shgov" / "nw4411-list.html").read_text("utf-8")])
def test_lxml_cms_path_gives_what_the_beautifulsoup_adapter_gives(text):


    url = "https://www.shanghai.gov.cn/nw4411/index.html"
    soup = BeautifulSoup(text, "lxml")
    expected = parse._cms_entries(soup, parse._document_base(soup, url))
    assert expected  # each page has CMS items, so the comparison means something
    assert parse._fast_cms_entries(text, url) == expected
