"""What a command is (``CommandSpec``), the table of them (``Registry``) and what a handler gets.

A ``Registry`` is the one list every other view is derived from: the parser's head words
(slash and Chinese), who may run what (``admin``, ``changes_settings``), the /help lines in
both languages and Telegram's setMyCommands menu. The project's table is
``bot.commands.registry.REGISTRY``.

Several commands may share a head word ("/alert add", "/alert del", "/alert"): the next word
picks one of them by its ``sub`` words ("" stands for no next word); a word that picks none
is answered with the group's ``usage`` key.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from bot.commands.args import ArgParser, no_args
from bot.commands.command import Command
from bot.commands.names import TimeZones, TopicCatalog
from bot.core.clock import Clock
from bot.core.i18n import join, t
from bot.core.model import Chat, Reply
from bot.core.text import Bold, Code, Paragraph, Plain
from bot.store.chats import ChatStore
from bot.store.dispatch import DispatchLog
from bot.store.lease import LeaseStore
from bot.store.outbox import Outbox
from config.model import Settings
from monitors.store import ItemStore

DigestNow = Callable[[Chat], Awaitable[object] | object]
MENU_DESCRIPTION_MAX = 256  # Telegram's limit for a BotCommand description


@dataclass(frozen=True)
class CommandContext:
    """What every handler may use: the settings, the clock, the stores and the name lookups."""

    settings: Settings
    clock: Clock
    chats: ChatStore
    items: ItemStore
    outbox: Outbox
    dispatched: DispatchLog
    topics: TopicCatalog
    zones: TimeZones
    registry: Registry
    digest_now: DigestNow | None = None
    leases: LeaseStore | None = None  # who leads (/health)


Handler = Callable[[CommandContext, Chat, Command], Awaitable[Reply]]


@dataclass(frozen=True)
class CommandSpec:
    """One command: how it is written, what it needs, who may run it and how /help shows it.

    - ``slash``, ``zh``: the head words ("/subscribe", "订阅"); the first slash word is the
      canonical one (the menu entry, the refusal's "/stats").
    - ``sub``, ``usage``: for commands sharing a head word, the next words that pick this one
      and the i18n key answered when none does (see the module docstring).
    - ``args``: parses the words after the head (``bot.commands.args``).
    - ``example``, ``example_zh``: the /help examples in English and Chinese; each parses
      back to this command.
    - ``admin``: for the bot's administrators only; ``changes_settings``: in a group, for the
      group's administrators only; ``menu``: listed in Telegram's command menu.
    The /help text is the i18n key ``help.<name>``, the menu text ``cmd.<first slash word>``."""

    name: str
    slash: tuple[str, ...]
    zh: tuple[str, ...]
    handler: Handler = field(repr=False)
    example: str
    example_zh: str
    args: ArgParser = no_args
    sub: tuple[str, ...] = ()
    usage: str | None = None
    admin: bool = False
    changes_settings: bool = False
    menu: bool = False

    @property
    def help_key(self) -> str:
        return f"help.{self.name}"

    @property
    def menu_key(self) -> str:
        return f"cmd.{self.slash[0]}"

    def example_in(self, lang: str) -> str:
        return self.example_zh if lang == "zh" else self.example


class Registry:
    """The commands in /help order, with the views derived from them."""

    def __init__(self, specs: Iterable[CommandSpec]) -> None:
        self.specs = tuple(specs)
        self._by_name = {spec.name: spec for spec in self.specs}
        if len(self._by_name) != len(self.specs):
            raise ValueError("two commands share a name")
        self.slash_heads = _heads(self.specs, lambda spec: spec.slash)
        self.zh_heads = _heads(self.specs, lambda spec: spec.zh)

    def __iter__(self) -> Iterator[CommandSpec]:
        return iter(self.specs)

    def __len__(self) -> int:
        return len(self.specs)

    def get(self, name: str) -> CommandSpec:
        return self._by_name[name]

    def slash_form(self, spec: CommandSpec) -> str:
        """"/subscribe", or "/alert add" where the head word is shared."""
        head = spec.slash[0]
        if len(self.slash_heads[head]) > 1:
            return f"/{head} {spec.sub[0]}".rstrip()
        return f"/{head}"

    def help(self, lang: str, group: bool) -> list[Paragraph]:
        """/help: every command with its example in ``lang``, then the other language's forms."""
        paragraphs: list[Paragraph] = [(Bold(t("help.title", lang)),)]
        for spec in self.specs:
            paragraphs.append((Code(spec.example_in(lang)), Plain(" — " + t(spec.help_key, lang))))
        paragraphs.append(())
        if lang == "zh":  # the Chinese lines show the Chinese forms; Telegram groups need the slash ones
            forms = [self.slash_form(spec) for spec in self.specs]
        else:
            forms = [spec.example_zh for spec in self.specs]
        paragraphs.append((Plain(t("help.aliases", lang, forms=join(forms, lang))),))
        if group:
            paragraphs.append((Plain(t("help.group", lang)),))
        return paragraphs

    def menu(self, lang: str) -> list[tuple[str, str]]:
        """(command, description) pairs for Telegram's setMyCommands in ``lang``."""
        return [
            (spec.slash[0], t(spec.menu_key, lang)[:MENU_DESCRIPTION_MAX]) for spec in self.specs if spec.menu
        ]


def _heads(
    specs: Sequence[CommandSpec], words: Callable[[CommandSpec], tuple[str, ...]]
) -> dict[str, tuple[CommandSpec, ...]]:
    """Head word -> the commands it starts; a shared head needs sub words and a usage key."""
    heads: dict[str, tuple[CommandSpec, ...]] = {}
    for spec in specs:
        if not words(spec):
            raise ValueError(f"/{spec.name} has no head word")
        for word in words(spec):
            heads[word] = heads.get(word, ()) + (spec,)
    for word, group in heads.items():
        if len(group) > 1:
            subs = [s for spec in group for s in spec.sub]
            if not all(spec.sub and spec.usage for spec in group) or len(subs) != len(set(subs)):
                raise ValueError(f"the commands sharing {word!r} need distinct sub words and a usage key")
    for spec in specs:  # sub words are read only after a shared head word
        if spec.sub and all(len(heads[word]) == 1 for word in words(spec)):
            raise ValueError(f"/{spec.name} has sub words but shares no head word")
    return heads
