"""Use-cases of triage: a reviewer confirms, dismisses or escalates one flag (finding) with a reason. The decision
is kept append-only with who and when, written to the audit log, and recorded as reviewer feedback — the same
path `yijian feedback` uses, which `yijian train --include-feedback` learns from. Also the reviewer's queue: the
untriaged S1/S2 flags of current document versions, most severe and newest first."""

from __future__ import annotations

from typing import Any

from app import audit
from app.context import AppContext
from app.vocab import severity_rank
from store.console import ConsoleQueries, TriageRepo
from store.db import DECISIONS

QUEUE_SEVERITIES = ("S1", "S2")
MAX_REASON = 2000


class TriageError(ValueError):
    """An invalid decision, a missing reason or an unknown document/finding."""


def triage(ctx: AppContext, *, document_id: str, finding_id: int, decision: str, reason: str, reviewer: str,
           ip: str = "") -> dict[str, Any]:  # fmt: skip
    """Record one decision; returns the stored decision."""
    if decision not in DECISIONS:
        raise TriageError(f"无效的审核结论 {decision!r}，应为 {' / '.join(DECISIONS)}")
    reason = (reason or "").strip()
    if not reason:
        raise TriageError("请填写审核理由")
    if len(reason) > MAX_REASON:
        raise TriageError(f"审核理由过长（最多 {MAX_REASON} 字）")
    repo = TriageRepo(ctx.store)
    finding = repo.finding(document_id, finding_id)
    if finding is None:
        raise TriageError(f"文档 {document_id} 没有命中 #{finding_id}")
    feedback_id = ctx.store.add_feedback(
        document_id=document_id, finding_id=finding_id, label=None, decision=decision, reviewer=reviewer
    )
    row = repo.add(
        document_id=document_id, finding_id=finding_id, version_id=finding["version_id"],
        category=finding["category"], severity=finding["severity"], finding_text=finding["text"],
        institution_id=finding["institution_id"], decision=decision, reason=reason, reviewer=reviewer,
        feedback_id=feedback_id,
    )  # fmt: skip
    audit.record(
        ctx, reviewer, "triage", f"{document_id}#{finding_id}",
        {"decision": decision, "reason": reason, "category": finding["category"], "feedback_id": feedback_id},
        ip,
    )  # fmt: skip
    return row


def decisions_for_document(ctx: AppContext, document_id: str) -> list[dict[str, Any]]:
    return TriageRepo(ctx.store).for_document(document_id)


def latest_by_finding(ctx: AppContext) -> dict[int, dict[str, Any]]:
    return TriageRepo(ctx.store).latest_by_finding()


def document_status(ctx: AppContext) -> dict[str, str]:
    """document id → its triage status: ``escalate`` if any current flag was escalated, else ``confirm`` if any
    was confirmed, else ``dismiss`` if every triaged flag was dismissed. Documents absent are untriaged."""
    latest = latest_by_finding(ctx)
    per_doc: dict[str, set[str]] = {}
    for t in latest.values():
        per_doc.setdefault(t["document_id"], set()).add(t["decision"])
    status: dict[str, str] = {}
    for doc_id, ds in per_doc.items():
        status[doc_id] = next(d for d in ("escalate", "confirm", "dismiss") if d in ds)
    return status


def queue(ctx: AppContext, *, limit: int = 200) -> list[dict[str, Any]]:
    """Untriaged S1/S2 flags, most severe first, then newest."""
    latest = latest_by_finding(ctx)
    items = [
        f for f in ConsoleQueries(ctx.store).current_findings(list(QUEUE_SEVERITIES)) if f["id"] not in latest
    ]
    items.sort(key=lambda f: (severity_rank(f["severity"]), -(f["date"].timestamp() if f["date"] else 0)))
    return items[:limit]
