"""Chat text -> ``Command`` or ``CommandError`` (pure), over a ``Registry``'s head words.

Slash forms (``/subscribe online_education``, ``/alert add "a phrase" -exclude foo``, with or
without ``@botname``, ASCII or full-width slash) and the Chinese short forms used on WeCom
(``订阅 在线教育``, ``关键词 添加 人工智能``, ``摘要 08:00`` ...) are read the same way: the head
word picks the command (the next word too where commands share a head), the command's
``args`` parser reads the rest.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from bot.commands.args import shorten, tokenize
from bot.commands.command import Command, CommandError
from bot.commands.registry import REGISTRY
from bot.commands.spec import CommandSpec, Registry

__all__ = ["Parser", "parse_command", "tokenize"]

_SLASHES = "/／"


class Parser:
    """Reads chat text against one registry's head words and argument parsers."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def parse(self, text: str) -> Command | CommandError:
        """Parse one chat message. Never raises: a mistake is a ``CommandError``."""
        try:
            return self._parse(text)
        except CommandError as err:
            return err

    def _parse(self, text: str) -> Command:
        text = _clean(text or "").strip()
        if not text:
            raise CommandError("hint.text")
        if text[0] in _SLASHES:
            head, rest = _head(text[1:])
            head = head.split("@", 1)[0].lower()
            group = self.registry.slash_heads.get(head)
            if group is None:
                raise CommandError("hint.unknown", command="/" + shorten(head, 32))
        else:
            head, rest = _head(text)
            group = self.registry.zh_heads.get(head)
            if group is None:
                raise CommandError("hint.text")
        words = tokenize(rest)
        spec, words = _pick(group, words)
        return spec.args(spec.name, words)


def _pick(group: Sequence[CommandSpec], words: list[str]) -> tuple[CommandSpec, list[str]]:
    """The command a head word starts; where several share it, the next word decides."""
    if len(group) == 1:
        return group[0], words
    sub = words[0].lower() if words else ""  # "" is no next word; an empty quoted word ('""') picks nothing
    for spec in group:
        if sub in spec.sub and (sub or not words):
            return spec, words[1:]
    raise CommandError(group[0].usage or "hint.text")


def _clean(text: str) -> str:
    """Control and format characters become spaces; nothing else changes."""
    return "".join(" " if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co") else c for c in text)


def _head(text: str) -> tuple[str, str]:
    parts = text.split(None, 1)
    if not parts:
        return "", ""
    return parts[0], parts[1] if len(parts) > 1 else ""


_PARSER = Parser(REGISTRY)


def parse_command(text: str) -> Command | CommandError:
    """Parse one chat message over the project's commands. Never raises."""
    return _PARSER.parse(text)
