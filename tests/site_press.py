"""The fake press (tests/fake_press.py) with pages and redirects a test sets up itself.

    with SitePress() as site:
        site.page("/trs/index.html", html)                       # any page, served as given
        site.redirect("/away/index.html", site.other_host_url("/xwfb/index.html"))
        site.other_host_url(path)                                 # the same server as http://localhost:<port>

``localhost`` and ``127.0.0.1`` are two hosts (two sites) to the fetcher but one server here,
so a redirect between them is a real cross-host redirect on loopback.
"""

from __future__ import annotations

from aiohttp import web

from fake_press import FakePress


class SitePress(FakePress):
    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.pages: dict[str, tuple[bytes, str]] = {}
        self.redirects: dict[str, str] = {}

    def page(self, path: str, html: str | bytes, content_type: str = "text/html; charset=utf-8") -> str:
        """Serve ``html`` at ``path``; return its URL."""
        body = html.encode("utf-8") if isinstance(html, str) else html
        with self._lock:
            self.pages[path] = (body, content_type)
        return self.url(path)

    def redirect(self, path: str, location: str, status: int = 302) -> str:
        """Answer ``path`` with a redirect to ``location``; return its URL."""
        with self._lock:
            self.redirects[path] = f"{status} {location}"
        return self.url(path)

    def other_host_url(self, path: str) -> str:
        return f"http://localhost:{self.port}{path}"

    async def _route(self, request: web.Request, path: str) -> web.StreamResponse:
        with self._lock:
            page = self.pages.get(path)
            redirect = self.redirects.get(path)
        if redirect is not None:
            status, location = redirect.split(" ", 1)
            return web.Response(status=int(status), headers={"Location": location})
        if page is not None:
            body, content_type = page
            return web.Response(body=body, headers={"Content-Type": content_type})
        return await super()._route(request, path)
