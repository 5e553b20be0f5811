"""The Fetcher against a real HTTP server on 127.0.0.1 (tests/fake_press.py)."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace

import pytest
from aiohttp import web

import fake_press
from config.model import FetchSettings
from monitors.fetch import (
    Fetcher,
    FetchError,
    HTTPStatusError,
    RedirectRefused,
    Timeout,
    TooLarge,
    TooManyRedirects,
    Unreachable,
)
from site_press import SitePress

FAST = FetchSettings(connect_timeout=2.0, timeout=1.5, max_bytes=5_000_000, max_redirects=5, per_host=4)


@asynccontextmanager
async def serving(
    handle: Callable[[web.Request], Awaitable[web.Response]], middlewares: Sequence = ()
) -> AsyncIterator[str]:
    """``handle`` answering every GET on 127.0.0.1, in the test's own loop: its base URL."""
    app = web.Application(middlewares=list(middlewares))
    app.router.add_route("GET", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@pytest.fixture(scope="module")
def press():
    with fake_press.FakePress(slow_seconds=6.0) as site:
        yield site


async def test_list_page_then_304_with_stored_validators(press):
    url = press.list_url("xwfb")
    async with Fetcher(FAST) as fetcher:
        first = await fetcher.fetch(url)
        assert first.status == 200 and first.is_modified
        assert "nowrapli" in first.content.decode("utf-8")
        assert first.etag and first.last_modified
        etag, last_modified = first.validators()
        second = await fetcher.fetch(url, etag=etag, last_modified=last_modified)
    assert second.not_modified and second.status == 304 and second.content == b""
    assert press.statuses("/xwfb/index.html")[-2:] == [200, 304]
    sent = press.requests("/xwfb/index.html")[-1]
    assert sent["If-None-Match"] == etag
    assert sent["User-Agent"] == FAST.user_agent


async def test_last_modified_alone_also_gives_304_and_a_change_gives_200(press):
    url = press.list_url("en")
    async with Fetcher(FAST) as fetcher:
        first = await fetcher.fetch(url)
        again = await fetcher.fetch(url, last_modified=first.last_modified)
        assert again.not_modified
        press.publish("en", "Shanghai expands online education pilots", "Schools joined.", "2026-06-12")
        changed = await fetcher.fetch(url, etag=first.etag, last_modified=first.last_modified)
    assert changed.is_modified and b"online education pilots" in changed.content


async def test_gb2312_label_is_reported_and_bytes_are_untouched(press):
    async with Fetcher(FAST) as fetcher:
        result = await fetcher.fetch(press.list_url("gbk"))
    assert result.charset is not None and result.charset.lower() == "gb2312"
    # the GBK-only characters survive when decoded as the superset gb18030
    text = result.content.decode("gb18030")
    assert "朱镕基" in text and "陶喆" in text


async def test_size_cap_by_content_length_and_while_streaming(press):
    async with Fetcher(FAST) as fetcher:
        with pytest.raises(TooLarge) as declared:
            await fetcher.fetch(press.url("/huge/index.html"))
        with pytest.raises(TooLarge) as streamed:
            await fetcher.fetch(press.url("/huge-stream/index.html"))
    assert declared.value.reason == "page larger than 5 MB"
    assert streamed.value.reason == "page larger than 5 MB"
    assert declared.value.kind == "http"


async def test_total_timeout_covers_a_slow_answer(press):
    settings = replace(FAST, timeout=0.5)
    loop = asyncio.get_running_loop()
    async with Fetcher(settings) as fetcher:
        started = loop.time()
        with pytest.raises(Timeout) as caught:
            await fetcher.fetch(press.url("/slow/index.html"))
        elapsed = loop.time() - started
    assert caught.value.reason == "timeout after 0.5 s"
    assert elapsed < 5  # gave up long before the server's 6 s answer


async def test_redirect_loop_and_a_single_redirect(press):
    async with Fetcher(FAST) as fetcher:
        with pytest.raises(TooManyRedirects) as caught:
            await fetcher.fetch(press.url("/loop/a.html"))
        moved = await fetcher.fetch(press.url("/moved/index.html"))
    assert caught.value.reason == "too many redirects (>5)"
    assert moved.final_url == press.list_url("xwfb") and moved.redirected
    assert moved.url == press.url("/moved/index.html")


# --- redirects stay on the site asked for, or go to an allowed host ---------------------------


@pytest.fixture(scope="module")
def site():
    with SitePress() as running:
        yield running


async def test_a_redirect_to_another_host_is_refused_before_anything_is_asked_of_it(site):
    # 127.0.0.1 -> localhost: a real redirect between two loopback hosts (one server)
    target = "/xwfb/index.html"
    away = site.redirect("/away/index.html", site.other_host_url(target))
    before = site.hits(target)
    async with Fetcher(FAST) as fetcher:
        with pytest.raises(RedirectRefused) as caught:
            await fetcher.fetch(away)
        with pytest.raises(RedirectRefused):  # a host allowed for something else changes nothing
            await fetcher.fetch(away, allow_hosts=("www.shanghai.gov.cn",))
    assert caught.value.reason == "redirected to another site: localhost"
    assert caught.value.kind == "http" and caught.value.url == away and isinstance(caught.value, FetchError)
    assert site.hits(target) == before  # the other host was never asked


async def test_a_redirect_to_an_allowed_host_is_followed(site):
    target = site.other_host_url("/xwfb/index.html")
    away = site.redirect("/allowed/index.html", target, status=301)
    async with Fetcher(FAST) as fetcher:
        page = await fetcher.fetch(away, allow_hosts=("localhost",))
    assert page.status == 200 and page.final_url == target and page.url == away
    assert b"nowrapli" in page.content


async def test_a_second_hop_away_from_the_allowed_host_is_refused_too(site):
    # 127.0.0.1 -> localhost (allowed) -> 127.0.0.1 (the site asked for) -> localhost again is fine,
    # but localhost -> a host neither the site nor allowed is refused with that host's name
    site.redirect("/hop2/index.html", "http://press.example.invalid/xwfb/index.html")
    first = site.redirect("/hop1/index.html", site.other_host_url("/hop2/index.html"))
    async with Fetcher(FAST) as fetcher:
        with pytest.raises(RedirectRefused) as caught:
            await fetcher.fetch(first, allow_hosts=("localhost",))
    assert caught.value.reason == "redirected to another site: press.example.invalid"


async def test_http_errors_and_a_dead_port(press):
    async with Fetcher(FAST) as fetcher:
        with pytest.raises(HTTPStatusError) as status:
            await fetcher.fetch(press.url("/status/503"))
        with pytest.raises(Unreachable) as dead:
            await fetcher.fetch(f"http://127.0.0.1:{fake_press.free_port()}/index.html")
    assert status.value.status == 503 and status.value.reason == "HTTP 503"
    assert dead.value.reason == "connection refused"
    assert isinstance(dead.value, FetchError) and dead.value.kind == "unreachable"


async def test_per_host_limit_is_honoured(press):
    settings = replace(FAST, per_host=2, concurrency=10)
    async with Fetcher(settings) as fetcher:
        results = await asyncio.gather(*(fetcher.fetch(press.url(f"/delay/300/p{i}")) for i in range(8)))
    assert all(r.status == 200 for r in results)
    assert press.max_in_flight("/delay/300") == 2


async def test_global_pool_bounds_requests_across_hosts(press):
    # 127.0.0.1 and localhost are two hosts to the Fetcher but the same server here.
    settings = replace(FAST, per_host=10, concurrency=3)
    async with Fetcher(settings) as fetcher:
        urls = [press.url(f"/delay/301/a{i}") for i in range(4)]
        urls += [f"http://localhost:{press.port}/delay/301/b{i}" for i in range(4)]
        await asyncio.gather(*(fetcher.fetch(u) for u in urls))
    assert press.max_in_flight("/delay/301") == 3


# --- what the Fetcher keeps of an HTTP client: cookies per host, proxies from the environment ---


@pytest.fixture
async def cookie_site():
    """A site that sets a cookie (on a redirect too) and echoes the Cookie header it gets."""

    async def handle(request: web.Request) -> web.Response:
        if request.path == "/set":
            return web.Response(text="set", headers={"Set-Cookie": "visit=1; Path=/"})
        if request.path == "/redirect-setting":
            return web.Response(status=302, headers={"Location": "/echo", "Set-Cookie": "hop=2; Path=/"})
        return web.Response(text=request.headers.get("Cookie", "-"))

    async with serving(handle) as url:
        yield url


async def test_cookies_a_site_sets_are_sent_back_to_it(cookie_site):
    async with Fetcher(FAST) as fetcher:
        assert (await fetcher.fetch(f"{cookie_site}/echo")).content == b"-"
        await fetcher.fetch(f"{cookie_site}/set")
        assert (await fetcher.fetch(f"{cookie_site}/echo")).content == b"visit=1"
        followed = await fetcher.fetch(f"{cookie_site}/redirect-setting")
    assert sorted(followed.content.decode().split("; ")) == ["hop=2", "visit=1"]
    async with Fetcher(FAST) as fresh:  # nothing outlives the Fetcher
        assert (await fresh.fetch(f"{cookie_site}/echo")).content == b"-"


async def test_a_proxy_named_by_the_environment_is_used(cookie_site, monkeypatch):
    seen: list[str] = []

    @web.middleware
    async def record(request: web.Request, handler):
        seen.append(f"{request.method} {request.url}" if request.method != "GET" else str(request.url))
        return await handler(request)

    async def proxy(request: web.Request) -> web.Response:
        return web.Response(text="via proxy")

    async with serving(proxy, [record]) as proxy_url:
        for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", proxy_url)
        monkeypatch.setenv("NO_PROXY", "localhost")
        async with Fetcher(FAST) as fetcher:
            proxied = await fetcher.fetch("http://press.example.invalid/xwfb/index.html")
            direct = await fetcher.fetch(cookie_site.replace("127.0.0.1", "localhost") + "/echo")
            with pytest.raises(Unreachable):  # HTTP_PROXY is for http:// only: this goes (and fails) direct
                await fetcher.fetch(cookie_site.replace("http://", "https://") + "/echo")
    assert proxied.content == b"via proxy"
    assert seen == ["http://press.example.invalid/xwfb/index.html"]
    assert direct.content == b"-"  # NO_PROXY: straight to the site


# --- compressed bodies: capped after decompression, a broken one is a clear error ---------------


@pytest.fixture
async def gzip_site():
    """``/bomb``: 64 MB of zeros gzipped to about 64 KB; ``/broken``: a gzip header on bytes that are not."""
    bomb = gzip.compress(bytes(64 * 1024 * 1024), 9)

    async def handle(request: web.Request) -> web.Response:
        body = bomb if request.path == "/bomb" else b"<html>not gzip at all</html>"
        return web.Response(body=body, headers={"Content-Encoding": "gzip", "Content-Type": "text/html"})

    async with serving(handle) as url:
        yield url, len(bomb)


async def test_a_gzip_bomb_is_refused_by_its_decompressed_size(gzip_site):
    url, compressed = gzip_site
    assert compressed < FAST.max_bytes  # small on the wire: only the decompressed size can catch it
    async with Fetcher(FAST) as fetcher:
        with pytest.raises(TooLarge) as caught:
            await fetcher.fetch(f"{url}/bomb")
        with pytest.raises(Unreachable) as broken:
            await fetcher.fetch(f"{url}/broken")
    assert caught.value.reason == "page larger than 5 MB"
    assert broken.value.reason == "protocol error: Can not decode content-encoding: gzip"  # one line, no made-up status
