"""How much an item is about each topic, from where and how often the topic's terms occur.

Pure functions over normalised text; ``monitors.tagger.Tagger`` finds the term occurrences
(one Aho-Corasick pass) and hands them here. The rules and their numbers are the
``[relevance]`` table of config/topics.toml (``config.model.RelevanceRules``):

1. An item is laid out as one text: title, lead (the first paragraph(s) of the body, or an
   explicit lead), rest of the body. Each occurrence gets the weight of its place
   (``title_weight`` / ``lead_weight`` / ``body_weight``).
2. An occurrence whose sentence holds a context word of one of the term's exclusions is
   dropped (it is not evidence of anything, not even a mention).
3. A sentence naming ``enumeration_fields`` or more fields is an enumeration: each
   occurrence in it counts ``enumeration_weight`` only. So is a paragraph holding one of the
   ``list_cues`` (12个重点领域, "12 key areas"; with the next paragraph when it ends with a
   colon). An item naming ``recap_fields`` or more fields in all is a list as a whole (a
   plan recap, a speech running through the sectors): its occurrences outside the title
   count as enumerated too.
4. A weak term (generic word, listed per topic) counts ``weak_weight``.
5. A topic's evidence is the sum of its terms' weights (at most ``max_per_term``
   occurrences of one term count) plus ``distinct_bonus`` per further distinct term that
   occurs outside enumerations. Relevance = evidence / (evidence + ``half``), from 0 to 1.
6. A topic is a topic of the item when its relevance is at least ``about`` and its evidence
   is at least ``dominance`` times the strongest topic's (the plan group included); other
   topics with occurrences are mentions. The plan-level group is scored the same way but
   is never a member of a list (its terms name the plan itself).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from config.model import RelevanceRules, Topic
from monitors.model import PLACES, Place, TermEvidence, TopicMatch

# Sentence ends in normalised text (NFKC has made ！？ into !?): Chinese full stop, ! ?,
# a Latin full stop followed by a space, and paragraph breaks. Semicolons and colons do not
# end a sentence: list items are separated by them.
_SENTENCE_END = re.compile(r"[。!?\n]|\.(?= )")
_NEWLINE = re.compile("\n")


@dataclass(frozen=True)
class Layout:
    """An item as one normalised text with its places: ``text[:title_end]`` is the title,
    ``text[title_end:lead_end]`` the lead, the rest the body (parts joined by "\\n")."""

    text: str
    title_end: int
    lead_end: int

    def place(self, start: int) -> Place:
        if start < self.title_end:
            return "title"
        return "lead" if start < self.lead_end else "body"

    def sentence_ends(self) -> list[int]:
        return [m.end() for m in _SENTENCE_END.finditer(self.text)]

    def paragraph_starts(self) -> list[int]:
        """Start offsets of the title (0), the lead and body paragraphs."""
        return [0] + [m.end() for m in _NEWLINE.finditer(self.text)]


def paragraphs(text: str, normalize: Callable[[str], str]) -> list[str]:
    """Non-empty normalised paragraphs of ``text`` (split on line breaks)."""
    out = []
    for line in text.splitlines():
        line = normalize(line)
        if line:
            out.append(line)
    return out


def layout(
    title: str, body: str, lead: str | None, lead_chars: int, normalize: Callable[[str], str]
) -> Layout:
    """Lay out an item. Without ``lead`` the lead is the first paragraph(s) of the body, up to
    ``lead_chars`` characters (at least one paragraph). An explicit ``lead`` (a standfirst,
    a list summary) comes first; paragraphs the body repeats from it are not counted twice."""
    body_pars = paragraphs(body or "", normalize)
    if lead is not None:
        lead_pars = paragraphs(lead, normalize)
        skip = 0
        while skip < min(len(lead_pars), len(body_pars)) and body_pars[skip] == lead_pars[skip]:
            skip += 1
        body_pars = body_pars[skip:]
    else:
        lead_pars = []
        size = 0
        while body_pars and (not lead_pars or size < lead_chars):
            lead_pars.append(body_pars.pop(0))
            size += len(lead_pars[-1])
    head = normalize(title or "") + "\n"
    lead_text = "\n".join(lead_pars)
    text = head + lead_text + "\n" + "\n".join(body_pars)
    return Layout(text=text, title_end=len(head) - 1, lead_end=len(head) + len(lead_text))


@dataclass(frozen=True)
class Occurrence:
    topic_id: str
    term: str
    start: int
    sentence: int


def outermost(hits: Sequence[tuple[int, int, str]]) -> list[tuple[int, str]]:
    """(start, term) of the occurrences not inside a longer occurrence of the same topic
    ("connected car" inside "internet-connected car" is one piece of evidence, not two)."""
    ordered = sorted(hits, key=lambda h: (h[0], -h[1]))
    kept: list[tuple[int, str]] = []
    reach = -1
    for start, end, term in ordered:
        if end <= reach:
            continue
        kept.append((start, term))
        reach = end
    return kept


class ContextRule:
    """The context words of one term's exclusions, compiled for normalised sentences."""

    def __init__(self, words: Sequence[str]) -> None:
        parts = []
        for word in words:
            escaped = re.escape(word)
            if word.isascii():
                parts.append(rf"(?<![a-z0-9]){escaped}(?![a-z0-9])")
            else:
                parts.append(escaped)
        self._pattern = re.compile("|".join(parts))

    def found_in(self, sentence: str) -> bool:
        return self._pattern.search(sentence) is not None


def assess(
    doc: Layout,
    found: Mapping[str, Sequence[tuple[int, str]]],
    topics: Sequence[Topic],
    rules: RelevanceRules,
    exclusions: Mapping[tuple[str, str], ContextRule],
    weak: frozenset[tuple[str, str]],
    cues: Sequence[int] = (),
) -> TopicMatch:
    """The ``TopicMatch`` of an item laid out as ``doc``, given the topic id -> (start, end,
    term) occurrences found in ``doc.text`` and the starts of list cues. ``exclusions`` and
    ``weak`` are keyed by (topic id, configured term)."""
    if not found:
        return TopicMatch()
    ends = doc.sentence_ends()
    kinds = {t.id: t.kind for t in topics}
    occurrences: list[Occurrence] = []
    for topic_id, hits in found.items():
        for start, term in outermost(hits):
            sentence = bisect_right(ends, start)
            rule = exclusions.get((topic_id, term))
            if rule is not None:
                lo = ends[sentence - 1] if sentence else 0
                hi = ends[sentence] if sentence < len(ends) else len(doc.text)
                if rule.found_in(doc.text[lo:hi]):
                    continue
            occurrences.append(Occurrence(topic_id, term, start, sentence))
    if not occurrences:
        return TopicMatch()

    fields_by_sentence: dict[int, set[str]] = {}
    for o in occurrences:
        if kinds[o.topic_id] == "field":
            fields_by_sentence.setdefault(o.sentence, set()).add(o.topic_id)
    listed_sentences = {s for s, ids in fields_by_sentence.items() if len(ids) >= rules.enumeration_fields}
    starts = doc.paragraph_starts() if cues else []
    listed_paragraphs: set[int] = set()
    for cue in cues:
        paragraph = bisect_right(starts, cue) - 1
        listed_paragraphs.add(paragraph)
        end = starts[paragraph + 1] - 1 if paragraph + 1 < len(starts) else len(doc.text)
        if doc.text[:end].rstrip().endswith(":"):
            listed_paragraphs.add(paragraph + 1)
    field_count = len({o.topic_id for o in occurrences if kinds[o.topic_id] == "field"})
    recap = field_count >= rules.recap_fields
    place_weight = {"title": rules.title_weight, "lead": rules.lead_weight, "body": rules.body_weight}

    # topic id -> term -> [(weight, place, listed)]
    by_topic: dict[str, dict[str, list[tuple[float, Place, bool]]]] = {}
    for o in occurrences:
        place = doc.place(o.start)
        listed = kinds[o.topic_id] == "field" and (
            o.sentence in listed_sentences
            or (recap and place != "title")
            or (bool(listed_paragraphs) and bisect_right(starts, o.start) - 1 in listed_paragraphs)
        )
        weight = place_weight[place] * (rules.enumeration_weight if listed else 1.0)
        if (o.topic_id, o.term) in weak:
            weight *= rules.weak_weight
        by_topic.setdefault(o.topic_id, {}).setdefault(o.term, []).append((weight, place, listed))

    evidence: dict[str, float] = {}
    for topic_id, terms in by_topic.items():
        total = 0.0
        distinct = 0
        for term, hits in terms.items():
            weights = sorted((w for w, _, _ in hits), reverse=True)[: rules.max_per_term]
            total += sum(weights)
            if (topic_id, term) not in weak and any(not listed for _, _, listed in hits):
                distinct += 1
        evidence[topic_id] = total + rules.distinct_bonus * max(0, distinct - 1)

    strongest = max(evidence.values())
    order = [t.id for t in topics if t.kind == "plan"] + [t.id for t in topics if t.kind != "plan"]
    about: list[str] = []
    mentions: list[str] = []
    scores: dict[str, float] = {}
    for topic_id in order:
        if topic_id not in evidence:
            continue
        e = evidence[topic_id]
        relevance = e / (e + rules.half)
        scores[topic_id] = round(relevance, 3)
        is_about = relevance >= rules.about and e >= rules.dominance * strongest
        (about if is_about else mentions).append(topic_id)

    proof = {
        topic_id: tuple(
            TermEvidence(
                term=term,
                places=tuple(p for p in PLACES if any(place == p for _, place, _ in hits)),
                count=len(hits),
                listed=all(listed for _, _, listed in hits),
            )
            for term, hits in sorted(by_topic[topic_id].items())
        )
        for topic_id in (*about, *mentions)
    }
    return TopicMatch(
        topics=tuple(about),
        matched={t: [e.term for e in proof[t]] for t in about},
        mentions=tuple(mentions),
        scores=scores,
        evidence=proof,
    )
