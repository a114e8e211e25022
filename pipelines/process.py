"""Runs the stages for one fetched page: decode → extract → dedupe & version → OCR → analyze → store → index.

Used by the Scrapy adapter (``pipelines.scrapy_adapter``) and by ``yijian analyze``. Split in two steps so the
crawler can fetch a page's images asynchronously between them: ``prepare`` (decode, extract, unchanged check) and
``finish`` (OCR, analysis, storage, indexing).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from classifiers.factory import get_classifier, get_rules
from classifiers.institutions import InstitutionRegistry
from config import Settings
from domain import Extracted, PageItem
from domain.sources import SourceConfig
from pipelines.analyze import Analysis, Analyzer
from pipelines.decode import DecodeError, decode_body
from pipelines.extract import extract_html
from pipelines.ocr import ocr_image
from store.db import Store
from store.indexer import Indexer
from store.registry_overrides import RegistryOverrides
from store.search.factory import get_search

log = logging.getLogger(__name__)

OCR_MAX_IMAGES = 4
OCR_MAX_BYTES = 3 * 1024 * 1024
_OCR_SKIP = ("logo", "icon", "avatar", "qrcode", "qr_code", "sprite", "blank", "spacer")


@dataclass(slots=True)
class Outcome:
    kind: str  # new | changed | unchanged | error
    url: str
    doc_id: str | None = None
    error_kind: str | None = None
    labels: list[str] = field(default_factory=list)
    version: int | None = None


@dataclass(slots=True)
class Prepared:
    page: PageItem
    extracted: Extracted
    content_hash: str
    ocr_candidates: list[str]


def content_hash(ex: Extracted) -> str:
    h = hashlib.sha256()
    for part in (ex.title, ex.text, *sorted(i.src for i in ex.images)):
        h.update(part.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


def ocr_candidates(ex: Extracted, limit: int = OCR_MAX_IMAGES) -> list[str]:
    out: list[str] = []
    for img in ex.images:
        src = img.src
        if not src.startswith(("http://", "https://")) or src in out:
            continue
        path = urlsplit(src).path.lower()
        if path.endswith(".svg") or any(s in path for s in _OCR_SKIP):
            continue
        out.append(src)
        if len(out) >= limit:
            break
    return out


class Processor:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        indexer: Indexer | None,
        analyzer: Analyzer,
        source_meta: dict[str, tuple[str | None, str | None]] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.indexer = indexer
        self.analyzer = analyzer
        # source id -> (institution id, region) from the source registry
        self.source_meta = source_meta or {}

    @classmethod
    def from_settings(
        cls, settings: Settings, *, sources: list[SourceConfig] | None = None, index: bool = True
    ) -> Processor:
        store = Store.from_settings(settings)
        registry = InstitutionRegistry.load(
            settings.resolve_institutions_file(), RegistryOverrides(store).list("institution")
        )
        indexer = Indexer(store, get_search(settings)) if index else None
        meta: dict[str, tuple[str | None, str | None]] = {
            s.id: (s.institution, s.region or None) for s in sources or []
        }
        analyzer = Analyzer(get_classifier(settings), registry, fragment_classifier=get_rules())
        return cls(settings, store, indexer, analyzer, meta)

    def close(self) -> None:
        self.store.close()

    # --- step 1 -------------------------------------------------------------------------------------
    def prepare(self, page: PageItem, run_id: int | None) -> Prepared | Outcome:
        """Decode and extract; returns an Outcome when the page ends here (error, deleted, unchanged)."""
        if page.error_kind:
            return self._error(page, run_id, page.error_kind, page.error_detail or "")
        if page.status == 304:
            doc_id = self.store.mark_unchanged(page.url, run_id)
            return Outcome("unchanged", page.url, doc_id=doc_id)
        if page.status >= 400:
            return self._error(page, run_id, f"http_{page.status}", "")
        try:
            decoded = decode_body(page.body, page.headers, page.final_url)
        except DecodeError as exc:
            return self._error(page, run_id, exc.kind, exc.detail)
        extracted = extract_html(decoded.text, page.final_url, encoding=decoded.encoding)
        if extracted.status != "ok":
            return self._error(page, run_id, extracted.status, extracted.error_detail)
        digest = content_hash(extracted)
        if self.store.content_hash_of(page.url) == digest:
            doc_id = self.store.mark_unchanged(page.url, run_id)
            return Outcome("unchanged", page.url, doc_id=doc_id)
        cands = ocr_candidates(extracted) if self.settings.ocr_enabled else []
        return Prepared(page, extracted, digest, cands)

    # --- step 2 -------------------------------------------------------------------------------------
    def finish(self, prep: Prepared, run_id: int | None, images: dict[str, bytes] | None = None) -> Outcome:
        """OCR the fetched images, analyse, store a new version (if changed) and index it."""
        return self.finish_many([(prep, images or {})], run_id)[0]

    def finish_many(
        self, batch: list[tuple[Prepared, dict[str, bytes]]], run_id: int | None
    ) -> list[Outcome]:
        """``finish`` for several pages with one classifier call (the model runs batched)."""
        for prep, images in batch:
            for img in prep.extracted.images:
                data = images.get(img.src)
                if data and len(data) <= OCR_MAX_BYTES:
                    try:
                        img.ocr_text = ocr_image(data)
                    except Exception as exc:  # OCR must never sink a page
                        log.warning("OCR failed for %s: %s", img.src, exc)
        analyses = self.analyzer.analyze([prep.extracted for prep, _ in batch])
        return [
            self.save(prep.page, prep.extracted, prep.content_hash, analysis, run_id)
            for (prep, _), analysis in zip(batch, analyses, strict=True)
        ]

    def save(
        self, page: PageItem, ex: Extracted, digest: str, analysis: Analysis, run_id: int | None
    ) -> Outcome:
        source_institution, region = self.source_meta.get(page.source_id, (None, None))
        institution_id = analysis.institution_id or source_institution
        saved = self.store.save_version(
            run_id=run_id,
            source_id=page.source_id,
            url=page.url,
            final_url=page.final_url,
            extracted=ex,
            content_hash=digest,
            raw=page.body,
            headers=page.headers,
            fetched_at=page.fetched_at,
            rendered=page.rendered,
            institution_id=institution_id,
            region=region,
        )
        if saved.changed or saved.created:
            self.store.save_analysis(saved.version_id, analysis.labels, analysis.scores, analysis.findings)
            if self.indexer is not None:
                self.indexer.index([saved.doc_id])
        kind = "new" if saved.created else ("changed" if saved.changed else "unchanged")
        return Outcome(kind, page.url, doc_id=saved.doc_id, labels=analysis.labels, version=saved.version)

    def _error(self, page: PageItem, run_id: int | None, kind: str, detail: str) -> Outcome:
        self.store.record_error(run_id, page.source_id, page.url, kind, detail)
        return Outcome("error", page.url, error_kind=kind)
