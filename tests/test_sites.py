"""Which site a URL belongs to (the redirect and article-fetch rule), and the dates article
URLs of the common CMS families carry. Pure: no network."""

from __future__ import annotations

from datetime import date

import pytest

from monitors.urls import same_site, site_of, url_date, url_has_date, within_site


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("https://www.shanghai.gov.cn/nw4411/index.html", "https://shanghai.gov.cn/nw4411/index.html", True),
        ("https://www.shanghai.gov.cn/a.html", "https://english.shanghai.gov.cn/b.html", True),
        ("https://wsjkw.sh.gov.cn/xwfb/index.html", "https://www.sh.gov.cn/x.html", True),
        ("http://WWW.Shanghai.GOV.cn:8080/a", "https://www.shanghai.gov.cn/b", True),  # case, port, scheme
        ("https://www.shanghai.gov.cn/a", "https://www.beijing.gov.cn/a", False),  # gov.cn is a public suffix
        ("https://www.shanghai.gov.cn/a", "https://mp.weixin.qq.com/s/x", False),
        ("https://a.com.cn/x", "https://b.com.cn/x", False),
        ("https://one.github.io/x", "https://two.github.io/x", False),  # a private suffix in the list
        ("http://127.0.0.1:8000/a", "http://127.0.0.1:9000/b", True),
        ("http://127.0.0.1/a", "http://127.0.0.2/a", False),
        ("http://127.0.0.1/a", "http://localhost/a", False),
        ("https://www.上海.gov.cn/a", "https://xn--fhqz97e.gov.cn/b", True),  # IDN as written or as punycode
        ("https://www.shanghai.gov.cn/a", "/relative/only", False),
    ],
)
def test_same_site(a: str, b: str, same: bool):
    assert same_site(a, b) is same
    assert same_site(b, a) is same


def test_site_of_is_the_registrable_domain():
    assert site_of("www.shanghai.gov.cn") == "shanghai.gov.cn"
    assert site_of("wsjkw.sh.gov.cn") == "sh.gov.cn"
    assert site_of("localhost") == "localhost"
    assert site_of("127.0.0.1") == "127.0.0.1"


def test_within_site_is_the_same_site_or_an_allowed_host():
    origin = "https://www.shanghai.gov.cn/nw4411/index.html"
    assert within_site("https://shanghai.gov.cn/nw4411/index.html", origin)
    assert not within_site("https://fgw.sh.gov.cn/x.html", origin)
    assert within_site("https://fgw.sh.gov.cn/x.html", origin, ("fgw.sh.gov.cn",))
    assert not within_site("https://www.fgw.sh.gov.cn/x.html", origin, ("fgw.sh.gov.cn",))  # hosts, not domains
    assert not within_site("https://mp.weixin.qq.com/s/x", origin, ("fgw.sh.gov.cn",))


@pytest.mark.parametrize(
    ("url", "day"),
    [
        ("https://www.shanghai.gov.cn/nw4411/20250116/0f3a6c2d9b8e4f17a5c4d3e2b1a09876.html", date(2025, 1, 16)),
        ("http://www.example.gov.cn/xxgk/tzgg/202008/t20200802_1352104.html", date(2020, 8, 2)),
        ("http://www.example.gov.cn/art/2021/5/6/art_123_456.html", date(2021, 5, 6)),
        ("http://www.news.cn/politics/2021-05/06/c_1127411.htm", date(2021, 5, 6)),
        ("http://politics.people.com.cn/n1/2021/0506/c1001-32095500.html", date(2021, 5, 6)),
        ("http://www.example.gov.cn/news/20210506/1234.html", date(2021, 5, 6)),
        ("http://www.example.gov.cn/art/2021/2/30/art_1_2.html", None),  # no such day
        ("http://www.example.gov.cn/news/show.aspx?id=20210506", None),  # the query is no date
        ("http://www.example.gov.cn/xxgk/202008/abc.html", None),  # a month, not a day
    ],
)
def test_url_date(url: str, day: date | None):
    assert url_date(url) == day


def test_a_month_folder_dates_a_url_without_a_day():
    assert url_has_date("http://www.example.gov.cn/xxgk/202008/abc.html")
    assert not url_has_date("http://www.example.gov.cn/news/show.aspx?id=1234")
    assert not url_has_date("http://www.example.gov.cn/xxgk/209913/abc.html")
