"""Typed settings and the default data's shapes (sources, topics).

Plain frozen dataclasses: the loader in ``config.settings`` builds them, everything else
only reads them. Secrets are wrapped in ``Secret`` so that printing a settings object, or
an exception that carries one, never shows the value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


class Secret:
    """A string that does not show itself in repr(), str() or f-strings."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


@dataclass(frozen=True)
class Selectors:
    """CSS selectors for a list page that does not follow the shared CMS markup.

    ``item`` selects one entry; ``link``, ``date`` and ``summary`` are looked up inside it.
    """

    item: str
    link: str = "a[href]"
    date: str | None = None
    summary: str | None = None


@dataclass(frozen=True)
class Source:
    """One watched list page (or feed) of an official site."""

    id: str
    name: str
    url: str
    kind: Literal["html", "rss"] = "html"
    lang: Literal["zh", "en"] = "zh"
    interval: int = 600
    encoding: str | None = None
    selectors: Selectors | None = None

    @property
    def host(self) -> str:
        from urllib.parse import urlsplit

        return urlsplit(self.url).hostname or ""


@dataclass(frozen=True)
class Topic:
    """A field of the Action Plan (or the plan-level group) and the terms that signal it."""

    id: str
    name_zh: str
    name_en: str
    zh: tuple[str, ...] = ()
    en: tuple[str, ...] = ()
    kind: Literal["field", "plan"] = "field"

    def name(self, lang: str) -> str:
        return self.name_zh if lang == "zh" else self.name_en


@dataclass(frozen=True)
class FetchSettings:
    concurrency: int = 32
    per_host: int = 4
    connect_timeout: float = 5.0
    timeout: float = 20.0
    max_bytes: int = 5_000_000
    max_redirects: int = 5
    user_agent: str = "shwatch/0.1 (official-news monitor; +https://example.invalid/shwatch)"
    article_concurrency: int = 8


@dataclass(frozen=True)
class TelegramSettings:
    token: Secret | None = None
    api_base_url: str = "https://api.telegram.org/bot"
    admin_chat_ids: tuple[int, ...] = ()
    poll_timeout: int = 30
    # Telegram allows ~30 messages/s per bot overall; with N delivery workers give each 30/N.
    messages_per_second: int = 30


@dataclass(frozen=True)
class WeComRobot:
    name: str
    url: str = field(repr=False)  # full webhook URL with the key in it (built from `key` when only the key is given)
    key: Secret | None = None
    topics: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    digest_time: str | None = None
    lang: Literal["zh", "en"] = "zh"


@dataclass(frozen=True)
class WeComSettings:
    corp_id: str | None = None
    agent_id: int | None = None
    secret: Secret | None = None
    token: Secret | None = None
    encoding_aes_key: Secret | None = None
    api_base_url: str = "https://qyapi.weixin.qq.com"
    host: str = "0.0.0.0"
    port: int = 8080
    path: str = "/wecom/callback"
    robots: tuple[WeComRobot, ...] = ()
    admin_users: tuple[str, ...] = ()  # WeCom userids allowed /stats and /health

    @property
    def app_enabled(self) -> bool:
        return bool(
            self.corp_id and self.agent_id is not None and self.secret and self.token and self.encoding_aes_key
        )


@dataclass(frozen=True)
class DigestSettings:
    default_time: str = "08:00"
    send_empty: bool = False


@dataclass(frozen=True)
class WebSettings:
    """The web app: served by ``shwatch run`` when enabled, and by ``shwatch web`` alone."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8080
    base_url: str | None = None  # absolute links in feeds (e.g. behind a proxy); None: the request's own


@dataclass(frozen=True)
class Settings:
    database_url: str
    timezone: str = "Asia/Shanghai"
    max_age_days: int = 3
    log_level: str = "INFO"
    sources: tuple[Source, ...] = ()
    topics: tuple[Topic, ...] = ()
    fetch: FetchSettings = field(default_factory=FetchSettings)
    telegram: TelegramSettings = field(default_factory=TelegramSettings)
    wecom: WeComSettings = field(default_factory=WeComSettings)
    digest: DigestSettings = field(default_factory=DigestSettings)
    web: WebSettings = field(default_factory=WebSettings)
    config_path: str | None = None

    def source(self, source_id: str) -> Source | None:
        return next((s for s in self.sources if s.id == source_id), None)
