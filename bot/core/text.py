"""Channel-neutral rich text, its renderers, and the splitter that keeps messages under a limit.

A message is built from spans (``Plain``, ``Bold``, ``Link``, ``Code``, ``Mark``). A
``Paragraph`` is a tuple of spans, rendered on one line (renderers join paragraphs with a
newline; an empty paragraph is a blank line). A ``Block`` is a list of paragraphs that
belong together (one item of an alert or digest); ``split_blocks`` joins blocks with a blank
line and packs whole blocks into messages, splitting an over-long block at paragraph, then
sentence, then (last resort) character boundaries. Every split happens between spans or
inside a span's text, and each piece is rendered on its own, so every chunk is valid markup.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Plain:
    text: str


@dataclass(frozen=True)
class Bold:
    text: str


@dataclass(frozen=True)
class Code:
    text: str


@dataclass(frozen=True)
class Mark:
    """A matched term, highlighted."""

    text: str


@dataclass(frozen=True)
class Link:
    text: str
    url: str


Span = Plain | Bold | Code | Mark | Link
Paragraph = tuple[Span, ...]
Block = list[Paragraph]
Render = Callable[[Sequence[Paragraph]], str]

PARAGRAPH_SEP = "\n"
BLOCK_SEP = "\n\n"
TELEGRAM_LIMIT = 4096  # characters
WECOM_MARKDOWN_LIMIT = 4096  # bytes
WECOM_APP_LIMIT = 2048  # bytes: app (message/send) text and markdown alike


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


# ---------------------------------------------------------------- renderers


def _tg_span(span: Span) -> str:
    esc = html.escape(span.text, quote=False)
    if isinstance(span, Plain):
        return esc
    if isinstance(span, Bold):
        return f"<b>{esc}</b>" if esc else ""
    if isinstance(span, Mark):
        return f"<b><u>{esc}</u></b>" if esc else ""
    if isinstance(span, Code):
        return f"<code>{esc}</code>" if esc else ""
    if isinstance(span, Link):
        if not span.url:
            return esc
        return f'<a href="{html.escape(span.url, quote=True)}">{esc or html.escape(span.url, quote=False)}</a>'
    raise TypeError(f"not a span: {span!r}")


def render_telegram_html(paragraphs: Sequence[Paragraph]) -> str:
    """Telegram ``parse_mode=HTML``: & < > escaped in text, quotes too in href."""
    return PARAGRAPH_SEP.join("".join(_tg_span(s) for s in p) for p in paragraphs)


_MD_STAR = re.compile(r"\*+")


def _md_inline(text: str) -> str:
    # WeCom markdown has no escapes: keep emphasis markers from opening by accident.
    return _MD_STAR.sub(lambda m: "\u2217" * len(m.group()), text)


def _wecom_span(span: Span) -> str:
    text = _md_inline(span.text)
    if isinstance(span, Plain):
        return text
    if isinstance(span, (Bold, Mark)):
        return f"**{text}**" if text.strip() else text
    if isinstance(span, Code):
        return f"`{text.replace('`', chr(0x2035))}`" if text else ""
    if isinstance(span, Link):
        if not span.url:
            return text
        label = (text or span.url).replace("[", "(").replace("]", ")")
        return f"[{label}]({span.url.replace(')', '%29').replace(' ', '%20')})"
    raise TypeError(f"not a span: {span!r}")


def render_wecom_markdown(paragraphs: Sequence[Paragraph]) -> str:
    """WeCom ``markdown`` message content."""
    return PARAGRAPH_SEP.join("".join(_wecom_span(s) for s in p) for p in paragraphs)


def _plain_span(span: Span) -> str:
    if isinstance(span, Link):
        if not span.url or span.text == span.url:
            return span.text or span.url
        return f"{span.text} {span.url}" if span.text else span.url
    return span.text


def render_plain(paragraphs: Sequence[Paragraph]) -> str:
    """Text without markup (WeCom text messages, the console, Telegram's plain fallback)."""
    return PARAGRAPH_SEP.join("".join(_plain_span(s) for s in p) for p in paragraphs)


def plain_text(paragraphs: Sequence[Paragraph]) -> str:
    return render_plain(paragraphs)


# ---------------------------------------------------------------- splitting

# A sentence ends after 。！？；!? (plus closing quotes/brackets), or after . ; followed by a space.
_SENTENCE_END = re.compile(r"(?:[。！？；!?]+[”’」』）)\"']*|[.;]+[”’\"')]*(?=\s))\s*")


def _sentence_pieces(text: str) -> list[tuple[str, bool]]:
    """``text`` cut after each sentence end: (piece, ends_a_sentence) pairs."""
    pieces: list[tuple[str, bool]] = []
    start = 0
    for m in _SENTENCE_END.finditer(text):
        if m.end() > start:
            pieces.append((text[start : m.end()], True))
            start = m.end()
    if start < len(text):
        pieces.append((text[start:], False))
    return pieces


def _sentences(paragraph: Paragraph) -> list[list[Span]]:
    """Cut a paragraph into sentences; a span crossing a sentence end is cut into two spans."""
    units: list[list[Span]] = []
    current: list[Span] = []
    for span in paragraph:
        if isinstance(span, Link):
            current.append(span)  # a link is never cut at a sentence end
            continue
        for piece, ends in _sentence_pieces(span.text):
            current.append(replace(span, text=piece))
            if ends:
                units.append(current)
                current = []
    if current:
        units.append(current)
    return units


def _hard_split(span: Span, render: Render, limit: int, measure: Callable[[str], int]) -> list[str]:
    """Cut one span's text into rendered pieces that each fit (binary search per piece)."""
    text = span.text
    out: list[str] = []
    start = 0
    while start < len(text):
        lo, hi = start + 1, len(text)
        if measure(render([(replace(span, text=text[start:lo]),)])) > limit:
            break  # even one character does not fit: the limit is absurdly small
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if measure(render([(replace(span, text=text[start:mid]),)])) <= limit:
                lo = mid
            else:
                hi = mid - 1
        # prefer to cut after whitespace near the end of the window
        cut = lo
        if lo < len(text):
            ws = max(text.rfind(" ", start, lo), text.rfind("\n", start, lo))
            if ws > start + (lo - start) // 2:
                cut = ws + 1
        out.append(render([(replace(span, text=text[start:cut]),)]))
        start = cut
    return out


def _pack(pieces: list[str], sep: str, limit: int, measure: Callable[[str], int]) -> list[str]:
    out: list[str] = []
    current = ""
    for piece in pieces:
        if not current:
            current = piece
        elif measure(current + sep + piece) <= limit:
            current = current + sep + piece
        else:
            out.append(current)
            current = piece
    if current:
        out.append(current)
    return out


def _fit_sentence(unit: list[Span], render: Render, limit: int, measure) -> list[str]:
    rendered = render([tuple(unit)])
    if measure(rendered) <= limit:
        return [rendered]
    pieces: list[str] = []
    for span in unit:
        r = render([(span,)])
        if measure(r) <= limit:
            pieces.append(r)
        elif isinstance(span, Link):
            # an over-long link text: keep the link whole with a short label, if that fits
            short = render([(replace(span, text=span.text[:80] + "…"),)])
            pieces.extend([short] if measure(short) <= limit else _hard_split(Plain(span.url), render, limit, measure))
        else:
            pieces.extend(_hard_split(span, render, limit, measure))
    return _pack(pieces, "", limit, measure)


def _fit_paragraph(paragraph: Paragraph, render: Render, limit: int, measure) -> list[str]:
    rendered = render([paragraph])
    if measure(rendered) <= limit:
        return [rendered]
    pieces: list[str] = []
    for unit in _sentences(paragraph):
        pieces.extend(_fit_sentence(unit, render, limit, measure))
    return _pack(pieces, "", limit, measure)


def _fit_block(block: Block, render: Render, limit: int, measure) -> list[str]:
    rendered = render(block)
    if measure(rendered) <= limit:
        return [rendered]
    pieces: list[str] = []
    for paragraph in block:
        pieces.extend(_fit_paragraph(paragraph, render, limit, measure))
    return _pack(pieces, PARAGRAPH_SEP, limit, measure)


def _fits(paragraphs: Sequence[Paragraph], render: Render, limit: int, measure) -> bool:
    return measure(render(paragraphs)) <= limit


def shorten_block(block: Block, render: Render, limit: int, measure: Callable[[str], int] = len) -> Block:
    """A block too long for one message, cut down to fit: its longest paragraph without a
    link (an alert's summary) keeps as many whole sentences from its start as fit (it
    ends at a sentence end, as ``format.shorten`` cuts a summary); when not even its first sentence fits, it is left out and the next longest one is
    cut. Title, facts and link stay whole. A block that fits is returned as it is, and one
    that still does not fit after every such paragraph is cut is returned as it was (the
    splitter then splits it)."""
    block = list(block)
    if _fits(block, render, limit, measure):
        return block
    work: list[Paragraph | None] = list(block)  # None: a paragraph left out
    by_size = sorted(
        (i for i, p in enumerate(block) if p and not any(isinstance(s, Link) for s in p)),
        key=lambda i: measure(render([block[i]])),
        reverse=True,
    )
    for i in by_size:
        sentences = _sentences(block[i])
        for keep in range(len(sentences) - 1, 0, -1):
            work[i] = tuple(s for sentence in sentences[:keep] for s in sentence)
            trial = [p for p in work if p is not None]
            if _fits(trial, render, limit, measure):
                return trial
        work[i] = None  # not one sentence fits: leave the paragraph out
        trial = [p for p in work if p is not None]
        if _fits(trial, render, limit, measure):
            return trial
    return block


def split_blocks(
    blocks: Sequence[Block],
    render: Render,
    limit: int,
    measure: Callable[[str], int] = len,
    *,
    whole: bool = False,
) -> list[str]:
    """Render ``blocks`` into as few messages as fit ``limit`` (as measured by ``measure``).

    Whole blocks are packed together (joined by a blank line); only a block that alone is
    too long is split, at paragraph, then sentence boundaries, and as a last resort inside
    a span's text. ``whole``: a block too long on its own is first cut down to one message
    (``shorten_block``), so every message carries whole items. No chunk is empty and every
    chunk is valid markup for ``render``.
    """
    if limit < 1:
        raise ValueError("limit must be positive")
    out: list[str] = []
    current = ""
    for block in blocks:
        if not block:
            continue
        if whole:
            block = shorten_block(block, render, limit, measure)
        fitted = _fit_block(list(block), render, limit, measure)
        if len(fitted) > 1:
            # an over-long block starts a message of its own and may share its tail
            if current:
                out.append(current)
            out.extend(fitted[:-1])
            current = fitted[-1]
            continue
        piece = fitted[0]
        if not current:
            current = piece
        elif measure(current + BLOCK_SEP + piece) <= limit:
            current += BLOCK_SEP + piece
        else:
            out.append(current)
            current = piece
    if current:
        out.append(current)
    return [c for c in out if c.strip()]


def split_paragraphs(paragraphs: Sequence[Paragraph], render: Render, limit: int, measure=len) -> list[str]:
    """A reply (one block of paragraphs) rendered and split to fit ``limit``."""
    return split_blocks([list(paragraphs)], render, limit, measure)
