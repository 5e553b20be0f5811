"""The monitor pipeline end to end: the real `shwatch` entry point against the fake press site.

The in-process Poller tests at the end cover health transitions on both store backends
(layout change, an article with no body, an article that cannot be fetched).
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import fake_press
import pytest
from shwatch_run import SHWATCH

from config.model import FetchSettings, Settings, Source, Topic
from monitors.dates import SHANGHAI
from monitors.fetch import OFFLINE_HINT, OFFLINE_HINT_ZH, Fetcher
from monitors.model import Item, ListEntry
from monitors.poll import Poller, list_item
from monitors.serialize import JSON_KEYS, json_line
from monitors.store import ItemStore
from monitors.summary import EN_BUDGET, ZH_BUDGET
from monitors.tagger import Tagger

RUN_TIMEOUT = 60  # seconds per command: every poll must end in bounded time

E2E_TOPICS = (
    Topic("plan", "在线新经济", "Online new economy", zh=("在线新经济",), en=("online new economy",), kind="plan"),
    Topic("unmanned_factory", "无人工厂", "Unmanned factories", zh=("无人工厂",), en=("unmanned factory",)),
    Topic("contactless_delivery", "无接触配送", "Contactless delivery", zh=("无接触配送",), en=("contactless delivery",)),
    Topic("online_healthcare", "在线医疗", "Online healthcare", zh=("互联网医院",), en=("internet hospital",)),
)


def topics_toml(topics: tuple[Topic, ...]) -> str:
    """The ``[[topics]]`` tables of a topics file, as a user would write them."""
    tables = []
    for t in topics:
        fields = {"id": t.id, "kind": t.kind, "name_zh": t.name_zh, "name_en": t.name_en, "zh": list(t.zh), "en": list(t.en)}
        tables.append("[[topics]]\n" + "".join(f"{k} = {json.dumps(v, ensure_ascii=False)}\n" for k, v in fields.items()))
    return "\n".join(tables)

GOOD = ("xwfb", "gbk", "en")
BAD = {
    "slow": "timeout after 2 s",
    "broken": "no items found on the list page",
    "huge": "page larger than 5 MB",
    "loop": "too many redirects (>5)",
    "dead": "connection refused",
}


def source_urls(press: fake_press.FakePress) -> dict[str, str]:
    return {
        "xwfb": press.list_url("xwfb"),
        "gbk": press.list_url("gbk"),
        "en": press.list_url("en"),
        "slow": press.url("/slow/index.html"),
        "broken": press.url("/broken/index.html"),
        "huge": press.url("/huge/index.html"),
        "loop": press.url("/loop/a.html"),
        "dead": f"http://127.0.0.1:{fake_press.free_port()}/index.html",
    }


def write_config(tmp_path: Path, urls: dict[str, str], *, timezone: str = "Asia/Shanghai") -> Path:
    (tmp_path / "topics.toml").write_text(topics_toml(E2E_TOPICS), encoding="utf-8")
    lines = [
        f'database_url = "sqlite+aiosqlite:///{tmp_path / "shwatch.db"}"',
        f'timezone = "{timezone}"',
        'topics_file = "topics.toml"',
        'log_level = "WARNING"',
        "[fetch]",
        "timeout = 2",
        "connect_timeout = 1",
        "max_bytes = 5000000",
        "max_redirects = 5",
    ]
    for source_id, url in urls.items():
        lang = "en" if source_id == "en" else "zh"
        lines += ["[[sources]]", f'id = "{source_id}"', f'name = "Press {source_id}"', f'url = "{url}"',
                  f'lang = "{lang}"', "interval = 1"]
    path = tmp_path / "shwatch.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def shwatch(config: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "400", "PYTHONIOENCODING": "utf-8"}
    env.pop("SHWATCH_CONFIG", None)
    env.pop("SHWATCH_DATABASE_URL", None)
    return subprocess.run(
        [str(SHWATCH), "--config", str(config), *args],
        capture_output=True, text=True, encoding="utf-8", timeout=RUN_TIMEOUT, cwd=config.parent, env=env,
    )


def json_items(result: subprocess.CompletedProcess) -> list[dict]:
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def article_paths(press: fake_press.FakePress) -> set[str]:
    return {a.path for col in press.columns.values() for a in col.articles if not a.foreign}


@pytest.fixture
def press():
    with fake_press.FakePress(slow_seconds=8.0, huge_bytes=20_000_000) as site:
        yield site


@pytest.mark.e2e
def test_baseline_then_exactly_the_new_items_then_nothing(press, tmp_path):
    config = write_config(tmp_path, source_urls(press))
    baseline_urls = {press.article_url(a) for name in GOOD for a in press.columns[name].articles}

    started = time.monotonic()
    first = json_items(shwatch(config, "poll", "--once", "--json"))
    assert all(set(item) == {"source", "url", "title", "published", "topics", "mentions", "matched", "scores", "summary",
                             "lang", "baseline", "article", "article_error"}
               for item in first)
    assert {i["url"] for i in first} == baseline_urls and len(first) == len(baseline_urls)
    assert all(i["baseline"] is True for i in first)
    # the baseline reads its articles (same site, at most [fetch] baseline_articles per
    # source), so the first poll already carries summaries; foreign links stay unfetched
    assert all(press.paths().count(p) == 1 for p in article_paths(press))
    assert all(i["article"] == "fetched" and i["summary"] for i in first if i["article"] != "foreign")
    by_title = {i["title"]: i for i in first}
    assert by_title["朱镕基同志旧作出版座谈会召开"]["source"] == "gbk"
    assert by_title["陶喆公益演出助力社区医院"]["published"] == "2026-06-06T00:00:00+08:00"
    assert by_title["本市召开在线新经济发展推进会"]["topics"] == ["plan"]  # titles are tagged too
    assert by_title["Shanghai opens new cruise terminal"]["lang"] == "en"

    health = press.url("/xwfb/20260613/")
    hospital = press.publish(
        "xwfb", "本市推进互联网医院建设",
        "今天，市卫健委宣布全市已建成互联网医院120家，覆盖16个区。\n\n下一步将推广无接触配送药品服务。",
        "2026-06-13 14∶06",
    )
    factory = press.publish("gbk", "朱镕基题词的老厂建成无人工厂", "该厂投资5亿元建成无人工厂，年产能提升30%。", "2026-06-12 09:15")
    weixin = press.publish("xwfb", "6月12日本市各区居住地信息", "", None, day="20260612", foreign=True)
    english = press.publish("en", "Shanghai adds internet hospital services",
                            "Shanghai added 20 internet hospital services on Friday, the health commission said.",
                            "2026-06-12")
    second = json_items(shwatch(config, "poll", "--once", "--json"))
    assert sorted(i["url"] for i in second) == sorted([hospital, factory, weixin, english])
    got = {i["url"]: i for i in second}
    assert all(i["baseline"] is False for i in second)
    h = got[hospital]
    assert h["url"].startswith(health) and h["source"] == "xwfb"
    assert h["published"] == "2026-06-13T14:06:00+08:00"  # the article's PubDate, U+2236 colon and all
    # about internet hospitals; the delivery service is a next step named in passing (a mention)
    assert h["topics"] == ["online_healthcare"]
    assert h["mentions"] == ["contactless_delivery"]
    assert h["matched"] == {"online_healthcare": ["互联网医院"], "contactless_delivery": ["无接触配送"]}
    assert h["scores"]["online_healthcare"] > h["scores"]["contactless_delivery"]
    assert h["article"] == "fetched" and h["article_error"] is None
    assert "120家" in h["summary"]
    f = got[factory]
    assert f["title"] == "朱镕基题词的老厂建成无人工厂" and "5亿元" in f["summary"]
    assert f["topics"] == ["unmanned_factory"] and f["published"] == "2026-06-12T09:15:00+08:00"
    w = got[weixin]  # foreign link: never fetched, the list's title and date
    assert w["title"] == "6月12日本市各区居住地信息" and w["published"] == "2026-06-12T00:00:00+08:00"
    assert w["summary"] == ""  # the list has no abstract: no summary, not the title again
    e = got[english]
    assert e["lang"] == "en" and e["topics"] == ["online_healthcare"] and "20 internet hospital" in e["summary"]

    third = json_items(shwatch(config, "poll", "--once", "--json"))
    assert third == []
    for name in GOOD:
        assert press.statuses(f"/{name}/index.html")[-1] == 304
    assert press.hits(hospital.split(str(press.port), 1)[1]) == 1  # each article fetched once

    sources = shwatch(config, "sources")
    assert sources.returncode == 0, sources.stderr
    assert "Last poll (+08:00)" in sources.stdout and "Last success (+08:00)" in sources.stdout
    rows = {line.split("│")[1].strip(): line for line in sources.stdout.splitlines() if line.count("│") >= 7}
    for source_id, reason in BAD.items():
        assert reason in rows[source_id], (source_id, rows.get(source_id))
        assert ("layout problem" if source_id == "broken" else "failing") in rows[source_id]
    for source_id in GOOD:
        assert " ok " in rows[source_id]
    assert time.monotonic() - started < 4 * RUN_TIMEOUT


@pytest.mark.e2e
def test_human_table_and_sources_check(press, tmp_path):
    urls = source_urls(press)
    config = write_config(tmp_path, {k: urls[k] for k in ("xwfb", "gbk", "broken", "dead")})
    assert shwatch(config, "poll", "--once", "--json").returncode == 0
    press.publish("xwfb", "本市推进互联网医院建设", "今天，全市已建成互联网医院120家。", "2026-06-13 14:06")

    human = shwatch(config, "poll", "--once")
    assert human.returncode == 0, human.stderr
    row = next(line for line in human.stdout.splitlines() if "本市推进互联网医院建设" in line)
    assert row.count("│") >= 5 and "2026-06-13 14:06" in row and "Press xwfb" in row and "在线医疗" in row
    assert "1 new item from 4 sources" in human.stdout
    assert "broken: no items found on the list page" in human.stdout

    before = len(press.paths())
    check = shwatch(config, "sources", "check")
    assert check.returncode == 1  # some sources have problems
    lines = {line.split("│")[1].strip(): line for line in check.stdout.splitlines() if line.count("│") >= 5}
    assert lines["xwfb"].split("│")[3].strip() == "4" and "本市推进互联网医院建设" in lines["xwfb"]
    assert "朱镕基同志旧作出版座谈会召开" not in lines["gbk"] and "陶喆公益演出助力社区医院" in lines["gbk"]
    assert "connection refused" in lines["dead"] and "no items found" in lines["broken"]
    # a check is unconditional and stores nothing: the list pages answered 200, items unchanged
    assert press.statuses("/xwfb/index.html")[-1] == 200 and len(press.paths()) - before == 3

    one = shwatch(config, "sources", "check", "gbk")
    assert one.returncode == 0 and "gbk" in one.stdout and "xwfb" not in one.stdout
    unknown = shwatch(config, "sources", "check", "nope")
    assert unknown.returncode == 2 and "unknown source 'nope'" in unknown.stderr and "Traceback" not in unknown.stderr
    assert json_items(shwatch(config, "poll", "--once", "--json")) == []

    # people may read times in their own zone; the JSON contract stays Shanghai time
    berlin = write_config(tmp_path, {k: urls[k] for k in ("xwfb", "gbk", "broken", "dead")}, timezone="Europe/Berlin")
    press.publish("xwfb", "无人工厂标准发布", "本市发布无人工厂建设标准。", "2026-06-14 15:30")
    (item,) = json_items(shwatch(berlin, "poll", "--once", "--json"))
    assert item["published"] == "2026-06-14T15:30:00+08:00"
    human = shwatch(berlin, "sources")
    assert "Last poll (Europe/Berlin)" in human.stdout and "Last success (Europe/Berlin)" in human.stdout  # one label per zone, whatever the rows


def shwatch_in_terminal(config: Path, *args: str) -> tuple[int, str]:
    """Run shwatch with stdout and stderr on a pseudo-terminal, as a person would; the raw
    screen stream (escape codes and all) and the exit code."""
    import pty  # noqa: F401  (POSIX only, like the service)

    master, slave = os.openpty()
    env = {**os.environ, "COLUMNS": "160", "LINES": "50", "TERM": "xterm-256color"}
    for name in ("SHWATCH_CONFIG", "SHWATCH_DATABASE_URL", "NO_COLOR"):
        env.pop(name, None)
    proc = subprocess.Popen([str(SHWATCH), "--config", str(config), *args], stdin=subprocess.DEVNULL,
                            stdout=slave, stderr=slave, cwd=config.parent, env=env)
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + RUN_TIMEOUT
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        code = proc.wait(timeout=10)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    return code, b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.e2e
def test_a_person_at_a_terminal_sees_progress_then_the_tables(tmp_path):

    with fake_press.FakePress(slow_seconds=1.5) as site:
        urls = source_urls(site)
        config = write_config(tmp_path, {k: urls[k] for k in ("xwfb", "slow", "dead")})
        code, screen = shwatch_in_terminal(config, "poll", "--once")
        assert code == 0, screen
        text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x1b]*\x1b\\", "", screen)  # no colours, cursor moves, links
        assert "polling sources" in text and "waiting for slow" in text  # the progress names who is late
        assert "Recorded as the baseline" in text and "New items" not in text
        assert "0 new items" not in text and "from 3 sources" in text
        # the dead source is said once, after the bar, on a line of its own (no log line too)
        said = [seg for seg in re.split(r"[\r\n]", text) if "dead" in seg and "connection refused" in seg]
        assert [seg.strip() for seg in said] == ["problem dead: connection refused"], said

        site.publish("xwfb", "本市推进互联网医院建设", "今天，全市已建成互联网医院120家。", "2026-06-13 14:06")
        code, screen = shwatch_in_terminal(config, "poll", "--once")
        text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x1b]*\x1b\\", "", screen)
        assert code == 0 and "New items" in text and "Recorded as the baseline" not in text
        assert "Date (+08:00)" in text and "2026-06-13 14:06" in text and "2 new items from 3 sources" in text  # xwfb, and slow (a copy of its list)

        code, screen = shwatch_in_terminal(config, "poll", "--once", "--json")  # machines: no display, ever
        assert code == 0 and "polling sources" not in screen and "New items" not in screen


@pytest.mark.e2e
def test_poll_without_once_keeps_polling_until_sigterm(press, tmp_path):

    config = write_config(tmp_path, {"xwfb": press.list_url("xwfb")})
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    proc = subprocess.Popen([str(SHWATCH), "--config", str(config), "poll", "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, encoding="utf-8", cwd=tmp_path, env=env)
    try:
        deadline = time.monotonic() + 20
        while press.hits("/xwfb/index.html") < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        new = press.publish("xwfb", "新发布的无人工厂标准", "本市发布无人工厂建设标准。", "2026-06-13 10:00")
        while press.hits(new.split(str(press.port), 1)[1]) < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        # two more polls of the list after the one that found it: it must not print the item again
        found_at = press.hits("/xwfb/index.html")
        while press.hits("/xwfb/index.html") < found_at + 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert press.hits("/xwfb/index.html") >= found_at + 2, "the list was not polled again"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    items = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert [i["url"] for i in items if not i["baseline"]] == [new]
    assert press.statuses("/xwfb/index.html").count(304) >= 1


# ---- in-process: health transitions on both store backends ----------------------------------
TOPICS = (Topic("online_healthcare", "在线医疗", "Online healthcare", zh=("互联网医院",)),)


def settings_for(sources: tuple[Source, ...]) -> Settings:
    return Settings(database_url="unused", sources=sources, topics=TOPICS,
                    fetch=FetchSettings(timeout=3, connect_timeout=1))


async def test_layout_change_and_article_problems_are_recorded_on_the_source(engine):
    with fake_press.FakePress() as site:
        source = Source("xwfb", "新闻发布", site.list_url("xwfb"))
        store = ItemStore(engine)
        settings = settings_for((source,))
        async with Fetcher(settings.fetch) as fetcher:
            poller = Poller(settings, store, fetcher, Tagger(TOPICS))
            first = await poller.poll_source(source)
            assert first.ok and first.seen == 3 and all(i.baseline for i in first.new_items)

            site.redesign("xwfb")
            broken = await poller.poll_source(source)
            state = await store.source_state("xwfb")
            assert broken.error_kind == "layout" and "the last good poll had 3" in broken.error
            assert state.consecutive_failures == 1 and state.error_kind == "layout" and state.etag is None
            again = await poller.poll_source(source)  # no 304 can hide the problem
            assert not again.ok and (await store.source_state("xwfb")).consecutive_failures == 2

            site.redesign("xwfb", False)
            empty = site.publish("xwfb", "空白正文的文章", "", "2026-06-13 09:00")
            gone = site.publish("xwfb", "已删除的互联网医院文章", "x", "2026-06-13 08:00", missing=True)
            fixed = await poller.poll_source(source)
            assert fixed.ok and {i.url for i in fixed.new_items} == {empty, gone}
            state = await store.source_state("xwfb")
            assert state.consecutive_failures == 0 and state.error_kind == "article"
            assert state.last_error == f"article layout: no body text found in {empty}"
            kept = {i.url: i for i in fixed.new_items}
            assert kept[gone].title == "已删除的互联网医院文章" and kept[gone].topics == ("online_healthcare",)
            assert kept[gone].extract_problem == "article not fetched: HTTP 404"

            unchanged = await poller.poll_source(source)  # a 304 keeps the article problem visible
            assert unchanged.not_modified and (await store.source_state("xwfb")).error_kind == "article"
            site.publish("xwfb", "正常的文章", "正文在这里。", "2026-06-13 10:00")
            healthy = await poller.poll_source(source)
            state = await store.source_state("xwfb")
            assert healthy.ok and len(healthy.new_items) == 1 and state.last_error is None


async def test_one_bad_source_never_stops_the_others(engine):
    with fake_press.FakePress(slow_seconds=5) as site:
        sources = (
            Source("xwfb", "新闻发布", site.list_url("xwfb")),
            Source("slow", "慢", site.url("/slow/index.html")),
            Source("down", "挂了", site.url("/status/503")),
        )
        settings = Settings(database_url="unused", sources=sources, topics=TOPICS,
                            fetch=FetchSettings(timeout=1, connect_timeout=1))
        store = ItemStore(engine)
        seen: list[str] = []
        async with Fetcher(settings.fetch) as fetcher:
            poller = Poller(settings, store, fetcher, Tagger(TOPICS))
            reports = await poller.poll_all(sources, on_progress=lambda r: seen.append(r.source_id))
        assert [r.source_id for r in reports] == ["xwfb", "slow", "down"] and sorted(seen) == sorted(["xwfb", "slow", "down"])
        assert reports[0].ok and len(reports[0].new_items) == 3
        assert reports[1].error == "timeout after 1 s" and reports[2].error == "HTTP 503"
        health = {h.source.id: h for h in await store.source_health(sources)}
        assert health["down"].status == "failing" and health["down"].state.last_error == "HTTP 503"
        assert health["xwfb"].status == "ok" and health["xwfb"].item_count == 3


# ---- items from the list alone (baseline, foreign links, failed fetches) ---------------------
def test_list_item_keeps_the_lists_data_and_bounds_a_long_abstract():
    tagger = Tagger(TOPICS)
    now = datetime(2026, 6, 13, 6, 0, tzinfo=timezone.utc)
    source_zh = Source("feed", "Feed", "https://wsjkw.sh.gov.cn/rss.xml", kind="rss")
    source_en = Source("en", "News", "https://english.shanghai.gov.cn/en-LatestNews/index.html", lang="en")
    day = datetime(2026, 6, 12, tzinfo=SHANGHAI)
    # a feed whose description is the whole article
    whole = "".join(f"第{i}家互联网医院今天开诊，全市互联网医院达到{100 + i}家。" for i in range(1, 15))
    long_zh = list_item(source_zh, ListEntry("https://wsjkw.sh.gov.cn/a.html", "互联网医院扩容", day, whole), tagger, now)
    assert 0 < len(long_zh.summary) <= ZH_BUDGET and whole.startswith(long_zh.summary)  # whole sentences, in order
    assert long_zh.topics == ("online_healthcare",) and long_zh.matched == {"online_healthcare": ["互联网医院"]}
    assert (long_zh.baseline, long_zh.extract_problem, long_zh.body, long_zh.first_seen_at) == (False, None, "", now)

    words = " ".join(f"Sentence {i} says the city opened {i} more clinics." for i in range(1, 20))
    long_en = list_item(source_en, ListEntry("https://english.shanghai.gov.cn/a.html", "Clinics", day, words), tagger, now,
                        baseline=True)
    assert 0 < len(long_en.summary.split()) <= EN_BUDGET and long_en.baseline and long_en.lang == "en"

    short = "Internet hospitals now cover every district."
    kept = list_item(source_en, ListEntry("https://english.shanghai.gov.cn/b.html", "Hospitals", day, short), tagger, now)
    assert kept.summary == short  # an abstract that fits is kept as it is

    bare = list_item(source_zh, ListEntry("https://mp.weixin.qq.com/s/x", "标题", day), tagger, now, problem="article not fetched: HTTP 404")
    assert bare.summary == "" and bare.title == "标题" and bare.published == day
    assert bare.extract_problem == "article not fetched: HTTP 404" and bare.topics == ()


def test_json_times_are_shanghai_whatever_the_display_zone():

    utc_moment = datetime(2026, 6, 12, 16, 0, tzinfo=timezone.utc)  # 2026-06-13 00:00 in Shanghai
    item = Item("xwfb", "https://wsjkw.sh.gov.cn/a.html", "标题", utc_moment, topics=("plan",), matched={"plan": ["在线新经济"]})
    record = json.loads(json_line(item))
    assert tuple(record) == JSON_KEYS
    assert record["published"] == "2026-06-13T00:00:00+08:00"
    assert json.loads(json_line(Item("xwfb", "https://x/", "t", None)))["published"] is None


@pytest.mark.e2e
@pytest.mark.parametrize("columns", [80, 160])
def test_links_stay_whole_and_summaries_short_at_any_width(press, tmp_path, columns):
    config = write_config(tmp_path, {"xwfb": source_urls(press)["xwfb"], "en": source_urls(press)["en"]})
    long_body = "今天，市卫健委宣布全市已建成互联网医院120家，覆盖16个区。" * 12
    press.publish("xwfb", "本市推进互联网医院建设", long_body, "2026-06-13 14:06")
    env = {**os.environ, "COLUMNS": str(columns), "PYTHONIOENCODING": "utf-8"}
    env.pop("SHWATCH_CONFIG", None)
    out = subprocess.run([str(SHWATCH), "--config", str(config), "poll", "--once"], capture_output=True, text=True,
                         encoding="utf-8", timeout=RUN_TIMEOUT, cwd=config.parent, env=env)
    assert out.returncode == 0, out.stderr
    urls = {press.article_url(a) for name in ("xwfb", "en") for a in press.columns[name].articles}
    lines = out.stdout.splitlines()
    for url in urls:
        assert any(url in line for line in lines), f"{url} is split across lines at {columns} columns"
    assert not any(len(line) > columns and "http" not in line for line in lines)  # only a link may run over
    if columns < 120:  # one block per item: the summary held to a few lines, not the article
        assert 1 <= out.stdout.count("覆盖16个区") <= 4


def _lines_naming(result: subprocess.CompletedProcess, word: str) -> list[str]:
    return [line for line in (result.stdout + result.stderr).splitlines() if word in line]


@pytest.mark.e2e
def test_a_dead_source_is_said_once_at_the_terminal(tmp_path):
    config = write_config(tmp_path, {"dead": f"http://127.0.0.1:{fake_press.free_port()}/index.html"})
    human = shwatch(config, "poll", "--once")
    assert human.returncode == 1  # every source failed
    assert _lines_naming(human, "dead") == ["problem dead: connection refused"]  # and no log line besides
    assert "0 new items from 1 source (0 unchanged, 1 with problems" in human.stdout


@pytest.mark.e2e
def test_when_no_host_name_resolves_poll_and_check_say_the_machine_may_be_offline(tmp_path):
    # .invalid never resolves (RFC 2606), online or not: what an offline machine sees for every source
    config = write_config(tmp_path, {"one": "http://press-one.invalid/index.html", "two": "http://press-two.invalid/index.html"})
    human = shwatch(config, "poll", "--once")
    assert human.returncode == 1
    assert _lines_naming(human, ": host name not found") == ["problem one: host name not found", "problem two: host name not found"]
    assert human.stdout.splitlines()[-2:] == [OFFLINE_HINT, OFFLINE_HINT_ZH]  # said to a person in both languages
    check = shwatch(config, "sources", "check")
    assert check.returncode == 1 and check.stdout.splitlines()[-2:] == [OFFLINE_HINT, OFFLINE_HINT_ZH]
    # one source that is reached (refused: its host answered) means the network is there
    config = write_config(tmp_path, {"one": "http://press-one.invalid/index.html",
                                     "dead": f"http://127.0.0.1:{fake_press.free_port()}/index.html"})
    assert OFFLINE_HINT not in shwatch(config, "poll", "--once").stdout


@pytest.mark.e2e
def test_a_dead_source_is_one_log_line_with_json(tmp_path):
    config = write_config(tmp_path, {"dead": f"http://127.0.0.1:{fake_press.free_port()}/index.html"})
    machine = shwatch(config, "poll", "--once", "--json")
    assert machine.stdout == ""
    said = _lines_naming(machine, "dead")
    assert len(said) == 1 and said[0].endswith("WARNING monitors.cli: source dead: connection refused"), said


@pytest.mark.e2e
def test_one_source_checked_is_one_source(tmp_path):
    config = write_config(tmp_path, {"dead": f"http://127.0.0.1:{fake_press.free_port()}/index.html"})
    check = shwatch(config, "sources", "check")
    assert check.returncode == 1 and "1 source checked: 0 fine, 1 with problems" in check.stdout
    assert "1 sources" not in check.stdout


@pytest.mark.e2e
def test_plain_poll_logs_each_failure_once(tmp_path):

    config = write_config(tmp_path, {"dead": f"http://127.0.0.1:{fake_press.free_port()}/index.html"})
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    env.pop("SHWATCH_CONFIG", None)
    proc = subprocess.Popen([str(SHWATCH), "--config", str(config), "poll"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, encoding="utf-8", cwd=tmp_path, env=env)
    said: list[str] = []
    try:
        while len(said) < 2:  # two polls (interval 1 s)
            line = proc.stderr.readline()
            assert line, "shwatch poll ended early"
            if "dead" in line:
                said.append(line.rstrip("\n"))
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "watching 1 source;" in out
    said += [line for line in err.splitlines() if "dead" in line]
    # each poll's failure is one line, under one logger (the poller logs none of its own)
    assert all(line.endswith("WARNING monitors.cli: source dead: connection refused") for line in said), said
    assert "monitors.poll" not in err
