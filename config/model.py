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
    """One watched list page (or feed) of an official site.

    ``allow_hosts``: hosts outside the source's own site (its registrable domain) that its
    pages may redirect to; lowercase, IDNA (``xn--``) form. Any other such redirect is refused.
    """

    id: str
    name: str
    url: str
    kind: Literal["html", "rss"] = "html"
    lang: Literal["zh", "en"] = "zh"
    interval: int = 600
    encoding: str | None = None
    selectors: Selectors | None = None
    allow_hosts: tuple[str, ...] = ()
    baseline_articles: int | None = None  # overrides [fetch] baseline_articles for this source
    max_articles_per_poll: int | None = None  # overrides [fetch] max_articles_per_poll

    @property
    def host(self) -> str:
        from urllib.parse import urlsplit

        return urlsplit(self.url).hostname or ""


@dataclass(frozen=True)
class Exclusion:
    """An occurrence of ``term`` does not count when its sentence contains one of ``context``
    (e.g. 无人驾驶 next to 码头 / AGV: a remote-controlled port vehicle, not new mobility)."""

    term: str
    context: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class Topic:
    """A field of the Action Plan (or the plan-level group) and the terms that signal it.

    ``weak`` terms (a subset of ``zh`` + ``en``) are generic words that point at the field
    but are often used loosely (智能制造 as a strategy word): they count with the weak
    weight of ``RelevanceRules``. ``exclusions`` drop a term's occurrence in a context
    where it means something else.
    """

    id: str
    name_zh: str
    name_en: str
    zh: tuple[str, ...] = ()
    en: tuple[str, ...] = ()
    kind: Literal["field", "plan"] = "field"
    weak: tuple[str, ...] = ()
    exclusions: tuple[Exclusion, ...] = ()

    def name(self, lang: str) -> str:
        return self.name_zh if lang == "zh" else self.name_en


@dataclass(frozen=True)
class RelevanceRules:
    """How much an item is about a topic: the ``[relevance]`` table of topics.toml, where
    every number is explained. The numbers here are the shipped topics.toml values; the
    shipped list cues are only in topics.toml."""

    title_weight: float = 3.0
    lead_weight: float = 1.5
    body_weight: float = 1.0
    lead_chars: int = 200
    max_per_term: int = 3
    distinct_bonus: float = 0.5
    weak_weight: float = 0.3
    enumeration_fields: int = 4
    enumeration_weight: float = 0.1
    list_cues: tuple[str, ...] = ()
    recap_fields: int = 5
    half: float = 1.5
    about: float = 0.5
    dominance: float = 0.4


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
    # a source's first poll reads the articles of this many items of its first list page
    # (same site only), so the first poll, /latest and the first digest carry summaries
    baseline_articles: int = 20
    # a poll reads at most this many articles of one source (newest first); the rest are
    # stored as pending (title, date, link) and read by later polls, never twice
    max_articles_per_poll: int = 30
    poll_deadline: float = 300.0  # seconds one poll of one source may take; what is left stays pending
    offload_bytes: int = 256_000  # pages above this are parsed in a worker process, off the event loop


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
    # host / port: a listener of its own for the callback URL; when neither is set, the web
    # app's server ([web]) serves the callback path (or 0.0.0.0:8080 when the web is off)
    host: str | None = None
    port: int | None = None
    path: str = "/wecom/callback"
    robots: tuple[WeComRobot, ...] = ()
    admin_users: tuple[str, ...] = ()  # WeCom userids allowed /stats and /health
    # app messages: "markdown" (WeCom clients) or "text" (shows everywhere, WeChat included)
    msgtype: Literal["markdown", "text"] = "markdown"
    # WeCom drops app messages beyond these to one member (silently): more wait, counted
    # over every instance's sends in the database
    member_per_minute: int = 30
    member_per_hour: int = 1000

    @property
    def app_enabled(self) -> bool:
        return bool(
            self.corp_id and self.agent_id is not None and self.secret and self.token and self.encoding_aes_key
        )

    @property
    def own_listener(self) -> bool:
        """The callback URL has a listener of its own (host or port set)."""
        return self.host is not None or self.port is not None


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
class ConsoleSettings:
    """What the terminal shows while ``shwatch run`` runs."""

    # the language of alerts printed on the console: "auto" follows each item's language
    # (a Chinese item gets Chinese labels), "zh" or "en" one language for all
    lang: Literal["auto", "zh", "en"] = "auto"
    status_interval: float = 600.0  # seconds between the one-line sources status lines in the log


@dataclass(frozen=True)
class ServiceSettings:
    """``shwatch run``: several instances share one database; one of them leads."""

    # seconds a leader's lease lasts on the database's clock; renewed every third of it, so a
    # leader that dies or hangs is replaced within about this long
    lease_seconds: float = 15.0


@dataclass(frozen=True)
class Settings:
    database_url: str
    timezone: str = "Asia/Shanghai"
    max_age_days: int = 3
    log_level: str = "INFO"
    sources: tuple[Source, ...] = ()
    topics: tuple[Topic, ...] = ()
    relevance: RelevanceRules = field(default_factory=RelevanceRules)
    fetch: FetchSettings = field(default_factory=FetchSettings)
    telegram: TelegramSettings = field(default_factory=TelegramSettings)
    wecom: WeComSettings = field(default_factory=WeComSettings)
    digest: DigestSettings = field(default_factory=DigestSettings)
    web: WebSettings = field(default_factory=WebSettings)
    console: ConsoleSettings = field(default_factory=ConsoleSettings)
    service: ServiceSettings = field(default_factory=ServiceSettings)
    config_path: str | None = None

    def source(self, source_id: str) -> Source | None:
        return next((s for s in self.sources if s.id == source_id), None)
