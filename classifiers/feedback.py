"""Reviewer feedback → training examples (`yijian train --include-feedback`).

Takes the plain records the store reads back (``store.db.Store.feedback_records()``: one per reviewed
document with its version's title, text, labels and findings, and the reviewers' decisions oldest first) and
decides the training labels. Imports nothing but the domain: the caller fetches the records.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from domain import LABELS

DISMISS = "dismiss"  # every other decision (confirm, escalate) confirms for training


def training_example(record: Mapping[str, Any]) -> dict[str, Any]:
    """One reviewed document as a training example.

    ``labels`` = the version's labels, plus labels a reviewer confirmed (directly, or by confirming a
    finding of that label), minus labels a reviewer dismissed (directly, or by dismissing every finding
    of that label). The latest decision wins. ``confirmed``/``dismissed`` list what reviewers decided.

    ``record`` keys: ``doc_id``, ``version``, ``title``, ``text``, ``labels``, ``findings`` (``id``,
    ``label``) and ``decisions`` oldest first (``finding_id``, ``category``, ``finding_text``, ``label``,
    ``decision``, ``reviewer``); a decision with neither ``finding_id`` nor ``category`` is on a document label.
    """
    decisions = list(record["decisions"])
    doc_level: dict[str, str] = {}
    finding_level: dict[Any, tuple[str | None, str]] = {}
    for d in decisions:
        if d["finding_id"] is None and d["category"] is None:
            if d["label"]:
                doc_level[d["label"]] = d["decision"]
        else:
            # A finding that re-analysis replaced is known by what was reviewed (category and text).
            key = d["finding_id"] if d["finding_id"] is not None else (d["category"], d["finding_text"])
            finding_level[key] = (d["label"], d["decision"])
    label_findings: dict[str, set[int]] = defaultdict(set)
    for f in record["findings"]:
        if f["label"]:
            label_findings[f["label"]].add(f["id"])
    confirmed = {lab for lab, d in doc_level.items() if d != DISMISS}
    dismissed = {lab for lab, d in doc_level.items() if d == DISMISS}
    f_confirmed = {lab for lab, d in finding_level.values() if lab and d != DISMISS}
    f_dismissed_ids = {k for k, (_, d) in finding_level.items() if d == DISMISS}
    for lab in f_confirmed - doc_level.keys():
        confirmed.add(lab)
    for lab, fids in label_findings.items():
        if lab in doc_level or lab in f_confirmed:
            continue
        if fids and fids <= f_dismissed_ids:
            dismissed.add(lab)
    labels = (set(record["labels"] or []) | confirmed) - dismissed
    title, body = record["title"] or "", record["text"] or ""
    return {
        "text": f"{title}\n{body}" if title else body,
        "labels": [lab for lab in LABELS if lab in labels],
        "title": title,
        "body": body,
        "doc_id": record["doc_id"],
        "version": record["version"],
        "confirmed": sorted(confirmed),
        "dismissed": sorted(dismissed),
        "reviewers": sorted({d["reviewer"] for d in decisions if d["reviewer"]}),
    }


def training_examples(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``training_example`` for each record, in order."""
    return [training_example(r) for r in records]
