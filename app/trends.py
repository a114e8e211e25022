"""Use-cases of the trends page: flags and negative-sentiment documents per Beijing calendar day, broken down by
institution, fine category or region (the top few, the rest summed as "其他"), and the institutions' watch-list."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from typing import Any

from app.context import AppContext
from app.search import SHANGHAI
from app.triage import latest_by_finding
from app.vocab import category_name
from store.console import ConsoleQueries, WatchRepo

DIMENSIONS = ("institution", "category", "region")
MAX_SERIES = 8
MAX_DAYS = 366
OTHER = "其他"


def _day(value: datetime | None) -> date | None:
    return value.astimezone(SHANGHAI).date() if value else None


def _axis(days: set[date], window: int | None) -> list[date]:
    if not days:
        return []
    end = max(days)
    start = min(days) if window is None else end - timedelta(days=window - 1)
    start = max(start, end - timedelta(days=MAX_DAYS - 1))
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def _series(rows: list[tuple[date, str]], axis: list[date]) -> list[dict[str, Any]]:
    totals = Counter(name for _, name in rows)
    top = [n for n, _ in totals.most_common(MAX_SERIES)]
    idx = {d: i for i, d in enumerate(axis)}
    out: dict[str, list[int]] = defaultdict(lambda: [0] * len(axis))
    for d, name in rows:
        if d in idx:
            out[name if name in top else OTHER][idx[d]] += 1
    order = [*top, OTHER] if OTHER in out else top
    return [{"name": n, "data": out[n]} for n in order if n in out]


def trends(ctx: AppContext, dimension: str = "institution", window: int | None = None,
           institution_ids: list[str] | None = None) -> dict[str, Any]:  # fmt: skip
    """``{"days": [...], "flags": [series], "negative": [series], "dimension": ...}``; dismissed flags are not
    counted. ``window``: the last N days of the data (default: all of it)."""
    if dimension not in DIMENSIONS:
        raise ValueError(f"未知的维度 {dimension!r}，应为 {' / '.join(DIMENSIONS)}")
    q = ConsoleQueries(ctx.store)
    names = {i["id"]: i["name"] for i in ctx.store.get_institutions()}
    dismissed = {fid for fid, t in latest_by_finding(ctx).items() if t["decision"] == "dismiss"}
    wanted = set(institution_ids or [])

    def key(row: dict[str, Any], category: str | None = None) -> str:
        if dimension == "institution":
            return names.get(row["institution_id"] or "", row["institution_id"] or "未关联机构")
        if dimension == "region":
            return row["region"] or "未知地区"
        return category_name(category or "")

    flags: list[tuple[date, str]] = []
    for f in q.current_findings():
        if (
            f["id"] in dismissed
            or f["label"] == "negative_sentiment"
            or (f["severity"] or "").startswith("P")
        ):
            continue
        if wanted and f["institution_id"] not in wanted:
            continue
        d = _day(f["date"])
        if d:
            flags.append((d, key(f, f["category"])))
    negative: list[tuple[date, str]] = []
    for doc in q.current_documents():
        if "negative_sentiment" not in doc["labels"] or (wanted and doc["institution_id"] not in wanted):
            continue
        d = _day(doc["date"])
        if d:
            negative.append((d, key(doc, "negative_sentiment")))
    axis = _axis({d for d, _ in flags} | {d for d, _ in negative}, window)
    return {
        "dimension": dimension,
        "days": [d.isoformat() for d in axis],
        "flags": _series(flags, axis),
        "negative": _series(negative, axis),
    }


def institutions(ctx: AppContext) -> list[dict[str, Any]]:
    return sorted(ctx.store.get_institutions(), key=lambda i: i["name"])


def watchlist(ctx: AppContext) -> list[dict[str, Any]]:
    names = {i["id"]: i["name"] for i in ctx.store.get_institutions()}
    return [
        {**w, "name": names.get(w["institution_id"], w["institution_id"])}
        for w in WatchRepo(ctx.store).list()
    ]


def watch(ctx: AppContext, institution_id: str, *, add: bool, note: str = "", actor: str = "") -> bool:
    """Add or remove an institution; ``KeyError`` for an unknown one. True when something changed."""
    if add and institution_id not in {i["id"] for i in ctx.store.get_institutions()}:
        raise KeyError(institution_id)
    repo = WatchRepo(ctx.store)
    return repo.add(institution_id, note=note, added_by=actor) if add else repo.remove(institution_id)
