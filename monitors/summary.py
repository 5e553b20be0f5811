"""A short extractive summary of an article, offline, for Chinese and English.

Sentences are scored for carrying the news: early position (news puts it first), figures
(numbers, %, 亿/万/元, billion, dates), an actor doing something (市政府 ... 印发, the
Commission ... issued), and words shared with the title. Boilerplate lines (责任编辑, 来源：,
分享到, Editor:, Source: ...) never count. The best sentences that fit in about 120 Chinese
characters or 60 English words are kept in their original order. When even the best one is
too long it is cut at a clause boundary and ends with '…': never mid-sentence without one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ZH_BUDGET = 120  # characters
EN_BUDGET = 60  # words
ELLIPSIS = "…"
MIN_RELATIVE_SCORE = 0.35  # filler scoring below this share of the best sentence is left out

_ZH_SENTENCE = re.compile(r"[^。！？；!?;]+(?:[。！？；!?;]+[”’」』）)\"']*|$)")
_EN_BOUNDARY = re.compile(r"[.!?]+[\"'”’)\]]*\s+(?=[\"“‘(]?[A-Z]|\d{1,2}\.\s*[A-Z])")
_EN_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sr jr st no nos vol fig art sec gen gov govt rep sen co corp inc ltd dept "
    "jan feb mar apr jun jul aug sep sept oct nov dec approx est mt ft vs e.g i.e a.m p.m u.s u.k "
    "u.n p.r.c".split()
)
_LIST_MARKER = re.compile(r"^\(?(?:\d{1,2}|[ivxIVX]{1,4}|[a-zA-Z])[.)]?$")
_HEADING_MARKER = re.compile(r"^\s*(?:[(（]?(?:\d{1,2}|[一二三四五六七八九十]{1,3})[)）]|\d{1,2}\.(?!\d)|[一二三四五六七八九十]{1,3}、|\d{1,2}、)")
_INITIALS = re.compile(r"^(?:[A-Za-z]\.)*[A-Za-z]$")

_ZH_BOILERPLATE = re.compile(
    r"责任编辑|分享到|关闭窗口|返回顶部|版权所有|扫一扫|【\s*(?:打印|关闭|大|中|小)\s*】"
    r"|^\s*(?:来源|稿源|作者|编辑|审核|校对|责编|发布时间|发布日期|附件|相关链接|字号)\s*[:：]"
    r"|^\s*(?:打印|打印本页|关闭|收藏)\s*$"
)
_EN_BOILERPLATE = re.compile(
    r"^\s*(?:editor|source|author|reporter|photo|translator|related|attachment)s?\s*[:：]"
    r"|^\s*(?:print(?: this page)?|close(?: window)?|share(?: to| this)?|back to top)\s*[:|]?\s*$"
    r"|copyright\s*(?:©|\(c\))|all rights reserved",
    re.I,
)

_FIGURE = re.compile(r"\d+(?:[.,]\d+)*")
_ZH_UNIT = re.compile(r"[%％‰]|亿|万|元|美元|平方米|公里|吨|家|项|个百分点|同比|环比")
_EN_UNIT = re.compile(r"[%]|\b(?:billion|million|thousand|percent|per cent|yuan|rmb|usd|dollars?|year-on-year)\b", re.I)
_ZH_ORGAN = re.compile(
    r"政府|国务院|办公厅|委员会|管委会|新闻办|[市区县]委|"
    r"(?:经信|商务|发改|卫健|科|教|财政|金融|市场监管|网信|交通|住建|规划资源|文旅|农业农村|人社|民政|生态环境|统计|应急|公安|监管)"
    r"(?:委|局|厅|部)|[\u4e00-\u9fff]{2}(?:管理局|监督局|办公室)"
)
_ZH_ACTION = re.compile(
    r"发布|印发|召开|推进|举行|出台|启动|签署|宣布|部署|审议|通过|实施|开展|上线|开通|发放|新增|增长|"
    r"下降|达到|完成|批准|公布|落地|举办|签约|揭牌|通报|建成|打造|提出"
)
_EN_ORGAN = re.compile(
    r"\b(?:government|municipal|municipality|commission|bureau|office|ministry|council|department|committee|"
    r"administration|authority|mayor|governor|congress|state council)\b",
    re.I,
)
_EN_ACTION = re.compile(
    r"\b(?:issued?|launch(?:ed|es)?|announc(?:ed|es)|released?|held|signed|approved|unveiled|introduced|"
    r"published|adopted|opened|started|implemented|promoted|built|build|reached|rose|increased|grew|fell|"
    r"declined|achieved|construct(?:ed)?)\b",
    re.I,
)
_EN_STOPWORDS = frozenset(
    "the a an and or of to in on for with by at from as is are was were be been this that these those "
    "its it their his her our new will shall has have had not but into about over under more most than".split()
)
_EN_WORD = re.compile(r"[A-Za-z][A-Za-z\-']+")
_CJK = re.compile(r"[\u3400-\u9fff]")


@dataclass(frozen=True)
class _Sentence:
    index: int
    text: str
    opens_paragraph: bool


def summarize(text: str, lang: str, title: str | None = None) -> str:
    """At most about 120 Chinese characters or 60 English words of the sentences that carry
    the news, in original order; "" for an empty text."""
    if not text or not text.strip():
        return ""
    english = _is_english(text, lang)
    sentences = [s for s in split_sentences(text, english) if _usable(s.text, english)]
    if not sentences:
        return ""
    budget = EN_BUDGET if english else ZH_BUDGET
    title_terms = _terms(title or "", english)
    scored = sorted(
        ((_score(s, rank, english, title_terms), s) for rank, s in enumerate(sentences)),
        key=lambda pair: (-pair[0], pair[1].index),
    )
    best = scored[0][1]
    if _size(best.text, english) > budget:
        return clip(best.text, budget, english)
    chosen, seen, used = [], set(), 0
    floor = scored[0][0] * MIN_RELATIVE_SCORE
    for score, sentence in scored:
        size = _size(sentence.text, english)
        if score >= floor and used + size <= budget and sentence.text not in seen:
            chosen.append(sentence)
            seen.add(sentence.text)
            used += size
    chosen.sort(key=lambda s: s.index)
    return (" " if english else "").join(s.text for s in chosen)


def bound_abstract(text: str, lang: str, title: str | None = None) -> str:
    """A list abstract or feed description held to the summary's bounds: kept as it is
    when it fits (it is someone's summary already), else summarized like an article."""
    text = " ".join(text.split())
    if not text:
        return ""
    english = _is_english(text, lang)
    if _size(text, english) <= (EN_BUDGET if english else ZH_BUDGET):
        return text
    return summarize(text, lang, title) or clip(text, EN_BUDGET if english else ZH_BUDGET, english)


def split_sentences(text: str, english: bool) -> list[_Sentence]:
    """Sentences in text order; line breaks always end a sentence."""
    out: list[_Sentence] = []
    for line in text.splitlines():
        line = " ".join(line.split())
        if not line:
            continue
        pieces = _split_en(line) if english else [m.group(0) for m in _ZH_SENTENCE.finditer(line)]
        first = True
        for piece in pieces:
            piece = piece.strip()
            if piece:
                out.append(_Sentence(len(out), piece, first))
                first = False
    return out


def clip(sentence: str, budget: int, english: bool) -> str:
    """A too-long sentence cut at the last clause boundary within budget, ending with '…'."""
    if english:
        words = sentence.split()
        head = " ".join(words[: budget - 1])
        cut = max(head.rfind(mark) for mark in (",", ";", ":", " -", " —"))
        if cut >= len(head) * 0.4:
            head = head[:cut]
    else:
        head = sentence[: budget - 1]
        cut = max(head.rfind(mark) for mark in ("，", "；", "：", "、", ",", ";"))
        if cut >= len(head) * 0.4:
            head = head[:cut]
    return head.rstrip(" ,;:，；：、—-") + ELLIPSIS


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
        return not _EN_BOILERPLATE.search(sentence) and len(sentence.split()) >= 4
    return not _ZH_BOILERPLATE.search(sentence) and len(sentence) >= 6


def _size(sentence: str, english: bool) -> int:
    return len(sentence.split()) if english else len(sentence)


def _terms(title: str, english: bool) -> frozenset[str]:
    if english:
        return frozenset(w.lower() for w in _EN_WORD.findall(title) if w.lower() not in _EN_STOPWORDS and len(w) > 2)
    chars = [c for c in title if _CJK.match(c)]
    return frozenset(a + b for a, b in zip(chars, chars[1:]))


def _score(sentence: _Sentence, rank: int, english: bool, title_terms: frozenset[str]) -> float:
    text = sentence.text
    score = 1.5 / (1.0 + 0.5 * rank)
    if sentence.opens_paragraph:
        score += 0.2
    heading = _HEADING_MARKER.match(text)
    if heading:
        text = text[heading.end():]
        score -= 0.8
    figures = len(_FIGURE.findall(text))
    score += 0.35 * min(figures, 4)
    if (_EN_UNIT if english else _ZH_UNIT).search(text):
        score += 0.6
    organ = (_EN_ORGAN if english else _ZH_ORGAN).search(text) is not None
    action = (_EN_ACTION if english else _ZH_ACTION).search(text) is not None
    score += 0.5 * organ + 0.5 * action + 0.5 * (organ and action)
    if title_terms:
        score += 1.5 * len(title_terms & _terms(text, english)) / len(title_terms)
    if text.endswith(("?", "？")):
        score -= 1.0
    if text.endswith((":", "：")):
        score -= 1.0
    if _size(text, english) < (8 if english else 12):
        score -= 0.5
    return score
