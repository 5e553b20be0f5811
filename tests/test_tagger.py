"""Normalisation, the TermIndex rules, the default topics, and the two shared context texts."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.model import Topic
from config.settings import load_default_relevance, load_default_topics
from monitors.tagger import Tagger, TermIndex, TopicRef, normalize

FIELD_IDS = [
    "unmanned_factory", "industrial_internet", "remote_office", "online_finance",
    "online_entertainment", "online_exhibition", "fresh_food_ecommerce", "contactless_delivery",
    "new_mobility", "online_education", "online_rd_design", "online_healthcare",
]


@pytest.fixture(scope="module")
def topics() -> tuple[Topic, ...]:
    return load_default_topics()


@pytest.fixture(scope="module")
def tagger(topics) -> Tagger:
    return Tagger(topics, rules=load_default_relevance())


# --- normalize ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ＡＢＣ１２３", "abc123"),
        ("ＩＩｏＴ　平台", "iiot 平台"),
        ("“无接触”配送", "无接触配送"),
        ('"无接触"配送', "无接触配送"),
        ("＂无接触＂配送", "无接触配送"),
        ("「无接触」配送", "无接触配送"),
        ("『无接触』配送", "无接触配送"),
        ("‘无接触’配送", "无接触配送"),
        ("四个“100+”", "四个100+"),
        ("  Remote \t\n  Working  ", "remote working"),
        ("无人\n工厂", "无人工厂"),
        ("E-Learning", "e learning"),
        ("沪府办发［2020］1号", "沪府办发[2020]1号"),
        ("全角，标点：（测试）％！", "全角,标点:(测试)%!"),
        ("ｅ－ｌｅａｒｎｉｎｇ，ａｎｄ", "e learning,and"),
    ],
)
def test_normalize(raw: str, expected: str):
    assert normalize(raw) == expected


def test_normalize_is_idempotent():
    text = "“在线新经济” ＡＩ　and E-Learning\n 无人 工厂"
    assert normalize(normalize(text)) == normalize(text)


# --- TermIndex rules -----------------------------------------------------------------------


def index_of(*terms: str) -> TermIndex[str]:
    return TermIndex.from_pairs((t, t) for t in terms)


def test_chinese_terms_match_as_substrings_in_any_quote_form():
    index = index_of("无接触配送", "无人工厂")
    for text in ("推广“无接触”配送服务", '推广"无接触"配送服务', "推广无接触配送服务", "推广「无接触」配送"):
        assert index.scan(text) == {"无接触配送": {"无接触配送"}}, text
    assert index.scan("建设100家无人工厂和无人车间") == {"无人工厂": {"无人工厂"}}
    assert index.scan("无接触服务和配送") == {}


@pytest.mark.parametrize(
    ("term", "text", "hit"),
    [
        ("telemedicine", "Shanghai expands telemedicine services.", True),
        ("telemedicine", "TELEMEDICINE.", True),
        ("e-learning", "E-Learning platforms grew", True),
        ("e-learning", "e learning platforms grew", True),
        ("fintech", "Three fintechs opened offices", True),
        ("fintech", "(Fintech)", True),
        ("fintech", "superfintech", False),
        ("IIoT", "an iiot gateway", True),
        ("IIoT", "the ＩＩＯＴ gateway", True),
        ("robotaxi", "Robotaxis hit the road", True),
        ("robotaxi", "推进Robotaxi示范应用", True),
        ("MaaS", "bike paths in Maastricht", False),
        ("MaaS", "MaaS apps", True),
        ("EDA", "a medal winner", False),
        ("EDA", "国产EDA软件", True),
        ("smart factory", "two smart\n   factories", True),
        ("smart factory", "smart factoryline", False),
        ("unmanned delivery", "unmanned deliveries in retail", True),
        ("bus", "electric buses", True),
        ("online course", "online courseware", False),
    ],
)
def test_latin_terms_match_on_word_boundaries_with_plurals(term: str, text: str, hit: bool):
    assert (index_of(term).scan(text) == {term: {term}}) is hit


def test_payloads_are_arbitrary_and_shared_terms_report_every_payload():
    index: TermIndex[object] = TermIndex()
    index.add("数据安全", 1)
    index.add("数据安全", ("chat", 2))
    index.add("“数据”安全", 3)  # the same term once normalised, reported as written
    index.add("data security", 1)
    index.build()
    found = index.scan("加强数据安全 and data security")
    assert found == {1: {"数据安全", "data security"}, ("chat", 2): {"数据安全"}, 3: {"“数据”安全"}}
    assert len(index) == 4


def test_index_is_built_once_then_immutable():
    index: TermIndex[int] = TermIndex()
    index.add("无人工厂", 1)
    with pytest.raises(RuntimeError):
        index.scan("无人工厂")
    index.build()
    with pytest.raises(RuntimeError):
        index.add("云制造", 2)
    assert index.scan("无人工厂") == {1: {"无人工厂"}}
    with pytest.raises(ValueError):
        TermIndex().add(" “” ", 1)
    assert TermIndex().build().scan("anything") == {}


def test_ten_thousand_terms_in_one_index():
    pool = "甲乙丙丁戊己庚辛壬癸子丑寅卯辰巳午未申酉"
    zh = [a + b + c + d for a in pool for b in pool[:5] for c in pool[:5] for d in pool[:10]][:5000]
    en = [f"kw{i:05d}x" for i in range(5000)]
    pairs = [(t, ("zh", i)) for i, t in enumerate(zh)] + [(t, ("en", i)) for i, t in enumerate(en)]
    index = TermIndex.from_pairs(pairs)
    assert len(index) == 10_000
    text = f"今天{zh[4321]}。Then KW00042X and kw00042xy, kw4999x, {zh[7]}"
    assert index.scan(text) == {("zh", 4321): {zh[4321]}, ("en", 42): {"kw00042x"}, ("zh", 7): {zh[7]}}


# --- the default topics ----------------------------------------------------------------


def test_default_topics_plan_group_then_the_twelve_fields(topics):
    assert topics[0].id == "plan" and topics[0].kind == "plan"
    assert [t.id for t in topics[1:]] == FIELD_IDS
    assert all(t.kind == "field" and t.zh and t.en and t.name_zh and t.name_en for t in topics[1:])


def test_no_term_is_claimed_twice_or_hides_inside_another_topics_term(topics):
    owner: dict[str, str] = {}
    for topic in topics:
        for term in (*topic.zh, *topic.en):
            key = normalize(term)
            assert key, term
            assert key not in owner, f"{term!r} is in {owner.get(key)} and {topic.id}"
            owner[key] = topic.id
    # a Chinese term inside another topic's term would tag the wrong field (无人车 in 无人车间)
    chinese = [k for k in owner if any("\u4e00" <= ch <= "\u9fff" for ch in k)]
    for short in chinese:
        for long in chinese:
            if short != long and short in long:
                assert owner[short] == owner[long], f"{short!r} ({owner[short]}) inside {long!r} ({owner[long]})"


@pytest.mark.parametrize(
    "text",
    ["5G", "大数据", "人工智能", "直播", "平台", "互联网", "区块链", "AI", "live streaming", "streaming",
     "零售", "医疗", "餐饮", "音频", "应用场景", "龙头企业", "视频会议", "Canadian dollar (CAD)",
     "5G、大数据、人工智能赋能直播平台", "AI, 5G, Internet, big data, block chain"],
)
def test_generic_words_alone_trigger_nothing(tagger: Tagger, text: str):
    assert tagger.tag("", text).topics == ()


@pytest.mark.parametrize(
    ("text", "topic", "term"),
    [
        ("推进“无接触”配送", "contactless_delivery", "无接触配送"),
        ("建成一批无人车间", "unmanned_factory", "无人车间"),
        ("首张公立互联网医院牌照", "online_healthcare", "互联网医院"),
        ("晓黑板上线新功能", "online_education", "晓黑板"),
        ("推广ＩＩｏＴ应用", "industrial_internet", "IIoT"),
        ("Robotaxis in Jiading", "new_mobility", "Robotaxi"),
        ("mobility-as-a-service pilots", "new_mobility", "mobility-as-a-service"),
        ("社区前置仓扩容", "fresh_food_ecommerce", "前置仓"),
        ("数字人民币试点", "online_finance", "数字人民币"),
        ("云逛展", "online_exhibition", "云逛展"),
        ("协同设计平台", "online_rd_design", "协同设计"),
        ("电竞之都", "online_entertainment", "电竞"),
        ("云视讯", "remote_office", "云视讯"),
        ("沪府办发〔2020〕1号", "plan", "沪府办发〔2020〕1号"),
    ],
)
def test_a_fields_term_alone_triggers_it(tagger: Tagger, text: str, topic: str, term: str):
    match = tagger.tag("", text)
    assert match.topics == (topic,)
    assert match.matched == {topic: [term]}


def test_topics_come_in_plan_order_with_sorted_configured_terms(tagger: Tagger):
    match = tagger.tag("", "互联网医院开通在线问诊。无人工厂采用柔性制造。“在线新经济”。Remote working 与 work from home。")
    assert match.topics == ("plan", "unmanned_factory", "remote_office", "online_healthcare")
    assert match.matched == {
        "plan": ["在线新经济"],
        "unmanned_factory": ["无人工厂", "柔性制造"],
        "remote_office": ["remote working", "work from home"],
        "online_healthcare": ["互联网医院", "在线问诊"],
    }
    assert match.mentions == ()


def test_a_term_never_spans_title_and_body(tagger: Tagger):
    assert tagger.tag("无人", "工厂").topics == ()
    assert tagger.tag("无人工厂", "").topics == ("unmanned_factory",)


def test_extra_terms_share_the_automaton_without_colliding_with_topics(topics):
    tagger = Tagger(topics, extra=[("数据安全", 101), ("在线教育", "online_education"), ("无人工厂", 102)])
    match, extra = tagger.scan("数据安全与在线教育", "")
    assert match.topics == ("online_education",)
    assert extra == {101: {"数据安全"}, "online_education": {"在线教育"}}
    assert TopicRef("online_education") != "online_education"


# --- the shared context documents ----------------------------------------------------------


def context_text(shared_dir: Path, prefix: str) -> str:
    (path,) = sorted((shared_dir / "context").glob(f"{prefix}_*.txt"))
    return path.read_text(encoding="utf-8")


def test_press_conference_text_000(shared_dir: Path, tagger: Tagger):
    # The 2020-04-13 press conference on the plan: the plan is the subject; unmanned factories
    # and the industrial internet are its first two "key development points", a list.
    match = tagger.tag("", context_text(shared_dir, "000"))
    assert match.topics == ("plan",)
    assert match.mentions == ("unmanned_factory", "industrial_internet")
    assert {"new online economy", "online, intelligent and interactive"} <= set(match.matched["plan"])
    assert match.terms("unmanned_factory") == [
        "cloud manufacturing", "flexible manufacturing", "new manufacturing mode",
        "shared manufacturing", "unmanned factory",
    ]
    assert match.terms("industrial_internet") == ["industrial internet"]
    assert all(e.listed for e in match.evidence["unmanned_factory"])


def test_forum_report_002(shared_dir: Path, tagger: Tagger):
    # A forum report that runs through the sectors: about the plan, every field a mention.
    match = tagger.tag("", context_text(shared_dir, "002"))
    assert match.topics == ("plan",)
    assert set(match.mentions) >= {"unmanned_factory", "industrial_internet", "new_mobility", "online_education", "online_healthcare"}
    assert match.terms("online_healthcare") == ["internet hospital", "online medical"]
    assert match.terms("online_education") == ["online education"]
    assert match.terms("new_mobility") == ["unmanned driving"]
    assert match.terms("unmanned_factory") == ["intelligent manufacturing", "smart factory"]
    assert "online new economy" in match.matched["plan"]
    assert all(match.scores[t] < 0.5 for t in match.mentions)
    # mentions finance, 5G, big data, cloud computing and retail, but none of these fields
    for topic in ("online_finance", "remote_office", "contactless_delivery", "fresh_food_ecommerce"):
        assert topic not in match.topics and topic not in match.mentions
