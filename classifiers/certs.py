"""Advertising review-certificate numbers: find them, check format, province and validity (legal_taxonomy.md §1.3).

* 《医疗广告审查证明》: “（省简称）（中）医广【批准年份】第（月）-（日）-（序号）号”, e.g. “（京）中医广【2007】第01-30-10号”;
  textbook form “(X)医广[X1]第X2号” with X2 = 7 digits MMDDNNN; Shandong variant “鲁医广【2013】第0902-001-3711号”
  (MMDD-序号-审批机关编号). Valid for one year (《医疗广告管理办法》第十三条).
* Drug / device / health-food / FSMP ad approvals (21号令, 2020-03-01): “粤药广审（文）第220712-00637号”
  (YYMMDD-序号); validity follows the product registration (two years when none is set) — the taxonomy marks
  this ⚠️ unverified, so an old number is reported as *possibly* expired (S4, for human review) only.
  The pre-2020 10-digit form “X药广审(视)第0000000000号” is obsolete: one-year validity, all long expired.

A valid number is reported (so the product can show “有效审查证明”) but yields no finding; malformed or expired
numbers yield an ``ad_missing_invalid_review_cert`` finding. :func:`missing_cert_finding` covers the ad page that
carries no number at all — the caller decides when a page is an ad.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from classifiers.rules import normalize
from domain import Finding

CATEGORY = "ad_missing_invalid_review_cert"

# The 31 provincial-level divisions of the mainland: official 简称 first, then common alternates.
PROVINCES: dict[str, str] = {
    "京": "北京",
    "津": "天津",
    "沪": "上海",
    "渝": "重庆",
    "冀": "河北",
    "晋": "山西",
    "辽": "辽宁",
    "吉": "吉林",
    "黑": "黑龙江",
    "苏": "江苏",
    "浙": "浙江",
    "皖": "安徽",
    "闽": "福建",
    "赣": "江西",
    "鲁": "山东",
    "豫": "河南",
    "鄂": "湖北",
    "湘": "湖南",
    "粤": "广东",
    "桂": "广西",
    "琼": "海南",
    "川": "四川",
    "蜀": "四川",
    "黔": "贵州",
    "贵": "贵州",
    "滇": "云南",
    "云": "云南",
    "藏": "西藏",
    "陕": "陕西",
    "秦": "陕西",
    "甘": "甘肃",
    "陇": "甘肃",
    "青": "青海",
    "宁": "宁夏",
    "新": "新疆",
    "蒙": "内蒙古",
}

_DASH = r"[-－—‐–~]"
_MEDICAL = re.compile(
    r"(?:[(（〔\[【]?\s*(?P<prov>[\u4e00-\u9fa5])\s*[)）〕\]】]?\s*)?"
    r"(?P<tcm>中)?医广(?:字)?\s*"
    r"[\[【〔(（]?\s*(?P<year>(?:19|20)?\d{2,4})\s*[\]】〕)）]?\s*"
    r"第?\s*(?P<num>\d{1,7}(?:\s*" + _DASH + r"\s*\d{1,7}){0,3})\s*号"
)
_PRODUCT = re.compile(
    r"(?:[(（〔\[【]?\s*(?P<prov>[\u4e00-\u9fa5])\s*[)）〕\]】]?\s*)?"
    r"(?P<kind>药|械|食健|特医)广审\s*"
    r"[(（〔\[【]?\s*(?P<media>视|声|文)?\s*[)）〕\]】]?\s*"
    r"第?\s*(?P<num>\d{1,12}(?:\s*" + _DASH + r"\s*\d{1,7}){0,2})\s*号"
)
_PRODUCT_KINDS = {"药": "drug", "械": "device", "食健": "health_food", "特医": "fsmp"}
_PRODUCT_NAMES = {
    "drug": "药品",
    "device": "医疗器械",
    "health_food": "保健食品",
    "fsmp": "特殊医学用途配方食品",
}

LEGAL_BASIS_MEDICAL = "《广告法》第四十六条、第四十八条；《医疗广告管理办法》第三条、第十三条、第十四条"
LEGAL_BASIS_TCM = "《广告法》第四十六条；《中医药法》第十九条；《医疗广告管理办法》第十三条、第十四条"
LEGAL_BASIS_PRODUCT = (
    "《广告法》第四十六条、第四十八条；《药品、医疗器械、保健食品、特殊医学用途配方食品广告审查管理暂行办法》"
)


@dataclass(slots=True)
class CertCheck:
    """One review-certificate number found in a text, with the verdict of the checks."""

    number: str  # as written in the text
    start: int
    end: int
    kind: str  # medical | tcm_medical | drug | device | health_food | fsmp
    status: str  # valid | expired | possibly_expired | malformed
    province: str | None = None  # full name, e.g. 广东
    approved_on: date | None = None
    expires_on: date | None = None
    problems: list[str] = field(default_factory=list)  # Chinese, one per failed check
    finding: Finding | None = None  # None when the number is valid

    @property
    def valid(self) -> bool:
        return self.status == "valid"

    @property
    def display(self) -> str:
        if self.valid:
            until = f"，有效期至{self.expires_on.isoformat()}" if self.expires_on else ""
            return f"有效审查证明 {self.number}{until}"
        return f"审查证明存疑 {self.number}：{'；'.join(self.problems)}"


def find_review_certs(
    text: str, today: date | None = None, *, region: str | None = None, field: str = "text"
) -> list[CertCheck]:
    """All review-certificate numbers in ``text`` with format/province/validity checks.

    ``region``: the institution's location (e.g. "广东省广州市"); when given, a number from another province is
    flagged as suspected forgery (《广告法》第四十八条).
    """
    if not text:
        return []
    today = today or date.today()
    norm = normalize(text)
    out: list[CertCheck] = []
    for m in _MEDICAL.finditer(norm):
        out.append(_check_medical(text, m, today, region, field))
    for m in _PRODUCT.finditer(norm):
        out.append(_check_product(text, m, today, region, field))
    out.sort(key=lambda c: c.start)
    return out


def cert_findings(text: str, today: date | None = None, *, field: str = "text") -> list[Finding]:
    """Findings for malformed or expired numbers only (valid ones yield nothing)."""
    return [c.finding for c in find_review_certs(text, today, field=field) if c.finding is not None]


def missing_cert_finding(
    text: str, *, tcm: bool = False, field: str = "text", today: date | None = None
) -> Finding | None:
    """For a page judged to be a medical ad: a finding when it carries no review-certificate number at all.

    Returns None when any number (valid or not) is present — bad numbers are reported by :func:`cert_findings`.
    """
    if find_review_certs(text, today, field=field):
        return None
    name = "中医医疗广告" if tcm else "医疗广告"
    return Finding(
        category=CATEGORY,
        label=None,
        start=0,
        end=0,
        text="",
        legal_basis=LEGAL_BASIS_TCM if tcm else LEGAL_BASIS_MEDICAL,
        severity="S2",
        source="rules:cert.missing",
        field=field,
        score=0.95,
        reason=f"{name}未标注《医疗广告审查证明》文号，疑似未经审查发布",
    )


# --------------------------------------------------------------------------------------------------- checks


def _province(m: re.Match[str], problems: list[str], region: str | None) -> str | None:
    abbr = m.group("prov")
    if not abbr:
        problems.append("文号缺少省、自治区、直辖市简称")
        return None
    name = PROVINCES.get(abbr)
    if name is None:
        problems.append(f"“{abbr}”不是省级行政区简称")
        return None
    if region and name not in region:
        problems.append(f"文号省份（{name}）与机构所在地（{region}）不符，疑似伪造或转让")
    return name


def _safe_date(y: int, mo: int, d: int) -> date | None:
    try:
        return date(y, mo, d)
    except ValueError:
        return None


def _add_years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 Feb
        return d.replace(year=d.year + years, day=28)


def _check_medical(text: str, m: re.Match[str], today: date, region: str | None, field: str) -> CertCheck:
    problems: list[str] = []
    tcm = bool(m.group("tcm"))
    province = _province(m, problems, region)
    year_s = m.group("year")
    year = int(year_s) if len(year_s) == 4 else None
    if year is None or not 2007 <= year <= today.year:
        problems.append(f"批准年份“{year_s}”无效（应为2007年至今的四位年份）")
        year = None
    groups = re.split(r"\s*" + _DASH + r"\s*", m.group("num"))
    month = day = None
    if len(groups) == 1 and len(groups[0]) == 7:  # MMDDNNN
        month, day = int(groups[0][:2]), int(groups[0][2:4])
    elif len(groups) >= 3 and len(groups[0]) <= 2 and len(groups[1]) <= 2:  # MM-DD-NNN
        month, day = int(groups[0]), int(groups[1])
    elif len(groups) >= 2 and len(groups[0]) == 4:  # MMDD-NNN(-机关编号), Shandong
        month, day = int(groups[0][:2]), int(groups[0][2:])
    else:
        problems.append("文号序号格式异常（应为“第月-日-序号号”或七位数字）")
    approved = None
    if year is not None and month is not None and day is not None:
        approved = _safe_date(year, month, day)
        if approved is None:
            problems.append(f"批准日期{year}年{month}月{day}日不存在")
        elif approved > today:
            problems.append(f"批准日期{approved.isoformat()}晚于今天")
            approved = None
    expires = _add_years(approved, 1) if approved else None
    kind = "tcm_medical" if tcm else "medical"
    basis = LEGAL_BASIS_TCM if tcm else LEGAL_BASIS_MEDICAL
    if problems:
        status, severity = "malformed", "S2"
        reason = f"医疗广告审查证明文号“{text[m.start() : m.end()]}”格式异常：{'；'.join(problems)}"
    elif expires and expires < today:
        status, severity = "expired", "S4"
        problems.append(f"审查证明已于{expires.isoformat()}过期（有效期一年）")
        reason = (
            f"医疗广告审查证明“{text[m.start() : m.end()]}”批准于{approved.isoformat() if approved else ''}，"
            f"有效期一年，已于{expires.isoformat()}过期（内容未变的可不予处罚，需人工复核）"
        )
    else:
        status, severity, reason = "valid", "", ""
    return _make(text, m, kind, status, severity, province, approved, expires, problems, basis, reason, field)


def _check_product(text: str, m: re.Match[str], today: date, region: str | None, field: str) -> CertCheck:
    problems: list[str] = []
    kind = _PRODUCT_KINDS[m.group("kind")]
    province = _province(m, problems, region)
    groups = re.split(r"\s*" + _DASH + r"\s*", m.group("num"))
    approved = expires = None
    status = ""
    if len(groups) == 2 and len(groups[0]) == 6 and len(groups[1]) == 5:  # YYMMDD-NNNNN (2020-)
        yy, mo, dd = int(groups[0][:2]), int(groups[0][2:4]), int(groups[0][4:])
        approved = _safe_date(2000 + yy, mo, dd)
        if approved is None:
            problems.append(f"批准日期“{groups[0]}”不存在")
        elif approved > today:
            problems.append(f"批准日期{approved.isoformat()}晚于今天")
            approved = None
        elif approved < date(2020, 3, 1):
            problems.append("新格式文号的批准日期早于2020年3月1日（21号令施行日）")
        else:
            expires = _add_years(approved, 2)
    elif len(groups) == 1 and len(groups[0]) == 10:  # obsolete pre-2020 form, one-year validity
        status = "expired"
        problems.append("2020年3月1日前的旧格式文号（有效期一年），已失效")
    else:
        problems.append("文号格式异常（应为“第YYMMDD-五位序号号”）")
    name = _PRODUCT_NAMES[kind]
    number = text[m.start() : m.end()]
    if status == "expired":
        severity = "S4"
        reason = f"{name}广告审查文号“{number}”为旧格式，已失效"
    elif problems:
        status, severity = "malformed", "S2"
        reason = f"{name}广告审查文号“{number}”格式异常：{'；'.join(problems)}"
    elif expires and expires < today:
        status, severity = "possibly_expired", "S4"
        problems.append(f"批准已满两年（{expires.isoformat()}），可能已过期，需核对产品注册证明有效期")
        reason = f"{name}广告审查文号“{number}”批准已满两年，可能已过期，需人工核对"
    else:
        status, severity, reason = "valid", "", ""
    return _make(
        text,
        m,
        kind,
        status,
        severity,
        province,
        approved,
        expires,
        problems,
        LEGAL_BASIS_PRODUCT,
        reason,
        field,
    )


def _make(
    text: str,
    m: re.Match[str],
    kind: str,
    status: str,
    severity: str,
    province: str | None,
    approved: date | None,
    expires: date | None,
    problems: list[str],
    basis: str,
    reason: str,
    field: str,
) -> CertCheck:
    number = text[m.start() : m.end()].strip()
    start = m.start() + (len(text[m.start() : m.end()]) - len(text[m.start() : m.end()].lstrip()))
    finding = None
    if status != "valid":
        finding = Finding(
            category=CATEGORY,
            label=None,
            start=start,
            end=start + len(number),
            text=number,
            legal_basis=basis,
            severity=severity,
            source=f"rules:cert.{status}",
            field=field,
            score=0.95 if severity == "S2" else 0.55,
            reason=reason,
        )
    return CertCheck(
        number=number,
        start=start,
        end=start + len(number),
        kind=kind,
        status=status,
        province=province,
        approved_on=approved,
        expires_on=expires,
        problems=problems,
        finding=finding,
    )
