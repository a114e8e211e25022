"""Use-cases of institution risk: each institution's profile (flags by category and severity, repeat violations
after a confirmed flag, negative-sentiment incidents, triage outcomes) and an explainable risk score — a
weighted sum whose every term is shown — with the ranked list of inspection targets, filterable by region and
institution type, and its export. The formula is documented in docs/用户指南.md (机构风险评分).

Counting: a flag is one (document, fine category) pair of a current document version, so a page repeating the
same claim ten times counts once; flags a reviewer dismissed are left out."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from typing import Any

from app.context import AppContext
from app.triage import latest_by_finding
from app.vocab import INSTITUTION_TYPE_NAMES, category_name, severity_rank
from store.console import ConsoleQueries

# Points per counted item (see the module docstring and the user guide).
WEIGHTS: dict[str, int] = {
    "S1": 10, "S2": 5, "S3": 2, "S4": 1,  # advertising / service flags by severity
    "confirmed": 5,  # each flag a reviewer confirmed or escalated (on top of its severity points)
    "repeat": 8,  # each flag first seen after the institution's first confirmed flag (a repeat violation)
    "negative": 4,  # each negative-sentiment document about the institution
}  # fmt: skip
TERM_NAMES = {
    "S1": "S1 严重违规", "S2": "S2 较重违规", "S3": "S3 一般违规", "S4": "S4 轻微违规",
    "confirmed": "经审核确认的违规", "repeat": "确认后再犯", "negative": "负面舆情事件",
}  # fmt: skip
LEVELS = ((60, "高"), (25, "中"), (0, "低"))


def _level(score: int) -> str:
    return next(name for threshold, name in LEVELS if score >= threshold)


def _profiles(ctx: AppContext) -> dict[str, dict[str, Any]]:
    q = ConsoleQueries(ctx.store)
    latest = latest_by_finding(ctx)
    insts = {i["id"]: i for i in ctx.store.get_institutions()}
    prof: dict[str, dict[str, Any]] = {}
    for iid, inst in insts.items():
        prof[iid] = {
            "institution": inst, "flags": {}, "by_category": Counter(), "by_severity": Counter(),
            "triage": Counter(), "confirmed_at": [], "negative_docs": [], "documents": set(),
        }  # fmt: skip
    for f in q.current_findings():
        iid = f["institution_id"]
        if iid not in prof:
            continue
        p = prof[iid]
        t = latest.get(f["id"])
        if t:
            p["triage"][t["decision"]] += 1
        if f["label"] == "negative_sentiment" or (f["severity"] or "").startswith("P"):
            continue  # public opinion: counted as negative-sentiment documents below
        key = (f["document_id"], f["category"])
        flag = p["flags"].setdefault(key, {
            "severity": f["severity"], "decisions": [], "first_seen": f["first_seen"], "category": f["category"],
            "document_id": f["document_id"], "title": f["title"],
        })  # fmt: skip
        flag["severity"] = min(flag["severity"], f["severity"], key=severity_rank)
        flag["decisions"].append(t["decision"] if t else None)
        if t and t["decision"] in ("confirm", "escalate"):
            p["confirmed_at"].append(datetime.fromisoformat(t["at"]))
    for doc in q.current_documents():
        iid = doc["institution_id"]
        if iid in prof and "negative_sentiment" in doc["labels"]:
            prof[iid]["negative_docs"].append(doc)
    for p in prof.values():
        for fl in p["flags"].values():
            # A flag is confirmed when any of its findings was, dismissed only when every one of them was.
            ds = fl.pop("decisions")
            fl["decision"] = next((d for d in ("escalate", "confirm") if d in ds), None) or (
                "dismiss" if ds and all(d == "dismiss" for d in ds) else None
            )
        live = [fl for fl in p["flags"].values() if fl["decision"] != "dismiss"]
        first_confirm = min(p["confirmed_at"]) if p["confirmed_at"] else None
        counts: Counter[str] = Counter()
        for fl in live:
            p["by_category"][fl["category"]] += 1
            p["by_severity"][fl["severity"]] += 1
            if fl["severity"] in ("S1", "S2", "S3", "S4"):
                counts[fl["severity"]] += 1
            if fl["decision"] in ("confirm", "escalate"):
                counts["confirmed"] += 1
            elif first_confirm and fl["first_seen"] and fl["first_seen"] > first_confirm:
                counts["repeat"] += 1
        counts["negative"] = len(p["negative_docs"])
        terms = [
            {"term": k, "name": TERM_NAMES[k], "count": counts[k], "weight": w, "points": counts[k] * w}
            for k, w in WEIGHTS.items()
            if counts[k]
        ]
        p["terms"] = terms
        p["score"] = sum(t["points"] for t in terms)
        p["level"] = _level(p["score"])
        p["flag_count"] = len(live)
        p["dismissed"] = len(p["flags"]) - len(live)
        p["live_flags"] = sorted(live, key=lambda fl: severity_rank(fl["severity"]))
    return prof


def _row(p: dict[str, Any]) -> dict[str, Any]:
    inst = p["institution"]
    return {
        "id": inst["id"], "name": inst["name"], "type": inst.get("type"), "region": inst.get("region"),
        "licence_no": inst.get("licence_no"), "score": p["score"], "level": p["level"], "terms": p["terms"],
        "flags": p["flag_count"], "negative": len(p["negative_docs"]), "dismissed": p["dismissed"],
        "triage": dict(p["triage"]),
    }  # fmt: skip


def ranked(ctx: AppContext, *, region: str | None = None, itype: str | None = None) -> list[dict[str, Any]]:
    """Institutions by risk score, highest first (ties by name)."""
    rows = [_row(p) for p in _profiles(ctx).values()]
    rows = [r for r in rows if (not region or r["region"] == region) and (not itype or r["type"] == itype)]
    return sorted(rows, key=lambda r: (-r["score"], r["name"]))


def profile(ctx: AppContext, institution_id: str) -> dict[str, Any] | None:
    p = _profiles(ctx).get(institution_id)
    if p is None:
        return None
    return {
        **_row(p),
        "institution": p["institution"],
        "by_category": {category_name(k): v for k, v in p["by_category"].most_common()},
        "by_severity": dict(sorted(p["by_severity"].items())),
        "flag_list": p["live_flags"],
        "negative_docs": p["negative_docs"],
    }


def regions(ctx: AppContext) -> list[str]:
    return sorted({i["region"] for i in ctx.store.get_institutions() if i.get("region")})


def types(ctx: AppContext) -> dict[str, str]:
    found = {i["type"] for i in ctx.store.get_institutions() if i.get("type")}
    return {t: INSTITUTION_TYPE_NAMES.get(t, t) for t in sorted(found)}


def export_rows(ctx: AppContext, *, region: str | None = None,
                itype: str | None = None) -> tuple[list[str], list[list[Any]]]:  # fmt: skip
    from app.explore import _cell

    header = ["排名", "机构ID", "机构名称", "类型", "地区", "执业许可证号", "风险分", "风险等级", "有效标记数",
              "负面舆情", "已驳回", "评分构成"]  # fmt: skip
    rows = []
    for n, r in enumerate(ranked(ctx, region=region, itype=itype), 1):
        terms = "；".join(f"{t['name']} {t['count']}×{t['weight']}={t['points']}" for t in r["terms"])
        rows.append([_cell(v) for v in (n, r["id"], r["name"], INSTITUTION_TYPE_NAMES.get(r["type"] or "", r["type"]),
                     r["region"], r["licence_no"], r["score"], r["level"], r["flags"], r["negative"],
                     r["dismissed"], terms)])  # fmt: skip
    return header, rows


def groups_by_region(ctx: AppContext) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for i in ctx.store.get_institutions():
        out[i.get("region") or ""].append(i["id"])
    return dict(out)
