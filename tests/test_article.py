"""Article pages to title, time, organ and body (monitors.article)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from monitors.article import extract_article
from monitors.dates import SHANGHAI
from monitors.model import Article

PAGES = Path(__file__).parent / "fixtures" / "pages"


def _page(name: str) -> bytes:
    return (PAGES / name).read_bytes()


def _sh(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=SHANGHAI)


def test_cms_metas_win_over_the_malformed_title_element():
    article = extract_article(_page("shgov/article-metas.html"), "https://www.shanghai.gov.cn/nw4411/20200408/x.html")
    assert article.title == "上海市人民政府办公厅印发《上海市促进在线新经济发展行动方案（2020-2022年）》"
    assert article.published == _sh(2020, 4, 8, 14, 6)  # PubDate written with U+2236
    assert article.organ == "上海市人民政府办公厅"
    assert article.body.split("\n") == [
        "各区人民政府，市政府各委、办、局：",
        "经市政府同意，现将《上海市促进在线新经济发展行动方案（2020-2022年）》印发给你们，请认真按照执行。",
        "到2022年末，将上海打造成具有国际影响力、国内领先的在线新经济发展高地，集聚“互联网+”生活性服务业、在线新经济领域的100家以上创新型企业。",
        "上海市人民政府办公厅",
        "2020年4月8日",
    ]  # no script text, no share bar, no footer, no empty lines


def test_body_only_in_ivs_content_with_ivs_date():
    url = "https://wsjkw.sh.gov.cn/xwfb/20220426/d4d847dcf3f64fcab102cf5a65656891.html"
    article = extract_article(_page("wsjkw/article-ivs-only.html"), url)
    assert article.title == "上海2022年4月25日，新增本土新冠肺炎确诊病例1661例"  # the malformed h2, cleaned
    assert article.published == _sh(2022, 4, 26)  # '( 2022-04-26)'
    assert article.organ is None
    assert article.body == (
        "2022年4月25日0—24时，新增本土新冠肺炎确诊病例1661例和无症状感染者15319例，其中1019例确诊病例为此前无症状感染者转归。\n"
        "新增境外输入性新冠肺炎确诊病例0例。\n"
        "截至4月25日24时，累计本土确诊病例31111例。"  # inline spans stay on one line
    )


def test_density_extractor_when_no_known_container():
    article = extract_article(_page("generic/article-no-container.html"), "https://example.org/story")
    assert article.title == "Shanghai launches remote office pilot for 500 firms"  # og:title
    assert article.published == _sh(2025, 1, 16, 10, 30)  # article:published_time in UTC
    lines = article.body.split("\n")
    assert lines[1:] == [
        "The Shanghai Municipal Commission of Economy and Informatization launched a remote office pilot on Thursday covering 500 companies.",
        "Firms taking part will receive subsidies of up to 2 million yuan for cloud collaboration tools, the commission said in a statement.",
        "The pilot runs until the end of 2025 and will be reviewed by an expert panel, according to the policy.",
    ]
    assert "Most read" not in article.body and "Copyright" not in article.body and "track(" not in article.body


def test_gb2312_labelled_article_with_gbk_only_characters():
    url = "https://www.shanghai.gov.cn/nw2/20180305/0123456789abcdef0123456789abcdef.html"
    article = extract_article(_page("shgov/article-gb2312-gbk-chars.html"), url)
    assert article.title == "朱镕基同志生平展在沪开幕"
    assert article.published == _sh(2018, 3, 5, 9, 30)
    assert article.organ == "上海市人民政府新闻办公室"
    assert article.body == "3月5日，朱镕基同志生平展在上海开幕，王喆等参观了展览。\n展览共展出照片300余幅。"


def test_forced_encoding_beats_a_wrong_header():
    page = '<html><body><div id="ivs_content"><p>王喆出席会议并讲话，强调推进在线新经济。</p></div></body></html>'
    article = extract_article(page.encode("utf-8"), "https://x.sh.gov.cn/a.html", header_charset="gbk", forced_encoding="utf-8")
    assert article.body == "王喆出席会议并讲话，强调推进在线新经济。"


def test_title_tag_fallback_drops_the_site_name_and_url_gives_the_date():
    page = (
        '<html><head><meta name="SiteName" content="上海市商务委员会"><title>关于在线展会的通知_上海市商务委员会</title></head>'
        '<body><div class="TRS_Editor"><p>各有关单位：现将有关事项通知如下。</p></div></body></html>'
    )
    url = "https://sww.sh.gov.cn/zxxxgk/20250116/ee55ff6677889900aa11bb22cc33dd44.html"
    article = extract_article(page.encode("utf-8"), url)
    assert article == Article(title="关于在线展会的通知", published=_sh(2025, 1, 16), organ=None, body="各有关单位：现将有关事项通知如下。")


def test_empty_known_container_falls_through_to_the_next():
    page = (
        '<html><body><div id="ivs_content">  <p> </p> </div>'
        '<div id="UCAP-CONTENT"><p>上海市经济信息化委发布工业互联网创新发展行动计划。</p></div></body></html>'
    )
    assert extract_article(page.encode(), "https://x/a.html").body == "上海市经济信息化委发布工业互联网创新发展行动计划。"


@pytest.mark.parametrize(
    "content",
    [b"", b"\x00\xff\xfe garbage \x81", b"<html><body><nav><a href='/'>Home</a></nav></body></html>", b"<<<>>>"],
)
def test_garbage_gives_an_empty_body_and_never_raises(content):
    article = extract_article(content, "https://mp.weixin.qq.com/s/abc")
    assert article.body == ""
    assert article.published is None


# --- paragraph boundaries: one paragraph a line, whatever the page's source looks like ---


def _ivs(inner: str) -> bytes:
    return f'<html><body><div id="ivs_content">{inner}</div></body></html>'.encode("utf-8")


def test_written_out_crlf_is_a_soft_wrap_inside_a_paragraph_and_a_break_when_doubled():
    # the text of en.sww.sh.gov.cn/2021-05/19/c_424810.htm, which stores \r\n as two visible characters
    page = _ivs(
        r"<p>Shanghai is consolidating its position as a hub for the online new \r\neconomy, a year after the "
        r"municipal government released a guideline to \r\nbolster the sector's development.\r\n\r\nAccording to a "
        r"recent report, the metropolis saw internet-related \r\nbusinesses to be a cornerstone.</p>"
    )
    body = extract_article(page, "https://en.sww.sh.gov.cn/2021-05/19/c_424810.htm").body
    assert body.split("\n") == [
        "Shanghai is consolidating its position as a hub for the online new economy, a year after the municipal "
        "government released a guideline to bolster the sector's development.",
        "According to a recent report, the metropolis saw internet-related businesses to be a cornerstone.",
    ]


def test_a_source_newline_inside_a_paragraph_is_a_soft_wrap():
    # www.galy888.net/28979.html's lead, wrapped in the page source inside one <p>
    page = _ivs("<p>上海市統計局今天發布,今年上半年,全市生產\n   總值完成16409.94億元,\n比去年同期增長5.9%。</p><p>上半年,上海經濟運行總體平穩。</p>")
    assert extract_article(page, "https://x.sh.gov.cn/a.html").body.split("\n") == [
        "上海市統計局今天發布,今年上半年,全市生產總值完成16409.94億元,比去年同期增長5.9%。",
        "上半年,上海經濟運行總體平穩。",
    ]


def test_indented_paragraphs_in_one_text_node_come_out_on_their_own_lines():
    # the old CMS layout: paragraphs marked only by an ideographic indent, as on www.shanghai.gov.cn
    page = _ivs(
        "\u3000\u3000市统计局昨天公布数据,一季度上海市地区生产总值(GDP)10010.25亿元,比去年同期增长3.1%。"
        "\u3000\u3000工业方面,一季度,全市规模以上工业增加值同比增长3.9%。\n"
        "\u3000\u3000上海新经济新动能韧性凸显。"
    )
    assert extract_article(page, "https://x.sh.gov.cn/a.html").body.split("\n") == [
        "市统计局昨天公布数据,一季度上海市地区生产总值(GDP)10010.25亿元,比去年同期增长3.1%。",
        "工业方面,一季度,全市规模以上工业增加值同比增长3.9%。",
        "上海新经济新动能韧性凸显。",
    ]
