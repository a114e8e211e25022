"""The records passed between the crawler, the processing stages, the classifiers, the store and the search
backends: a fetched page, its extracted content, and the findings and labels the analysis gives it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any, Literal


@dataclass(slots=True)
class PageItem:
    """One fetched page as the crawler hands it to the pipeline."""

    source_id: str
    url: str
    final_url: str
    status: int
    headers: dict[str, str]
    body: bytes
    fetched_at: datetime
    rendered: bool = False  # True when the body is the DOM after JavaScript ran (Playwright)
    depth: int = 0
    error_kind: str | None = None  # set when the fetch itself failed (then body may be empty)
    error_detail: str | None = None


@dataclass(slots=True)
class ImageRef:
    src: str
    alt: str = ""
    ocr_text: str = ""


ExtractStatus = Literal["ok", "deleted"] | str  # or an error kind from ERROR_KINDS


@dataclass(slots=True)
class Extracted:
    url: str
    title: str = ""
    text: str = ""
    published_at: datetime | None = None  # timezone-aware (UTC) when known
    author: str = ""
    account: str = ""  # WeChat public account name (nickname)
    source: str = ""  # the outlet the page names as its origin (来源：…), kept apart from the author
    images: list[ImageRef] = field(default_factory=list)
    status: str = "ok"
    encoding: str = ""
    error_detail: str = ""
    # Share of the text that is not prose (link lines, short lines): near 1 for hub/list pages.
    link_density: float = 0.0
    description: str = ""  # <meta name="description"> (else og:description): analysed as page text too

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "title": self.title,
            "text": self.text,
            "published_at": self.published_at.isoformat() if self.published_at else None,
            "author": self.author,
            "account": self.account,
            "source": self.source,
            "images": [asdict(i) for i in self.images],
            "description": self.description,
            "status": self.status,
        }


@dataclass(slots=True)
class Finding:
    """One reason a text was flagged: a rule hit (with span and legal basis) or a model label (with score)."""

    category: str  # fine category (ad_*, svc_*, sent_*), or the label itself for model findings
    label: str | None  # document label it rolls up to; None for compliance-only categories
    start: int  # character offsets into the analysed field's text
    end: int
    text: str  # the matched text
    legal_basis: str
    severity: str  # S1–S4 or P1–P3
    source: str  # rule id, or "model:<version>"
    # "title", "text", "image:<src>" (OCR text of an image), "image_alt:<src>" (its alt text) or "meta_description"
    field: str = "text"
    score: float | None = None
    reason: str = ""  # human-readable explanation (Chinese)

    def to_json(self) -> dict[str, Any]:
        # every field is a scalar: a plain read, not dataclasses.asdict's recursive deep copy (a tenth of the
        # analysis worker's save step went to asdict)
        return {name: getattr(self, name) for name in _FINDING_FIELDS}


_FINDING_FIELDS = tuple(f.name for f in fields(Finding))


@dataclass(slots=True)
class ClassifyResult:
    labels: list[str]
    scores: dict[str, float]
    findings: list[Finding] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "labels": self.labels,
            "scores": self.scores,
            "findings": [f.to_json() for f in self.findings],
        }
