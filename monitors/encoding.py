"""Turning a page's bytes into text: which charset to believe, and what to do when it lies.

Order: a charset forced in the source's config, else the HTTP header's, else a ``<meta>``
charset in the first few KB, else UTF-8 (falling back to GB18030 when UTF-8 fails badly,
as on old pages that declare nothing). GB2312/GBK labels always decode as GB18030, their
superset: official pages labelled gb2312 routinely hold GBK-only characters (镕, 喆), which
a strict gb2312 decoder, and lxml fed the raw bytes, would lose. Decoding never raises.
"""

from __future__ import annotations

import codecs
import re

SNIFF_BYTES = 4096

# Labels whose real-world content is GBK (or wider): decode them all as GB18030.
_GB_LABELS = frozenset(
    {
        "gb2312", "gb_2312", "gb_2312-80", "gb2312-80", "csgb2312", "x-gb2312", "euc-cn", "euccn",
        "gbk", "x-gbk", "cp936", "ms936", "windows-936", "936", "gb18030", "chinese", "csgbk",
        "iso-ir-58",
    }
)

_META_CHARSET = re.compile(rb"""<meta\b[^>]{0,512}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:\-]{1,40})""", re.I)
_HTML_START = re.compile(rb"<(?:!doctype\s+html|html\b|head\b|body\b|meta\b|title\b|div\b|p\b|ul\b|table\b)", re.I)

_HIGH_BYTES = bytes(range(0x80, 0x100))

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def normalize_charset(label: str | None) -> str | None:
    """A Python codec name for a charset label, or None when the label is empty or unknown.

    >>> normalize_charset(' "GB2312" ')
    'gb18030'
    """
    if not label:
        return None
    name = label.strip().strip("\"'").strip().lower()
    if not name:
        return None
    if name in _GB_LABELS:
        return "gb18030"
    try:
        info = codecs.lookup(name)
    except LookupError:
        return None
    if info.name in ("gb2312", "gbk"):
        return "gb18030"
    return info.name


def sniff_meta_charset(content: bytes) -> str | None:
    """The charset a page declares in a ``<meta charset>`` / ``http-equiv`` tag near its start."""
    match = _META_CHARSET.search(content[:SNIFF_BYTES])
    if not match:
        return None
    return normalize_charset(match.group(1).decode("ascii", "replace"))


def charset_from_content_type(content_type: str | None) -> str | None:
    """The charset parameter of a Content-Type header value, as a codec name (or None)."""
    if not content_type:
        return None
    for part in content_type.split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset":
            return normalize_charset(value)
    return None


def decode_html(content: bytes, header_charset: str | None, forced: str | None = None) -> str:
    """Decode a page's bytes to text; never raises (undecodable bytes become U+FFFD)."""
    if not content:
        return ""
    for label in (forced, header_charset):
        codec = normalize_charset(label)
        if codec:
            return _decode(content, codec)
    for bom, codec in _BOMS:
        if content.startswith(bom):
            return content.decode(codec, errors="replace")
    codec = sniff_meta_charset(content)
    if codec:
        return _decode(content, codec)
    return _decode_undeclared(content)


def looks_like_html(content: bytes, content_type: str | None = None) -> bool:
    """Whether a response is probably an HTML page (by its type, else by its first bytes)."""
    if content_type:
        kind = content_type.split(";")[0].strip().lower()
        if kind in ("text/html", "application/xhtml+xml"):
            return True
        if kind and kind not in ("text/plain", "application/octet-stream", "binary/octet-stream"):
            return False
    head = content[:SNIFF_BYTES].lstrip()
    for bom, _ in _BOMS:
        if head.startswith(bom):
            head = head[len(bom):]
    return bool(_HTML_START.search(head[:1024]))


def _decode(content: bytes, codec: str) -> str:
    if codec == "utf-8":
        codec = "utf-8-sig"  # a stray BOM is not text
    try:
        return content.decode(codec, errors="replace")
    except LookupError:
        return _decode_undeclared(content)


def _decode_undeclared(content: bytes) -> str:
    """UTF-8, unless that fails badly and GB18030 reads the bytes with fewer errors."""
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    as_utf8 = content.decode("utf-8-sig", errors="replace")
    bad = as_utf8.count("\ufffd")
    high = len(content) - len(content.translate(None, _HIGH_BYTES))
    if bad * 20 < high:  # a few stray bytes in a UTF-8 page: keep UTF-8
        return as_utf8
    as_gb = content.decode("gb18030", errors="replace")
    return as_gb if as_gb.count("\ufffd") < bad else as_utf8
