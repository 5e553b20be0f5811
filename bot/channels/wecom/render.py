"""WeCom markdown and text for ``bot.core.text`` paragraphs, and the splitters under
WeCom's limits: app messages (message/send) at most 2048 bytes of UTF-8, markdown or text
(``app_pieces``); robot markdown at most 4096 bytes (``markdown_pieces``). App messages
carry whole items: a bundle of alerts becomes several messages, and an item too long on its
own is cut down (``split_blocks(whole=True)``).

``bot.core.text.render_wecom_markdown`` renders each span on its own, so a bold title with a
highlighted term inside (``Bold, Mark, Bold``, as ``formatting.alert_blocks`` builds it)
became ``**本市推进****工业互联网****创新发展**``: four asterisks in a row, which WeCom shows
as literal stars and which pairs the markers the wrong way. WeCom markdown has a single
emphasis (bold), so here adjacent ``Bold``/``Mark`` spans become one ``Bold`` run before
rendering, and whitespace at a run's edges moves outside its markers (``** x**`` is not
bold either). Everything else is ``render_wecom_markdown``'s.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.core.text import (
    Block, Bold, Mark, Paragraph, Plain, Span, WECOM_APP_LIMIT, WECOM_MARKDOWN_LIMIT, render_plain, render_wecom_markdown, split_blocks,
    utf8_len,
)

MSGTYPES = ("markdown", "text")


def _merge_bold(paragraph: Paragraph) -> Paragraph:
    """Adjacent Bold/Mark spans as one Bold; a run's edge whitespace as Plain outside it."""
    out: list[Span] = []
    run: list[str] = []

    def flush() -> None:
        if not run:
            return
        text = "".join(run)
        run.clear()
        core = text.strip()
        if not core:
            out.append(Plain(text))
            return
        head, tail = text[: len(text) - len(text.lstrip())], text[len(text.rstrip()) :]
        if head:
            out.append(Plain(head))
        out.append(Bold(core))
        if tail:
            out.append(Plain(tail))

    for span in paragraph:
        if isinstance(span, (Bold, Mark)):
            run.append(span.text)
        elif isinstance(span, Plain) and not span.text and run:
            continue  # an empty span between two bold ones must not split the run
        else:
            flush()
            out.append(span)
    flush()
    return tuple(out)


def render_markdown(paragraphs: Sequence[Paragraph]) -> str:
    """WeCom ``markdown`` content: bold runs merged, then ``render_wecom_markdown``."""
    return render_wecom_markdown([_merge_bold(tuple(p)) for p in paragraphs])


def markdown_pieces(blocks: Sequence[Block]) -> list[str]:
    """``blocks`` as robot markdown messages of at most 4096 bytes each (whole blocks packed)."""
    return split_blocks(blocks, render_markdown, WECOM_MARKDOWN_LIMIT, utf8_len)


def app_pieces(blocks: Sequence[Block], msgtype: str = "markdown", *, whole: bool = True) -> list[str]:
    """``blocks`` as app messages (``msgtype`` markdown or text: plain text, links as full
    URLs) of at most 2048 bytes each. ``whole``: the blocks are items (alerts, a digest),
    each message carries whole ones and an item too long alone is cut down; a command reply
    (``whole=False``) is split instead, so no line of it is lost."""
    render = render_markdown if msgtype == "markdown" else render_plain
    return split_blocks(blocks, render, WECOM_APP_LIMIT, utf8_len, whole=whole)
