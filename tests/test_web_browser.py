"""A real browser on the web app: headless Chromium (Debian's chromium and chromium-driver,
which `make test` installs when missing) driven by Selenium. It opens the dashboard, searches
for a Chinese word, opens a result and switches the language, with no JavaScript of ours on
the pages; each page is saved under var/screenshots/."""

from __future__ import annotations

import asyncio
import random
import shutil
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from bot.core.clock import FakeClock
from bot.store.migrate import upgrade_to_head
from bot.web import WebServer, build_web_app
from config.settings import load_settings
from monitors.db import create_engine
from monitors.model import Item
from monitors.store import ItemStore
from test_web import NOW, seed, settings_file

REPO = Path(__file__).resolve().parent.parent
SHOTS = REPO / "var" / "screenshots"
CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="Chromium is not installed: `make test` installs the Debian packages chromium and chromium-driver "
    "(as root: apt-get update && apt-get install -y chromium chromium-driver)",
)

# a few weeks of items in several fields, so that the dashboard's chart has something to show
FIELD_TITLES = {
    "online_healthcare": ["市卫生健康委推进互联网医院建设", "本市扩大互联网诊疗服务范围", "瑞金医院上线在线复诊"],
    "online_education": ["市教委发布在线教育资源", "空中课堂新学期课程表公布", "中小学在线教育平台升级"],
    "unmanned_factory": ["临港无人工厂投产", "智能工厂建设现场推进会召开"],
    "contactless_delivery": ["无接触配送服务覆盖更多社区", "智能取餐柜进驻写字楼"],
    "online_exhibition": ["在线展会平台吸引境外采购商", "云上展览展示周开幕"],
    "remote_office": ["远程办公助力企业复工复产", "云会议服务用户增长"],
}


async def _extra_items(engine) -> None:
    rng = random.Random(20200408)
    extra = []
    for n in range(160):
        topic = rng.choice(list(FIELD_TITLES))
        when = NOW - timedelta(hours=rng.randint(30, 24 * 80))
        extra.append(
            Item(
                source_id=rng.choice(["shgov-yw", "sheitc-cyfz", "wsjkw-xwfb", "shio-ywts"]),
                url=f"https://www.shanghai.gov.cn/nw4411/2026/{n:032x}.html",
                title=rng.choice(FIELD_TITLES[topic]),
                published=when,
                first_seen_at=when,
                summary="上海市持续推进在线新经济发展。",
                topics=(topic,),
            )
        )
    await ItemStore(engine).insert_items(extra)


class ServerThread:
    """The web app on 127.0.0.1 in a thread with its own event loop (Selenium is synchronous)."""

    def __init__(self, url: str, settings) -> None:
        self.url = url
        self.settings = settings
        self.port = 0
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="web-browser-test", daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        await upgrade_to_head(self.url)
        engine = create_engine(self.url)
        try:
            await seed(engine)
            await _extra_items(engine)
            server = WebServer(build_web_app(self.settings, engine, FakeClock(NOW), role="web"), "127.0.0.1", 0)
            await server.start()
            self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
            self.port = server.bound_port
            self._ready.set()
            await self._stop.wait()
            await server.stop()
        finally:
            await engine.dispose()

    def __enter__(self) -> "ServerThread":
        self._thread.start()
        assert self._ready.wait(30), "the web server did not start"
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *exc) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


@pytest.fixture
def browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1100"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"intl.accept_languages": "zh-CN,zh"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(15)
    try:
        yield driver
    finally:
        driver.quit()


def shot(driver, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    assert driver.save_screenshot(str(path)), path
    return path


def test_dashboard_search_a_chinese_word_open_it_and_switch_language(browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    settings = load_settings(settings_file(tmp_path), env={})
    with ServerThread(f"sqlite+aiosqlite:///{tmp_path / 'browser.db'}", settings) as server:
        base = f"http://127.0.0.1:{server.port}"
        browser.get(base + "/")
        assert browser.find_element(By.TAG_NAME, "h1").text == "概览"  # the browser asks for Chinese
        weekly = browser.find_elements(By.CSS_SELECTOR, "table.fields svg rect")
        assert len(weekly) == 12 * len(settings.topics)
        shot(browser, "dashboard")

        box = browser.find_element(By.ID, "top-q")
        box.send_keys("医院", Keys.ENTER)
        titles = [a.text for a in browser.find_elements(By.CSS_SELECTOR, ".result-title")]
        assert "本市新增两家互联网医院" in titles and "上海市第一人民医院开通在线问诊" in titles
        assert {m.text for m in browser.find_elements(By.CSS_SELECTOR, ".result-title mark")} == {"医院"}
        assert browser.find_element(By.ID, "q").get_attribute("value") == "医院"
        shot(browser, "search")

        browser.find_element(By.LINK_TEXT, "本市新增两家互联网医院").click()
        assert browser.find_element(By.TAG_NAME, "h1").text == "本市新增两家互联网医院"
        assert "在线医疗" in browser.find_element(By.CSS_SELECTOR, ".fields-list").text
        shot(browser, "item")

        browser.find_element(By.CSS_SELECTOR, "nav.langs a[hreflang=en]").click()
        assert browser.find_element(By.CSS_SELECTOR, ".facts dt").text == "Source"
        assert "Online healthcare" in browser.find_element(By.CSS_SELECTOR, ".fields-list").text
        shot(browser, "item-en")
        browser.get(base + "/sources")  # the cookie keeps English without ?lang=
        assert browser.find_element(By.TAG_NAME, "h1").text == "Sources"
        shot(browser, "sources-en")
