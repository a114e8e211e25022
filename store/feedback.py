"""Reviewer feedback in the store: record a decision on a finding or a document label, read decisions back as
plain records (classifiers.feedback turns them into training examples)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select

from domain import LABELS
from store.engine import Database
from store.models import Document, DocumentVersion, FeedbackRow, FindingRow, utcnow
from store.rows import iso

DECISIONS: tuple[str, ...] = ("confirm", "dismiss", "escalate")  # escalate counts as confirm for training


class Feedback(Database):
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
                                "at": iso(r.at),
                            }
                            for r in items
                        ],
                    }
                )
            return records
