"""The daily digest as data: what was newly flagged on one Beijing day (by label, category and severity), the
institutions with most new flags, the largest increases against the previous 7 days, negative-sentiment spikes by
the stated Poisson test, and the new S1/S2 items with links into the console. JSON-serialisable; rendering and
charts are elsewhere."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from digests.stats import BASELINE_DAYS, SpikeTest
from domain.labels import LABELS, SEVERITIES
from store.db import Store
from store.digests import FlagRows

TZ = ZoneInfo("Asia/Shanghai")

LABEL_NAMES = {
    "exaggerated_efficacy": "夸大/违规疗效宣传",
    "unapproved_service": "非法/未经批准的医疗服务",
    "negative_sentiment": "负面舆情",
}
SEVERITY_NAMES = {
    "S1": "S1 严重",
    "S2": "S2 高",
    "S3": "S3 中",
    "S4": "S4 低/提示",
    "P1": "P1 死亡/暴力/群体事件",
    "P2": "P2 系统性欺诈",
    "P3": "P3 个体投诉",
}
SEVERE = ("S1", "S2")
MAX_SEVERE_ITEMS = 50


def beijing_day_bounds(day: date) -> tuple[datetime, datetime]:
    """``[start, end)`` of a Beijing calendar day, in UTC."""
    start = datetime.combine(day, time(0), tzinfo=TZ)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


def beijing_today(now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(TZ).date()


def beijing_day_of(moment: datetime) -> date:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(TZ).date()


def new_flags(row: dict[str, Any]) -> tuple[set[str], list[dict[str, Any]]]:
    """The labels and findings a version adds over the version before it."""
    labels = set(row["labels"]) - set(row["prev_labels"])
    prev = {tuple(k) for k in row["prev_finding_keys"]}
    findings = [f for f in row["findings"] if (f["category"], f["text"]) not in prev]
    return labels, findings


class DayCounts:
    """New flags of one day, de-duplicated per document (two versions of a page on one day count once)."""

    def __init__(self) -> None:
        self.doc_labels: set[tuple[str, str]] = set()
        self.findings: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.flagged_docs: dict[str, dict[str, Any]] = {}
        self.documents: set[str] = set()
        self.new_documents: set[str] = set()

    def add(self, row: dict[str, Any]) -> None:
        doc = row["document_id"]
        self.documents.add(doc)
        if row["version"] == 1:
            self.new_documents.add(doc)
        labels, findings = new_flags(row)
        for label in labels:
            self.doc_labels.add((doc, label))
        for f in findings:
            self.findings.setdefault((doc, f["category"], f["text"]), {**f, "document_id": doc})
        if labels or findings:
            self.flagged_docs[doc] = row

    def by_label(self) -> Counter[str]:
        return Counter(label for _, label in self.doc_labels)

    def by_category(self) -> Counter[str]:
        return Counter(f["category"] for f in self.findings.values())

    def by_severity(self) -> Counter[str]:
        return Counter(f["severity"] for f in self.findings.values() if f["severity"])

    def flagged_by_institution(self) -> Counter[str]:
        return Counter(r["institution_id"] for r in self.flagged_docs.values() if r["institution_id"])

    def negative_by_institution(self) -> Counter[str]:
        inst = {d: r["institution_id"] for d, r in self.flagged_docs.items()}
        return Counter(
            inst[d] for d, label in self.doc_labels if label == "negative_sentiment" and inst.get(d)
        )


def count_days(rows: Iterable[dict[str, Any]], days: list[date]) -> dict[date, DayCounts]:
    counts = {d: DayCounts() for d in days}
    for row in rows:
        day = beijing_day_of(row["fetched_at"])
        if day in counts:
            counts[day].add(row)
    return counts


def load_days(store: Store, day: date, region: str | None = None) -> tuple[dict[date, DayCounts], list[date]]:
    """Counts for ``day`` and the 7 days before it (oldest first)."""
    days = [day - timedelta(days=n) for n in range(BASELINE_DAYS, -1, -1)]
    start, _ = beijing_day_bounds(days[0])
    _, end = beijing_day_bounds(day)
    rows = FlagRows(store).versions_between(start, end, region)
    return count_days(rows, days), days


def spikes_for(
    counts: dict[date, DayCounts],
    days: list[date],
    test: SpikeTest,
    institutions: Iterable[str] | None = None,
) -> list[dict[str, Any]]:
    today = counts[days[-1]].negative_by_institution()
    previous: Counter[str] = Counter()
    for d in days[:-1]:
        previous.update(counts[d].negative_by_institution())
    wanted = set(institutions) if institutions is not None else set(today)
    out = []
    for inst in sorted(wanted & set(today)):
        spike, lam, p = test.check(today[inst], previous[inst])
        if spike:
            out.append(
                {
                    "institution_id": inst,
                    "today": today[inst],
                    "previous_7_days": previous[inst],
                    "lambda": round(lam, 3),
                    "p_value": p,
                }
            )
    return sorted(out, key=lambda s: s["p_value"])


def _increases(
    today: Counter[str], previous: list[Counter[str]], names: dict[str, str]
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for key, n in today.items():
        mean = sum(c[key] for c in previous) / len(previous)
        if n > mean:
            out.append(
                {
                    "id": key,
                    "name": names.get(key, key),
                    "today": n,
                    "baseline_mean": round(mean, 2),
                    "delta": round(n - mean, 2),
                }
            )
    return sorted(out, key=lambda r: (-r["delta"], r["id"]))[:5]


def document_link(console_url: str, doc_id: str) -> str:
    return f"{console_url.rstrip('/')}/documents/{doc_id}"


def build_digest(
    store: Store,
    day: date,
    *,
    console_url: str,
    category_names: dict[str, str] | None = None,
    region: str | None = None,
    spike_test: SpikeTest | None = None,
) -> dict[str, Any]:
    """The digest of ``day`` (Beijing), optionally limited to documents of regions starting with ``region``."""
    spike_test = spike_test or SpikeTest()
    category_names = category_names or {}
    counts, days = load_days(store, day, region)
    institutions = FlagRows(store).institutions()
    inst_names = {k: v["name"] or k for k, v in institutions.items()}
    today = counts[day]
    previous = [counts[d] for d in days[:-1]]

    by_label = today.by_label()
    by_category = today.by_category()
    by_severity = today.by_severity()
    top = today.flagged_by_institution().most_common(10)

    severe: dict[str, dict[str, Any]] = {}
    for f in sorted(
        today.findings.values(),
        key=lambda f: SEVERITIES.index(f["severity"]) if f["severity"] in SEVERITIES else 99,
    ):
        if f["severity"] not in SEVERE:
            continue
        row = today.flagged_docs[f["document_id"]]
        item = severe.setdefault(
            f["document_id"],
            {
                "document_id": f["document_id"],
                "title": row["title"] or row["url"],
                "url": row["final_url"] or row["url"],
                "link": document_link(console_url, f["document_id"]),
                "institution_id": row["institution_id"],
                "institution": inst_names.get(row["institution_id"] or "", row["institution_id"] or ""),
                "region": row["region"] or "",
                "severity": f["severity"],
                "categories": [],
                "excerpts": [],
            },
        )
        name = category_names.get(f["category"], f["category"])
        if name not in item["categories"]:
            item["categories"].append(name)
        is_model = f["category"] in LABEL_NAMES  # a model finding's "text" is the page head, not a hit
        if (
            f["text"]
            and not is_model
            and len(item["excerpts"]) < 3
            and f["text"][:80] not in item["excerpts"]
        ):
            item["excerpts"].append(f["text"][:80])
    severe_items = sorted(severe.values(), key=lambda i: (i["severity"], i["institution"], i["title"]))

    spikes = spikes_for(counts, days, spike_test)
    for s in spikes:
        s["name"] = inst_names.get(s["institution_id"], s["institution_id"])

    title_scope = f"（{region}）" if region else ""
    return {
        "day": day.isoformat(),
        "scope": region or "",
        "title": f"医鉴监测日报 {day.isoformat()}{title_scope}",
        "generated_at": datetime.now(UTC).astimezone(TZ).isoformat(timespec="seconds"),
        "timezone": "Asia/Shanghai",
        "totals": {
            "documents_fetched": len(today.documents),
            "new_documents": len(today.new_documents),
            "flagged_documents": len(today.flagged_docs),
            "new_findings": len(today.findings),
            "severe_documents": len(severe_items),
            "spikes": len(spikes),
        },
        "by_label": [
            {"id": k, "name": LABEL_NAMES.get(k, k), "count": by_label[k]} for k in LABELS if by_label[k]
        ],
        "by_category": [
            {"id": k, "name": category_names.get(k, k), "count": n}
            for k, n in sorted(by_category.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
        "by_severity": [
            {"id": k, "name": SEVERITY_NAMES.get(k, k), "count": by_severity[k]}
            for k in SEVERITIES
            if by_severity[k]
        ],
        "top_institutions": [
            {
                "id": k,
                "name": inst_names.get(k, k),
                "region": (institutions.get(k) or {}).get("region") or "",
                "count": n,
            }
            for k, n in top
        ],
        "increases": {
            "categories": _increases(by_category, [c.by_category() for c in previous], category_names),
            "institutions": _increases(
                today.flagged_by_institution(), [c.flagged_by_institution() for c in previous], inst_names
            ),
        },
        "spikes": spikes,
        "spike_test": spike_test.sentence(),
        "severe_items": severe_items[:MAX_SEVERE_ITEMS],
        "severe_items_omitted": max(0, len(severe_items) - MAX_SEVERE_ITEMS),
        "trend": {
            "days": [d.isoformat() for d in days],
            "by_label": {label: [counts[d].by_label()[label] for d in days] for label in LABELS},
            "label_names": {label: LABEL_NAMES[label] for label in LABELS},
        },
    }
