"""Use-cases over the search index: full-text search with filters, facets, highlights and paging (dates are
Beijing calendar days, the "to" day included), and the JSON form of a hit."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from config import Settings
from store.search.base import SearchHit, SearchQuery, SearchResult
from store.search.factory import get_search

SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclass(slots=True)
class SearchParams:
    text: str = ""
    labels: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    severities: list[str] = field(default_factory=list)
    source_ids: list[str] = field(default_factory=list)
    institution_ids: list[str] = field(default_factory=list)
    regions: list[str] = field(default_factory=list)
    date_from: date | None = None  # Beijing calendar day, inclusive
    date_to: date | None = None  # Beijing calendar day, inclusive
    flagged_only: bool = False
    size: int = 20
    page: int = 1
    sort: str = "relevance"

    def to_query(self) -> SearchQuery:
        start = datetime.combine(self.date_from, time.min, SHANGHAI) if self.date_from else None
        end = (
            datetime.combine(self.date_to, time.min, SHANGHAI) + timedelta(days=1) - timedelta(microseconds=1)
            if self.date_to
            else None
        )
        return SearchQuery(
            text=self.text, labels=list(self.labels), categories=list(self.categories),
            severities=list(self.severities), source_ids=list(self.source_ids),
            institution_ids=list(self.institution_ids), regions=list(self.regions),
            date_from=start, date_to=end, flagged_only=self.flagged_only, size=self.size,
            offset=(self.page - 1) * self.size, sort=self.sort,
        )  # fmt: skip


def search(settings: Settings, params: SearchParams) -> SearchResult:
    return get_search(settings).search(params.to_query())


def hit_to_json(hit: SearchHit) -> dict[str, Any]:
    d = asdict(hit)
    for k in ("published_at", "fetched_at"):
        if isinstance(d.get(k), datetime):
            d[k] = d[k].isoformat()
    return d


def result_to_json(result: SearchResult) -> dict[str, Any]:
    return {"total": result.total, "hits": [hit_to_json(h) for h in result.hits], "facets": result.facets}
