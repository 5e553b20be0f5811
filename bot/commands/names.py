"""Words a person types -> names the bot knows: the plan's fields and IANA time zones."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from bot.commands.args import shorten
from bot.commands.command import CommandError
from bot.core.i18n import join
from config.model import Topic
from monitors.tagger import normalize

ALL = frozenset({"all", "全部", "所有", "全选"})
_SEPARATORS = re.compile(r"[,，、;；]+")
_NAME_WORDS_MAX = 6  # the longest topic name has 5 words


class TopicCatalog:
    """The configured topics, found by id, id with spaces, Chinese or English name."""

    def __init__(self, topics: Sequence[Topic]) -> None:
        self.by_id = {tp.id: tp for tp in topics}
        self.fields = [tp for tp in topics if tp.kind == "field"]
        self.field_ids = [tp.id for tp in self.fields]
        self._ids: dict[str, str] = {}
        for tp in topics:
            for name in (tp.id, tp.id.replace("_", " "), tp.name_zh, tp.name_en):
                key = normalize(name)
                if key:
                    self._ids.setdefault(key, tp.id)

    def resolve(self, words: Sequence[str]) -> list[str]:
        """Topic ids for the words given (ids, zh or en names; commas allowed; ``all``).
        A word that names nothing is a CommandError listing the valid ids."""
        parts = [w for word in words for w in _SEPARATORS.split(word) if w.strip()]
        if mentions_all(parts):
            return list(self.field_ids)
        whole = normalize(" ".join(parts))
        if whole in self._ids:
            return [self._ids[whole]]
        found: list[str] = []
        i = 0
        while i < len(parts):
            for j in range(min(len(parts), i + _NAME_WORDS_MAX), i, -1):  # longest name first
                key = normalize(" ".join(parts[i:j]))
                if key in self._ids:
                    found.append(self._ids[key])
                    i = j
                    break
            else:
                raise CommandError("err.unknown_topic", value=shorten(parts[i]), ids=", ".join(self.field_ids))
        return list(dict.fromkeys(found))

    def name(self, topic_id: str, lang: str) -> str:
        topic = self.by_id.get(topic_id)
        return topic.name(lang) if topic is not None else topic_id

    def names(self, ids: Iterable[str], lang: str) -> str:
        """The topics' names in ``lang``, joined with the language's separator."""
        return join([self.name(i, lang) for i in ids], lang)


def mentions_all(words: Iterable[str]) -> bool:
    return any(w.lower() in ALL for w in words)


class TimeZones:
    """IANA zone names, matched exactly or ignoring case ("europe/berlin")."""

    def __init__(self) -> None:
        self._by_lower: dict[str, str] | None = None  # built on the first case-insensitive miss

    def find(self, value: str) -> str | None:
        value = value.strip()
        if not value or len(value) > 64 or ".." in value or value.startswith("/"):
            return None
        try:
            ZoneInfo(value)
            return value
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
        if self._by_lower is None:
            self._by_lower = {z.lower(): z for z in available_timezones()}
        return self._by_lower.get(value.lower())
