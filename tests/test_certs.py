"""Review-certificate numbers (legal_taxonomy.md §1.3): format, province, validity."""

from __future__ import annotations

from datetime import date

import pytest

from classifiers.certs import PROVINCES, cert_findings, find_review_certs, missing_cert_finding
from classifiers.rules import RuleClassifier

TODAY = date(2024, 6, 1)


def one(text: str, **kw) -> object:
    certs = find_review_certs(text, TODAY, **kw)
    assert len(certs) == 1, certs
    return certs[0]


def test_valid_standard_number_is_reported_without_finding() -> None:
    text = "广州某某医院 地址：越秀区某路1号 粤医广【2024】第03-15-001号"
    c = one(text)
    assert c.status == "valid" and c.valid
    assert c.kind == "medical" and c.province == "广东"
    assert c.approved_on == date(2024, 3, 15) and c.expires_on == date(2025, 3, 15)
    assert c.finding is None
    assert text[c.start : c.end] == c.number == "粤医广【2024】第03-15-001号"
    assert "有效审查证明" in c.display
    assert cert_findings(text, TODAY) == []


def test_textbook_seven_digit_and_tcm_and_shandong_forms() -> None:
    c = one("（京）中医广【2024】第0130010号")
    assert (c.kind, c.province, c.approved_on, c.status) == (
        "tcm_medical",
        "北京",
        date(2024, 1, 30),
        "valid",
    )
    c = one("鲁医广【2024】第0102-001-3711号")
    assert (c.province, c.approved_on, c.status) == ("山东", date(2024, 1, 2), "valid")
    c = one("(沪)医广[2023]第12-01-7号")  # half-width brackets
    assert (c.province, c.approved_on, c.status) == ("上海", date(2023, 12, 1), "valid")


def test_expired_number_is_low_severity_finding() -> None:
    text = "（京）中医广【2007】第01-30-10号"
    c = one(text)
    assert c.status == "expired"
    assert c.expires_on == date(2008, 1, 30)
    f = c.finding
    assert f is not None and f.category == "ad_missing_invalid_review_cert" and f.label is None
    assert f.severity == "S4"
    assert "第十三条" in f.legal_basis or "第十九条" in f.legal_basis
    assert "过期" in f.reason and text[f.start : f.end] == f.text


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("医广【2024】第03-15-001号", "缺少省"),
        ("（港）医广【2024】第03-15-001号", "不是省级行政区简称"),
        ("粤医广【2024】第13-40-001号", "不存在"),
        ("粤医广【2030】第03-15-001号", "年份"),
        ("粤医广【2024】第12-30-001号", "晚于今天"),
        ("粤医广【2024】第315号", "格式异常"),
    ],
)
def test_malformed_numbers(text: str, problem: str) -> None:
    c = one(text)
    assert c.status == "malformed"
    assert any(problem in p for p in c.problems), c.problems
    assert c.finding is not None and c.finding.severity == "S2"
    assert "第四十八条" in c.finding.legal_basis


def test_province_must_match_institution_region() -> None:
    c = one("粤医广【2024】第03-15-001号", region="湖南省长沙市")
    assert c.status == "malformed"
    assert "不符" in c.problems[0]
    assert one("粤医广【2024】第03-15-001号", region="广东省广州市").valid


def test_all_31_provinces() -> None:
    assert len(set(PROVINCES.values())) == 31
    for abbr in PROVINCES:
        assert one(f"{abbr}医广【2024】第03-15-001号").valid


def test_drug_ad_numbers() -> None:
    c = one("粤药广审（文）第240112-00637号")
    assert (c.kind, c.status, c.approved_on) == ("drug", "valid", date(2024, 1, 12))
    old = one("京药广审(视)第2021080123号")
    assert old.status == "expired" and old.finding is not None and old.finding.severity == "S4"
    aged = one("苏械广审（文）第210301-00001号")
    assert aged.status == "possibly_expired" and aged.finding.severity == "S4"


def test_missing_certificate() -> None:
    ad = "某某男科医院，专家坐诊，预约电话400-123-4567"
    f = missing_cert_finding(ad)
    assert f is not None
    assert (f.category, f.severity, f.label) == ("ad_missing_invalid_review_cert", "S2", None)
    assert "第四十六条" in f.legal_basis and "未标注" in f.reason
    assert "中医药法" in missing_cert_finding(ad, tcm=True).legal_basis
    assert missing_cert_finding(ad + " 粤医广【2024】第03-15-001号", today=TODAY) is None
    # a bad number is reported by cert_findings, not as "missing"
    assert missing_cert_finding(ad + " 医广【2024】第03-15-001号", today=TODAY) is None


def test_rule_classifier_reports_bad_cert_without_changing_labels() -> None:
    text = "本院地址：某路1号，联系电话020-12345678。（京）中医广【2007】第01-30-10号"
    assert RuleClassifier().classify([text])[0].findings == []  # off by default: the analyzer checks certs
    result = RuleClassifier(check_certs=True).classify([text])[0]
    certs = [f for f in result.findings if f.category == "ad_missing_invalid_review_cert"]
    assert len(certs) == 1 and certs[0].text == "（京）中医广【2007】第01-30-10号"
    assert result.labels == []


def test_no_number_no_crash() -> None:
    assert find_review_certs("") == []
    assert find_review_certs("医广告审查很重要") == []
