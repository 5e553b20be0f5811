"""Extractive summaries (monitors.summary): length bounds, news-bearing sentences, clean ends."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitors.summary import EN_BUDGET, ZH_BUDGET, split_sentences, summarize

ZH_ARTICLE = """　　4月8日，上海市人民政府办公厅印发《上海市促进在线新经济发展行动方案（2020-2022年）》。
　　这是一段比较普通的描述性句子，没有什么特别的信息。
　　方案提出，聚焦12个发展重点，推动100个以上无人工厂建设，打造20个具有全国影响力的工业互联网平台。
　　有关负责人表示，将继续做好相关工作。
责任编辑：张三
分享到：微信 微博
【打印本页】【关闭窗口】"""


def _ends_cleanly(summary: str) -> bool:
    return summary.endswith(("。", "！", "？", "；", ".", "!", "?", "…", "”", '"', ")", "）"))


def _context(shared_dir: Path, prefix: str) -> str:
    (path,) = sorted((shared_dir / "context").glob(f"{prefix}_*.txt"))
    return path.read_text(encoding="utf-8")


def test_zh_keeps_the_figures_and_the_actor_in_original_order():
    summary = summarize(ZH_ARTICLE, "zh", title="上海市促进在线新经济发展行动方案")
    assert summary == (
        "4月8日，上海市人民政府办公厅印发《上海市促进在线新经济发展行动方案（2020-2022年）》。"
        "方案提出，聚焦12个发展重点，推动100个以上无人工厂建设，打造20个具有全国影响力的工业互联网平台。"
    )
    assert len(summary) <= ZH_BUDGET


def test_zh_boilerplate_never_appears():
    summary = summarize("责任编辑：张三\n来源：上海发布\n分享到：微信\n【打印】【关闭窗口】\n市政府召开常务会议，部署推进在线新经济发展。", "zh")
    assert summary == "市政府召开常务会议，部署推进在线新经济发展。"


def test_zh_long_best_sentence_is_cut_at_a_clause_with_an_ellipsis():
    sentence = "上海市人民政府印发行动方案，" + "，".join(f"推进第{i}项重点任务建设" for i in range(1, 20)) + "。"
    assert len(sentence) > ZH_BUDGET
    summary = summarize(sentence, "zh")
    assert summary.endswith("…")
    assert len(summary) <= ZH_BUDGET
    body = summary[:-1]
    assert sentence.startswith(body)
    assert sentence[len(body)] == "，"  # cut exactly at a clause boundary


def test_en_sentence_split_respects_abbreviations_decimals_and_numbers():
    text = "Growth was 3.5 percent, said Mr. Wu of No. 1 Factory. The U.S. Economy slowed. 1. The definition of the plan. Next steps follow!"
    assert [s.text for s in split_sentences(text, english=True)] == [
        "Growth was 3.5 percent, said Mr. Wu of No. 1 Factory.",
        "The U.S. Economy slowed.",
        "1. The definition of the plan.",
        "Next steps follow!",
    ]


def test_zh_sentence_split_on_full_stops_semicolons_and_lines():
    text = "第一句。第二句！第三句？第四句；第五句\n第六句“引语。”第七句"
    assert [s.text for s in split_sentences(text, english=False)] == [
        "第一句。", "第二句！", "第三句？", "第四句；", "第五句", "第六句“引语。”", "第七句",
    ]


def test_en_long_best_sentence_is_cut_with_an_ellipsis():
    sentence = "The Shanghai Municipal Government issued a plan that " + ", ".join(
        f"supports sector number {i} with new funding" for i in range(1, 16)
    ) + "."
    summary = summarize(sentence, "en")
    assert summary.endswith("…")
    assert len(summary.split()) <= EN_BUDGET
    assert sentence.startswith(summary[:-1])
    assert sentence[len(summary) - 1] == ","


def test_en_boilerplate_is_dropped():
    text = "Editor: Li Hua\nSource: Shanghai Daily\nShare\nThe Shanghai Municipal Commission of Commerce launched 30 online exhibitions this year."
    assert summarize(text, "en") == "The Shanghai Municipal Commission of Commerce launched 30 online exhibitions this year."


@pytest.mark.parametrize("text", ["", "   \n\t", "责任编辑：张三"])
def test_empty_or_all_boilerplate_gives_empty(text):
    assert summarize(text, "zh") == ""


def test_unknown_lang_is_guessed_from_the_text():
    assert summarize("市政府召开常务会议，部署推进在线新经济发展。", "") == "市政府召开常务会议，部署推进在线新经济发展。"


def test_press_conference_document(shared_dir: Path):
    text = _context(shared_dir, "000")
    summary = summarize(text, "en", title="Action Plan of Shanghai Municipality for Promoting New Online Economic Development")
    words = summary.split()
    assert 20 <= len(words) <= EN_BUDGET
    assert _ends_cleanly(summary)
    # the news: who issued what, when
    assert (
        'On April 8th, the General Office of Shanghai Municipal Government issued the "Action Plan of Shanghai '
        'Municipality for Promoting New Online Economic Development (2020-2022)"' in summary
    )
    assert "Wu Jincheng, Chairman" not in summary  # the long list of attendees is not the news


def test_forum_report_keeps_the_sentence_with_the_key_figures(shared_dir: Path):
    text = _context(shared_dir, "002")
    summary = summarize(text, "en")
    assert 20 <= len(summary.split()) <= EN_BUDGET
    assert _ends_cleanly(summary)
    assert "online retail sales were 122.7 billion yuan" in summary
    assert "a year-on-year increase of 5%" in summary
    assert "?" not in summary  # the rhetorical opening questions are not the news


def test_repeated_sentences_appear_once():
    text = "市政府召开常务会议，部署推进在线新经济发展。\n" * 5
    assert summarize(text, "zh") == "市政府召开常务会议，部署推进在线新经济发展。"


def test_an_abstract_that_fits_is_kept_and_a_long_one_is_bounded():
    from monitors.summary import bound_abstract

    assert bound_abstract("  The city opened   a terminal. ", "en") == "The city opened a terminal."
    assert bound_abstract("", "zh") == ""
    run_on = "，".join(f"推进第{i}项重点任务" for i in range(1, 40))  # one sentence, no full stop
    bounded = bound_abstract(run_on, "zh")
    assert bounded.endswith("…") and len(bounded) <= ZH_BUDGET and run_on.startswith(bounded[:-1])
    words = " ".join(["word"] * 200)
    assert len(bound_abstract(words, "en").split()) <= EN_BUDGET
