"""Legal rule engine: every category fires on its trigger text with the right span and legal basis, and the
context guards keep regulator notices, penalty news, clinical terms, patient education, negations and complaints
from being flagged as ads (labels.md §4 hard cases)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from classifiers.base import Classifier
from classifiers.rules import GUARD_NAMES, LexiconError, RuleClassifier, RuleEngine, default_engine, normalize
from domain import LABELS

AD = "预约电话：400-880-1234。"  # a marketing element: makes a text "ad-like" for the 广告性 pre-check


@pytest.fixture(scope="module")
def engine() -> RuleEngine:
    return default_engine()


@pytest.fixture(scope="module")
def clf(engine: RuleEngine) -> RuleClassifier:
    return RuleClassifier(engine)


# (category, text, exact matched span, a piece of the legal basis) — wording from legal_taxonomy.md §3 cases
TRIGGERS = [
    (
        "ad_efficacy_guarantee",
        "定兴县医院开展乳腺癌、胃癌、直肠癌根治手术，" + AD,
        "根治",
        "第十六条第一款第（一）项",
    ),
    (
        "ad_efficacy_guarantee",
        "一次热玛吉解决5大衰老问题，效果立竿见影。" + AD,
        "立竿见影",
        "第十六条第一款第（一）项",
    ),
    (
        "ad_efficacy_guarantee",
        "白斑一个月消退，效果看得见！" + AD,
        "白斑一个月消退",
        "《医疗广告管理办法》第七条第（二）项",
    ),
    ("ad_efficacy_guarantee", "做了一次就完全不疼了，" + AD, "做了一次就完全", "第十六条"),
    ("ad_efficacy_guarantee", "无效退款，三天见效。" + AD, "无效退款", "第十六条"),
    ("ad_cure_rate_stats", "阳痿、早泄、阴茎100%增粗。" + AD, "100%增粗", "第十六条第一款第（二）项"),
    ("ad_cure_rate_stats", "早泄治疗有效率达99.2%，" + AD, "有效率达99.2%", "第十六条第一款第（二）项"),
    (
        "ad_cure_rate_stats",
        "手术成功率在99%以上，均达到满意疗效。" + AD,
        "手术成功率在99%以上",
        "第七条第（三）项",
    ),
    ("ad_absolute_superlative", "皮肤美容仪全球排名第一，" + AD, "排名第一", "第九条第（三）项"),
    (
        "ad_absolute_superlative",
        "西班牙IGEN肿瘤防治技术中国唯一临床医院。" + AD,
        "中国唯一临床",
        "第九条第（三）项",
    ),
    ("ad_endorsement_testimonial", "患者现身说法，" + AD, "患者现身说法", "第十六条第一款第（四）项"),
    (
        "ad_endorsement_testimonial",
        "本诊所为湖南中医药大学中医临床学术指导单位。" + AD,
        "大学中医临床学术指导单位",
        "第七条第（六）项",
    ),
    (
        "ad_comparison_disparagement",
        "种别人种不好的种植牙，" + AD,
        "种别人种不好",
        "第十六条第一款第（三）项",
    ),
    (
        "ad_safety_guarantee",
        "下午做，晚上就可以化妆，不会耽误正常生活。" + AD,
        "不会耽误正常生活",
        "第十六条第一款第（一）项",
    ),
    ("ad_safety_guarantee", "治愈率高、无副作用。" + AD, "无副作用", "第十六条第一款第（一）项"),
    (
        "ad_state_military_authority",
        "原中国人民解放军56221部队医院，" + AD,
        "原中国人民解放军56221部队医院",
        "第九条第（二）项",
    ),
    (
        "ad_state_military_authority",
        "广州市民胃肠健康普查正在进行中。" + AD,
        "市民胃肠健康普查正在进行",
        "第七条第（七）项",
    ),
    (
        "ad_medical_tech_disease_content",
        "儿童窝沟封闭（单颗），儿童全口涂氟。" + AD,
        "窝沟封闭",
        "第七条第（一）项",
    ),
    ("ad_tcm_secret_remedy_claim", "祖传三代，纯中药无副作用。" + AD, "祖传三代", "第二十八条"),
    (
        "ad_bad_taste_appearance_anxiety",
        "颜值即正义，想要逆袭先换脸！" + AD,
        "颜值即正义",
        "第九条第（七）项",
    ),
    ("ad_prohibited_drug_device", "进口瘦脸针BOTOX保妥适，" + AD, "瘦脸针", "第十五条"),
    ("ad_minor_targeting", "暑假整形季，学生专享价！" + AD, "学生专享", "第四十条第一款"),
    ("ad_non_medical_publisher", "丽人美容院私信预约，到店打针。" + AD, "丽人美容院", "第五条"),
    ("ad_disguised_news_science", "本报讯 痔疮要早治，扫码预约。" + AD, "本报讯", "第十九条"),
    ("ad_improper_inducement", "免费胃镜检查，前100名免费！" + AD, "免费胃镜", "第十九条"),
    (
        "svc_unapproved_cell_gene_therapy",
        "脂肪提取，干细胞抗衰逆龄。",
        "干细胞抗衰",
        "干细胞临床研究管理办法",
    ),
    ("svc_fetal_sex_determination", "孕妇抽血，香港验血查男女。", "查男女", "第三十九条"),
    ("svc_surrogacy_gamete_trade", "代孕，供卵；包成功，选性别。", "代孕", "人类辅助生殖技术管理办法"),
    ("svc_organ_trade", "高价收肾，急用。", "高价收肾", "第二百三十四条之一"),
    (
        "svc_genetic_testing_claims",
        "儿童天赋基因检测，测音乐天赋和交际能力。",
        "儿童天赋基因检测",
        "第二十八条",
    ),
    ("svc_non_medical_beauty", "美容院上门打水光，注射玻尿酸。", "美容院上门打水光", "第九十九条"),
    ("svc_out_of_scope_practice", "本诊所设有住院部，开展四级手术。", "诊所设有住院部", "第二十六条"),
    ("svc_unlicensed_practice", "民间神医上门输液。", "民间神医", "第三百三十六条"),
    ("svc_internet_diagnosis_violation", "处方药无需处方，先发货后开方。", "无需处方", "互联网诊疗"),
    ("sent_medical_dispute", "患者在某医院被误诊，家属讨说法。", "误诊", "医疗纠纷预防和处理条例"),
    ("sent_medical_accident", "产妇在某市妇幼保健院术中死亡。", "术中死亡", "医疗事故处理条例"),
    ("sent_violence_disorder", "男子在某医院急诊科砍伤医生。", "砍伤医生", "第二百九十条"),
    ("sent_bribery_kickback", "某医院骨科主任收红包被查。", "收红包", "《医师法》第三十一条"),
    ("sent_overtreatment", "东莞医圣堂中医院客服引导检查，被说成性病。", "被说成性病", "第五十四条"),
    ("sent_overcharging", "在某医院做个小手术，被术中加价。", "术中加价", "明码标价"),
    ("sent_insurance_fraud", "太和县某医院拉人住院骗保。", "骗保", "第二百六十六条"),
    ("sent_service_attitude", "某医院护士态度恶劣。", "态度恶劣", "第十八条"),
    (
        "sent_regulatory_penalty",
        "北京漾格医疗美容医院被朝阳区市场监管局罚款30万元。",
        "罚款",
        "《广告法》第五十五条",
    ),
]


@pytest.mark.parametrize(
    ("category", "text", "span", "basis"), TRIGGERS, ids=[f"{c}-{i}" for i, (c, *_) in enumerate(TRIGGERS)]
)
def test_category_fires_with_span_and_basis(
    clf: RuleClassifier, category: str, text: str, span: str, basis: str
) -> None:
    result = clf.classify([text])[0]
    found = [f for f in result.findings if f.category == category and f.text == span]
    assert found, f"{category} not found as {span!r}: {[(f.category, f.text) for f in result.findings]}"
    f = found[0]
    assert text[f.start : f.end] == span
    assert basis in f.legal_basis
    assert span in f.reason
    assert f.source.startswith("rules:")
    assert f.severity in ("S1", "S2", "S3", "S4", "P1", "P2", "P3")
    cat = default_engine().categories[category]
    assert f.label == cat.label
    if cat.label:
        assert cat.label in result.labels
        assert result.scores[cat.label] > 0.5


def test_every_category_has_rules_and_a_trigger_test(engine: RuleEngine) -> None:
    with_rules = {r.category.id for r in engine.rules}
    tested = {c for c, *_ in TRIGGERS}
    # the review-certificate category is produced by classifiers.certs (tested in test_certs.py)
    expected = set(engine.categories) - {"ad_missing_invalid_review_cert"}
    assert expected <= with_rules
    assert expected <= tested
    assert len(engine.categories) == 34  # the 33 of §2.1 plus sent_regulatory_penalty


def test_label_rollup(engine: RuleEngine) -> None:
    compliance_only = {
        "ad_medical_tech_disease_content",
        "ad_disguised_news_science",
        "ad_improper_inducement",
        "ad_missing_invalid_review_cert",
        "ad_non_medical_publisher",
    }
    for cid, cat in engine.categories.items():
        if cid in compliance_only:
            assert cat.label is None
        elif cid.startswith("ad_"):
            assert cat.label == "exaggerated_efficacy"
        elif cid.startswith("svc_"):
            assert cat.label == "unapproved_service"
        else:
            assert cat.label == "negative_sentiment"


def test_compliance_only_finding_does_not_label(clf: RuleClassifier) -> None:
    result = clf.classify(["儿童窝沟封闭、全口涂氟，" + AD])[0]
    assert {f.category for f in result.findings} == {"ad_medical_tech_disease_content"}
    assert result.labels == []


def test_multi_label_stem_cell_advertorial(clf: RuleClassifier) -> None:
    text = "干细胞回输抗衰老，一次根治糖尿病，永不复发！" + AD
    result = clf.classify([text])[0]
    assert set(result.labels) == {"exaggerated_efficacy", "unapproved_service"}
    efficacy = [f for f in result.findings if f.category == "ad_efficacy_guarantee" and f.text == "一次根治"]
    assert efficacy and "从重" in efficacy[0].reason  # 糖尿病: grave-disease aggravation note


# ---------------------------------------------------------------- hard negatives (labels.md §4, taxonomy §2.2)

NO_LABEL = [
    (
        "regulator notice",
        "某市市场监督管理局提醒：医疗广告不得含有“根治”“包治百病”“无效退款”等用语，发现请拨打12315。",
        "enforcement",
    ),
    (
        "quoted law",
        "《广告法》第十六条规定，医疗广告不得含有表示功效、安全性的断言或者保证，不得说明治愈率或者有效率。",
        None,
    ),
    ("national key specialty", "我院乳腺外科是国家临床重点专科，常规开展乳腺癌改良根治术。", "official_term"),
    ("painless procedures", "产科开展无痛分娩（分娩镇痛），消化内科开展无痛胃肠镜检查。", None),
    ("HSCT", "血液科开展造血干细胞移植治疗白血病、淋巴瘤。", None),
    ("patient education", "糖尿病目前还不能根治，患者需要长期控制饮食、遵医嘱用药。", "patient_education"),
    ("negated claims", "世上没有包治百病的药，任何手术都不可能无风险。", "negation"),
    ("academic", "一项随机对照试验显示，该方案5年生存率为68%，客观缓解率达45%（P<0.05）。", None),
    (
        "drug label",
        "【不良反应】偶见皮疹。【禁忌】孕妇禁用。【注意事项】本品无副作用者亦应遵医嘱。",
        "drug_label",
    ),
    ("two-nons signage", "严禁非医学需要的胎儿性别鉴定和选择性别的人工终止妊娠。", "negation"),
    ("organ donation", "欢迎登记人体器官捐献，红十字会器官捐献志愿者服务。", None),
    ("aggregate statistics", "全国上半年共查办医疗广告违法案件1666件，罚没1278万元。", None),
    ("debunking", "谨防“祖传秘方”骗局，所谓神医都是套路。", None),
    ("consumer tip", "最佳治疗时机是发病后6小时内，应及时就医。", None),
    ("question", "白癜风能根治吗？专家提醒要到正规医院治疗。", None),
    (
        "eight permitted items",
        "本院地址：广州市越秀区某路1号，床位数300张，接诊时间8:00-17:00，联系电话020-12345678。",
        None,
    ),
    ("praise", "医院拒收红包，医生退还患者家属塞的红包获表彰。", None),
    ("ordinary prose", "多吃蔬菜有助于健康，最好每天运动半小时。", None),
]


@pytest.mark.parametrize(("name", "text", "guard"), NO_LABEL, ids=[n for n, *_ in NO_LABEL])
def test_no_label_on_hard_negatives(
    clf: RuleClassifier, engine: RuleEngine, name: str, text: str, guard: str | None
) -> None:
    result = clf.classify([text])[0]
    assert result.labels == [], [(f.category, f.text) for f in result.findings]
    assert all(not f.category.startswith(("ad_", "svc_")) or f.label is None for f in result.findings)
    if guard:
        suppressed = [h for h in engine.explain(text) if h.suppressed]
        assert any(h.suppressed_by == guard for h in suppressed), [
            (h.text, h.suppressed_by) for h in suppressed
        ]


def test_explain_shows_why_not_flagged(engine: RuleEngine) -> None:
    hits = engine.explain("世上没有包治百病的药")
    assert len(hits) == 1
    h = hits[0]
    assert (h.category, h.text, h.start, h.end) == ("ad_efficacy_guarantee", "包治百病", 4, 8)
    assert h.suppressed and h.suppressed_by == "negation" and h.guard_evidence == "没有"
    data = h.to_json()
    assert data["guard"] == "否定或怀疑语境"
    assert engine.hits("世上没有包治百病的药") == []


def test_penalty_news_is_sentiment_not_ad(clf: RuleClassifier, engine: RuleEngine) -> None:
    text = "泸西九华医院在乡镇设置户外广告牌宣称“阳痿、早泄、阴茎100%增粗”，被泸西县市场监管局依法查处。"
    result = clf.classify([text])[0]
    assert result.labels == ["negative_sentiment"]
    quoted = [h for h in engine.explain(text) if h.text == "100%增粗"]
    assert quoted and quoted[0].suppressed_by == "enforcement"


def test_complaint_quoting_cure_claim_is_sentiment_only(clf: RuleClassifier, engine: RuleEngine) -> None:
    text = "说是一次治愈，结果花了三万"
    result = clf.classify([text])[0]
    assert result.labels == ["negative_sentiment"]
    assert [f.category for f in result.findings] == ["sent_overcharging"]
    claim = [h for h in engine.explain(text) if h.category == "ad_efficacy_guarantee"]
    assert claim and claim[0].suppressed_by == "complaint"


def test_guarantee_with_refund_wording_is_not_a_complaint(clf: RuleClassifier) -> None:
    # 退款 inside 无效退款 must not count as a complaint cue, nor 不 inside 不复发 as a negator
    result = clf.classify(["专治牛皮癣，无效退款，不复发。" + AD])[0]
    cats = {f.category for f in result.findings}
    assert {"ad_efficacy_guarantee", "ad_medical_tech_disease_content"} <= cats
    assert result.labels == ["exaggerated_efficacy"]


def test_clinical_term_upgrades_only_with_promise(clf: RuleClassifier) -> None:
    assert clf.classify(["麻醉科提供无痛分娩服务。"])[0].labels == []
    promo = clf.classify(["无痛人流，随做随走，零风险！" + AD])[0]
    assert "exaggerated_efficacy" in promo.labels
    assert {"随做随走", "零风险"} <= {f.text for f in promo.findings}


def test_legit_and_illegal_stem_cells(clf: RuleClassifier) -> None:
    assert clf.classify(["我院造血干细胞移植治疗血液病技术成熟。"])[0].labels == []
    assert clf.classify(["脐带间充质干细胞回输，抗衰逆龄。"])[0].labels == ["unapproved_service"]


def test_sentiment_needs_a_particular_institution(clf: RuleClassifier) -> None:
    assert clf.classify(["医疗纠纷是医患双方因诊疗活动引发的争议。"])[0].labels == []
    assert clf.classify(["家属在某医院门口拉横幅讨说法。"])[0].labels == ["negative_sentiment"]


def test_needs_ad_categories_gated_on_marketing(clf: RuleClassifier, engine: RuleEngine) -> None:
    plain = "窝沟封闭可以预防儿童龋齿。"
    assert clf.classify([plain])[0].findings == []
    assert [h.suppressed_by for h in engine.explain(plain)] == ["not_ad"]
    assert clf.classify([plain + AD])[0].findings


def test_spans_index_original_text_with_fullwidth_and_case(clf: RuleClassifier) -> None:
    text = "进口ＢＯＴＯＸ，手术成功率９９％！" + AD
    result = clf.classify([text])[0]
    by_cat = {f.category: f for f in result.findings}
    botox = by_cat["ad_prohibited_drug_device"]
    assert text[botox.start : botox.end] == "ＢＯＴＯＸ" == botox.text
    rate = by_cat["ad_cure_rate_stats"]
    assert text[rate.start : rate.end] == rate.text == "手术成功率９９％"
    assert normalize("ＡＢ，Ｃ") == "ab,c"


def test_classifier_protocol_and_version(clf: RuleClassifier, tmp_path: Path) -> None:
    assert isinstance(clf, Classifier)
    assert clf.name == "rules"
    assert len(clf.version) == 12
    results = clf.classify(["", "一次根治" + AD, "普通文本"])
    assert len(results) == 3
    assert results[0].labels == [] and results[0].findings == []
    assert set(results[1].scores) == set(LABELS)
    # the version is a hash of the lexicon: editing a file changes it
    src = Path(__file__).resolve().parents[1] / "classifiers" / "lexicon"
    for f in src.glob("*.yaml"):
        (tmp_path / f.name).write_bytes(f.read_bytes())
    with (tmp_path / "sent.yaml").open("a", encoding="utf-8") as fh:
        fh.write("\n  - {id: sent.extra, category: sent_service_attitude, phrases: [爱理不理]}\n")
    other = RuleEngine.load(tmp_path)
    assert other.version != clf.version
    assert other.hits("某医院护士爱理不理")[0].rule_id == "sent.extra"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("rules: [{id: x, category: nope, phrases: [根治]}]", "unknown category"),
        ("rules: [{id: x, category: ad_efficacy_guarantee, phrases: [根]}]", "shorter than two"),
        ("rules: [{id: x, category: ad_efficacy_guarantee, regex: ['(unclosed']}]", "bad regex"),
        (
            "rules: [{id: x, category: ad_efficacy_guarantee, guards: [nonsense], phrases: [根治]}]",
            "unknown guard",
        ),
        ("rules: [{id: x, category: ad_efficacy_guarantee}]", "no phrases"),
        ("rules: [oops", "invalid YAML"),
    ],
)
def test_bad_lexicon_is_a_clear_error(tmp_path: Path, content: str, message: str) -> None:
    src = Path(__file__).resolve().parents[1] / "classifiers" / "lexicon"
    for name in ("categories.yaml", "guards.yaml"):
        (tmp_path / name).write_bytes((src / name).read_bytes())
    (tmp_path / "bad.yaml").write_text(content, encoding="utf-8")
    with pytest.raises(LexiconError, match=message):
        RuleEngine.load(tmp_path)


def test_lexicon_guard_names_are_known() -> None:
    src = Path(__file__).resolve().parents[1] / "classifiers" / "lexicon" / "categories.yaml"
    cats = yaml.safe_load(src.read_text(encoding="utf-8"))["categories"]
    for cat in cats.values():
        assert set(cat["guards"]) <= set(GUARD_NAMES)


def test_lexicon_reads_alike_with_libyaml_and_pure_python() -> None:
    """The engine loads with libyaml when it is there; the pure-Python parser (PyYAML without libyaml) must read
    every lexicon file to the same data (libyaml is stricter: ``地址:`` in a flow list must be quoted)."""
    assert hasattr(yaml, "CSafeLoader"), "PyYAML here was built without libyaml"
    lexicon = Path(__file__).resolve().parents[1] / "classifiers" / "lexicon"
    files = sorted(lexicon.glob("*.yaml"))
    assert files
    for path in files:
        raw = path.read_bytes()
        assert yaml.load(raw, Loader=yaml.CSafeLoader) == yaml.load(raw, Loader=yaml.SafeLoader), path.name


def test_throughput(clf: RuleClassifier) -> None:
    docs = [
        "我院专治白癜风，一次根治，永不复发！预约电话：400-123-4567。某医院患者术中死亡，家属围堵医院讨说法。",
        "糖尿病目前还不能根治，患者需要长期控制饮食、遵医嘱用药。多吃蔬菜有助于健康，每天运动半小时。",
    ] * 500
    t0 = time.perf_counter()
    clf.classify(docs)
    rate = len(docs) / (time.perf_counter() - t0)
    # target is >= 2,000 short docs/s on one core; the floor here leaves room for a busy shared CI machine
    assert rate > 500, f"{rate:.0f} docs/s"


def test_medical_dictionary_keeps_terms_whole() -> None:
    from domain.text import cut

    words = cut("我院热玛吉水光针一次根治白癜风，无效退款。开展造血干细胞移植和乳腺癌改良根治术。")
    for term in ("热玛吉", "水光针", "白癜风", "无效退款", "造血干细胞移植", "乳腺癌改良根治术"):
        assert term in words, words
    lines = (Path(__file__).resolve().parents[1] / "domain" / "data" / "medical_dict.txt").read_text("utf-8")
    for line in lines.splitlines():
        word, freq, tag = line.split(" ")
        assert word and int(freq) >= 50 and tag in ("n", "nz", "l")


def test_harm_news_reports_service_without_offering_it(clf: RuleClassifier, engine: RuleEngine) -> None:
    text = "江州晚报讯 32岁的黄女士在某美容会所注射玻尿酸后面部感染，住院十天。"
    result = clf.classify([text])[0]
    assert result.labels == ["negative_sentiment"]
    assert any(
        h.suppressed_by == "news_report" for h in engine.explain(text) if h.category.startswith("svc_")
    )
    notice = "市卫生健康局严厉打击“两非”、代孕：任何单位和个人不得组织孕妇“寄血验子”。"
    assert clf.classify([notice])[0].labels == []
