"""The institution record: a medical institution (or a non-medical venue) with its 《医疗机构执业许可证》 number
and licensed 诊疗科目, and the subject hierarchy of the 《医疗机构诊疗科目名录》 that decides what a licence covers."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

INSTITUTION_TYPES = ("public_hospital", "private_hospital", "clinic", "medical_beauty", "beauty_salon")
NON_MEDICAL_TYPES = frozenset({"beauty_salon"})

# first-level subjects of the 《医疗机构诊疗科目名录》 (卫医发〔1994〕27号, with later additions)
FIRST_LEVEL_SUBJECTS: tuple[str, ...] = tuple(
    [
        "预防保健科",
        "全科医疗科",
        "内科",
        "外科",
        "妇产科",
        "妇女保健科",
        "儿科",
        "小儿外科",
        "儿童保健科",
        "眼科",
        "耳鼻咽喉科",
        "口腔科",
        "皮肤科",
        "医疗美容科",
        "精神科",
        "传染科",
        "结核病科",
        "地方病科",
        "肿瘤科",
        "急诊医学科",
        "康复医学科",
        "运动医学科",
        "职业病科",
        "临终关怀科",
        "特种医学与军事医学科",
        "麻醉科",
        "疼痛科",
        "重症医学科",
        "医学检验科",
        "病理科",
        "医学影像科",
        "中医科",
        "民族医学科",
        "中西医结合科",
    ]
)

# second-level subject → first-level subject (《医疗机构诊疗科目名录》)
PARENT_SUBJECT: dict[str, str] = {
    **dict.fromkeys(["美容外科", "美容牙科", "美容皮肤科", "美容中医科"], "医疗美容科"),
    **dict.fromkeys(
        ["普通外科", "神经外科", "骨科", "泌尿外科", "胸外科", "心脏大血管外科", "烧伤科", "整形外科"], "外科"
    ),
    **dict.fromkeys(["妇科", "产科", "计划生育", "优生学", "生殖健康与不孕症"], "妇产科"),
    **dict.fromkeys(["皮肤病", "性传播疾病"], "皮肤科"),
    **dict.fromkeys(
        [
            "呼吸内科",
            "消化内科",
            "神经内科",
            "心血管内科",
            "血液内科",
            "肾病学",
            "内分泌",
            "免疫学",
            "老年病",
        ],
        "内科",
    ),
    **dict.fromkeys(
        [
            "牙体牙髓病",
            "牙周病",
            "口腔黏膜病",
            "儿童口腔",
            "口腔颌面外科",
            "口腔修复",
            "口腔正畸",
            "口腔种植",
        ],
        "口腔科",
    ),
    **dict.fromkeys(["X线诊断", "CT诊断", "磁共振成像诊断", "超声诊断", "心电诊断"], "医学影像科"),
}


@dataclass(frozen=True, slots=True)
class Institution:
    id: str
    name: str
    type: str
    aliases: tuple[str, ...] = ()
    licence_no: str = ""
    licensed_subjects: tuple[str, ...] = ()
    region: str = ""
    domains: tuple[str, ...] = ()
    wechat_accounts: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def is_medical(self) -> bool:
        """A medical institution (holds a 医疗机构执业许可证), as opposed to a beauty salon or other venue."""
        return self.type not in NON_MEDICAL_TYPES and bool(self.licence_no)

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    def covers(self, subjects: tuple[str, ...]) -> bool:
        """Whether the licensed subjects include any of ``subjects`` (directly or via the first-level parent)."""
        licensed = set(self.licensed_subjects)
        return any(s in licensed or PARENT_SUBJECT.get(s) in licensed for s in subjects)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        extra = d.pop("extra")
        for key in ("aliases", "licensed_subjects", "domains", "wechat_accounts"):
            d[key] = list(d[key])
        return {**d, **extra}
