"""Redirects end to end: a source whose list page or article redirects to another site, on the
fake press (tests/site_press.py) with a real redirect from 127.0.0.1 to localhost, and a real
store. The refusal is recorded on the source; nothing from the other site is stored."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from shwatch_run import SHWATCH
from site_press import SitePress

from config.model import FetchSettings, Settings, Source, Topic
from monitors.fetch import Fetcher
from monitors.poll import Poller
from monitors.store import ItemStore
from monitors.tagger import Tagger

TOPICS = (Topic("online_healthcare", "在线医疗", "Online healthcare", zh=("互联网医院",)),)


@pytest.fixture
def site():
    with SitePress() as running:
        yield running


def _shwatch(config: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "400", "PYTHONIOENCODING": "utf-8"}
    env.pop("SHWATCH_CONFIG", None)
    env.pop("SHWATCH_DATABASE_URL", None)
    return subprocess.run([str(SHWATCH), "--config", str(config), *args], capture_output=True, text=True,
                          encoding="utf-8", timeout=60, cwd=config.parent, env=env)


@pytest.mark.e2e
def test_a_list_redirected_to_another_site_is_refused_unless_its_host_is_allowed(site, tmp_path):
    other = site.other_host_url("/xwfb/index.html")
    refused = site.redirect("/away/index.html", other)
    allowed = site.redirect("/moved/away.html", other, status=301)
    (tmp_path / "topics.toml").write_text(
        '[[topics]]\nid = "online_healthcare"\nname_zh = "在线医疗"\nname_en = "Online healthcare"\nzh = ["互联网医院"]\n',
        encoding="utf-8",
    )
    config = tmp_path / "shwatch.toml"
    config.write_text(
        f'database_url = "sqlite+aiosqlite:///{tmp_path / "shwatch.db"}"\ntopics_file = "topics.toml"\n'
        'log_level = "WARNING"\n[fetch]\ntimeout = 3\nconnect_timeout = 1\n'
        f'[[sources]]\nid = "refused"\nname = "Refused"\nurl = "{refused}"\n'
        f'[[sources]]\nid = "allowed"\nname = "Allowed"\nurl = "{allowed}"\nallow_hosts = ["localhost"]\n',
        encoding="utf-8",
    )
    before = site.hits("/xwfb/index.html")
    poll = _shwatch(config, "poll", "--once", "--json")
    assert poll.returncode == 0, poll.stderr  # one source still works
    items = [json.loads(line) for line in poll.stdout.splitlines() if line.strip()]
    assert {i["source"] for i in items} == {"allowed"} and len(items) == 3
    assert all(i["url"].startswith(f"http://localhost:{site.port}/") for i in items if "weixin" not in i["url"])
    assert site.hits("/xwfb/index.html") == before + 1  # asked once, for the allowed source only

    # a new article on the allowed host is the source's own: fetched, its text read
    url = site.publish("xwfb", "本市互联网医院服务再扩容", "全市互联网医院新增在线复诊服务。", "2026-06-13 09:00")
    path = url.removeprefix(f"http://127.0.0.1:{site.port}")
    again = _shwatch(config, "poll", "--once", "--json")
    (item,) = [json.loads(line) for line in again.stdout.splitlines() if line.strip()]
    assert item["url"] == site.other_host_url(path) and item["source"] == "allowed"
    assert item["summary"] == "全市互联网医院新增在线复诊服务。" and item["topics"] == ["online_healthcare"]
    assert site.hits(path) == 1

    health = _shwatch(config, "sources")
    assert health.returncode == 0, health.stderr
    rows = {line.split("│")[1].strip(): line for line in health.stdout.splitlines() if line.count("│") >= 8}
    assert "redirected to another site: localhost" in rows["refused"] and "failing" in rows["refused"]
    assert rows["refused"].split("│")[6].strip() == "0"  # no items stored under it
    assert "ok" in rows["allowed"] and rows["allowed"].split("│")[6].strip() == "4"  # 3 + the new one


async def test_an_article_redirected_to_another_site_is_not_fetched_and_stays_a_list_item(site, engine):
    source = Source("xwfb", "新闻发布", site.list_url("xwfb"))
    settings = Settings(database_url="unused", sources=(source,), topics=TOPICS, fetch=FetchSettings(timeout=3, connect_timeout=1))
    store = ItemStore(engine)
    async with Fetcher(settings.fetch) as fetcher:
        poller = Poller(settings, store, fetcher, Tagger(TOPICS))
        assert (await poller.poll_source(source)).ok  # the baseline
        url = site.publish("xwfb", "本市互联网医院名单更新", "正文。", "2026-06-13 09:00")
        path = url.removeprefix(f"http://127.0.0.1:{site.port}")
        site.redirect(path, site.other_host_url(path))
        report = await poller.poll_source(source)
    (item,) = report.new_items
    assert report.ok and item.url == url and item.title == "本市互联网医院名单更新"
    assert item.extract_problem == "article not fetched: redirected to another site: localhost"
    assert item.topics == ("online_healthcare",)  # tagged on the list's title
    assert site.hits(path) == 1  # the redirect was not followed to localhost
    assert (await store.source_state("xwfb")).last_error is None  # the list itself is fine
