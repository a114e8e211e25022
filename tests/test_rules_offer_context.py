"""Reporting versus offering: a service named in news, a court or police report, a warning or an explainer is told
about, not offered (the ``reported`` guard); a cell-therapy term needs a non-medical purpose or an offer
(``no_purpose``); a service hit that survives stands in the hybrid decision without the model's assent.

Every sentence here is written for this test (not taken from any corpus split)."""

from __future__ import annotations

import pytest

from classifiers.hybrid import decide, guarded_labels, standalone_labels
from classifiers.rules import RuleClassifier

RULES = RuleClassifier()


def _labels(text: str) -> list[str]:
    return RULES.classify([text])[0].labels


def _suppressors(text: str) -> set[str | None]:
    return {h.suppressed_by for h in RULES.explain(text)}


REPORTED = [
    # court report
    ("court", "法院审理查明，被告人王某组织他人代孕牟利，共介绍委托人十余名。", "svc_surrogacy_gamete_trade"),
    # police news with attribution
    ("police", "据晚报报道，警方近日端掉一个地下卖肾窝点，三名中介落网。", "svc_organ_trade"),
    # regulator's warning to consumers
    (
        "warning",
        "卫生监督部门提醒：在美容院注射玻尿酸属于非法行医，消费者切勿贪图便宜。",
        "svc_non_medical_beauty",
    ),
    # explainer of the ban
    (
        "ban explainer",
        "我国法律明令禁止买卖卵子，供卵只能来自试管周期中自愿捐出剩余卵子的患者。",
        "svc_surrogacy_gamete_trade",
    ),
    # debunking a third party's advertising
    (
        "debunk",
        "所谓的天赋基因检测，不过是打着科技幌子的营销话术，家长不必花这笔钱。",
        "svc_genetic_testing_claims",
    ),
]


@pytest.mark.parametrize(("name", "text", "category"), REPORTED, ids=[n for n, *_ in REPORTED])
def test_reported_service_is_not_flagged(name: str, text: str, category: str) -> None:
    hits = [h for h in RULES.explain(text) if h.category == category]
    assert hits, f"{name}: the rule should still match so a reviewer sees why it was not flagged"
    assert all(h.suppressed for h in hits), [(h.text, h.suppressed_by) for h in hits]
    assert "unapproved_service" not in _labels(text)
    # the story is about the service: a model-only service label is vetoed too
    assert "unapproved_service" in guarded_labels(RULES, text)


OFFERED = [
    # same services, offered: contact, booking, first person, WeChat, call to action
    ("surrogacy offer", "我们提供一站式代孕服务，成功率高，欢迎有需要的家庭添加微信号 baby8866 咨询。"),
    ("organ broker", "长期高价收肾，包配型，联系电话 13812345678，专人对接。"),
    ("salon injection", "本店美容院开展玻尿酸注射，限时特价 299 元，立即预约！"),
    ("egg donation agency", "优质卵源匹配，为您推荐学历高、颜值好的捐卵志愿者，名额有限。"),
    ("talent test", "儿童天赋基因检测，预约即送性格分析报告，帮您发现孩子潜能。"),
]


@pytest.mark.parametrize(("name", "text"), OFFERED, ids=[n for n, _ in OFFERED])
def test_offered_service_is_flagged_even_with_a_warning_word(name: str, text: str) -> None:
    assert "unapproved_service" in _labels(text), RULES.explain(text)
    # with a warning word added, the offer still wins
    warned = text + "市场上违规机构很多，请谨慎选择。"
    assert "unapproved_service" in _labels(warned), [(h.text, h.suppressed_by) for h in RULES.explain(warned)]
    assert "unapproved_service" in standalone_labels(RULES, warned)


def test_reported_guard_needs_a_reporting_cue() -> None:
    # third-person description without attribution or warning: a service page, still flagged
    text = "香港验血查男女只需抽取孕妈少量静脉血，七周即可检测，结果准确。"
    assert "unapproved_service" in _labels(text)
    assert "reported" not in _suppressors(text)


def test_cell_therapy_in_research_text_is_a_topic_not_an_offer() -> None:
    text = "目的：观察间充质干细胞治疗对小鼠肺纤维化模型的影响，并比较两组的炎症因子水平。"
    hits = [h for h in RULES.explain(text) if h.category == "svc_unapproved_cell_gene_therapy"]
    assert hits and all(h.suppressed_by == "no_purpose" for h in hits), [
        (h.text, h.suppressed_by) for h in hits
    ]
    assert _labels(text) == []
    # thin evidence is not evidence against: the model may still decide such a text
    assert "unapproved_service" not in guarded_labels(RULES, text)


@pytest.mark.parametrize(
    "text",
    [
        "定期回输自体免疫细胞，可以改善亚健康，让身体保持年轻态。",  # non-medical purpose
        "干细胞抗衰疗程三次，每次输注一亿个细胞，效果可维持两年。",  # anti-ageing course
        "NK细胞治疗无副作用，适合所有想提升免疫力的中老年人。",  # safety promise, healthy people
    ],
)
def test_cell_therapy_with_a_non_medical_purpose_is_flagged(text: str) -> None:
    assert "unapproved_service" in _labels(text), [(h.text, h.suppressed_by) for h in RULES.explain(text)]
    assert "unapproved_service" in standalone_labels(RULES, text)


def test_standalone_service_evidence_needs_no_model_assent() -> None:
    # a surviving service hit stands even when the model scores the text 0.0
    assert decide("unapproved_service", 0.0, False, 0.03, fired=True, guarded=False, standalone=True)
    # other rule evidence still needs the model's assent
    assert not decide("exaggerated_efficacy", 0.0, False, 0.03, fired=True, guarded=False)
    assert decide("exaggerated_efficacy", 0.05, False, 0.03, fired=True, guarded=False)


def test_standalone_labels_are_only_surviving_service_hits() -> None:
    assert standalone_labels(RULES, "据报道，警方查处一家代孕中介，涉案人员已被拘留。") == set()
    assert standalone_labels(RULES, "本院治疗效果显著，一次根治，预约电话 0758-1234567。") == set()
    assert standalone_labels(RULES, "今天天气很好。") == set()


def test_harm_told_in_the_same_sentence_is_an_incident_not_an_offer() -> None:
    story = "一名顾客在城南某养生美容会所注射玻尿酸后鼻头坏死，已转院治疗。"
    assert "reported" in _suppressors(story), RULES.explain(story)
    assert "unapproved_service" not in _labels(story)
    # the same salon selling the injection, with no harm in the sentence, is still flagged
    offer = "城南某养生美容会所注射玻尿酸，当天见效，会员八折。"
    assert "unapproved_service" in _labels(offer), RULES.explain(offer)


def test_official_tcm_title_is_not_a_secret_remedy_claim() -> None:
    news = "全国名老中医药专家传承工作室昨日在市中医院揭牌，将带教十名青年医师。"
    assert "exaggerated_efficacy" not in _labels(news), RULES.explain(news)
    ad = "祖传秘方，老中医坐诊，专治各种皮肤病。"
    assert "exaggerated_efficacy" in _labels(ad), RULES.explain(ad)


def test_prohibited_injection_in_a_warning_is_not_an_ad() -> None:
    warning = "肉毒毒素属于毒性药品，美容院无权使用，消费者谨防非法注射瘦脸针。价格低得离谱的更要当心。"
    assert "exaggerated_efficacy" not in _labels(warning), RULES.explain(warning)


def test_law_text_without_an_institution_vetoes_model_only_negative_sentiment() -> None:
    law = "《广告法》第五十八条规定，发布违法医疗广告的，由市场监督管理部门责令停止发布，并处以罚款。"
    assert "negative_sentiment" in guarded_labels(RULES, law)
    assert not decide("negative_sentiment", 0.9, True, 0.06, fired=False, guarded=True)
    # the same article cited in a story about a named hospital is not vetoed
    named = "江州华美医院发布违法医疗广告，依据《广告法》第五十八条被罚款二十万元。"
    assert "negative_sentiment" not in guarded_labels(RULES, named)


def test_a_warning_page_vetoes_model_only_ad_and_service_labels() -> None:
    # no rule hit at all: the veto rests on the page reading as a warning that offers nothing
    warning = "专家提醒：网上流传的各种神奇疗法多是营销话术，切勿轻信，身体不适请到医院就诊。"
    assert {"exaggerated_efficacy", "unapproved_service"} <= guarded_labels(RULES, warning)
    # the same warning on a page that offers something does not veto
    offer = warning + "本院专家门诊，预约电话 0758-1234567。"
    assert not {"exaggerated_efficacy", "unapproved_service"} & guarded_labels(RULES, offer)


def test_promise_on_an_unapproved_service_page_stands_with_it() -> None:
    page = "自体干细胞回输，三次疗程即可延缓衰老，让您年轻十岁。"
    assert standalone_labels(RULES, page) == {"unapproved_service", "exaggerated_efficacy"}
    fetal = "赴港验血查男女，七周即可检测，准确率高达99%。"
    assert standalone_labels(RULES, fetal) == {"unapproved_service", "exaggerated_efficacy"}
    # an effect promise without a service hit still needs the model's assent
    assert standalone_labels(RULES, "坚持服用本品，延缓衰老，精神焕发，咨询电话 400-123-4567。") == set()
    # an explainer of the test's accuracy that warns against it: nothing stands
    warning = "据报道，所谓香港验血查男女准确率高达99%的说法并无依据，警方提醒切勿轻信中介。"
    assert standalone_labels(RULES, warning) == set()
