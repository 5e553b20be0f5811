"""Messages built from plain data: alerts, /latest, /sources, /stats, /health.

Pure functions returning ``bot.core.text`` blocks/paragraphs; each channel renders them (Telegram
HTML, WeCom markdown, plain text) and splits them with ``bot.core.text.split_blocks``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.core.i18n import join, t
from bot.core.text import Block, Bold, Link, Mark, Paragraph, Plain, Span
from bot.core.model import Leader, Match
from monitors.model import PLACES, Item, SourceStatus
from monitors.model import SourceState
from monitors.wording import zone_label

DEFAULT_TZ = "Asia/Shanghai"
SUMMARY_MAX = 600
LATEST_SUMMARY_MAX = 160


def _zone(tz: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(tz or DEFAULT_TZ)
    except (ValueError, KeyError, OSError):
        return ZoneInfo(DEFAULT_TZ)


def _is_date(local: datetime) -> bool:
    """A date-only value: midnight in the zone it is shown in (a page gave no time)."""
    return (local.hour, local.minute, local.second) == (0, 0, 0)


def format_time(when: datetime | None, tz: str | None = DEFAULT_TZ) -> str:
    """``YYYY-MM-DD HH:MM`` in ``tz``; a date-only value (midnight there) as ``YYYY-MM-DD``."""
    if when is None:
        return ""
    local = when.astimezone(_zone(tz))
    return local.strftime("%Y-%m-%d" if _is_date(local) else "%Y-%m-%d %H:%M")


def labelled_time(when: datetime | None, tz: str | None = DEFAULT_TZ) -> str:
    """``format_time`` with the zone's label (``monitors.wording.zone_label``), as every
    table at the terminal and the web's pages label their times: ``2026-06-14 09:00 (+08:00)``;
    a date alone (``2026-06-14``) is a day on the calendar and stays bare."""
    if when is None:
        return ""
    zone = _zone(tz)
    shown = format_time(when, tz)
    return shown if _is_date(when.astimezone(zone)) else f"{shown} ({zone_label(zone)})"


def shorten(text: str, limit: int) -> str:
    text = " ".join((text or "").split())
    if len(text) <= limit:
        return text
    cut = text[:limit]
    # end at the last sentence end in the second half of the window, else at the limit
    ends = [m.end() for m in re.finditer(r"[。！？!?；;]|\.(?=\s)", cut)]
    if ends and ends[-1] > limit // 2:
        return cut[: ends[-1]]
    return cut.rstrip() + "…"


def highlight(text: str, terms: Iterable[str], base: type = Plain) -> list[Span]:
    """``text`` as spans of ``base`` with every occurrence of a term (case-insensitive) as Mark."""
    wanted = sorted({tm.strip() for tm in terms if tm and tm.strip()}, key=len, reverse=True)
    if not text:
        return []
    if not wanted:
        return [base(text)]
    pattern = re.compile("|".join(re.escape(w) for w in wanted), re.IGNORECASE)
    spans: list[Span] = []
    pos = 0
    for m in pattern.finditer(text):
        if m.start() > pos:
            spans.append(base(text[pos : m.start()]))
        spans.append(Mark(m.group()))
        pos = m.end()
    if pos < len(text):
        spans.append(base(text[pos:]))
    return spans


def _topic_names(topics: Any) -> dict[str, Any]:
    if topics is None:
        return {}
    if isinstance(topics, Mapping):
        return dict(topics)
    return {tp.id: tp for tp in topics}


def topic_label(topic_id: str, topics: Mapping[str, Any], lang: str) -> str:
    topic = topics.get(topic_id)
    return topic.name(lang) if topic is not None else topic_id


def _first_place(places: Sequence[str]) -> int:
    return min((PLACES.index(p) for p in places if p in PLACES), default=len(PLACES))


MAX_TERMS = 3  # matched terms listed per field, besides those of the title


def shown_terms(found: Sequence[str], places: Mapping[str, Sequence[str]], title: str) -> list[str]:
    """The matched terms an alert lists for a field: every one in the title first (by its
    evidence, or found in the title text when the evidence does not say), then the others
    by where they occur, up to ``MAX_TERMS`` in all unless the title alone has more."""
    folded = title.casefold()
    in_title = [tm for tm in found if "title" in places.get(tm, ()) or tm.casefold() in folded]
    rest = sorted((tm for tm in found if tm not in in_title), key=lambda tm: _first_place(places.get(tm, ())))
    return in_title + rest[: max(0, MAX_TERMS - len(in_title))]


def _sep(spans: list[Span], lang: str) -> None:
    spans.append(Plain(t("list.sep", lang)))


def alert_blocks(
    item: Item,
    source_name: str,
    match: Match,
    lang: str,
    *,
    topics: Any = None,
    tz: str | None = DEFAULT_TZ,
    summary_max: int = SUMMARY_MAX,
) -> list[Block]:
    """One block for one item: title (bold), source and date, summary, the matched fields
    and keywords (highlighted), and the link. ``match`` has ``.topics`` and ``.keywords``."""
    names = _topic_names(topics)
    matched: Mapping[str, Sequence[str]] = item.matched or {}
    m_topics = tuple(match.topics)
    m_keywords = tuple(match.keywords)
    marks = list(m_keywords) + [term for tid in m_topics for term in matched.get(tid, ())]

    block: Block = []
    block.append(tuple(highlight(item.title or item.url, marks, Bold)))
    when = item.published
    meta = source_name
    if when is not None:
        meta = f"{source_name} · {labelled_time(when, tz)}"  # the chat's zone, named
    block.append((Plain(meta),))
    summary = shorten(item.summary or "", summary_max)
    if summary:
        block.append(tuple(highlight(summary, marks)))
    if m_topics:
        spans: list[Span] = [Plain(t("alert.fields", lang))]
        for i, tid in enumerate(m_topics):
            if i:
                _sep(spans, lang)
            label = topic_label(tid, names, lang)
            spans.append(Plain(label))
            # the words that matched and where (title / lead / body): every term of the
            # title (the reason a person sees first is never left out), then others up to
            # MAX_TERMS; a term that only repeats the field's name is shown by the name itself
            places = {e.term: e.places for e in item.evidence.get(tid, ())}
            found = [tm for tm in dict.fromkeys(matched.get(tid, ())) if tm.casefold() != label.casefold()]
            terms = shown_terms(found, places, item.title or "")
            if terms:
                opening, closing = ("（", "）") if lang == "zh" else (" (", ")")
                spans.append(Plain(opening))
                for j, term in enumerate(terms):
                    if j:
                        _sep(spans, lang)
                    spans.append(Mark(term))
                    if places.get(term):
                        where = t("list.sep", lang).join(t(f"place.{p}", lang) for p in places[term])
                        spans.append(Plain(f"〔{where}〕" if lang == "zh" else f" [{where}]"))
                spans.append(Plain(closing))
        block.append(tuple(spans))
    if m_keywords:
        spans = [Plain(t("alert.keywords", lang))]
        for i, kw in enumerate(m_keywords):
            if i:
                _sep(spans, lang)
            spans.append(Mark(kw))
        block.append(tuple(spans))
    block.append((Link(t("alert.open", lang), item.url),))
    return [block]


def latest_blocks(
    entries: Sequence[tuple[Any, Any]],
    source_names: Mapping[str, str],
    lang: str,
    *,
    topics: Any = None,
    tz: str | None = DEFAULT_TZ,
) -> list[Block]:
    """/latest: a header and one short block per (item, match)."""
    blocks: list[Block] = [[(Bold(t("latest.title", lang, count=len(entries))),)]]
    for item, match in entries:
        blocks += alert_blocks(
            item, source_names.get(item.source_id, item.source_id), match, lang,
            topics=topics, tz=tz, summary_max=LATEST_SUMMARY_MAX,
        )
    return blocks


def _error_text(kind: str | None, lang: str) -> str:
    key = f"error_kind.{kind}" if kind else "error_kind.unknown"
    try:
        return t(key, lang)
    except KeyError:
        return t("error_kind.unknown", lang)


def source_bucket(state: SourceState | None) -> str:
    """never | ok | failing: how chat replies group the source's status (``SourceState.status``)."""
    status = state.status if state is not None else SourceStatus.NEVER
    if status is SourceStatus.NEVER:
        return "never"
    return "failing" if status.broken else "ok"


def sources_paragraphs(
    sources: Sequence[Any], states: Mapping[str, Any], lang: str, tz: str | None = DEFAULT_TZ
) -> list[Paragraph]:
    """/sources: each source with its status from ``states`` (source id -> state row)."""
    out: list[Paragraph] = [(Bold(t("sources.title", lang, count=len(sources))),)]
    counts = {"ok": 0, "failing": 0, "never": 0}
    for source in sources:
        state = states.get(source.id)
        status = source_bucket(state)
        counts[status] += 1
        if status == "ok":
            line = t("sources.ok", lang, when=labelled_time(state.last_success_at, tz) or t("health.never", lang))
        elif status == "failing":
            line = t(
                "sources.failing", lang,
                count=state.consecutive_failures, error=_error_text(state.error_kind, lang),
            )
        else:
            line = t("sources.never", lang)
        out.append((Link(source.name, source.url), Plain(f" ({source.id})")))
        out.append((Plain("   " + line),))
    out.append(())
    out.append((Plain(t("sources.summary", lang, **counts)),))
    return out


@dataclass(frozen=True)
class Stats:
    chats: int = 0
    active: int = 0
    subscribers: int = 0
    alerts: int = 0
    items_total: int = 0
    items_day: int = 0
    deliveries: Mapping[str, int] = field(default_factory=dict)
    failing_sources: tuple[str, ...] = ()


def stats_paragraphs(stats: Stats, lang: str) -> list[Paragraph]:
    d = stats.deliveries
    return [
        (Bold(t("stats.title", lang)),),
        (Plain(t("stats.chats", lang, subscribers=stats.subscribers, active=stats.active, chats=stats.chats)),),
        (Plain(t("stats.alerts", lang, count=stats.alerts)),),
        (Plain(t("stats.items", lang, total=stats.items_total, day=stats.items_day)),),
        (Plain(t("stats.deliveries", lang, sent=d.get("sent", 0), pending=d.get("pending", 0) + d.get("sending", 0),
                 failed=d.get("failed", 0), dropped=d.get("dropped", 0))),),
        (Plain(t("stats.failing", lang, sources=join(stats.failing_sources, lang) or t("none", lang))),),
    ]


@dataclass(frozen=True)
class Health:
    backend: str
    sources_total: int
    sources_ok: int
    sources_failing: int
    sources_never: int
    last_item_at: datetime | None
    pending: int
    oldest_pending: datetime | None
    undispatched: int
    now: datetime
    leader: Leader | None = None


def leader_line(leader: Leader | None, lang: str, tz: str | None = DEFAULT_TZ) -> str:
    """Which instance of ``shwatch run`` leads (polls, plans digests, reads Telegram), and until when."""
    if leader is None:
        return t("health.leader_none", lang)
    until = leader.until.astimezone(_zone(tz)).strftime("%Y-%m-%d %H:%M:%S")
    return t("health.leader" if leader.live else "health.leader_expired", lang, who=leader.holder, until=until)


def health_paragraphs(h: Health, lang: str, tz: str | None = DEFAULT_TZ) -> list[Paragraph]:
    out: list[Paragraph] = [
        (Bold(t("health.title", lang)),),
        (Plain(t("health.db", lang, backend=h.backend)),),
        (Plain(t("health.sources", lang, ok=h.sources_ok, total=h.sources_total, failing=h.sources_failing,
                 never=h.sources_never)),),
        (Plain(t("health.last_item", lang, when=labelled_time(h.last_item_at, tz) or t("health.never", lang))),),
    ]
    if h.pending and h.oldest_pending is not None:
        age = max(timedelta(0), h.now - h.oldest_pending)
        out.append((Plain(t("health.outbox", lang, pending=h.pending,
                            age=t("age.minutes", lang, n=int(age.total_seconds() // 60)))),))
    else:
        out.append((Plain(t("health.outbox_empty", lang)),))
    out.append((Plain(t("health.undispatched", lang, count=h.undispatched)),))
    out.append((Plain(leader_line(h.leader, lang, tz)),))
    return out
