"""The search contract both backends implement; tests/test_search_contract.py runs the same assertions on both."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

# Fields that get facet counts.
FACET_FIELDS: tuple[str, ...] = (
    "labels",
    "categories",
    "severities",
    "source_id",
    "institution_id",
    "region",
)
# SearchQuery attribute -> indexed keyword field it filters on
FILTER_FIELDS: tuple[tuple[str, str], ...] = (
    ("labels", "labels"),
    ("categories", "categories"),
    ("severities", "severities"),
    ("source_ids", "source_id"),
    ("institution_ids", "institution_id"),
    ("regions", "region"),
)


@dataclass(slots=True)
class IndexDoc:
    """What gets indexed for one document (its latest version)."""

    doc_id: str  # stable id: re-indexing the same document replaces it, never duplicates
    url: str
    title: str
    text: str
    source_id: str
    source_type: str = ""  # site | wechat | news
    institution_id: str | None = None
    region: str | None = None
    published_at: datetime | None = None
    fetched_at: datetime | None = None
    version: int = 1
    labels: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    severities: list[str] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)
    findings: list[dict[str, Any]] = field(default_factory=list)  # Finding.to_json() dicts
    account: str = ""
    author: str = ""
    # the segmented forms (analysis.index_text) when the caller computed them already; None: computed on indexing
    title_seg: str | None = None
    text_seg: str | None = None


@dataclass(slots=True)
class SearchQuery:
    text: str = ""  # keywords; segmented with jieba by the backend
    labels: list[str] = field(default_factory=list)  # any of
    categories: list[str] = field(default_factory=list)
    severities: list[str] = field(default_factory=list)
    source_ids: list[str] = field(default_factory=list)
    institution_ids: list[str] = field(default_factory=list)
    regions: list[str] = field(default_factory=list)
    date_from: datetime | None = None  # on published_at, falling back to fetched_at
    date_to: datetime | None = None
    flagged_only: bool = False  # only documents with at least one label
    size: int = 20
    offset: int = 0  # page by offset ...
    search_after: list[Any] | None = None  # ... or by cursor (from SearchResult.next_cursor)
    sort: str = "relevance"  # relevance | date
    facets: bool = True
    histogram_interval: str | None = None  # "day" | "week" | "month": date histogram of matches


@dataclass(slots=True)
class SearchHit:
    doc_id: str
    url: str
    title: str
    score: float
    highlights: list[str]  # text fragments with matches wrapped in <em>…</em>; everything else HTML-escaped
    labels: list[str]
    categories: list[str]
    severities: list[str]
    source_id: str
    institution_id: str | None
    region: str | None
    published_at: datetime | None
    fetched_at: datetime | None


@dataclass(slots=True)
class SearchResult:
    total: int
    hits: list[SearchHit]
    facets: dict[str, dict[str, int]] = field(default_factory=dict)
    histogram: list[tuple[str, int]] = field(default_factory=list)  # (bucket start ISO date, count)
    next_cursor: list[Any] | None = None


class SearchBackend(Protocol):
    name: str

    def index(self, docs: list[IndexDoc]) -> None:
        """Add or replace documents by doc_id. Raises SearchUnavailable when the backend cannot be reached."""
        ...

    def delete(self, doc_ids: list[str]) -> None: ...

    def search(self, query: SearchQuery) -> SearchResult:
        """Every query word must match (title or body; title weighs more). An empty text matches all documents
        (with the filters) and sorts by date. Paging: ``offset`` or ``search_after`` = a previous ``next_cursor``.
        Raises ValueError for an unknown ``sort`` or ``histogram_interval``."""
        ...

    def count(self) -> int: ...

    def doc_ids(self) -> list[str]:
        """Every indexed doc_id, sorted (consistency checks, `yijian index status`)."""
        ...

    def clear(self) -> None:
        """Remove every document (used by `yijian index rebuild`)."""
        ...


class SearchUnavailable(RuntimeError):
    """The search backend could not be reached; the caller keeps the documents in the outbox."""


class SearchIndexRejected(RuntimeError):
    """The backend was reached but refused some documents (e.g. a mapping conflict). The others were indexed;
    ``failures`` maps each refused doc_id to the reason, so the caller can record it (outbox with error)."""

    def __init__(self, failures: dict[str, str]) -> None:
        self.failures = dict(failures)
        sample = "; ".join(f"{k}: {v}" for k, v in list(self.failures.items())[:3])
        super().__init__(f"搜索后端拒绝了 {len(self.failures)} 篇文档: {sample}")
