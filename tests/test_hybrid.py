"""The product's decision (model + rules): rule evidence needs only the model's assent, a model-only label can be
vetoed by the rule engine's context guards."""

from __future__ import annotations

from classifiers.hybrid import decide, guarded_labels
from classifiers.rules import RuleClassifier

RULES = RuleClassifier()


def test_guards_argue_against_labels_they_explain() -> None:
    assert guarded_labels(RULES, "血液内科开展自体及异基因造血干细胞移植，主要收治急性白血病。") == {
        "unapproved_service"
    }
    assert "exaggerated_efficacy" in guarded_labels(
        RULES, "糖尿病目前还不能根治，需要长期管理。市面上宣称“根治糖尿病”的说法没有科学依据。"
    )
    # a surviving hit wins over the guard
    assert guarded_labels(RULES, "本店干细胞回输抗衰，一次年轻十岁，预约电话0758-1234567") == set()
    assert guarded_labels(RULES, "今天天气很好。") == set()


def test_decide() -> None:
    # rule evidence: the model only has to not clearly disagree
    assert decide("exaggerated_efficacy", 0.12, False, 0.03, fired=True, guarded=False)
    assert not decide("exaggerated_efficacy", 0.01, False, 0.03, fired=True, guarded=False)
    # model alone: its own threshold, unless a guard argues against an ad/service label
    assert decide("unapproved_service", 0.9, True, 0.02, fired=False, guarded=False)
    assert not decide("unapproved_service", 0.99, True, 0.02, fired=False, guarded=True)
    assert not decide("exaggerated_efficacy", 0.97, True, 0.03, fired=False, guarded=True)
    # negative sentiment is "guarded" only by the gratitude guard (a thank-you or achievement story): veto; the
    # other sentiment guards read wording and never make the label guarded (see the next test)
    assert not decide("negative_sentiment", 0.9, True, 0.02, fired=False, guarded=True)
    assert decide("negative_sentiment", 0.9, True, 0.02, fired=False, guarded=False)
    assert not decide("negative_sentiment", 0.3, False, 0.02, fired=False, guarded=False)


def test_model_only_service_label_is_recognised() -> None:
    from domain import Finding
    from pipelines.analyze import _model_only

    def f(source: str, label: str = "unapproved_service") -> Finding:
        return Finding(category=label, label=label, start=0, end=1, text="x", legal_basis="", severity="S1",
                       source=source)  # fmt: skip

    assert _model_only([f("model:v1")], "unapproved_service")
    assert not _model_only([f("model:v1"), f("rules:svc.cell_gene.phrases")], "unapproved_service")
    assert not _model_only([f("institutions:salon")], "unapproved_service")
    assert not _model_only([], "unapproved_service")


def test_sentiment_hits_suppressed_by_wording_guards_do_not_veto_the_model() -> None:
    text = "医院开展廉洁从业教育，严禁收受红包。"
    assert any(h.suppressed_by == "sent_negation" for h in RULES.explain(text))
    assert "negative_sentiment" not in guarded_labels(RULES, text)


def test_a_refused_red_envelope_story_argues_against_negative_sentiment() -> None:
    """Like a thank-you story, a doctor returning a 红包 is praise: it vetoes a model-only negative label."""
    text = "医院开展廉洁从业教育，医护人员主动退还患者红包。"
    assert {h.suppressed_by for h in RULES.explain(text) if h.label == "negative_sentiment"} == {
        "gift_refused"
    }
    assert "negative_sentiment" in guarded_labels(RULES, text)
    taken = "该院医生收受患者红包被通报。"
    assert "negative_sentiment" not in guarded_labels(RULES, taken)


def test_an_achievement_story_that_offers_nothing_argues_against_a_model_only_efficacy_label() -> None:
    """Hospital news of a successful operation (手术顺利, 恢复良好, 回院致谢) promotes nothing by itself
    (labels.md: exaggerated_efficacy needs a text that promotes); an offer or a surviving claim keeps the label."""
    news = "近日，市一院骨科团队为一名八旬老人完成膝关节置换手术，手术顺利，老人术后恢复良好，家属回院致谢。"
    assert {"exaggerated_efficacy", "negative_sentiment"} <= guarded_labels(RULES, news)
    offer = news + "即日起预约手术可享八折优惠，咨询电话0758-1234567。"
    assert "exaggerated_efficacy" not in guarded_labels(RULES, offer)
    complaint = "市一院为老人完成膝关节置换手术，手术顺利，但术后感染，家属投诉医院处置不当。"
    assert "negative_sentiment" not in guarded_labels(RULES, complaint)
