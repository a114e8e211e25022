"""Rules for the real phrasing of service offers (issue 15): immune-cell price guides, MSC infusions for 亚健康/抗衰,
香港验血查性别 booking pages, surrogacy and paid egg-donation agency pages; and context guards for clinical and
educational statistics and for thank-you / achievement news. The sentences are written for these tests."""

from __future__ import annotations

import pytest

from classifiers.hybrid import HybridClassifier, guarded_labels
from classifiers.rules import RuleClassifier
from domain import ClassifyResult

RULES = RuleClassifier()

SERVICE = "unapproved_service"

POSITIVE = {
    "svc_unapproved_cell_gene_therapy": [
        "NK细胞治疗价格一般在每疗程3万至8万元之间，具体费用根据采血量和回输次数确定，详情可添加客服微信咨询。",
        "自体免疫细胞疗法一个疗程需回输三次，费用约12万元，适合术后防复发人群和长期处于亚健康状态的中年人。",
        "CIK细胞免疫治疗费用是多少？一般单次培养加回输在2万元左右，多数患者需要做4到6次。",
        "脐带MSC抗衰项目：三次静脉输注为一个周期，改善睡眠、提升免疫力，名额有限，欢迎预约。",
        "针对亚健康人群，我们提供间充质干细胞静脉输注服务，每次输注一亿个细胞，帮助身体机能全面恢复。",
        "幹細胞抗衰老療程，港澳專業團隊，一次注射年輕十歲，歡迎WhatsApp查詢。",
    ],
    "svc_fetal_sex_determination": [
        "香港验血查性别，孕7周即可检测，准确率99%，寄血或陪同赴港均可，咨询微信：hkbaby88。",
        "Y染色體檢測 7週驗男女 準確率99.5% 加微信預約",
        "赴港抽血预约流程：1.添加客服微信 2.确认孕周 3.安排跨境抽血，报告3个工作日出。",
        "怀孕六周就想知道是男宝还是女宝？香港正规化验所抽血检测，寄样本也可以，加V了解。",
    ],
    "svc_surrogacy_gamete_trade": [
        "我们是一家专业助孕机构，提供试管代孕、供卵等一站式服务，费用透明。",
        "捐卵志愿者招募：20至28岁健康女性，营养补贴2万至3万元，全程保密，有意者请联系客服。",
        "格鲁吉亚试管助孕，可选宝宝性别，签约保障，宝宝到家再付尾款。",
        "爱心捐卵，帮助不孕家庭圆梦，身高160以上、大专学历优先，补贴从优。",
        "供卵试管婴儿费用明细：卵源费、促排费、移植费，全包套餐28万起。",
    ],
}

NEGATIVE_SERVICE = [
    "造血干细胞移植是治疗白血病等血液系统疾病的成熟技术，目前已纳入医保报销范围。",
    "国家卫健委提醒，除造血干细胞移植外，干细胞治疗尚处于临床研究阶段，患者切勿轻信收费宣传。",
    "阿基仑赛注射液是我国首个获批上市的CAR-T细胞治疗产品，用于治疗复发难治性大B细胞淋巴瘤。",
    "研究人员在小鼠模型中发现，间充质干细胞可以减轻肺部炎症，相关论文发表在国际期刊上。",
    "严禁非医学需要的胎儿性别鉴定，发现违法行为可拨打12320举报。",
    "伴性遗传病家庭可在产前诊断中心进行医学需要的胎儿性别鉴定，须经遗传咨询。",
    "香港卫生署提醒内地孕妇，切勿将血样寄往香港进行所谓的胎儿性别检测，此类行为涉嫌违法。",
    "代孕在我国是违法的，医疗机构和医务人员不得实施任何形式的代孕技术。",
    "人类精子库长期招募捐精志愿者，捐精须符合国家规定的健康标准。",
    "卵子捐赠只能在具备资质的辅助生殖机构内进行，禁止任何形式的买卖。",
    "孕妇在孕中期需做唐氏筛查，高龄孕妇可直接做产前诊断。",
]

STATISTICS = [  # clinical and educational statistics: not advertising
    "一项随机对照试验显示，该方案的完全缓解率为62%，中位无进展生存期为14个月。",
    "急性肾盂肾炎经规范抗菌治疗，近期治愈率较高，但部分患者可复发，应在疗程结束后复查尿培养。",
    "早期胃癌内镜下切除的根治率可达95%以上，术后需定期复查胃镜。",
    "《急性早幼粒细胞白血病诊疗指南》指出，维A酸联合砷剂方案的近期治愈率可达90%以上。",
    "本章学习要点：掌握幽门螺杆菌的根除治疗方案，了解四联疗法的根除率和复发率。",
]

STATISTICS_IN_ADS = [  # the same words in an institution's own promotion stay flagged
    "我院独创微创疗法，早期胃癌根治率达98%，预约电话0571-88886666。",
    "本院肾病科近期治愈率高达96%，名额有限，欢迎来电咨询。",
]

GRATITUDE = [
    "近日，患者家属将一面写有“医德高尚、妙手回春”的锦旗送到心内科，感谢医护人员在患者大出血时的全力抢救。",
    "一封感谢信寄到了神经外科：王女士的父亲术后康复出院，她感谢医护人员这段时间的悉心照料。",
    "我院成功实施首例经导管主动脉瓣置换术，填补了本地区该技术空白，患者术后恢复良好。",
    "市人民医院成功实施全省首例机器人辅助肝移植手术，术后第七天患者顺利出院。",
]

GRATITUDE_NOT_A_SHIELD = [
    # a dispute in the same story: negative news
    "患者家属曾给该院送过锦旗，如今却因术后大出血死亡与医院发生医疗纠纷，要求赔偿。",
    # an ad that cites thank-you letters still needs its claims checked
    "患者送来锦旗称赞我院一次根治顽固湿疹，咨询热线400-800-1234。",
]


@pytest.mark.parametrize(
    "category,text", [(c, t) for c, texts in POSITIVE.items() for t in texts], ids=lambda v: str(v)[:12]
)
def test_real_service_offers_are_flagged_with_their_legal_basis(category, text):
    result = RULES.classify([text])[0]
    assert SERVICE in result.labels
    hits = [f for f in result.findings if f.category == category]
    assert hits, result.findings
    assert all(f.legal_basis and f.severity == "S1" for f in hits)
    assert all(text[f.start : f.end] == f.text for f in hits)


def test_legal_bases_name_the_right_laws():
    def basis(text: str, category: str) -> str:
        return next(f.legal_basis for f in RULES.classify([text])[0].findings if f.category == category)

    assert "干细胞临床研究管理办法" in basis(
        POSITIVE["svc_unapproved_cell_gene_therapy"][0], "svc_unapproved_cell_gene_therapy"
    )
    assert "人口与计划生育法" in basis(
        POSITIVE["svc_fetal_sex_determination"][0], "svc_fetal_sex_determination"
    )
    assert "人类辅助生殖技术管理办法" in basis(
        POSITIVE["svc_surrogacy_gamete_trade"][1], "svc_surrogacy_gamete_trade"
    )


@pytest.mark.parametrize("text", NEGATIVE_SERVICE, ids=lambda v: v[:12])
def test_lawful_services_warnings_and_research_are_not_flagged(text):
    assert SERVICE not in RULES.classify([text])[0].labels


@pytest.mark.parametrize("text", STATISTICS, ids=lambda v: v[:12])
def test_clinical_and_textbook_statistics_are_not_ads(text):
    assert "exaggerated_efficacy" not in RULES.classify([text])[0].labels
    for hit in RULES.explain(text):
        if hit.label == "exaggerated_efficacy":
            assert hit.suppressed_by == "academic", hit


@pytest.mark.parametrize("text", STATISTICS_IN_ADS, ids=lambda v: v[:12])
def test_statistics_in_an_institutions_promotion_stay_flagged(text):
    result = RULES.classify([text])[0]
    assert "exaggerated_efficacy" in result.labels
    assert any(f.category == "ad_cure_rate_stats" for f in result.findings)


@pytest.mark.parametrize("text", GRATITUDE, ids=lambda v: v[:12])
def test_thank_you_and_achievement_news_is_neither_ad_nor_negative(text):
    result = RULES.classify([text])[0]
    assert not {"exaggerated_efficacy", "negative_sentiment"} & set(result.labels)
    assert "negative_sentiment" in guarded_labels(RULES, text)


def test_gratitude_guard_is_not_a_shield():
    dispute, ad = GRATITUDE_NOT_A_SHIELD
    assert "negative_sentiment" in RULES.classify([dispute])[0].labels
    assert "negative_sentiment" not in guarded_labels(RULES, dispute)
    assert "exaggerated_efficacy" in RULES.classify([ad])[0].labels


class _FixedModel:
    """Stands for the trained model (which the hybrid decision does not depend on): fixed scores, as a model that
    reads a thank-you story as negative news at 0.95 would give."""

    name = "model"
    version = "fixed"
    thresholds = {"exaggerated_efficacy": 0.5, "unapproved_service": 0.5, "negative_sentiment": 0.5}

    def classify(self, texts):
        scores = {"exaggerated_efficacy": 0.1, "unapproved_service": 0.1, "negative_sentiment": 0.95}
        return [ClassifyResult(labels=["negative_sentiment"], scores=dict(scores)) for _ in texts]


def test_hybrid_vetoes_a_model_only_negative_label_on_gratitude_news_but_not_on_a_dispute():
    hybrid = HybridClassifier(_FixedModel(), RULES)
    story, dispute = GRATITUDE[2], GRATITUDE_NOT_A_SHIELD[0]
    story_res, dispute_res = hybrid.classify([story, dispute])
    assert "negative_sentiment" not in story_res.labels
    assert "negative_sentiment" in dispute_res.labels
    # an ordinary negative story the model reads right keeps its label
    news = "患者投诉某医院乱收费，院方回应称将调查。"
    assert "negative_sentiment" in hybrid.classify([news])[0].labels


# Issue 15, second pass: the phrasing of real cell-company advertorials, overseas surrogacy consultants, IVF sold for
# a child of the wanted sex and fetal-sex tests named after what they find. Each entry: (category, rule, text).
POSITIVE_REAL_PHRASING = [
    (
        "svc_unapproved_cell_gene_therapy",
        "svc.cell_gene.purpose",
        "我们的免疫细胞储存方案，专为健康人群的免疫保养设计，年轻时存一份，老了用得上。",
    ),
    (  # the purpose a paragraph after the cells
        "svc_unapproved_cell_gene_therapy",
        "svc.cell_gene.purpose",
        "脐带间充质干细胞被誉为生命的种子细胞。\n它还能帮助中年女性抗老，留住青春。",
    ),
    (
        "svc_unapproved_cell_gene_therapy",
        "svc.cell_gene.purpose",
        "NK细胞是身体的巡警，具有预防癌症和延缓机体衰老的神奇作用。",
    ),
    (
        "svc_unapproved_cell_gene_therapy",
        "svc.cell_gene.purpose",
        "脐血免疫细胞活性更强，可用于预防和治疗多种免疫力低下引起的疾病。",
    ),
    (
        "svc_fetal_sex_determination",
        "svc.fetal_sex.regex",
        "胎儿性别基因检测通常一至两周出结果，加急服务三天就能拿到报告。",
    ),
    (
        "svc_surrogacy_gamete_trade",
        "svc.surrogacy.overseas",
        "作为从业十年的海外助孕顾问，我每周都会接到这样的越洋电话。",
    ),
    (
        "svc_surrogacy_gamete_trade",
        "svc.surrogacy.overseas",
        "选择保证代孕计划的家庭，若代孕者未能怀孕，诊所将全额退款。",
    ),
    (
        "svc_surrogacy_gamete_trade",
        "svc.surrogacy.overseas",
        "近年来越来越多家庭选择格鲁吉亚的助孕服务，流程清晰、性价比高。",
    ),
    (
        "svc_surrogacy_gamete_trade",
        "svc.surrogacy.sex_selection",
        "借助第三代试管技术，医生可以选择胚胎的性别，帮您完成生女孩的心愿。",
    ),
    (
        "svc_surrogacy_gamete_trade",
        "svc.surrogacy.sex_selection",
        "试管婴儿不只帮助不孕夫妻，也为希望拥有特定性别孩子的家庭带来了可能。",
    ),
]

NEGATIVE_REAL_PHRASING = [
    # research and caution about cells
    "研究人员在小鼠实验中发现，年轻个体的外泌体或许能延缓衰老，但离临床应用还很远。",
    "外泌体近年热度飙升，值得警惕的是，它常被过度简化成抗老化的万灵丹。",
    "市场监管部门提醒：目前没有任何干细胞抗衰老项目获批，所谓免疫细胞回输能预防癌症属于虚假宣传。",
    # bans and news about sex selection and overseas agencies
    "我国禁止非医学需要的性别选择，医生只有在存在伴性遗传病风险时才会筛查胚胎性别。",
    "记者暗访发现，有中介以胎儿性别检测为名收集孕妇血样，送往境外化验。",
    "据报道，一些海外助孕中介以高额报酬招募代孕母亲，警方已立案调查。",
    "由于国内单身女性冻卵仍受限制，不少人赴海外冻卵，律师指出这类中介服务存在法律风险。",
]


@pytest.mark.parametrize("category,rule,text", POSITIVE_REAL_PHRASING, ids=lambda v: str(v)[:14])
def test_real_phrasing_of_offers_is_flagged_by_its_rule_with_a_legal_basis(category, rule, text):
    result = RULES.classify([text])[0]
    assert SERVICE in result.labels
    hits = [f for f in result.findings if f.category == category and f.source == f"rules:{rule}"]
    assert hits, result.findings
    assert all(f.severity == "S1" and "《" in f.legal_basis for f in hits)
    assert all(text[f.start : f.end] == f.text for f in hits)


@pytest.mark.parametrize("text", NEGATIVE_REAL_PHRASING, ids=lambda v: v[:12])
def test_research_bans_and_investigations_of_these_trades_are_not_flagged(text):
    assert SERVICE not in RULES.classify([text])[0].labels


AD = "exaggerated_efficacy"

# A cure told as what happened to one patient: the guarantee an advertorial makes through testimony.
TESTIMONIAL_CURES = [
    "王阿姨在我们诊所调理了两个月，腰腿痛再也没有犯过，逢人就夸。",
    "张先生坚持治疗三个月，成功摆脱了胰岛素，血糖一直很稳定。",
    "经过一年的康复训练，孩子现在已经和其他正常孩子一样上学了。",
    "连续针灸三周，腰痛症状几乎完全消失。",
    "患者复查时发现，原来的卵巢囊肿竟然不复存在了。",
]

TESTIMONIAL_NEAR_MISSES = [
    # a case series in a journal
    "随访资料显示，本组病例中有12例术后至今未复发，研究显示该术式安全有效。",
    # the provider's promise quoted by the one who paid for it
    "我在一家诊所交了两万元，对方说“很多孩子治疗后已经和正常孩子一样了”，现在孩子毫无变化。",
    # news and a warning
    "据报道，该男子称服用“神药”后糖尿病再也没有复发，警方提醒市民切勿轻信。",
    # a thank-you story
    "患者家属送来锦旗，感谢医护人员让孩子终于和其他正常孩子一样走路了。",
]


@pytest.mark.parametrize("text", TESTIMONIAL_CURES, ids=lambda v: v[:12])
def test_a_cure_told_as_a_patients_story_is_an_efficacy_guarantee(text):
    result = RULES.classify([text])[0]
    assert AD in result.labels
    hits = [f for f in result.findings if f.source == "rules:ad.efficacy.testimonial"]
    assert hits, result.findings
    assert all("第十六条第一款" in f.legal_basis and "第（四）项" in f.legal_basis for f in hits)


@pytest.mark.parametrize("text", TESTIMONIAL_NEAR_MISSES, ids=lambda v: v[:12])
def test_a_cure_reported_quoted_by_a_complainant_or_thanked_for_is_not_an_ad(text):
    assert AD not in RULES.classify([text])[0].labels
    assert any(h.rule_id == "ad.efficacy.testimonial" and h.suppressed for h in RULES.explain(text))
