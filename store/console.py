"""Persistence for the web console: users, the append-only audit log, triage decisions, the watch-list, and the
read-only queries the console's pages need (current findings and documents with their institution, region and
date; every version of a document with its text).

Small repository classes over a ``Store``; they use its ``_read()`` / ``_write()`` session context managers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from store.db import Store
from store.models import (
    AuditRow,
    Document,
    DocumentVersion,
    FindingRow,
    Institution,
    Source,
    TriageRow,
    UserRow,
    WatchRow,
    utcnow,
)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _user_json(u: UserRow) -> dict[str, Any]:
    return {
        "id": u.id,
        "name": u.name,
        "role": u.role,
        "active": u.active,
        "created_at": _iso(u.created_at),
        "last_login_at": _iso(u.last_login_at),
    }


class UserRepo:
    def __init__(self, store: Store) -> None:
        self.store = store

    def add(self, name: str, role: str, password_hash: str) -> dict[str, Any]:
        """``ValueError`` when the name is taken."""
        with self.store._write() as s:
            if s.scalar(select(UserRow.id).where(UserRow.name == name)) is not None:
                raise ValueError(f"用户 {name} 已存在")
            row = UserRow(name=name, role=role, password_hash=password_hash, active=True, created_at=utcnow())
            s.add(row)
            s.flush()
            return _user_json(row)

    def get(self, name: str) -> dict[str, Any] | None:
        """The user with its password hash (``password_hash``)."""
        with self.store._read() as s:
            row = s.scalar(select(UserRow).where(UserRow.name == name))
            return {**_user_json(row), "password_hash": row.password_hash} if row else None

    def list(self) -> list[dict[str, Any]]:
        with self.store._read() as s:
            return [_user_json(u) for u in s.scalars(select(UserRow).order_by(UserRow.name))]

    def update(self, name: str, **values: Any) -> dict[str, Any]:
        """Set ``active``, ``role``, ``password_hash`` or ``last_login_at``; ``KeyError`` for an unknown user."""
        allowed = {"active", "role", "password_hash", "last_login_at"}
        if set(values) - allowed:
            raise ValueError(f"cannot update {sorted(set(values) - allowed)}")
        with self.store._write() as s:
            row = s.scalar(select(UserRow).where(UserRow.name == name))
            if row is None:
                raise KeyError(name)
            for k, v in values.items():
                setattr(row, k, v)
            s.flush()
            return _user_json(row)


class AuditRepo:
    """Append-only: there is no update and no delete."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def add(self, *, actor: str, action: str, target: str = "", detail: dict[str, Any] | None = None,
            ip: str = "") -> int:  # fmt: skip
        with self.store._write() as s:
            row = AuditRow(actor=actor, action=action, target=target, detail=detail or {}, ip=ip, at=utcnow())
            s.add(row)
            s.flush()
            return row.id

    def list(self, *, limit: int = 200, offset: int = 0, action: str | None = None,
             actor: str | None = None) -> tuple[int, list[dict[str, Any]]]:  # fmt: skip
        with self.store._read() as s:
            q = select(AuditRow)
            c = select(func.count()).select_from(AuditRow)
            if action:
                q, c = q.where(AuditRow.action == action), c.where(AuditRow.action == action)
            if actor:
                q, c = q.where(AuditRow.actor == actor), c.where(AuditRow.actor == actor)
            total = int(s.scalar(c) or 0)
            rows = s.scalars(q.order_by(AuditRow.id.desc()).limit(limit).offset(offset)).all()
            return total, [
                {"id": r.id, "at": _iso(r.at), "actor": r.actor, "action": r.action, "target": r.target,
                 "detail": r.detail or {}, "ip": r.ip}
                for r in rows
            ]  # fmt: skip


def _triage_json(t: TriageRow) -> dict[str, Any]:
    return {
        "id": t.id,
        "document_id": t.document_id,
        "finding_id": t.finding_id,
        "version_id": t.version_id,
        "category": t.category,
        "severity": t.severity,
        "finding_text": t.finding_text,
        "institution_id": t.institution_id,
        "decision": t.decision,
        "reason": t.reason,
        "reviewer": t.reviewer,
        "feedback_id": t.feedback_id,
        "at": _iso(t.at),
    }


class TriageRepo:
    def __init__(self, store: Store) -> None:
        self.store = store

    def finding(self, document_id: str, finding_id: int) -> dict[str, Any] | None:
        """The finding with its document's institution (what a triage decision snapshots)."""
        with self.store._read() as s:
            row = s.execute(
                select(FindingRow, Document.institution_id)
                .join(Document, Document.id == FindingRow.document_id)
                .where(FindingRow.id == finding_id, FindingRow.document_id == document_id)
            ).first()
            if row is None:
                return None
            f, inst = row
            return {"id": f.id, "version_id": f.version_id, "category": f.category, "severity": f.severity,
                    "text": f.text, "label": f.label, "institution_id": inst}  # fmt: skip

    def add(self, **values: Any) -> dict[str, Any]:
        with self.store._write() as s:
            row = TriageRow(**values, at=utcnow())
            s.add(row)
            s.flush()
            return _triage_json(row)

    def for_document(self, document_id: str) -> list[dict[str, Any]]:
        with self.store._read() as s:
            rows = s.scalars(
                select(TriageRow).where(TriageRow.document_id == document_id).order_by(TriageRow.id)
            ).all()
            return [_triage_json(r) for r in rows]

    def all(self) -> list[dict[str, Any]]:
        with self.store._read() as s:
            return [_triage_json(r) for r in s.scalars(select(TriageRow).order_by(TriageRow.id))]

    def latest_by_finding(self) -> dict[int, dict[str, Any]]:
        """finding id → its latest decision."""
        latest: dict[int, dict[str, Any]] = {}
        for t in self.all():
            if t["finding_id"] is not None:
                latest[t["finding_id"]] = t
        return latest


class WatchRepo:
    def __init__(self, store: Store) -> None:
        self.store = store

    def add(self, institution_id: str, *, note: str = "", added_by: str = "") -> bool:
        """False when already watched."""
        with self.store._write() as s:
            if s.scalar(select(WatchRow.id).where(WatchRow.institution_id == institution_id)) is not None:
                return False
            s.add(WatchRow(institution_id=institution_id, note=note, added_by=added_by, at=utcnow()))
            return True

    def remove(self, institution_id: str) -> bool:
        with self.store._write() as s:
            row = s.scalar(select(WatchRow).where(WatchRow.institution_id == institution_id))
            if row is None:
                return False
            s.delete(row)
            return True

    def list(self) -> list[dict[str, Any]]:
        with self.store._read() as s:
            return [
                {"institution_id": w.institution_id, "note": w.note, "added_by": w.added_by, "at": _iso(w.at)}
                for w in s.scalars(select(WatchRow).order_by(WatchRow.at))
            ]


class ConsoleQueries:
    """Read-only views over the record for the console's pages."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def current_findings(self, severities: list[str] | None = None) -> list[dict[str, Any]]:
        """Every finding of every document's current version, with the document's institution, region, source,
        title, URL and date (published, else fetched) and the document's first-seen time."""
        with self.store._read() as s:
            q = (
                select(FindingRow, Document, DocumentVersion)
                .join(Document, Document.current_version_id == FindingRow.version_id)
                .join(DocumentVersion, DocumentVersion.id == FindingRow.version_id)
            )
            if severities:
                q = q.where(FindingRow.severity.in_(severities))
            out = []
            for f, d, v in s.execute(q.order_by(FindingRow.id)):
                out.append(
                    {
                        "id": f.id, "document_id": d.id, "category": f.category, "label": f.label,
                        "severity": f.severity, "text": f.text, "legal_basis": f.legal_basis,
                        "source": f.source, "field": f.field, "score": f.score,
                        "institution_id": d.institution_id, "region": d.region, "source_id": d.source_id,
                        "title": v.title, "url": d.url, "date": v.published_at or v.fetched_at,
                        "first_seen": d.first_seen,
                    }
                )  # fmt: skip
            return out

    def current_documents(self) -> list[dict[str, Any]]:
        """Every document's current version: labels, scores, institution, region, source and date."""
        with self.store._read() as s:
            q = select(Document, DocumentVersion).join(
                DocumentVersion, DocumentVersion.id == Document.current_version_id
            )
            return [
                {"document_id": d.id, "labels": list(v.labels or []), "scores": dict(v.scores or {}),
                 "institution_id": d.institution_id, "region": d.region, "source_id": d.source_id,
                 "title": v.title, "url": d.url, "date": v.published_at or v.fetched_at}
                for d, v in s.execute(q)
            ]  # fmt: skip

    def current_scores(self, doc_ids: list[str]) -> dict[str, dict[str, float]]:
        """document id → the model scores of its current version (only the given ids)."""
        out: dict[str, dict[str, float]] = {}
        with self.store._read() as s:
            for i in range(0, len(doc_ids), 500):
                q = (
                    select(Document.id, DocumentVersion.scores)
                    .join(DocumentVersion, DocumentVersion.id == Document.current_version_id)
                    .where(Document.id.in_(doc_ids[i : i + 500]))
                )
                out.update({d: dict(sc or {}) for d, sc in s.execute(q)})
        return out

    def versions(self, document_id: str) -> list[dict[str, Any]]:
        """Every version of a document, oldest first, with title and text and its findings' categories."""
        with self.store._read() as s:
            rows = s.scalars(
                select(DocumentVersion)
                .where(DocumentVersion.document_id == document_id)
                .order_by(DocumentVersion.version)
            ).all()
            return [
                {"id": v.id, "version": v.version, "title": v.title, "text": v.text,
                 "fetched_at": v.fetched_at, "published_at": v.published_at, "labels": list(v.labels or []),
                 "content_hash": v.content_hash}
                for v in rows
            ]  # fmt: skip

    def institution(self, institution_id: str) -> dict[str, Any] | None:
        with self.store._read() as s:
            o = s.get(Institution, institution_id)
            if o is None:
                return None
            return {"id": o.id, "name": o.name, "licence_no": o.licence_no, "type": o.type,
                    "licensed_subjects": list(o.licensed_subjects or []), "region": o.region,
                    "aliases": list(o.aliases or []), "domains": list(o.domains or [])}  # fmt: skip

    def update_institution(self, institution_id: str, **values: Any) -> None:
        allowed = {"name", "licence_no", "type", "licensed_subjects", "region"}
        if set(values) - allowed:
            raise ValueError(f"cannot update {sorted(set(values) - allowed)}")
        with self.store._write() as s:
            o = s.get(Institution, institution_id)
            if o is None:
                raise KeyError(institution_id)
            for k, v in values.items():
                setattr(o, k, v)
            o.updated_at = utcnow()

    def update_source_config(self, source_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Merge ``changes`` into a source's registry entry (pause, schedule, render mode)."""
        with self.store._write() as s:
            src = s.get(Source, source_id)
            if src is None:
                raise KeyError(source_id)
            src.config = {**(src.config or {}), **changes}
            src.updated_at = utcnow()
            return dict(src.config)
