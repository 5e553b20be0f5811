"""Literal term matching: the Action Plan's topics and, next to them, anyone's keywords.

Everything matches on *normalised* text (``normalize``): NFKC (full-width -> half-width),
quote marks removed (so “无接触”配送 == "无接触"配送 == 无接触配送), casefolded, whitespace
collapsed (and dropped between two CJK characters, where Chinese never has any), hyphens
between Latin letters/digits read as spaces (e-learning == e learning). Terms go through the
same function, so no offset mapping is needed: a match reports the term as configured,
never a span of the text.

``TermIndex`` is one Aho-Corasick automaton (pyahocorasick) over (term, payload) pairs,
built once and immutable afterwards; a scan is one pass over the text whatever the number
of terms (100,000+ alert keywords are fine). Rules:

- a term with any CJK character matches as a substring;
- a Latin term matches case-insensitively on word boundaries (the characters around the
  match are not ASCII letters or digits), with its plural forms (+s, +es, y -> ies); a
  multi-word term matches across any run of whitespace.

``Tagger`` puts a list of ``Topic``s in such an index (with anyone's keywords beside them)
and answers ``TopicMatch``es: one pass finds where each topic's terms occur, then
``monitors.relevance`` decides which topics the item is about and which it only mentions.
Keyword payloads stay literal.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import ahocorasick

from config.model import RelevanceRules, Topic
from monitors.model import TopicMatch
from monitors.relevance import ContextRule, assess, layout

P = TypeVar("P", bound=Hashable)

# Quote marks of every script, removed outright (NFKC has already turned ＂ and ＇ into " and ').
_QUOTES = "\"'`“”„‟‘’‚‛「」『』〝〞〟«»‹›〈〉"
_QUOTE_MARKS = re.compile(f"[{re.escape(_QUOTES)}]")
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff"
_CJK_CHAR = re.compile(f"[{_CJK}]")
_SPACE_BETWEEN_CJK = re.compile(f"(?<=[{_CJK}\u3000-\u303f]) (?=[{_CJK}\u3000-\u303f])")
_HYPHEN_IN_WORD = re.compile(r"(?<=[a-z0-9])[-\u2010\u2011\u2012\u2013](?=[a-z0-9])")
_WHITESPACE = re.compile(r"\s+")
_FULLWIDTH_PUNCTUATION = tuple((c, unicodedata.normalize("NFKC", c)) for c in "，：；！？（）％＂＇\u3000")
_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def normalize(text: str) -> str:
    """The form both texts and terms are matched in (see the module docstring)."""
    # Full NFKC costs ~0.15 us/char; Chinese text is usually NFKC-clean but for its
    # full-width punctuation, so map that with str.replace (the same result) and run NFKC
    # only when the quick check still finds something.
    for wide, narrow in _FULLWIDTH_PUNCTUATION:
        if wide in text:
            text = text.replace(wide, narrow)
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    text = _QUOTE_MARKS.sub("", text).casefold()
    text = _HYPHEN_IN_WORD.sub(" ", text)
    text = _WHITESPACE.sub(" ", text).strip()
    return _SPACE_BETWEEN_CJK.sub("", text)  # after the collapse: single spaces only


def is_cjk_term(normalized_term: str) -> bool:
    return _CJK_CHAR.search(normalized_term) is not None


def _latin_forms(key: str) -> Iterator[str]:
    """The key and, when it ends in a letter, its plural forms."""
    yield key
    if key[-1].isascii() and key[-1].isalpha():
        yield key + "s"
        yield key + "es"
        if key.endswith("y") and len(key) > 1:
            yield key[:-1] + "ies"


class TermIndex(Generic[P]):
    """A literal multi-pattern index over (term, payload) pairs.

        index = TermIndex()
        index.add("无人工厂", "unmanned_factory")
        index.add("telemedicine", 42)          # any hashable payload, e.g. an alert rule id
        index.build()
        index.scan("… 远程医疗 and telemedicine …")   # {42: {"telemedicine"}}

    ``add`` all pairs, then ``build`` once; the built index is immutable and safe to share
    between tasks. The same term may carry several payloads and a payload several terms.
    """

    def __init__(self) -> None:
        self._pending: dict[str, list[tuple[Hashable, str]]] = {}
        self._automaton: ahocorasick.Automaton | None = None
        self._pairs = 0

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, P]]) -> TermIndex[P]:
        index: TermIndex[P] = cls()
        for term, payload in pairs:
            index.add(term, payload)
        return index.build()

    def add(self, term: str, payload: P) -> None:
        """Register ``term`` for ``payload``. Raises ValueError for a term that is empty once
        normalised (e.g. only quote marks), RuntimeError after ``build``."""
        if self._automaton is not None:
            raise RuntimeError("TermIndex is already built; create a new one to add terms")
        key = normalize(term)
        if not key:
            raise ValueError(f"term {term!r} is empty once normalised")
        self._pending.setdefault(key, []).append((payload, term.strip()))
        self._pairs += 1

    def build(self) -> TermIndex[P]:
        """Compile the automaton (once). Returns self."""
        if self._automaton is not None:
            return self
        forms: dict[str, list[tuple[Hashable, str]]] = {}
        for key, hits in self._pending.items():
            if is_cjk_term(key):
                forms.setdefault(key, []).extend(hits)
            else:
                for form in _latin_forms(key):
                    forms.setdefault(form, []).extend(hits)
        automaton = ahocorasick.Automaton()
        for form, hits in forms.items():
            latin = not is_cjk_term(form)
            # Each key stands for: its length, whether its start / end needs a word
            # boundary, and the (payload, configured term) pairs it reports.
            automaton.add_word(
                form,
                (
                    len(form),
                    latin and form[0] in _WORD_CHARS,
                    latin and form[-1] in _WORD_CHARS,
                    tuple(dict.fromkeys(hits)),
                ),
            )
        if forms:
            automaton.make_automaton()
        self._automaton = automaton
        self._pending = {}
        return self

    @property
    def built(self) -> bool:
        return self._automaton is not None

    def __len__(self) -> int:
        """How many (term, payload) pairs were added."""
        return self._pairs

    def scan(self, text: str) -> dict[P, set[str]]:
        """Payload -> the configured terms found in ``text`` (normalised here, once)."""
        return self.scan_normalized(normalize(text))

    def scan_normalized(self, text: str) -> dict[P, set[str]]:
        """Like ``scan`` for a text that already went through ``normalize``."""
        return self.split_normalized(text, ())[1]

    def split_normalized(
        self, text: str, located: type | tuple[type, ...]
    ) -> tuple[dict[P, list[tuple[int, int, str]]], dict[P, set[str]]]:
        """One pass over a normalised ``text``: for payloads that are instances of
        ``located``, every (start, end, configured term) found (``text[start:end]`` is the
        occurrence, in order of their ends); for the others, the set of terms found."""
        automaton = self._ready()
        where: dict[P, list[tuple[int, int, str]]] = {}
        found: dict[P, set[str]] = {}
        if not text or len(automaton) == 0:
            return where, found
        size = len(text)
        word = _WORD_CHARS
        for end, (length, check_start, check_end, hits) in automaton.iter(text):
            if check_start and end >= length and text[end - length] in word:
                continue
            if check_end and end + 1 < size and text[end + 1] in word:
                continue
            for payload, term in hits:
                if isinstance(payload, located):
                    where.setdefault(payload, []).append((end - length + 1, end + 1, term))
                    continue
                terms = found.get(payload)
                if terms is None:
                    found[payload] = {term}
                else:
                    terms.add(term)
        return where, found

    def _ready(self) -> ahocorasick.Automaton:
        if self._automaton is None:
            raise RuntimeError("TermIndex.build() must be called before scanning")
        return self._automaton


@dataclass(frozen=True, slots=True)
class TopicRef:
    """The payload a topic's terms carry in a shared index (never equal to a caller's own)."""

    topic_id: str


@dataclass(frozen=True, slots=True)
class ListCue:
    """The payload of the words that announce a list of fields (relevance.list_cues)."""


def topic_terms(topics: Iterable[Topic]) -> Iterator[tuple[str, TopicRef]]:
    """Every (term, TopicRef) pair of ``topics``, Chinese and English."""
    for topic in topics:
        ref = TopicRef(topic.id)
        for term in (*topic.zh, *topic.en):
            yield term, ref


def plan_order(topics: Sequence[Topic]) -> tuple[str, ...]:
    """Topic ids in plan order: the plan-level group(s) first, then the fields as configured."""
    return tuple(t.id for t in topics if t.kind == "plan") + tuple(t.id for t in topics if t.kind != "plan")


class Tagger:
    """Tags an item (title, body, optional lead) with the topics it is about and the topics
    it only mentions (``monitors.relevance``), with the terms and places that show it.

    ``extra`` adds other (term, payload) pairs (e.g. every chat's alert keywords with the
    alert rule id as payload) to the same automaton; ``scan`` then answers both in one pass.
    Keyword payloads stay literal: any occurrence anywhere counts.
    """

    def __init__(
        self,
        topics: Sequence[Topic],
        extra: Iterable[tuple[str, Hashable]] = (),
        rules: RelevanceRules | None = None,
    ) -> None:
        self.topics = tuple(topics)
        self.order = plan_order(self.topics)
        self.rules = rules if rules is not None else RelevanceRules()
        index: TermIndex[Hashable] = TermIndex()
        for term, ref in topic_terms(self.topics):
            index.add(term, ref)
        for cue in self.rules.list_cues:
            index.add(cue, ListCue())
        for term, payload in extra:
            index.add(term, payload)
        self.index = index.build()
        self.version = hashlib.sha1(repr((self.topics, self.rules)).encode("utf-8")).hexdigest()[:16]
        self._weak = frozenset((t.id, term) for t in self.topics for term in t.weak)
        contexts: dict[tuple[str, str], list[str]] = {}
        for topic in self.topics:
            for exclusion in topic.exclusions:
                words = [normalize(w) for w in exclusion.context]
                contexts.setdefault((topic.id, exclusion.term), []).extend(w for w in words if w)
        self._exclusions = {key: ContextRule(words) for key, words in contexts.items() if words}

    def tag(self, title: str, body: str, lead: str | None = None) -> TopicMatch:
        return self.scan(title, body, lead)[0]

    def scan(
        self, title: str, body: str, lead: str | None = None
    ) -> tuple[TopicMatch, dict[Hashable, set[str]]]:
        """(the topic match, the extra payloads matched -> their terms)."""
        # Title, lead and body paragraphs are normalised apart and joined by newlines, which
        # no normalised term contains: a term never spans two of them.
        doc = layout(title, body, lead, self.rules.lead_chars, normalize)
        located, extra = self.index.split_normalized(doc.text, (TopicRef, ListCue))
        by_topic: dict[str, list[tuple[int, int, str]]] = {}
        cues: list[int] = []
        for payload, hits in located.items():
            if isinstance(payload, TopicRef):
                by_topic[payload.topic_id] = hits
            else:
                cues = [start for start, _, _ in hits]
        match = assess(doc, by_topic, self.topics, self.rules, self._exclusions, self._weak, cues)
        return match, extra
