"""Use-cases that read or add to the record: statistics of the store, and a reviewer's decision on a document or
finding (the labels `yijian train --include-feedback` learns from)."""

from __future__ import annotations

from typing import Any

from config import Settings
from store.db import DECISIONS, Store

__all__ = ["DECISIONS", "record_feedback", "stats"]


def stats(settings: Settings) -> dict[str, Any]:
    """Documents, versions, findings by label/category/severity, errors by kind, runs."""
    store = Store.from_settings(settings)
    try:
        return store.stats()
    finally:
        store.close()


def record_feedback(
    settings: Settings,
    *,
    document_id: str,
    decision: str,
    reviewer: str,
    label: str | None = None,
    finding_id: int | None = None,
) -> int:
    """Record a reviewer's confirm / dismiss / escalate; returns the feedback id. ``KeyError`` for an unknown
    document or finding, ``ValueError`` for an invalid decision or label."""
    store = Store.from_settings(settings)
    try:
        return store.add_feedback(
            document_id=document_id, finding_id=finding_id, label=label, decision=decision, reviewer=reviewer
        )
    finally:
        store.close()
