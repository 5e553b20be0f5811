"""The words after a command's name -> a ``Command`` (pure).

Each parser has the ``ArgParser`` shape ``(name, words) -> Command`` and raises a
``CommandError`` naming the problem and the limit. ``bot.commands.registry`` says which
command takes which parser; ``tokenize`` splits the words (quotes keep a phrase whole).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence

from bot.commands.command import Command, CommandError
from monitors.store import SearchTextError, search_terms
from bot.core.model import KEYWORD_MAX, MAX_EXCLUDES
from monitors.tagger import normalize

ArgParser = Callable[[str, Sequence[str]], Command]

LATEST_DEFAULT = 5
LATEST_MAX = 20
TOPIC_WORDS_MAX = 60  # words after /subscribe or /unsubscribe (12 English names take ~30)

EXCLUDE = frozenset({"-exclude", "--exclude", "-x", "-not", "排除", "-排除"})
MODES = {"instant": "instant", "即时": "instant", "立即": "instant", "digest": "digest", "摘要": "digest",
         "每日摘要": "digest", "both": "both", "两者": "both", "都要": "both", "全部": "both"}
ON = frozenset({"on", "开", "开启", "打开", "yes"})
OFF = frozenset({"off", "关", "关闭", "no"})
NOW = frozenset({"now", "现在", "立即", "马上"})
LANGS = {"zh": "zh", "cn": "zh", "zh-cn": "zh", "chinese": "zh", "中文": "zh", "汉语": "zh", "简体中文": "zh",
         "en": "en", "english": "en", "英文": "en", "英语": "en"}

_QUOTES = {'"': '"', "'": "'", "“": "”", "‘": "’", "「": "」", "『": "』", "«": "»"}
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")


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


def shorten(value: str, limit: int = 40) -> str:
    """``value`` cut to ``limit`` characters (with an ellipsis) for quoting it back."""
    return value if len(value) <= limit else value[: limit - 1] + "…"


# ------------------------------------------------------------------ parsers


def no_args(name: str, words: Sequence[str]) -> Command:
    """A command that takes nothing (extra words are ignored, as they always were)."""
    return Command(name)


def topic_words(name: str, words: Sequence[str]) -> Command:
    """/subscribe, /unsubscribe: the words as given (names are resolved against the settings)."""
    if len(words) > TOPIC_WORDS_MAX:
        raise CommandError("err.too_many_topics", limit=TOPIC_WORDS_MAX)
    return Command(name, tuple(words))


def check_keyword(keyword: str) -> None:
    if not keyword or not normalize(keyword):
        raise CommandError("err.keyword_empty")
    if len(keyword) > KEYWORD_MAX:
        raise CommandError("err.keyword_long", length=len(keyword), limit=KEYWORD_MAX)


def alert_add(name: str, words: Sequence[str]) -> Command:
    """``keyword words [-exclude term ...]``: one keyword, at most MAX_EXCLUDES exclusions."""
    keyword_words: list[str] = []
    excludes: list[str] = []
    in_excludes = False
    saw_flag = False
    for word in words:
        if word.lower() in EXCLUDE:
            in_excludes = saw_flag = True
            continue
        (excludes if in_excludes else keyword_words).append(word)
    keyword = " ".join(" ".join(keyword_words).split())
    check_keyword(keyword)
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
    return Command(name, (keyword,), tuple(e for e in excludes if normalize(e)))


def alert_del(name: str, words: Sequence[str]) -> Command:
    keyword = " ".join(words).strip()
    if not keyword or not normalize(keyword):
        raise CommandError("err.alert_usage")  # "which one?": the usage shows the forms
    check_keyword(keyword)
    return Command(name, (keyword,))


def latest(name: str, words: Sequence[str]) -> Command:
    if not words:
        return Command(name, (str(LATEST_DEFAULT),))
    raw = unicodedata.normalize("NFKC", words[0])
    if len(words) > 1 or not raw.isdigit() or not 1 <= int(raw) <= LATEST_MAX:
        raise CommandError("err.bad_latest", value=shorten(" ".join(words)), limit=LATEST_MAX)
    return Command(name, (str(int(raw)),))


def search(name: str, words: Sequence[str]) -> Command:
    """/search 互联网医院 [words...]: the words are checked by the store's own rule (length,
    two characters at least each) so the chat and the web refuse the same texts."""
    text = " ".join(words).strip()
    if not text:
        raise CommandError("search.usage")
    try:
        search_terms(text)
    except SearchTextError as exc:
        key = "web.err.q_long" if exc.reason == "too_long" else "web.err.term_short"
        raise CommandError(key, **{k: shorten(str(v)) if k == "term" else v for k, v in exc.params.items()}) from None
    return Command(name, (text,))


def mode(name: str, words: Sequence[str]) -> Command:
    if not words:
        return Command(name)
    chosen = MODES.get(words[0].lower())
    if chosen is None or len(words) > 1:
        raise CommandError("err.bad_mode", value=shorten(" ".join(words)))
    return Command(name, (chosen,))


def digest(name: str, words: Sequence[str]) -> Command:
    """on | off | now | HH:MM."""
    if not words:
        return Command(name)
    if len(words) == 1:
        word = words[0].lower()
        for value, spellings in (("on", ON), ("off", OFF), ("now", NOW)):
            if word in spellings:
                return Command(name, (value,))
        if any(ch.isdigit() for ch in word):
            hhmm = parse_time(word)
            if hhmm is None:
                raise CommandError("err.bad_time", value=shorten(words[0]))
            return Command(name, (hhmm,))
    raise CommandError("err.bad_digest")


def quiet(name: str, words: Sequence[str]) -> Command:
    """off | HH:MM-HH:MM (spaces, full-width digits and 至/到 allowed)."""
    if not words:
        return Command(name)
    joined = unicodedata.normalize("NFKC", "".join(words)).lower()
    if joined in OFF:
        return Command(name, ("off",))
    parts = re.split(r"[-~–—至到]", joined)
    if len(parts) != 2:
        raise CommandError("err.bad_quiet")
    start, end = parse_time(parts[0]), parse_time(parts[1])
    if start is None or end is None:
        bad = parts[0] if start is None else parts[1]
        raise CommandError("err.bad_time", value=shorten(bad))
    if start == end:
        raise CommandError("err.quiet_same")
    return Command(name, (start, end))


def lang(name: str, words: Sequence[str]) -> Command:
    if not words:
        return Command(name)
    chosen = LANGS.get(" ".join(words).lower())
    if chosen is None:
        raise CommandError("err.bad_lang", value=shorten(" ".join(words)))
    return Command(name, (chosen,))


def tz(name: str, words: Sequence[str]) -> Command:
    """One word: the zone is looked up when the command runs (``names.TimeZones``)."""
    if not words:
        return Command(name)
    if len(words) > 1:
        raise CommandError("err.bad_tz", value=shorten(" ".join(words)))
    return Command(name, (words[0],))
