"""The catalogue: every key in both languages with the same placeholders."""

from __future__ import annotations

import re

import pytest

from bot.core.i18n import CATALOGUE, count_key, join, lang_from_code, placeholders, t, t_count

_HAN = re.compile(r"[\u4e00-\u9fff]")


def test_every_key_has_both_languages_with_the_same_placeholders():
    assert len(CATALOGUE) > 100
    for key, texts in CATALOGUE.items():
        assert set(texts) == {"zh", "en"}, key
        assert texts["zh"].strip() and texts["en"].strip(), key
        assert placeholders(texts["zh"]) == placeholders(texts["en"]), key


def test_chinese_texts_are_chinese():
    # the zh side of a sentence has Han characters (the language name and emoji-only keys aside)
    for key, texts in CATALOGUE.items():
        if key.startswith(("cmd.", "help.", "err.", "start.", "alert.", "digest.", "quiet.", "stop.")):
            assert _HAN.search(texts["zh"]), key


def test_t_fills_placeholders_and_falls_back_to_english():
    assert t("err.keyword_long", "en", length=51, limit=50) == (
        "The keyword is too long (51 characters): at most 50 characters."
    )
    assert t("err.keyword_long", "zh", length=51, limit=50) == "关键词太长（51 个字符）：最多 50 个字符。"
    assert t("lang.name", "fr") == "English"
    assert t("lang.name", None) == "English"
    with pytest.raises(KeyError):
        t("no.such.key", "en")


@pytest.mark.parametrize(
    "code,lang",
    [("zh", "zh"), ("zh-hans", "zh"), ("zh_TW", "zh"), ("ZH-CN", "zh"), ("en", "en"), ("de", "en"), (None, "en"), ("", "en")],
)
def test_lang_from_code(code, lang):
    assert lang_from_code(code) == lang


def test_join_uses_the_language_separator():
    assert join(["a", "b"], "zh") == "a、b"
    assert join(["a", "b"], "en") == "a, b"


_COUNTED_PLURAL = re.compile(r"\{count\} (?:\w+ )?\w+s\b")  # "{count} alerts", "{count} new items"


def test_every_english_count_of_things_has_a_singular_form():
    """'1 alerts' reads wrong: a sentence about "{count} <things>" has a ``<key>_one`` form."""
    counted = [k for k, texts in CATALOGUE.items() if _COUNTED_PLURAL.search(texts["en"])]
    assert {"quiet.held", "digest.header", "notice.source_failing"} <= set(counted)
    for key in counted:
        assert f"{key}_one" in CATALOGUE, key
        one = CATALOGUE[f"{key}_one"]
        assert "{count}" not in one["en"] and not _COUNTED_PLURAL.search(one["en"]), key
        assert placeholders(one["en"]) == placeholders(CATALOGUE[key]["en"]) - {"count"}, key


def test_counts_read_right_for_one_and_for_many():
    assert t_count("quiet.held", "en", 1) == "🔕 1 alert arrived during your quiet hours:"
    assert t_count("quiet.held", "en", 2) == "🔕 2 alerts arrived during your quiet hours:"
    assert t_count("quiet.held", "zh", 1) == "🔕 免打扰期间收到 1 条提醒："
    assert t_count("quiet.held", "zh", 3) == "🔕 免打扰期间收到 3 条提醒："
    assert t_count("digest.header", "en", 1, date="2026-06-14") == "📰 Daily digest (2026-06-14): 1 new item"
    assert t_count("digest.header", "en", 0, date="2026-06-14") == "📰 Daily digest (2026-06-14): 0 new items"
    assert t_count("notice.source_failing", "en", 1, source="S", error="0 items") == "⚠️ Source S has a problem (failed once): 0 items"
    assert t_count("notice.source_failing", "en", 5, source="S", error="x") == "⚠️ Source S has a problem (5 times in a row): x"
    assert count_key("notice.source_failing", 1) == "notice.source_failing_one"
    assert count_key("stats.alerts", 1) == "stats.alerts"  # no singular form needed: the key as given
