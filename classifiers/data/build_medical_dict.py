"""Build ``domain/data/medical_dict.txt``, the jieba user dictionary (``word freq tag`` per line).

Sources (see MEDICAL_DICT.md next to this file):

1. the legal lexicon (``classifiers/lexicon/*.yaml``): every literal rule phrase and the official-term /
   lawful-service guard phrases;
2. the licence-scope table of ``classifiers/institutions.py``: service terms and 诊疗科目 names;
3. the curated medical terms below (diseases, procedures, drugs and devices, medical-beauty products, institution
   types) — words that jieba's bundled dictionary (``jieba/dict.txt``, MIT) lacks or splits.

Frequencies: ``jieba.Tokenizer.suggest_freq`` against jieba's bundled dictionary (the frequency needed to keep the
word in one piece), at least 50. Words jieba already keeps whole at a higher frequency are left out.

Run: ``.venv/bin/python -m classifiers.data.build_medical_dict``
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import jieba
import yaml

from classifiers.institutions import PARENT_SUBJECT, SERVICES

HERE = Path(__file__).resolve().parent
OUT = HERE.parents[1] / "domain" / "data" / "medical_dict.txt"
LEXICON = HERE.parent / "lexicon"

# Curated domain terms, tagged: n = noun (disease, procedure, department), nz = product / drug / brand.
CURATED: dict[str, tuple[str, ...]] = {
    "n": (
        # diseases often advertised (专科医院常见病种)
        "白癜风",
        "牛皮癣",
        "银屑病",
        "尖锐湿疣",
        "前列腺炎",
        "前列腺增生",
        "宫颈糜烂",
        "宫颈炎",
        "盆腔炎",
        "附件炎",
        "输卵管堵塞",
        "多囊卵巢综合征",
        "不孕不育",
        "男性不育",
        "女性不孕",
        "阳痿",
        "早泄",
        "勃起功能障碍",
        "包皮过长",
        "包茎",
        "精索静脉曲张",
        "痔疮",
        "肛瘘",
        "肛裂",
        "腋臭",
        "狐臭",
        "脱发",
        "斑秃",
        "雄激素性脱发",
        "痛风",
        "股骨头坏死",
        "腰椎间盘突出",
        "颈椎病",
        "癫痫",
        "帕金森病",
        "阿尔茨海默病",
        "脑瘫",
        "自闭症",
        "抽动症",
        "多动症",
        "近视",
        "弱视",
        "散光",
        "白内障",
        "青光眼",
        "干眼症",
        "鼻炎",
        "过敏性鼻炎",
        "鼻窦炎",
        "耳鸣",
        "神经性耳聋",
        "甲亢",
        "甲减",
        "甲状腺结节",
        "乳腺增生",
        "乳腺结节",
        "子宫肌瘤",
        "卵巢囊肿",
        "糖尿病足",
        "尿毒症",
        "肾衰竭",
        "肝硬化",
        "脂肪肝",
        "乙肝",
        "丙肝",
        "幽门螺杆菌",
        "胃溃疡",
        "慢性胃炎",
        "结肠炎",
        "心脑血管病",
        "冠心病",
        "脑梗",
        "脑梗死",
        "脑出血",
        "高血压",
        "高血脂",
        "湿疹",
        "荨麻疹",
        "痤疮",
        "黄褐斑",
        "雀斑",
        "鱼鳞病",
        "灰指甲",
        "带状疱疹",
        "梅毒",
        "淋病",
        "艾滋病",
        "抑郁症",
        "焦虑症",
        "失眠症",
        "白血病",
        "淋巴瘤",
        "鼻咽癌",
        "肺癌",
        "肝癌",
        "胃癌",
        "食管癌",
        "结肠癌",
        "直肠癌",
        "乳腺癌",
        "宫颈癌",
        "卵巢癌",
        "前列腺癌",
        "胰腺癌",
        "膀胱癌",
        "甲状腺癌",
        # procedures and services
        "种植牙",
        "全口种植",
        "即刻种植",
        "隐形矫正",
        "牙齿矫正",
        "根管治疗",
        "窝沟封闭",
        "全口涂氟",
        "冷光美白",
        "瓷贴面",
        "双眼皮",
        "割双眼皮",
        "埋线双眼皮",
        "全切双眼皮",
        "开眼角",
        "祛眼袋",
        "隆鼻",
        "鼻综合",
        "假体隆鼻",
        "隆胸",
        "假体隆胸",
        "自体脂肪移植",
        "自体脂肪填充",
        "脂肪填充",
        "吸脂",
        "抽脂",
        "环吸",
        "磨骨",
        "削骨",
        "下颌角",
        "颧骨内推",
        "线雕",
        "埋线提升",
        "拉皮",
        "植发",
        "毛发移植",
        "私密整形",
        "阴道紧缩",
        "处女膜修复",
        "包皮环切",
        "包皮手术",
        "无痛人流",
        "人工流产",
        "药物流产",
        "试管婴儿",
        "第三代试管",
        "人工授精",
        "取卵",
        "胚胎移植",
        "冻胚移植",
        "胎儿性别鉴定",
        "产前诊断",
        "产前筛查",
        "唐氏筛查",
        "无创产前基因检测",
        "羊水穿刺",
        "造血干细胞移植",
        "骨髓移植",
        "器官移植",
        "肾移植",
        "肝移植",
        "器官捐献",
        "近视手术",
        "全飞秒",
        "半飞秒",
        "晶体植入",
        "角膜塑形镜",
        "胃镜",
        "肠镜",
        "无痛胃镜",
        "无痛肠镜",
        "无痛胃肠镜",
        "无痛分娩",
        "分娩镇痛",
        "改良根治术",
        "根治性切除术",
        "微创手术",
        "腹腔镜手术",
        "宫腔镜",
        "介入治疗",
        "靶向治疗",
        "免疫治疗",
        "细胞治疗",
        "基因治疗",
        "血液净化",
        "血液透析",
        "高压氧",
        "针灸",
        "推拿",
        "拔罐",
        "艾灸",
        "刮痧",
        "正骨",
        "小针刀",
        "穴位埋线",
        "光子嫩肤",
        "激光脱毛",
        "激光祛斑",
        "点阵激光",
        "果酸焕肤",
        "微针",
        "纳米微针",
        "超声刀",
        "热玛吉",
        "热拉提",
        "水光针",
        "水光补水",
        "皮秒",
        "超皮秒",
        "黄金微针",
        "冷冻溶脂",
        "溶脂针",
        # departments and institution types
        "医疗美容科",
        "美容外科",
        "美容皮肤科",
        "美容牙科",
        "美容中医科",
        "生殖医学科",
        "生殖中心",
        "男科",
        "泌尿外科",
        "肛肠科",
        "皮肤性病科",
        "医学影像科",
        "医学检验科",
        "急诊医学科",
        "康复医学科",
        "医疗美容诊所",
        "医疗美容医院",
        "医疗美容门诊部",
        "整形外科医院",
        "民营医院",
        "互联网医院",
        "医疗机构执业许可证",
        "医疗广告审查证明",
        "诊疗科目",
        "国家临床重点专科",
        "国家区域医疗中心",
        "医保定点",
        "医保基金",
        "医调委",
        "卫生监督所",
        "市场监管局",
        "卫健委",
    ),
    "nz": (
        "玻尿酸",
        "透明质酸",
        "肉毒素",
        "肉毒毒素",
        "A型肉毒毒素",
        "保妥适",
        "衡力",
        "吉适",
        "乐提葆",
        "瘦脸针",
        "瘦腿针",
        "瘦肩针",
        "除皱针",
        "童颜针",
        "少女针",
        "美白针",
        "减肥针",
        "司美格鲁肽",
        "胶原蛋白",
        "外泌体",
        "间充质干细胞",
        "脐带干细胞",
        "脂肪干细胞",
        "免疫细胞",
        "NK细胞",
        "CAR-T",
        "羊胎素",
        "胎盘素",
    ),
}

# phrases of these rule categories are claims / idioms (tag l); others are nouns (n)
_CLAIM_PREFIXES = ("ad_",)
_KEEP = re.compile(r"^[\u4e00-\u9fa5A-Za-z\-]{2,12}$")


def _lexicon_terms() -> dict[str, str]:
    terms: dict[str, str] = {}
    for path in sorted(LEXICON.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for rule in doc.get("rules") or []:
            tag = "l" if str(rule.get("category", "")).startswith(_CLAIM_PREFIXES) else "n"
            for p in rule.get("phrases") or []:
                terms.setdefault(str(p), tag)
        if path.name == "guards.yaml":
            for key in ("official_term", "legit_service"):
                for p in doc.get(key, {}).get("phrases", []):
                    terms.setdefault(str(p), "n")
    return terms


def build() -> list[str]:
    jieba.setLogLevel(logging.WARNING)
    base = jieba.Tokenizer()
    base.initialize()
    words: dict[str, str] = {}
    for tag, items in CURATED.items():
        for w in items:
            words.setdefault(w, tag)
    for svc in SERVICES:
        for w in svc.terms:
            words.setdefault(w, "n")
    for child, parent in PARENT_SUBJECT.items():
        words.setdefault(child, "n")
        words.setdefault(parent, "n")
    for w, tag in _lexicon_terms().items():
        words.setdefault(w, tag)
    lines = []
    for w, tag in sorted(words.items()):
        if not _KEEP.match(w) or w.isascii() and len(w) < 3:
            continue
        have = base.FREQ.get(w, 0)
        need = max(int(base.suggest_freq(w, tune=False)), 50)
        if have >= need:
            continue  # jieba already keeps it whole
        lines.append(f"{w} {need} {tag}")
    return lines


def main() -> None:
    lines = build()
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{OUT}: {len(lines)} words")


if __name__ == "__main__":
    main()
