"""Instant alerts, /latest and digests agree on what is for a chat (one RuleIndex).

A property test over random chats (fields, keyword alerts with exclusions) and random items
(keywords in the title, the body, only the list summary, or nowhere; some excluded): for
every chat, the items an instant alert is planned for, the items /latest lists and the items
its digest holds are the same set. Before the RuleIndex, the digest matched keywords in title
and body only, so an item whose keyword sat only in its list summary was alerted but left
out of the digest.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from bot.core.digest import plan_digests
from bot.core.match import RuleIndex
from bot.core.model import AlertRule, Chat
from bot.jobs.alerts import plan_alerts
from monitors.model import Item

T0 = datetime(2026, 6, 1, tzinfo=timezone.utc)
FIELDS = ("online_education", "online_healthcare", "industrial_internet", "new_mobility")
WORDS = ("人工智能", "互联网医院", "数字孪生", "robotaxi", "digital twin", "5G", "区块链", "cloud expo")
FILLER = ("上海市", "发布", "the city", "said", "新闻", "会议", "plan", "年度")


def _chats(rng: random.Random, n: int) -> list[Chat]:
    chats = []
    rule_id = 0
    for chat_id in range(1, n + 1):
        rules = []
        for word in rng.sample(WORDS, rng.randint(0, 3)):
            rule_id += 1
            excludes = tuple(rng.sample([w for w in FILLER if w not in word], rng.randint(0, 1)))
            rules.append(AlertRule(rule_id, chat_id, word, excludes))
        topics = frozenset(rng.sample(FIELDS, rng.randint(0, 2)))
        chats.append(Chat(id=chat_id, channel="telegram", address=str(chat_id), topics=topics, rules=tuple(rules)))
    return chats


def _text(rng: random.Random, words: int, keyword: str | None) -> str:
    parts = [rng.choice(FILLER) for _ in range(words)]
    if keyword is not None:
        parts.insert(rng.randint(0, len(parts)), keyword)
    return " ".join(parts)


def _items(rng: random.Random, n: int) -> list[Item]:
    items = []
    for item_id in range(1, n + 1):
        place = rng.choice(("title", "body", "summary", "none"))
        keyword = rng.choice(WORDS)
        title = _text(rng, 3, keyword if place == "title" else None)
        body = "" if place == "summary" and rng.random() < 0.7 else _text(rng, 8, keyword if place == "body" else None)
        summary = _text(rng, 4, keyword if place == "summary" else None)
        items.append(
            Item(
                source_id="s",
                url=f"https://x.invalid/{item_id}.html",
                title=title,
                published=T0 + timedelta(minutes=item_id),
                summary=summary,
                body=body,
                topics=tuple(rng.sample(FIELDS, rng.randint(0, 2))),
                mentions=tuple(rng.sample(FIELDS, rng.randint(0, 1))),
                first_seen_at=T0 + timedelta(minutes=item_id),
                id=item_id,
            )
        )
    return items


def test_alerts_latest_and_digests_pick_the_same_items_for_every_chat():
    for seed in range(60):
        rng = random.Random(seed)
        chats = _chats(rng, 12)
        items = _items(rng, 40)
        index = RuleIndex.build(chats)
        alerts: dict[int, set[int]] = {}
        for row in plan_alerts(items, index, cutoff=T0 - timedelta(days=1)):
            alerts.setdefault(row["chat_id"], set()).add(row["item_id"])
        newest_first = sorted(items, key=lambda i: i.first_seen_at, reverse=True)
        until = T0 + timedelta(days=1)
        digests = plan_digests(chats, items, FIELDS, until, lambda c: T0 - timedelta(days=1))
        for chat in chats:
            latest = {item.id for item, _ in RuleIndex.build([chat]).latest(newest_first, chat.id, len(items))}
            digest = set(digests[chat.id].matched_ids())
            assert alerts.get(chat.id, set()) == latest == digest, (seed, chat.id)
            # the short "also mentioned" group holds only items that mention one of the
            # chat's fields and are not for it otherwise
            also = set(digests[chat.id].item_ids()) - digest
            assert all(set(i.mentions) & chat.topics for i in items if i.id in also)
            assert not also & digest


def test_a_keyword_only_in_the_list_summary_reaches_the_alert_the_latest_and_the_digest():
    chat = Chat(id=1, channel="telegram", address="1", rules=(AlertRule(1, 1, "互联网医院"),))
    item = Item(
        source_id="s", url="https://x.invalid/1.html", title="市卫健委发布通知", published=T0,
        summary="推进互联网医院建设", body="", first_seen_at=T0, id=7,
    )
    index = RuleIndex.build([chat])
    assert [r["item_id"] for r in plan_alerts([item], index, T0 - timedelta(days=1))] == [7]
    assert [i.id for i, _ in index.latest([item], 1, 5)] == [7]
    digest = plan_digests([chat], [item], FIELDS, T0 + timedelta(hours=1), lambda c: T0 - timedelta(hours=1))[1]
    assert digest.item_ids() == [7] and digest.keywords == {7: ("互联网医院",)}


def test_a_keyword_never_spans_the_title_and_the_body():
    chat = Chat(id=1, channel="telegram", address="1", rules=(AlertRule(1, 1, "医院建设"),))
    item = Item(source_id="s", url="https://x.invalid/2.html", title="互联网医院", published=T0,
                body="建设提速", first_seen_at=T0, id=8)
    assert RuleIndex.build([chat]).match(item) == []
