"""Load settings from defaults, an optional TOML file and the environment.

Nothing here runs at import time. ``load_settings`` is the one entry point; a problem
raises ``ConfigError`` naming the file, the key and what is wrong, which the CLI prints as
one line and turns into exit code 2.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import fields
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from config.model import (
    ConsoleSettings,
    DigestSettings,
    FetchSettings,
    Secret,
    Selectors,
    Settings,
    Source,
    TelegramSettings,
    Exclusion,
    RelevanceRules,
    ServiceSettings,
    Topic,
    WeComRobot,
    WeComSettings,
    WebSettings,
)
from monitors.urls import host_name

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///var/shwatch.db"
MIN_LEASE_SECONDS, MAX_LEASE_SECONDS = 1.0, 600.0  # a leader renews every third of its lease
_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class ConfigError(Exception):
    """A configuration problem a person can fix: which file, which key, what is wrong."""

    def __init__(self, file: str, key: str, problem: str) -> None:
        super().__init__(f"{file}: {key}: {problem}")
        self.file = file
        self.key = key
        self.problem = problem


def default_data_text(name: str) -> str:
    return resources.files("config").joinpath(name).read_text(encoding="utf-8")


def _parse_toml(text: str, file: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(file, "(syntax)", f"not valid TOML: {exc}") from None


DATABASE_SCHEMES = ("sqlite+aiosqlite", "sqlite", "postgresql+asyncpg", "postgresql+psycopg", "postgresql", "postgres")


def database_url_problem(url: str) -> str | None:
    """Why ``url`` is not a database shwatch can use (None when it is). Only the scheme is
    shown back: the rest may hold a password."""
    scheme, sep, rest = url.partition("://")
    example = "use sqlite+aiosqlite:///var/shwatch.db or postgresql+asyncpg://user@host/dbname"
    if not sep or not scheme:
        return f"is not a database URL; {example}"
    if scheme.lower() not in DATABASE_SCHEMES:
        return f"unsupported database {scheme!r}; {example}"
    if not rest.strip("/"):
        return f"names no database; {example}"
    if scheme.lower().startswith("sqlite") and (":memory:" in rest or "mode=memory" in rest):
        return f"is an in-memory database, gone (subscribers, alerts, items) at every exit; {example}"
    return None


class _Reader:
    """Typed access to one TOML table, with errors that name the full key."""

    def __init__(self, table: Mapping[str, Any], file: str, prefix: str = "") -> None:
        if not isinstance(table, Mapping):
            raise ConfigError(file, prefix.rstrip(".") or "(top level)", "must be a table")
        self.table = table
        self.file = file
        self.prefix = prefix

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def fail(self, name: str, problem: str) -> ConfigError:
        return ConfigError(self.file, self.key(name), problem)

    def get(self, name: str, kind: type | tuple[type, ...], default: Any = None, *, required: bool = False) -> Any:
        if name not in self.table:
            if required:
                raise self.fail(name, "is required")
            return default
        value = self.table[name]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if bool not in kinds and isinstance(value, bool):
            raise self.fail(name, f"must be {_kind_name(kinds)}, not a boolean")
        if not isinstance(value, kinds):
            raise self.fail(name, f"must be {_kind_name(kinds)}, got {type(value).__name__} {value!r}")
        return value

    def str_list(self, name: str) -> tuple[str, ...]:
        value = self.get(name, list, [])
        if not all(isinstance(v, str) and v.strip() for v in value):
            raise self.fail(name, "must be a list of non-empty strings")
        return tuple(v.strip() for v in value)

    def unknown(self, allowed: set[str]) -> None:
        extra = sorted(set(self.table) - allowed)
        if extra:
            raise self.fail(extra[0], f"unknown key (known keys: {', '.join(sorted(allowed))})")


def _kind_name(kinds: tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false", list: "a list", dict: "a table"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _positive(reader: _Reader, name: str, default: float, kind: type | tuple[type, ...] = int) -> Any:
    value = reader.get(name, kind, default)
    if value < 1 if kind is int else value <= 0:
        raise reader.fail(name, f"must be positive, got {value!r}")
    return value


def _non_negative(reader: _Reader, name: str, default: int | None) -> Any:
    value = reader.get(name, int, default)
    if value is not None and value < 0:
        raise reader.fail(name, f"must be 0 or more, got {value!r}")
    return value


def parse_source(raw: Mapping[str, Any], file: str, index: int) -> Source:
    r = _Reader(raw, file, f"sources[{index}].")
    r.unknown({"id", "name", "url", "kind", "lang", "interval", "encoding", "selectors", "allow_hosts", "baseline_articles", "max_articles_per_poll"})
    source_id = r.get("id", str, required=True)
    if not _ID.match(source_id):
        raise r.fail("id", f"{source_id!r} must be lowercase letters, digits, '_', '-' or '.'")
    url = r.get("url", str, required=True)
    if not re.match(r"^https?://[^/\s]+\S*$", url):
        raise r.fail("url", f"{url!r} is not an http(s) URL")
    kind = r.get("kind", str, "html")
    if kind not in ("html", "rss"):
        raise r.fail("kind", f"must be \"html\" or \"rss\", got {kind!r}")
    lang = r.get("lang", str, "zh")
    if lang not in ("zh", "en"):
        raise r.fail("lang", f"must be \"zh\" or \"en\", got {lang!r}")
    interval = _positive(r, "interval", 600)
    encoding = r.get("encoding", str, None)
    if encoding is not None:
        import codecs

        try:
            codecs.lookup(encoding)
        except LookupError:
            raise r.fail("encoding", f"unknown encoding {encoding!r}") from None
    selectors = None
    if "selectors" in raw:
        s = _Reader(r.get("selectors", dict), file, f"{r.prefix}selectors.")
        s.unknown({"item", "link", "date", "summary"})
        selectors = Selectors(
            item=_css(s, "item", None, required=True),
            link=_css(s, "link", "a[href]"),
            date=_css(s, "date", None),
            summary=_css(s, "summary", None),
        )
    name = r.get("name", str, source_id).strip()
    if not name:
        raise r.fail("name", "must not be empty (leave it out to use the id)")
    return Source(
        id=source_id,
        name=name,
        url=url,
        kind=kind,
        lang=lang,
        interval=interval,
        encoding=encoding,
        selectors=selectors,
        allow_hosts=_hosts(r, "allow_hosts"),
        baseline_articles=_non_negative(r, "baseline_articles", None),
        max_articles_per_poll=_non_negative(r, "max_articles_per_poll", None),
    )


_HOST_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")


def _hosts(reader: _Reader, name: str) -> tuple[str, ...]:
    """Host names (``www.example.gov.cn``, an IP address): no scheme, port or path."""
    hosts = []
    for value in reader.str_list(name):
        host = host_name(value)
        if not _is_host(host):
            raise reader.fail(
                name, f"{value!r} is not a host name; write the host alone, like \"www.example.gov.cn\" (no scheme, port or path)"
            )
        hosts.append(host)
    return tuple(dict.fromkeys(hosts))


def _is_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    labels = host.split(".")
    return len(host) <= 253 and all(_HOST_LABEL.match(label) for label in labels)


def _css(reader: _Reader, name: str, default: str | None, *, required: bool = False) -> str | None:
    """A CSS selector, checked now: a typo must fail at start, not as an empty list page later."""
    value = reader.get(name, str, default, required=required)
    if value is None:
        return None
    import soupsieve

    try:
        soupsieve.compile(value)
    except soupsieve.SelectorSyntaxError as exc:
        problem = str(exc).splitlines()[0]
        raise reader.fail(name, f"{value!r} is not a valid CSS selector: {problem}") from None
    return value


def parse_sources(data: Mapping[str, Any], file: str) -> tuple[Source, ...]:
    raw = data.get("sources", [])
    if not isinstance(raw, list):
        raise ConfigError(file, "sources", "must be an array of tables ([[sources]])")
    sources = tuple(parse_source(entry, file, i) for i, entry in enumerate(raw))
    seen: set[str] = set()
    for i, source in enumerate(sources):
        if source.id in seen:
            raise ConfigError(file, f"sources[{i}].id", f"duplicate source id {source.id!r}")
        seen.add(source.id)
    return sources


def parse_topics(data: Mapping[str, Any], file: str) -> tuple[Topic, ...]:
    raw = data.get("topics", [])
    if not isinstance(raw, list) or not raw:
        raise ConfigError(file, "topics", "must be a non-empty array of tables ([[topics]])")
    topics = []
    for i, entry in enumerate(raw):
        r = _Reader(entry, file, f"topics[{i}].")
        r.unknown({"id", "name_zh", "name_en", "zh", "en", "kind", "weak", "exclude"})
        topic_id = r.get("id", str, required=True)
        if not _ID.match(topic_id):
            raise r.fail("id", f"{topic_id!r} must be lowercase letters, digits and '_'")
        kind = r.get("kind", str, "field")
        if kind not in ("field", "plan"):
            raise r.fail("kind", f"must be \"field\" or \"plan\", got {kind!r}")
        zh, en = r.str_list("zh"), r.str_list("en")
        terms = {*zh, *en}
        weak = r.str_list("weak")
        for term in weak:
            if term not in terms:
                raise r.fail("weak", f"{term!r} is not one of this topic's zh / en terms")
        topics.append(
            Topic(
                id=topic_id,
                name_zh=r.get("name_zh", str, required=True),
                name_en=r.get("name_en", str, required=True),
                zh=zh,
                en=en,
                kind=kind,
                weak=weak,
                exclusions=_exclusions(r, terms),
            )
        )
    return tuple(topics)


def _exclusions(r: _Reader, terms: set[str]) -> tuple[Exclusion, ...]:
    out = []
    for j, raw in enumerate(r.get("exclude", list, [])):
        er = _Reader(raw, r.file, f"{r.prefix}exclude[{j}].")
        er.unknown({"term", "context", "reason"})
        term = er.get("term", str, required=True)
        if term not in terms:
            raise er.fail("term", f"{term!r} is not one of this topic's zh / en terms")
        context = er.str_list("context")
        if not context:
            raise er.fail("context", "must list at least one word")
        reason = er.get("reason", str, required=True).strip()
        if not reason:
            raise er.fail("reason", "must say why the term misfires in that context")
        out.append(Exclusion(term, context, reason))
    return tuple(out)


# Numbers of [relevance] that may be 0 (a weight or bonus switched off); the others must be > 0.
_MAY_BE_ZERO = frozenset({"enumeration_weight", "distinct_bonus", "weak_weight", "dominance"})


def parse_relevance(data: Mapping[str, Any], file: str) -> RelevanceRules:
    """The ``[relevance]`` table of a topics file (defaults for what it leaves out)."""
    r = _Reader(data.get("relevance", {}), file, "relevance.")
    r.unknown({f.name for f in fields(RelevanceRules)})
    defaults = RelevanceRules()
    values: dict[str, Any] = {"list_cues": r.str_list("list_cues")}
    for f in fields(RelevanceRules):
        default = getattr(defaults, f.name)
        if f.name == "list_cues":
            continue
        value = r.get(f.name, int if isinstance(default, int) else (int, float), default)
        if value < 0 or (value == 0 and f.name not in _MAY_BE_ZERO):
            raise r.fail(f.name, f"must be positive, got {value!r}")
        values[f.name] = value
    if values["about"] >= 1:
        raise r.fail("about", f"is a relevance between 0 and 1, got {values['about']!r}")
    if values["dominance"] > 1:
        raise r.fail("dominance", f"is a share of the strongest topic's evidence (0 to 1), got {values['dominance']!r}")
    return RelevanceRules(**values)


def load_default_sources() -> tuple[Source, ...]:
    return parse_sources(_parse_toml(default_data_text("sources.toml"), "config/sources.toml"), "config/sources.toml")


def load_default_topics() -> tuple[Topic, ...]:
    return parse_topics(_parse_toml(default_data_text("topics.toml"), "config/topics.toml"), "config/topics.toml")


def load_default_relevance() -> RelevanceRules:
    return parse_relevance(_parse_toml(default_data_text("topics.toml"), "config/topics.toml"), "config/topics.toml")


def _hhmm(reader: _Reader, name: str, default: str | None) -> str | None:
    value = reader.get(name, str, default)
    if value is not None and not _HHMM.match(value):
        raise reader.fail(name, f"must be a time HH:MM (00:00-23:59), got {value!r}")
    return value


def _secret(reader: _Reader, name: str, env: Mapping[str, str], env_name: str | None) -> Secret | None:
    value = env.get(env_name) if env_name else None
    if not value:
        value = reader.get(name, str, None)
    return Secret(value) if value else None


BOT_TOKEN = re.compile(r"\d+:[A-Za-z0-9_-]+")  # a Telegram bot token's shape: the bot's id, a colon, its secret


def _telegram(r: _Reader, env: Mapping[str, str]) -> TelegramSettings:
    r.unknown({"token", "api_base_url", "admin_chat_ids", "poll_timeout", "messages_per_second"})
    defaults = TelegramSettings()
    admins = r.get("admin_chat_ids", list, [])
    if not all(isinstance(a, int) and not isinstance(a, bool) for a in admins):
        raise r.fail("admin_chat_ids", "must be a list of integer chat ids")
    base = env.get("TELEGRAM_API_BASE_URL") or r.get("api_base_url", str, defaults.api_base_url)
    if not re.match(r"^https?://", base):
        raise r.fail("api_base_url", f"{base!r} is not an http(s) URL")
    token = _secret(r, "token", env, "TELEGRAM_BOT_TOKEN")
    if token is not None and not BOT_TOKEN.fullmatch(token.reveal()):
        problem = "is not a bot token: @BotFather gives the bot's number, a colon and its secret (123456789:AA...); the value is not shown"
        if env.get("TELEGRAM_BOT_TOKEN"):
            raise ConfigError("(environment)", "TELEGRAM_BOT_TOKEN", problem)
        raise r.fail("token", problem)
    return TelegramSettings(
        token=token,
        api_base_url=base,
        admin_chat_ids=tuple(admins),
        poll_timeout=_positive(r, "poll_timeout", defaults.poll_timeout),
        messages_per_second=_rate(r, "messages_per_second", defaults.messages_per_second),
    )


def _rate(r: _Reader, name: str, default: int) -> int:
    value = _positive(r, name, default)
    if value > 30:
        raise r.fail(name, f"must be at most 30 (Telegram's overall limit), got {value}")
    return value


def _wecom(r: _Reader, env: Mapping[str, str]) -> WeComSettings:
    r.unknown({"corp_id", "agent_id", "secret", "token", "encoding_aes_key", "api_base_url", "host", "port", "path", "robots", "admin_users",
              "msgtype", "member_per_minute", "member_per_hour"})
    defaults = WeComSettings()
    msgtype = r.get("msgtype", str, defaults.msgtype)
    if msgtype not in ("markdown", "text"):
        raise r.fail("msgtype", f'must be "markdown" or "text", got {msgtype!r}')
    base = env.get("WECOM_API_BASE_URL") or r.get("api_base_url", str, defaults.api_base_url)
    if not re.match(r"^https?://[^/\s]+", base):
        raise r.fail("api_base_url", f"{base!r} is not an http(s) URL")
    aes = _secret(r, "encoding_aes_key", env, "WECOM_ENCODING_AES_KEY")
    if aes and len(aes.reveal()) != 43:
        raise r.fail("encoding_aes_key", "must be the 43-character EncodingAESKey from the WeCom console")
    path = r.get("path", str, defaults.path)
    if not path.startswith("/"):
        raise r.fail("path", f"must start with '/', got {path!r}")
    port = r.get("port", int, None)
    if port is not None and not 0 <= port <= 65535:
        raise r.fail("port", f"must be 0-65535, got {port}")
    robots = []
    raw_robots = r.get("robots", list, [])
    for i, raw in enumerate(raw_robots):
        rr = _Reader(raw, r.file, f"{r.prefix}robots[{i}].")
        rr.unknown({"name", "key", "url", "topics", "keywords", "digest_time", "lang"})
        key = rr.get("key", str, None)
        url = rr.get("url", str, None)
        if not key and not url:
            raise rr.fail("key", "a robot needs `key` or `url`")
        if url is None:
            url = f"{base.rstrip('/')}/cgi-bin/webhook/send?key={key}"
        lang = rr.get("lang", str, "zh")
        if lang not in ("zh", "en"):
            raise rr.fail("lang", f"must be \"zh\" or \"en\", got {lang!r}")
        robots.append(
            WeComRobot(
                name=rr.get("name", str, f"robot{i + 1}"),
                url=url,
                key=Secret(key) if key else None,
                topics=rr.str_list("topics"),
                keywords=rr.str_list("keywords"),
                digest_time=_hhmm(rr, "digest_time", None),
                lang=lang,
            )
        )
    return WeComSettings(
        corp_id=env.get("WECOM_CORP_ID") or r.get("corp_id", str, None),
        agent_id=r.get("agent_id", int, None),
        secret=_secret(r, "secret", env, "WECOM_SECRET"),
        token=_secret(r, "token", env, "WECOM_TOKEN"),
        encoding_aes_key=aes,
        api_base_url=base,
        host=r.get("host", str, None),
        port=port,
        path=path,
        robots=tuple(robots),
        admin_users=r.str_list("admin_users"),
        msgtype=msgtype,
        member_per_minute=_positive(r, "member_per_minute", defaults.member_per_minute),
        member_per_hour=_positive(r, "member_per_hour", defaults.member_per_hour),
    )


def _fetch(r: _Reader) -> FetchSettings:
    allowed = {f.name for f in fields(FetchSettings)}
    r.unknown(allowed)
    d = FetchSettings()
    return FetchSettings(
        concurrency=_positive(r, "concurrency", d.concurrency),
        per_host=_positive(r, "per_host", d.per_host),
        connect_timeout=_positive(r, "connect_timeout", d.connect_timeout, (int, float)),
        timeout=_positive(r, "timeout", d.timeout, (int, float)),
        max_bytes=_positive(r, "max_bytes", d.max_bytes),
        max_redirects=_positive(r, "max_redirects", d.max_redirects),
        user_agent=_user_agent(r, d.user_agent),
        article_concurrency=_positive(r, "article_concurrency", d.article_concurrency),
        baseline_articles=_non_negative(r, "baseline_articles", d.baseline_articles),
        max_articles_per_poll=_non_negative(r, "max_articles_per_poll", d.max_articles_per_poll),
        poll_deadline=_positive(r, "poll_deadline", d.poll_deadline, (int, float)),
        offload_bytes=_non_negative(r, "offload_bytes", d.offload_bytes),
    )


def _user_agent(r: _Reader, default: str) -> str:
    value = r.get("user_agent", str, default).strip()
    if not value or any(c in value for c in "\r\n"):
        raise r.fail("user_agent", "must be one non-empty line that tells site operators who is fetching")
    return value


def _digest(r: _Reader) -> DigestSettings:
    r.unknown({"default_time", "send_empty"})
    d = DigestSettings()
    return DigestSettings(default_time=_hhmm(r, "default_time", d.default_time) or d.default_time, send_empty=r.get("send_empty", bool, d.send_empty))


def _web(r: _Reader, env: Mapping[str, str]) -> WebSettings:
    r.unknown({"enabled", "host", "port", "base_url"})
    d = WebSettings()
    host = r.get("host", str, d.host).strip()
    if not host:
        raise r.fail("host", "must not be empty (127.0.0.1 serves this machine only, 0.0.0.0 every interface)")
    from_env = env.get("SHWATCH_WEB_PORT")
    if from_env is not None:
        if not from_env.strip().isdigit() or not 0 <= int(from_env) <= 65535:
            raise ConfigError("(environment)", "SHWATCH_WEB_PORT", f"must be a port number 0-65535, got {from_env!r}")
        port = int(from_env)
    else:
        port = r.get("port", int, d.port)
    if not 0 <= port <= 65535:
        raise r.fail("port", f"must be 0-65535, got {port}")
    base_url = r.get("base_url", str, None)
    if base_url is not None:
        base_url = base_url.strip().rstrip("/")
        if not re.match(r"^https?://[^/\s]+\S*$", base_url):
            raise r.fail("base_url", f"{base_url!r} is not an http(s) URL (e.g. https://news.example.org/shwatch)")
    return WebSettings(enabled=r.get("enabled", bool, d.enabled), host=host, port=port, base_url=base_url)


def _console(r: _Reader) -> ConsoleSettings:
    r.unknown({"lang", "status_interval"})
    d = ConsoleSettings()
    lang = r.get("lang", str, d.lang)
    if lang not in ("auto", "zh", "en"):
        raise r.fail("lang", f"must be \"auto\" (each item's language), \"zh\" or \"en\", got {lang!r}")
    return ConsoleSettings(lang=lang, status_interval=_positive(r, "status_interval", d.status_interval, (int, float)))


def _service(r: _Reader) -> ServiceSettings:
    r.unknown({"lease_seconds"})
    d = ServiceSettings()
    lease = _positive(r, "lease_seconds", d.lease_seconds, (int, float))
    if not MIN_LEASE_SECONDS <= lease <= MAX_LEASE_SECONDS:
        raise r.fail(
            "lease_seconds", f"must be between {MIN_LEASE_SECONDS:g} and {MAX_LEASE_SECONDS:g} seconds, got {lease!r}"
        )
    return ServiceSettings(lease_seconds=float(lease))


def _sub(data: Mapping[str, Any], name: str, file: str) -> _Reader:
    return _Reader(data.get(name, {}), file, f"{name}.")


TOP_LEVEL_KEYS = {
    "database_url", "timezone", "max_age_days", "log_level", "topics_file",
    "sources", "fetch", "telegram", "wecom", "digest", "web", "console", "service",
}


def settings_from_mapping(data: Mapping[str, Any], file: str, env: Mapping[str, str]) -> Settings:
    top = _Reader(data, file)
    top.unknown(TOP_LEVEL_KEYS)
    from_env = env.get("SHWATCH_DATABASE_URL")
    database_url = from_env or top.get("database_url", str, DEFAULT_DATABASE_URL)
    problem = database_url_problem(database_url)
    if problem:
        if from_env:
            raise ConfigError("(environment)", "SHWATCH_DATABASE_URL", problem)
        raise top.fail("database_url", problem)
    timezone = top.get("timezone", str, "Asia/Shanghai")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise top.fail("timezone", f"unknown time zone {timezone!r}") from None
    log_level = top.get("log_level", str, "INFO").upper()
    if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise top.fail("log_level", f"must be DEBUG, INFO, WARNING or ERROR, got {log_level!r}")
    sources = parse_sources(data, file) if "sources" in data else load_default_sources()
    topics_file = top.get("topics_file", str, None)
    if topics_file:
        path = Path(topics_file)
        if not path.is_absolute() and file not in ("(defaults)",):
            path = Path(file).parent / path
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise top.fail("topics_file", f"cannot read {path}: {exc.strerror}") from None
        topic_data = _parse_toml(text, str(path))
        topics, relevance = parse_topics(topic_data, str(path)), parse_relevance(topic_data, str(path))
    else:
        topics, relevance = load_default_topics(), load_default_relevance()
    return Settings(
        database_url=database_url,
        timezone=timezone,
        max_age_days=_positive(top, "max_age_days", 3),
        log_level=log_level,
        sources=sources,
        topics=topics,
        relevance=relevance,
        fetch=_fetch(_sub(data, "fetch", file)),
        telegram=_telegram(_sub(data, "telegram", file), env),
        wecom=_wecom(_sub(data, "wecom", file), env),
        digest=_digest(_sub(data, "digest", file)),
        web=_web(_sub(data, "web", file), env),
        console=_console(_sub(data, "console", file)),
        service=_service(_sub(data, "service", file)),
        config_path=None if file == "(defaults)" else file,
    )


LOCAL_CONFIG = "shwatch.toml"  # found in the working directory when no other file is named


def load_settings(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Defaults, overridden by the TOML file, then by the environment. The file: ``path``
    (--config), else ``$SHWATCH_CONFIG``, else ``./shwatch.toml`` when present."""
    env = os.environ if env is None else env
    path = path or env.get("SHWATCH_CONFIG") or (LOCAL_CONFIG if Path(LOCAL_CONFIG).is_file() else None)
    if path is None:
        return settings_from_mapping({}, "(defaults)", env)
    file = str(path)
    try:
        text = Path(file).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(file, "(file)", "no such file") from None
    except UnicodeDecodeError:
        raise ConfigError(file, "(file)", "is not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(file, "(file)", f"cannot be read: {exc.strerror}") from None
    return settings_from_mapping(_parse_toml(text, file), file, env)

