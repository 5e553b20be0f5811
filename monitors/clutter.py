"""Which paragraphs of an article page are its news, and what to cut from the ones that are.

A page's text holds more than the article: the title again, bylines, photo captions and
credits, date / source / editor / view-count lines, breadcrumbs, share bars, comment boxes,
related links. ``news_paragraphs`` sorts the paragraphs into the article's own (cleaned of
datelines, reporter parentheses and credits) and photo captions (used only when a page has
nothing else, as picture stories do); everything else is dropped. Rules, in order:

- an end marker (相关阅读, 推荐内容, Related articles...) after some news ends the article;
- meta lines (来源：, 责任编辑：, 发布时间, 浏览次数, Editor:, Source:, copyright, hotlines,
  "By NAME" lines) are dropped;
- the title line (and 原标题/题: lines) is dropped;
- a line ending with a photo credit (摄, 供图, 新华社发, (Xinhua/...), [Photo/IC], Photo: X)
  is a caption;
- a short line without sentence punctuation is a subhead, a name or page furniture, and a
  short line ending in '...' is a teaser: both dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from monitors.paragraphs import ends_sentence, paragraphs

ZH_SHORT_LINE = 50  # characters: a line without sentence punctuation shorter than this is no paragraph
EN_SHORT_LINE = 20  # words

_END_MARKERS = re.compile(
    r"^(?:相关阅读|相关新闻|相关链接|相关文章|推荐内容|推荐阅读|延伸阅读|更多阅读|相關閱讀|相關新聞|推薦閱讀"
    r"|related (?:articles|news|stories|links)|read more|more stories|you may also like)\s*[:：]?$",
    re.I,
)
_ZH_META = re.compile(
    r"^[【\[(（]?\s*(?:来源|來源|稿源|作者|编辑|編輯|责编|責編|责任编辑|責任編輯|审核|審核|校对|校對|发布时间|發布時間"
    r"|发布日期|發布日期|点击|點擊|浏览|瀏覽|阅读|閱讀|字号|字號|原标题|原標題|题|題|正在阅读|摄影|攝影|图片来源|圖片來源"
    r"|记者|記者|通讯员|通訊員|出处|附件|分享到?)\s*[:：]"
)
# the same words anywhere in a short line: "2020-03-20 19:26:16 來源: 新華網", "时间:… 来源:… 点击:177次"
_ZH_META_ANYWHERE = re.compile(
    r"(?:来源|來源|责任编辑|責任編輯|浏览次数|瀏覽次數|浏览量|阅读量|閱讀量|点击量|点击数|字号|举报电话|舉報電話|联系电话|聯繫電話)\s*[:：]"
    r"|\d{4}-\d{1,2}-\d{1,2}\s*\d{1,2}:\d{2}(?::\d{2})?\s*发布"
)
_META_LINE = 80  # characters: meta words inside a longer line are part of its news
_COPYRIGHT = re.compile(r"版权所有|版權所有|copyright\s*(?:©|\(c\)|\?|\d{4})|all rights reserved", re.I)
_EN_META = re.compile(
    r"^\s*(?:editor|source|author|reporter|photo|photographer|translator|attachment|tags?)s?\s*[:：]"
    r"|\bclick here\b",
    re.I,
)
# a byline: "By HE WEI in Shanghai hewei@chinadaily.com.cn", "By Li Qian | China Daily"
_EN_BYLINE = re.compile(r"^\s*[-–—]?\s*[Bb][Yy]\s+[A-Z][A-Za-z.'-]*(?:\s+[A-Z][A-Za-z.'-]*){0,3}(?:\s*\||\s+in\s+[A-Z]|\s*$|.*@)")
_ZH_CREDIT = re.compile(
    r"\s*[(（]?(?:(?:(?:本报|本報|新华社|新華社)?(?:记者|記者|通讯员|通訊員)\s*)?[^\s()（）。！？]{0,16}?(?:摄|攝)|[^\s()（）。！？]{0,12}?(?:供图|供圖)|新华社发|新華社發|资料照片|資料照片"
    r"|资料图|資料圖|网络图|網絡圖|视觉中国|視覺中國)\s*[)）]?\s*$"
)
_ZH_CAPTION_START = re.compile(r"^(?:上图|下图|左图|右图|图为|圖為|图[:：]|圖[:：])")
_EN_CREDIT = re.compile(
    r"\s*(?:\((?:photo|file photo)\b[^()]{0,60}\)|\((?:xinhua|reuters|afp|ap|ic|cfp|vcg|imaginechina|getty)\s*/[^()]{1,40}\)"
    r"|\[photo\b[^\]]{0,60}\]|photo:\s*[\w .,/&-]{2,40})\s*$",
    re.I,
)
_TEASER = re.compile(r"(?:\.\.\.|…)\s*$")
# a dateline opening a Chinese paragraph: 新华社上海5月25日电, 中新网上海5月21日电, 新华财经上海 5 月 18 日电
_ZH_DATELINE = re.compile(r"^[\u4e00-\u9fff]{0,12}\s*\d{1,2}\s*月\s*\d{1,2}\s*日\s*[电電][?？]?\s*")
# 本报讯, 光明网讯, 上证报中国证券网讯
_ZH_NEWSWIRE = re.compile(r"^(?:[\u4e00-\u9fff]{1,10}?(?:网|網|报|報|社|台|端))?[讯訊]\s*")
_ZH_REPORTER = re.compile(r"[(（]\s*(?:本报|本報)?(?:记者|記者|通讯员|通訊員|实习生|實習生)[^()（）]{0,40}[)）]")
_ZH_TRAILING_NAME = re.compile(r"(?<=[。！？”」])\s*[(（][\u4e00-\u9fff]{2,4}(?:[ 、,，][\u4e00-\u9fff]{2,4})*[)）]\s*$")
# an English dateline: "SHANGHAI, May 5 (Xinhua) -- ", "China News Online, October 13th (Fan Zhonghua) "
_EN_DATELINE = re.compile(
    r"^[A-Z][A-Za-z .'-]{2,40},\s+[A-Z][a-z]{2,8}\.?\s+\d{1,2}(?:st|nd|rd|th)?(?:,\s*\d{4})?\s*\([^()]{1,40}\)\s*(?:--|—|–|-)?\s*"
    r"|^[A-Z]{3,}[A-Z ,]*\s*\([A-Za-z ]{2,30}\)\s*(?:--|—|–|-)\s*"
)
_EN_TRAILING_AGENCY = re.compile(r"(?<=[.!?\"”])\s*\((?:Xinhua|Reuters|AFP|AP|China Daily|Shanghai Daily)\)\s*$")
_BULLET = re.compile(r"^[-–—•·*▪●■◆]\s+")
_LEADING_DATE = re.compile(r"^(?:date\s+)?\d{4}-\d{1,2}-\d{1,2}(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?\s+(?=\S)", re.I)
_TITLE_NOISE = re.compile(r"[\s\W_]+", re.UNICODE)
_CJK = re.compile(r"[\u3400-\u9fff]")


@dataclass(frozen=True)
class Paragraphs:
    """An article's text sorted: its own paragraphs, and photo captions (credits cut off)."""

    news: list[str]
    captions: list[str]


def news_paragraphs(text: str, english: bool, title: str | None = None) -> Paragraphs:
    """The article's news paragraphs (cleaned) and its photo captions, in text order."""
    news: list[str] = []
    captions: list[str] = []
    title_key = _key(title or "")
    for line in paragraphs(text):
        if _END_MARKERS.match(line):
            if news:
                break
            continue
        if _is_meta(line, english) or _is_title(line, title_key):
            continue
        caption = _without_credit(line, english)
        if caption is not None:
            if caption and not _is_furniture(caption, english):
                captions.append(caption)
            continue
        line = clean_paragraph(line, english)
        if line and not _is_furniture(line, english):
            news.append(line)
    return Paragraphs(news, captions)


def clean_paragraph(line: str, english: bool) -> str:
    """A paragraph without its leading date, dateline and news-wire tag, and without
    reporters' names in parentheses."""
    line = _LEADING_DATE.sub("", _BULLET.sub("", line))
    if english:
        return _EN_TRAILING_AGENCY.sub("", _EN_DATELINE.sub("", line)).strip()
    line = _ZH_REPORTER.sub("", line)
    line = _ZH_DATELINE.sub("", line)
    line = _ZH_NEWSWIRE.sub("", line)
    line = _ZH_TRAILING_NAME.sub("", line)
    return line.strip()


def _is_meta(line: str, english: bool) -> bool:
    if _ZH_META.search(line) or _COPYRIGHT.search(line):
        return True
    if len(line) <= _META_LINE and _ZH_META_ANYWHERE.search(line):
        return True
    if not english:
        return False
    return _EN_META.search(line) is not None or (len(line.split()) <= 15 and _EN_BYLINE.search(line) is not None)


def _is_title(line: str, title_key: str) -> bool:
    if not title_key:
        return False
    key = _key(line)
    if key == title_key:
        return True
    return title_key in key and not ends_sentence(line) and len(key) <= len(title_key) * 1.5 + 10


def _without_credit(line: str, english: bool) -> str | None:
    """A caption's text without its credit; None when the line is no caption."""
    credit = (_EN_CREDIT if english else _ZH_CREDIT).search(line)
    if credit is None and not english and _ZH_CAPTION_START.match(line):
        return line
    if credit is None or (not english and credit.start() > 0 and not _credit_follows_caption(line[: credit.start()])):
        return None
    return clean_paragraph(line[: credit.start()].strip(), english)


def _credit_follows_caption(before: str) -> bool:
    """A Chinese credit (…摄) closes a caption: the text before it ends a sentence or a name."""
    before = before.rstrip()
    return not before or ends_sentence(before) or len(before) <= 40


def _is_furniture(line: str, english: bool) -> bool:
    """Subheads, names, dates, menus: short lines that do not end a sentence; and teasers."""
    size = len(line.split()) if english else len(line)
    short = size < (EN_SHORT_LINE if english else ZH_SHORT_LINE)
    if _TEASER.search(line) and size < (15 if english else 40):
        return True
    if english and len(_CJK.findall(line)) * 10 > len(line) * 3:
        return True  # a Chinese line on an English page: its menu or its Chinese title
    return short and not ends_sentence(line)


def _key(text: str) -> str:
    return _TITLE_NOISE.sub("", text).lower()
