"""The web app over HTTP: every route, bad input, escaping, languages, feeds, JSON, metrics
and health, served by a real WebServer on 127.0.0.1 over a store built by the migrations,
on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import socket
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import feedparser
import pytest
from aiohttp import web
from bs4 import BeautifulSoup
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from conftest import _reset_pg

from bot.store.chats import ChatStore
from bot.core.clock import FakeClock
from bot.logs import RedactingFilter
from bot.store.lease import LEADER, LeaseStore
from bot.store.migrate import upgrade_to_head
from bot.store.outbox import Outbox
from bot.web import Metrics, WebServer, WebServerError, build_web_app
from bot.web.lang import choose_lang, from_accept_language
from config.settings import load_settings
from monitors.db import create_engine
from monitors.model import Item
from monitors.offload import PageParser
from monitors.serialize import JSON_KEYS
from monitors.store import ItemStore, SourceState

SHANGHAI = timezone(timedelta(hours=8))
NOW = datetime(2026, 6, 14, 4, 0, tzinfo=timezone.utc)  # Sunday 12:00 in Shanghai
TODAY = date(2026, 6, 14)
COURSES = 55  # "第N期市民在线课程", one an hour: three pages, more than a feed holds
XSS_TITLE = "<script>alert('x')</script>浦东发布人工智能新政"


def _item(n: int, title: str, *, hours_ago: float = 0, published: datetime | None = None, **kw) -> Item:
    when = published or NOW - timedelta(hours=hours_ago)
    fields = dict(
        source_id="wsjkw-xwfb",
        url=f"https://www.shanghai.gov.cn/nw4411/20260614/{n:032x}.html",
        title=title,
        published=when,
        first_seen_at=when + timedelta(minutes=3),
    )
    fields.update(kw)
    return Item(**fields)


def seed_items() -> list[Item]:
    items = [
        _item(1, "本市新增两家互联网医院", hours_ago=24, topics=("online_healthcare",),
              matched={"online_healthcare": ["互联网医院"]}, summary="两家互联网医院获批执业，市民可在线复诊。"),
        _item(2, "上海市第一人民医院开通在线问诊", hours_ago=240, topics=("online_healthcare",),
              matched={"online_healthcare": ["在线问诊"]}, summary="患者可通过手机预约。", body="该院在线问诊覆盖二十个科室。"),
        _item(3, XSS_TITLE, hours_ago=48, source_id="shgov-yw", summary="<img src=x onerror=alert(1)>摘要"),
        _item(4, "Shanghai launches online education platform", hours_ago=24 * 40, source_id="en-latest", lang="en",
              topics=("online_education",), matched={"online_education": ["online education"]}),
        # a date-only item: midnight of 06-11 in Shanghai
        _item(5, "长三角在线展会开幕", published=datetime.combine(TODAY - timedelta(days=3), time(0), SHANGHAI),
              source_id="shgov-yw", topics=("online_exhibition",), matched={"online_exhibition": ["在线展会"]}),
    ]
    items += [
        _item(100 + n, f"第{n}期市民在线课程", hours_ago=n, source_id="shgov-xxgk", topics=("online_education",),
              matched={"online_education": ["在线课程"]}, summary=f"第{n}期课程介绍。")
        for n in range(1, COURSES + 1)
    ]
    return items


async def seed(engine) -> None:
    store = ItemStore(engine)
    await store.insert_items(seed_items())
    await store.save_source_state(SourceState("wsjkw-xwfb", baseline_done=True, last_attempt_at=NOW, last_success_at=NOW))
    await store.save_source_state(
        SourceState("shgov-yw", baseline_done=True, last_attempt_at=NOW, last_success_at=NOW - timedelta(hours=5),
                    last_error="HTTP 503", error_kind="http", consecutive_failures=2)
    )


def settings_file(tmp_path: Path, web_table: str = "") -> Path:
    cfg = tmp_path / "shwatch.toml"
    cfg.write_text(f"[web]\nport = 0\n{web_table}", encoding="utf-8")
    return cfg


@dataclass
class Site:
    base: str
    http: aiohttp.ClientSession
    server: WebServer
    metrics: Metrics
    engine: object

    async def get(self, path: str, lang: str = "en", **headers: str) -> tuple[int, str, object]:
        headers.setdefault("Accept-Language", "zh-CN,zh;q=0.9" if lang == "zh" else "en-US,en;q=0.9")
        async with self.http.get(self.base + path, headers=headers, allow_redirects=False) as r:
            return r.status, await r.text(), r

    async def page(self, path: str, lang: str = "en", status: int = 200) -> BeautifulSoup:
        got, body, _ = await self.get(path, lang)
        assert got == status, body[:2000]
        assert "Traceback" not in body
        return BeautifulSoup(body, "html.parser")


@contextlib.asynccontextmanager
async def serve(engine, settings, **kw):
    metrics = kw.pop("metrics", None) or Metrics()
    server = WebServer(build_web_app(settings, engine, FakeClock(NOW), metrics=metrics, **kw), "127.0.0.1", 0)
    await server.start()
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            yield Site(f"http://127.0.0.1:{server.bound_port}", http, server, metrics, engine)
    finally:
        await server.stop()


async def _migrate_and_seed(url: str) -> None:
    await upgrade_to_head(url)
    eng = create_engine(url)
    try:
        await seed(eng)
    finally:
        await eng.dispose()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def seeded_url(request, tmp_path_factory):
    """One seeded store per backend for this module's tests (none of them resets it)."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('web') / 'web.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
        asyncio.run(_reset_pg(url))
    asyncio.run(_migrate_and_seed(url))
    return url


@pytest.fixture
async def engine(seeded_url):
    eng = create_engine(seeded_url)
    yield eng
    await eng.dispose()


@pytest.fixture
async def site(engine, tmp_path):
    settings = load_settings(settings_file(tmp_path), env={})
    async with serve(engine, settings, role="service", scheduler_running=lambda: True) as s:
        yield s


def texts(soup: BeautifulSoup, selector: str) -> list[str]:
    return [" ".join(el.get_text().split()) for el in soup.select(selector)]


def field_row(soup: BeautifulSoup, name: str):
    return next(tr for tr in soup.select("table.fields tbody tr") if tr.th.get_text(strip=True) == name)


def bar_values(svg) -> list[int]:
    return [int(rect.title.get_text().rsplit(" ", 1)[-1]) for rect in svg.select("rect")]


# ---------------------------------------------------------------------------- pages


async def test_dashboard_counts_fields_charts_weeks_and_shows_the_newest(site):
    soup = await site.page("/", "en")
    healthcare = field_row(soup, "Online healthcare")
    assert [td.get_text(strip=True) for td in healthcare.select("td.num")] == ["1", "2"]
    education = field_row(soup, "Online education")
    assert [td.get_text(strip=True) for td in education.select("td.num")] == [str(COURSES), str(COURSES)]
    # 12 bars, one a week; the item of 40 days ago is in the chart, not in the 30 days
    weekly = bar_values(education.select_one("svg"))
    assert len(weekly) == 12 and sum(weekly) == COURSES + 1 and weekly[-1] == COURSES
    assert education.select_one("td.num a")["href"] == f"/items?topic=online_education&since={TODAY - timedelta(days=6)}"
    assert texts(soup, ".results .result-title")[0] == "第1期市民在线课程"
    assert "Sources: 1 ok, 1 failing," in texts(soup, ".health-line")[0]


async def test_dashboard_in_chinese(site):
    soup = await site.page("/", "zh")
    assert soup.html["lang"] == "zh-CN"
    assert [td.get_text(strip=True) for td in field_row(soup, "在线医疗").select("td.num")] == ["1", "2"]
    assert "来源状况：正常 1 个，异常 1 个" in texts(soup, ".health-line")[0]


async def test_archive_finds_a_two_character_chinese_word_and_marks_it(site):
    soup = await site.page("/items?q=医院", "zh")
    assert texts(soup, ".result-title") == ["本市新增两家互联网医院", "上海市第一人民医院开通在线问诊"]
    assert [m.get_text() for m in soup.select(".result-title mark")] == ["医院", "医院"]
    assert texts(soup, "p.count")[0].startswith("共 2 条结果")
    # every word must be there; a word found in the body only is shown in its context
    soup = await site.page("/items?q=医院+二十个科室", "en")
    assert texts(soup, ".result-title") == ["上海市第一人民医院开通在线问诊"]
    assert [m.get_text() for m in soup.select(".excerpt mark")] == ["二十个科室"]


async def test_archive_filters_by_field_source_and_inclusive_dates(site):
    soup = await site.page("/items?topic=online_healthcare&since=2026-06-04&until=2026-06-04")
    assert texts(soup, ".result-title") == ["上海市第一人民医院开通在线问诊"]
    # the date-only item (00:00 of 06-11) belongs to 06-11: in `until=06-11`, out of `since=06-12`
    soup = await site.page("/items?source=shgov-yw&until=2026-06-11")
    assert texts(soup, ".result-title") == ["长三角在线展会开幕"]
    soup = await site.page("/items?source=shgov-yw&since=2026-06-12")
    assert len(soup.select(".result-title")) == 1 and "浦东发布人工智能新政" in texts(soup, ".result-title")[0]
    soup = await site.page("/items?q=课程&source=shgov-xxgk&topic=online_education", "en")
    assert texts(soup, "p.count")[0].startswith(f"{COURSES} results")
    assert soup.select_one("#topic option[selected]")["value"] == "online_education"


async def test_archive_pages_newest_first_and_a_page_past_the_end(site):
    first = await site.page("/items?q=课程")
    assert texts(first, ".result-title")[:2] == ["第1期市民在线课程", "第2期市民在线课程"]
    assert first.select_one("a[rel=next]")["href"] == "/items?q=%E8%AF%BE%E7%A8%8B&page=2"
    last = await site.page("/items?q=课程&page=3")
    assert last.select_one("ol.results")["start"] == "41"
    assert texts(last, ".result-title") == [f"第{n}期市民在线课程" for n in range(41, COURSES + 1)]
    assert last.select_one("a[rel=next]") is None and last.select_one("a[rel=prev]") is not None
    past = await site.page("/items?q=课程&page=4", "zh")
    assert past.select(".result") == []
    assert "第 4 页已超出结果范围（共 3 页）" in texts(past, ".problems")[0]
    assert past.select_one(".problems a")["href"] == "/items?q=%E8%AF%BE%E7%A8%8B"
    one = await site.page("/items?q=第1期市民在线课程&page=2", "en")  # one page of results: "1 page"
    assert "Page 2 is past the end of the results (1 page)." in texts(one, ".problems")[0]


@pytest.mark.parametrize(
    ("query", "zh", "en"),
    [
        ("q=" + "医" * 201, "检索词太长（201 个字符）：最多 200 个字符。", "The search text is too long (201 characters): at most 200."),
        ("q=医院+a", "“a”太短：每个检索词至少 2 个字符。", "“a” is too short: each search word needs at least 2 characters."),
        ("topic=flying_cars", "没有“flying_cars”这个领域", "There is no field “flying_cars”"),
        ("source=nowhere", "没有“nowhere”这个来源", "There is no source “nowhere”"),
        ("since=2026-02-30", "“2026-02-30”不是有效日期", "“2026-02-30” is not a date"),
        ("until=yesterday", "“yesterday”不是有效日期", "“yesterday” is not a date"),
        ("since=2026-06-10&until=2026-06-01", "起始日期 2026-06-10 晚于截止日期 2026-06-01", "The start date 2026-06-10 is after the end date 2026-06-01"),
        ("page=0", "“0”不是有效页码", "“0” is not a page number"),
        ("page=abc", "“abc”不是有效页码", "“abc” is not a page number"),
        ("page=26", "最多只能查看前 500 条结果（到第 25 页）", "Only the first 500 results can be shown (up to page 25)"),
    ],
)
async def test_bad_archive_input_is_a_400_that_says_what_is_wrong(site, query, zh, en):
    for lang, expected in (("zh", zh), ("en", en)):
        soup = await site.page(f"/items?{query}", lang, status=400)
        assert expected in texts(soup, ".problems")[0]
        assert soup.select(".result") == []
        assert soup.select_one("form.archive-search")  # the form stays, to correct the input
    status, body, _ = await site.get(f"/api/items?{query}")
    assert status == 400 and en in body


async def test_an_absurdly_long_address_gets_the_apps_own_answer_and_one_log_line(site):
    """A query of 6,000 (54 KB percent-encoded) or 20,000 characters, past aiohttp's own 8 KB
    request line, reaches the app,
    which says in the reader's language what is wrong; past 64 KB the server refuses it with
    a 400, and the log gets one line with the cause, no traceback."""
    soup = await site.page("/items?q=" + "医" * 6_000, "zh", status=400)
    assert "检索词太长（6000 个字符）：最多 200 个字符。" in texts(soup, ".problems")[0]
    soup = await site.page("/items?q=" + "a" * 20_000, "en", status=400)
    assert "The search text is too long (20000 characters): at most 200." in texts(soup, ".problems")[0]
    handler = logging.StreamHandler(io.StringIO())
    handler.addFilter(RedactingFilter())
    logging.getLogger("aiohttp.server").addHandler(handler)
    try:
        status, body, _ = await site.get("/items?q=" + "a" * 70_000)
    finally:
        logging.getLogger("aiohttp.server").removeHandler(handler)
    assert status == 400 and "Traceback" not in body
    [line] = handler.stream.getvalue().splitlines()
    assert "LineTooLong" in line and "Got more than 65536 bytes" in line and len(line) < 500


async def test_markup_in_a_stored_title_or_in_the_query_is_shown_as_text(site):
    status, body, _ = await site.get("/items?source=shgov-yw")
    assert status == 200
    assert "<script>alert" not in body and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in body
    status, body, _ = await site.get("/items?q=<script>alert(1)</script>")
    assert status == 200 and "<script>alert(1)" not in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    status, body, _ = await site.get("/items?q=浦东发布")
    assert "<script>" not in body and "<img" not in body
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;<mark>浦东发布</mark>" in body
    item_id = int(BeautifulSoup(body, "html.parser").select_one(".result-title")["href"].rsplit("/", 1)[1])
    status, body, _ = await site.get(f"/items/{item_id}")
    assert status == 200 and "<script>alert" not in body and "<img src" not in body
    assert "&lt;img src=x onerror=alert(1)&gt;摘要" in body


async def test_item_page_shows_its_fields_with_matched_terms(site):
    soup = await site.page("/items?q=互联网医院")
    href = soup.select_one(".result-title")["href"]
    soup = await site.page(href, "zh")
    assert texts(soup, "h1") == ["本市新增两家互联网医院"]
    facts = dict(zip(texts(soup, ".facts dt"), texts(soup, ".facts dd")))
    assert facts["来源"] == "上海市卫生健康委员会 · 新闻发布"
    assert facts["发布时间 (+08:00)"] == "2026-06-13 12:00"
    assert texts(soup, ".fields-list li") == ["在线医疗 匹配词：互联网医院"]
    assert [m.get_text() for m in soup.select(".summary mark")] == ["互联网医院"]
    assert soup.select_one(".open a")["href"] == "https://www.shanghai.gov.cn/nw4411/20260614/00000000000000000000000000000001.html"


async def test_unknown_items_and_pages_are_404_in_the_page_language(site):
    soup = await site.page("/items/987654", "zh", status=404)
    assert texts(soup, ".problems") == ["没有编号为 987654 的资讯。"]
    soup = await site.page("/items/99999999999999999999999999", "en", status=404)
    assert texts(soup, ".problems") == ["There is no item 99999999999999999999."]
    soup = await site.page("/items/abc", "en", status=404)
    assert texts(soup, ".problems") == ["There is no such page."]


async def test_sources_page_shows_every_source_with_its_health_and_days(site):
    soup = await site.page("/sources")
    rows = {tr.select_one(".id").get_text(): tr for tr in soup.select("table.sources tbody tr")}
    assert set(rows) == {s.id for s in load_settings(env={}).sources}
    failing = rows["shgov-yw"]
    assert failing.select_one(".status").get_text() == "failing"
    assert [td.get_text(strip=True) for td in failing.select("td.num")] == ["2", "2"]
    assert texts(failing, "td.error") == ["HTTP error: HTTP 503"]
    assert rows["wsjkw-xwfb"].select_one(".status").get_text() == "ok"
    assert rows["shio-ywts"].select_one(".status").get_text() == "not checked yet"
    assert "Last success (+08:00)" in texts(soup, "table.sources thead th")  # labelled as at the terminal
    days = bar_values(rows["shgov-xxgk"].select_one("svg"))
    assert len(days) == 30 and sum(days) == COURSES and days[-1] == 12  # 12 courses since midnight


# ---------------------------------------------------------------------------- feeds and JSON


async def test_feeds_are_valid_atom_with_fields_as_categories(engine, tmp_path):
    settings = load_settings(settings_file(tmp_path, 'base_url = "https://news.example.org/shwatch/"\n'), env={})
    async with serve(engine, settings, role="web") as site:
        status, body, response = await site.get("/feeds/topics/online_healthcare.atom", "zh")
        assert status == 200 and response.content_type == "application/atom+xml"
        feed = feedparser.parse(body)
        assert not feed.bozo, feed.bozo_exception
        assert feed.feed.title == "在线医疗：最新资讯"
        assert [e.title for e in feed.entries] == ["本市新增两家互联网医院", "上海市第一人民医院开通在线问诊"]
        entry = feed.entries[0]
        assert entry.link.startswith("https://www.shanghai.gov.cn/")
        assert entry.id.startswith("https://news.example.org/shwatch/items/")
        assert entry.published_parsed[:5] == (2026, 6, 13, 4, 0)
        assert entry.summary == "两家互联网医院获批执业，市民可在线复诊。"
        assert [(tag.term, tag.label) for tag in entry.tags] == [("online_healthcare", "在线医疗")]

        status, body, _ = await site.get("/feeds/search.atom?q=课程")
        feed = feedparser.parse(body)
        assert not feed.bozo and len(feed.entries) == 50
        assert feed.entries[0].title == "第1期市民在线课程"
        self_link = next(link.href for link in feed.feed.links if link.rel == "self")
        assert self_link == "https://news.example.org/shwatch/feeds/search.atom?q=%E8%AF%BE%E7%A8%8B"
        # pages link below the proxy's path
        soup = BeautifulSoup((await site.get("/items?q=课程"))[1], "html.parser")
        assert soup.select_one(".result-title")["href"].startswith("/shwatch/items/")

        assert (await site.get("/feeds/topics/flying_cars.atom"))[0] == 404
        status, body, _ = await site.get("/feeds/search.atom")
        assert status == 400 and "Give the search words in q" in body
        status, body, _ = await site.get("/feeds/search.atom?q=" + "x" * 300)
        assert status == 400 and "too long" in body


async def test_api_items_pages_with_next_links_and_the_poll_json_keys(site):
    status, body, response = await site.get("/api/items?q=课程")
    assert status == 200 and response.content_type == "application/json"
    data = await response.json()
    assert len(data["items"]) == 20
    first = data["items"][0]
    assert set(first) == set(JSON_KEYS) | {"id"}
    assert first["title"] == "第1期市民在线课程" and first["published"] == "2026-06-14T11:00:00+08:00"
    assert first["topics"] == ["online_education"] and first["matched"] == {"online_education": ["在线课程"]}
    seen = [i["id"] for i in data["items"]]
    url = data["next"]
    while url:
        assert urlsplit(url).netloc == urlsplit(site.base).netloc
        async with site.http.get(url) as r:
            data = await r.json()
        seen += [i["id"] for i in data["items"]]
        url = data["next"]
    assert len(seen) == len(set(seen)) == COURSES
    async with site.http.get(site.base + "/api/items?q=课程&page=9") as r:
        assert r.status == 200 and await r.json() == {"items": [], "next": None}


# ---------------------------------------------------------------------------- operations


async def test_metrics_counters_and_what_the_database_holds(site):
    m = site.metrics
    m.polls.labels(source="wsjkw-xwfb", outcome="ok").inc()
    m.polls.labels(source="shgov-yw", outcome="failed").inc(2)
    m.items_found.labels(source="wsjkw-xwfb").inc(3)
    m.poll_seconds.labels(source="wsjkw-xwfb").observe(0.3)
    m.deliveries.labels(channel="telegram", result="sent").inc(4)
    m.deliveries.labels(channel="wecom", result="failed").inc()
    m.telegram_429.inc()
    chat = await ChatStore(site.engine).get_or_create("telegram", "42")
    await Outbox(site.engine).enqueue([{"chat_id": chat.id, "kind": "notice", "ref": f"n{i}"} for i in range(3)])

    status, body, response = await site.get("/metrics")
    assert status == 200 and response.content_type == "text/plain"
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }
    assert samples[("shwatch_polls_total", (("outcome", "ok"), ("source", "wsjkw-xwfb")))] == 1
    assert samples[("shwatch_polls_total", (("outcome", "failed"), ("source", "shgov-yw")))] == 2
    assert samples[("shwatch_items_found_total", (("source", "wsjkw-xwfb"),))] == 3
    assert samples[("shwatch_poll_duration_seconds_count", (("source", "wsjkw-xwfb"),))] == 1
    assert samples[("shwatch_poll_duration_seconds_bucket", (("le", "0.5"), ("source", "wsjkw-xwfb")))] == 1
    assert samples[("shwatch_deliveries_total", (("channel", "telegram"), ("result", "sent")))] == 4
    assert samples[("shwatch_deliveries_total", (("channel", "wecom"), ("result", "failed")))] == 1
    assert samples[("shwatch_telegram_429_total", ())] == 1
    assert samples[("shwatch_outbox_depth", (("status", "pending"),))] == 3
    assert samples[("shwatch_items_stored", (("source", "shgov-xxgk"),))] == COURSES


async def test_healthz_says_role_database_and_scheduler(engine, tmp_path):
    settings = load_settings(settings_file(tmp_path), env={})
    running = [True]
    async with serve(engine, settings, role="service", scheduler_running=lambda: running[0]) as site:
        status, _, response = await site.get("/healthz")
        assert status == 200
        data = await response.json()
        memory = data.pop("memory_mb")
        assert data == {"status": "ok", "role": "service", "database": "ok", "scheduler": "running", "leader": None}
        assert list(memory) == ["service"] and 10 < memory["service"] < 2000  # this process, in MB
        running[0] = False
        status, _, response = await site.get("/healthz")
        assert status == 503
        assert (await response.json())["reason"] == "the scheduler is not running"
    async with serve(engine, settings, role="web") as site:
        status, _, response = await site.get("/healthz")
        assert status == 200 and (await response.json())["scheduler"] == "none"


async def test_the_page_parsers_memory_is_reported_apart_from_the_services(engine, tmp_path):
    """/healthz and /metrics give the page-parsing worker's resident memory beside the
    service's own: nothing before the worker has parsed a page, its own figure after."""
    settings = load_settings(settings_file(tmp_path), env={})
    parser = PageParser(offload_bytes=1_000)
    try:
        async with serve(engine, settings, role="service", scheduler_running=lambda: True,
                         parser_memory=lambda: parser.worker_resident) as site:
            before = await (await site.get("/healthz"))[2].json()
            assert before["memory_mb"]["page_parser"] is None and before["memory_mb"]["service"] > 10
            page = b"<html><body><div id='ivs_content'>" + "<p>本市推进在线新经济发展。</p>".encode() * 500 + b"</div></body></html>"
            await parser.article(page, "https://www.shanghai.gov.cn/a/1.html", "utf-8", None)
            assert parser.offloaded == 1
            after = await (await site.get("/healthz"))[2].json()
            worker = after["memory_mb"]["page_parser"]
            assert 5 < worker < 2000 and worker == round(parser.worker_resident / 1e6, 1)
            status, body, _ = await site.get("/metrics")
            samples = {
                s.labels["process"]: s.value
                for family in text_string_to_metric_families(body) if family.name == "shwatch_resident_memory_bytes"
                for s in family.samples
            }
            assert samples["page_parser"] == parser.worker_resident and samples["service"] > 10e6
    finally:
        await parser.close()
    assert parser.worker_resident is None  # a closed parser has no worker to report


async def test_healthz_says_which_instance_leads_until_when(engine, tmp_path):
    settings = load_settings(settings_file(tmp_path), env={})
    lease = await LeaseStore(engine).acquire(LEADER, "host-a:41:beef", 30)
    leading = [False]
    async with serve(
        engine, settings, role="service", scheduler_running=lambda: leading[0], instance="host-b:42:cafe",
        leading=lambda: leading[0],
    ) as site:
        status, _, response = await site.get("/healthz")
        data = await response.json()
        # a standby's scheduler is not running, and that is healthy
        assert status == 200 and data["scheduler"] == "standby"
        assert data["leader"] == {"instance": "host-a:41:beef", "until": lease.expires_at.isoformat(), "valid": True}
        assert (data["instance"], data["leading"]) == ("host-b:42:cafe", False)
        leading[0] = True
        data = await (await site.get("/healthz"))[2].json()
        assert (data["scheduler"], data["leading"]) == ("running", True)


async def test_healthz_is_503_when_the_database_does_not_answer(tmp_path):
    settings = load_settings(settings_file(tmp_path), env={})
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}")  # a directory: it cannot be opened
    try:
        async with serve(engine, settings, role="delivery") as site:
            status, body, response = await site.get("/healthz")
            assert status == 503
            data = await response.json()
            assert data["database"] == "unavailable" and data["role"] == "delivery"
            assert data["reason"].startswith("database: ") and "Traceback" not in body
            status, body, _ = await site.get("/", "en")
            assert status == 500 and "Sorry, something went wrong on our side" in body and "Traceback" not in body
    finally:
        await engine.dispose()


async def test_a_failing_query_is_a_short_error_page(engine, tmp_path):
    settings = load_settings(settings_file(tmp_path), env={})
    try:
        async with engine.begin() as conn:
            await conn.execute(text("ALTER TABLE items RENAME TO items_elsewhere"))
        async with serve(engine, settings, role="service") as site:
            for path in ("/", "/items?q=医院", "/sources"):
                status, body, _ = await site.get(path, "zh")
                assert status == 500, path
                assert "抱歉，处理时出了问题" in body and "Traceback" not in body and "items_elsewhere" not in body
    finally:
        async with engine.begin() as conn:
            await conn.execute(text("ALTER TABLE items_elsewhere RENAME TO items"))


# ---------------------------------------------------------------------------- language


async def test_language_from_the_browser_the_switch_and_its_cookie(site):
    soup = await site.page("/items", "zh")
    assert soup.select_one("nav.nav a[aria-current=page]").get_text() == "资讯检索"
    switch = {a["hreflang"]: a["href"] for a in soup.select("nav.langs a")}
    assert switch == {"zh": "/items?lang=zh", "en": "/items?lang=en"}
    status, body, response = await site.get("/items?q=医院&lang=en", "zh")
    assert status == 200 and "Archive" in body and response.cookies["lang"].value == "en"
    # the cookie now wins over the browser's Chinese, and ?lang= over the cookie
    soup = await site.page("/sources", "zh")
    assert soup.select_one("h1").get_text() == "Sources"
    soup = await site.page("/sources?lang=zh", "en")
    assert soup.select_one("h1").get_text() == "来源状况"
    soup = await site.page("/sources?lang=fr", "en")
    assert soup.select_one("h1").get_text() == "来源状况"  # an unknown ?lang= is ignored


def test_accept_language_preference_order():
    assert from_accept_language("en;q=0.5, zh-TW;q=0.8") == "zh"
    assert from_accept_language("fr-FR, de;q=0.9, en-GB;q=0.7") == "en"
    assert from_accept_language("zh;q=0, en;q=0.1") == "en"
    assert from_accept_language("fr, de") is None and from_accept_language(None) is None
    assert choose_lang(None, None, "fr") == ("en", False)
    assert choose_lang("zh", "en", "en") == ("zh", True)


# ---------------------------------------------------------------------------- the server


async def test_extra_routes_share_the_server(engine, tmp_path):
    async def callback(request: web.Request) -> web.Response:
        return web.Response(text="echo " + request.query.get("echostr", ""))

    settings = load_settings(settings_file(tmp_path), env={})
    async with serve(engine, settings, role="service", extra_routes=[web.get("/wecom/callback", callback)]) as site:
        status, body, _ = await site.get("/wecom/callback?echostr=abc")
        assert (status, body) == (200, "echo abc")
        assert (await site.get("/healthz"))[0] == 200


async def test_a_port_in_use_is_one_line_naming_it(engine, tmp_path):
    settings = load_settings(settings_file(tmp_path), env={})
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = WebServer(build_web_app(settings, engine, FakeClock(NOW), role="web"), "127.0.0.1", port)
        with pytest.raises(WebServerError) as info:
            await server.start()
    message = str(info.value)
    assert message == f"the web port 127.0.0.1:{port} is already in use (choose another with [web] port)"
    await server.stop()  # nothing to stop: harmless
