"""Medical institutions: the registry (``institutions.yaml``), linking pages to institutions, and the licence-scope
check (advertised services vs. the 诊疗科目 on the 《医疗机构执业许可证》).

Schema of ``institutions.yaml``::

    institutions:
      - id: private-hospital
        name: 某某男科医院
        aliases: [某某医院]
        licence_no: "PDY12345X44010012A1002"
        type: private_hospital   # public_hospital | private_hospital | clinic | medical_beauty | beauty_salon
        licensed_subjects: [内科, 外科, 泌尿外科]
        region: 某省某市
        domains: ["127.0.0.12"]
        wechat_accounts: [某某男科医院]

Service → subject mapping follows the 《医疗机构诊疗科目名录》: a first-level subject (外科, 妇产科, 医疗美容科 …)
covers its second-level subjects (泌尿外科, 生殖健康与不孕症, 美容外科 …). 美容外科/美容皮肤科 belong to 医疗美容科,
not to 外科/皮肤科: a hospital licensed for 外科 still needs 医疗美容科 (美容外科) for 隆鼻 (《医疗美容服务管理办法》).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from classifiers.rules import YAML_LOADER, default_engine
from domain import Finding
from domain.institutions import INSTITUTION_TYPES, PARENT_SUBJECT, Institution
from domain.overrides import apply_overrides
from domain.text import tokenizer


@dataclass(frozen=True, slots=True)
class Service:
    """A group of advertised service terms and the subjects any one of which licenses them."""

    name: str  # Chinese display name of the group
    subjects: tuple[str, ...]  # acceptable subjects, the first is the one named in reasons
    terms: tuple[str, ...]
    medical_beauty: bool = False


SERVICES: tuple[Service, ...] = (
    Service(
        "美容外科手术",
        ("美容外科", "医疗美容科"),
        (
            "隆鼻",
            "双眼皮",
            "割双眼皮",
            "重睑",
            "吸脂",
            "抽脂",
            "隆胸",
            "丰胸手术",
            "假体",
            "磨骨",
            "削骨",
            "开眼角",
            "眼袋手术",
            "自体脂肪移植",
            "脂肪填充",
            "线雕",
            "埋线提升",
            "拉皮",
            "除皱手术",
            "植发",
            "私密整形",
            "阴道紧缩",
            "鼻综合",
            "下颌角",
            "颧骨内推",
        ),
        medical_beauty=True,
    ),
    Service(
        "注射及光电美容",
        ("美容皮肤科", "美容外科", "医疗美容科"),
        (
            "水光针",
            "玻尿酸",
            "透明质酸",
            "肉毒",
            "瘦脸针",
            "除皱针",
            "溶脂针",
            "童颜针",
            "光子嫩肤",
            "皮秒",
            "激光祛斑",
            "热玛吉",
            "超声刀",
            "激光脱毛",
            "微针",
            "果酸焕肤",
            "点阵激光",
            "嫩肤",
            "美白针",
        ),
        medical_beauty=True,
    ),
    Service(
        "美容牙科", ("美容牙科", "医疗美容科", "口腔科"), ("冷光美白", "牙齿美白", "瓷贴面", "牙贴面"), True
    ),
    Service(
        "口腔诊疗", ("口腔科",), ("种植牙", "牙齿矫正", "正畸", "隐形矫正", "根管治疗", "拔牙", "烤瓷牙")
    ),
    Service(
        "眼科手术",
        ("眼科",),
        ("lasik", "近视手术", "全飞秒", "半飞秒", "icl", "晶体植入", "白内障手术", "激光矫正视力"),
    ),
    Service(
        "辅助生殖",
        ("生殖健康与不孕症", "妇产科"),
        ("试管婴儿", "ivf", "人工授精", "取卵", "胚胎移植", "第三代试管"),
    ),
    Service("计划生育手术", ("计划生育", "妇产科"), ("人流", "人工流产", "药流", "无痛人流", "上环", "取环")),
    Service("产科", ("产科", "妇产科"), ("分娩", "接生", "剖宫产", "顺产")),
    Service(
        "男科/泌尿外科", ("泌尿外科", "外科"), ("包皮手术", "包皮环切", "阳痿", "早泄", "前列腺", "男科")
    ),
    Service("性病诊疗", ("性传播疾病", "皮肤科"), ("性病", "尖锐湿疣", "梅毒", "淋病")),
    Service("皮肤病诊疗", ("皮肤病", "皮肤科"), ("白癜风", "牛皮癣", "银屑病", "湿疹", "痤疮治疗")),
    Service(
        "中医诊疗",
        ("中医科", "中西医结合科", "民族医学科"),
        (
            "中医治疗",
            "中医调理",
            "中医诊疗",
            "中医门诊",
            "中医理疗",
            # 推拿、拔罐、艾灸、刮痧 and 中药调理 are left out: 养生馆 may offer them as non-medical 保健 services
            # and hospitals prescribe 中成药 without a 中医科 licence.
            "针灸",
            "正骨",
        ),
    ),
    Service("心理/精神诊疗", ("精神科", "医学心理科"), ("心理治疗", "抑郁症治疗", "焦虑症治疗", "精神疾病")),
    Service("肿瘤治疗", ("肿瘤科",), ("化疗", "放疗", "肿瘤治疗", "靶向治疗")),
    Service("消化内镜", ("消化内科", "内科"), ("胃镜", "肠镜")),
    Service("医学影像", ("医学影像科",), ("彩超", "b超", "ct检查", "核磁共振")),
    Service("康复医学", ("康复医学科",), ("康复理疗", "康复训练")),
)

_NEGATORS = ("不开展", "不提供", "未开展", "不做", "没有开展", "禁止", "严禁", "不得")


class InstitutionRegistry:
    def __init__(self, institutions: list[Institution]) -> None:
        self.institutions = institutions
        self.by_id = {i.id: i for i in institutions}
        names: dict[str, Institution] = {}
        for inst in institutions:
            for n in inst.names:
                if len(n) >= 2:
                    names.setdefault(n.lower(), inst)
        self._names = names
        alternation = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
        self._name_re = re.compile(alternation) if alternation else None

    @classmethod
    def load(cls, path: Path, overrides: list[dict[str, Any]] | None = None) -> InstitutionRegistry:
        """Read ``institutions.yaml`` with the console's ``overrides`` applied
        (:func:`domain.overrides.apply_overrides`); a malformed entry is a ValueError naming it and the problem."""
        path = Path(path)
        try:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=YAML_LOADER) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ValueError(f"{path}: 无法读取机构登记: {exc}") from exc
        entries = data.get("institutions") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            raise ValueError(f"{path}: 缺少 institutions 列表")
        return cls.from_entries(apply_overrides(entries, overrides or []), path.name)

    @classmethod
    def from_entries(cls, entries: list[Any], origin: str = "机构登记") -> InstitutionRegistry:
        """Validate registry entries (dicts as in ``institutions.yaml``); ValueError naming the bad entry."""
        out: list[Institution] = []
        seen: set[str] = set()
        for n, entry in enumerate(entries, 1):
            inst = _parse(entry, f"{origin} 第{n}项")
            if inst.id in seen:
                raise ValueError(f"{origin} 第{n}项: 机构 id 重复: {inst.id}")
            seen.add(inst.id)
            out.append(inst)
        return cls(out)

    def as_dicts(self) -> list[dict[str, Any]]:
        return [i.to_dict() for i in self.institutions]

    def get(self, institution_id: str) -> Institution | None:
        return self.by_id.get(institution_id)

    def link(self, url: str, text: str = "", account: str = "") -> Institution | None:
        """The institution a page belongs to: by domain, then WeChat account, then the most-mentioned name."""
        host = (urlsplit(url).hostname or "").lower() if url else ""
        if host:
            for inst in self.institutions:
                for d in inst.domains:
                    d = d.lower().strip(".")
                    if host == d or host.endswith("." + d):
                        return inst
        if account:
            acc = account.strip().lower()
            for inst in self.institutions:
                if acc in (a.lower() for a in inst.wechat_accounts) or acc == inst.name.lower():
                    return inst
        counts: dict[str, int] = {}
        first: dict[str, int] = {}
        for inst, pos in self._mention_positions(text):
            counts[inst.id] = counts.get(inst.id, 0) + 1
            first.setdefault(inst.id, pos)
        if not counts:
            return None
        best = max(counts, key=lambda i: (counts[i], -first[i]))
        return self.by_id[best]

    def mentions(self, text: str) -> list[Institution]:
        """Institutions named (by name or alias) in ``text``, in order of first mention."""
        out: list[Institution] = []
        for inst, _ in self._mention_positions(text):
            if inst not in out:
                out.append(inst)
        return out

    def _mention_positions(self, text: str) -> list[tuple[Institution, int]]:
        if not text or self._name_re is None:
            return []
        low = text.lower()
        return [(self._names[m.group(0)], m.start()) for m in self._name_re.finditer(low)]


def _str_tuple(value: Any, where: str, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list):
        raise ValueError(f"{where}: {key} 应为列表")
    return tuple(str(v).strip() for v in value if str(v).strip())


def _parse(entry: Any, where: str) -> Institution:
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: 应为映射")
    iid = str(entry.get("id") or "").strip()
    name = str(entry.get("name") or "").strip()
    if not iid or not name:
        raise ValueError(f"{where}: 缺少 id 或 name")
    itype = str(entry.get("type") or "").strip()
    if itype not in INSTITUTION_TYPES:
        raise ValueError(f"{where} ({iid}): 未知机构类型 {itype!r}，应为 {'/'.join(INSTITUTION_TYPES)}")
    known = {"id", "name", "aliases", "licence_no", "type", "licensed_subjects", "region", "domains"}
    known |= {"wechat_accounts"}
    return Institution(
        id=iid,
        name=name,
        type=itype,
        aliases=_str_tuple(entry.get("aliases"), where, "aliases"),
        licence_no=str(entry.get("licence_no") or "").strip(),
        licensed_subjects=_str_tuple(entry.get("licensed_subjects"), where, "licensed_subjects"),
        region=str(entry.get("region") or "").strip(),
        domains=_str_tuple(entry.get("domains"), where, "domains"),
        wechat_accounts=_str_tuple(entry.get("wechat_accounts"), where, "wechat_accounts"),
        extra={k: v for k, v in entry.items() if k not in known},
    )


# --------------------------------------------------------------------------------------------------- scope check

_TERM_TO_SERVICE: dict[str, Service] = {t: s for s in SERVICES for t in s.terms}
_TERM_RE = re.compile("|".join(re.escape(t) for t in sorted(_TERM_TO_SERVICE, key=len, reverse=True)))


def _category_meta(category: str) -> tuple[str, str]:
    cat = default_engine().categories[category]
    return cat.legal_basis, cat.severity


def find_services(text: str) -> list[tuple[Service, int, int]]:
    """Advertised service terms in ``text`` (not negated: 不开展/禁止 …), as (service, start, end)."""
    if not text:
        return []
    low = text.lower()  # ASCII terms (LASIK, ICL) are stored lower-case; lower() keeps CJK offsets
    if len(low) != len(text):
        low = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
    out = []
    bounds: set[int] | None = None
    for m in _TERM_RE.finditer(low):
        before = low[max(0, m.start() - 6) : m.start()]
        if any(neg in before for neg in _NEGATORS):
            continue
        if bounds is None:
            bounds = _word_bounds(text)
        if m.start() not in bounds or m.end() not in bounds:
            continue  # inside a longer word: 性病 in 慢性病, 化疗 in 文化疗愈
        out.append((_TERM_TO_SERVICE[m.group(0)], m.start(), m.end()))
    return out


def _word_bounds(text: str) -> set[int]:
    """Character offsets where jieba (with the medical dictionary) puts a word boundary."""
    bounds = {0, len(text)}
    for _word, start, end in tokenizer().tokenize(text):
        bounds.add(start)
        bounds.add(end)
    return bounds


def scope_findings(inst: Institution, text: str, field: str = "text") -> list[Finding]:
    """Services advertised on ``inst``'s page that its licence does not cover (first mention per service group).

    * non-medical venue (beauty salon, no licence): medical-beauty services → ``svc_non_medical_beauty``, other
      medical services → ``svc_unlicensed_practice``;
    * medical institution: services outside its 诊疗科目 → ``svc_out_of_scope_practice``.
    """
    findings: list[Finding] = []
    seen: set[str] = set()
    low = text.lower()
    own_names = [  # a service word inside the institution's own name (华康男科) is not an advertised service
        (m.start(), m.end())
        for n in inst.names
        if len(n) >= 2
        for m in re.finditer(re.escape(n.lower()), low)
    ]
    licensed = "、".join(inst.licensed_subjects) or "无"
    for service, start, end in find_services(text):
        if service.name in seen or any(a < end and start < b for a, b in own_names):
            continue
        term = text[start:end]
        if not inst.is_medical:
            category = "svc_non_medical_beauty" if service.medical_beauty else "svc_unlicensed_practice"
            kind = "生活美容场所" if inst.type == "beauty_salon" else "未取得《医疗机构执业许可证》的机构"
            what = "医疗美容项目" if service.medical_beauty else "医疗服务"
            reason = f"{inst.name}为{kind}，却宣传“{term}”（{service.name}，属{what}，须由取得执业许可的医疗机构开展）"
        elif not inst.covers(service.subjects):
            category = "svc_out_of_scope_practice"
            subject = service.subjects[0]
            parent = PARENT_SUBJECT.get(subject)
            subject_txt = f"{parent}（{subject}）" if parent and parent != subject else subject
            reason = (
                f"{inst.name}宣传“{term}”（{service.name}，需核准{subject_txt}诊疗科目），"
                f"但其《医疗机构执业许可证》核准科目为：{licensed}，不含{subject}"
            )
            if service.medical_beauty and "外科" in inst.licensed_subjects:
                reason += "（美容外科属医疗美容科，须单独核准，外科不能替代）"
        else:
            continue
        seen.add(service.name)
        basis, severity = _category_meta(category)
        findings.append(
            Finding(
                category=category,
                label="unapproved_service",
                start=start,
                end=end,
                text=term,
                legal_basis=basis,
                severity=severity,
                source=f"institutions:{inst.id}",
                field=field,
                score=1.0,
                reason=reason,
            )
        )
    return findings
