"""Institution registry, page → institution linking, and the licence-scope (诊疗科目) check."""

from __future__ import annotations

from pathlib import Path

import pytest

from classifiers.institutions import InstitutionRegistry, find_services, scope_findings

REGISTRY_YAML = """
institutions:
  - id: city-hospital
    name: 青川市人民医院
    aliases: [青川市医, 市人民医院]
    licence_no: "PDY11111X11010112A1001"
    type: public_hospital
    licensed_subjects: [内科, 外科, 妇产科, 眼科, 口腔科, 中医科]
    region: 某省青川市
    domains: ["hospital.example.cn"]
    wechat_accounts: [青川市人民医院服务号]
  - id: mens-hospital
    name: 青川康泰男科医院
    aliases: [康泰男科, 康泰医院]
    licence_no: "PDY22222X11010112A1002"
    type: private_hospital
    licensed_subjects: [内科, 外科, 泌尿外科]
    region: 某省青川市
    domains: ["127.0.0.12"]
    wechat_accounts: [康泰男科]
  - id: beauty-clinic
    name: 青川悦颜医疗美容诊所
    aliases: [悦颜医美]
    licence_no: "PDY33333X11010112D1003"
    type: medical_beauty
    licensed_subjects: [美容皮肤科]
    region: 某省青川市
    domains: ["127.0.0.13"]
  - id: salon
    name: 青川美丽人生美容会所
    aliases: [美丽人生会所]
    licence_no: ""
    type: beauty_salon
    licensed_subjects: []
    region: 某省青川市
    domains: ["127.0.0.14"]
    opening_hours: "9:00-21:00"
"""


@pytest.fixture()
def registry(tmp_path: Path) -> InstitutionRegistry:
    path = tmp_path / "institutions.yaml"
    path.write_text(REGISTRY_YAML, encoding="utf-8")
    return InstitutionRegistry.load(path)


def test_load_and_round_trip(registry: InstitutionRegistry) -> None:
    assert [i.id for i in registry.institutions] == [
        "city-hospital",
        "mens-hospital",
        "beauty-clinic",
        "salon",
    ]
    salon = registry.get("salon")
    assert salon is not None and not salon.is_medical
    assert registry.get("city-hospital").is_medical
    dicts = registry.as_dicts()
    assert dicts[1]["licensed_subjects"] == ["内科", "外科", "泌尿外科"]
    assert dicts[3]["opening_hours"] == "9:00-21:00"  # unknown keys are kept


def test_link_by_domain_account_then_mentions(registry: InstitutionRegistry) -> None:
    assert registry.link("http://127.0.0.12:8080/news/1.html").id == "mens-hospital"
    assert registry.link("https://www.hospital.example.cn/a").id == "city-hospital"
    assert registry.link("https://evilhospital.example.cn.attacker.com/") is None
    assert registry.link("https://mp.weixin.qq.com/s/x", account="青川市人民医院服务号").id == "city-hospital"
    text = "据悉，悦颜医美与青川市人民医院合作，悦颜医美将开展新项目。"
    assert registry.link("https://news.example.com/1", text).id == "beauty-clinic"  # mentioned most
    assert registry.link("https://news.example.com/2", "今天天气很好") is None
    assert registry.link("", "") is None


def test_mentions_prefer_longest_name(registry: InstitutionRegistry) -> None:
    found = registry.mentions("青川康泰男科医院（康泰医院）与市人民医院")
    assert [i.id for i in found] == ["mens-hospital", "city-hospital"]
    assert registry.mentions("") == []


def test_out_of_scope_medical_beauty_surgery(registry: InstitutionRegistry) -> None:
    inst = registry.get("beauty-clinic")
    text = "悦颜医美夏季特惠：水光针、热玛吉，另有隆鼻、双眼皮、全飞秒近视手术。"
    findings = scope_findings(inst, text)
    by_text = {f.text: f for f in findings}
    assert set(by_text) == {"隆鼻", "全飞秒"}  # 水光针/热玛吉 are 美容皮肤科: licensed
    f = by_text["隆鼻"]
    assert (f.category, f.label, f.severity) == ("svc_out_of_scope_practice", "unapproved_service", "S2")
    assert text[f.start : f.end] == "隆鼻"
    assert "第二十六条" in f.legal_basis
    assert "美容外科" in f.reason and "美容皮肤科" in f.reason
    assert "眼科" in by_text["全飞秒"].reason


def test_surgery_licence_does_not_cover_cosmetic_surgery(registry: InstitutionRegistry) -> None:
    inst = registry.get("mens-hospital")
    findings = scope_findings(inst, "康泰男科医院开展包皮手术、前列腺治疗，新开吸脂塑形。")
    assert [(f.category, f.text) for f in findings] == [("svc_out_of_scope_practice", "吸脂")]
    assert "外科不能替代" in findings[0].reason


def test_clinic_without_tcm_subject(registry: InstitutionRegistry) -> None:
    mens = registry.get("mens-hospital")
    assert [f.text for f in scope_findings(mens, "本院特色针灸推拿，试管婴儿一站式服务")] == [
        "针灸",
        "试管婴儿",
    ]
    city = registry.get("city-hospital")
    assert scope_findings(city, "中医科开展针灸，眼科开展LASIK，口腔科种植牙，妇产科无痛人流。") == []


def test_salon_offering_medical_beauty(registry: InstitutionRegistry) -> None:
    salon = registry.get("salon")
    findings = scope_findings(salon, "美丽人生会所：玻尿酸填充、肉毒除皱，另有针灸调理。")
    cats = [(f.category, f.text, f.severity) for f in findings]
    assert cats == [
        ("svc_non_medical_beauty", "玻尿酸", "S1"),
        ("svc_unlicensed_practice", "针灸", "S1"),
    ]
    assert "生活美容场所" in findings[0].reason and "第九十九条" in findings[0].legal_basis


def test_negated_and_own_name_terms_ignored(registry: InstitutionRegistry) -> None:
    beauty = registry.get("beauty-clinic")
    assert scope_findings(beauty, "本诊所不开展隆鼻等美容外科手术。") == []
    mens = registry.get("mens-hospital")
    assert scope_findings(mens, "康泰男科欢迎您") == []
    assert find_services("") == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("institutions: [{id: a, name: 甲医院, type: spaceship}]", "未知机构类型"),
        ("institutions: [{id: a, type: clinic}]", "缺少 id 或 name"),
        ("institutions: [{id: a, name: 甲, type: clinic}, {id: a, name: 乙, type: clinic}]", "重复"),
        ("hospitals: []", "缺少 institutions"),
        ("institutions: [{id: a, name: 甲, type: clinic, aliases: 5}]", "应为列表"),
    ],
)
def test_bad_registry_is_a_clear_error(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        InstitutionRegistry.load(path)


def test_bundled_demo_registry_loads() -> None:
    demo = Path(__file__).resolve().parents[1] / "demo" / "institutions.yaml"
    registry = InstitutionRegistry.load(demo)
    assert registry.institutions
