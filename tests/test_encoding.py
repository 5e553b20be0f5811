"""Decoding pages, canonical URLs and the sites' date formats (monitors.encoding/urls/dates)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from monitors.dates import SHANGHAI, parse_datetime
from monitors.encoding import decode_html, looks_like_html, normalize_charset, sniff_meta_charset
from monitors.urls import ARTICLE_URL, article_date, canonical_url, resolve

PAGES = Path(__file__).parent / "fixtures" / "pages"
GBK_ONLY = "朱镕基 王喆"


# --- encoding -------------------------------------------------------------------------------


@pytest.mark.parametrize("label", ["gb2312", "GB2312", "gbk", "GB_2312-80", "x-gbk", "cp936", '"gb2312"', "gb18030"])
def test_gb_labels_all_decode_as_gb18030(label):
    assert normalize_charset(label) == "gb18030"


def test_unknown_or_empty_labels_are_no_charset():
    assert normalize_charset("no-such-charset") is None
    assert normalize_charset("  ") is None
    assert normalize_charset(None) is None
    assert normalize_charset("UTF8") == "utf-8"


def test_gb2312_label_with_gbk_only_characters_keeps_them():
    raw = f"<p>{GBK_ONLY}</p>".encode("gbk")
    with pytest.raises(UnicodeDecodeError):
        raw.decode("gb2312")  # the premise: a strict gb2312 decoder loses these pages
    assert decode_html(raw, "gb2312") == f"<p>{GBK_ONLY}</p>"


def test_meta_charset_is_used_when_the_header_has_none():
    raw = (PAGES / "shgov" / "article-gb2312-gbk-chars.html").read_bytes()
    assert sniff_meta_charset(raw) == "gb18030"
    text = decode_html(raw, None)
    assert "朱镕基同志生平展在沪开幕" in text and "王喆" in text and "\ufffd" not in text


def test_html5_meta_charset_is_sniffed():
    raw = '<html><head><meta charset="GBK"></head><body>王喆</body></html>'.encode("gbk")
    assert decode_html(raw, None) == '<html><head><meta charset="GBK"></head><body>王喆</body></html>'


def test_forced_beats_header_beats_meta():
    raw = '<meta charset="gb2312"><p>上海</p>'.encode("utf-8")
    assert decode_html(raw, "gbk", forced="utf-8") == '<meta charset="gb2312"><p>上海</p>'
    assert decode_html(raw, "utf-8") == '<meta charset="gb2312"><p>上海</p>'
    # the lying meta would have won without the header: UTF-8 bytes read as GB18030
    assert decode_html(raw, None) != '<meta charset="gb2312"><p>上海</p>'


def test_undeclared_page_is_utf8_and_a_stray_byte_does_not_switch_codecs():
    raw = ("上海市卫生健康委员会" * 50).encode("utf-8") + b"\xff"
    text = decode_html(raw, None)
    assert text.startswith("上海市卫生健康委员会") and text.endswith("\ufffd")


def test_undeclared_gbk_page_falls_back_to_gb18030():
    raw = ("<p>" + GBK_ONLY + "，上海市人民政府发布通知。</p>").encode("gbk")
    assert decode_html(raw, None) == "<p>" + GBK_ONLY + "，上海市人民政府发布通知。</p>"


def test_unknown_header_charset_falls_through_and_nothing_raises():
    assert decode_html("上海".encode("utf-8"), "x-no-such-codec") == "上海"
    assert decode_html(b"", "utf-8") == ""
    assert decode_html(b"\x81\xff\xfe\x00garbage", "utf-16") != ""


def test_utf8_bom_is_not_text():
    assert decode_html(b"\xef\xbb\xbf<p>hi</p>", None) == "<p>hi</p>"
    assert decode_html(b"\xef\xbb\xbf<p>hi</p>", "utf-8") == "<p>hi</p>"


def test_looks_like_html():
    assert looks_like_html(b"  <!DOCTYPE html><html>", None)
    assert looks_like_html(b"whatever", "text/html; charset=utf-8")
    assert not looks_like_html(b"%PDF-1.7 ...", None)
    assert not looks_like_html(b"<html>", "application/pdf")
    assert not looks_like_html(b'{"a": 1}', "application/json")


# --- URLs -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("HTTPS://WSJKW.sh.gov.cn:443/xwfb//20220426/d4.html#top", "https://wsjkw.sh.gov.cn/xwfb/20220426/d4.html"),
        ("http://www.Shanghai.gov.cn:80/nw4411/../nw12344/./index.html?page=2", "http://www.shanghai.gov.cn/nw12344/index.html?page=2"),
        ("http://127.0.0.1:8081/list.html", "http://127.0.0.1:8081/list.html"),
        ("https://mp.weixin.qq.com/s/SIuDbITNdgWwYyM3eiyrgg", "https://mp.weixin.qq.com/s/SIuDbITNdgWwYyM3eiyrgg"),
        ("https://example.org", "https://example.org/"),
        ("https://example.org/a/b/", "https://example.org/a/b/"),
    ],
)
def test_canonical_url(url, canonical):
    assert canonical_url(url) == canonical


def test_resolve_normalises_shio_style_hrefs_before_joining():
    base = "https://www.shio.gov.cn/TrueCMS/shxwbgs/ywts/ywts.html"
    assert resolve(base, "../..//shxwbgs/ywts/content/ab-1.html") == (
        "https://www.shio.gov.cn/TrueCMS/shxwbgs/ywts/content/ab-1.html"
    )
    assert resolve(base, "content/x.htm?id=3#c") == "https://www.shio.gov.cn/TrueCMS/shxwbgs/ywts/content/x.htm?id=3"


@pytest.mark.parametrize("href", ["", "   ", "#", "#top", "javascript:void(0)", "JavaScript:go()", "mailto:a@b.cn", "tel:12345"])
def test_resolve_rejects_non_page_links(href):
    assert resolve("https://wsjkw.sh.gov.cn/yqtb/index.html", href) is None


def test_resolve_keeps_foreign_absolute_links():
    assert resolve("https://wsjkw.sh.gov.cn/yqtb/index.html", " https://mp.weixin.qq.com/s/Ab-c_9 ") == (
        "https://mp.weixin.qq.com/s/Ab-c_9"
    )


def test_article_url_pattern():
    cms = "https://wsjkw.sh.gov.cn/xwfb/20220426/d4d847dcf3f64fcab102cf5a65656891.html"
    english = "https://english.shanghai.gov.cn/en-LatestNews/20250116/3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b.html"
    assert ARTICLE_URL.search("/xwfb/20220426/d4d847dcf3f64fcab102cf5a65656891.html").group("column") == "xwfb"
    assert article_date(cms).isoformat() == "2022-04-26"
    assert article_date(english).isoformat() == "2025-01-16"
    assert article_date("https://wsjkw.sh.gov.cn/xwfb/index.html") is None
    assert article_date("https://wsjkw.sh.gov.cn/xwfb/20221345/d4d847dcf3f64fcab102cf5a65656891.html") is None
    assert article_date("https://mp.weixin.qq.com/s/SIuDbITNdgWwYyM3eiyrgg") is None


# --- dates ----------------------------------------------------------------------------------


def _sh(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2022-04-26", _sh(2022, 4, 26)),
        ("2022-04-26 09:30", _sh(2022, 4, 26, 9, 30)),
        ("2022-04-26 09:30:15", _sh(2022, 4, 26, 9, 30, 15)),
        ("2026-06-13 14\u223606", _sh(2026, 6, 13, 14, 6)),
        ("2026-06-13 14：06", _sh(2026, 6, 13, 14, 6)),
        ("( 2022-04-26)", _sh(2022, 4, 26)),
        ("2025.01.16", _sh(2025, 1, 16)),
        ("2025/1/6", _sh(2025, 1, 6)),
        ("2022年4月26日", _sh(2022, 4, 26)),
        ("发布时间：2022年04月26日 10:05", _sh(2022, 4, 26, 10, 5)),
        ("January 16, 2025", _sh(2025, 1, 16)),
        ("Jan 16, 2025", _sh(2025, 1, 16)),
        ("Sept. 3, 2024", _sh(2024, 9, 3)),
        ("16 January 2025", _sh(2025, 1, 16)),
        ("Thu, 16 Jan 2025 02:30:00 GMT", _sh(2025, 1, 16, 10, 30)),
        ("Thu, 16 Jan 2025 10:30:00 +0800", _sh(2025, 1, 16, 10, 30)),
        ("2025-01-16T02:30:00Z", _sh(2025, 1, 16, 10, 30)),
        ("2025-01-16T10:30:00+08:00", _sh(2025, 1, 16, 10, 30)),
        ("２０２２－０４－２６", _sh(2022, 4, 26)),
    ],
)
def test_parse_datetime(text, expected):
    found = parse_datetime(text)
    assert found == expected
    assert found.utcoffset() == timedelta(hours=8)


def test_date_only_is_midnight_plus_eight():
    assert parse_datetime("2022-04-26").isoformat() == "2022-04-26T00:00:00+08:00"
    assert parse_datetime("2025-01-16T02:30:00Z").astimezone(timezone.utc).hour == 2


@pytest.mark.parametrize("text", ["", "   ", "garbage", "2022-13-45", "2022-02-30", "123456789", "Janury 16, 2025", "1850-01-01", None])
def test_garbage_dates_are_none(text):
    assert parse_datetime(text) is None
