"""Fetching pages politely: one shared async HTTP client, bounded, conditional, capped.

``Fetcher`` is an async context manager around one ``aiohttp.ClientSession``. Every request
waits for a slot of its host (``FetchSettings.per_host``) and then for a slot of the global
pool (``FetchSettings.concurrency``), so many sources run at once without hammering one
site. A stored ETag / Last-Modified turns an unchanged page into one cheap 304. Redirects
are followed by hand (each hop takes its own host's slot) up to ``max_redirects``, and only
within the site of the URL asked for (the same host, or a host under the same registrable
domain: ``www.shanghai.gov.cn`` -> ``shanghai.gov.cn``) or to a host the caller allows (a
source's ``allow_hosts``); any other redirect is refused before a request goes there. The
whole request, redirects and body included, runs under one total deadline; the body is
streamed (decompressed as it comes) and abandoned as soon as it passes ``max_bytes``.

The client is aiohttp's, the library the service already serves its web pages with: one
HTTP stack in the process instead of two (httpx with httpcore, anyio and h11 cost 3.3 MB of
an idle service's memory), and a conditional GET costs about a quarter of the CPU it took
through httpx's transport (aiohttp parses HTTP in C). What an HTTP client gives is used as
is: keep-alive connections (at most ``per_host`` per host), cookies a site sets sent back
to that site only, and proxies from the environment (``HTTP_PROXY`` / ``HTTPS_PROXY`` /
``ALL_PROXY``, ``NO_PROXY``), chosen per request since a redirect may change the scheme.

Errors form a small tree; each carries a ``reason`` a person can read ("timeout after
20 s", "HTTP 503") and a ``kind`` that the store keeps as the source's ``error_kind``::

    FetchError (reason, url, kind)
     +-- Unreachable        kind "unreachable"  DNS, refused, reset, TLS, protocol errors
     +-- Timeout            kind "unreachable"  connect or total deadline passed
     +-- TooLarge           kind "http"         Content-Length or streamed body > max_bytes
     +-- TooManyRedirects   kind "http"         more than max_redirects hops (or a loop)
     +-- RedirectRefused    kind "http"         a redirect to another site ("redirected to another site: host")
     +-- HTTPStatusError    kind "http"         a 4xx/5xx answer (``status``)
"""

from __future__ import annotations

import asyncio
import errno
import re
import ssl
import urllib.request
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from types import TracebackType
from urllib.parse import urljoin, urlsplit

import aiohttp
import certifi

from config.model import FetchSettings
from monitors.urls import url_host, within_site

_MADE_UP_STATUS = re.compile(r"^\d{3}, message: ")
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
HOST_NOT_FOUND = "host name not found"
OFFLINE_HINT = "no source's host name could be looked up: is this machine online? (behind a proxy, set HTTPS_PROXY)"
OFFLINE_HINT_ZH = "所有来源的域名都无法解析：请检查本机是否联网（如需代理，请设置 HTTPS_PROXY）"


class FetchError(Exception):
    """A page could not be fetched; ``reason`` says why in words a person understands."""

    kind = "unreachable"

    def __init__(self, reason: str, url: str = "") -> None:
        super().__init__(f"{url}: {reason}" if url else reason)
        self.reason = reason
        self.url = url


class Unreachable(FetchError):
    kind = "unreachable"


class Timeout(FetchError):
    kind = "unreachable"


class TooLarge(FetchError):
    kind = "http"


class TooManyRedirects(FetchError):
    kind = "http"


class RedirectRefused(FetchError):
    """A redirect left the site of the URL asked for, to a host not allowed."""

    kind = "http"

    def __init__(self, host: str, url: str = "", target: str = "") -> None:
        super().__init__(f"redirected to another site: {host}", url)
        self.host = host
        self.target = target  # the address the redirect pointed to


class HTTPStatusError(FetchError):
    kind = "http"

    def __init__(self, status: int, url: str = "") -> None:
        super().__init__(f"HTTP {status}", url)
        self.status = status


@dataclass(frozen=True)
class FetchResult:
    """One fetched page. ``not_modified`` means a 304: ``content`` is empty then."""

    url: str
    final_url: str
    status: int
    content: bytes
    charset: str | None
    etag: str | None
    last_modified: str | None
    not_modified: bool = False
    content_type: str | None = None

    @property
    def is_modified(self) -> bool:
        return not self.not_modified

    @property
    def redirected(self) -> bool:
        return self.final_url != self.url

    def validators(self) -> tuple[str | None, str | None]:
        """(ETag, Last-Modified) to store for the next conditional GET."""
        return self.etag, self.last_modified


def host_of(url: str) -> str:
    parts = urlsplit(url)
    return (parts.hostname or "").lower() + (f":{parts.port}" if parts.port else "")


def conditional_headers(etag: str | None, last_modified: str | None) -> dict[str, str]:
    headers: dict[str, str] = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    return headers


def describe_size(limit: int) -> str:
    if limit >= 1_000_000:
        return f"{limit / 1_000_000:g} MB"
    if limit >= 1_000:
        return f"{limit / 1_000:g} kB"
    return f"{limit} bytes"


def _seconds(value: float) -> str:
    return f"{value:g} s"


def offline_hint(errors: Sequence[str | None]) -> str | None:
    """What to say when every one of several sources failed to look up its host name: the
    machine, not the sites, is the likely cause (no network, no DNS, a proxy needed)."""
    if len(errors) >= 2 and all(error == HOST_NOT_FOUND for error in errors):
        return OFFLINE_HINT
    return None


def _unreachable_reason(exc: Exception) -> str:
    """A short, human reason for a transport error (no stack, no library jargon)."""
    # aiohttp's own words on one line, without the status it makes up for a broken body ("400, message:")
    text = _MADE_UP_STATUS.sub("", " ".join(str(exc).split())) or type(exc).__name__
    if isinstance(exc, aiohttp.ClientConnectorDNSError):  # every failed name lookup, whatever the resolver said
        return HOST_NOT_FOUND
    cause = exc.__cause__ or exc.__context__  # aiohttp raises its connect errors from the OSError
    while cause is not None:
        if isinstance(cause, OSError) and cause.errno == errno.ECONNREFUSED:
            return "connection refused"
        cause = cause.__cause__ or cause.__context__
    lowered = text.lower()
    if "refused" in lowered or "errno 111" in lowered:
        return "connection refused"
    if "reset" in lowered:
        return "connection reset"
    if "certificate" in lowered or "ssl" in lowered:
        return f"TLS error: {text}"
    if isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, aiohttp.ClientResponseError)):
        return f"protocol error: {text}"
    return f"cannot connect: {text}"


def environment_proxy(url: str, proxies: dict[str, str]) -> str | None:
    """The proxy the environment names for ``url`` (``urllib.request.getproxies()``), if any."""
    if not proxies:
        return None
    parts = urlsplit(url)
    if parts.hostname and urllib.request.proxy_bypass(parts.hostname):
        return None
    return proxies.get(parts.scheme.lower()) or proxies.get("all")


class Fetcher:
    """Fetch pages under the limits of ``FetchSettings``. Use as ``async with Fetcher(s) as f``."""

    def __init__(self, settings: FetchSettings) -> None:
        self.settings = settings
        self._session: aiohttp.ClientSession | None = None
        self._pool = asyncio.Semaphore(settings.concurrency)
        self._slots: dict[str, asyncio.Semaphore] = {}  # one per host
        self._proxies: dict[str, str] = {}

    async def __aenter__(self) -> Fetcher:
        s = self.settings
        self._proxies = {k.lower(): v for k, v in urllib.request.getproxies().items()}
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=0,  # the global pool is our own semaphore
                limit_per_host=s.per_host,
                ssl=ssl.create_default_context(cafile=certifi.where()),
            ),
            # unsafe: a site addressed by IP address may set cookies too (each goes back to its own host only)
            cookie_jar=aiohttp.CookieJar(unsafe=True),
            headers={"Accept": ACCEPT, "Accept-Encoding": "gzip, deflate", "User-Agent": s.user_agent},
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=s.connect_timeout, sock_read=s.timeout),
        )
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        session, self._session = self._session, None
        self._slots = {}
        if session is not None:
            await session.close()

    def _slot(self, url: str) -> asyncio.Semaphore:
        try:
            name = host_of(url)
        except ValueError as exc:  # e.g. "http://[bad/": urlsplit's own words
            raise Unreachable(f"invalid URL: {exc}", url) from None
        slot = self._slots.get(name)
        if slot is None:
            slot = self._slots[name] = asyncio.Semaphore(self.settings.per_host)
        return slot

    async def fetch(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        allow_hosts: Collection[str] = (),
    ) -> FetchResult:
        """GET ``url`` (conditionally when validators are given); raise a ``FetchError`` on failure.

        Redirects are followed within ``url``'s own site and to the hosts in ``allow_hosts``
        (host names as ``urls.host_name`` gives them); any other raises ``RedirectRefused``.
        """
        if self._session is None:
            raise RuntimeError("Fetcher used outside 'async with'")
        timeout = self.settings.timeout
        try:
            async with asyncio.timeout(timeout):
                return await self._follow(self._session, url, conditional_headers(etag, last_modified), allow_hosts)
        except TimeoutError:
            raise Timeout(f"timeout after {_seconds(timeout)}", url) from None

    async def _follow(
        self, session: aiohttp.ClientSession, url: str, headers: dict[str, str], allow_hosts: Collection[str]
    ) -> FetchResult:
        current = url
        for _hop in range(self.settings.max_redirects + 1):
            async with self._slot(current), self._pool:
                outcome = await self._request(session, current, headers)
            if isinstance(outcome, FetchResult):
                return outcome if current == url else replace(outcome, url=url)  # the URL asked for
            if not within_site(outcome, url, allow_hosts):
                raise RedirectRefused(url_host(outcome) or outcome, url, outcome)
            current = outcome
        raise TooManyRedirects(f"too many redirects (>{self.settings.max_redirects})", url)

    async def _request(self, session: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> FetchResult | str:
        """One hop: a result, or the absolute URL to go to next."""
        limit = self.settings.max_bytes
        try:
            async with session.get(
                url, headers=headers or None, allow_redirects=False, proxy=environment_proxy(url, self._proxies)
            ) as response:
                status = response.status
                if status in REDIRECT_STATUSES and response.headers.get("Location"):
                    await self._drain(response)
                    return urljoin(url, response.headers["Location"])
                if status == 304:
                    await self._drain(response)
                    return self._result(url, response, b"", not_modified=True)
                if status >= 400:
                    raise HTTPStatusError(status, url)
                declared = response.content_length
                if declared is not None and declared > limit:
                    raise TooLarge(f"page larger than {describe_size(limit)}", url)
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.content.iter_any():
                    size += len(chunk)
                    if size > limit:
                        raise TooLarge(f"page larger than {describe_size(limit)}", url)
                    chunks.append(chunk)
                return self._result(url, response, b"".join(chunks))
        except aiohttp.ConnectionTimeoutError:
            raise Timeout(f"connect timeout after {_seconds(self.settings.connect_timeout)}", url) from None
        except aiohttp.ServerTimeoutError:
            raise Timeout(f"timeout after {_seconds(self.settings.timeout)}", url) from None
        except aiohttp.NonHttpUrlClientError:
            raise Unreachable("invalid URL: not an http(s) address", url) from None
        except aiohttp.InvalidURL:
            raise Unreachable("invalid URL", url) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise Unreachable(_unreachable_reason(exc), url) from exc

    @staticmethod
    async def _drain(response: aiohttp.ClientResponse, limit: int = 65536) -> None:
        """Read a small bodiless answer to its end so its connection goes back to the pool
        (releasing an unread response closes the connection)."""
        size = 0
        async for chunk in response.content.iter_any():
            size += len(chunk)
            if size > limit:
                break

    @staticmethod
    def _result(url: str, response: aiohttp.ClientResponse, content: bytes, *, not_modified: bool = False) -> FetchResult:
        return FetchResult(
            url=url,
            final_url=url,  # each hop is its own request: this one answered for ``url``
            status=response.status,
            content=content,
            charset=response.charset,
            etag=response.headers.get("ETag"),
            last_modified=response.headers.get("Last-Modified"),
            not_modified=not_modified,
            content_type=response.headers.get("Content-Type"),
        )
