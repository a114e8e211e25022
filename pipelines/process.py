"""Runs the stages for one fetched page: decode → extract → dedupe & version → OCR → analyze → store → index.

Used by the Scrapy adapter (``pipelines.scrapy_adapter``) and by ``yijian analyze``. Split in two steps so the
crawler can fetch a page's images asynchronously between them: ``prepare`` (decode, extract, unchanged check) and
``finish`` (OCR, analysis, storage, indexing).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import re
import signal
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from classifiers.factory import get_classifier, get_rules, resolve_model_dir
from classifiers.institutions import InstitutionRegistry
from config import Settings
from domain import Extracted, PageItem
from domain.fingerprint import simhash
from domain.sources import SourceConfig
from pipelines.analyze import Analysis, Analyzer, KeyedAssessment, assess_whole_text
from pipelines.decode import DecodeError, decode_body
from pipelines.extract import extract_html
from pipelines.ocr import ocr_image
from store.db import Store
from store.indexer import Indexer
from store.registry_overrides import RegistryOverrides
from store.search.analysis import index_text
from store.search.factory import get_search

if TYPE_CHECKING:
    from classifiers.rules import RuleClassifier

log = logging.getLogger(__name__)

# Per-page bounds (hostile pages: tests/test_hostile.py). The rule engine and the model see at most
# ANALYSIS_MAX_CHARS characters of a page's text (the stored text stays whole; findings are spans of that prefix);
# a page whose decode + extract takes longer than PAGE_BUDGET_S is recorded as ``timeout`` by the crawl adapter.
ANALYSIS_MAX_CHARS = 100_000
PAGE_BUDGET_S = 30.0
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
    # computed by step 1 so that step 2, the single busy analysis worker, does not: the search index's segmented
    # form of the title and text (store.search.analysis.index_text, keyed by the text) and the text's SimHash
    segmented: dict[str, str] = field(default_factory=dict)
    simhash: int | None = None
    # the raw body, already in the blob store (step 1 stores it and drops it from ``page``: the body neither
    # travels on to the analysis worker nor is hashed and compressed there)
    raw_sha: str | None = None
    # the rule engine's assessment of the page's text (pipelines.analyze.assess_whole_text), made by step 1 when it
    # runs in a process of its own: the rules' scan then leaves the analysis worker, the crawl's busiest
    assessed: KeyedAssessment | None = None


def content_hash(ex: Extracted) -> str:
    h = hashlib.sha256()
    for part in (ex.title, ex.text, *sorted(i.src for i in ex.images)):
        h.update(part.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


# Runs of digits, Chinese numerals or whitespace longer than _RUN: some lexicon regexes (``[0-9]+\s*(?:天|…)``,
# ``[0-9]+(?:\.[0-9]+)?\s*元``) backtrack quadratically over such a run (a 100k-link page's text of page numbers took
# minutes). No real claim has a 65-digit number, so every 65th character of a run becomes "|": same length, same
# offsets for findings, linear matching.
_RUN = 64
_LONG_RUNS = re.compile(
    rf"([0-9０-９]{{{_RUN}}})[0-9０-９]|([一二三四五六七八九十两半百千万]{{{_RUN}}})[一二三四五六七八九十两半百千万]|(\s{{{_RUN}}})\s"
)


def _break_runs(text: str) -> str:
    return _LONG_RUNS.sub(lambda m: (m.group(1) or m.group(2) or m.group(3)) + "|", text)


def for_analysis(ex: Extracted, max_chars: int = ANALYSIS_MAX_CHARS) -> Extracted:
    """What the analysers see of ``ex``: its text cut to ``max_chars`` and absurdly long runs of digits, numerals
    or whitespace broken up (the same object when nothing needs changing)."""
    text = ex.text[:max_chars]
    text = _break_runs(text)
    title = _break_runs(ex.title[:max_chars])
    if text == ex.text and title == ex.title:
        return ex
    return dataclasses.replace(ex, text=text, title=title)


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


_FAULT_COUNTS: dict[str, int] = {}


def fault_point(name: str, pages: int = 1) -> None:
    """Fault-injection hook for the crash tests (tests/test_faults.py); inert unless one of these is set:

    * ``YIJIAN_FAULT_KILL_AT=<point>:<n>``: once ``n`` pages have passed ``<point>`` in this process, SIGKILL the
      whole process group (the way a service manager or the OOM killer ends a crawl), between two store steps;
    * ``YIJIAN_FAULT_PAUSE_AT=<point>:<n>:<file>``: at that moment create ``<file>`` and wait (at most 120 s) until
      it is deleted — the test restarts the database meanwhile.
    """
    for var in ("YIJIAN_FAULT_KILL_AT", "YIJIAN_FAULT_PAUSE_AT"):
        spec = os.environ.get(var)
        if not spec:
            continue
        point, _, rest = spec.partition(":")
        nth, _, flag = rest.partition(":")
        if point != name:
            continue
        key = f"{var}:{name}"
        before = _FAULT_COUNTS.get(key, 0)
        _FAULT_COUNTS[key] = before + pages
        if before < int(nth or 1) <= before + pages:
            if var == "YIJIAN_FAULT_KILL_AT":
                os.killpg(os.getpgid(0), signal.SIGKILL)
            with open(flag, "w") as fh:
                fh.write(name)
            deadline = time.monotonic() + 120
            while os.path.exists(flag) and time.monotonic() < deadline:
                time.sleep(0.1)


class Processor:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        indexer: Indexer | None,
        analyzer: Analyzer | None,
        source_meta: dict[str, tuple[str | None, str | None]] | None = None,
        *,
        segment: bool | None = None,
        rules: RuleClassifier | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.indexer = indexer
        self.analyzer = analyzer
        # step 1 segments the text for the search index (None: when this Processor indexes)
        self.segment = indexer is not None if segment is None else segment
        # source id -> (institution id, region) from the source registry
        self.source_meta = source_meta or {}
        # step 1 assesses each page's text with the rules (None: step 2 does)
        self.rules = rules

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

    @classmethod
    def for_prepare(cls, settings: Settings) -> Processor:
        """A Processor for step 1 only (decode, extract, the unchanged check): the store and the rule engine, no
        model or index, so it starts in a fraction of the full one's time and memory. It segments each page for
        the search index (jieba), hashes it and, when the analysis will be model + rules, makes the rules'
        assessment of its text: work the finishing Processor would otherwise do on its one core."""
        from classifiers.rules import RuleClassifier

        rules = RuleClassifier() if resolve_model_dir(settings) is not None else None
        return cls(settings, Store.from_settings(settings), None, None, segment=True, rules=rules)

    def close(self) -> None:
        self.store.close()

    # --- step 1 -------------------------------------------------------------------------------------
    def prepare(self, page: PageItem, run_id: int | None) -> Prepared | Outcome:
        """Decode and extract; returns an Outcome when the page ends here (error, deleted, unchanged). Otherwise
        the raw body goes to the blob store here (content-addressed: a page that never gets a version leaves an
        unreferenced blob, nothing worse) and the Prepared carries its hash instead of the body."""
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
        if self.store.settled_hash_of(page.url) == digest:  # same content, already analysed
            doc_id = self.store.mark_unchanged(page.url, run_id)
            return Outcome("unchanged", page.url, doc_id=doc_id)
        cands = ocr_candidates(extracted) if self.settings.ocr_enabled else []
        segmented = {t: index_text(t) for t in (extracted.title, extracted.text) if t} if self.segment else {}
        raw_sha = self.store.blobs.put(page.body) if page.body else None
        page = dataclasses.replace(page, body=b"")
        assessed = assess_whole_text(self.rules, for_analysis(extracted)) if self.rules is not None else None
        return Prepared(page, extracted, digest, cands, segmented, simhash(extracted.text), raw_sha, assessed)

    def read_images(self, prep: Prepared, images: dict[str, bytes]) -> Prepared:
        """OCR the page's fetched images (``src`` → bytes) into their ``ocr_text``; returns ``prep``. A crawl
        with a prepare worker runs this there, between the image fetch and step 2, so the model's worker neither
        loads the OCR engine nor reads images; otherwise step 2 does it."""
        for img in prep.extracted.images:
            data = images.get(img.src)
            if data and len(data) <= OCR_MAX_BYTES:
                try:
                    img.ocr_text = ocr_image(data)
                except Exception as exc:  # OCR must never sink a page
                    log.warning("OCR failed for %s: %s", img.src, exc)
        return prep

    # --- step 2 -------------------------------------------------------------------------------------
    def finish(self, prep: Prepared, run_id: int | None, images: dict[str, bytes] | None = None) -> Outcome:
        """OCR the fetched images, analyse, store a new version (if changed) and index it."""
        return self.finish_many([(prep, images or {})], run_id)[0]

    def finish_many(
        self, batch: list[tuple[Prepared, dict[str, bytes]]], run_id: int | None
    ) -> list[Outcome]:
        """``finish`` for several pages with one classifier call (the model runs batched)."""
        if self.analyzer is None:
            raise RuntimeError("this Processor only prepares pages (Processor.for_prepare)")
        for prep, images in batch:
            self.read_images(prep, images)
        analyses = self.analyzer.analyze(
            [for_analysis(prep.extracted) for prep, _ in batch], assessed=[prep.assessed for prep, _ in batch]
        )
        segmented = {k: v for prep, _ in batch for k, v in prep.segmented.items()}
        return self.save_batch(
            [
                (prep.page, prep.extracted, prep.content_hash, analysis)
                for (prep, _), analysis in zip(batch, analyses, strict=True)
            ],
            run_id,
            segmented=segmented,
            simhashes=[prep.simhash for prep, _ in batch],
            raw_shas=[prep.raw_sha for prep, _ in batch],
        )

    def save(
        self, page: PageItem, ex: Extracted, digest: str, analysis: Analysis, run_id: int | None
    ) -> Outcome:
        return self.save_batch([(page, ex, digest, analysis)], run_id)[0]

    def save_batch(
        self,
        pages: list[tuple[PageItem, Extracted, str, Analysis]],
        run_id: int | None,
        *,
        segmented: dict[str, str] | None = None,
        simhashes: list[int | None] | None = None,
        raw_shas: list[str | None] | None = None,
    ) -> list[Outcome]:
        """Store each page's version, its analysis and its search-outbox entry in ONE transaction (a kill at
        any moment leaves all three or none), then push the outbox to the search backend. ``segmented`` and
        ``simhashes`` and ``raw_shas`` (bodies step 1 already stored): what step 1 computed (``Prepared``), used
        instead of doing it again."""
        items = []
        hashes = simhashes or [None] * len(pages)
        blobs = raw_shas or [None] * len(pages)
        for (page, ex, digest, analysis), sim, raw_sha in zip(pages, hashes, blobs, strict=True):
            source_institution, region = self.source_meta.get(page.source_id, (None, None))
            items.append(
                {
                    "run_id": run_id,
                    "source_id": page.source_id,
                    "url": page.url,
                    "final_url": page.final_url,
                    "extracted": ex,
                    "content_hash": digest,
                    "raw": page.body,
                    "raw_sha": raw_sha,
                    "headers": page.headers,
                    "fetched_at": page.fetched_at,
                    "rendered": page.rendered,
                    "institution_id": analysis.institution_id or source_institution,
                    "region": region,
                    "analysis": (analysis.labels, analysis.scores, analysis.findings),
                    "index": self.indexer is not None,
                    "simhash": simhash(ex.text) if sim is None else sim,
                }
            )
        fault_point("before_save", len(items))
        saved = self.store.save_many(items)
        fault_point("after_save", len(items))
        touched = [o.doc_id for o in saved if o.changed or o.created or o.unanalysed]
        if touched and self.indexer is not None:
            # queued by save_many; this pushes the queue
            self.indexer.index(touched, queued=True, segmented=segmented)
        fault_point("after_index", len(items))
        out = []
        for (page, _, _, analysis), o in zip(pages, saved, strict=True):
            kind = "new" if o.created else ("changed" if o.changed or o.unanalysed else "unchanged")
            out.append(Outcome(kind, page.url, doc_id=o.doc_id, labels=analysis.labels, version=o.version))
        return out

    def _error(self, page: PageItem, run_id: int | None, kind: str, detail: str) -> Outcome:
        self.store.record_error(run_id, page.source_id, page.url, kind, detail)
        return Outcome("error", page.url, error_kind=kind)
