"""Statistics of the store for the console and the CLI: totals and breakdowns, and the figures of one crawl run."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import case, func, select

from store.engine import Database
from store.models import CrawlRun, Document, DocumentVersion, FetchError, FindingRow, OutboxEntry
from store.runs import run_json


class Statistics(Database):
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
                **run_json(run),
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
