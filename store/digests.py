"""Persistence for digests, alerts, deliveries and scheduled-job history: the rows a digest is counted from,
the digest archive, de-duplicated alert items, delivery attempts and the job history. Small repository classes
over a :class:`store.db.Store` (its ``_read()`` / ``_write()`` session context managers)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from store.db import Store
from store.models import (
    AlertItem,
    CaseRow,
    CaseStatusChange,
    CrawlRun,
    Delivery,
    DeliveryAttempt,
    DigestArchive,
    Document,
    DocumentVersion,
    FeedbackRow,
    FindingRow,
    Institution,
    JobRun,
    utcnow,
)

_CHUNK = 500


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _region_filter(region: str | None) -> Any:
    return Document.region.startswith(region) if region else None


class FlagRows:
    """The rows digests and campaign statistics are counted from."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def cases_between(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Cases opened by hand in ``[start, end)`` (UTC) and cases referred (status changed to ``referred``) in
        it, each once, with ``opened``/``referred`` flags, its institution id and categories. Holding cases that
        auto-capture creates (origin ``auto``) are records of evidence, not cases opened by an investigator."""
        with self.store._read() as s:
            referred = set(
                s.scalars(
                    select(CaseStatusChange.case_id).where(
                        CaseStatusChange.to_status == "referred",
                        CaseStatusChange.at >= start,
                        CaseStatusChange.at < end,
                    )
                )
            )
            q = select(CaseRow).where(
                CaseRow.origin != "auto",
                or_(CaseRow.id.in_(referred), (CaseRow.created_at >= start) & (CaseRow.created_at < end)),
            )
            return [
                {
                    "case_id": c.id,
                    "institution_id": c.institution_id or "",
                    "categories": list(c.categories or []),
                    "opened": start <= c.created_at < end,  # UTCDateTime: aware UTC
                    "referred": c.id in referred,
                }
                for c in s.scalars(q)
            ]

    def versions_between(
        self, start: datetime, end: datetime, region: str | None = None
    ) -> list[dict[str, Any]]:
        """Every document version first fetched in ``[start, end)`` (UTC), with its document's institution,
        region and source, its labels and findings, and the labels and finding keys of the version before it
        (so that a flag carried over from the previous version is not counted as new)."""
        with self.store._read() as s:
            q = (
                select(
                    DocumentVersion.id,
                    DocumentVersion.document_id,
                    DocumentVersion.version,
                    DocumentVersion.fetched_at,
                    DocumentVersion.title,
                    DocumentVersion.final_url,
                    DocumentVersion.labels,
                    DocumentVersion.run_id,
                    Document.url,
                    Document.source_id,
                    Document.institution_id,
                    Document.region,
                )
                .join(Document, Document.id == DocumentVersion.document_id)
                .where(DocumentVersion.fetched_at >= start, DocumentVersion.fetched_at < end)
                .order_by(DocumentVersion.fetched_at, DocumentVersion.id)
            )
            if region:
                q = q.where(_region_filter(region))
            rows = [r._asdict() for r in s.execute(q)]
            doc_ids = sorted({r["document_id"] for r in rows})
            all_versions: dict[tuple[str, int], dict[str, Any]] = {}
            for chunk in _chunks(doc_ids):
                for v in s.execute(
                    select(
                        DocumentVersion.id,
                        DocumentVersion.document_id,
                        DocumentVersion.version,
                        DocumentVersion.labels,
                    ).where(DocumentVersion.document_id.in_(chunk))
                ):
                    all_versions[(v.document_id, v.version)] = v._asdict()
            prev_ids = {
                r["id"]: all_versions[(r["document_id"], r["version"] - 1)]["id"]
                for r in rows
                if (r["document_id"], r["version"] - 1) in all_versions
            }
            wanted = sorted({r["id"] for r in rows} | set(prev_ids.values()))
            findings: dict[int, list[dict[str, Any]]] = {}
            for chunk in _chunks(wanted):
                for f in s.execute(
                    select(
                        FindingRow.id,
                        FindingRow.version_id,
                        FindingRow.category,
                        FindingRow.label,
                        FindingRow.severity,
                        FindingRow.text,
                        FindingRow.legal_basis,
                    ).where(FindingRow.version_id.in_(chunk))
                ):
                    findings.setdefault(f.version_id, []).append(f._asdict())
        by_id = {v["id"]: v for v in all_versions.values()}
        for r in rows:
            r["labels"] = list(r["labels"] or [])
            r["findings"] = findings.get(r["id"], [])
            prev = prev_ids.get(r["id"])
            r["prev_labels"] = list(by_id[prev]["labels"] or []) if prev is not None else []
            r["prev_finding_keys"] = (
                sorted({(f["category"], f["text"]) for f in findings.get(prev, [])})
                if prev is not None
                else []
            )
        return rows

    def institutions(self) -> dict[str, dict[str, Any]]:
        with self.store._read() as s:
            return {
                i.id: {"id": i.id, "name": i.name, "type": i.type, "region": i.region}
                for i in s.scalars(select(Institution))
            }

    def feedback(self, document_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Reviewer decisions on these documents (with the category or label each one is about)."""
        out: list[dict[str, Any]] = []
        with self.store._read() as s:
            for chunk in _chunks(sorted(set(document_ids))):
                for f in s.execute(
                    select(
                        FeedbackRow.document_id,
                        FeedbackRow.finding_id,
                        FeedbackRow.label,
                        FeedbackRow.category,
                        FeedbackRow.decision,
                        FindingRow.category.label("finding_category"),
                    )
                    .outerjoin(FindingRow, FindingRow.id == FeedbackRow.finding_id)
                    .where(FeedbackRow.document_id.in_(chunk))
                ):
                    out.append(f._asdict())
        return out


class DigestArchiveRepo:
    def __init__(self, store: Store) -> None:
        self.store = store

    def save(self, *, day: str, scope: str, subject: str, path: str, totals: dict[str, Any]) -> int:
        """Insert or replace the archive row of ``(day, scope)``; returns its id."""
        with self.store._write() as s:
            row = s.scalar(
                select(DigestArchive).where(DigestArchive.day == day, DigestArchive.scope == scope)
            )
            if row is None:
                row = DigestArchive(day=day, scope=scope)
                s.add(row)
            row.subject, row.path, row.totals, row.created_at = subject, path, totals, utcnow()
            s.flush()
            return int(row.id)

    def get(self, digest_id: int) -> dict[str, Any] | None:
        with self.store._read() as s:
            row = s.get(DigestArchive, digest_id)
            return _archive_json(row) if row else None

    def recent(self, limit: int = 100) -> list[dict[str, Any]]:
        with self.store._read() as s:
            rows = s.scalars(
                select(DigestArchive).order_by(DigestArchive.day.desc(), DigestArchive.scope).limit(limit)
            )
            return [_archive_json(r) for r in rows]

    def delete_before(self, day: str) -> list[str]:
        """Remove archive rows of days before ``day``; returns their folders."""
        with self.store._write() as s:
            rows = list(s.scalars(select(DigestArchive).where(DigestArchive.day < day)))
            for r in rows:
                s.delete(r)
            return [r.path for r in rows]


def _archive_json(r: DigestArchive) -> dict[str, Any]:
    return {
        "id": r.id,
        "day": r.day,
        "scope": r.scope,
        "subject": r.subject,
        "path": r.path,
        "totals": r.totals,
        "created_at": r.created_at.isoformat() if r.created_at else None,
    }


class Deliveries:
    """Delivery state per (message, channel), and every attempt."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def open(self, kind: str, ref: str, channel: str) -> int:
        """The delivery row of this message on this channel (created pending if new); returns its id."""
        with self.store._write() as s:
            row = s.scalar(
                select(Delivery).where(
                    Delivery.kind == kind, Delivery.ref == ref, Delivery.channel == channel
                )
            )
            if row is None:
                row = Delivery(kind=kind, ref=ref, channel=channel)
                s.add(row)
                s.flush()
            return int(row.id)

    def status(self, delivery_id: int) -> str:
        with self.store._read() as s:
            return str(s.get(Delivery, delivery_id).status)  # type: ignore[union-attr]

    def record_attempt(self, delivery_id: int, *, ok: bool, error: str = "", seconds: float = 0.0) -> int:
        """Record one attempt and update the delivery; returns the attempt number."""
        with self.store._write() as s:
            row = s.get(Delivery, delivery_id)
            if row is None:
                raise KeyError(f"no delivery {delivery_id}")
            row.attempts += 1
            row.updated_at = utcnow()
            row.last_error = "" if ok else error[:2000]
            if ok:
                row.status = "sent"
            s.add(
                DeliveryAttempt(
                    delivery_id=delivery_id, attempt=row.attempts, ok=ok, error=error[:2000], seconds=seconds
                )
            )
            return int(row.attempts)

    def mark_failed(self, delivery_id: int) -> None:
        with self.store._write() as s:
            s.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id)
                .values(status="failed", updated_at=utcnow())
            )

    def unsent(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Deliveries not (yet) sent: pending or failed, oldest first."""
        with self.store._read() as s:
            q = select(Delivery).where(Delivery.status != "sent").order_by(Delivery.id)
            if kind:
                q = q.where(Delivery.kind == kind)
            return [_delivery_json(d) for d in s.scalars(q)]

    def find(self, kind: str | None = None, ref: str | None = None) -> list[dict[str, Any]]:
        with self.store._read() as s:
            q = select(Delivery).order_by(Delivery.id)
            if kind:
                q = q.where(Delivery.kind == kind)
            if ref:
                q = q.where(Delivery.ref == ref)
            return [_delivery_json(d) for d in s.scalars(q)]

    def attempts(self, delivery_id: int) -> list[dict[str, Any]]:
        with self.store._read() as s:
            q = (
                select(DeliveryAttempt)
                .where(DeliveryAttempt.delivery_id == delivery_id)
                .order_by(DeliveryAttempt.id)
            )
            return [
                {
                    "attempt": a.attempt,
                    "ok": a.ok,
                    "error": a.error,
                    "seconds": a.seconds,
                    "at": a.at.isoformat(),
                }
                for a in s.scalars(q)
            ]

    def prune(self, before: datetime) -> int:
        with self.store._write() as s:
            res = s.execute(delete(DeliveryAttempt).where(DeliveryAttempt.at < before))
            return int(res.rowcount or 0)  # type: ignore[attr-defined]


def _delivery_json(d: Delivery) -> dict[str, Any]:
    return {
        "id": d.id,
        "kind": d.kind,
        "ref": d.ref,
        "channel": d.channel,
        "status": d.status,
        "attempts": d.attempts,
        "last_error": d.last_error,
    }


class Alerts:
    """Alert items per channel: the unique (key, channel) is the de-duplication."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def add(self, key: str, channel: str, kind: str, payload: dict[str, Any]) -> bool:
        """Queue an item for a channel; ``False`` if that item was already queued or sent there."""
        with self.store._read() as s:
            if s.scalar(select(AlertItem.id).where(AlertItem.key == key, AlertItem.channel == channel)):
                return False
        try:
            with self.store._write() as s:
                s.add(AlertItem(key=key, channel=channel, kind=kind, payload=payload))
        except IntegrityError:  # another process queued it meanwhile
            return False
        return True

    def pending(self, channel: str) -> list[dict[str, Any]]:
        with self.store._read() as s:
            q = (
                select(AlertItem)
                .where(AlertItem.channel == channel, AlertItem.status == "pending")
                .order_by(AlertItem.id)
            )
            return [
                {"id": a.id, "key": a.key, "kind": a.kind, "payload": a.payload, "created_at": a.created_at}
                for a in s.scalars(q)
            ]

    def mark_sent(self, ids: Sequence[int]) -> None:
        with self.store._write() as s:
            for chunk in _chunks(list(ids)):
                s.execute(
                    update(AlertItem).where(AlertItem.id.in_(chunk)).values(status="sent", sent_at=utcnow())
                )

    def last_sent_at(self, channel: str) -> datetime | None:
        with self.store._read() as s:
            return s.scalar(select(func.max(AlertItem.sent_at)).where(AlertItem.channel == channel))

    def all(self) -> list[dict[str, Any]]:
        with self.store._read() as s:
            return [
                {"key": a.key, "channel": a.channel, "kind": a.kind, "status": a.status}
                for a in s.scalars(select(AlertItem).order_by(AlertItem.id))
            ]


class JobHistory:
    """What each scheduled job did, when, and how it ended."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def start(self, job_id: str, trigger: str = "schedule", detail: dict[str, Any] | None = None) -> int:
        with self.store._write() as s:
            row = JobRun(job_id=job_id, trigger=trigger, detail=detail or {})
            s.add(row)
            s.flush()
            return int(row.id)

    def finish(self, run_id: int, status: str, detail: dict[str, Any] | None = None) -> None:
        with self.store._write() as s:
            row = s.get(JobRun, run_id)
            if row is None:
                raise KeyError(f"no job run {run_id}")
            row.status = status
            row.finished_at = utcnow()
            row.detail = {**(row.detail or {}), **(detail or {})}

    def last(self) -> dict[str, dict[str, Any]]:
        """The latest run of each job id."""
        with self.store._read() as s:
            latest = select(JobRun.job_id, func.max(JobRun.id).label("mx")).group_by(JobRun.job_id).subquery()
            rows = s.scalars(select(JobRun).join(latest, JobRun.id == latest.c.mx))
            return {r.job_id: _job_json(r) for r in rows}

    def recent(self, job_id: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        with self.store._read() as s:
            q = select(JobRun).order_by(JobRun.id.desc()).limit(limit)
            if job_id:
                q = q.where(JobRun.job_id == job_id)
            return [_job_json(r) for r in s.scalars(q)]

    def prune(self, before: datetime) -> int:
        with self.store._write() as s:
            res = s.execute(delete(JobRun).where(JobRun.started_at < before, JobRun.status != "running"))
            return int(res.rowcount or 0)  # type: ignore[attr-defined]

    def close_orphans(self) -> int:
        """Job runs left ``running`` by a scheduler process that died: recorded as interrupted."""
        with self.store._write() as s:
            res = s.execute(
                update(JobRun)
                .where(JobRun.status == "running")
                .values(status="interrupted", finished_at=utcnow())
            )
            return int(res.rowcount or 0)  # type: ignore[attr-defined]

    def interrupt_crawl_runs(self, source_ids: Sequence[str], since: datetime) -> list[int]:
        """Crawl runs of exactly these sources started at or after ``since`` and still ``running`` (their process
        was stopped): recorded as ``interrupted``, so no run stays half-written. Returns their ids."""
        wanted = sorted(source_ids)
        with self.store._write() as s:
            rows = [
                r
                for r in s.scalars(
                    select(CrawlRun).where(CrawlRun.status == "running", CrawlRun.started_at >= since)
                )
                if sorted(r.source_ids or []) == wanted
            ]
            for r in rows:
                r.status = "interrupted"
                r.finished_at = utcnow()
                r.stats = {**(r.stats or {}), "interrupted": True}
            return [int(r.id) for r in rows]


def _job_json(r: JobRun) -> dict[str, Any]:
    return {
        "id": r.id,
        "job_id": r.job_id,
        "trigger": r.trigger,
        "started_at": r.started_at.isoformat() if r.started_at else None,
        "finished_at": r.finished_at.isoformat() if r.finished_at else None,
        "status": r.status,
        "detail": r.detail,
    }
