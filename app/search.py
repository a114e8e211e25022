"""Use-cases over the search index: full-text search with filters, facets, highlights and paging (dates are
Beijing calendar days, the "to" day included), and the JSON form of a hit.

Paging: by page number up to the result window (``MAX_RESULT_WINDOW`` hits, as Elasticsearch), beyond it by an
opaque cursor — every result carries ``next_cursor`` (a URL-safe string), passed back as ``SearchParams.cursor``.
Out-of-range pages and malformed cursors raise :class:`SearchParamError` with a message that says what to do."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from config import Settings
from store.search.analysis import MAX_RESULT_WINDOW
from store.search.base import SearchHit, SearchQuery, SearchResult
from store.search.factory import get_search

SHANGHAI = ZoneInfo("Asia/Shanghai")


class SearchParamError(ValueError):
    """Search parameters that cannot be served: a page out of range, a malformed cursor."""


def encode_cursor(cursor: list[Any] | None) -> str | None:
    if not cursor:
        return None
    raw = json.dumps(cursor, ensure_ascii=False, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise SearchParamError(f"无效的翻页游标：{token[:40]!r}（请使用上一页结果中的 next_cursor）") from exc
    if not isinstance(value, list) or len(value) != 2:
        raise SearchParamError(f"无效的翻页游标：{token[:40]!r}（请使用上一页结果中的 next_cursor）")
    return value


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
    cursor: str | None = None  # a previous result's next_cursor: the page after it (instead of ``page``)

    def check(self) -> None:
        """Raise SearchParamError for a page that cannot be served."""
        if self.size < 1 or self.size > MAX_RESULT_WINDOW:
            raise SearchParamError(f"每页条数须在 1 到 {MAX_RESULT_WINDOW} 之间（当前 {self.size}）")
        if self.cursor:
            if self.page != 1:
                raise SearchParamError("使用游标（--cursor）翻页时不能同时指定页码（--page）")
            decode_cursor(self.cursor)
            return
        if self.page < 1:
            raise SearchParamError(f"页码须从 1 开始（当前 {self.page}）")
        if self.page * self.size > MAX_RESULT_WINDOW:
            last = MAX_RESULT_WINDOW // self.size
            raise SearchParamError(
                f"页码超出范围：按页码最多翻到第 {last} 页（前 {MAX_RESULT_WINDOW} 条结果）；"
                "更深的结果请用游标翻页：取上一页结果中的 next_cursor，以 --cursor 传入"
            )

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
            offset=0 if self.cursor else (self.page - 1) * self.size,
            search_after=decode_cursor(self.cursor) if self.cursor else None, sort=self.sort,
        )  # fmt: skip


def search(settings: Settings, params: SearchParams) -> SearchResult:
    """Raises SearchParamError for an out-of-range page or a malformed cursor."""
    params.check()
    return get_search(settings).search(params.to_query())


def hit_to_json(hit: SearchHit) -> dict[str, Any]:
    d = asdict(hit)
    for k in ("published_at", "fetched_at"):
        if isinstance(d.get(k), datetime):
            d[k] = d[k].isoformat()
    return d


def result_to_json(result: SearchResult) -> dict[str, Any]:
    return {
        "total": result.total,
        "hits": [hit_to_json(h) for h in result.hits],
        "facets": result.facets,
        "next_cursor": encode_cursor(result.next_cursor),
    }
