"""A short extractive summary of an article, offline, for Chinese and English: the lead first.

The text is read as paragraphs (``monitors.paragraphs``: literal ``\\r\\n`` written out in
the page become breaks or spaces) and the page's clutter is set aside (``monitors.clutter``:
bylines, photo captions and credits, date/source/editor lines, subheads, menus). Then:

1. the lead: the first sentence of the first paragraph that is not a question (a paragraph
   ending in a question is a hook, not news) - it says who did what;
2. the key figure: when the lead holds no figure (5.9%, 16409.94亿元, 1,700 beds), the first
   sentence with one in the next few paragraphs, if there is room;
3. then the sentences that follow the lead, in order, while they fit; a summary still under
   half the budget takes the first clauses of the next sentence, ending with '…'.

At most about 120 Chinese characters or 60 English words, in the text's order. A lead too
long on its own is cut at a clause boundary and ends with '…'; a sentence that does not
close (a paragraph without final punctuation) ends the summary, with '…': two paragraphs are
never run together into one sentence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from monitors.clutter import news_paragraphs
from monitors.paragraphs import ends_sentence, unescape_breaks

ZH_BUDGET = 120  # characters
EN_BUDGET = 60  # words
ELLIPSIS = "…"
FIGURE_WINDOW = 3  # paragraphs after the lead's in which to look for the key figure
NEAR_DUPLICATE = 0.7  # share of a sentence's words (character pairs) already in the summary

_ZH_SENTENCE = re.compile(r"[^。！？；!?;]+(?:[。！？；!?;]+[”’」』）)\"']*|$)")
_EN_BOUNDARY = re.compile(r"[.!?]+[\"'”’)\]]*\s+(?=[\"“‘(]?[A-Z]|\d{1,2}\.\s*[A-Z])")
_EN_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sr jr st no nos vol fig art sec gen gov govt rep sen co corp inc ltd dept "
    "jan feb mar apr jun jul aug sep sept oct nov dec approx est mt ft vs e.g i.e a.m p.m u.s u.k "
    "u.n p.r.c".split()
)
_LIST_MARKER = re.compile(r"^\(?(?:\d{1,2}|[ivxIVX]{1,4}|[a-zA-Z])[.)]?$")
_INITIALS = re.compile(r"^(?:[A-Za-z]\.)*[A-Za-z]$")
_ZH_FIGURE = re.compile(
    r"\d[\d.,]*\s*(?:[%％‰]|万|亿|元|美元|平方米|平方公里|公里|千米|吨|家|项|个|例|辆|台|人|户|倍|标准箱|张|件|场|所)"
)
_EN_FIGURE = re.compile(
    r"(?:US\$|\$|¥|€|£)\s*\d|\d[\d.,]*\s*(?:%|percent|per cent|percentage points?|billion|million|trillion|thousand"
    r"|yuan|dollars?|tons?|tonnes|beds|companies|firms|enterprises|people|residents|cases|patients|units|vehicles|jobs)\b",
    re.I,
)
_EN_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'-]*")
_CJK = re.compile(r"[\u3400-\u9fff]")
_MIN_ZH_CHARS = 6
_MIN_EN_WORDS = 5


@dataclass(frozen=True)
class _Sentence:
    index: int
    text: str
    paragraph: int
    hook: bool = False  # in a paragraph that ends in a question


def summarize(text: str, lang: str, title: str | None = None) -> str:
    """At most about 120 Chinese characters or 60 English words: the lead, the key figure
    if the lead has none and there is room, then what follows the lead; "" for an empty text."""
    if not text or not text.strip():
        return ""
    english = _is_english(text, lang)
    sorted_paragraphs = news_paragraphs(text, english, title)
    sentences = _sentences(sorted_paragraphs.news or sorted_paragraphs.captions, english)
    lead = next((s for s in sentences if not s.hook and not _is_question(s.text)), None)
    if lead is None:
        return ""
    budget = EN_BUDGET if english else ZH_BUDGET
    if _size(lead.text, english) > budget:
        return clip(lead.text, budget, english)
    following = [
        s for s in sentences
        if s.index > lead.index and s.paragraph <= lead.paragraph + FIGURE_WINDOW and not s.hook and not _is_question(s.text)
    ]
    chosen = [lead]
    used = _size(lead.text, english)
    if not _has_figure(lead.text, english):
        figure = next((s for s in following if _has_figure(s.text, english) and used + _size(s.text, english) <= budget), None)
        if figure is not None:
            chosen.append(figure)
            used += _size(figure.text, english)
    for sentence in following:
        if sentence in chosen or _near_duplicate(sentence.text, chosen, english):
            continue
        if used + _size(sentence.text, english) <= budget:
            chosen.append(sentence)
            used += _size(sentence.text, english)
            continue
        if used * 2 < budget and sentence.index > max(s.index for s in chosen):
            # a thin summary (a short lead, a long next sentence): that sentence's first clauses
            head = _clause_head(sentence.text, budget - used, english)
            if head:
                chosen.append(_Sentence(sentence.index, head + ELLIPSIS, sentence.paragraph))
        break
    chosen.sort(key=lambda s: s.index)
    return _join(chosen, english)


def bound_abstract(text: str, lang: str, title: str | None = None) -> str:
    """A list abstract or feed description held to the summary's bounds: kept as it is
    when it fits (it is someone's summary already), else summarized like an article."""
    text = " ".join(unescape_breaks(text).split())
    if not text:
        return ""
    english = _is_english(text, lang)
    if _size(text, english) <= (EN_BUDGET if english else ZH_BUDGET):
        return text
    return summarize(text, lang, title) or clip(text, EN_BUDGET if english else ZH_BUDGET, english)


def _sentences(paragraphs: list[str], english: bool) -> list[_Sentence]:
    out: list[_Sentence] = []
    for number, paragraph in enumerate(paragraphs):
        pieces = [s.text for s in split_sentences(paragraph, english) if _usable(s.text, english)]
        hook = bool(pieces) and _is_question(pieces[-1])
        for piece in pieces:
            out.append(_Sentence(len(out), piece, number, hook))
    return out


def _join(chosen: list[_Sentence], english: bool) -> str:
    """The sentences in order; one that does not close ends the summary, with '…'."""
    parts: list[str] = []
    for sentence in chosen:
        parts.append(sentence.text)
        if not ends_sentence(sentence.text):
            break
    summary = (" " if english else "").join(parts)
    if summary.endswith(("；", ";")):  # a clause of a longer sentence
        summary = summary[:-1]
    if not ends_sentence(summary) and not summary.endswith(ELLIPSIS):
        summary = summary.rstrip(" ,;:，；：、—-") + ELLIPSIS
    return summary


def _near_duplicate(text: str, chosen: list[_Sentence], english: bool) -> bool:
    mine = _grams(text, english)
    if not mine:
        return False
    seen = set().union(*(_grams(s.text, english) for s in chosen))
    return len(mine & seen) >= NEAR_DUPLICATE * len(mine)


def _grams(text: str, english: bool) -> set[str]:
    if english:
        return {w.lower() for w in _EN_WORD.findall(text)}
    chars = [c for c in text if _CJK.match(c) or c.isdigit()]
    return {a + b for a, b in zip(chars, chars[1:])}


def _has_figure(text: str, english: bool) -> bool:
    return (_EN_FIGURE if english else _ZH_FIGURE).search(text) is not None


def _is_question(text: str) -> bool:
    return text.rstrip("”’\"')）」』 ").endswith(("?", "？"))


def split_sentences(text: str, english: bool) -> list[_Sentence]:
    """Sentences in text order; line breaks always end a sentence."""
    out: list[_Sentence] = []
    lines = (" ".join(line.split()) for line in text.splitlines())
    for number, line in enumerate(line for line in lines if line):
        pieces = _split_en(line) if english else [m.group(0) for m in _ZH_SENTENCE.finditer(line)]
        out.extend(_Sentence(len(out) + i, piece, number) for i, piece in enumerate(p.strip() for p in pieces if p.strip()))
    return out


def clip(sentence: str, budget: int, english: bool) -> str:
    """A too-long sentence cut at the last clause boundary within budget, ending with '…'."""
    head = _clause_head(sentence, budget, english)
    if head is None:
        head = " ".join(sentence.split()[: budget - 1]) if english else sentence[: budget - 1]
    return head.rstrip(" ,;:，；：、—-") + ELLIPSIS


def _clause_head(sentence: str, budget: int, english: bool) -> str | None:
    """The sentence's clauses that fit in ``budget`` less one (room for '…'), cut at the last
    clause boundary in the second part of that room; None when there is no such boundary."""
    if english:
        head = " ".join(sentence.split()[: budget - 1])
        cut = max(head.rfind(mark) for mark in (",", ";", ":", " -", " —"))
    else:
        head = sentence[: budget - 1]
        cut = max(head.rfind(mark) for mark in ("，", "；", "：", "、", ",", ";"))
    if cut < len(head) * 0.4 or cut <= 0:
        return None
    return head[:cut].rstrip(" ,;:，；：、—-")


def _split_en(line: str) -> list[str]:
    pieces, start = [], 0
    for match in _EN_BOUNDARY.finditer(line):
        before = line[start:match.start()]
        if match.group(0).startswith(".") and not _is_sentence_end(before):
            continue
        pieces.append(line[start:match.end()])
        start = match.end()
    pieces.append(line[start:])
    return pieces


def _is_sentence_end(before: str) -> bool:
    """False when the '.' after ``before`` closes an abbreviation, an initial or a list number."""
    stripped = before.strip()
    if _LIST_MARKER.match(stripped):
        return False
    last = stripped.rsplit(" ", 1)[-1].lstrip("(\"“'‘")
    if last.lower() in _EN_ABBREVIATIONS or _INITIALS.match(last):
        return False
    return True


def _is_english(text: str, lang: str) -> bool:
    if lang in ("en", "zh"):
        return lang == "en"
    sample = text[:2000]
    return len(_CJK.findall(sample)) * 10 < len(sample)


def _usable(sentence: str, english: bool) -> bool:
    if english:
        return len(sentence.split()) >= _MIN_EN_WORDS
    return len(sentence) >= _MIN_ZH_CHARS


def _size(sentence: str, english: bool) -> int:
    return len(sentence.split()) if english else len(sentence)
