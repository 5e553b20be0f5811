"""The catalogue: every key in both languages with the same placeholders."""

from __future__ import annotations

import re

import pytest

from bot.i18n import CATALOGUE, join, lang_from_code, placeholders, t

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
