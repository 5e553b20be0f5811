"""Plain article text to paragraphs: literal escape sequences, soft wraps and whitespace.

Some CMS pages store their text with line breaks written out as the characters ``\\r\\n``
(a real English page of the Commerce Commission has them between the words of a sentence),
and feeds and JSON bodies carry ``\\n`` and ``\\t`` the same way. Such a sequence is a
paragraph break when it is doubled or follows the end of a sentence; otherwise it is a soft
wrap inside a sentence and becomes a space (nothing between two Chinese characters, which
are never separated by spaces). Real line breaks are kept as they are: one paragraph a line.
"""

from __future__ import annotations

import re

_CJK_CHAR = r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]"
# one or more written-out breaks (\r\n, \n, \r), with any spaces or tabs around them
_LITERAL_BREAKS = re.compile(r"[ \t]*(?:(?:\\r\\n|\\n|\\r)[ \t]*)+")
_LITERAL_TAB = re.compile(r"\\t")
_SENTENCE_END = re.compile(r"[。！？!?.;；…][\"'”’」』)）\]]*$")
_SPACES = re.compile(r"\s+")


def unescape_breaks(text: str) -> str:
    """``text`` with written-out ``\\r\\n``/``\\n``/``\\r``/``\\t`` turned into real breaks or spaces."""
    if "\\" not in text:
        return text
    text = _LITERAL_TAB.sub(" ", text)
    return _LITERAL_BREAKS.sub(lambda m: _break_for(m, text), text)


def _break_for(match: re.Match[str], text: str) -> str:
    breaks = match.group(0).count("\\n") + match.group(0).count("\\r") - match.group(0).count("\\r\\n")
    before = text[: match.start()].rstrip()
    after = text[match.end():]
    if breaks >= 2 or not before or not after or _SENTENCE_END.search(before):
        return "\n"
    return _soft_wrap(before[-1], after[0])


def _soft_wrap(before: str, after: str) -> str:
    """What a line wrapped between these two characters reads as: a space, or nothing inside
    Chinese text (next to a Chinese character, unless the other side is a Latin letter or digit)."""
    if not (re.match(_CJK_CHAR, before) or re.match(_CJK_CHAR, after)):
        return " "
    latin = (before.isascii() and before.isalnum()) or (after.isascii() and after.isalnum())
    return " " if latin else ""


_SOFT_NEWLINE = re.compile(r"[ \t\r]*\n[ \t\r\n]*")
_INDENT_BREAK = re.compile(r"(?<=[。！？!?”」])[ \xa0]*\u3000{2,}")  # 。　　 : a new indented paragraph


def html_text(text: str) -> str:
    """A text node of an HTML page as the page shows it: a newline in the source is a soft
    wrap (a space; nothing between Chinese characters) unless an indented paragraph (　　)
    follows it; an indented paragraph starting after a sentence end is a new line; written-out
    breaks become real ones (``unescape_breaks``)."""
    text = _SOFT_NEWLINE.sub(lambda m: _soft_break(m, text), text)
    text = _INDENT_BREAK.sub("\n", text)
    return unescape_breaks(text)


def _soft_break(match: re.Match[str], text: str) -> str:
    after = text[match.end():]
    if after.startswith("\u3000\u3000") or match.group(0).count("\n") >= 2:
        return "\n"
    before = text[: match.start()]
    return _soft_wrap(before[-1], after[0]) if before and after else " "


def paragraphs(text: str) -> list[str]:
    """The non-empty paragraphs of a plain text, one per line, whitespace runs squashed."""
    out = []
    for line in unescape_breaks(text).splitlines():
        line = _SPACES.sub(" ", line).strip()
        if line:
            out.append(line)
    return out


def ends_sentence(text: str) -> bool:
    """Whether ``text`` ends with a sentence's closing punctuation (quotes and brackets after it allowed)."""
    return _SENTENCE_END.search(text.rstrip()) is not None
