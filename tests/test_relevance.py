"""Relevance: topics (what an item is about) versus mentions, on the default topics and rules.

Each test states one rule of monitors/relevance.py (documented in config/topics.toml) with
a text built to isolate it; the evaluation on real passages is test_relevance_eval.py.
"""

from __future__ import annotations

import dataclasses
import tomllib

import pytest

from config.model import RelevanceRules, Topic
from config.settings import ConfigError, load_default_relevance, load_default_topics, parse_relevance, parse_topics
from monitors.tagger import Tagger, TermIndex, normalize

FILLER = "市政府召开常务会议,研究部署防汛防台、垃圾分类和旧区改造等工作,要求各区各部门压实责任、细化措施、确保落实。"
LONG = FILLER * 4  # one paragraph longer than the shipped lead_chars (200)


@pytest.fixture(scope="module")
def tagger() -> Tagger:
    return Tagger(load_default_topics(), rules=load_default_relevance())


def body(*paragraphs: str) -> str:
    return "\n".join(paragraphs)


# --- places: title, lead, body ----------------------------------------------------------


def test_one_term_in_the_title_makes_the_item_about_its_field(tagger: Tagger):
    match = tagger.tag("互联网医院开通夜间门诊", body(LONG, LONG))
    assert match.topics == ("online_healthcare",)
    assert match.evidence["online_healthcare"][0].places == ("title",)
    assert match.scores["online_healthcare"] == pytest.approx(3 / (3 + 1.5), abs=1e-3)


def test_one_term_in_the_lead_is_about_one_further_down_is_a_mention(tagger: Tagger):
    lead = tagger.tag("", body("本市推进互联网医院建设。" + LONG, LONG, LONG))
    assert lead.topics == ("online_healthcare",) and lead.mentions == ()
    assert lead.evidence["online_healthcare"][0].places == ("lead",)
    deep = tagger.tag("", body(LONG, LONG, "本市推进互联网医院建设。"))
    assert deep.topics == () and deep.mentions == ("online_healthcare",)
    assert deep.evidence["online_healthcare"][0].places == ("body",)
    assert deep.scores["online_healthcare"] < 0.5 <= lead.scores["online_healthcare"]


def test_repetition_and_distinct_terms_add_up_in_the_body(tagger: Tagger):
    once = tagger.tag("", body(LONG, LONG, "建设智能工厂。"))
    many = tagger.tag("", body(LONG, LONG, "建设智能工厂和无人生产线。智能工厂采用柔性制造。"))
    assert once.mentions == ("unmanned_factory",)
    assert many.topics == ("unmanned_factory",)
    (factory,) = [e for e in many.evidence["unmanned_factory"] if e.term == "智能工厂"]
    assert factory.count == 2 and factory.places == ("body",)


def test_the_lead_is_the_first_paragraphs_up_to_lead_chars(tagger: Tagger):
    short = "简讯。"  # far shorter than lead_chars: the next paragraph belongs to the lead too
    assert tagger.tag("", body(short, "本市推进互联网医院建设。", LONG, LONG)).topics == ("online_healthcare",)
    assert tagger.tag("", body(LONG, "本市推进互联网医院建设。", LONG)).topics == ()


def test_an_explicit_lead_counts_as_lead_and_is_not_counted_twice(tagger: Tagger):
    summary = "本市推进互联网医院建设。"
    match = tagger.tag("", body(summary, LONG, LONG), lead=summary)
    (evidence,) = match.evidence["online_healthcare"]
    assert evidence.count == 1 and evidence.places == ("lead",)
    # a list summary as the lead of an item whose body is something else
    other = tagger.tag("", body(LONG, LONG), lead=summary)
    assert other.topics == ("online_healthcare",)


# --- title-only items ----------------------------------------------------------------------


def test_title_only_items(tagger: Tagger):
    assert tagger.tag("上海数字人民币在哪些商家消费", "").topics == ("online_finance",)
    assert tagger.tag("Online classes begin for city's students", "").topics == ("online_education",)
    assert tagger.tag("上海市居住区绿化调整实施办法", "") == tagger.tag("", "")
    # a title naming four fields is a list, even alone
    listed = tagger.tag("远程办公、在线教育、互联网医院和无人配送齐发力", "")
    assert listed.topics == () and len(listed.mentions) == 4


# --- enumerations ----------------------------------------------------------------------------


def test_a_sentence_naming_four_fields_is_an_enumeration(tagger: Tagger):
    listed = tagger.tag("", "行动方案聚焦无人工厂、工业互联网、远程办公、在线教育等重点领域。" + FILLER)
    assert listed.topics == ()
    assert listed.mentions == ("unmanned_factory", "industrial_internet", "remote_office", "online_education")
    assert all(e.listed for t in listed.mentions for e in listed.evidence[t])
    three = tagger.tag("", "行动方案聚焦无人工厂、工业互联网、远程办公等重点领域。" + FILLER)
    assert three.topics == ("unmanned_factory", "industrial_internet", "remote_office")


def test_semicolons_do_not_split_a_list_but_full_stops_do(tagger: Tagger):
    listed = tagger.tag("", "意见提出:发展在线教育;发展互联网医疗;鼓励线上办公;发展网络视听。" + FILLER)
    assert listed.topics == ()
    apart = tagger.tag("", "发展在线教育。发展互联网医疗。鼓励线上办公。" + FILLER)
    assert apart.topics == ("remote_office", "online_education", "online_healthcare")


def test_an_item_naming_five_fields_is_a_recap_except_for_its_title(tagger: Tagger):
    recap = body(
        "无人工厂方面,建设一批无人生产线。",
        "工业互联网方面,建设工业互联网平台。",
        "在线教育方面,推广空中课堂。",
        "在线医疗方面,发展互联网医院。",
        "远程办公方面,推广云办公。",
    )
    match = tagger.tag("", recap)
    assert match.topics == ()
    assert len(match.mentions) == 5
    titled = tagger.tag("互联网医院加快发展", recap)
    assert titled.topics == ("online_healthcare",)


def test_a_list_cue_makes_its_paragraph_and_the_announced_one_a_list(tagger: Tagger):
    plain = "Build more than 100 unmanned factories and flexible manufacturing lines."
    assert tagger.tag("", plain).topics == ("unmanned_factory",)
    assert tagger.tag("", "Focus on 12 key development points. " + plain).topics == ()
    announced = body("行动方案在12个重点领域全面布局发力:", "无人工厂,建设100家以上无人工厂、无人生产线。")
    assert tagger.tag("", announced).mentions == ("unmanned_factory",)
    assert tagger.tag("", body("行动方案在12个重点领域全面布局发力。", "建设100家以上无人工厂、无人生产线。")).topics == (
        "unmanned_factory",
    )


# --- dominance and the plan group ----------------------------------------------------------


def test_a_field_far_weaker_than_the_subject_is_a_mention(tagger: Tagger):
    match = tagger.tag(
        "互联网医院开通在线复诊",
        body("患者可在互联网医院在线问诊、在线复诊,药品由远程医疗中心统一配送。", "部分药品由无人配送车送达社区。"),
    )
    assert match.topics == ("online_healthcare",)
    assert match.mentions == ("contactless_delivery",)


def test_the_plan_group_is_never_listed_and_outweighs_a_passing_field(tagger: Tagger):
    recap = body(
        "《上海市促进在线新经济发展行动方案》发布,在线新经济迎来新机遇。",
        "方案提出发展无人工厂、工业互联网、远程办公、在线金融、在线教育等新业态。",
    )
    match = tagger.tag("上海发布在线新经济行动方案", recap)
    assert match.topics == ("plan",)
    assert set(match.mentions) == {"unmanned_factory", "industrial_internet", "remote_office", "online_finance", "online_education"}
    passing = tagger.tag("在线新经济发展论坛举行", "在线新经济论坛举行,嘉宾认为在线新经济潜力巨大。会上还介绍了互联网医院。")
    assert passing.topics == ("plan",) and passing.mentions == ("online_healthcare",)


# --- weak terms and exclusions -------------------------------------------------------------


def test_a_weak_term_alone_is_a_mention(tagger: Tagger):
    weak = tagger.tag("", "上海将打造国家智能制造示范基地,推动智能制造发展。" + FILLER)
    assert weak.topics == () and weak.mentions == ("unmanned_factory",)
    strong = tagger.tag("", "上海将新建一批智能工厂。" + FILLER)
    assert strong.topics == ("unmanned_factory",)


@pytest.mark.parametrize(
    "text",
    [
        "码头上四台无人驾驶的AGV正在依次待命,桥吊司机在远程操控室作业。",
        "集装箱卡车逐步换成自动驾驶的无人车辆,堆场效率提升。",
        "Driverless trucks move containers at the port terminal.",
        "The Canadian dollar (CAD) fell against the US dollar.",
        "展会期间,主办方拍摄短视频宣传进博会。",
        "居民还是习惯去菜市场买菜。",
        "新闻发布会采用云视讯系统远程连线。",
    ],
)
def test_excluded_contexts_count_nowhere(tagger: Tagger, text: str):
    match = tagger.tag("", text)
    assert match.topics == () and match.mentions == (), match


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("嘉定开放无人驾驶出租车示范运营。", "new_mobility"),
        ("Driverless taxis carry passengers in Pudong.", "new_mobility"),
        ("国产CAD软件加快替代。", "online_rd_design"),
        ("Cloud-native CAD tools let engineers edit one model together.", "online_rd_design"),
        ("叮咚买菜订单大增,居民在手机上买菜。", "fresh_food_ecommerce"),
    ],
)
def test_the_same_terms_outside_those_contexts_still_count(tagger: Tagger, text: str, topic: str):
    assert tagger.tag("", text).topics == (topic,)


def test_one_occurrence_inside_a_longer_term_of_its_topic_counts_once(tagger: Tagger):
    match = tagger.tag("", body(LONG, "It will serve internet-connected cars."))
    assert match.evidence["new_mobility"] == tuple(e for e in match.evidence["new_mobility"] if e.term == "internet-connected car")


# --- keyword alerts stay literal -----------------------------------------------------------


def test_keywords_stay_literal_wherever_they_occur(tagger: Tagger):
    topics = load_default_topics()
    with_keywords = Tagger(topics, extra=[("在线教育", "kw-edu"), ("数据安全", 7)], rules=load_default_relevance())
    text = body(LONG, LONG, "行动方案聚焦无人工厂、工业互联网、远程办公、在线教育。加强数据安全。")
    match, keywords = with_keywords.scan("", text)
    assert match.topics == () and "online_education" in match.mentions
    assert keywords == {"kw-edu": {"在线教育"}, 7: {"数据安全"}}


def test_split_normalized_reports_where_each_term_is():
    index: TermIndex[object] = TermIndex.from_pairs([("互联网医院", "a"), ("smart factory", "b"), ("数据安全", 3)])
    text = normalize("两家互联网医院; two Smart Factories, 数据安全")
    located, rest = index.split_normalized(text, str)
    assert located == {"a": [(2, 7, "互联网医院")], "b": [(13, 28, "smart factory")]}
    assert text[13:28] == "smart factories"
    assert rest == {3: {"数据安全"}}


# --- configuration ---------------------------------------------------------------------------


def test_shipped_rules_are_the_documented_defaults():
    shipped = load_default_relevance()
    assert dataclasses.replace(shipped, list_cues=()) == RelevanceRules()
    assert "12个重点领域" in shipped.list_cues


def topics_toml(extra: str) -> dict:

    return tomllib.loads('[[topics]]\nid = "x"\nname_zh = "x"\nname_en = "x"\nzh = ["互联网医院"]\nen = ["CAD"]\n' + extra)


@pytest.mark.parametrize(
    ("extra", "key", "problem"),
    [
        ('weak = ["远程医疗"]', "topics[0].weak", "not one of this topic's"),
        ('exclude = [{ term = "CAD", context = ["dollar"] }]', "topics[0].exclude[0].reason", "is required"),
        ('exclude = [{ term = "CAD", context = [], reason = "r" }]', "topics[0].exclude[0].context", "at least one"),
        ('exclude = [{ term = "EDA", context = ["x"], reason = "r" }]', "topics[0].exclude[0].term", "not one of"),
        ('exclude = [{ term = "CAD", context = ["x"], reason = "r", why = 1 }]', "topics[0].exclude[0].why", "unknown key"),
    ],
)
def test_bad_weak_terms_and_exclusions_are_named(extra: str, key: str, problem: str):
    with pytest.raises(ConfigError) as err:
        parse_topics(topics_toml(extra), "t.toml")
    assert err.value.key == key and problem in err.value.problem


def test_exclusions_and_weak_terms_are_parsed():
    (topic,) = parse_topics(
        topics_toml('weak = ["CAD"]\nexclude = [{ term = "CAD", context = ["dollar"], reason = "currency" }]'), "t.toml"
    )
    assert isinstance(topic, Topic) and topic.weak == ("CAD",)
    assert topic.exclusions[0].context == ("dollar",) and topic.exclusions[0].reason == "currency"


@pytest.mark.parametrize(
    ("table", "key", "problem"),
    [
        ({"about": 1.5}, "relevance.about", "between 0 and 1"),
        ({"half": 0}, "relevance.half", "positive"),
        ({"title_weight": -1}, "relevance.title_weight", "positive"),
        ({"lead_chars": 2.5}, "relevance.lead_chars", "integer"),
        ({"dominance": 2}, "relevance.dominance", "share"),
        ({"list_cues": ["ok", ""]}, "relevance.list_cues", "non-empty"),
        ({"enumeration": 4}, "relevance.enumeration", "unknown key"),
    ],
)
def test_bad_relevance_rules_are_named(table: dict, key: str, problem: str):
    with pytest.raises(ConfigError) as err:
        parse_relevance({"relevance": table}, "t.toml")
    assert err.value.key == key and problem in err.value.problem


def test_relevance_rules_from_a_topics_file_drive_the_tagger():
    topics = load_default_topics()
    strict = parse_relevance({"relevance": {"about": 0.7}}, "t.toml")
    text = body("本市推进互联网医院建设。" + LONG, LONG)
    assert Tagger(topics, rules=load_default_relevance()).tag("", text).topics == ("online_healthcare",)
    assert Tagger(topics, rules=strict).tag("", text).mentions == ("online_healthcare",)
