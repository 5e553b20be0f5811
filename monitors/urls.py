"""Article URLs: resolving list links, the canonical form used as the dedupe key, the
shared Shanghai CMS article shape ``/<column>/<YYYYMMDD>/<32 hex>.html``, the dates other
CMS families put in their URLs, and which site a URL belongs to.

A site is a registrable domain (``www.shanghai.gov.cn`` and ``shanghai.gov.cn`` are one site,
``wsjkw.sh.gov.cn`` and ``www.sh.gov.cn`` another, ``mp.weixin.qq.com`` a third), read with the
Public Suffix List that ships inside the ``publicsuffixlist`` package (never fetched at run time).
An IP address, or a name with no registrable domain (``localhost``), is a site of its own.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Collection
from datetime import date
from urllib.parse import urljoin, urlsplit, urlunsplit

from publicsuffixlist import PublicSuffixList

_DEFAULT_PORTS = {"http": 80, "https": 443}
_REJECTED_SCHEMES = ("javascript:", "mailto:", "tel:", "data:", "about:", "vbscript:", "file:")
_SLASHES = re.compile(r"/{2,}")
_CONTROL = re.compile(r"[\t\r\n\x00]")
_HAS_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:|^//")
_QUERY_OR_FRAGMENT = re.compile(r"[?#]")

# The shared CMS article: /<column>/<YYYYMMDD>/<32 hex>.html, and the English portal's
# /en-<Column>/<YYYYMMDD>/<hex>.html (hex length not known: 16-64 accepted). Matched against a
# URL's path (search, anchored at the end).
ARTICLE_URL = re.compile(
    r"/(?P<column>[A-Za-z0-9_\-]{1,64})/(?P<date>(?:19|20)\d{6})/(?P<id>[0-9a-fA-F]{16,64})\.html?$"
)
article_url_pattern = ARTICLE_URL  # the name used in contracts.md


def canonical_url(url: str) -> str:
    """The dedupe key of a URL: lowercase scheme and host, no fragment, no default port,
    no ``//`` or ``..`` noise in the path; the query is kept as it is."""
    url = _CONTROL.sub("", url.strip())
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # e.g. a non-numeric port
        return url
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if not scheme or not host:
        return urlunsplit((scheme, parts.netloc, _clean_path(parts.path), parts.query, ""))
    netloc = host if ":" not in host else f"[{host}]"
    if parts.username is not None:
        userinfo = parts.username + (f":{parts.password}" if parts.password is not None else "")
        netloc = f"{userinfo}@{netloc}"
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        netloc = f"{netloc}:{port}"
    return urlunsplit((scheme, netloc, _clean_path(parts.path) or "/", parts.query, ""))


def resolve(base: str, href: str | None) -> str | None:
    """The canonical absolute URL a link on page ``base`` points to, or None when it is no
    page link (empty, ``#...``, ``javascript:``, ``mailto:`` ...)."""
    if not href:
        return None
    href = _CONTROL.sub("", href).strip()
    low = href.lower()
    if not href or href.startswith("#") or low.startswith(_REJECTED_SCHEMES):
        return None
    if not _HAS_SCHEME.match(href):
        # a relative link: collapse '//' noise ('../..//col/x.htm') before joining
        path, sep, rest = _split_path(href)
        href = _SLASHES.sub("/", path) + sep + rest
    try:
        absolute = urljoin(base, href)
    except ValueError:
        return None
    if urlsplit(absolute).scheme.lower() not in ("http", "https"):
        return None
    return canonical_url(absolute)


def article_date(url: str) -> date | None:
    """The YYYYMMDD folder date of a shared-CMS article URL, if it is one."""
    match = ARTICLE_URL.search(urlsplit(url).path)
    if not match:
        return None
    raw = match.group("date")
    try:
        return date(int(raw[:4]), int(raw[4:6]), int(raw[6:]))
    except ValueError:
        return None


def is_article_url(url: str) -> bool:
    return article_date(url) is not None


# Dates other CMS families write into article paths, tried after the shared-CMS shape:
_URL_DATES = (
    re.compile(r"/t(?P<y>(?:19|20)\d{2})(?P<m>\d{2})(?P<d>\d{2})_\d+[^/]*$"),  # TRS: ./202008/t20200802_1352104.html
    re.compile(r"/(?P<y>(?:19|20)\d{2})/(?P<m>\d{1,2})/(?P<d>\d{1,2})/"),  # Hanweb: /art/2021/5/6/art_1_2.html
    re.compile(r"/(?P<y>(?:19|20)\d{2})-(?P<m>\d{1,2})/(?P<d>\d{1,2})/"),  # /2021-05/06/c_1127.htm
    re.compile(r"/(?P<y>(?:19|20)\d{2})-(?P<m>\d{2})-(?P<d>\d{2})/"),  # /2021-05-06/
    re.compile(r"/(?P<y>(?:19|20)\d{2})/(?P<m>\d{2})(?P<d>\d{2})/"),  # /n1/2021/0506/c1001-1.html
    re.compile(r"/(?P<y>(?:19|20)\d{2})(?P<m>\d{2})(?P<d>\d{2})/"),  # any YYYYMMDD folder
)
_URL_MONTH = re.compile(r"/(?:19|20)\d{2}(?:0[1-9]|1[0-2])/")  # a month folder: TRS ./202008/...


def url_date(url: str) -> date | None:
    """The publication day an article URL carries: the shared-CMS folder date, TRS's
    ``t20200802_``, Hanweb's ``/2021/5/6/``, and other ``/YYYY.../`` folder shapes."""
    found = article_date(url)
    if found is not None:
        return found
    path = urlsplit(url).path
    for pattern in _URL_DATES:
        match = pattern.search(path)
        if match is None:
            continue
        try:
            return date(int(match.group("y")), int(match.group("m")), int(match.group("d")))
        except ValueError:
            continue
    return None


def url_has_date(url: str) -> bool:
    """Whether an article URL is dated, to the day (``url_date``) or to the month (``/202008/``)."""
    return url_date(url) is not None or _URL_MONTH.search(urlsplit(url).path) is not None


# --- sites ----------------------------------------------------------------------------------


@functools.cache
def _public_suffixes() -> PublicSuffixList:
    return PublicSuffixList()  # the list bundled with the package: read once, on first use


def host_name(host: str) -> str:
    """A host name as compared here: lowercase, no trailing dot, IDNA (``xn--``) form."""
    host = host.strip().lower().rstrip(".")
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host


def site_of(host: str) -> str:
    """The site a host belongs to: its registrable domain (``www.shanghai.gov.cn`` ->
    ``shanghai.gov.cn``); an IP address or a name without one (``localhost``) is itself."""
    host = host_name(host)
    try:
        ipaddress.ip_address(host.strip("[]"))
        return host
    except ValueError:
        pass
    return _public_suffixes().privatesuffix(host) or host


def same_site(url: str, other: str) -> bool:
    """Whether two URLs belong to one site (the same host, or hosts under one registrable
    domain); the port and the scheme do not matter."""
    a, b = url_host(url), url_host(other)
    if not a or not b:
        return False
    return a == b or site_of(a) == site_of(b)


def within_site(url: str, site_url: str, allow_hosts: Collection[str] = ()) -> bool:
    """Whether ``url`` is on ``site_url``'s site or on a host in ``allow_hosts`` (``host_name``
    form): the rule for following a redirect and for fetching a source's article."""
    return same_site(url, site_url) or url_host(url) in allow_hosts


def url_host(url: str) -> str:
    """The host name of a URL (``host_name`` form), "" when it has none or is malformed."""
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return ""
    return host_name(host) if host else ""


def _split_path(href: str) -> tuple[str, str, str]:
    """(path, the first '?' or '#', the rest); ``(href, "", "")`` when there is neither."""
    found = _QUERY_OR_FRAGMENT.search(href)
    if found is None:
        return href, "", ""
    i = found.start()
    return href[:i], href[i], href[i + 1:]


def _clean_path(path: str) -> str:
    """Collapse repeated slashes and resolve '.' and '..' segments (RFC 3986 5.2.4)."""
    if not path:
        return path
    path = _SLASHES.sub("/", path)
    trailing = path.endswith("/") or path.endswith("/.") or path.endswith("/..")
    out: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if out:
                out.pop()
            continue
        out.append(segment)
    cleaned = "/" + "/".join(out)
    if trailing and out:
        cleaned += "/"
    return cleaned
