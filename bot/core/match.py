"""What matches a chat: the one rule every path uses (instant alerts, /latest, digests,
WeCom robots).

An item is for a chat when it is about one of the chat's fields (``item.topics``) or when
one of the chat's keyword alerts occurs in its text and none of that alert's exclusions do.
The text is the title, the body and the list summary (when the body does not already hold
it), each normalised apart and joined by a newline, so a keyword never spans two of them.

``RuleIndex.build(chats)`` puts every active chat's alert keywords *and* their exclusion
terms into ONE ``monitors.tagger.TermIndex`` (payload ``(KEYWORD, rule_id)`` or
``(EXCLUDE, rule_id)``) and maps each topic to the set of chats that follow it: ``match``
scans an item once, whatever the number of chats, then joins the hits with the topic sets;
``keyword_hits`` answers a batch of items for every chat at once (digests). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bot.core.model import Chat, Match
from monitors.model import Item
from monitors.tagger import TermIndex, normalize

KEYWORD = "k"
EXCLUDE = "x"


@dataclass(frozen=True)
class _RuleRef:
    chat_id: int
    keyword: str
    has_excludes: bool


def item_text(item: Item) -> str:
    """The normalised text keyword alerts are matched against (see the module docstring)."""
    parts = [normalize(item.title or ""), normalize(item.body or "")]
    if item.summary and item.summary not in (item.body or ""):
        parts.append(normalize(item.summary))
    return "\n".join(parts)


class RuleIndex:
    """Immutable once built; safe to share between tasks."""

    def __init__(
        self,
        terms: TermIndex,
        rules: dict[int, _RuleRef],
        topic_chats: dict[str, frozenset[int]],
        chats: dict[int, Chat],
        signature: Any = None,
    ) -> None:
        self._terms = terms
        self._rules = rules
        self._topic_chats = topic_chats
        self.chats = chats
        self.signature = signature

    @classmethod
    def build(cls, chats: Iterable[Chat], signature: Any = None) -> "RuleIndex":
        terms: TermIndex = TermIndex()
        rules: dict[int, _RuleRef] = {}
        topic_chats: dict[str, set[int]] = {}
        by_id: dict[int, Chat] = {}
        for chat in chats:
            if not chat.active:
                continue
            by_id[chat.id] = chat
            for topic in chat.topics:
                topic_chats.setdefault(topic, set()).add(chat.id)
            for rule in chat.rules:
                try:
                    terms.add(rule.keyword, (KEYWORD, rule.id))
                except ValueError:  # empty once normalised (only quote marks): cannot match
                    continue
                excludes = 0
                for term in rule.excludes:
                    try:
                        terms.add(term, (EXCLUDE, rule.id))
                        excludes += 1
                    except ValueError:
                        continue
                rules[rule.id] = _RuleRef(chat.id, rule.keyword, excludes > 0)
        terms.build()
        return cls(terms, rules, {k: frozenset(v) for k, v in topic_chats.items()}, by_id, signature)

    @property
    def rule_count(self) -> int:
        return len(self._rules)

    def keywords(self, item: Item) -> dict[int, list[str]]:
        """chat id -> that chat's keyword alerts found in the item (exclusions applied)."""
        keywords: dict[int, list[str]] = {}
        if not self._rules:
            return keywords
        hits = self._terms.scan_normalized(item_text(item))
        excluded = {rule_id for (kind, rule_id) in hits if kind == EXCLUDE}
        for (kind, rule_id), _terms in hits.items():
            if kind != KEYWORD or rule_id in excluded:
                continue
            ref = self._rules.get(rule_id)
            if ref is not None:
                keywords.setdefault(ref.chat_id, []).append(ref.keyword)
        return keywords

    def keyword_hits(self, items: Iterable[Item]) -> dict[int, dict[int, tuple[str, ...]]]:
        """chat id -> {item id -> the chat's keywords found in it}: digests, for many chats."""
        out: dict[int, dict[int, tuple[str, ...]]] = {}
        for item in items:
            for chat_id, words in self.keywords(item).items():
                out.setdefault(chat_id, {})[item.id] = tuple(sorted(words))
        return out

    def match(self, item: Item) -> list[Match]:
        """Every chat the item is for, by chat id: one scan of the text, then set lookups."""
        keywords = self.keywords(item)
        topics: dict[int, list[str]] = {}
        for topic in item.topics:
            for chat_id in self._topic_chats.get(topic, ()):
                topics.setdefault(chat_id, []).append(topic)
        out = []
        for chat_id in sorted(set(keywords) | set(topics)):
            out.append(Match(chat_id, tuple(topics.get(chat_id, ())), tuple(sorted(keywords.get(chat_id, ())))))
        return out

    def match_chat(self, item: Item, chat_id: int) -> Match | None:
        return next((m for m in self.match(item) if m.chat_id == chat_id), None)

    def latest(self, items: Iterable[Item], chat_id: int, limit: int) -> list[tuple[Item, Match]]:
        """The first ``limit`` of ``items`` (newest first) that are for the chat (/latest)."""
        out: list[tuple[Item, Match]] = []
        for item in items:
            m = self.match_chat(item, chat_id)
            if m is not None:
                out.append((item, m))
                if len(out) >= limit:
                    break
        return out


