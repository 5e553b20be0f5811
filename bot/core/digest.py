"""Daily digests (pure): which items a chat's digest holds, and how it reads.

Planning. A chat's digest covers the items first seen after its last digest (and up to the
digest's cut-off) that match its fields or its keyword alerts; baseline items never count.
Items are grouped by plan field in plan order (an item under several of the chat's fields
appears once, under the first); items that matched only a keyword form their own group, last.
Inside a group the newest come first.

``plan_digests`` plans many chats at once: what matches a chat is ``bot.core.match.RuleIndex``
(the same rule as instant alerts and /latest): every item is scanned once by its automaton
over every chat's alert keywords (and their exclusions), fields are answered from per-topic
item sets, so 10,000 chats x 2,000 items is set algebra, not a loop over items per chat.

Formatting. ``DigestFormatter.blocks(digest, ...)`` returns ``bot.core.text`` blocks: a header
with the counts, then one block per item (title, source and date, a one-line summary, the
link; the group heading rides on the group's first item so it never ends a message alone).
``render_messages`` turns blocks into messages under a channel's limit, split only at item
boundaries (``text.split_blocks`` handles a single over-long item). An item's block is built
once per language and time zone and shared by every chat that gets it.

Timing. ``digest_slot(now, "08:00", tz)`` is the latest scheduled digest instant at or
before ``now`` and its local date; the slot's date is the delivery's ref, so a restart just
after 08:00 neither loses nor repeats the day's digest.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from bot.core.i18n import join, t
from bot.core.match import RuleIndex
from bot.core.model import Chat
from bot.core.quiet import parse_hhmm, zone
from bot.core.text import BLOCK_SEP, PARAGRAPH_SEP, Block, Bold, Link, Mark, Paragraph, Plain, split_blocks
from config.model import Topic
from monitors.model import Item
from monitors.wording import zone_label

Render = Callable[[Sequence[Paragraph]], str]
Measure = Callable[[str], int]
SUMMARY_CHARS = 100  # a "one-line" summary: at most this many characters
KEYWORD_GROUP = None  # the section id of keyword-only matches
MENTIONED_GROUP = "~mentioned"  # the section id of items that only mention a chat's field
MENTIONED_MAX = 5  # the "also mentioned" group stays short


# ------------------------------------------------------------------------------ plan


@dataclass(frozen=True)
class DigestSection:
    topic_id: str | None  # None: items that matched only a keyword alert
    item_ids: tuple[int, ...]


@dataclass(frozen=True)
class Digest:
    """One chat's digest: what it covers and which items, grouped."""

    chat_id: int
    since: datetime | None
    until: datetime
    sections: tuple[DigestSection, ...] = ()
    keywords: Mapping[int, tuple[str, ...]] = field(default_factory=dict)  # item id -> keywords hit

    @property
    def total(self) -> int:
        return sum(len(s.item_ids) for s in self.sections)

    @property
    def empty(self) -> bool:
        return not self.sections

    def item_ids(self) -> list[int]:
        return [i for s in self.sections for i in s.item_ids]

    def matched_ids(self) -> list[int]:
        """The items that are for the chat (its fields, its keywords): not the short
        "also mentioned" group."""
        return [i for s in self.sections if s.topic_id != MENTIONED_GROUP for i in s.item_ids]

    def to_payload(self) -> dict[str, Any]:
        """JSON-able form (for an outbox row)."""
        return {
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat(),
            "sections": [[s.topic_id, list(s.item_ids)] for s in self.sections],
            "keywords": {str(k): list(v) for k, v in self.keywords.items()},
        }

    @classmethod
    def from_payload(cls, chat_id: int, data: Mapping[str, Any]) -> "Digest":
        return cls(
            chat_id=chat_id,
            since=datetime.fromisoformat(data["since"]) if data.get("since") else None,
            until=datetime.fromisoformat(data["until"]),
            sections=tuple(DigestSection(s[0], tuple(int(i) for i in s[1])) for s in data.get("sections", [])),
            keywords={int(k): tuple(v) for k, v in (data.get("keywords") or {}).items()},
        )


def _seen_at(item: Item) -> datetime:
    return item.first_seen_at or item.published or datetime.min.replace(tzinfo=timezone.utc)


class DigestPlanner:
    """Plans digests over one batch of items (e.g. everything first seen in the last days)."""

    def __init__(self, items: Iterable[Item], topic_order: Sequence[str]) -> None:
        kept = [i for i in items if not i.baseline and i.id is not None]
        kept.sort(key=lambda i: (_seen_at(i), i.id))
        self.items = kept
        self.by_id = {i.id: i for i in kept}
        self._seen = [_seen_at(i) for i in kept]
        self.order = tuple(topic_order)
        newest = sorted(kept, key=lambda i: (i.published or _seen_at(i), i.id), reverse=True)
        self._rank = {item.id: n for n, item in enumerate(newest)}
        self._by_topic: dict[str, frozenset[int]] = {}
        self._mentioned: dict[str, frozenset[int]] = {}
        for topic_id in self.order:
            self._by_topic[topic_id] = frozenset(i.id for i in kept if topic_id in i.topics)
            self._mentioned[topic_id] = frozenset(i.id for i in kept if topic_id in i.mentions)
        self._window_cache: dict[tuple[datetime | None, datetime], frozenset[int]] = {}

    def window(self, since: datetime | None, until: datetime) -> frozenset[int]:
        """Ids of items first seen in (since, until]."""
        key = (since, until)
        cached = self._window_cache.get(key)
        if cached is None:
            lo = 0 if since is None else bisect_right(self._seen, since)
            hi = bisect_right(self._seen, until)
            cached = frozenset(i.id for i in self.items[lo:hi])
            if len(self._window_cache) > 256:
                self._window_cache.clear()
            self._window_cache[key] = cached
        return cached

    def plan(
        self,
        chat: Chat,
        until: datetime,
        since: datetime | None = None,
        hits: Mapping[int, tuple[str, ...]] | None = None,
    ) -> Digest:
        """The chat's digest for items first seen in (since, until]; ``since`` defaults to
        the chat's last digest. ``hits``: item id -> keywords (from ``keyword_hits``)."""
        if since is None:
            since = chat.last_digest_at
        eligible = self.window(since, until)
        sections: list[DigestSection] = []
        placed: set[int] = set()
        rank = self._rank.__getitem__
        if eligible:
            for topic_id in self.order:
                if topic_id not in chat.topics:
                    continue
                group = (self._by_topic[topic_id] & eligible) - placed
                if group:
                    placed |= group
                    sections.append(DigestSection(topic_id, tuple(sorted(group, key=rank))))
        keywords: dict[int, tuple[str, ...]] = {}
        if hits and eligible:
            matched = eligible.intersection(hits)
            keywords = {i: hits[i] for i in matched}
            only = matched - placed
            if only:
                sections.append(DigestSection(KEYWORD_GROUP, tuple(sorted(only, key=rank))))
                placed |= only
        if eligible:
            # last, short: items that only mention one of the chat's fields (never alerted)
            mentioned: set[int] = set()
            for topic_id in chat.topics:
                mentioned |= self._mentioned.get(topic_id, frozenset()) & eligible
            mentioned -= placed
            if mentioned:
                sections.append(DigestSection(MENTIONED_GROUP, tuple(sorted(mentioned, key=rank)[:MENTIONED_MAX])))
        return Digest(chat_id=chat.id, since=since, until=until, sections=tuple(sections), keywords=keywords)


def plan_digests(
    chats: Sequence[Chat],
    items: Iterable[Item],
    topic_order: Sequence[str],
    until: datetime,
    since: Callable[[Chat], datetime | None] | None = None,
) -> dict[int, Digest]:
    """Every chat's digest over ``items`` (one keyword scan per item for all chats)."""
    planner = DigestPlanner(items, topic_order)
    window = planner.window(None, until)
    hits = RuleIndex.build(chats).keyword_hits(planner.by_id[i] for i in window) if window else {}
    return {
        chat.id: planner.plan(chat, until, since(chat) if since else None, hits.get(chat.id))
        for chat in chats
    }


# ------------------------------------------------------------------------------ when


def digest_slot(now: datetime, digest_time: str, tz_name: str | None) -> tuple[datetime, date]:
    """The latest digest instant at or before ``now`` (UTC) and its local date (the ref)."""
    tz = zone(tz_name)
    try:
        at = parse_hhmm(digest_time)
    except ValueError:
        at = time(8, 0)
    local = now.astimezone(tz)
    day = local.date()
    slot = datetime.combine(day, at).replace(tzinfo=tz).astimezone(timezone.utc)
    if slot > now:
        day = day - timedelta(days=1)
        slot = datetime.combine(day, at).replace(tzinfo=tz).astimezone(timezone.utc)
    return slot, day


def digest_due(now: datetime, digest_time: str, tz_name: str | None, last_digest_at: datetime | None) -> tuple[datetime, date] | None:
    """(slot, local date) if the chat's digest for the latest slot has not gone out yet.

    A chat that never had a digest is not due: its first digest is the next slot (the caller
    starts its window now rather than sending everything at once).
    """
    if last_digest_at is None:
        return None
    slot, day = digest_slot(now, digest_time, tz_name)
    return (slot, day) if last_digest_at < slot else None


def digest_ref(day: date) -> str:
    return day.isoformat()


def digest_now_ref(now: datetime) -> str:
    return f"now-{now.astimezone(timezone.utc):%Y%m%dT%H%M%S}"


# ------------------------------------------------------------------------------ format

_SENTENCE_END = re.compile(r"[。！？!?；;]|\.(?=\s)")


def one_line(summary: str, limit: int = SUMMARY_CHARS) -> str:
    """The summary as one line of at most ``limit`` characters, cut at a sentence end if
    one is near enough, else with an ellipsis."""
    text = " ".join((summary or "").split())
    if len(text) <= limit:
        return text
    head = text[:limit]
    ends = [m.end() for m in _SENTENCE_END.finditer(head)]
    if ends and ends[-1] >= limit // 2:
        return head[: ends[-1]].rstrip()
    cut = head[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"


def topic_names(topics: Sequence[Topic], lang: str) -> dict[str, str]:
    return {tp.id: tp.name(lang) for tp in topics}


class DigestFormatter:
    """Builds digest blocks; one item's block is built once per (language, zone) and shared."""

    def __init__(self, items: Mapping[int, Item], source_names: Mapping[str, str], topics: Sequence[Topic]) -> None:
        self.items = items
        self.source_names = source_names
        self._names = {lang: topic_names(topics, lang) for lang in ("zh", "en")}
        self._cache: dict[tuple[int, str, str], list[Paragraph]] = {}
        self._rendered_cache: dict[tuple, dict[int, tuple[str, int]]] = {}
        self._extra_cache: dict[tuple, tuple[str, int]] = {}

    def item_paragraphs(self, item_id: int, lang: str, tz_name: str | None) -> list[Paragraph]:
        key = (item_id, lang, tz_name or "")
        cached = self._cache.get(key)
        if cached is None:
            item = self.items[item_id]
            when = item.published or item.first_seen_at
            day = when.astimezone(zone(tz_name)).strftime("%Y-%m-%d") if when else ""
            source = self.source_names.get(item.source_id, item.source_id)
            cached = [(Bold(item.title.strip() or item.url),), (Plain(f"{source} · {day}" if day else source),)]
            summary = one_line(item.summary)
            if summary:
                cached.append((Plain(summary),))
            cached.append((Link(t("alert.open", lang), item.url),))
            self._cache[key] = cached
        return cached

    def section_title(self, topic_id: str | None, count: int, lang: str) -> str:
        if topic_id is None:
            name = t("digest.keywords_group", lang)
        elif topic_id == MENTIONED_GROUP:
            name = t("digest.mentioned_group", lang)
        else:
            name = self._names[lang if lang in self._names else "en"].get(topic_id, topic_id)
        return t("digest.group_count", lang, name=name, count=count)

    def header(self, digest: Digest, day: date | str, lang: str) -> Block:
        counts = join([self.section_title(s.topic_id, len(s.item_ids), lang) for s in digest.sections], lang)
        title = t("digest.header", lang, date=str(day), count=digest.total) if digest.total != 1 else t("digest.header_one", lang, date=str(day))
        block: Block = [(Bold(title),)]
        if counts:
            block.append((Plain(counts),))
        return block

    def _heading(self, topic_id: str | None, count: int, lang: str) -> Paragraph:
        return (Bold("▍" + self.section_title(topic_id, count, lang)),)

    @staticmethod
    def _marks(words: Sequence[str], lang: str) -> Paragraph:
        marks: list[Plain | Mark] = [Plain("🔑 ")]
        for k, word in enumerate(words):
            if k:
                marks.append(Plain(t("list.sep", lang)))
            marks.append(Mark(word))
        return tuple(marks)

    def _item_block(self, digest: Digest, section: DigestSection, n: int, lang: str, tz_name: str | None) -> Block:
        item_id = section.item_ids[n]
        paragraphs = self.item_paragraphs(item_id, lang, tz_name)
        words = digest.keywords.get(item_id)
        if not words and n:
            return paragraphs  # shared, unchanged: the common case
        block: Block = [self._heading(section.topic_id, len(section.item_ids), lang), *paragraphs] if n == 0 else list(paragraphs)
        if words:
            block.append(self._marks(words, lang))
        return block

    def blocks(self, digest: Digest, day: date | str, lang: str, tz_name: str | None) -> list[Block]:
        """The digest as blocks: header, then one block per item (heading on a group's first)."""
        if digest.empty:
            return []
        out: list[Block] = [self.header(digest, day, lang)]
        for section in digest.sections:
            for n in range(len(section.item_ids)):
                out.append(self._item_block(digest, section, n, lang, tz_name))
        return out

    def _rendered_items(self, lang: str, tz_name: str | None, render: Render, measure: Measure) -> dict[int, tuple[str, int]]:
        """item id -> (rendered text, size) for one renderer, language and zone (filled lazily)."""
        key = (render, measure, lang, tz_name or "")
        table = self._rendered_cache.get(key)
        if table is None:
            table = self._rendered_cache[key] = {}
        return table

    def _rendered_extra(self, key: tuple, paragraph: Callable[[], Paragraph], render: Render, measure: Measure) -> tuple[str, int]:
        """A group heading or a keyword line, rendered once per renderer and content."""
        full = (render, measure, *key)
        hit = self._extra_cache.get(full)
        if hit is None:
            text = render([paragraph()])
            hit = self._extra_cache[full] = (text, measure(text))
        return hit

    def messages(
        self,
        digest: Digest,
        day: date | str,
        lang: str,
        tz_name: str | None,
        render: Render,
        limit: int,
        measure: Measure = len,
    ) -> list[str]:
        """The digest as messages of at most ``limit``: the same as
        ``text.split_blocks(self.blocks(...), render, limit, measure)``, but an item is rendered
        once for every chat that gets it and sizes are added, not re-measured.

        Relies on the renderers' contract: a block renders as its paragraphs rendered one by
        one and joined by ``PARAGRAPH_SEP``; ``measure`` is additive (len, UTF-8 length).
        """
        if digest.empty:
            return []
        nl = measure(PARAGRAPH_SEP)
        pieces: list[tuple[str, int, Block | None]] = []
        header = render(self.header(digest, day, lang))
        pieces.append((header, measure(header), None))
        rendered = self._rendered_items(lang, tz_name, render, measure)
        keywords = digest.keywords
        for section in digest.sections:
            for n, item_id in enumerate(section.item_ids):
                hit = rendered.get(item_id)
                if hit is None:
                    text = render(self.item_paragraphs(item_id, lang, tz_name))
                    hit = rendered[item_id] = (text, measure(text))
                text, size = hit
                words = keywords.get(item_id)
                if n == 0:
                    count = len(section.item_ids)
                    head, head_size = self._rendered_extra(
                        ("h", section.topic_id, count, lang), lambda: self._heading(section.topic_id, count, lang), render, measure
                    )
                    text, size = head + PARAGRAPH_SEP + text, head_size + nl + size
                if words:
                    marks, marks_size = self._rendered_extra(("k", words, lang), lambda: self._marks(words, lang), render, measure)
                    text, size = text + PARAGRAPH_SEP + marks, size + nl + marks_size
                pieces.append((text, size, None if size <= limit else self._item_block(digest, section, n, lang, tz_name)))
        return _pack(pieces, render, limit, measure)


def _pack(pieces: Sequence[tuple[str, int, Block | None]], render: Render, limit: int, measure: Measure) -> list[str]:
    sep = measure(BLOCK_SEP)
    messages: list[str] = []
    current: list[str] = []
    used = 0
    for text, size, block in pieces:
        if size > limit:
            if current:
                messages.append(BLOCK_SEP.join(current))
                current, used = [], 0
            fitted = split_blocks([block if block is not None else []], render, limit, measure)
            # like split_blocks: an over-long block's tail may share a message with what follows
            messages.extend(fitted[:-1])
            if fitted:
                current, used = [fitted[-1]], measure(fitted[-1])
            continue
        if current and used + sep + size > limit:
            messages.append(BLOCK_SEP.join(current))
            current, used = [], 0
        used = size if not current else used + sep + size
        current.append(text)
    if current:
        messages.append(BLOCK_SEP.join(current))
    return messages


def render_messages(blocks: Sequence[Block], render: Render, limit: int, measure: Measure = len) -> list[str]:
    """Blocks packed into messages of at most ``limit``, split only between blocks (a block
    too long on its own goes through ``text.split_blocks``)."""
    pieces = []
    for block in blocks:
        if block:
            text = render(block)
            size = measure(text)
            pieces.append((text, size, block if size > limit else None))
    return _pack(pieces, render, limit, measure)


def nothing_new_blocks(lang: str, since: datetime | None = None, until: datetime | None = None,
                       tz_name: str | None = None) -> list[Block]:
    """The "nothing new" note; with the period it looked at when that is known."""
    if since is None or until is None:
        return [[(Plain(t("digest.nothing_new", lang)),)]]
    zone_ = zone(tz_name)
    shown = {
        "since": since.astimezone(zone_).strftime("%Y-%m-%d %H:%M"),
        "until": until.astimezone(zone_).strftime("%Y-%m-%d %H:%M"),
        "tz": zone_label(zone_),  # instants: labelled as every time shown is
    }
    return [[(Plain(t("digest.nothing_new_period", lang, **shown)),)]]
