"""Small builders for the ``Reply`` a handler returns."""

from __future__ import annotations

from bot.core.i18n import t
from bot.core.model import Reply
from bot.core.text import Block, Paragraph, Plain


def text_reply(text: str, toast: str | None = None) -> Reply:
    """One line of plain text (and a pop-up notice for a pressed button)."""
    return Reply([(Plain(text),)], toast=toast)


def say(key: str, lang: str, **params: object) -> Reply:
    """The catalogue sentence ``key`` in ``lang`` as the whole reply."""
    return text_reply(t(key, lang, **params))


def blocks_reply(blocks: list[Block]) -> Reply:
    """Blocks separated by a blank line, kept as the units a splitter keeps whole."""
    paragraphs: list[Paragraph] = []
    for i, block in enumerate(blocks):
        if i:
            paragraphs.append(())
        paragraphs.extend(block)
    return Reply(paragraphs, blocks=blocks)
