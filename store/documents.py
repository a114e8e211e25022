"""Documents and their versions in the store: conditional-GET validators, saving fetched pages (one or a batch),
saving a version's analysis (labels, scores, findings), reading a document back with its history."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from domain import Extracted, Finding
from domain.fingerprint import NEAR_DUPLICATE_BITS, bands, distance
from domain.urls import canonical_url, doc_id_for
from store.blobs import BlobStore
from store.engine import CHUNK, Database, chunks, unique
from store.models import Document, DocumentVersion, FindingRow, Fingerprint, Source, as_utc, utcnow
from store.rows import iso, row_fields


@dataclass(slots=True, frozen=True)
class SaveOutcome:
    doc_id: str
    version_id: int
    version: int
    changed: bool  # a new version was written
    created: bool  # the document was new
    unanalysed: bool = False  # same content, but its current version was never analysed (an interrupted save)


# The unchanged check runs once per fetched page: its statements are built once (their cache keys memoised), and
# read plain columns, no ORM objects. The document is found by final URL, else by the URL that was requested.
_SETTLED = select(Document.content_hash, DocumentVersion.analyzed_at).outerjoin(
    DocumentVersion, DocumentVersion.id == Document.current_version_id
)
_SETTLED_BY_ID = _SETTLED.where(Document.id == bindparam("doc_id"))
_SETTLED_BY_REQUESTED = _SETTLED.where(Document.requested_url == bindparam("canon")).limit(1)


@dataclass(slots=True)
class _NewVersion:
    """A version planned by ``save_many``: its document, its row, and the findings to insert with it."""

    doc: Document
    row: dict[str, Any]
    created: bool
    findings: list[Finding]
    index: int = 0  # the item's position in the batch


class Documents(Database):
    blobs: BlobStore  # raw bodies; set by store.db.Store

    # -- conditional GET -----------------------------------------------------------------------------------
    def _find_doc(self, s: Session, url: str) -> Document | None:
        canon = canonical_url(url)
        doc = s.get(Document, doc_id_for(canon))
        if doc is None:
            doc = s.scalars(select(Document).where(Document.requested_url == canon).limit(1)).first()
        return doc

    def validators(self, url: str) -> tuple[str | None, str | None]:
        """(ETag, Last-Modified) last seen for the document at ``url`` (requested or final URL)."""
        with self._read() as s:
            doc = self._find_doc(s, url)
            return (doc.etag, doc.last_modified) if doc else (None, None)

    def mark_unchanged(self, url: str, run_id: int | None) -> str | None:
        """A 304 (or an identical body): touch last_seen / last_run_id; returns the doc id, None if unknown."""

        def tx(s: Session) -> str | None:
            doc = self._find_doc(s, url)
            if doc is None:
                return None
            doc.last_seen = utcnow()
            if run_id is not None:
                doc.last_run_id = run_id
            return doc.id

        return self._retrying(tx)

    # -- documents & versions --------------------------------------------------------------------------------
    def content_hash_of(self, url: str) -> str | None:
        with self._read() as s:
            doc = self._find_doc(s, url)
            return doc.content_hash if doc else None

    def settled_hash_of(self, url: str) -> str | None:
        """The current version's content hash, only when that version was analysed: a version saved without
        its analysis (a database from before the single-transaction save, or a failed analysis) is not
        "unchanged" for the next crawl, which re-analyses it."""

        canon = canonical_url(url)

        def read(conn: Connection) -> str | None:
            row = (
                conn.execute(_SETTLED_BY_ID, {"doc_id": doc_id_for(canon)}).first()
                or conn.execute(_SETTLED_BY_REQUESTED, {"canon": canon}).first()
            )
            return row.content_hash if row is not None and row.analyzed_at is not None else None

        return self._reading_rows(read)

    def save_version(
        self,
        *,
        run_id: int | None,
        source_id: str,
        url: str,
        final_url: str,
        extracted: Extracted,
        content_hash: str,
        raw: bytes | None,
        headers: dict[str, str],
        fetched_at: datetime,
        rendered: bool,
        institution_id: str | None,
        region: str | None,
    ) -> SaveOutcome:
        """Record a fetched page. Same content hash as the current version → no new version
        (``changed=False``), only last_seen / validators / run updated. Safe to call again for the same page."""
        item = {
            "run_id": run_id,
            "source_id": source_id,
            "url": url,
            "final_url": final_url,
            "extracted": extracted,
            "content_hash": content_hash,
            "raw": raw,
            "headers": headers,
            "fetched_at": fetched_at,
            "rendered": rendered,
            "institution_id": institution_id,
            "region": region,
        }
        return self.save_many([item])[0]

    def save_many(self, items: Sequence[dict[str, Any]]) -> list[SaveOutcome]:
        """Batch form of ``save_version`` + ``save_analysis`` in one transaction (all or nothing).

        Each item holds save_version's keyword arguments and optionally ``analysis=(labels, scores,
        findings)``, which is applied when the page is new or changed (or its current version was never
        analysed), ``simhash`` (domain.fingerprint) to link the page to an earlier near-duplicate, and ``index=True``, which queues the document in the search outbox in the same
        transaction. A process killed at any moment therefore leaves either nothing of the page or its
        version, analysis and outbox entry together. Several times faster per page than one call each;
        the outcomes come back in item order.
        """
        if not items:
            return []
        extra = ("analysis", "index", "simhash")
        preps = self._prepare_saves([{k: v for k, v in item.items() if k not in extra} for item in items])

        def tx(s: Session) -> list[SaveOutcome]:
            from store.outbox import queue_for_indexing  # store.outbox imports this module

            outcomes: list[SaveOutcome | None] = [None] * len(items)
            pending: list[_NewVersion] = []  # versions planned, inserted together by write_pending
            new_findings: list[dict[str, Any]] = []  # of versions written here: one INSERT for the batch
            # the batch's documents in one statement (row-locked on PostgreSQL) instead of one query per page
            known: dict[str, Document | None] = dict.fromkeys(unique(p["doc_id"] for p in preps))
            for chunk in chunks(list(known)):
                for doc in s.scalars(select(Document).where(Document.id.in_(chunk)).with_for_update()):
                    known[doc.id] = doc

            def write_pending() -> None:
                """Insert the planned versions in one statement (after their new documents) and point
                each document at its version."""
                if not pending:
                    return
                s.flush()
                ids = s.scalars(
                    insert(DocumentVersion).returning(DocumentVersion.id, sort_by_parameter_order=True),
                    [p.row for p in pending],
                ).all()
                for p, version_id in zip(pending, ids, strict=True):
                    p.doc.current_version_id = version_id
                    outcomes[p.index] = SaveOutcome(p.doc.id, version_id, p.row["version"], True, p.created)
                    new_findings.extend(
                        _finding_values(f) | {"version_id": version_id, "document_id": p.doc.id}
                        for f in p.findings
                    )
                pending.clear()

            for i, (item, prep) in enumerate(zip(items, preps, strict=True)):
                if any(p.doc.id == prep["doc_id"] for p in pending):
                    write_pending()  # the same page twice in a batch: the second sees the first's version
                analysis = item.get("analysis")
                planned = self._save_version_tx(s, **prep, known=known, analysis=analysis)
                if isinstance(planned, _NewVersion):
                    planned.index = i
                    pending.append(planned)
                    continue
                outcomes[i] = planned
                if analysis is not None and planned.unanalysed:
                    self._save_analysis_tx(s, planned.version_id, *analysis)
            write_pending()
            if new_findings:
                s.execute(insert(FindingRow), new_findings)

            done = [out for out in outcomes if out is not None]
            queued: list[str] = []
            fingerprints: list[tuple[str, int]] = []
            for item, out in zip(items, done, strict=True):
                redo = out.changed or out.unanalysed
                if item.get("simhash") is not None and redo:
                    fingerprints.append((out.doc_id, int(item["simhash"])))
                if item.get("index") and (redo or out.created):
                    queued.append(out.doc_id)
            self._fingerprints_tx(s, fingerprints)
            if queued:
                s.flush()
                queue_for_indexing(s, self.engine.dialect.name, queued)
            return done

        return self._retrying(tx)

    def _prepare_saves(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Normalise arguments and store raw bodies (outside the write lock) for pages that will get a
        new version; an unchanged page's body is not stored again. An item may instead carry ``raw_sha``, a body
        its caller already put in the blob store (the crawl's step 1 does, off the analysis worker)."""
        preps = []
        for item in items:
            final_url = item["final_url"] or item["url"]
            preps.append(
                {
                    **item,
                    "final_url": final_url,
                    "doc_id": doc_id_for(final_url),
                    "headers": {str(k).lower(): str(v) for k, v in (item.get("headers") or {}).items()},
                    "fetched_at": as_utc(item.get("fetched_at")) or utcnow(),
                }
            )

        def read(s: Session) -> dict[str, str | None]:
            found: dict[str, str | None] = {}
            for chunk in chunks(unique(p["doc_id"] for p in preps)):
                found.update(
                    s.execute(select(Document.id, Document.content_hash).where(Document.id.in_(chunk))).all()
                )
            return found

        known = self._reading(read)
        for p in preps:
            if p.get("raw_sha"):  # a body the caller already stored (used only if a version is written)
                continue
            raw = p.get("raw")
            p["raw_sha"] = (
                self.blobs.put(raw) if raw and known.get(p["doc_id"]) != p["content_hash"] else None
            )
        return preps

    def _save_version_tx(
        self,
        s: Session,
        *,
        run_id: int | None,
        source_id: str,
        url: str,
        final_url: str,
        doc_id: str,
        extracted: Extracted,
        content_hash: str,
        raw: bytes | None,
        raw_sha: str | None,
        headers: dict[str, str],
        fetched_at: datetime,
        rendered: bool,
        institution_id: str | None,
        region: str | None,
        known: dict[str, Document | None],
        analysis: tuple[list[str], dict[str, float], list[Finding]] | None = None,
    ) -> SaveOutcome | _NewVersion:
        """Create or update the page's document; an unchanged page's outcome, or the new version to insert
        (with ``analysis`` in its row when given). ``known``: the documents of this transaction's batch already
        read (None = not in the store); the document created here is added to it."""
        canon = canonical_url(final_url)
        fetched = fetched_at
        doc = known[doc_id] if doc_id in known else s.get(Document, doc_id, with_for_update=True)
        created = doc is None
        if doc is None:
            doc = Document(
                id=doc_id,
                url=final_url,
                canonical_url=canon,
                requested_url=canonical_url(url),
                source_id=source_id,
                institution_id=institution_id,
                region=region,
                first_seen=fetched,
                last_seen=fetched,
                last_run_id=run_id,
                etag=headers.get("etag"),
                last_modified=headers.get("last-modified"),
                current_version=0,
                status=extracted.status or "ok",
            )
            s.add(doc)
            known[doc_id] = doc
        else:
            doc.url = final_url
            doc.requested_url = canonical_url(url)
            last_seen = as_utc(doc.last_seen)
            doc.last_seen = fetched if last_seen is None or fetched > last_seen else last_seen
            if run_id is not None:
                doc.last_run_id = run_id
            doc.etag = headers.get("etag")
            doc.last_modified = headers.get("last-modified")
            if institution_id is not None:
                doc.institution_id = institution_id
            if region is not None:
                doc.region = region
            if doc.content_hash == content_hash and doc.current_version_id is not None:
                analysed = s.scalar(
                    select(DocumentVersion.analyzed_at).where(DocumentVersion.id == doc.current_version_id)
                )
                return SaveOutcome(
                    doc.id, doc.current_version_id, doc.current_version, False, False, analysed is None
                )

        if raw and raw_sha is None:  # changed by another writer since the pre-check
            raw_sha = self.blobs.put(raw)
        number = doc.current_version + 1
        labels, scores, findings = analysis if analysis is not None else ([], {}, [])
        row = {
            "document_id": doc_id,
            "version": number,
            "run_id": run_id,
            "content_hash": content_hash,
            "final_url": final_url,
            "title": extracted.title or "",
            "text": extracted.text or "",
            "published_at": as_utc(extracted.published_at),
            "author": extracted.author or "",
            "account": extracted.account or "",
            "images": [{"src": i.src, "alt": i.alt, "ocr_text": i.ocr_text} for i in extracted.images],
            "fetched_at": fetched,
            "rendered": bool(rendered),
            "raw_blob": raw_sha,
            "encoding": extracted.encoding or "",
            "status": extracted.status or "ok",
            "headers": headers,
            "labels": unique(str(label) for label in labels),
            "scores": _clean_scores(scores),
            "analyzed_at": utcnow() if analysis is not None else None,
        }
        doc.current_version = number
        doc.content_hash = content_hash
        doc.status = extracted.status or "ok"
        return _NewVersion(doc, row, created, findings)

    def _fingerprints_tx(self, s: Session, pairs: list[tuple[str, int]]) -> None:
        """Record each (document id, SimHash) and link the document to the nearest earlier document within
        NEAR_DUPLICATE_BITS (that document's own original when it is a near-duplicate itself), in order: a
        later pair sees the earlier ones. The candidates (documents sharing a band) are read for the whole batch
        with one query as plain rows, indexed by band in memory, and the batch's rows written in two statements."""
        if not pairs:
            return
        s.flush()  # the batch's documents exist before their fingerprints
        columns = (Fingerprint.band0, Fingerprint.band1, Fingerprint.band2, Fingerprint.band3)
        wanted: list[set[int]] = [set(), set(), set(), set()]
        for _, value in pairs:
            for i, band in enumerate(bands(value)):
                wanted[i].add(band)
        read = select(Fingerprint.document_id, Fingerprint.simhash, *columns, Fingerprint.near_duplicate_of)
        # one query for the four bands (OR: each document once, however many bands it shares; a page copied
        # a hundred times would otherwise come back four hundred times)
        values = [sorted(v) for v in wanted]
        rows: list[Any] = []
        for start in range(0, max(map(len, values)), CHUNK):
            part = [
                c.in_(v[start : start + CHUNK]) for c, v in zip(columns, values, strict=True) if v[start:]
            ]
            rows += s.execute(read.where(or_(*part)))
        batch_ids = unique(doc_id for doc_id, _ in pairs)
        rows += [
            r for ids in chunks(batch_ids) for r in s.execute(read.where(Fingerprint.document_id.in_(ids)))
        ]
        # document id -> (SimHash, bands, its original); band value -> the documents with it, per band
        known: dict[str, tuple[int, tuple[int, ...], str | None]] = {
            r.document_id: (int(r.simhash, 16), (r.band0, r.band1, r.band2, r.band3), r.near_duplicate_of)
            for r in rows
        }
        stored = set(known) & set(batch_ids)
        by_band: list[defaultdict[int, set[str]]] = [defaultdict(set) for _ in columns]
        for doc_id, (_, b, _) in known.items():
            for i, band in enumerate(b):
                by_band[i][band].add(doc_id)
        written: dict[str, dict[str, Any]] = {}
        for doc_id, value in pairs:
            b = bands(value)
            best: tuple[int, str] | None = None
            for c in set().union(*(by_band[i].get(band, ()) for i, band in enumerate(b))):
                if c == doc_id:
                    continue
                c_value, _, c_original = known[c]
                d = distance(value, c_value)
                root = c_original or c
                if d <= NEAR_DUPLICATE_BITS and root != doc_id and (best is None or (d, root) < best):
                    best = (d, root)
            if doc_id in known:
                for i, band in enumerate(known[doc_id][1]):
                    by_band[i][band].discard(doc_id)
            for i, band in enumerate(b):
                by_band[i][band].add(doc_id)
            known[doc_id] = (value, b, best[1] if best else None)
            written[doc_id] = {
                "document_id": doc_id,
                "simhash": f"{value:016x}",
                "band0": b[0],
                "band1": b[1],
                "band2": b[2],
                "band3": b[3],
                "near_duplicate_of": best[1] if best else None,
                "distance": best[0] if best else None,
                "updated_at": utcnow(),
            }
        if new := [row for doc_id, row in written.items() if doc_id not in stored]:
            s.execute(insert(Fingerprint), new)
        if changed := [row for doc_id, row in written.items() if doc_id in stored]:
            s.execute(update(Fingerprint), changed)  # ORM bulk UPDATE by primary key

    def near_duplicates(self, doc_id: str) -> list[str]:
        """Ids of the documents linked to ``doc_id`` as its near-duplicates."""
        with self._read() as s:
            return list(
                s.scalars(
                    select(Fingerprint.document_id)
                    .where(Fingerprint.near_duplicate_of == doc_id)
                    .order_by(Fingerprint.document_id)
                )
            )

    def save_analysis(
        self, version_id: int, labels: list[str], scores: dict[str, float], findings: list[Finding]
    ) -> None:
        """Set a version's labels/scores and replace its findings. Idempotent: unchanged findings (same
        category, field, span and source) keep their row id, so reviewer feedback stays attached."""
        with self._write() as s:
            self._save_analysis_tx(s, version_id, labels, scores, findings)

    def _save_analysis_tx(
        self,
        s: Session,
        version_id: int,
        labels: list[str],
        scores: dict[str, float],
        findings: list[Finding],
    ) -> None:
        """Set an existing version's labels and scores and replace its findings, keeping the row of each
        unchanged finding. (A version written by ``save_many`` gets its analysis in its row instead.)"""
        version = s.get(DocumentVersion, version_id, with_for_update=True)
        if version is None:
            raise KeyError(f"no document version {version_id}")
        version.labels = unique(str(label) for label in labels)
        version.scores = _clean_scores(scores)
        version.analyzed_at = utcnow()
        existing: dict[tuple, list[FindingRow]] = defaultdict(list)
        for old in s.scalars(
            select(FindingRow).where(FindingRow.version_id == version_id).order_by(FindingRow.id)
        ):
            existing[_finding_key(old)].append(old)
        for f in findings:
            bucket = existing.get(_finding_key(f))
            row: FindingRow | None = bucket.pop(0) if bucket else None
            if row is None:
                row = FindingRow(version_id=version_id, document_id=version.document_id)
                s.add(row)
            for key, value in _finding_values(f).items():
                setattr(row, key, value)
        stale = [row.id for rows in existing.values() for row in rows]
        if stale:
            s.execute(delete(FindingRow).where(FindingRow.id.in_(stale)))

    def get_document(self, doc_id: str) -> dict | None:
        """The document, its current version, that version's findings and the version history."""
        with self._read() as s:
            doc = s.get(Document, doc_id)
            if doc is None:
                return None
            version = s.get(DocumentVersion, doc.current_version_id) if doc.current_version_id else None
            findings = (
                s.scalars(
                    select(FindingRow)
                    .where(FindingRow.version_id == version.id)
                    .order_by(FindingRow.field, FindingRow.start, FindingRow.id)
                ).all()
                if version
                else []
            )
            history = s.execute(
                select(
                    DocumentVersion.id,
                    DocumentVersion.version,
                    DocumentVersion.content_hash,
                    DocumentVersion.fetched_at,
                    DocumentVersion.title,
                    DocumentVersion.labels,
                )
                .where(DocumentVersion.document_id == doc_id)
                .order_by(DocumentVersion.version)
            ).all()
            source = s.get(Source, doc.source_id)
            fp = s.get(Fingerprint, doc_id)
            return {
                **_doc_json(doc),
                "near_duplicate_of": fp.near_duplicate_of if fp else None,
                "source_type": source.type if source else "",
                "source_name": source.name if source else "",
                "version": _version_json(version) if version else None,
                "findings": [_finding_json(f) for f in findings],
                "versions": [
                    {
                        "id": h.id,
                        "version": h.version,
                        "content_hash": h.content_hash,
                        "fetched_at": iso(h.fetched_at),
                        "title": h.title,
                        "labels": h.labels,
                    }
                    for h in history
                ],
            }

    def all_doc_ids(self) -> list[str]:
        with self._read() as s:
            return list(s.scalars(select(Document.id).order_by(Document.id)))


def _clean_scores(scores: dict[str, float] | None) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in (scores or {}).items():
        try:
            f = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(f):
            out[str(key)] = f
    return out


def _finding_values(f: Finding) -> dict[str, Any]:
    """The columns of a finding's row (besides its version and document)."""
    return {
        "category": f.category,
        "label": f.label,
        "start": int(f.start),
        "end": int(f.end),
        "text": f.text or "",
        "legal_basis": f.legal_basis or "",
        "severity": f.severity or "",
        "source": f.source or "",
        "field": f.field or "text",
        "score": None if f.score is None or not math.isfinite(f.score) else float(f.score),
        "reason": f.reason or "",
    }


def _finding_key(f: Finding | FindingRow) -> tuple:
    return (f.category, f.field or "text", int(f.start), int(f.end), f.source or "")


def finding_contract_json(f: FindingRow) -> dict[str, Any]:
    """Exactly Finding.to_json()'s keys (what the search contract indexes)."""
    return Finding(
        category=f.category,
        label=f.label,
        start=f.start,
        end=f.end,
        text=f.text,
        legal_basis=f.legal_basis,
        severity=f.severity,
        source=f.source,
        field=f.field,
        score=f.score,
        reason=f.reason,
    ).to_json()


def _finding_json(f: FindingRow) -> dict[str, Any]:
    return {"id": f.id, "version_id": f.version_id, **finding_contract_json(f)}


def _doc_json(d: Document) -> dict[str, Any]:
    return row_fields(
        d,
        (
            "id url canonical_url source_id institution_id region first_seen last_seen "
            "last_run_id etag last_modified current_version current_version_id content_hash "
            "status"
        ),
    )


def _version_json(v: DocumentVersion) -> dict[str, Any]:
    return row_fields(
        v,
        (
            "id version run_id content_hash final_url title text published_at author account "
            "images fetched_at rendered raw_blob encoding status headers labels scores "
            "analyzed_at"
        ),
    )
