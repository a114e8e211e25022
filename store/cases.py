"""Persistence of cases, their documents and notes, evidence captures and the custody log.

A small repository over :class:`store.db.Store`'s sessions. It stores; it does not decide: which status change is
valid and how a custody entry is hashed are the caller's (``cases/``), passed in where needed, so the store keeps
knowing nothing of the evidence rules.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from store.db import Store
from store.models import (
    CaseDocumentRow,
    CaseNoteRow,
    CaseRow,
    CaseStatusChange,
    CustodyEntryRow,
    Document,
    DocumentVersion,
    EvidenceCaptureRow,
    FindingRow,
    as_utc,
    utcnow,
)

GENESIS_HASH = "0" * 64


class CaseNotFound(KeyError):
    """No case with this id."""


class StaleStatus(ValueError):
    """The case's status changed under us (compare-and-set failed)."""


class ChainMoved(RuntimeError):
    """Another entry was appended to the custody chain since the caller read its head."""


def utc_iso() -> str:
    """A custody entry's time: UTC, microseconds, ``Z``."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _iso(value: datetime | None) -> str | None:
    value = as_utc(value)
    return value.isoformat() if value else None


def case_json(c: CaseRow) -> dict[str, Any]:
    return {
        "id": c.id,
        "title": c.title,
        "institution_id": c.institution_id,
        "categories": list(c.categories or []),
        "assignee": c.assignee,
        "status": c.status,
        "origin": c.origin,
        "created_by": c.created_by,
        "created_at": _iso(c.created_at),
        "updated_at": _iso(c.updated_at),
    }


def capture_json(r: EvidenceCaptureRow) -> dict[str, Any]:
    return {
        "id": r.id,
        "case_id": r.case_id,
        "url": r.url,
        "final_url": r.final_url,
        "document_id": r.document_id,
        "run_id": r.run_id,
        "trigger": r.trigger,
        "operator": r.operator,
        "status": r.status,
        "error": r.error,
        "captured_at": _iso(r.captured_at),
        "path": r.path,
        "manifest_sha256": r.manifest_sha256,
        "content_sha256": r.content_sha256,
        "meta": dict(r.meta or {}),
    }


def custody_json(e: CustodyEntryRow) -> dict[str, Any]:
    return {
        "case_id": e.case_id,
        "seq": e.seq,
        "at": e.at,
        "actor": e.actor,
        "action": e.action,
        "object": e.object,
        "details": dict(e.details or {}),
        "prev_hash": e.prev_hash,
        "entry_hash": e.entry_hash,
    }


class CaseRepository:
    def __init__(self, store: Store) -> None:
        self.store = store

    # -- cases ----------------------------------------------------------------------------------------
    def create_case(
        self,
        *,
        title: str,
        institution_id: str | None = None,
        categories: list[str] | None = None,
        assignee: str = "",
        created_by: str = "",
        origin: str = "manual",
    ) -> int:
        with self.store._write() as s:
            row = CaseRow(
                title=title,
                institution_id=institution_id,
                categories=list(categories or []),
                assignee=assignee,
                created_by=created_by,
                origin=origin,
                status="open",
                created_at=utcnow(),
                updated_at=utcnow(),
            )
            s.add(row)
            s.flush()
            return row.id

    def get_case(self, case_id: int) -> dict[str, Any]:
        with self.store._read() as s:
            row = s.get(CaseRow, case_id)
            if row is None:
                raise CaseNotFound(case_id)
            return case_json(row)

    def list_cases(self, *, status: str | None = None, institution_id: str | None = None) -> list[dict]:
        with self.store._read() as s:
            q = select(CaseRow).order_by(CaseRow.id.desc())
            if status:
                q = q.where(CaseRow.status == status)
            if institution_id:
                q = q.where(CaseRow.institution_id == institution_id)
            rows = [case_json(r) for r in s.scalars(q)]
            counts = dict(
                s.execute(
                    select(EvidenceCaptureRow.case_id, func.count())
                    .where(EvidenceCaptureRow.status == "ok")
                    .group_by(EvidenceCaptureRow.case_id)
                ).all()
            )
            docs = dict(
                s.execute(
                    select(CaseDocumentRow.case_id, func.count()).group_by(CaseDocumentRow.case_id)
                ).all()
            )
        for r in rows:
            r["captures"] = int(counts.get(r["id"], 0))
            r["documents"] = int(docs.get(r["id"], 0))
        return rows

    def find_open_auto_case(self, institution_id: str | None) -> int | None:
        with self.store._read() as s:
            q = select(CaseRow.id).where(CaseRow.origin == "auto", CaseRow.status != "closed")
            q = q.where(
                CaseRow.institution_id.is_(None)
                if institution_id is None
                else CaseRow.institution_id == institution_id
            )
            return s.scalars(q.order_by(CaseRow.id).limit(1)).first()

    def set_status(self, case_id: int, expected: str, new: str, actor: str = "") -> None:
        with self.store._write() as s:
            row = s.get(CaseRow, case_id)
            if row is None:
                raise CaseNotFound(case_id)
            if row.status != expected:
                raise StaleStatus(f"case {case_id} is {row.status}, not {expected}")
            row.status = new
            row.updated_at = utcnow()
            s.add(CaseStatusChange(case_id=case_id, from_status=expected, to_status=new, actor=actor))

    def update_case(self, case_id: int, **fields: Any) -> None:
        allowed = {"title", "assignee", "categories", "institution_id"}
        with self.store._write() as s:
            row = s.get(CaseRow, case_id)
            if row is None:
                raise CaseNotFound(case_id)
            for key, value in fields.items():
                if key in allowed and value is not None:
                    setattr(row, key, value)
            row.updated_at = utcnow()

    # -- documents and notes ----------------------------------------------------------------------------
    def document_summary(self, doc_id: str) -> dict[str, Any] | None:
        """The current version of a stored document: what a case shows and exports about it."""
        with self.store._read() as s:
            doc = s.get(Document, doc_id)
            if doc is None:
                return None
            version = s.get(DocumentVersion, doc.current_version_id) if doc.current_version_id else None
            findings = (
                list(s.scalars(select(FindingRow).where(FindingRow.version_id == version.id)))
                if version
                else []
            )
            return {
                "id": doc.id,
                "url": doc.url,
                "institution_id": doc.institution_id,
                "source_id": doc.source_id,
                "content_hash": doc.content_hash,
                "first_seen": _iso(doc.first_seen),
                "last_seen": _iso(doc.last_seen),
                "title": version.title if version else "",
                "text": version.text if version else "",
                "labels": list(version.labels or []) if version else [],
                "raw_blob": version.raw_blob if version else None,
                "fetched_at": _iso(version.fetched_at) if version else None,
                "findings": [
                    {
                        "id": f.id,
                        "category": f.category,
                        "severity": f.severity,
                        "text": f.text,
                        "legal_basis": f.legal_basis,
                        "label": f.label,
                    }
                    for f in findings
                ],
            }

    def attach_document(self, case_id: int, doc_id: str, content_hash: str | None, added_by: str) -> bool:
        """Attach; False if the document was attached already."""
        with self.store._write() as s:
            if s.get(CaseRow, case_id) is None:
                raise CaseNotFound(case_id)
            exists = s.scalars(
                select(CaseDocumentRow.id).where(
                    CaseDocumentRow.case_id == case_id, CaseDocumentRow.document_id == doc_id
                )
            ).first()
            if exists is not None:
                return False
            s.add(
                CaseDocumentRow(
                    case_id=case_id,
                    document_id=doc_id,
                    content_hash=content_hash,
                    added_by=added_by,
                    added_at=utcnow(),
                )
            )
            return True

    def case_documents(self, case_id: int) -> list[dict[str, Any]]:
        with self.store._read() as s:
            rows = s.scalars(
                select(CaseDocumentRow).where(CaseDocumentRow.case_id == case_id).order_by(CaseDocumentRow.id)
            )
            return [
                {
                    "document_id": r.document_id,
                    "content_hash": r.content_hash,
                    "added_by": r.added_by,
                    "added_at": _iso(r.added_at),
                }
                for r in rows
            ]

    def add_note(self, case_id: int, author: str, text: str) -> int:
        with self.store._write() as s:
            if s.get(CaseRow, case_id) is None:
                raise CaseNotFound(case_id)
            row = CaseNoteRow(case_id=case_id, author=author, text=text, at=utcnow())
            s.add(row)
            s.flush()
            return row.id

    def notes(self, case_id: int) -> list[dict[str, Any]]:
        with self.store._read() as s:
            rows = s.scalars(
                select(CaseNoteRow).where(CaseNoteRow.case_id == case_id).order_by(CaseNoteRow.id)
            )
            return [{"id": r.id, "author": r.author, "text": r.text, "at": _iso(r.at)} for r in rows]

    # -- captures ---------------------------------------------------------------------------------------
    def add_capture(self, **fields: Any) -> None:
        with self.store._write() as s:
            if s.get(CaseRow, fields["case_id"]) is None:
                raise CaseNotFound(fields["case_id"])
            s.add(EvidenceCaptureRow(**fields))

    def captures(self, case_id: int | None = None, *, run_id: int | None = None) -> list[dict[str, Any]]:
        with self.store._read() as s:
            q = select(EvidenceCaptureRow).order_by(EvidenceCaptureRow.captured_at, EvidenceCaptureRow.id)
            if case_id is not None:
                q = q.where(EvidenceCaptureRow.case_id == case_id)
            if run_id is not None:
                q = q.where(EvidenceCaptureRow.run_id == run_id)
            return [capture_json(r) for r in s.scalars(q)]

    def get_capture(self, capture_id: str) -> dict[str, Any] | None:
        with self.store._read() as s:
            row = s.get(EvidenceCaptureRow, capture_id)
            return capture_json(row) if row else None

    def captured_content(self, document_id: str, content_sha256: str | None) -> bool:
        """Whether a successful capture of this document with this served content exists already."""
        with self.store._read() as s:
            q = select(EvidenceCaptureRow.id).where(
                EvidenceCaptureRow.document_id == document_id, EvidenceCaptureRow.status == "ok"
            )
            if content_sha256:
                q = q.where(EvidenceCaptureRow.meta["document_content_hash"].as_string() == content_sha256)
            return s.scalars(q.limit(1)).first() is not None

    def run_findings(self, run_id: int) -> list[dict[str, Any]]:
        """Findings on the versions a crawl run wrote, with their document's URL and institution."""
        with self.store._read() as s:
            rows = s.execute(
                select(
                    FindingRow.severity,
                    FindingRow.category,
                    Document.id,
                    Document.url,
                    Document.institution_id,
                    Document.content_hash,
                )  # fmt: skip
                .join(DocumentVersion, DocumentVersion.id == FindingRow.version_id)
                .join(Document, Document.id == FindingRow.document_id)
                .where(DocumentVersion.run_id == run_id, Document.current_version_id == DocumentVersion.id)
            ).all()
            return [
                {
                    "severity": r[0],
                    "category": r[1],
                    "document_id": r[2],
                    "url": r[3],
                    "institution_id": r[4],
                    "content_hash": r[5],
                }  # fmt: skip
                for r in rows
            ]

    # -- custody log ------------------------------------------------------------------------------------
    def append_custody(
        self,
        case_id: int,
        *,
        actor: str,
        action: str,
        obj: str,
        details: dict[str, Any] | None,
        seal: Callable[[dict[str, Any]], str],
        at: str | None = None,
        expect_prev: str | None = None,
    ) -> dict[str, Any]:
        """Append one entry to the case's chain in one write transaction: ``seal`` computes the entry hash of
        the entry (given without ``entry_hash``) whose ``prev_hash`` is the current head. ``at`` fixes the entry's
        time; ``expect_prev`` raises :class:`ChainMoved` unless the head is still that hash (an entry prepared
        before it is stored, such as the export's, which must be in the bundle it describes)."""
        with self.store._write() as s:
            if s.get(CaseRow, case_id) is None:
                raise CaseNotFound(case_id)
            head = s.scalars(
                select(CustodyEntryRow)
                .where(CustodyEntryRow.case_id == case_id)
                .order_by(CustodyEntryRow.seq.desc())
            ).first()
            prev = head.entry_hash if head else GENESIS_HASH
            if expect_prev is not None and prev != expect_prev:
                raise ChainMoved(f"custody chain of case {case_id} moved on")
            entry: dict[str, Any] = {
                "case_id": case_id,
                "seq": (head.seq + 1) if head else 1,
                "at": at or utc_iso(),
                "actor": actor,
                "action": action,
                "object": obj,
                "details": dict(details or {}),
                "prev_hash": prev,
            }
            entry["entry_hash"] = seal(entry)
            s.add(CustodyEntryRow(**entry))
            return entry

    def custody(self, case_id: int) -> list[dict[str, Any]]:
        with self.store._read() as s:
            rows = s.scalars(
                select(CustodyEntryRow)
                .where(CustodyEntryRow.case_id == case_id)
                .order_by(CustodyEntryRow.seq)
            )
            return [custody_json(r) for r in rows]
