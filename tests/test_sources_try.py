"""``shwatch sources try URL`` and the generic list detector in a real poll: pages in the shapes
of other CMS families served on 127.0.0.1 (tests/site_press.py), the command's own function
called end to end, the printed ``[[sources]]`` table loaded back with the settings loader and
polled into a real store."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from fake_press import free_port
from site_press import SitePress

from config.model import FetchSettings, Settings, Source, Topic
from config.settings import load_settings
from monitors.cli import cmd_sources_try
from monitors.fetch import Fetcher
from monitors.poll import Poller
from monitors.source_try import suggest_id, toml_string
from monitors.store import ItemStore
from monitors.tagger import Tagger

PAGES = Path(__file__).parent / "fixtures" / "pages"
TRS_LIST = (PAGES / "generic" / "trs-tzgg-list.html").read_text("utf-8")
TOPICS = (Topic("unmanned_factory", "无人工厂", "Unmanned factories", zh=("无人工厂",)),)
SETTINGS = Settings(database_url="unused", topics=TOPICS, fetch=FetchSettings(timeout=3, connect_timeout=1))
NEW_ITEM = (
    '<li><a href="./202008/t20200805_1353001.html" target="_blank" title="关于推进无人工厂建设的实施意见">'
    "关于推进无人工厂建设的实施意见</a><span>2020-08-05</span></li>"
)
TRS_ARTICLE = (
    '<html><head><meta charset="utf-8"><title>关于推进无人工厂建设的实施意见_通知公告</title></head><body>'
    '<div class="nav"><a href="../../">首页</a></div><h1>关于推进无人工厂建设的实施意见</h1>'
    '<div class="info">发布时间：2020-08-05 10:30　来源：区经委</div>'
    '<div class="TRS_Editor"><p>为加快建设无人工厂，推动制造业数字化转型，现提出如下意见。</p>'
    "<p>到2022年，建成一批智能工厂和无人工厂。</p></div></body></html>"
)


@pytest.fixture
def site():
    with SitePress() as running:
        yield running


def _pasted(out: str) -> str:
    """The [[sources]] table the command printed."""
    return out[out.index("[[sources]]"):].strip() + "\n"


def _load(tmp_path: Path, table: str):
    config = tmp_path / "pasted.toml"
    config.write_text(f'database_url = "sqlite+aiosqlite:///{tmp_path / "x.db"}"\n\n{table}', encoding="utf-8")
    (source,) = load_settings(config, env={}).sources
    return source


@pytest.mark.e2e
async def test_try_a_trs_page_then_poll_the_pasted_source(site, tmp_path, capsys, engine):
    url = site.page("/xxgk/tzgg/index.html", TRS_LIST)
    assert await cmd_sources_try(SETTINGS, url) == 0
    out = capsys.readouterr().out
    rows = {line.split("│")[1].strip(): line.split("│")[2].strip() for line in out.splitlines() if line.count("│") == 4}
    assert rows["feed / 订阅源 (RSS, Atom)"] == "0" and rows["shared CMS list / 上海政务网站通用列表"] == "0"
    assert rows["generic list / 自动识别的列表 ✓"] == "10"  # the one shwatch will use
    assert "关于开展2020年度在线新经济重点企业申报工作的通知" in out and "2020-08-02" in out
    assert f"{site.url('/xxgk/tzgg/202008/t20200802_1352104.html')}" in out

    source = _load(tmp_path, _pasted(out))
    assert (source.id, source.name, source.url, source.kind, source.lang, source.selectors) == (
        "127-0-0-1-xxgk-tzgg", "通知公告_信息公开_某区人民政府", url, "html", "zh", None,
    )

    store = ItemStore(engine)
    async with Fetcher(SETTINGS.fetch) as fetcher:
        poller = Poller(SETTINGS, store, fetcher, Tagger(TOPICS))
        baseline = await poller.poll_source(source)
        assert baseline.ok and baseline.seen == 10 and all(i.baseline for i in baseline.new_items)
        site.page("/xxgk/tzgg/index.html", TRS_LIST.replace('<ul class="list">', f'<ul class="list">{NEW_ITEM}', 1))
        site.page("/xxgk/tzgg/202008/t20200805_1353001.html", TRS_ARTICLE)
        report = await poller.poll_source(source)
    (item,) = report.new_items
    assert report.ok and report.seen == 11
    assert item.url == site.url("/xxgk/tzgg/202008/t20200805_1353001.html") and not item.baseline
    assert item.title == "关于推进无人工厂建设的实施意见" and item.topics == ("unmanned_factory",)
    assert item.body.startswith("为加快建设无人工厂") and item.extract_problem is None


async def test_try_a_feed_gives_an_rss_source(site, tmp_path, capsys):
    feed = (PAGES / "feeds" / "rsshub-fgw.rss.xml").read_bytes()
    url = site.page("/rss/fgw.xml", feed, content_type="application/rss+xml; charset=utf-8")
    assert await cmd_sources_try(SETTINGS, url) == 0
    out = capsys.readouterr().out
    assert "关于印发《上海市促进在线新经济发展行动方案》的通知" in out
    source = _load(tmp_path, _pasted(out))
    assert (source.kind, source.url, source.lang) == ("rss", url, "zh")


async def test_try_an_english_page_names_an_unused_id(site, tmp_path, capsys):
    url = site.list_url("en")
    taken = Settings(database_url="unused", sources=(Source("127-0-0-1-en", "x", url),), fetch=SETTINGS.fetch)
    assert await cmd_sources_try(taken, url) == 0
    source = _load(tmp_path, _pasted(capsys.readouterr().out))
    assert (source.id, source.lang, source.name) == ("127-0-0-1-en-2", "en", "Latest News")


@pytest.mark.parametrize(
    ("path", "exit_code", "message"),
    [
        ("/status/404", 1, "shwatch: cannot fetch {url}: HTTP 404 / 无法获取该页面：HTTP 404"),
        ("/image.png", 1, "shwatch: {url} is neither an HTML page nor a feed (1024 bytes of image/png) / 该地址既不是网页也不是订阅源"),
        ("/away.html", 1, "shwatch: {url} redirected to another site: localhost; try that address itself "
                          "(shwatch sources try http://localhost:{port}/xwfb/index.html) or, if it is the same publisher, "
                          'add allow_hosts = ["localhost"] to the source'),
    ],
)
async def test_a_page_that_cannot_be_tried_is_one_clear_line(site, capsys, path, exit_code, message):
    site.page("/image.png", b"\x89PNG\r\n\x1a\n" + bytes(1016), content_type="image/png")
    site.redirect("/away.html", site.other_host_url("/xwfb/index.html"))
    url = site.url(path)
    assert await cmd_sources_try(SETTINGS, url) == exit_code
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    assert line.startswith(message.format(url=url, port=site.port)) and "Traceback" not in captured.err


async def test_a_page_without_a_list_says_so_and_exits_1(site, capsys):
    assert await cmd_sources_try(SETTINGS, site.url("/broken/index.html")) == 1
    out = capsys.readouterr().out
    assert "no list found on this page: give the source CSS selectors ([sources.selectors])" in out
    assert "[[sources]]" not in out


async def test_a_dead_port_and_a_bad_url(capsys):

    dead = f"http://127.0.0.1:{free_port()}/index.html"
    assert await cmd_sources_try(SETTINGS, dead) == 1
    assert capsys.readouterr().err == f"shwatch: cannot fetch {dead}: connection refused / 无法获取该页面：connection refused\n"
    assert await cmd_sources_try(SETTINGS, "www.example.gov.cn/list.html") == 2
    assert "is not an http(s) URL" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://www.example.gov.cn/xxgk/tzgg/index.html", "example-xxgk-tzgg"),
        ("https://wsjkw.sh.gov.cn/xwfb/index.html", "wsjkw-xwfb"),
        ("https://english.shanghai.gov.cn/en-LatestNews/index.html", "english-en-latestnews"),
        ("http://www.example.org.cn/News/List.aspx?cid=3", "example-news-3"),
        ("http://www.example.gov.cn/col/col1211/index.html", "example-col-col1211"),
        ("http://127.0.0.1:8080/", "127-0-0-1"),
        ("https://www.example.gov.cn/" + "a" * 80 + "/", "example-" + "a" * 48),
    ],
)
def test_suggested_ids_are_valid_source_ids(url: str, expected: str):
    assert suggest_id(url) == expected
    assert re.match(r"^[a-z0-9][a-z0-9_.-]{0,63}$", expected)


def test_toml_strings_round_trip_quotes_backslashes_and_control_characters():

    value = '标题 "引号" \\ 反斜杠\t制表\x7f'
    assert tomllib.loads(f"v = {toml_string(value)}")["v"] == value
