"""Chat commands, channel-agnostic: text -> ``Command`` -> an action on the store -> ``Reply``.

``parse_command`` is pure: it accepts the slash forms (``/subscribe online_education``,
``/alert add "a phrase" -exclude foo``, ``/digest 08:00``, with or without ``@botname``) and
the short Chinese forms used on WeCom (``订阅 在线教育``, ``关键词 添加 人工智能``, ``摘要 08:00``
...), and answers a ``Command`` or a ``CommandError`` (an i18n key and its parameters, naming
the problem and the limit). ``CommandCore.handle`` / ``handle_button`` run a command for a
chat and never raise: a failure is logged and the person gets a short apology.
"""

from __future__ import annotations

import inspect
import logging
import re
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from bot.core.clock import Clock
from bot.core.format import (
    Health,
    Stats,
    health_paragraphs,
    latest_blocks,
    source_bucket,
    sources_paragraphs,
    stats_paragraphs,
)
from bot.core.i18n import join, lang_from_code, t
from bot.core.match import RuleIndex
from bot.core.model import KEYWORD_MAX, MAX_EXCLUDES, MAX_RULES, Button, Caller, Chat, ChatRef, Reply
from bot.core.text import Block, Bold, Code, Paragraph, Plain
from bot.store.chats import ChatStore, RuleLimitError
from bot.store.dispatch import DispatchLog
from bot.store.outbox import Outbox
from config.model import Settings
from monitors.store import ItemStore
from monitors.tagger import normalize

log = logging.getLogger("shwatch.commands")

LATEST_DEFAULT = 5
LATEST_MAX = 20
LATEST_WINDOW = 1000  # /latest looks among this many newest items
TOPIC_WORDS_MAX = 60  # words after /subscribe or /unsubscribe (12 English names take ~30)
BUTTON_DATA_MAX = 64

# ------------------------------------------------------------------ values


@dataclass(frozen=True)
class Command:
    name: str
    args: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()


class CommandError(Exception):
    """A command the person got wrong: ``key`` and ``params`` say what and which limit."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CommandError) and (self.key, self.params) == (other.key, other.params)

    def __repr__(self) -> str:
        return f"CommandError({self.key!r}, {self.params!r})"

    __hash__ = None  # type: ignore[assignment]


# ------------------------------------------------------------------ parsing

SLASH = {
    "start": "start",
    "help": "help",
    "topics": "topics",
    "fields": "topics",
    "subscribe": "subscribe",
    "sub": "subscribe",
    "unsubscribe": "unsubscribe",
    "unsub": "unsubscribe",
    "alert": "alert",
    "alerts": "alerts",
    "latest": "latest",
    "sources": "sources",
    "mode": "mode",
    "stop": "stop",
    "lang": "lang",
    "language": "lang",
    "stats": "stats",
    "health": "health",
    "digest": "digest",
    "quiet": "quiet",
    "tz": "tz",
    "timezone": "tz",
}
ALIASES = {
    "开始": "start",
    "帮助": "help",
    "领域": "topics",
    "订阅": "subscribe",
    "退订": "unsubscribe",
    "取消订阅": "unsubscribe",
    "关键词": "alert",
    "提醒": "alert",
    "最新": "latest",
    "来源": "sources",
    "模式": "mode",
    "停止": "stop",
    "语言": "lang",
    "统计": "stats",
    "健康": "health",
    "摘要": "digest",
    "免打扰": "quiet",
    "时区": "tz",
}
COMMANDS = (
    "start", "help", "topics", "subscribe", "unsubscribe", "alert_add", "alert_del", "alerts",
    "latest", "sources", "mode", "digest", "quiet", "tz", "lang", "stop", "stats", "health",
)
SETTING_COMMANDS = frozenset({
    "subscribe", "unsubscribe", "alert_add", "alert_del", "mode", "digest", "quiet", "tz", "lang", "stop",
})
ADMIN_COMMANDS = frozenset({"stats", "health"})

_ADD = {"add", "+", "new", "添加", "加", "增加", "新增"}
_DEL = {"del", "delete", "remove", "rm", "-", "删除", "删", "移除"}
_LIST = {"list", "ls", "列表", "查看"}
_EXCLUDE = {"-exclude", "--exclude", "-x", "-not", "排除", "-排除"}
_MODES = {"instant": "instant", "即时": "instant", "立即": "instant", "digest": "digest", "摘要": "digest",
          "每日摘要": "digest", "both": "both", "两者": "both", "都要": "both", "全部": "both"}
_ON = {"on", "开", "开启", "打开", "yes"}
_OFF = {"off", "关", "关闭", "no"}
_NOW = {"now", "现在", "立即", "马上"}
_LANGS = {"zh": "zh", "cn": "zh", "zh-cn": "zh", "chinese": "zh", "中文": "zh", "汉语": "zh", "简体中文": "zh",
          "en": "en", "english": "en", "英文": "en", "英语": "en"}
_ALL = {"all", "全部", "所有", "全选"}

_QUOTES = {'"': '"', "'": "'", "“": "”", "‘": "’", "「": "」", "『": "』", "«": "»"}
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")


def _clean(text: str) -> str:
    """Control and format characters become spaces; nothing else changes."""
    return "".join(" " if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co") else c for c in text)


def tokenize(text: str) -> list[str]:
    """Whitespace-separated words; a word that starts with a quote runs to the matching close
    quote (spaces included). An unclosed quote is a CommandError naming it."""
    tokens: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        close = _QUOTES.get(c)
        if close is not None:
            j = text.find(close, i + 1)
            if j < 0:
                raise CommandError("err.quotes", quote=c)
            tokens.append(text[i + 1 : j])
            i = j + 1
            continue
        j = i
        while j < n and not text[j].isspace():
            j += 1
        tokens.append(text[i:j])
        i = j
    return tokens


def parse_time(value: str) -> str | None:
    """``H:MM`` / ``HH:MM`` (full-width digits and colon too) -> ``HH:MM``, else None."""
    m = _TIME.match(unicodedata.normalize("NFKC", value.strip()))
    if not m:
        return None
    hour, minute = int(m.group(1)), int(m.group(2))
    if hour > 23 or minute > 59:
        return None
    return f"{hour:02d}:{minute:02d}"


def _short(value: str, limit: int = 40) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def parse_command(text: str) -> Command | CommandError:
    """Parse one chat message (see the module docstring). Never raises."""
    try:
        return _parse(text)
    except CommandError as err:
        return err


def _parse(text: str) -> Command:
    text = _clean(text or "").strip()
    if not text:
        raise CommandError("hint.text")
    if text[0] in "/／":
        head, rest = _head(text[1:])
        head = head.split("@", 1)[0].lower()
        name = SLASH.get(head)
        if name is None:
            raise CommandError("hint.unknown", command="/" + _short(head, 32))
    else:
        head, rest = _head(text)
        name = ALIASES.get(head)
        if name is None:
            raise CommandError("hint.text")
    tokens = tokenize(rest)
    return _build(name, tokens)


def _head(text: str) -> tuple[str, str]:
    parts = text.split(None, 1)
    if not parts:
        return "", ""
    return parts[0], parts[1] if len(parts) > 1 else ""


def _build(name: str, tokens: list[str]) -> Command:
    if name == "alert":
        if not tokens or tokens[0].lower() in _LIST:
            return Command("alerts")
        sub = tokens[0].lower()
        if sub in _ADD:
            return _alert_add(tokens[1:])
        if sub in _DEL:
            keyword = " ".join(tokens[1:]).strip()
            if not keyword or not normalize(keyword):
                raise CommandError("err.alert_usage")  # "which one?": the usage shows the forms
            _check_keyword(keyword)
            return Command("alert_del", (keyword,))
        raise CommandError("err.alert_usage")
    if name == "latest":
        if not tokens:
            return Command("latest", (str(LATEST_DEFAULT),))
        raw = unicodedata.normalize("NFKC", tokens[0])
        if len(tokens) > 1 or not raw.isdigit() or not 1 <= int(raw) <= LATEST_MAX:
            raise CommandError("err.bad_latest", value=_short(" ".join(tokens)), limit=LATEST_MAX)
        return Command("latest", (str(int(raw)),))
    if name == "mode":
        if not tokens:
            return Command("mode")
        mode = _MODES.get(tokens[0].lower())
        if mode is None or len(tokens) > 1:
            raise CommandError("err.bad_mode", value=_short(" ".join(tokens)))
        return Command("mode", (mode,))
    if name == "digest":
        if not tokens:
            return Command("digest")
        word = tokens[0].lower()
        if len(tokens) == 1 and word in _ON:
            return Command("digest", ("on",))
        if len(tokens) == 1 and word in _OFF:
            return Command("digest", ("off",))
        if len(tokens) == 1 and word in _NOW:
            return Command("digest", ("now",))
        if len(tokens) == 1 and any(ch.isdigit() for ch in word):
            hhmm = parse_time(word)
            if hhmm is None:
                raise CommandError("err.bad_time", value=_short(tokens[0]))
            return Command("digest", (hhmm,))
        raise CommandError("err.bad_digest")
    if name == "quiet":
        if not tokens:
            return Command("quiet")
        joined = unicodedata.normalize("NFKC", "".join(tokens)).lower()
        if joined in _OFF:
            return Command("quiet", ("off",))
        parts = re.split(r"[-~–—至到]", joined)
        if len(parts) != 2:
            raise CommandError("err.bad_quiet")
        start, end = parse_time(parts[0]), parse_time(parts[1])
        if start is None or end is None:
            bad = parts[0] if start is None else parts[1]
            raise CommandError("err.bad_time", value=_short(bad))
        if start == end:
            raise CommandError("err.quiet_same")
        return Command("quiet", (start, end))
    if name == "lang":
        if not tokens:
            return Command("lang")
        lang = _LANGS.get(" ".join(tokens).lower())
        if lang is None:
            raise CommandError("err.bad_lang", value=_short(" ".join(tokens)))
        return Command("lang", (lang,))
    if name == "tz":
        if not tokens:
            return Command("tz")
        if len(tokens) > 1:
            raise CommandError("err.bad_tz", value=_short(" ".join(tokens)))
        return Command("tz", (tokens[0],))
    if name in ("subscribe", "unsubscribe"):
        if len(tokens) > TOPIC_WORDS_MAX:
            raise CommandError("err.too_many_topics", limit=TOPIC_WORDS_MAX)
        return Command(name, tuple(tokens))
    return Command(name)


def _check_keyword(keyword: str) -> None:
    if not keyword or not normalize(keyword):
        raise CommandError("err.keyword_empty")
    if len(keyword) > KEYWORD_MAX:
        raise CommandError("err.keyword_long", length=len(keyword), limit=KEYWORD_MAX)


def _alert_add(tokens: list[str]) -> Command:
    words: list[str] = []
    excludes: list[str] = []
    in_excludes = False
    saw_flag = False
    for token in tokens:
        if token.lower() in _EXCLUDE:
            in_excludes = saw_flag = True
            continue
        (excludes if in_excludes else words).append(token)
    keyword = " ".join(" ".join(words).split())
    _check_keyword(keyword)
    if saw_flag and not excludes:
        raise CommandError("err.exclude_empty")
    excludes = list(dict.fromkeys(" ".join(e.split()) for e in excludes if e.strip()))
    if len(excludes) > MAX_EXCLUDES:
        raise CommandError("err.too_many_excludes", count=len(excludes), limit=MAX_EXCLUDES)
    for term in excludes:
        if len(term) > KEYWORD_MAX:
            raise CommandError("err.exclude_long", length=len(term), limit=KEYWORD_MAX)
    if saw_flag and not any(normalize(e) for e in excludes):
        raise CommandError("err.exclude_empty")
    for term in excludes:  # every text holding the keyword would hold such a term too
        if normalize(term) and normalize(term) in normalize(keyword):
            raise CommandError("err.exclude_in_keyword", term=term)
    return Command("alert_add", (keyword,), tuple(e for e in excludes if normalize(e)))


# ------------------------------------------------------------------ execution

DigestNow = Callable[[Chat], Awaitable[object] | object]


class CommandCore:
    """Runs commands for chats. One instance serves every channel."""

    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        *,
        chats: ChatStore,
        items: ItemStore,
        outbox: Outbox,
        dispatched: DispatchLog,
        digest_now: DigestNow | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.digest_now = digest_now
        self.store = chats
        self.items = items
        self.outbox = outbox
        self.dispatched = dispatched
        self.topics = {tp.id: tp for tp in settings.topics}
        self.fields = [tp for tp in settings.topics if tp.kind == "field"]
        self._names: dict[str, str] = {}
        for tp in settings.topics:
            for name in (tp.id, tp.id.replace("_", " "), tp.name_zh, tp.name_en):
                key = normalize(name)
                if key:
                    self._names.setdefault(key, tp.id)
        self._zones: dict[str, str] | None = None

    def _now(self):
        return self.clock.now()

    # -------------------------------------------------------------- entry points

    async def handle(self, chat_ref: ChatRef, caller: Caller, text: str) -> Reply:
        lang = lang_from_code(chat_ref.lang_hint)
        try:
            chat = await self._chat(chat_ref)
            lang = chat.lang
            cmd = parse_command(text if isinstance(text, str) else "")
            if isinstance(cmd, CommandError):
                return _text_reply(t(cmd.key, lang, **cmd.params))
            refusal = self._refusal(cmd.name, chat_ref, caller, lang)
            if refusal is not None:
                return refusal
            return await getattr(self, "_cmd_" + cmd.name)(chat, cmd)
        except CommandError as err:
            return _text_reply(t(err.key, lang, **err.params))
        except Exception:
            log.exception("command failed in %s chat (%s)", chat_ref.channel, type(text).__name__)
            return _text_reply(t("err.internal", lang))

    async def handle_non_text(self, chat_ref: ChatRef) -> Reply:
        """A photo, sticker, voice ... in a private chat: say what is understood, in the chat's
        language (nothing is created for a chat we do not know yet)."""
        lang = lang_from_code(chat_ref.lang_hint)
        try:
            chat = await self.store.get(chat_ref.channel, str(chat_ref.address))
            if chat is not None:
                lang = chat.lang
        except Exception:
            log.exception("looking up a %s chat failed", chat_ref.channel)
        return _text_reply(t("hint.non_text", lang))

    async def handle_button(self, chat_ref: ChatRef, caller: Caller, data: str) -> Reply:
        lang = lang_from_code(chat_ref.lang_hint)
        try:
            chat = await self._chat(chat_ref)
            lang = chat.lang
            data = data if isinstance(data, str) else ""
            if not data.startswith("t:") or len(data) > BUTTON_DATA_MAX:
                return _text_reply(t("err.bad_button", lang), toast=t("err.bad_button", lang))
            refusal = self._refusal("subscribe", chat_ref, caller, lang)
            if refusal is not None:
                refusal.toast = t("refuse.group", lang)
                return refusal
            value = data[2:]
            field_ids = [tp.id for tp in self.fields]
            if value == "all":
                await self.store.add_topics(chat.id, field_ids)
                toast = t("toast.all", lang)
            elif value == "none":
                await self.store.remove_topics(chat.id, field_ids)
                toast = t("toast.none", lang)
            elif value in self.topics:
                if value in chat.topics:
                    await self.store.remove_topics(chat.id, [value])
                    toast = t("toast.off", lang, topic=self.topics[value].name(lang))
                else:
                    await self.store.add_topics(chat.id, [value])
                    toast = t("toast.on", lang, topic=self.topics[value].name(lang))
            else:
                return _text_reply(t("err.bad_button", lang), toast=t("err.bad_button", lang))
            chat = await self.store.get_by_id(chat.id)
            reply = self._topics_reply(chat, edit=True)
            reply.toast = toast
            return reply
        except Exception:
            log.exception("button failed in %s chat", chat_ref.channel)
            return _text_reply(t("err.internal", lang))

    # -------------------------------------------------------------- helpers

    async def _chat(self, ref: ChatRef) -> Chat:
        chat = await self.store.get_or_create(
            ref.channel, str(ref.address), ref.kind, ref.title, lang_from_code(ref.lang_hint)
        )
        if not chat.active:  # they talk to us again after blocking the bot
            await self.store.set_active(chat.id, True)
            chat = await self.store.get_by_id(chat.id)
        return chat

    def is_admin(self, chat_ref: ChatRef, caller: Caller) -> bool:
        if caller.is_admin:
            return True
        if chat_ref.channel == "telegram":
            ids = set(self.settings.telegram.admin_chat_ids)
            for value in (chat_ref.address, caller.user_id):
                try:
                    if value is not None and int(value) in ids:
                        return True
                except (TypeError, ValueError):
                    continue
        if chat_ref.channel == "wecom":
            users = set(getattr(self.settings.wecom, "admin_users", ()) or ())
            if chat_ref.address in users or (caller.user_id is not None and str(caller.user_id) in users):
                return True
        return False

    def _refusal(self, name: str, chat_ref: ChatRef, caller: Caller, lang: str) -> Reply | None:
        if name in ADMIN_COMMANDS and not self.is_admin(chat_ref, caller):
            return _text_reply(t("refuse.admin", lang, command="/" + name))
        if name in SETTING_COMMANDS and chat_ref.kind != "private" and not caller.is_group_admin:
            return _text_reply(t("refuse.group", lang))
        return None

    def _tz_name(self, value: str) -> str | None:
        value = value.strip()
        if not value or len(value) > 64 or ".." in value or value.startswith("/"):
            return None
        try:
            ZoneInfo(value)
            return value
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
        if self._zones is None:
            self._zones = {z.lower(): z for z in available_timezones()}
        return self._zones.get(value.lower())

    def _resolve_topics(self, tokens: Sequence[str]) -> list[str]:
        """Topic ids for the words given (ids, zh or en names; commas allowed; ``all``)."""
        words = [w for tok in tokens for w in re.split(r"[,，、;；]+", tok) if w.strip()]
        if any(w.lower() in _ALL for w in words):
            return [tp.id for tp in self.fields]
        whole = normalize(" ".join(words))
        if whole in self._names:
            return [self._names[whole]]
        found: list[str] = []
        i = 0
        while i < len(words):
            for j in range(min(len(words), i + 6), i, -1):  # longest name first (names have <= 5 words)
                key = normalize(" ".join(words[i:j]))
                if key in self._names:
                    found.append(self._names[key])
                    i = j
                    break
            else:
                raise CommandError(
                    "err.unknown_topic", value=_short(words[i]), ids=", ".join(tp.id for tp in self.fields)
                )
        return list(dict.fromkeys(found))

    def _names_of(self, ids, lang: str) -> str:
        return join([self.topics[i].name(lang) if i in self.topics else i for i in ids], lang)

    def _topics_reply(self, chat: Chat, edit: bool = False) -> Reply:
        lang = chat.lang
        paragraphs: list[Paragraph] = [(Bold(t("topics.title", lang)),)]
        for tp in self.fields:
            mark = "✅" if tp.id in chat.topics else "▫️"
            paragraphs.append((Plain(f"{mark} "), Code(tp.id), Plain(" " + tp.name(lang))))
        others = sorted(chat.topics - {tp.id for tp in self.fields})
        if others:
            paragraphs.append((Plain(t("topics.other", lang, topics=self._names_of(others, lang))),))
        paragraphs.append(())
        count = len(chat.topics & {tp.id for tp in self.fields})
        paragraphs.append((Plain(t("topics.count", lang, count=count, total=len(self.fields))),))
        # only Telegram shows the buttons; elsewhere the text says what to send
        footer = "topics.footer" if chat.channel == "telegram" else "topics.footer_text"
        paragraphs.append((Plain(t(footer, lang)),))
        buttons = [
            Button(f"{'✅' if tp.id in chat.topics else '▫️'} {tp.name(lang)}", f"t:{tp.id}"[:BUTTON_DATA_MAX])
            for tp in self.fields
        ]
        keyboard = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
        keyboard.append([Button(t("button.all", lang), "t:all"), Button(t("button.none", lang), "t:none")])
        return Reply(paragraphs, keyboard=keyboard, edit=edit)

    # -------------------------------------------------------------- commands

    async def _cmd_start(self, chat: Chat, cmd: Command) -> Reply:
        lang = chat.lang
        paragraphs: list[Paragraph] = [(Bold(t("start.welcome", lang)),), (Plain(t("start.what", lang)),), ()]
        if chat.follows_anything:
            paragraphs.append((Plain(t("start.following", lang, topics=len(chat.topics), alerts=len(chat.rules))),))
        paragraphs.append((Plain(t("start.next", lang)),))
        paragraphs.append((Plain(t("start.lang", lang)),))
        return Reply(paragraphs)

    HELP = (
        ("/start", "help.start"),
        ("/help", "help.help"),
        ("/topics", "help.topics"),
        ("/subscribe online_education", "help.subscribe"),
        ("/unsubscribe all", "help.unsubscribe"),
        ('/alert add "machine learning" -exclude jobs', "help.alert_add"),
        ("/alert del 5G", "help.alert_del"),
        ("/alerts", "help.alerts"),
        ("/latest 10", "help.latest"),
        ("/sources", "help.sources"),
        ("/mode both", "help.mode"),
        ("/digest 08:00", "help.digest"),
        ("/quiet 22:00-07:30", "help.quiet"),
        ("/tz Asia/Shanghai", "help.tz"),
        ("/lang zh", "help.lang"),
        ("/stop", "help.stop"),
        ("/stats", "help.stats"),
        ("/health", "help.health"),
    )

    async def _cmd_help(self, chat: Chat, cmd: Command) -> Reply:
        lang = chat.lang
        paragraphs: list[Paragraph] = [(Bold(t("help.title", lang)),)]
        for example, key in self.HELP:
            paragraphs.append((Code(example), Plain(" — " + t(key, lang))))
        paragraphs.append(())
        paragraphs.append((Plain(t("help.aliases", lang)),))
        if chat.is_group:
            paragraphs.append((Plain(t("help.group", lang)),))
        return Reply(paragraphs)

    async def _cmd_topics(self, chat: Chat, cmd: Command) -> Reply:
        return self._topics_reply(chat)

    async def _cmd_subscribe(self, chat: Chat, cmd: Command) -> Reply:
        if not cmd.args:
            return self._topics_reply(chat)
        lang = chat.lang
        wanted = self._resolve_topics(cmd.args)
        new = [i for i in wanted if i not in chat.topics]
        old = [i for i in wanted if i in chat.topics]
        now = await self.store.add_topics(chat.id, new) if new else chat.topics
        lines: list[Paragraph] = []
        if new:
            lines.append((Plain(t("sub.added", lang, topics=self._names_of(new, lang))),))
        if old:
            lines.append((Plain(t("sub.already", lang, topics=self._names_of(old, lang))),))
        lines.append((Plain(t("sub.now", lang, count=len(now))),))
        return Reply(lines)

    async def _cmd_unsubscribe(self, chat: Chat, cmd: Command) -> Reply:
        if not cmd.args:
            return self._topics_reply(chat)
        lang = chat.lang
        if any(w.lower() in _ALL for w in cmd.args):
            if not chat.topics:
                return _text_reply(t("sub.none", lang))
            wanted = sorted(chat.topics)
        else:
            wanted = self._resolve_topics(cmd.args)
        gone = [i for i in wanted if i in chat.topics]
        absent = [i for i in wanted if i not in chat.topics]
        now = await self.store.remove_topics(chat.id, gone) if gone else chat.topics
        lines: list[Paragraph] = []
        if gone:
            lines.append((Plain(t("sub.removed", lang, topics=self._names_of(gone, lang))),))
        if absent:
            lines.append((Plain(t("sub.not_subscribed", lang, topics=self._names_of(absent, lang))),))
        lines.append((Plain(t("sub.now", lang, count=len(now))),))
        return Reply(lines)

    async def _cmd_alert_add(self, chat: Chat, cmd: Command) -> Reply:
        lang = chat.lang
        try:
            rule, created = await self.store.add_rule(chat.id, cmd.args[0], cmd.excludes, MAX_RULES)
        except RuleLimitError:
            raise CommandError("err.too_many_alerts", limit=MAX_RULES) from None
        count = len(await self.store.list_rules(chat.id))
        lines: list[Paragraph] = [
            (Plain(t("alert.added" if created else "alert.updated", lang, keyword=rule.keyword)),)
        ]
        if rule.excludes:
            lines.append((Plain(t("alert.excludes", lang, terms=join(rule.excludes, lang))),))
        lines.append((Plain(t("alert.count", lang, count=count, limit=MAX_RULES)),))
        return Reply(lines)

    async def _cmd_alert_del(self, chat: Chat, cmd: Command) -> Reply:
        lang = chat.lang
        rule = await self.store.delete_rule(chat.id, cmd.args[0])
        if rule is None:
            raise CommandError("err.alert_missing", keyword=_short(cmd.args[0], 50))
        count = len(await self.store.list_rules(chat.id))
        return Reply([
            (Plain(t("alert.deleted", lang, keyword=rule.keyword)),),
            (Plain(t("alert.count", lang, count=count, limit=MAX_RULES)),),
        ])

    async def _cmd_alerts(self, chat: Chat, cmd: Command) -> Reply:
        lang = chat.lang
        if not chat.rules:
            return _text_reply(t("alert.list_empty", lang))
        lines: list[Paragraph] = [(Bold(t("alert.list_title", lang, count=len(chat.rules), limit=MAX_RULES)),)]
        for rule in chat.rules:
            spans = [Plain("• "), Code(rule.keyword)]
            if rule.excludes:
                spans.append(Plain(t("alert.list_excludes", lang, terms=join(rule.excludes, lang))))
            lines.append(tuple(spans))
        return Reply(lines)

    async def _cmd_latest(self, chat: Chat, cmd: Command) -> Reply:
        lang = chat.lang
        if not chat.follows_anything:
            return _text_reply(t("latest.nothing_followed", lang))
        n = int(cmd.args[0]) if cmd.args else LATEST_DEFAULT
        entries = RuleIndex.build([chat]).latest(await self.items.recent_items(LATEST_WINDOW), chat.id, n)
        if not entries:
            return _text_reply(t("latest.none", lang))
        names = {s.id: s.name for s in self.settings.sources}
        blocks = latest_blocks(entries, names, lang, topics=self.topics, tz=chat.tz)
        return _blocks_reply(blocks)

    async def _cmd_sources(self, chat: Chat, cmd: Command) -> Reply:
        states = await self.items.source_states()
        return Reply(sources_paragraphs(self.settings.sources, states, chat.lang, chat.tz))

    async def _cmd_mode(self, chat: Chat, cmd: Command) -> Reply:
        lang = chat.lang
        if not cmd.args:
            return _text_reply(t("mode.current", lang, mode=t("mode." + chat.mode, lang)))
        mode = cmd.args[0]
        await self.store.set_mode(chat.id, mode)
        chat = await self.store.get_by_id(chat.id)
        return _text_reply(t("mode.set_" + mode, lang, time=chat.digest_time, tz=chat.tz))

    async def _cmd_digest(self, chat: Chat, cmd: Command) -> Reply:
        lang = chat.lang
        if not cmd.args:
            key = "digest.status_on" if chat.digest_enabled else "digest.status_off"
            return _text_reply(t(key, lang, time=chat.digest_time, tz=chat.tz))
        arg = cmd.args[0]
        if arg == "on":
            await self.store.set_digest(chat.id, enabled=True)
            return _text_reply(t("digest.on", lang, time=chat.digest_time, tz=chat.tz))
        if arg == "off":
            await self.store.set_digest(chat.id, enabled=False)
            return _text_reply(t("digest.off", lang))
        if arg == "now":
            if self.digest_now is None:
                return _text_reply(t("digest.unavailable", lang))
            try:
                result = self.digest_now(chat)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("digest_now hook failed for chat %s", chat.id)
                return _text_reply(t("digest.unavailable", lang))
            return _text_reply(t("digest.now", lang))
        await self.store.set_digest(chat.id, enabled=True, time=arg)
        return _text_reply(t("digest.on", lang, time=arg, tz=chat.tz))

    async def _cmd_quiet(self, chat: Chat, cmd: Command) -> Reply:
        lang = chat.lang
        if not cmd.args:
            if chat.quiet_start and chat.quiet_end:
                return _text_reply(t("quiet.status_on", lang, start=chat.quiet_start, end=chat.quiet_end, tz=chat.tz))
            return _text_reply(t("quiet.status_off", lang))
        if cmd.args[0] == "off":
            await self.store.set_quiet(chat.id, None, None)
            return _text_reply(t("quiet.off", lang))
        start, end = cmd.args
        await self.store.set_quiet(chat.id, start, end)
        return _text_reply(t("quiet.set", lang, start=start, end=end, tz=chat.tz))

    async def _cmd_tz(self, chat: Chat, cmd: Command) -> Reply:
        lang = chat.lang
        if not cmd.args:
            return _text_reply(t("tz.current", lang, tz=chat.tz))
        zone = self._tz_name(cmd.args[0])
        if zone is None:
            raise CommandError("err.bad_tz", value=_short(cmd.args[0]))
        await self.store.set_tz(chat.id, zone)
        return _text_reply(t("tz.set", lang, tz=zone))

    async def _cmd_lang(self, chat: Chat, cmd: Command) -> Reply:
        if not cmd.args:
            return _text_reply(t("lang.current", chat.lang))
        await self.store.set_lang(chat.id, cmd.args[0])
        return _text_reply(t("lang.set", cmd.args[0]))

    async def _cmd_stop(self, chat: Chat, cmd: Command) -> Reply:
        n_rules = await self.store.delete_chat(chat.id)
        return _text_reply(t("stop.done", chat.lang, alerts=n_rules))

    async def stats(self) -> Stats:
        total, active, subscribers, n_alerts = await self.store.counts()
        n_items, n_day, _ = await self.items.counts(self._now() - timedelta(days=1))
        states = await self.items.source_states()
        names = {s.id: s.name for s in self.settings.sources}
        failing = tuple(names.get(sid, sid) for sid, st in sorted(states.items()) if st.status.broken)
        return Stats(
            chats=total, active=active, subscribers=subscribers, alerts=n_alerts,
            items_total=n_items, items_day=n_day,
            deliveries=await self.outbox.counts(), failing_sources=failing,
        )

    async def health(self) -> Health:
        states = await self.items.source_states()
        buckets = [source_bucket(states.get(s.id)) for s in self.settings.sources]
        counts = await self.outbox.counts()
        _, _, last_item = await self.items.counts(self._now())
        return Health(
            backend=self.items.backend,
            sources_total=len(buckets),
            sources_ok=buckets.count("ok"),
            sources_failing=buckets.count("failing"),
            sources_never=buckets.count("never"),
            last_item_at=last_item,
            pending=counts["pending"] + counts["sending"],
            oldest_pending=await self.outbox.oldest_pending(),
            undispatched=await self.dispatched.backlog(self.items),
            now=self._now(),
        )

    async def _cmd_stats(self, chat: Chat, cmd: Command) -> Reply:
        return Reply(stats_paragraphs(await self.stats(), chat.lang))

    async def _cmd_health(self, chat: Chat, cmd: Command) -> Reply:
        return Reply(health_paragraphs(await self.health(), chat.lang, chat.tz))


def _text_reply(text: str, toast: str | None = None) -> Reply:
    return Reply([(Plain(text),)], toast=toast)


def _blocks_reply(blocks: list[Block]) -> Reply:
    paragraphs: list[Paragraph] = []
    for i, block in enumerate(blocks):
        if i:
            paragraphs.append(())
        paragraphs.extend(block)
    return Reply(paragraphs, blocks=blocks)
