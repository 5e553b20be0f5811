"""Article URLs: resolving list links, the canonical form used as the dedupe key, and the
shared Shanghai CMS article shape ``/<column>/<YYYYMMDD>/<32 hex>.html``.
"""

from __future__ import annotations

import re
from datetime import date
from urllib.parse import urljoin, urlsplit, urlunsplit

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
