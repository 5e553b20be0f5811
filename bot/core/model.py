"""The bot's domain values: chats and their alert rules, outbox deliveries, why an item is
for a chat, and what a command answers. Plain frozen data: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.core.text import Block, Paragraph

MAX_RULES = 50
KEYWORD_MAX = 50
MAX_EXCLUDES = 10
MODES = ("instant", "digest", "both")


@dataclass(frozen=True)
class AlertRule:
    id: int
    chat_id: int
    keyword: str
    excludes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Chat:
    id: int
    channel: str
    address: str
    kind: str = "private"
    lang: str = "en"
    mode: str = "instant"
    active: bool = True
    digest_enabled: bool = False
    digest_time: str = "08:00"
    tz: str = "Asia/Shanghai"
    quiet_start: str | None = None
    quiet_end: str | None = None
    last_digest_at: datetime | None = None
    topics: frozenset[str] = frozenset()
    rules: tuple[AlertRule, ...] = ()
    title: str | None = None
    created_at: datetime | None = None

    @property
    def is_group(self) -> bool:
        return self.kind != "private"

    @property
    def instant(self) -> bool:
        return self.mode in ("instant", "both")

    @property
    def follows_anything(self) -> bool:
        return bool(self.topics or self.rules)


def same_keyword(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


@dataclass(frozen=True)
class Delivery:
    """One outbox row, with the chat's address so a sender needs no second query."""

    id: int
    chat_id: int
    kind: str  # alert | digest | notice
    ref: str
    item_id: int | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    status: str = "pending"
    attempts: int = 0
    not_before: datetime | None = None
    last_error: str | None = None
    created_at: datetime | None = None
    channel: str = ""
    address: str = ""
    chat_kind: str = "private"
    lang: str = "en"


@dataclass(frozen=True)
class Match:
    """Why an item is for a chat: the chat's topics it touches and the keywords found."""

    chat_id: int
    topics: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()

    def to_payload(self) -> dict[str, list[str]]:
        return {"topics": list(self.topics), "keywords": list(self.keywords)}

    @classmethod
    def from_payload(cls, chat_id: int, payload: Mapping[str, Any] | None) -> "Match":
        payload = payload or {}
        return cls(chat_id, tuple(payload.get("topics") or ()), tuple(payload.get("keywords") or ()))


@dataclass(frozen=True)
class ChatRef:
    """Where a message came from: (channel, address) plus what a new chat row needs."""

    channel: str
    address: str
    kind: str = "private"  # private | group
    title: str | None = None
    lang_hint: str | None = None  # Telegram language_code of the sender (or the group's adder)


@dataclass(frozen=True)
class Caller:
    user_id: str | int | None = None
    is_admin: bool = False  # the bot's administrators (the adapter may already know)
    is_group_admin: bool = False


@dataclass(frozen=True)
class Button:
    label: str
    data: str


@dataclass
class Reply:
    """What to answer. ``blocks`` (when set) are the units a splitter keeps whole."""

    paragraphs: list[Paragraph]
    keyboard: list[list[Button]] | None = None
    edit: bool = False  # replace the message that carried the pressed button
    toast: str | None = None  # a short notice for a button press (Telegram answerCallbackQuery)
    blocks: list[Block] | None = None

    def as_blocks(self) -> list[Block]:
        return self.blocks if self.blocks is not None else [list(self.paragraphs)]




@dataclass(frozen=True)
class Leader:
    """Which instance of ``shwatch run`` leads, as the lease says: until when, still valid."""

    holder: str
    until: datetime
    live: bool
