"""The system of record: sources, institutions, crawl runs, documents and their versions, findings,
the search outbox and reviewer feedback (read back as plain records; classifiers.feedback makes training
examples of them).

One ``Store`` per process; it is safe to call from several threads (every call opens its own
short-lived Session). On SQLite the database runs in WAL mode with ``busy_timeout`` and foreign keys on,
and every write transaction starts with ``BEGIN IMMEDIATE`` so that writers queue on the database lock
instead of failing with "database is locked" when a read transaction would have to be upgraded. Schema
is created with ``create_all`` on open; ``Base.metadata`` (store.models) is ready for Alembic.
"""

from __future__ import annotations

import math
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import case, create_engine, delete, event, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from domain import LABELS, Extracted, Finding
from domain.urls import canonical_url, doc_id_for
from store.blobs import BlobStore
from store.models import (
    Base,
    CrawlRun,
    Document,
    DocumentVersion,
    FeedbackRow,
    FetchError,
    FindingRow,
    Institution,
    OutboxEntry,
    Source,
    as_utc,
    utcnow,
)
from store.search.base import IndexDoc

if TYPE_CHECKING:
    import config

T = TypeVar("T")

__all__ = [
    "DECISIONS",
    "SaveOutcome",
    "Store",
]

DECISIONS: tuple[str, ...] = ("confirm", "dismiss", "escalate")  # escalate counts as confirm for training
BUSY_TIMEOUT_MS = 30_000

# SQLite allows one writer at a time. Threads of one process queue on a Python lock per database file
# (woken as soon as it is free) rather than on SQLite's busy handler, which polls with growing sleeps;
# other processes still wait via BEGIN IMMEDIATE + busy_timeout.
_SQLITE_WRITE_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _sqlite_write_lock(key: str) -> threading.Lock:
    with _LOCKS_GUARD:
        return _SQLITE_WRITE_LOCKS.setdefault(key, threading.Lock())


_CHUNK = 500  # ids per IN (...) clause

# ---------------------------------------------------------------------------------------------------
# Store
# ---------------------------------------------------------------------------------------------------


@dataclass(slots=True, frozen=True)
class SaveOutcome:
    doc_id: str
    version_id: int
    version: int
    changed: bool  # a new version was written
    created: bool  # the document was new


def _iso(value: datetime | None) -> str | None:
    value = as_utc(value)
    return value.isoformat() if value else None


def _chunks(items: Sequence[T], size: int = _CHUNK) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(i for i in items if i))


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


def _str_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


class Store:
    def __init__(self, url: str, blob_dir: Path) -> None:
        self.url = url
        self.blobs = BlobStore(blob_dir)
        self.engine = self._make_engine(url)
        # Same pool; connections checked out through _writer start write transactions (BEGIN IMMEDIATE).
        self._writer = self.engine.execution_options(yijian_write=True)
        self._lock: threading.Lock | None = None
        self._shared_connection = isinstance(self.engine.pool, StaticPool)
        if self.engine.dialect.name == "sqlite":
            db = self.engine.url.database or ":memory:"
            key = str(Path(db).resolve()) if db != ":memory:" else f"memory:{id(self)}"
            self._lock = _sqlite_write_lock(key)
        self._read_sessions = sessionmaker(bind=self.engine, expire_on_commit=False)
        self._write_sessions = sessionmaker(bind=self._writer, expire_on_commit=False)
        # Inside one write transaction, so processes opening a new database at once do not race.
        # (A later schema change goes through an Alembic migration against store.models.Base.metadata.)
        if self._lock is not None:
            with self._lock, self._writer.begin() as conn:
                Base.metadata.create_all(conn)
        else:
            Base.metadata.create_all(self.engine)

    @classmethod
    def from_settings(cls, settings: config.Settings) -> Store:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        return cls(settings.db_url, settings.blob_dir)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- engine & sessions -----------------------------------------------------------------------------
    @staticmethod
    def _make_engine(url: str) -> Engine:
        is_sqlite = url.startswith("sqlite")
        if not is_sqlite:
            return create_engine(url, pool_pre_ping=True)
        memory = url in ("sqlite://", "sqlite:///:memory:") or "mode=memory" in url
        if memory:
            engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
        else:
            path = url.split("///", 1)[-1].split("?", 1)[0]
            if path:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(
                url, connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000}
            )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own handling is deferred-only).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            if not memory:
                cur.execute("PRAGMA journal_mode = WAL")
                cur.execute("PRAGMA synchronous = NORMAL")
            cur.execute("PRAGMA foreign_keys = ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            write = conn.get_execution_options().get("yijian_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine

    @contextmanager
    def _read(self) -> Iterator[Session]:
        if self._shared_connection:  # in-memory SQLite: one connection, so reads queue with writes
            with self._lock or nullcontext(), self._read_sessions() as session:
                yield session
            return
        with self._read_sessions() as session:
            yield session

    @contextmanager
    def _write(self) -> Iterator[Session]:
        if self._lock is None:
            with self._write_sessions() as session, session.begin():
                yield session
            return
        with self._lock, self._write_sessions() as session, session.begin():
            yield session

    # -- registries ------------------------------------------------------------------------------------
    def upsert_sources(self, sources: list[dict]) -> None:
        """Insert or update sources from registry dicts (id, name, type, institution, region, ...)."""
        rows: dict[str, dict[str, Any]] = {}
        for i, entry in enumerate(sources):
            if not isinstance(entry, dict) or not entry.get("id"):
                raise ValueError(f"来源登记第{i + 1}项缺少 id: {entry!r}")
            sid = str(entry["id"])
            rows[sid] = {
                "name": str(entry.get("name") or sid),
                "type": str(entry.get("type") or "site"),
                "config": _jsonable(entry),
                "institution_id": _opt_str(entry.get("institution_id", entry.get("institution"))),
                "region": _opt_str(entry.get("region")),
                "updated_at": utcnow(),
            }
        self._upsert_registry(Source, rows)

    def upsert_institutions(self, institutions: list[dict]) -> None:
        known = {"id", "name", "aliases", "licence_no", "license_no", "type", "licensed_subjects", "region"}
        known |= {"domains"}
        rows: dict[str, dict[str, Any]] = {}
        for i, entry in enumerate(institutions):
            if not isinstance(entry, dict) or not entry.get("id"):
                raise ValueError(f"机构登记第{i + 1}项缺少 id: {entry!r}")
            iid = str(entry["id"])
            rows[iid] = {
                "name": str(entry.get("name") or iid),
                "aliases": _str_list(entry.get("aliases")),
                "licence_no": _opt_str(entry.get("licence_no", entry.get("license_no"))),
                "type": _opt_str(entry.get("type")),
                "licensed_subjects": _str_list(entry.get("licensed_subjects")),
                "region": _opt_str(entry.get("region")),
                "domains": _str_list(entry.get("domains")),
                "extra": _jsonable({k: v for k, v in entry.items() if k not in known}),
                "updated_at": utcnow(),
            }
        self._upsert_registry(Institution, rows)

    def _upsert_registry(
        self, model: type[Source] | type[Institution], rows: dict[str, dict[str, Any]]
    ) -> None:
        if not rows:
            return
        with self._write() as s:
            ids = list(rows)
            existing: dict[str, Source | Institution] = {}
            for chunk in _chunks(ids):
                found: Iterable[Source | Institution] = s.scalars(select(model).where(model.id.in_(chunk)))
                existing.update({o.id: o for o in found})
            for rid, values in rows.items():
                obj = existing.get(rid)
                if obj is None:
                    s.add(model(id=rid, **values))
                else:
                    for k, v in values.items():
                        setattr(obj, k, v)

    def get_sources(self) -> list[dict]:
        with self._read() as s:
            return [
                {
                    "id": o.id,
                    "name": o.name,
                    "type": o.type,
                    "institution_id": o.institution_id,
                    "region": o.region,
                    "config": o.config,
                }
                for o in s.scalars(select(Source).order_by(Source.id))
            ]

    def get_institutions(self) -> list[dict]:
        with self._read() as s:
            return [_institution_json(o) for o in s.scalars(select(Institution).order_by(Institution.id))]

    # -- crawl runs --------------------------------------------------------------------------------------
    def start_run(self, source_ids: list[str]) -> int:
        with self._write() as s:
            run = CrawlRun(source_ids=list(source_ids), status="running", started_at=utcnow(), stats={})
            s.add(run)
            s.flush()
            return run.id

    def finish_run(self, run_id: int, stats: dict, status: str = "finished") -> None:
        with self._write() as s:
            run = s.get(CrawlRun, run_id)
            if run is None:
                raise KeyError(f"no crawl run {run_id}")
            run.finished_at = utcnow()
            run.status = status
            run.stats = _jsonable(stats)

    def record_error(self, run_id: int | None, source_id: str, url: str, kind: str, detail: str = "") -> None:
        """Record a page that could not be fetched/decoded/parsed. Within one run, the same URL and kind is
        recorded once (retries and re-deliveries are not double counted)."""
        kind = (kind or "unknown").strip() or "unknown"
        with self._write() as s:
            if run_id is not None:
                dup = s.scalar(
                    select(FetchError.id).where(
                        FetchError.run_id == run_id, FetchError.url == url, FetchError.kind == kind
                    )
                )
                if dup is not None:
                    s.execute(
                        update(FetchError).where(FetchError.id == dup).values(detail=detail, at=utcnow())
                    )
                    return
            s.add(FetchError(run_id=run_id, source_id=source_id, url=url, kind=kind, detail=detail or ""))

    def list_errors(
        self, run_id: int | None = None, kind: str | None = None, limit: int = 1000
    ) -> list[dict]:
        """Recorded failures, newest first (optionally of one run and/or one kind)."""
        with self._read() as s:
            q = select(FetchError).order_by(FetchError.id.desc()).limit(limit)
            if run_id is not None:
                q = q.where(FetchError.run_id == run_id)
            if kind is not None:
                q = q.where(FetchError.kind == kind)
            return [
                {"run_id": e.run_id, "source_id": e.source_id, "url": e.url, "kind": e.kind, "detail": e.detail,
                 "at": _iso(e.at)}
                for e in s.scalars(q).all()
            ]  # fmt: skip

    def list_runs(self, limit: int = 20) -> list[dict]:
        with self._read() as s:
            runs = s.scalars(select(CrawlRun).order_by(CrawlRun.id.desc()).limit(limit)).all()
            return [_run_json(r) for r in runs]

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
        with self._write() as s:
            doc = self._find_doc(s, url)
            if doc is None:
                return None
            doc.last_seen = utcnow()
            if run_id is not None:
                doc.last_run_id = run_id
            return doc.id

    # -- documents & versions --------------------------------------------------------------------------------
    def content_hash_of(self, url: str) -> str | None:
        with self._read() as s:
            doc = self._find_doc(s, url)
            return doc.content_hash if doc else None

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
        (prep,) = self._prepare_saves(
            [
                {
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
            ]
        )
        return self._retrying(lambda s: self._save_version_tx(s, **prep))

    def save_many(self, items: Sequence[dict[str, Any]]) -> list[SaveOutcome]:
        """Batch form of ``save_version`` + ``save_analysis`` in one transaction (all or nothing).

        Each item holds save_version's keyword arguments and optionally ``analysis=(labels, scores,
        findings)``, which is applied when the page is new or changed. Several times faster per page
        than one call each; the outcomes come back in item order.
        """
        if not items:
            return []
        preps = self._prepare_saves([{k: v for k, v in item.items() if k != "analysis"} for item in items])

        def tx(s: Session) -> list[SaveOutcome]:
            outcomes = []
            for item, prep in zip(items, preps, strict=True):
                out = self._save_version_tx(s, **prep)
                analysis = item.get("analysis")
                if analysis is not None and out.changed:
                    self._save_analysis_tx(s, out.version_id, *analysis)
                outcomes.append(out)
            return outcomes

        return self._retrying(tx)

    def _retrying(self, tx: Callable[[Session], T]) -> T:
        for attempt in range(3):
            try:
                with self._write() as s:
                    return tx(s)
            except IntegrityError:
                # Two writers created the same document at once (possible on PostgreSQL): retry, the
                # next attempt finds the row.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _prepare_saves(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Normalise arguments and store raw bodies (outside the write lock) for pages that will get a
        new version; an unchanged page's body is not stored again."""
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
        known: dict[str, str | None] = {}
        with self._read() as s:
            for chunk in _chunks(_unique(p["doc_id"] for p in preps)):
                known.update(
                    s.execute(select(Document.id, Document.content_hash).where(Document.id.in_(chunk))).all()
                )
        for p in preps:
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
    ) -> SaveOutcome:
        canon = canonical_url(final_url)
        fetched = fetched_at
        doc = s.get(Document, doc_id, with_for_update=True)  # row lock on PostgreSQL
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
                return SaveOutcome(doc.id, doc.current_version_id, doc.current_version, False, False)

        if raw and raw_sha is None:  # changed by another writer since the pre-check
            raw_sha = self.blobs.put(raw)
        number = doc.current_version + 1
        version = DocumentVersion(
            document_id=doc_id,
            version=number,
            run_id=run_id,
            content_hash=content_hash,
            final_url=final_url,
            title=extracted.title or "",
            text=extracted.text or "",
            published_at=as_utc(extracted.published_at),
            author=extracted.author or "",
            account=extracted.account or "",
            images=[{"src": i.src, "alt": i.alt, "ocr_text": i.ocr_text} for i in extracted.images],
            fetched_at=fetched,
            rendered=bool(rendered),
            raw_blob=raw_sha,
            encoding=extracted.encoding or "",
            status=extracted.status or "ok",
            headers=headers,
            labels=[],
            scores={},
        )
        s.add(version)
        s.flush()
        doc.current_version = number
        doc.current_version_id = version.id
        doc.content_hash = content_hash
        doc.status = extracted.status or "ok"
        return SaveOutcome(doc_id, version.id, number, True, created)

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
        version = s.get(DocumentVersion, version_id, with_for_update=True)
        if version is None:
            raise KeyError(f"no document version {version_id}")
        version.labels = _unique(str(label) for label in labels)
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
            row.category = f.category
            row.label = f.label
            row.start = int(f.start)
            row.end = int(f.end)
            row.text = f.text or ""
            row.legal_basis = f.legal_basis or ""
            row.severity = f.severity or ""
            row.source = f.source or ""
            row.field = f.field or "text"
            row.score = None if f.score is None or not math.isfinite(f.score) else float(f.score)
            row.reason = f.reason or ""
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
            return {
                **_doc_json(doc),
                "source_type": source.type if source else "",
                "source_name": source.name if source else "",
                "version": _version_json(version) if version else None,
                "findings": [_finding_json(f) for f in findings],
                "versions": [
                    {
                        "id": h.id,
                        "version": h.version,
                        "content_hash": h.content_hash,
                        "fetched_at": _iso(h.fetched_at),
                        "title": h.title,
                        "labels": h.labels,
                    }
                    for h in history
                ],
            }

    def index_docs(self, doc_ids: list[str]) -> list[IndexDoc]:
        """IndexDoc for the current version of each id, in the given order; unknown ids are skipped."""
        ids = _unique(doc_ids)
        found: dict[str, IndexDoc] = {}
        with self._read() as s:
            for chunk in _chunks(ids):
                rows = s.execute(
                    select(Document, DocumentVersion, Source.type)
                    .join(DocumentVersion, DocumentVersion.id == Document.current_version_id)
                    .outerjoin(Source, Source.id == Document.source_id)
                    .where(Document.id.in_(chunk))
                ).all()
                by_version: dict[int, list[FindingRow]] = defaultdict(list)
                vids = [v.id for _, v, _ in rows]
                for vchunk in _chunks(vids):
                    for f in s.scalars(
                        select(FindingRow)
                        .where(FindingRow.version_id.in_(vchunk))
                        .order_by(FindingRow.field, FindingRow.start, FindingRow.id)
                    ):
                        by_version[f.version_id].append(f)
                for doc, ver, source_type in rows:
                    fs = by_version.get(ver.id, [])
                    found[doc.id] = IndexDoc(
                        doc_id=doc.id,
                        url=doc.url,
                        title=ver.title,
                        text=ver.text,
                        source_id=doc.source_id,
                        source_type=source_type or "",
                        institution_id=doc.institution_id,
                        region=doc.region,
                        published_at=as_utc(ver.published_at),
                        fetched_at=as_utc(ver.fetched_at),
                        version=ver.version,
                        labels=list(ver.labels or []),
                        categories=sorted({f.category for f in fs}),
                        severities=sorted({f.severity for f in fs if f.severity}),
                        scores=dict(ver.scores or {}),
                        findings=[_finding_contract_json(f) for f in fs],
                        account=ver.account,
                        author=ver.author,
                    )
        return [found[i] for i in ids if i in found]

    def all_doc_ids(self) -> list[str]:
        with self._read() as s:
            return list(s.scalars(select(Document.id).order_by(Document.id)))

    def delete_document(self, doc_id: str) -> bool:
        """Remove a document with its versions, findings and feedback; queues it for removal from the index."""
        with self._write() as s:
            doc = s.get(Document, doc_id)
            if doc is None:
                return False
            s.delete(doc)
        self.outbox_add([doc_id])
        return True

    # -- statistics ----------------------------------------------------------------------------------------------
    def stats(self) -> dict:
        """Totals for the console and the CLI. Findings are counted on current versions only, so every
        document is counted exactly once."""
        with self._read() as s:

            def grouped(column: Any, *where: Any, join_current: bool = False) -> dict[str, int]:
                q = select(column, func.count()).group_by(column)
                if join_current:
                    q = q.join(Document, Document.current_version_id == FindingRow.version_id)
                for w in where:
                    q = q.where(w)
                return {str(k): int(n) for k, n in s.execute(q).all() if k is not None and k != ""}

            documents = s.scalar(select(func.count()).select_from(Document)) or 0
            versions = s.scalar(select(func.count()).select_from(DocumentVersion)) or 0
            findings = (
                s.scalar(
                    select(func.count())
                    .select_from(FindingRow)
                    .join(Document, Document.current_version_id == FindingRow.version_id)
                )
                or 0
            )
            doc_labels: Counter[str] = Counter()
            by_institution: Counter[str] = Counter()
            flagged = 0
            for labels, institution_id in s.execute(
                select(DocumentVersion.labels, Document.institution_id).join(
                    Document, Document.current_version_id == DocumentVersion.id
                )
            ):
                if labels:
                    flagged += 1
                    doc_labels.update(set(labels))
                    if institution_id:
                        by_institution[institution_id] += 1
            errors_by_kind = grouped(FetchError.kind)
            last_run_id = s.scalar(select(func.max(CrawlRun.id)))
            runs = s.scalar(select(func.count()).select_from(CrawlRun)) or 0
            out = {
                "documents": int(documents),
                "versions": int(versions),
                "findings": int(findings),
                "flagged_documents": flagged,
                "documents_by_label": dict(sorted(doc_labels.items())),
                "flagged_documents_by_institution": dict(by_institution.most_common()),
                "documents_by_status": grouped(Document.status),
                "documents_by_source": grouped(Document.source_id),
                "findings_by_label": grouped(FindingRow.label, join_current=True),
                "findings_by_category": grouped(FindingRow.category, join_current=True),
                "findings_by_severity": grouped(FindingRow.severity, join_current=True),
                "errors": sum(errors_by_kind.values()),
                "errors_by_kind": errors_by_kind,
                "runs": int(runs),
                "outbox": int(s.scalar(select(func.count()).select_from(OutboxEntry)) or 0),
            }
        out["last_run"] = self.run_stats(last_run_id) if last_run_id is not None else None
        return out

    def run_stats(self, run_id: int) -> dict:
        with self._read() as s:
            run = s.get(CrawlRun, run_id)
            if run is None:
                raise KeyError(f"no crawl run {run_id}")
            by_kind = {
                k: int(n)
                for k, n in s.execute(
                    select(FetchError.kind, func.count())
                    .where(FetchError.run_id == run_id)
                    .group_by(FetchError.kind)
                )
            }
            by_source = {
                k: int(n)
                for k, n in s.execute(
                    select(FetchError.source_id, func.count())
                    .where(FetchError.run_id == run_id)
                    .group_by(FetchError.source_id)
                )
            }
            n_versions, n_created = s.execute(
                select(
                    func.count(),
                    func.coalesce(func.sum(case((DocumentVersion.version == 1, 1), else_=0)), 0),
                ).where(DocumentVersion.run_id == run_id)
            ).one()
            return {
                **_run_json(run),
                "errors": sum(by_kind.values()),
                "errors_by_kind": by_kind,
                "errors_by_source": by_source,
                "documents_seen": int(
                    s.scalar(select(func.count()).select_from(Document).where(Document.last_run_id == run_id))
                    or 0
                ),
                "documents_created": int(n_created),
                "versions_created": int(n_versions),
            }

    # -- outbox ----------------------------------------------------------------------------------------------------
    def outbox_add(self, doc_ids: list[str], error: str = "") -> None:
        """Queue documents for (re)indexing. Already queued: no change, except that ``error`` (a failed
        indexing attempt) increments ``attempts`` and records the error."""
        ids = _unique(doc_ids)
        if not ids:
            return
        now = utcnow()
        insert = _dialect_insert(self.engine.dialect.name)
        with self._write() as s:
            for chunk in _chunks(ids):
                if insert is not None:  # one atomic statement; concurrent adders cannot collide
                    ins = insert(OutboxEntry).values(
                        [
                            {
                                "document_id": d,
                                "queued_at": now,
                                "attempts": 1 if error else 0,
                                "last_error": error,
                            }
                            for d in chunk
                        ]
                    )
                    if error:
                        stmt = ins.on_conflict_do_update(
                            index_elements=[OutboxEntry.document_id],
                            set_={
                                "attempts": OutboxEntry.attempts + 1,
                                "last_error": ins.excluded.last_error,
                            },
                        )
                    else:
                        stmt = ins.on_conflict_do_nothing(index_elements=[OutboxEntry.document_id])
                    s.execute(stmt)
                    continue
                existing = {
                    e.document_id: e
                    for e in s.scalars(select(OutboxEntry).where(OutboxEntry.document_id.in_(chunk)))
                }
                for doc_id in chunk:
                    entry = existing.get(doc_id)
                    if entry is None:
                        s.add(
                            OutboxEntry(
                                document_id=doc_id,
                                queued_at=now,
                                attempts=1 if error else 0,
                                last_error=error,
                            )
                        )
                    elif error:
                        entry.attempts += 1
                        entry.last_error = error

    def outbox_pending(self, limit: int = 1000, max_attempts: int | None = None) -> list[str]:
        """Oldest first. ``max_attempts``: leave out entries that already failed that many times."""
        q = select(OutboxEntry.document_id).order_by(OutboxEntry.queued_at, OutboxEntry.id).limit(limit)
        if max_attempts is not None:
            q = q.where(OutboxEntry.attempts < max_attempts)
        with self._read() as s:
            return list(s.scalars(q))

    def outbox_remove(self, doc_ids: list[str]) -> None:
        ids = _unique(doc_ids)
        if not ids:
            return
        with self._write() as s:
            for chunk in _chunks(ids):
                s.execute(delete(OutboxEntry).where(OutboxEntry.document_id.in_(chunk)))

    def outbox_size(self) -> int:
        with self._read() as s:
            return int(s.scalar(select(func.count()).select_from(OutboxEntry)) or 0)

    # -- feedback ------------------------------------------------------------------------------------------------------
    def add_feedback(
        self,
        *,
        document_id: str,
        finding_id: int | None,
        label: str | None,
        decision: str,
        reviewer: str,
    ) -> int:
        """Record a reviewer's decision on a finding (``finding_id``) or on a document label (``label``)."""
        if decision not in DECISIONS:
            raise ValueError(f"无效的审核结论 {decision!r}，应为 {'/'.join(DECISIONS)}")
        if label is not None and label not in LABELS:
            raise ValueError(f"未知标签 {label!r}")
        with self._write() as s:
            doc = s.get(Document, document_id)
            if doc is None:
                raise KeyError(f"no document {document_id}")
            row = FeedbackRow(
                document_id=document_id,
                version_id=doc.current_version_id,
                decision=decision,
                reviewer=reviewer or "",
                label=label,
                at=utcnow(),
            )
            if finding_id is not None:
                finding = s.get(FindingRow, finding_id)
                if finding is None or finding.document_id != document_id:
                    raise KeyError(f"document {document_id} has no finding {finding_id}")
                row.finding_id = finding.id
                row.version_id = finding.version_id
                row.category = finding.category
                row.finding_text = finding.text
                if label is None:
                    row.label = finding.label
            elif label is None:
                raise ValueError("对文档的审核需要指明标签（label）")
            s.add(row)
            s.flush()
            return row.id

    def feedback_records(self) -> list[dict[str, Any]]:
        """Every reviewed document with its reviewers' decisions, as plain records (no training logic here).

        One record per document, in the order of its first decision: ``doc_id``; the version the latest
        decision was made on (the current version if that one is gone) as ``version`` (its number),
        ``title``, ``text`` and ``labels``; that version's ``findings`` as ``{"id", "label"}``; and
        ``decisions``, oldest first, as ``{"finding_id", "category", "finding_text", "label", "decision",
        "reviewer", "at"}`` (``finding_id`` is None for a decision on a document label, or when re-analysis
        replaced the finding; ``category``/``finding_text`` keep what was reviewed). A document with no
        version left is skipped.
        """
        with self._read() as s:
            rows = s.scalars(select(FeedbackRow).order_by(FeedbackRow.at, FeedbackRow.id)).all()
            by_doc: dict[str, list[FeedbackRow]] = defaultdict(list)
            for r in rows:
                by_doc[r.document_id].append(r)
            records: list[dict[str, Any]] = []
            for doc_id, items in by_doc.items():
                version_id = items[-1].version_id
                version = s.get(DocumentVersion, version_id) if version_id else None
                if version is None:
                    doc = s.get(Document, doc_id)
                    version = s.get(DocumentVersion, doc.current_version_id) if doc else None
                if version is None:
                    continue
                findings = s.execute(
                    select(FindingRow.id, FindingRow.label)
                    .where(FindingRow.version_id == version.id)
                    .order_by(FindingRow.id)
                )
                records.append(
                    {
                        "doc_id": doc_id,
                        "version": version.version,
                        "title": version.title or "",
                        "text": version.text or "",
                        "labels": list(version.labels or []),
                        "findings": [{"id": fid, "label": flabel} for fid, flabel in findings],
                        "decisions": [
                            {
                                "finding_id": r.finding_id,
                                "category": r.category,
                                "finding_text": r.finding_text,
                                "label": r.label,
                                "decision": r.decision,
                                "reviewer": r.reviewer,
                                "at": _iso(r.at),
                            }
                            for r in items
                        ],
                    }
                )
            return records


# ---------------------------------------------------------------------------------------------------
# JSON helpers
# ---------------------------------------------------------------------------------------------------


def _dialect_insert(dialect: str) -> Any:
    """INSERT with ON CONFLICT support for the dialects that have it (SQLite, PostgreSQL), else None."""
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    return None


def _opt_str(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _jsonable(value: Any) -> Any:
    """Registry YAML may hold dates, paths, sets: make it JSON-safe."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | bool) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime):
        return _iso(value)
    return str(value)


def _finding_key(f: Finding | FindingRow) -> tuple:
    return (f.category, f.field or "text", int(f.start), int(f.end), f.source or "")


def _fields(row: Any, names: str) -> dict[str, Any]:
    """The named attributes of a row (space-separated names), datetimes as UTC ISO strings."""
    out: dict[str, Any] = {}
    for name in names.split():
        value = getattr(row, name)
        out[name] = _iso(value) if isinstance(value, datetime) else value
    return out


def _finding_contract_json(f: FindingRow) -> dict[str, Any]:
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
    return {"id": f.id, "version_id": f.version_id, **_finding_contract_json(f)}


def _doc_json(d: Document) -> dict[str, Any]:
    return _fields(
        d,
        (
            "id url canonical_url source_id institution_id region first_seen last_seen "
            "last_run_id etag last_modified current_version current_version_id content_hash "
            "status"
        ),
    )


def _version_json(v: DocumentVersion) -> dict[str, Any]:
    return _fields(
        v,
        (
            "id version run_id content_hash final_url title text published_at author account "
            "images fetched_at rendered raw_blob encoding status headers labels scores "
            "analyzed_at"
        ),
    )


def _run_json(r: CrawlRun) -> dict[str, Any]:
    return _fields(r, "id started_at finished_at source_ids status stats")


def _institution_json(o: Institution) -> dict[str, Any]:
    return {
        **_fields(o, "id name aliases licence_no type licensed_subjects region domains"),
        **(o.extra or {}),
    }
