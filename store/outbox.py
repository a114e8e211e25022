"""The search outbox in the store: documents queued for (re)indexing, and the IndexDoc built for each from its
current version (what store.indexer hands to the search backend)."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from store.documents import finding_contract_json
from store.engine import Database, chunks, dialect_insert, unique
from store.models import Document, DocumentVersion, FindingRow, OutboxEntry, Source, as_utc, utcnow
from store.search.base import IndexDoc


def queue_for_indexing(s: Session, dialect: str, doc_ids: list[str], error: str = "") -> None:
    """Queue ``doc_ids`` inside the caller's write transaction ``s`` (see ``Outbox.outbox_add``)."""
    ids = unique(doc_ids)
    now = utcnow()
    insert = dialect_insert(dialect)
    for chunk in chunks(ids):
        if insert is not None:  # one atomic statement; concurrent adders cannot collide
            ins = insert(OutboxEntry).values(
                [
                    {"document_id": d, "queued_at": now, "attempts": 1 if error else 0, "last_error": error}
                    for d in chunk
                ]
            )
            if error:
                stmt = ins.on_conflict_do_update(
                    index_elements=[OutboxEntry.document_id],
                    set_={"attempts": OutboxEntry.attempts + 1, "last_error": ins.excluded.last_error},
                )
            else:
                stmt = ins.on_conflict_do_nothing(index_elements=[OutboxEntry.document_id])
            s.execute(stmt)
            continue
        existing = {
            e.document_id: e for e in s.scalars(select(OutboxEntry).where(OutboxEntry.document_id.in_(chunk)))
        }
        for doc_id in chunk:
            entry = existing.get(doc_id)
            if entry is None:
                s.add(
                    OutboxEntry(
                        document_id=doc_id, queued_at=now, attempts=1 if error else 0, last_error=error
                    )
                )
            elif error:
                entry.attempts += 1
                entry.last_error = error


class Outbox(Database):
    def outbox_add(self, doc_ids: list[str], error: str = "") -> None:
        """Queue documents for (re)indexing. Already queued: no change, except that ``error`` (a failed
        indexing attempt) increments ``attempts`` and records the error."""
        ids = unique(doc_ids)
        if not ids:
            return
        with self._write() as s:
            queue_for_indexing(s, self.engine.dialect.name, ids, error)

    def outbox_pending(self, limit: int = 1000, max_attempts: int | None = None) -> list[str]:
        """Oldest first. ``max_attempts``: leave out entries that already failed that many times."""
        q = select(OutboxEntry.document_id).order_by(OutboxEntry.queued_at, OutboxEntry.id).limit(limit)
        if max_attempts is not None:
            q = q.where(OutboxEntry.attempts < max_attempts)
        with self._read() as s:
            return list(s.scalars(q))

    def outbox_remove(self, doc_ids: list[str]) -> None:
        ids = unique(doc_ids)
        if not ids:
            return
        with self._write() as s:
            for chunk in chunks(ids):
                s.execute(delete(OutboxEntry).where(OutboxEntry.document_id.in_(chunk)))

    def outbox_size(self) -> int:
        with self._read() as s:
            return int(s.scalar(select(func.count()).select_from(OutboxEntry)) or 0)

    def index_docs(self, doc_ids: list[str]) -> list[IndexDoc]:
        """IndexDoc for the current version of each id, in the given order; unknown ids are skipped."""
        ids = unique(doc_ids)
        found: dict[str, IndexDoc] = {}
        with self._read() as s:
            for chunk in chunks(ids):
                rows = s.execute(
                    select(Document, DocumentVersion, Source.type)
                    .join(DocumentVersion, DocumentVersion.id == Document.current_version_id)
                    .outerjoin(Source, Source.id == Document.source_id)
                    .where(Document.id.in_(chunk))
                ).all()
                by_version: dict[int, list[FindingRow]] = defaultdict(list)
                vids = [v.id for _, v, _ in rows]
                for vchunk in chunks(vids):
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
                        findings=[finding_contract_json(f) for f in fs],
                        account=ver.account,
                        author=ver.author,
                    )
        return [found[i] for i in ids if i in found]
