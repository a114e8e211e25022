"""Campaign statistics (专项整治量化统计): for a period of Beijing days, the flags and the confirmed violations by
category, region, institution type and institution, the institutions involved, and the cases opened and referred
(an investigator's cases; auto-capture's holding cases are not counted). Written as Excel (openpyxl, a sheet per
breakdown, Chinese headers) and Markdown.

Counting unit: a *flag* is a distinct (document, category) pair found in any version of the document fetched in the
period — a page re-fetched or changed within the period is counted once per category. A flag is *confirmed* when a
reviewer's decision on that document is ``confirm`` or ``escalate`` and is about that finding, that category, that
finding's label, or the whole document."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from digests.build import beijing_day_bounds
from domain.labels import SEVERITIES
from store.db import Store
from store.digests import FlagRows

CONFIRMING = ("confirm", "escalate")
INSTITUTION_TYPE_NAMES = {
    "public_hospital": "公立医院",
    "private_hospital": "民营医院",
    "clinic": "诊所",
    "medical_beauty": "医疗美容机构",
    "beauty_salon": "生活美容场所（非医疗机构）",
    "": "未关联机构",
}
COLUMNS = (
    "发现问题数（条）",
    "确认违法数（条）",
    "涉及网页数（篇）",
    "涉及机构数（家）",
    "立案数（件）",
    "移送数（件）",
)


def _confirmed(flag: dict[str, Any], feedback: list[dict[str, Any]]) -> bool:
    for fb in feedback:
        if fb["decision"] not in CONFIRMING:
            continue
        category = fb["finding_category"] or fb["category"]
        if category:
            if category == flag["category"]:
                return True
        elif fb["label"]:
            if fb["label"] == flag["label"]:
                return True
        else:  # a decision on the whole document
            return True
    return False


def collect_flags(store: Store, start: date, end: date, region: str | None = None) -> list[dict[str, Any]]:
    """One row per flag of the period ``[start, end]`` (Beijing days, inclusive)."""
    t0, _ = beijing_day_bounds(start)
    _, t1 = beijing_day_bounds(end)
    repo = FlagRows(store)
    institutions = repo.institutions()
    flags: dict[tuple[str, str], dict[str, Any]] = {}
    for row in repo.versions_between(t0, t1):
        inst = institutions.get(row["institution_id"] or "") or {}
        doc_region = row["region"] or inst.get("region") or ""
        if region and not doc_region.startswith(region):
            continue
        for f in row["findings"]:
            key = (row["document_id"], f["category"])
            rank = SEVERITIES.index(f["severity"]) if f["severity"] in SEVERITIES else 99
            old = flags.get(key)
            if old is not None and old["_rank"] <= rank:
                continue
            flags[key] = {
                "document_id": row["document_id"],
                "category": f["category"],
                "label": f["label"],
                "severity": f["severity"],
                "_rank": rank,
                "region": doc_region or "未知地区",
                "institution_id": row["institution_id"] or "",
                "institution": inst.get("name") or row["institution_id"] or "未关联机构",
                "institution_type": inst.get("type") or "",
            }
    feedback: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for fb in repo.feedback([d for d, _ in flags]):
        feedback[fb["document_id"]].append(fb)
    out = []
    for flag in flags.values():
        flag.pop("_rank")
        flag["confirmed"] = _confirmed(flag, feedback[flag["document_id"]])
        out.append(flag)
    return sorted(out, key=lambda f: (f["document_id"], f["category"]))


def collect_cases(store: Store, start: date, end: date, region: str | None = None) -> list[dict[str, Any]]:
    """One row per case opened or referred in the period, with its institution's region, type and name."""
    t0, _ = beijing_day_bounds(start)
    _, t1 = beijing_day_bounds(end)
    repo = FlagRows(store)
    institutions = repo.institutions()
    out = []
    for case in repo.cases_between(t0, t1):
        inst = institutions.get(case["institution_id"]) or {}
        case_region = inst.get("region") or ""
        if region and not case_region.startswith(region):
            continue
        out.append(
            {
                **case,
                "region": case_region or "未知地区",
                "institution": inst.get("name") or case["institution_id"] or "未关联机构",
                "institution_type": inst.get("type") or "",
            }
        )
    return out


def _row(flags: list[dict[str, Any]], cases: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "flags": len(flags),
        "confirmed": sum(1 for f in flags if f["confirmed"]),
        "documents": len({f["document_id"] for f in flags}),
        "institutions": len({f["institution_id"] for f in flags if f["institution_id"]}),
        "cases_opened": sum(1 for c in cases if c["opened"]),
        "cases_referred": sum(1 for c in cases if c["referred"]),
    }


def _breakdown(
    flags: list[dict[str, Any]],
    cases: list[dict[str, Any]],
    key: Callable[[dict[str, Any]], str],
    case_keys: Callable[[dict[str, Any]], list[str]],
) -> list[dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    case_groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for f in flags:
        groups[key(f)].append(f)
    for c in cases:
        for name in dict.fromkeys(case_keys(c)):
            case_groups[name].append(c)
    rows = [{"name": name, **_row(groups[name], case_groups[name])} for name in {*groups, *case_groups}]
    return sorted(rows, key=lambda r: (-r["flags"], -r["cases_opened"], r["name"]))


def campaign_statistics(
    store: Store,
    start: date,
    end: date,
    *,
    region: str | None = None,
    category_names: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The statistics of the period as data (what the Excel and Markdown show)."""
    if end < start:
        raise ValueError(f"结束日期 {end} 早于开始日期 {start}")
    names = category_names or {}
    flags = collect_flags(store, start, end, region)
    cases = collect_cases(store, start, end, region)
    totals = _row(flags, cases)

    def type_name(x: dict[str, Any]) -> str:
        return INSTITUTION_TYPE_NAMES.get(x["institution_type"], x["institution_type"])

    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "region": region or "",
        "totals": totals,
        "cases": {"opened": totals["cases_opened"], "referred": totals["cases_referred"]},
        "by_category": _breakdown(
            flags,
            cases,
            lambda f: names.get(f["category"], f["category"]),
            lambda c: [names.get(k, k) for k in c["categories"]] or ["未分类"],
        ),
        "by_region": _breakdown(flags, cases, lambda f: f["region"], lambda c: [c["region"]]),
        "by_institution_type": _breakdown(flags, cases, type_name, lambda c: [type_name(c)]),
        "by_institution": _breakdown(flags, cases, lambda f: f["institution"], lambda c: [c["institution"]]),
        "institutions_involved": sorted(
            {f["institution"] for f in flags if f["institution_id"]}
            | {c["institution"] for c in cases if c["institution_id"]}
        ),
    }


SHEETS = (
    ("按违法类别", "违法类别", "by_category"),
    ("按地区", "地区", "by_region"),
    ("按机构类型", "机构类型", "by_institution_type"),
    ("按机构", "机构", "by_institution"),
)
_HEAD = Font(bold=True, color="FFFFFF")
_FILL = PatternFill("solid", fgColor="1F3A5F")


def _values(r: dict[str, Any]) -> list[Any]:
    return [
        r["flags"],
        r["confirmed"],
        r["documents"],
        r["institutions"],
        r["cases_opened"],
        r["cases_referred"],
    ]


def _header(ws: Any, headers: list[str]) -> None:
    ws.append(headers)
    for cell in ws[ws.max_row]:
        cell.font, cell.fill = _HEAD, _FILL
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    ws.freeze_panes = f"A{ws.max_row + 1}"  # a coordinate, not ws.cell(): that would create an empty row


def write_xlsx(stats: dict[str, Any], path: Path) -> None:
    wb = Workbook()
    ws = wb.active
    ws.title = "汇总"
    scope = f"（{stats['region']}）" if stats["region"] else ""
    ws.append([f"医疗广告与医疗服务专项整治量化统计表{scope}"])
    ws["A1"].font = Font(bold=True, size=14)
    ws.append(["统计期间", f"{stats['from']} 至 {stats['to']}（北京时间，含首尾两日）"])
    ws.append(["地区范围", stats["region"] or "全部地区"])
    ws.append([])
    _header(ws, ["指标", "数值"])
    t = stats["totals"]
    for name, value in zip(COLUMNS, _values(t), strict=True):
        ws.append([name, value])
    ws.append([])
    ws.append(["涉及机构名单", "、".join(stats["institutions_involved"]) or "无"])
    ws.append([])
    ws.append(["口径说明", "发现问题数：期间内抓取到的网页版本中的 (网页, 违法类别) 去重计数。"])
    ws.append(["", "确认违法数：其中经审核人员“确认”或“升级”的发现。"])
    ws.append(
        [
            "",
            "立案数：期间内调查人员新建的案件数（自动取证生成的存证案件不计）；移送数：期间内状态变为“已移送”的案件数。",
        ]
    )
    ws.append(["", "分类别统计时，一个案件按其登记的每个违法类别各计一次。"])
    ws.column_dimensions["A"].width = 22
    ws.column_dimensions["B"].width = 70
    for title, first, key in SHEETS:
        sheet = wb.create_sheet(title)
        _header(sheet, [first, *COLUMNS])
        for r in stats[key]:
            sheet.append([r["name"], *_values(r)])
        sheet.append(["合计", *_values(t)])
        for cell in sheet[sheet.max_row]:
            cell.font = Font(bold=True)
        sheet.column_dimensions["A"].width = 34
        for i in range(2, len(COLUMNS) + 2):
            sheet.column_dimensions[get_column_letter(i)].width = 16
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)


def to_markdown(stats: dict[str, Any]) -> str:
    scope = f"（{stats['region']}）" if stats["region"] else ""
    t = stats["totals"]
    lines = [
        f"# 医疗广告与医疗服务专项整治量化统计表{scope}",
        "",
        f"统计期间：{stats['from']} 至 {stats['to']}（北京时间，含首尾两日）；地区范围：{stats['region'] or '全部地区'}",
        "",
        "| 指标 | 数值 |",
        "|---|---:|",
        *[f"| {n} | {v} |" for n, v in zip(COLUMNS, _values(t), strict=True)],
        "",
        f"涉及机构：{'、'.join(stats['institutions_involved']) or '无'}",
    ]
    for title, first, key in SHEETS:
        lines += [
            "",
            f"## {title}",
            "",
            f"| {first} | " + " | ".join(COLUMNS) + " |",
            "|---|" + "---:|" * len(COLUMNS),
        ]
        lines += [f"| {r['name']} | " + " | ".join(str(v) for v in _values(r)) + " |" for r in stats[key]]
        lines.append("| 合计 | " + " | ".join(str(v) for v in _values(t)) + " |")
    lines += [
        "",
        "口径：发现问题数为期间内网页版本中 (网页, 违法类别) 的去重计数；确认违法数为其中经审核“确认”或“升级”的发现；"
        "立案数为期间内调查人员新建的案件数（自动取证生成的存证案件不计）；移送数为期间内状态变为“已移送”的案件数；"
        "分类别统计时，一个案件按其登记的每个违法类别各计一次。",
    ]
    return "\n".join(lines) + "\n"
