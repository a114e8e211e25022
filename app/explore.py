"""Use-cases of the console's search page: full-text search with the index's filters plus the triage status,
sorted by relevance, time, severity or model score, paged, with facet counts (triage status included), and the
export of a result set as CSV or Excel (cells that a spreadsheet would run as a formula are neutralised).

Triage status and the severity/score sorts are not in the index: they are applied to the best ``WINDOW`` matches
of the index (``ConsoleResult.truncated`` says when there were more)."""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from app.context import AppContext
from app.search import SearchParams
from app.triage import document_status
from app.vocab import category_name, severity_rank
from store.search.base import SearchHit

WINDOW = 1000
EXPORT_MAX = 5000
SORTS = ("relevance", "time", "severity", "score")
TRIAGE_STATUSES = ("untriaged", "confirm", "dismiss", "escalate")


@dataclass(slots=True)
class ConsoleResult:
    total: int
    hits: list[dict[str, Any]]
    facets: dict[str, dict[str, int]]
    page: int
    size: int
    truncated: bool = False
    pages: int = 1


@dataclass(slots=True)
class ConsoleQuery:
    params: SearchParams
    triage: list[str] = field(default_factory=list)
    sort: str = "relevance"

    def validate(self) -> None:
        if self.sort not in SORTS:
            raise ValueError(f"未知的排序方式 {self.sort!r}")
        bad = [t for t in self.triage if t not in TRIAGE_STATUSES]
        if bad:
            raise ValueError(f"未知的审核状态 {bad}")
        if self.params.page < 1 or not 1 <= self.params.size <= 100:
            raise ValueError("页码须 ≥ 1，每页 1–100 条")
        if self.params.page * self.params.size > WINDOW:
            raise ValueError(f"最多翻到第 {WINDOW // self.params.size} 页，请缩小检索范围")


def _hit_row(h: SearchHit, status: str, names: dict[str, str], score: float | None) -> dict[str, Any]:
    return {
        "doc_id": h.doc_id, "url": h.url, "title": h.title, "highlights": h.highlights, "labels": h.labels,
        "categories": h.categories, "category_names": [category_name(c) for c in h.categories],
        "severities": sorted(h.severities, key=severity_rank), "source_id": h.source_id,
        "institution_id": h.institution_id, "institution": names.get(h.institution_id or "", h.institution_id or ""),
        "region": h.region, "published_at": h.published_at, "fetched_at": h.fetched_at,
        "relevance": h.score, "model_score": score, "triage": status,
    }  # fmt: skip


def _model_scores(ctx: AppContext, doc_ids: list[str]) -> dict[str, float]:
    """document id → its highest model score."""
    from store.console import ConsoleQueries

    scores = ConsoleQueries(ctx.store).current_scores(doc_ids)
    return {d: max((float(v) for v in sc.values()), default=0.0) for d, sc in scores.items()}


def _date(h: SearchHit) -> float:
    d: datetime | None = h.published_at or h.fetched_at
    return d.timestamp() if d else 0.0


def run(ctx: AppContext, cq: ConsoleQuery, *, window: int = WINDOW) -> ConsoleResult:
    """One page of results (``window`` > page size: the export reads the whole window as one page)."""
    cq.validate()
    p = cq.params
    backend = ctx.search_backend
    statuses = document_status(ctx)
    names = {i["id"]: i["name"] for i in ctx.store.get_institutions()}
    if not cq.triage and cq.sort in ("relevance", "time") and window == WINDOW:
        q = p.to_query()
        q.sort = "date" if cq.sort == "time" else "relevance"
        res = backend.search(q)
        hits = res.hits
        total, truncated = res.total, False
        facets = dict(res.facets)
        scores = _model_scores(ctx, [h.doc_id for h in hits])
        page_hits = hits
    else:
        q = p.to_query()
        q.offset, q.size = 0, window
        q.sort = "date" if cq.sort == "time" or (cq.sort != "relevance" and not p.text) else "relevance"
        res = backend.search(q)
        facets = dict(res.facets)
        facets["triage"] = dict(Counter(statuses.get(h.doc_id, "untriaged") for h in res.hits))
        hits = [h for h in res.hits if not cq.triage or statuses.get(h.doc_id, "untriaged") in cq.triage]
        truncated = res.total > window
        scores = _model_scores(ctx, [h.doc_id for h in hits])
        if cq.sort == "severity":
            hits.sort(key=lambda h: (min((severity_rank(s) for s in h.severities), default=99), -_date(h)))
        elif cq.sort == "score":
            hits.sort(key=lambda h: (-scores.get(h.doc_id, 0.0), -_date(h)))
        total = len(hits)
        start = (p.page - 1) * p.size if window == WINDOW else 0
        page_hits = hits[start : start + (p.size if window == WINDOW else window)]
    rows = [_hit_row(h, statuses.get(h.doc_id, "untriaged"), names, scores.get(h.doc_id)) for h in page_hits]
    pages = max(1, -(-total // p.size)) if p.size else 1
    return ConsoleResult(total, rows, facets, p.page, p.size, truncated, pages)


# ------------------------------------------------------------------------------------------------ export
EXPORT_COLUMNS = (
    ("doc_id", "文档ID"), ("title", "标题"), ("url", "网址"), ("source_id", "来源"), ("institution", "机构"),
    ("region", "地区"), ("published_at", "发布时间"), ("labels", "标签"), ("category_names", "类别"),
    ("severities", "严重度"), ("model_score", "模型分数"), ("triage", "审核状态"),
)  # fmt: skip
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    if isinstance(value, list):
        value = "；".join(str(v) for v in value)
    if isinstance(value, datetime):
        from app.search import SHANGHAI

        return value.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, float):
        return round(value, 4)
    if value is None:
        return ""
    s = str(value)
    return "'" + s if s.startswith(_FORMULA_START) else s


def export_rows(ctx: AppContext, cq: ConsoleQuery) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of the whole result set (up to ``EXPORT_MAX``)."""
    cq = ConsoleQuery(replace(cq.params, page=1, size=20), list(cq.triage), cq.sort)
    res = run(ctx, cq, window=EXPORT_MAX)
    from app.vocab import TRIAGE_STATUS_NAMES

    rows = []
    for h in res.hits:
        h = {**h, "triage": TRIAGE_STATUS_NAMES.get(h["triage"], h["triage"])}
        rows.append([_cell(h[k]) for k, _ in EXPORT_COLUMNS])
    return [title for _, title in EXPORT_COLUMNS], rows


def to_csv(header: list[str], rows: list[list[Any]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    return ("\ufeff" + buf.getvalue()).encode("utf-8")  # BOM: Excel opens UTF-8 CSV correctly


def to_xlsx(header: list[str], rows: list[list[Any]], title: str = "检索结果") -> bytes:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title)
    ws.append(header)
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
