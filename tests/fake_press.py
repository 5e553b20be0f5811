"""A small official press site on 127.0.0.1 that speaks HTTP like the Shanghai CMS sites.

Runs an aiohttp server on its own event loop in a background thread, so it serves
concurrently (a slow page never blocks the others) and works both for async tests in the
same process and for end-to-end tests that drive ``shwatch`` as a subprocess.

    with FakePress() as press:
        press.url("/xwfb/index.html")                     # a shared-CMS list page
        url = press.publish("xwfb", "标题", "正文……")      # a new article on top of the list
        press.hits("/xwfb/index.html"), press.statuses("/xwfb/index.html")

Pages (``press.url(path)``):
- ``/<column>/index.html`` for each column: ``ul.nowrapli.list-date > li > a + span.time``,
  site-relative article links plus absolute links to ``mp.weixin.qq.com``; ETag and
  Last-Modified, 304 on a matching conditional GET. Columns: ``xwfb`` (UTF-8, no charset
  header, like the real servers), ``gbk`` (``charset=gb2312`` header and meta, bytes in
  GB18030, titles with GBK-only characters such as 镕 and 喆), ``en`` (English).
- ``/<column>/<YYYYMMDD>/<32 hex>.html``: an article with the CMS metas (ArticleTitle,
  PubDate, ContentSource, ...) and ``#ivs_content``.
- ``/slow/index.html``: answers after ``slow_seconds``; ``/delay/<ms>/<name>``: a small page
  after ``ms`` milliseconds (for concurrency checks: ``max_in_flight("/delay/<ms>")``).
- ``/broken/index.html``: HTML without any list; ``/garbage/index.html``: random bytes.
- ``/huge/index.html``: ``huge_bytes`` with a Content-Length; ``/huge-stream/index.html``:
  the same, chunked with no length.
- ``/loop/a.html`` <-> ``/loop/b.html``: a redirect loop; ``/moved/index.html``: one 302 to
  ``/xwfb/index.html``; ``/status/<code>``: that status.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from email.utils import formatdate
from html import escape

from aiohttp import web

from loopback import LoopbackServer

WEIXIN = "https://mp.weixin.qq.com/s/"


@dataclass
class PressArticle:
    column: str
    slug: str  # 32 lowercase hex
    day: str  # YYYYMMDD
    title: str
    body: str  # paragraphs separated by blank lines; "" gives an empty #ivs_content
    pubdate: str | None  # the PubDate meta as written, e.g. "2026-06-13 14∶06"
    organ: str = "上海市卫生健康委员会"
    foreign: bool = False  # an absolute link to mp.weixin.qq.com instead of a local page
    missing: bool = False  # listed, but the article page answers 404
    delay: float = 0.0  # seconds before the article page answers

    @property
    def path(self) -> str:
        return f"/{self.column}/{self.day}/{self.slug}.html"

    @property
    def list_date(self) -> str:
        return f"{self.day[:4]}-{self.day[4:6]}-{self.day[6:]}"


@dataclass
class PressColumn:
    name: str
    title: str
    charset: str = "utf-8"  # how the bytes are encoded
    label: str | None = None  # charset in the Content-Type header and meta (None: not sent)
    lang: str = "zh"
    articles: list[PressArticle] = field(default_factory=list)  # newest first
    redesigned: bool = False  # the list markup is gone (a layout change): no items to find
    version: int = 0
    modified: float = field(default_factory=time.time)


def free_port() -> int:
    """A port on 127.0.0.1 nobody listens on (for a 'dead source')."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FakePress(LoopbackServer):
    def __init__(self, *, slow_seconds: float = 10.0, huge_bytes: int = 20_000_000) -> None:
        super().__init__()
        self.slow_seconds = slow_seconds
        self.huge_bytes = huge_bytes
        self.columns: dict[str, PressColumn] = {}
        self._lock = threading.Lock()
        self._log: list[tuple[str, int, dict[str, str]]] = []
        self._in_flight: Counter[str] = Counter()
        self._max_in_flight: Counter[str] = Counter()
        self._counter = 0
        self._stopping: asyncio.Event | None = None
        self._seed()

    # ---- site content -------------------------------------------------------------------
    def _seed(self) -> None:
        self.add_column("xwfb", "新闻发布")
        self.add_column("gbk", "旧版信息公开", charset="gb18030", label="gb2312")
        self.add_column("en", "Latest News", lang="en")
        self.publish("xwfb", "本市召开在线新经济发展推进会", "会议指出，要加快发展在线新经济。\n\n全市将新建10家无人工厂。", "2026-06-08 09:30", day="20260608")
        self.publish("xwfb", "4月26日（0-24时）本市各区居住地信息", "", None, day="20260609", foreign=True)
        self.publish("xwfb", "市卫健委发布夏季健康提示", "市卫健委提醒市民注意防暑降温。\n\n各医院将延长门诊时间。", "2026-06-10", day="20260610")
        self.publish("gbk", "朱镕基同志旧作出版座谈会召开", "座谈会在上海举行。", "2026-06-05 10:00", day="20260605")
        self.publish("gbk", "陶喆公益演出助力社区医院", "演出收入将用于社区医院建设。", "2026-06-06", day="20260606")
        self.publish("en", "Shanghai opens new cruise terminal", "The city opened a new cruise terminal on Monday.", "2026-06-07", day="20260607")

    def add_column(self, name: str, title: str, *, charset: str = "utf-8", label: str | None = None, lang: str = "zh") -> PressColumn:
        column = PressColumn(name=name, title=title, charset=charset, label=label, lang=lang)
        self.columns[name] = column
        return column

    def publish(
        self,
        column: str,
        title: str,
        body: str,
        pubdate: str | None = None,
        *,
        day: str | None = None,
        organ: str = "上海市卫生健康委员会",
        foreign: bool = False,
        missing: bool = False,
        delay: float = 0.0,
    ) -> str:
        """Put a new article on top of ``column``'s list; return its absolute URL."""
        with self._lock:
            self._counter += 1
            slug = hashlib.md5(f"{column}-{self._counter}-{title}".encode()).hexdigest()
            if day is None:
                day = (pubdate or "2026-06-13")[:10].replace("-", "")
            article = PressArticle(column, slug, day, title, body, pubdate, organ, foreign, missing, delay)
            col = self.columns[column]
            col.articles.insert(0, article)
            col.version += 1
            col.modified = max(time.time(), col.modified + 1)
        return self.article_url(article)

    def set_delay(self, url: str, seconds: float) -> None:
        """Make the article at ``url`` answer after ``seconds``."""
        with self._lock:
            for col in self.columns.values():
                for article in col.articles:
                    if self.article_url(article) == url:
                        article.delay = seconds

    def redesign(self, column: str, redesigned: bool = True) -> None:
        """Serve ``column``'s list page without its list markup (or restore it)."""
        with self._lock:
            col = self.columns[column]
            col.redesigned = redesigned
            col.version += 1
            col.modified = max(time.time(), col.modified + 1)

    def article_url(self, article: PressArticle) -> str:
        if article.foreign:
            return WEIXIN + article.slug
        return self.url(article.path)

    def list_url(self, column: str) -> str:
        return self.url(f"/{column}/index.html")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    # ---- what happened ------------------------------------------------------------------
    def hits(self, path: str) -> int:
        with self._lock:
            return sum(1 for p, _, _ in self._log if p == path)

    def statuses(self, path: str) -> list[int]:
        with self._lock:
            return [s for p, s, _ in self._log if p == path]

    def requests(self, path: str) -> list[dict[str, str]]:
        """The interesting request headers (User-Agent, conditional headers) per request."""
        with self._lock:
            return [h for p, _, h in self._log if p == path]

    def paths(self) -> list[str]:
        with self._lock:
            return [p for p, _, _ in self._log]

    def max_in_flight(self, prefix: str) -> int:
        with self._lock:
            return self._max_in_flight[prefix]

    def _record(self, path: str, status: int, request: web.Request) -> None:
        keep = {k: request.headers[k] for k in ("User-Agent", "If-None-Match", "If-Modified-Since") if k in request.headers}
        with self._lock:
            self._log.append((path, status, keep))

    # ---- HTML ---------------------------------------------------------------------------
    def list_html(self, col: PressColumn) -> str:
        rows = []
        for a in [] if col.redesigned else col.articles:
            href = WEIXIN + a.slug if a.foreign else a.path
            t = escape(a.title)
            rows.append(f'<li><a href="{href}" title="{t}" target="_blank">{t}</a><span class="time">{a.list_date}</span></li>')
        meta = f'<meta http-equiv="Content-Type" content="text/html; charset={col.label}">' if col.label else '<meta charset="utf-8">'
        lang = "en" if col.lang == "en" else "zh-Hans"
        return (
            f'<!DOCTYPE html>\n<html lang="{lang}"><head>{meta}\n<meta name="ColumnName" content="{escape(col.title)}">'
            f"<title>{escape(col.title)}</title></head><body><div class=\"main\"><div class=\"container\">"
            f'<h1 class="channel-title">{escape(col.title)}</h1>\n<ul class="uli16 nowrapli list-date ">\n'
            + "\n".join(rows)
            + '\n</ul>\n<div class="pagination"><a href="index_2.html">下一页</a></div></div></div></body></html>'
        )

    def article_html(self, col: PressColumn, a: PressArticle) -> str:
        meta = f'<meta http-equiv="Content-Type" content="text/html; charset={col.label}">' if col.label else '<meta charset="utf-8">'
        pub = f'<meta name="PubDate" content="{escape(a.pubdate)}">' if a.pubdate else ""
        paras = "".join(f"<p>{escape(p.strip())}</p>" for p in a.body.split("\n\n") if p.strip())
        t = escape(a.title)
        return (
            f'<!DOCTYPE html>\n<html><head>{meta}\n<meta name="SiteName" content="上海市卫生健康委员会">'
            f'<meta name="ColumnName" content="{escape(col.title)}"><meta name="ArticleTitle" content="{t}">{pub}'
            f'<meta name="ContentSource" content="{escape(a.organ)}"><meta name="Author" content="">'
            f"<title>{t}_{escape(col.title)}</title></head><body>"
            f'<div class="header">导航 首页 新闻发布</div><div id="ivs_title"><h2>{t}</br></h2></div>'
            f'<div id="ivs_date">( {a.list_date})</div>'
            f'<div id="ivs_content" class="Article_content">{paras}</div>'
            f'<div class="footer">主办：上海市人民政府 版权所有</div></body></html>'
        )

    # ---- HTTP ---------------------------------------------------------------------------
    def _page(self, request: web.Request, body: bytes, content_type: str, modified: float) -> web.Response:
        etag = '"' + hashlib.sha1(body).hexdigest()[:20] + '"'
        last_modified = formatdate(modified, usegmt=True)
        headers = {"ETag": etag, "Last-Modified": last_modified, "Content-Type": content_type}
        inm = request.headers.get("If-None-Match")
        ims = request.headers.get("If-Modified-Since")
        if (inm is not None and etag in [t.strip() for t in inm.split(",")]) or (inm is None and ims == last_modified):
            return web.Response(status=304, headers={"ETag": etag, "Last-Modified": last_modified})
        return web.Response(body=body, headers=headers)

    @staticmethod
    def _content_type(col: PressColumn) -> str:
        return f"text/html; charset={col.label}" if col.label else "text/html"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        segments = path.strip("/").split("/")
        # concurrency is tallied per first path segment; /delay/<ms> pages per delay value
        prefix = "/" + "/".join(segments[:2] if segments[0] == "delay" else segments[:1])
        with self._lock:
            self._in_flight[prefix] += 1
            self._max_in_flight[prefix] = max(self._max_in_flight[prefix], self._in_flight[prefix])
        response: web.StreamResponse | None = None
        try:
            response = await self._route(request, path)
            return response
        finally:
            with self._lock:
                self._in_flight[prefix] -= 1
            self._record(path, response.status if response is not None else 599, request)

    async def _route(self, request: web.Request, path: str) -> web.StreamResponse:
        parts = path.strip("/").split("/")
        if len(parts) == 2 and parts[1] == "index.html" and parts[0] in self.columns:
            col = self.columns[parts[0]]
            with self._lock:
                html = self.list_html(col)
                modified = col.modified
            return self._page(request, html.encode(col.charset), self._content_type(col), modified)
        if len(parts) == 3 and parts[0] in self.columns:
            col = self.columns[parts[0]]
            with self._lock:
                article = next((a for a in col.articles if a.path == path and not (a.foreign or a.missing)), None)
            if article is None:
                return web.Response(status=404, text="not found")
            if article.delay:
                await self._sleep(article.delay)
            return self._page(request, self.article_html(col, article).encode(col.charset), self._content_type(col), col.modified)
        if path == "/slow/index.html":
            await self._sleep(self.slow_seconds)
            return web.Response(text=self.list_html(self.columns["xwfb"]).replace("/xwfb/", "/slow/"), content_type="text/html")
        if parts[0] == "delay" and len(parts) >= 2 and parts[1].isdigit():
            await self._sleep(int(parts[1]) / 1000)
            return web.Response(text="<html><body>ok</body></html>", content_type="text/html")
        if path == "/broken/index.html":
            return web.Response(
                text="<html><head><title>系统维护</title></head><body><div class='main'><p>网站改版中，请稍后访问。</p></div></body></html>",
                content_type="text/html",
            )
        if path == "/garbage/index.html":
            return web.Response(body=hashlib.sha512(b"x").digest() * 64, content_type="text/html")
        if path == "/huge/index.html":
            return web.Response(body=b"<html><body>" + b"x" * self.huge_bytes, content_type="text/html")
        if path == "/huge-stream/index.html":
            return await self._stream_huge(request)
        if path == "/loop/a.html":
            return web.Response(status=302, headers={"Location": "/loop/b.html"})
        if path == "/loop/b.html":
            return web.Response(status=302, headers={"Location": "/loop/a.html"})
        if path == "/moved/index.html":
            return web.Response(status=302, headers={"Location": "/xwfb/index.html"})
        if parts[0] == "status" and len(parts) == 2 and parts[1].isdigit():
            return web.Response(status=int(parts[1]), text=f"status {parts[1]}")
        return web.Response(status=404, text="not found")

    async def _sleep(self, seconds: float) -> None:
        assert self._stopping is not None
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            pass

    async def _stream_huge(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/html"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        chunk = b"y" * 65536
        sent = 0
        try:
            while sent < self.huge_bytes:
                await response.write(chunk)
                sent += len(chunk)
            await response.write_eof()
        except (ConnectionError, RuntimeError):
            pass  # the client hung up once it had seen enough: that is the point
        return response

    def source_toml(self, column: str, source_id: str, name: str, *, lang: str = "zh", interval: int = 1) -> str:
        """A ``[[sources]]`` table watching one column of this site, for a config under test."""
        return (
            f'[[sources]]\nid = "{source_id}"\nname = "{name}"\nurl = "{self.list_url(column)}"\n'
            f'lang = "{lang}"\ninterval = {interval}\n'
        )

    # ---- lifecycle (tests/loopback.py) ---------------------------------------------------
    thread_name = "fake-press"

    async def on_start(self) -> None:
        self._stopping = asyncio.Event()

    def build(self, app: web.Application) -> None:
        app.router.add_route("GET", "/{tail:.*}", self._handle)

    async def on_stop(self) -> None:
        assert self._stopping is not None
        self._stopping.set()  # slow pages stop waiting

