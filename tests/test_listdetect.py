"""The generic list detector on pages of unknown layout: hand-written pages in the shapes of
the common Chinese government CMS families (tests/fixtures/pages/generic/README.md), and the
real wsjkw list page from ../shared when it is there."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from config.model import Source
from monitors.dates import SHANGHAI
from monitors.listdetect import detect_list
from monitors.parse import parse_list

GENERIC = Path(__file__).parent / "fixtures" / "pages" / "generic"


def _parse(name: str, url: str):
    return parse_list((GENERIC / name).read_bytes(), url, Source(id="t", name="t", url=url))


def _day(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, tzinfo=SHANGHAI)


def test_trs_list_in_blocks_of_five_beats_the_dated_sidebar():
    url = "http://www.example.gov.cn/xxgk/tzgg/index.html"
    entries = _parse("trs-tzgg-list.html", url)
    assert len(entries) == 10  # both <ul class="list"> blocks; not the 3 "hot" links, menus or footer
    assert (entries[0].url, entries[0].title, entries[0].published) == (
        "http://www.example.gov.cn/xxgk/tzgg/202008/t20200802_1352104.html",
        "关于开展2020年度在线新经济重点企业申报工作的通知",
        _day(2020, 8, 2),
    )
    assert entries[3].url == "http://www.shanghai.gov.cn/nw12344/20200727/0001-12344_64915.html"  # another site: kept
    assert entries[-1].url.endswith("/xxgk/tzgg/202006/t20200630_1340945.html")
    assert [e.published.date().isoformat() for e in entries[4:7]] == ["2020-07-24", "2020-07-20", "2020-07-15"]
    assert not any("gzdt" in e.url for e in entries)


def test_hanweb_list_held_in_a_datastore_script():
    url = "http://www.example.gov.cn/col/col1211/index.html"
    entries = _parse("hanweb-datastore-list.html", url)
    assert [(e.url, e.published) for e in entries] == [
        ("http://www.example.gov.cn/art/2021/5/6/art_1211_456789.html", _day(2021, 5, 6)),
        ("http://www.example.gov.cn/art/2021/5/6/art_1211_456788.html", _day(2021, 5, 6)),
        ("http://www.example.gov.cn/art/2021/4/30/art_1211_456501.html", _day(2021, 4, 30)),
        ("https://mp.weixin.qq.com/s/Hw3bK9xQeP2LmT7aZ1cV5g", _day(2021, 4, 28)),
        ("http://www.example.gov.cn/art/2021/4/26/art_1211_456120.html", _day(2021, 4, 26)),
    ]
    assert entries[2].title == "区教育局推进“空中课堂”常态化应用"


def test_id_query_urls_in_a_table_with_a_header_row_and_alternating_rows():
    url = "http://www.example.org.cn/News/List.aspx?cid=3"
    entries = _parse("aspx-id-table-list.html", url)
    assert [e.url.rsplit("=", 1)[1] for e in entries] == ["10234", "10229", "10221", "10217", "10208", "10203"]
    assert entries[0].url == "http://www.example.org.cn/News/NewsDetail.aspx?id=10234"
    assert entries[0].title == "关于2021年度工业互联网创新发展专项资金项目的公示"
    assert [e.published for e in entries[:2]] == [_day(2021, 5, 6), _day(2021, 4, 29)]


def test_div_cards_with_the_date_inside_the_link_and_an_abstract_beside_it():
    url = "https://www.example.org.cn/news/"
    entries = _parse("div-cards-list.html", url)
    assert [(e.url, e.title, e.published, e.summary) for e in entries] == [
        (
            "https://www.example.org.cn/news/detail/8812",
            "数字化转型服务中心启用在线政务服务专窗",  # the date inside the link is no part of the title
            _day(2021, 5, 6),
            "专窗提供企业开办、证照办理等事项的全程网上办理和远程视频指导服务。",
        ),
        (
            "https://www.example.org.cn/news/detail/8807",
            "“云上展厅”上线首月访问量突破五十万人次",
            _day(2021, 4, 30),
            "展厅汇集了本市一百余家企业的新产品和新技术，支持在线洽谈和直播讲解。",
        ),
        (
            "https://www.example.org.cn/news/detail/8795",
            "中心举办工业互联网平台应用对接会",
            _day(2021, 4, 21),
            "四十余家制造企业与平台服务商现场对接，签约项目十二个。",
        ),
    ]  # not the banner image link, the menu, the pager or the footer


def test_dt_titles_with_dd_dates_after_them():
    entries = _parse("dl-list.html", "http://www.example.gov.cn/xwzx/mtjj.html")
    assert [(e.url, e.published) for e in entries] == [
        ("http://www.example.gov.cn/xwzx/show-1201.html", _day(2021, 5, 6)),
        ("http://www.example.gov.cn/xwzx/show-1198.html", _day(2021, 4, 29)),
        ("http://www.example.gov.cn/xwzx/show-1190.html", _day(2021, 4, 20)),
    ]


def test_flat_links_in_one_cell_dated_by_the_text_after_each_in_a_gb2312_page():
    entries = _parse("flat-gb2312-list.html", "http://www.example.gov.cn/tzgg/index.htm")
    assert [(e.url, e.title, e.published) for e in entries] == [
        ("http://www.example.gov.cn/info/1203.htm", "关于镕铸工匠精神推进智能制造的倡议书", _day(2019, 3, 8)),
        ("http://www.example.gov.cn/info/1199.htm", "关于陶喆等同志在线教育志愿服务的表彰通报", _day(2019, 2, 27)),
        ("http://www.example.gov.cn/info/1195.htm", "关于春节期间网上办事服务安排的通知", _day(2019, 1, 30)),
        ("http://www.example.gov.cn/info/1190.htm", "关于开展企业上云情况调查的通知", _day(2019, 1, 15)),
    ]


def test_menus_pagers_and_a_dated_footer_are_no_list():
    assert _parse("portal-no-list.html", "http://www.example.gov.cn/zwgk/index.html") == []


def _detect(html: str, url: str = "http://www.example.gov.cn/col/index.html"):
    return detect_list(BeautifulSoup(html, "lxml"), url)


def test_a_column_link_repeated_in_every_row_is_not_the_title_even_when_longer():
    rows = "".join(
        f'<li><a href="/col/tzgg/index.html">[区政府办公室通知公告栏目]</a><a href="/info/{n}.html">关于停水的通知{n}</a>'
        f"<span>2021-05-0{n}</span></li>"
        for n in (3, 2, 1)
    )
    entries = _detect(f"<ul>{rows}</ul>")
    assert [(e.url, e.title) for e in entries] == [
        (f"http://www.example.gov.cn/info/{n}.html", f"关于停水的通知{n}") for n in (3, 2, 1)
    ]


def test_links_whose_text_is_only_a_date_or_very_short_are_not_items():
    archive = "".join(f'<li><a href="/archive/2021050{n}.html">2021-05-0{n}</a><span>2021-05-0{n}</span></li>' for n in (1, 2, 3))
    pager = "".join(f'<li><a href="/list_{n}.html">{n}</a><span>2021-05-0{n}</span></li>' for n in (1, 2, 3))
    assert _detect(f"<ul>{archive}</ul><ul class='p'>{pager}</ul>") == []


def test_one_dated_link_is_not_a_list_and_dates_in_the_url_alone_are_enough():
    assert _detect('<div><a href="/info/1.html">关于停水的通知</a> 2021-05-06</div>') == []
    entries = _detect(
        '<ul><li><a href="./202008/t20200802_1.html">关于停水的通知</a></li>'
        '<li><a href="./202008/abc.html">关于停电的通知</a></li><li><a href="./about.html">关于我们的介绍</a></li></ul>'
    )
    # a day in the URL dates the entry; a month folder makes it a list item without a day
    assert [(e.url.rsplit("/", 1)[1], e.published) for e in entries] == [
        ("t20200802_1.html", _day(2020, 8, 2)),
        ("abc.html", None),
    ]


# --- the real wsjkw list page: the detector alone finds what the shared-CMS adapter finds ----


def test_detector_alone_on_the_real_wsjkw_list_page(shared_dir: Path):
    page = (shared_dir / "fixtures" / "wsjkw.sh.gov.cn" / "yqtb-list_2022-04-27.html").read_bytes()
    url = "https://wsjkw.sh.gov.cn/yqtb/index.html"
    by_cms = parse_list(page, url, Source(id="t", name="t", url=url))
    detected = detect_list(BeautifulSoup(page.decode("utf-8"), "lxml"), url)
    assert len(detected) == 20
    assert [(e.url, e.title, e.published) for e in detected] == [(e.url, e.title, e.published) for e in by_cms]


@pytest.mark.parametrize("html", ["", "<html></html>", "<a href='/x.html'>关于停水的通知</a>", "<ul><li><a>no href</a> 2021-05-06</li></ul>"])
def test_pages_with_nothing_to_find(html: str):
    assert _detect(html) == []
